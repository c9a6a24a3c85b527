package session

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestRealEximGolden")

// dump renders what the tracker made of a log: one line per entry, the
// session as S<n> (numbered in order of appearance; "?" when inferred, the
// summary in brackets) before the entry's first line.
func dump(obs []observed) string {
	var b strings.Builder
	short := map[string]int{}
	for _, o := range obs {
		id := "-"
		if s := o.session; s.ID != "" {
			if _, ok := short[s.ID]; !ok {
				short[s.ID] = len(short) + 1
			}
			id = fmt.Sprintf("S%d", short[s.ID])
			if s.Inferred {
				id += "?"
			}
			if s.Summary {
				id += fmt.Sprintf("{tx=%d,rr=%d,mf=%d,d=%s}", s.Transactions, s.RcptRejected, s.MailFroms, s.Duration)
			}
		}
		fmt.Fprintf(&b, "%-30s %s\n", id, o.line)
	}
	return b.String()
}

// TestRealEximGolden runs the tracker over the main and reject logs that a
// real Exim wrote for each log_selector variant of shipper/exim's captures
// and compares the result with testdata/real/<variant>.txt (generated with
// -update from these runs and reviewed line by line).
func TestRealEximGolden(t *testing.T) {
	dirs, _ := filepath.Glob("../exim/testdata/real/*")
	if len(dirs) == 0 {
		t.Fatal("no real-Exim captures in shipper/exim/testdata/real")
	}
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			tr := newTracker(t, Config{RejectLog: true}) // the whole main log, then the reject log
			obs := track(t, tr, "mx.example.org", readFile(t, filepath.Join(dir, "mainlog")), readFile(t, filepath.Join(dir, "rejectlog")))
			got := dump(obs)
			golden := filepath.Join("testdata", "real", name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := string(readFile(t, golden))
			if got != want {
				gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
				for i := range min(len(gl), len(wl)) {
					if gl[i] != wl[i] {
						t.Fatalf("line %d differs:\n got %s\nwant %s", i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("got %d lines, want %d", len(gl), len(wl))
			}
		})
	}
}
