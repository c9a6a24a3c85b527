package exim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// corpusDir is the public Exim log corpus (never copied into the
// repository): $EXIMSHIP_CORPUS, or ../shared/corpus/public relative to the
// repository root.
func corpusDir(testing.TB) string {
	if d := os.Getenv("EXIMSHIP_CORPUS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "corpus", "public")
}

// TestCorpus parses every line of the public corpus and checks that
//
//   - every document is valid JSON and keeps event.original;
//   - at least 99.5% of the real-world lines get a known event.action;
//   - at least 91% of the Exim test-suite lines do (see below).
//
// Which lines count: a line counts if it starts with Exim's own timestamp
// (YYYY-MM-DD HH:MM:SS). That excludes, by construction, the annotations
// of the tool-author files ("# failJSON ...", "#description:", example
// lines inside comments), the test-harness output in the Exim test suite
// (`******** SERVER ********`, `<<<`, SMTP dialogue), the message-body
// fragments of the sshguard file and syslog-only lines (the framing layer
// strips syslog headers before the parser sees a line). Reject-log files
// are read as entries: a line that does not start with a timestamp
// continues the previous entry (Envelope-from:, header dump), as the
// framing layer assembles them; only the entry's first line counts.
//
// "Real-world lines" are those of the REAL, CURATED and SYNTH files of
// SOURCES.md, i.e. everything outside exim-testsuite/: the 99.5% gate of
// issue 2 applies to them. The Exim test suite (TESTSUITE, normalised, with
// placeholders such as "ip4.ip4.ip4.ip4" and "S=sss" that must not stop a
// line from being classified) is parsed too and gated separately at 91%:
// most of its unknown lines are text that the test configurations write
// themselves with logwrite/log_message (debug dumps of expansion variables
// such as "peer cert verified 0" or "tls_in_ver TLS1.3"), which no parser
// can classify; the leftovers are printed so new Exim-written forms show up.
func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus not present at %s (set EXIMSHIP_CORPUS): %v", dir, err)
	}
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	p := NewParser(Options{Location: time.UTC})
	var (
		r                 Record
		buf               []byte
		total, known, all int
		tsTotal, tsKnown  int
		leftovers         = map[string][]string{}
		invalid           int
		actions           = map[string]int{}
	)
	for _, f := range files {
		entries := readEntries(t, f, strings.Contains(f, "rejectlog"))
		if strings.Contains(f, "paniclog") {
			r.Meta = Meta{Dataset: "exim.panic"}
		} else if strings.Contains(f, "rejectlog") {
			r.Meta = Meta{Dataset: "exim.reject"}
		} else {
			r.Meta = Meta{Dataset: "exim.main"}
		}
		for _, e := range entries {
			all++
			p.Parse(e, &r)
			buf = r.AppendJSON(buf[:0])
			if !json.Valid(buf) {
				invalid++
				if invalid < 10 {
					t.Errorf("invalid JSON for %q: %s", e, buf)
				}
			}
			if !bytes.Equal(r.Original, e) {
				t.Errorf("Original differs for %q", e)
			}
			if !startsWithTimestamp(e) {
				continue
			}
			rel, _ := filepath.Rel(dir, f)
			testsuite := strings.HasPrefix(filepath.ToSlash(rel), "exim-testsuite/")
			if testsuite {
				tsTotal++
			} else {
				total++
			}
			actions[r.Action]++
			if r.Action != ActionUnknown {
				if testsuite {
					tsKnown++
				} else {
					known++
				}
				continue
			}
			first := e
			if i := bytes.IndexByte(e, '\n'); i >= 0 {
				first = e[:i]
			}
			leftovers[string(r.Body)] = append(leftovers[string(r.Body)], rel+": "+string(first))
		}
	}
	if total+tsTotal == 0 {
		t.Fatalf("no timestamped lines found under %s", dir)
	}
	keys := make([]string, 0, len(leftovers))
	for k := range leftovers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("unknown: %s", leftovers[k][0])
	}
	names := make([]string, 0, len(actions))
	for a := range actions {
		names = append(names, a)
	}
	sort.Strings(names)
	for _, a := range names {
		t.Logf("%-28s %6d", a, actions[a])
	}
	pct := 100 * float64(known) / float64(total)
	tsPct := 100 * float64(tsKnown) / float64(max(tsTotal, 1))
	t.Logf("corpus: %d entries; real-world: %d timestamped, %d known (%.2f%%); test suite: %d timestamped, %d known (%.2f%%); all: %.2f%%; %d invalid JSON",
		all, total, known, pct, tsTotal, tsKnown, tsPct, 100*float64(known+tsKnown)/float64(total+tsTotal), invalid)
	if pct < 99.5 {
		t.Errorf("only %.2f%% of %d real-world timestamped corpus lines got a known event.action; want >= 99.5%%", pct, total)
	}
	if tsTotal > 0 && tsPct < 91 {
		t.Errorf("only %.2f%% of %d test-suite timestamped lines got a known event.action; want >= 91%%", tsPct, tsTotal)
	}
	if invalid > 0 {
		t.Errorf("%d documents were not valid JSON", invalid)
	}
}

func startsWithTimestamp(b []byte) bool {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if !isDigit(b[i]) {
			return false
		}
	}
	return true
}

// readEntries returns the lines of a file; with reject set, lines that do
// not start with a timestamp are joined to the previous entry with '\n'.
func readEntries(t testing.TB, path string, reject bool) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var out [][]byte
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		if reject && len(out) > 0 && !startsWithTimestamp(line) {
			last := out[len(out)-1]
			last = append(last, '\n')
			out[len(out)-1] = append(last, line...)
			continue
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}
