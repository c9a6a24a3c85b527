package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestDeployConfigs: the configuration files shipped under deploy/ (the
// .deb's /etc/eximship/eximship.yml, docker compose's) are valid.
func TestDeployConfigs(t *testing.T) {
	for _, f := range []string{"../../deploy/etc/eximship.yml", "../../deploy/eximship.yml"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, probs := parseConfig(raw, envOf(nil))
		if len(probs.Errors()) > 0 {
			t.Errorf("%s: %v", f, probs)
			continue
		}
		if err := c.require("run", "kafka"); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestSystemdUnit verifies deploy/eximship.service with systemd's own
// tools: it parses (systemd-analyze verify, with ExecStart pointed at a
// built eximship) and its hardening scores at most 2.0 on systemd-analyze
// security's 0-10 exposure scale ("OK" is below 4), with the settings the
// issue names. systemd cannot run services here (no systemd as PID 1):
// the sandbox itself is proven only on paper.
func TestSystemdUnit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds eximship")
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd)")
	}
	unit, err := os.ReadFile("../../deploy/eximship.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "ProtectHome=yes",
		"CapabilityBoundingSet=\n", "RestartPreventExitStatus=2 3", "ExecStartPre=/usr/bin/eximship check --offline"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "eximship")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	local := filepath.Join(dir, "eximship.service")
	os.WriteFile(local, []byte(strings.ReplaceAll(string(unit), "/usr/bin/eximship", bin)), 0o644)
	if out, err := exec.Command(sa, "verify", local).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(sa, "security", "--offline=yes", "--json=short", local).Output()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v", err)
	}
	var checks []struct {
		Name     string  `json:"name"`
		Set      bool    `json:"set"`
		Exposure *string `json:"exposure"`
	}
	if err := json.Unmarshal(out, &checks); err != nil {
		t.Fatalf("systemd-analyze security --json: %v\n%s", err, out)
	}
	txt, _ := exec.Command(sa, "security", "--offline=yes", local).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(txt)
	if m == nil {
		t.Fatalf("no overall exposure in:\n%s", txt)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f (0 best, 10 worst), %d settings looked at", score, len(checks))
	if score > 2.0 {
		t.Errorf("exposure %.1f > 2.0:\n%s", score, txt)
	}
}

// TestGoInstall: "go install ./cmd/eximship" works from the module, and
// what it installs knows its commit (VCS stamping) or, with the release
// ldflags, its version, commit and date.
func TestGoInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds eximship twice")
	}
	// go install module@version refuses a main module with replace or
	// exclude directives
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(?m)^\s*(replace|exclude)\b`).Match(mod) {
		t.Error("go.mod has replace or exclude directives: go install github.com/eximship/eximship/cmd/eximship@version would refuse it")
	}
	gobin := t.TempDir()
	cmd := exec.Command("go", "install", "-buildvcs=true", "./cmd/eximship")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(gobin, "eximship"), "version", "-json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Version, Commit, Date, Go, Platform string }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	head, herr := exec.Command("git", "-C", "../..", "rev-parse", "HEAD").Output()
	// the Go toolchain stamps VCS information in a clone (CI), not in a
	// git worktree (whose .git is a file): there only the ldflags below
	// are checked
	if st, err := os.Stat("../../.git"); herr == nil && err == nil && st.IsDir() && v.Commit != strings.TrimSpace(string(head)) {
		t.Errorf("installed eximship says commit %q, HEAD is %s", v.Commit, head)
	}
	if v.Platform != runtime.GOOS+"/"+runtime.GOARCH || !strings.HasPrefix(v.Go, "go1.") {
		t.Errorf("version %+v", v)
	}
	bin := filepath.Join(t.TempDir(), "eximship")
	ld := "-X main.version=9.8.7 -X main.commit=0123456789abcdef0123456789abcdef01234567 -X main.date=2026-12-01T10:00:00Z"
	if out, err := exec.Command("go", "build", "-ldflags", ld, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -ldflags: %v\n%s", err, out)
	}
	out, _ = exec.Command(bin, "version").Output()
	for _, want := range []string{"eximship 9.8.7\n", "commit  0123456789abcdef0123456789abcdef01234567", "built   2026-12-01T10:00:00Z"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}
