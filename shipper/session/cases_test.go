package session

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/exim"
)

// A case file (testdata/cases/*.txt) is a log whose lines are prefixed by
// what the tracker must make of them, written by hand:
//
//   - no session
//     A                      session A (any id, the same for every A)
//     A?                     session A, placed by the heuristic (inferred)
//     A{tx=1,rr=2,mf=1,d=2s} session A, and this line carries its summary
//   - a continuation line of the entry above
//
// Directives: "@host NAME" (host.name of the lines that follow), "@main"
// and "@reject" (their dataset), "@config key=value ..." (Config fields:
// max_open, idle_timeout, linger, infer_gap, max_twins, reject_log; first
// line only).
// '#' starts a comment line.
type caseLine struct {
	want  string // label, "" for no session
	infer bool
	sum   *exim.Session
	entry string
	host  string
	ds    string
	line  int
}

func parseCase(t *testing.T, path string) (Config, []caseLine) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	var out []caseLine
	host, ds := "mx.example.org", "exim.main"
	for i, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if d, ok := strings.CutPrefix(l, "@"); ok {
			f := strings.Fields(d)
			switch f[0] {
			case "host":
				host = f[1]
			case "main":
				ds = "exim.main"
			case "reject":
				ds = "exim.reject"
			case "config":
				for _, kv := range f[1:] {
					k, v, _ := strings.Cut(kv, "=")
					setConfig(t, &cfg, k, v)
				}
			default:
				t.Fatalf("%s:%d: unknown directive %q", path, i+1, l)
			}
			continue
		}
		tok, entry, ok := strings.Cut(l, " ")
		if !ok {
			t.Fatalf("%s:%d: no entry after the expectation", path, i+1)
		}
		entry = strings.TrimLeft(entry, " ")
		if tok == "+" {
			if len(out) == 0 {
				t.Fatalf("%s:%d: continuation without an entry", path, i+1)
			}
			out[len(out)-1].entry += "\n" + entry
			continue
		}
		c := caseLine{entry: entry, host: host, ds: ds, line: i + 1}
		if tok != "-" {
			lbl, sum, hasSum := strings.Cut(tok, "{")
			if strings.HasSuffix(lbl, "?") {
				c.infer = true
				lbl = strings.TrimSuffix(lbl, "?")
			}
			c.want = lbl
			if hasSum {
				c.sum = parseSummary(t, path, i+1, strings.TrimSuffix(sum, "}"))
			}
		}
		out = append(out, c)
	}
	return cfg, out
}

func setConfig(t *testing.T, c *Config, k, v string) {
	t.Helper()
	dur := func() time.Duration {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	num := func() int {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	switch k {
	case "max_open":
		c.MaxOpen = num()
	case "max_twins":
		c.MaxTwins = num()
	case "idle_timeout":
		c.IdleTimeout = dur()
	case "linger":
		c.Linger = dur()
	case "infer_gap":
		c.InferGap = dur()
	case "reject_log":
		c.RejectLog = v == "true"
	default:
		t.Fatalf("unknown config key %q", k)
	}
}

func parseSummary(t *testing.T, path string, line int, s string) *exim.Session {
	t.Helper()
	sum := &exim.Session{Summary: true}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "tx":
			sum.Transactions, err = strconv.Atoi(v)
		case "rr":
			sum.RcptRejected, err = strconv.Atoi(v)
		case "mf":
			sum.MailFroms, err = strconv.Atoi(v)
		case "d":
			sum.Duration, err = time.ParseDuration(v)
		default:
			err = fmt.Errorf("unknown summary key %q", k)
		}
		if err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
	}
	return sum
}

// TestCases runs every case file through a tracker and checks the grouping
// (same label <=> same id), the inferred marks and the summaries.
func TestCases(t *testing.T) {
	files, err := filepath.Glob("testdata/cases/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no case files: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			cfg, lines := parseCase(t, path)
			tr := newTracker(t, cfg)
			p := exim.NewParser(exim.Options{Location: time.UTC})
			idOf := map[string]string{}    // label -> id
			labelOf := map[string]string{} // id -> label
			for _, c := range lines {
				var r exim.Record
				r.Meta = exim.Meta{HostName: c.host, Dataset: c.ds}
				p.Parse([]byte(c.entry), &r)
				tr.Observe(&r)
				got := r.Session
				where := fmt.Sprintf("%s:%d (%s)", path, c.line, r.Action)
				if c.want == "" {
					if got.ID != "" {
						t.Errorf("%s: got session %s (%s), want none", where, got.ID, labelOf[got.ID])
					}
					continue
				}
				if got.ID == "" {
					t.Errorf("%s: no session, want %s", where, c.want)
					continue
				}
				if id, ok := idOf[c.want]; ok && id != got.ID {
					t.Errorf("%s: session %s is not the id of %s (%s is %s)", where, got.ID, c.want, id, labelOf[got.ID])
				}
				if l, ok := labelOf[got.ID]; ok && l != c.want {
					t.Errorf("%s: got the id of session %s, want %s", where, l, c.want)
				}
				idOf[c.want], labelOf[got.ID] = got.ID, c.want
				if got.Inferred != c.infer {
					t.Errorf("%s: inferred %v, want %v", where, got.Inferred, c.infer)
				}
				want := exim.Session{ID: got.ID, Inferred: got.Inferred}
				if c.sum != nil {
					want.Summary, want.Transactions, want.RcptRejected, want.MailFroms, want.Duration =
						true, c.sum.Transactions, c.sum.RcptRejected, c.sum.MailFroms, c.sum.Duration
				}
				if got != want {
					t.Errorf("%s: summary\n got %+v\nwant %+v", where, got, want)
				}
			}
		})
	}
}
