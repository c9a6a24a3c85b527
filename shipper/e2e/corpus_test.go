package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/exim/eximlab"
	"github.com/eximship/eximship/shipper/stacktest"
)

// The corpus: a real Exim main log from eximlab (the seed: about 3,600
// entries of relay attempts with several RCPTs each and accepted mail), and
// the 50k log built from it by repeating the seed with every timestamp
// shifted past the previous copy and every message id renumbered (its time
// part shifted by the same amount), so that each copy reads like the same
// traffic an hour later. Generating 50,000 entries with a real Exim takes
// 10+ minutes on 2 cores; the seed takes about one.
const (
	corpusVersion = "v1"
	seedRelay     = 1500 // rejected RCPTs
	seedNormal    = 150  // accepted mails
	seedSeed      = 42
	corpusLines   = 50_000
)

func cacheDir() string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "eximship", "e2e")
}

var (
	corpusMu sync.Mutex
)

// seedLog returns the path of the cached real Exim main log, generating it
// with eximlab when missing.
func seedLog(t testing.TB) string {
	t.Helper()
	corpusMu.Lock()
	defer corpusMu.Unlock()
	path := filepath.Join(cacheDir(), "seed-mainlog-"+corpusVersion)
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path
	}
	if _, err := eximlab.FindExim(); err != nil {
		stacktest.Skip(t, "no Exim to generate the e2e corpus (%v): install exim4 (scripts/install-deps)", err)
	}
	if err := os.MkdirAll(cacheDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	// The lab directory must be reachable by the exim user: under /tmp,
	// not under a 0700 t.TempDir().
	dir := filepath.Join(os.TempDir(), stacktest.UniqueName("eximship-e2e-lab-"))
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	mainlog, err := eximlab.Generate(ctx, eximlab.GenerateConfig{
		Dir: dir, Relay: seedRelay, Normal: seedNormal, Seed: seedSeed, LogSelector: "+all", Workers: 8,
	})
	if err != nil {
		t.Fatalf("eximlab generate: %v", err)
	}
	b, err := os.ReadFile(mainlog)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated a real Exim main log of %d lines in %v", bytes.Count(b, []byte{'\n'}), time.Since(start).Round(time.Second))
	writeAtomic(t, path, b)
	return path
}

// corpusLog returns the path of the cached 50k-line log, building it from
// the seed when missing.
func corpusLog(t testing.TB) string {
	t.Helper()
	seed := seedLog(t)
	corpusMu.Lock()
	defer corpusMu.Unlock()
	path := filepath.Join(cacheDir(), fmt.Sprintf("mainlog-%dk-%s", corpusLines/1000, corpusVersion))
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		if sst, err := os.Stat(seed); err == nil && !sst.ModTime().After(st.ModTime()) {
			return path
		}
	}
	lines := readLines(t, seed)
	out := replicate(t, lines, corpusLines)
	writeAtomic(t, path, out)
	return path
}

// replicate repeats lines (a real main log) until it has at least n lines.
func replicate(t testing.TB, lines [][]byte, n int) []byte {
	t.Helper()
	first, ok1 := lineTime(lines[0])
	last, ok2 := lineTime(lines[len(lines)-1])
	if !ok1 || !ok2 {
		t.Fatalf("seed log lines do not start with a timestamp: %q ... %q", lines[0], lines[len(lines)-1])
	}
	span := last.Sub(first).Truncate(time.Second) + time.Minute
	var out bytes.Buffer
	total := 0
	for copyN := 0; total < n; copyN++ {
		shift := time.Duration(copyN) * span
		for _, l := range lines {
			out.Write(shiftLine(l, shift))
			out.WriteByte('\n')
			total++
		}
	}
	return out.Bytes()
}

const stampLayout = "2006-01-02 15:04:05"

func lineTime(l []byte) (time.Time, bool) {
	if len(l) < len(stampLayout) {
		return time.Time{}, false
	}
	ts, err := time.Parse(stampLayout, string(l[:len(stampLayout)]))
	return ts, err == nil
}

// eximID matches Exim 4.96 message ids: base-62 time, pid and fraction.
var eximID = regexp.MustCompile(`\b[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}\b`)

// shiftLine moves the line's timestamp and the time part of every message
// id in it by shift.
func shiftLine(l []byte, shift time.Duration) []byte {
	if shift == 0 {
		return l
	}
	ts, ok := lineTime(l)
	if !ok {
		return l
	}
	out := []byte(ts.Add(shift).Format(stampLayout))
	out = append(out, l[len(stampLayout):]...)
	secs := int64(shift / time.Second)
	return eximID.ReplaceAllFunc(out, func(id []byte) []byte {
		v, ok := base62Decode(id[:6])
		if !ok {
			return id
		}
		r := append(base62Encode(v+secs, 6), id[6:]...)
		return r
	})
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func base62Decode(b []byte) (int64, bool) {
	var v int64
	for _, c := range b {
		i := bytes.IndexByte([]byte(base62), c)
		if i < 0 {
			return 0, false
		}
		v = v*62 + int64(i)
	}
	return v, true
}

func base62Encode(v int64, width int) []byte {
	out := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return out
}

// readLines reads a file's lines (without their newlines).
// seedLines returns the first n lines of the seed log (all of them when
// it has fewer).
func seedLines(t testing.TB, n int) [][]byte {
	t.Helper()
	lines := readLines(t, seedLog(t))
	return lines[:min(n, len(lines))]
}

func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if len(lines) == 0 {
		t.Fatalf("%s is empty", path)
	}
	return lines
}

func writeAtomic(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := path + fmt.Sprintf(".tmp%d", os.Getpid())
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestReplicate checks the corpus builder on two real-looking lines.
func TestReplicate(t *testing.T) {
	lines := [][]byte{
		[]byte("2026-11-25 17:13:40.962 [28641] 1xWGYu-0007Rx-2x <= admin@example.org H=(x) [127.2.0.14]:55759 S=465"),
		[]byte("2026-11-25 17:14:10.100 [441] 1xWGYu-0007Rx-2x Completed QT=37s"),
	}
	out := replicate(t, lines, 5)
	got := bytes.Split(bytes.TrimSuffix(out, []byte{'\n'}), []byte{'\n'})
	if len(got) != 6 {
		t.Fatalf("got %d lines, want 6 (3 copies of 2)", len(got))
	}
	// span = 30s truncated + 1 min = 90s.
	want2 := "2026-11-25 17:15:10.962 [28641] 1xWGaM-0007Rx-2x <= admin@example.org"
	if !bytes.HasPrefix(got[2], []byte(want2)) {
		t.Errorf("copy 1 line 1 = %q, want prefix %q", got[2], want2)
	}
	if !bytes.Equal(got[0], lines[0]) {
		t.Errorf("copy 0 changed: %q", got[0])
	}
	id0, _ := base62Decode([]byte("1xWGYu"))
	id1, _ := base62Decode([]byte("1xWGaM"))
	if id1-id0 != 90 {
		t.Errorf("id time shifted by %d s, want 90", id1-id0)
	}
	if !bytes.Contains(got[5], []byte("1xWGbo-0007Rx-2x Completed")) {
		t.Errorf("copy 2 line 2 = %q", got[5])
	}
}
