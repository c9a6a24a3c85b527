package exim_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/exim/eximlab"
	"github.com/eximship/eximship/shipper/stacktest"
)

// requireExim skips (or fails under EXIMSHIP_REQUIRE_INTEGRATION) when no
// Exim is installed.
func requireExim(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	if _, err := eximlab.FindExim(); err != nil {
		stacktest.Skip(t, "%v", err)
	}
}

// volatile rewrites what changes from run to run: timestamps, pids, message
// ids, ports, durations, sizes, the lab directory, dates in headers.
var volatile = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(Z| [+-]\d{4}|[+-]\d\d:\d\d)?`), "TIME"},
	{regexp.MustCompile(`[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}`), "DATE"},
	{regexp.MustCompile(`\bE?[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}\b`), "MSGID"},
	{regexp.MustCompile(`\bE?[0-9A-Za-z]{6}-[0-9A-Za-z]{11}-[0-9A-Za-z]{4}\b`), "MSGID"},
	{regexp.MustCompile(`\[\d+\]`), "[PID]"},
	{regexp.MustCompile(`pid[= ]\d+`), "pid=PID"},
	{regexp.MustCompile(`\]:\d+`), "]:PORT"},
	{regexp.MustCompile(`port=\d+`), "port=PORT"},
	{regexp.MustCompile(`\b(QT|DT|RT|D)=[0-9.]+[smhdw]*`), "$1=DUR"},
	{regexp.MustCompile(`\bS=\d+`), "S=SIZE"},
	{regexp.MustCompile(`connection count = \d+`), "connection count = N"},
	{regexp.MustCompile(`[^\s'"<>=]*eximlab-[a-z-]+[0-9]+`), "LABDIR"},
}

func normalize(s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.repl)
	}
	return s
}

// volatileNumber reports whether a numeric field varies between runs.
func volatileNumber(path string) bool {
	for _, w := range []string{"port", "pid", "size", "bytes", "time", "duration", "count"} {
		if strings.Contains(path, w) {
			return true
		}
	}
	return false
}

// docKey is the run-independent form of a document: every leaf as
// path=value, volatile values normalised, sorted.
func docKey(t *testing.T, doc []byte) string {
	t.Helper()
	leaves, err := flatten(doc)
	if err != nil {
		t.Fatalf("bad document %s: %v", doc, err)
	}
	delete(leaves, "@timestamp")
	parts := make([]string, 0, len(leaves))
	for p, v := range leaves {
		var s string
		if _, ok := v.(float64); ok && volatileNumber(p) {
			s = "N"
		} else if p == "exim.rejection.id" {
			s = "ID" // a hash of time and pid (the twins are checked apart)
		} else if raw, err := base64.StdEncoding.DecodeString(fmt.Sprint(v)); p == "exim.original_base64" && err == nil {
			s = normalize(string(raw)) // the raw line: times, pids...
		} else {
			s = normalize(fmtValue(v))
		}
		parts = append(parts, p+"="+s)
	}
	sort.Strings(parts)
	return strings.Join(parts, " | ")
}

func multiset(t *testing.T, docs [][]byte) map[string]int {
	m := map[string]int{}
	for _, d := range docs {
		if len(d) > 0 {
			m[docKey(t, d)]++
		}
	}
	return m
}

// TestRealEximLiveIntegration runs a real Exim now under every log selector
// variant with the same session script as the fixtures, parses the fresh
// logs and compares the documents, normalised, with the normalised
// goldens: same multiset of documents per log file.
func TestRealEximLiveIntegration(t *testing.T) {
	requireExim(t)
	for _, v := range eximlab.Variants() {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			dir, err := eximlab.RunVariant(ctx, v, eximlab.Script())
			if dir != "" {
				defer os.RemoveAll(dir)
			}
			if err != nil {
				t.Fatal(err)
			}
			checkTwins(t, parseFile(t, filepath.Join(dir, "log", "mainlog"), "exim.main"),
				parseFile(t, filepath.Join(dir, "log", "rejectlog"), "exim.reject"))
			for _, lf := range realLogs {
				golden, gerr := os.ReadFile(filepath.Join(realDir, v.Name, lf.name+".golden.jsonl"))
				fresh, ferr := os.ReadFile(filepath.Join(dir, "log", lf.name))
				if os.IsNotExist(gerr) && os.IsNotExist(ferr) {
					continue
				}
				if gerr != nil {
					t.Fatalf("golden: %v", gerr)
				}
				if ferr != nil {
					t.Fatalf("fresh log: %v", ferr)
				}
				var docs [][]byte
				for _, e := range parseLog(t, fresh, lf.dataset) {
					docs = append(docs, e.doc)
				}
				got := multiset(t, docs)
				want := multiset(t, splitLines(golden))
				if d := diffMultisets(got, want); d != "" {
					t.Errorf("%s/%s: fresh run differs from the golden (normalised):\n%s", v.Name, lf.name, d)
				}
			}
		})
	}
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		out = append(out, []byte(l))
	}
	return out
}

func diffMultisets(got, want map[string]int) string {
	var b strings.Builder
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	n := 0
	for _, k := range sorted {
		if got[k] == want[k] {
			continue
		}
		n++
		if n <= 10 {
			fmt.Fprintf(&b, "  fresh %d, golden %d: %s\n", got[k], want[k], k)
		}
	}
	if n > 10 {
		fmt.Fprintf(&b, "  ... %d documents differ in all\n", n)
	}
	return b.String()
}
