package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestParseSessions parses a real Exim's main and reject logs (log_selector
// +all: pids, ports and connection lines) and checks the session fields:
// every SMTP line has an id and no line is inferred, the reject-log entries
// have their main-log twin's id, summaries are on closing lines, and
// -sessions=false leaves every session field out; -workers 1 and 2 agree.
func TestParseSessions(t *testing.T) {
	dir := filepath.Join("..", "..", "shipper", "exim", "testdata", "real", "all")
	args := []string{"parse", filepath.Join(dir, "mainlog"), filepath.Join(dir, "rejectlog")}
	code, out, errs := runCmd(t, nil, append(args[:1:1], append([]string{"-workers", "1"}, args[1:]...)...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	_, out2, _ := runCmd(t, nil, append(args[:1:1], append([]string{"-workers", "2"}, args[1:]...)...)...)
	if out2 != out {
		t.Fatal("-workers 2 wrote other documents than -workers 1")
	}
	ds := docs(t, out)
	byRejection := map[string]string{} // exim.rejection.id -> session id of the main-log document
	ids := map[string]int{}
	summaries, twins := 0, 0
	for _, d := range ds {
		id := strField(d, "exim.session.id")
		action := strField(d, "event.action")
		if id == "" {
			if strings.Contains(strField(d, "event.original"), "rejected RCPT") {
				t.Errorf("RCPT rejection without a session: %s", strField(d, "event.original"))
			}
			continue
		}
		if field(d, "exim.session.inferred") != nil {
			t.Errorf("inferred session in a log with pids and ports: %s", strField(d, "event.original"))
		}
		ids[id]++
		if field(d, "exim.session.transactions") != nil {
			summaries++
			if field(d, "event.duration") == nil {
				t.Errorf("summary without event.duration: %s", strField(d, "event.original"))
			}
		}
		rid := strField(d, "exim.rejection.id")
		if rid == "" {
			continue
		}
		switch strField(d, "event.dataset") {
		case "exim.main":
			byRejection[rid] = id
		case "exim.reject":
			twins++
			if byRejection[rid] != id {
				t.Errorf("reject-log %s has session %s, its main-log twin %q", action, id, byRejection[rid])
			}
		}
	}
	if len(ids) < 30 || summaries < 30 || twins < 30 {
		t.Fatalf("%d sessions, %d summaries, %d reject-log twins: the capture has more", len(ids), summaries, twins)
	}
	_, off, _ := runCmd(t, nil, append(args[:1:1], append([]string{"-sessions=false"}, args[1:]...)...)...)
	if strings.Contains(off, `"session"`) {
		t.Fatal("-sessions=false wrote session fields")
	}
	if strings.Count(off, "\n") != len(ds) {
		t.Fatalf("-sessions=false wrote %d documents, want %d", strings.Count(off, "\n"), len(ds))
	}
}
