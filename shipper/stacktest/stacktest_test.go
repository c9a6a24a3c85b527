package stacktest

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func TestEnvReadsStackEnvFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("EXIMSHIP_STATE_DIR", dir)
	t.Setenv("EXIMSHIP_KAFKA_BROKERS", "")
	t.Setenv("EXIMSHIP_ES_URL", "from-env")
	content := "# comment\nEXIMSHIP_KAFKA_BROKERS=127.0.0.1:19092\nEXIMSHIP_ES_URL=http://127.0.0.1:19200\nQUOTED='x y'\n"
	if err := os.WriteFile(filepath.Join(dir, "stack.env"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := env("EXIMSHIP_KAFKA_BROKERS"); got != "127.0.0.1:19092" {
		t.Errorf("brokers from file = %q", got)
	}
	if got := env("EXIMSHIP_ES_URL"); got != "from-env" {
		t.Errorf("environment must win over the file, got %q", got)
	}
	if got := env("QUOTED"); got != "x y" {
		t.Errorf("quoted value = %q", got)
	}
	if got := env("MISSING"); got != "" {
		t.Errorf("missing key = %q", got)
	}
	if StateDir() != dir {
		t.Errorf("StateDir = %q, want %q", StateDir(), dir)
	}
}

func TestReachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := reachable(addr); err != nil {
		t.Fatalf("listening %s: %v", addr, err)
	}
	ln.Close()
	if err := reachable(addr); err == nil {
		t.Fatalf("closed %s reported reachable", addr)
	}
}

func TestUniqueName(t *testing.T) {
	a, b := UniqueName("p-"), UniqueName("p-")
	if a == b {
		t.Fatalf("two names equal: %s", a)
	}
	if !regexp.MustCompile(`^p-[0-9]+-[0-9a-f]{8}$`).MatchString(a) {
		t.Fatalf("name %q not a valid topic/index name", a)
	}
}
