package session

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/exim"
)

// FuzzTracker feeds arbitrary logs to a small tracker (8 sessions, 4
// twins: eviction all the time). A line's first byte picks its host (one
// of three) and its dataset; the rest is an Exim line. Invariants: no
// panic; at most max_open sessions held; no id on lines of two hosts; a
// line with a pid or a port is never inferred; a summary never counts
// more rejected RCPTs or MAIL FROMs than the lines of its id showed; the
// same input gives the same sessions.
func FuzzTracker(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/cases/*.txt")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if _, e, ok := strings.Cut(l, " "); ok && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "@") && !strings.HasPrefix(l, "+") {
				lines = append(lines, "a"+strings.TrimLeft(e, " "))
			}
		}
		f.Add([]byte(strings.Join(lines, "\n")))
	}
	f.Add([]byte("a2026-11-25 10:00:00 H=(x) [192.0.2.1] F=<a@b> rejected RCPT <c@d>: relay not permitted\nr2026-11-25 10:00:00 H=(x) [192.0.2.1] F=<a@b> rejected RCPT <c@d>: relay not permitted"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		first := fuzzRun(t, data)
		if again := fuzzRun(t, data); !equalSessions(first, again) {
			t.Fatal("the same input gave other sessions")
		}
	})
}

func fuzzRun(t *testing.T, data []byte) []exim.Session {
	t.Helper()
	tr := newTracker(t, Config{MaxOpen: 8, MaxTwins: 4, Linger: time.Second, InferGap: time.Second, IdleTimeout: time.Minute})
	p := exim.NewParser(exim.Options{Location: time.UTC})
	hostOf := map[string]string{}
	rcpts := map[string]int{}
	froms := map[string]map[string]bool{}
	var out []exim.Session
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) < 2 {
			continue
		}
		var r exim.Record
		r.Meta = exim.Meta{HostName: []string{"mx1", "mx2", "MX1"}[line[0]%3], Dataset: "exim.main"}
		if line[0]&4 != 0 {
			r.Meta.Dataset = "exim.reject"
		}
		p.Parse(line[1:], &r)
		tr.Observe(&r)
		s := r.Session
		out = append(out, s)
		if n := tr.Size(); n > 8 {
			t.Fatalf("%d sessions held, max_open 8", n)
		}
		if s.ID == "" {
			if s.Summary || s.Inferred {
				t.Fatalf("summary or inferred without an id: %+v", s)
			}
			continue
		}
		if h, ok := hostOf[s.ID]; ok && !strings.EqualFold(h, r.Meta.HostName) {
			t.Fatalf("session %s on hosts %s and %s", s.ID, h, r.Meta.HostName)
		}
		hostOf[s.ID] = r.Meta.HostName
		if s.Inferred && (r.PID > 0 || r.Host.Port > 0) {
			t.Fatalf("inferred line with pid %d, port %d: %q", r.PID, r.Host.Port, line)
		}
		if r.Meta.Dataset == "exim.main" {
			if effectOf(&r).rcptRejected {
				rcpts[s.ID]++
			}
			if hasSender(&r) {
				if froms[s.ID] == nil {
					froms[s.ID] = map[string]bool{}
				}
				froms[s.ID][string(r.Sender)+"|"+map[bool]string{true: "<>"}[r.Has(exim.FlagNullSender)]] = true
			}
		}
		if s.Summary && r.Meta.Dataset == "exim.main" {
			if s.Transactions < 0 || s.RcptRejected > rcpts[s.ID] || s.MailFroms > len(froms[s.ID]) || s.Duration < 0 {
				t.Fatalf("summary %+v, but its id's lines show %d rejected RCPTs and %d senders", s, rcpts[s.ID], len(froms[s.ID]))
			}
		}
	}
	return out
}

func equalSessions(a, b []exim.Session) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
