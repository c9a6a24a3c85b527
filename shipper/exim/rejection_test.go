package exim_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/exim"
)

// rejDoc is what the twin tests read from a document.
type rejDoc struct {
	Event struct {
		Action   string `json:"action"`
		Original string `json:"original"`
	} `json:"event"`
	Exim struct {
		Rejection struct {
			ID string `json:"id"`
		} `json:"rejection"`
	} `json:"exim"`
}

func decodeRej(t *testing.T, doc []byte) rejDoc {
	t.Helper()
	var d rejDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("%v: %s", err, doc)
	}
	return d
}

// entryLine is the first line of an entry without Exim's timestamp: the
// text Exim writes identically to the main log and to the reject log.
func entryLine(original string) string {
	l, _, _ := strings.Cut(original, "\n")
	return l
}

// TestRejectionTwins proves exim.rejection.id on the real-Exim captures:
// a main-log document has an id exactly when Exim wrote the same line to the
// reject log too (the ground truth, read from the raw logs and independent
// of the hash), every reject-log entry has one, and the documents sharing
// an id are exactly the main-log and reject-log copies of one line (as
// many in each log; Exim can log the very same line several times in one
// second, e.g. five "rejected VRFY postmaster" of one session, which no
// stateless id can tell apart). No two different lines share an id.
func TestRejectionTwins(t *testing.T) {
	for _, dir := range variantDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			checkTwins(t, parseFile(t, filepath.Join(dir, "mainlog"), "exim.main"),
				parseFile(t, filepath.Join(dir, "rejectlog"), "exim.reject"))
		})
	}
}

// checkTwins checks the twin rule on the documents of one Exim's main log
// and reject log (TestRejectionTwins).
func checkTwins(t *testing.T, main, rej []parsedEntry) {
	t.Helper()
	// Ground truth: the lines of the reject log (first lines of
	// its entries), counted.
	inReject := map[string]int{}
	for _, e := range rej {
		inReject[entryLine(e.original)]++
	}
	type pair struct{ main, reject int }
	byID := map[string]*pair{}
	lineOf := map[string]string{}
	addID := func(id, line string) *pair {
		if prev, ok := lineOf[id]; ok && prev != line {
			t.Errorf("false pair: id %s on two different lines:\n  %s\n  %s", id, prev, line)
		}
		lineOf[id] = line
		p := byID[id]
		if p == nil {
			p = &pair{}
			byID[id] = p
		}
		return p
	}
	twins := 0
	for _, e := range main {
		d := decodeRej(t, e.doc)
		line := entryLine(e.original)
		id := d.Exim.Rejection.ID
		switch {
		case inReject[line] > 0 && id == "":
			t.Errorf("main-log line also in the reject log has no exim.rejection.id (%s): %s", e.action, line)
		case inReject[line] == 0 && id != "":
			t.Errorf("main-log line not in the reject log has exim.rejection.id %s (%s): %s", id, e.action, line)
		case id != "":
			addID(id, line).main++
			twins++
		}
	}
	for _, e := range rej {
		d := decodeRej(t, e.doc)
		if d.Exim.Rejection.ID == "" {
			t.Errorf("reject-log entry without exim.rejection.id (%s): %s", e.action, entryLine(e.original))
			continue
		}
		addID(d.Exim.Rejection.ID, entryLine(e.original)).reject++
	}
	for id, p := range byID {
		if p.main != p.reject {
			t.Errorf("id %s: %d main-log documents, %d reject-log documents: %s", id, p.main, p.reject, lineOf[id])
		}
	}
	if twins == 0 || twins != len(rej) {
		t.Errorf("%d main-log rejections with a twin, %d reject-log entries", twins, len(rej))
	}
	t.Logf("%d rejections, each with its twin; %d distinct ids", twins, len(byID))
}

// parseFile parses a captured log as the goldens do.
func parseFile(t *testing.T, path, dataset string) []parsedEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseLog(t, b, dataset)
}

// TestRejectionIDForms: the id does not depend on the reject log's
// continuation lines, on their form (joined by '\n', flattened by rsyslog's
// "#012" escape, or cut off and sent apart), on the case of host.name, or on
// the sub-second part of a transport's time; it does depend on the host,
// the second (and the millisecond Exim wrote), the pid and the text.
func TestRejectionIDForms(t *testing.T) {
	p := exim.NewParser(exim.Options{Location: time.UTC})
	id := func(host, entry string) string {
		var r exim.Record
		r.Meta = exim.Meta{HostName: host, Dataset: "exim.reject"}
		p.Parse([]byte(entry), &r)
		return string(r.AppendRejectionID(nil))
	}
	const line = "2026-11-25 17:45:03 1xWH3H-0001rq-08 H=(client.partner.test) [127.0.0.25] F=<heidi@partner.test> rejected after DATA: message looks like spam"
	const cont = "\nEnvelope-from: <heidi@partner.test>\nEnvelope-to: <alice@example.org>\nF From: heidi@partner.test\n  Subject: Cheap SPAM offer"
	want := id("mx.example.org", line)
	if len(want) != 16 || strings.Trim(want[:8], "0123456789abcdef") != "" ||
		strings.Trim(want[8:], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Fatalf("id %q: want 8 lower-case hex digits and 8 base64url characters", want)
	}
	// The Unix second first (2026-11-25 17:45:03 UTC), so that ids sort
	// and share prefixes in time order.
	if sec := strconv.FormatInt(time.Date(2026, 11, 25, 17, 45, 3, 0, time.UTC).Unix(), 16); want[:8] != sec {
		t.Errorf("id %s: want the Unix second %s first", want, sec)
	}
	if later := id("mx.example.org", strings.Replace(line, "17:45:03", "17:45:04", 1)); later <= want || later[:6] != want[:6] {
		t.Errorf("the next second's id %s: want it after %s with the same first digits", later, want)
	}
	same := map[string]string{
		"reject-log entry":       line + cont,
		"rsyslog #012":           line + strings.ReplaceAll(cont, "\n", "#012"),
		"trailing blanks and CR": line + " \r",
		"milliseconds .000":      strings.Replace(line, "17:45:03", "17:45:03.000", 1),
		"offset, same instant":   strings.Replace(line, "17:45:03", "19:45:03 +0200", 1),
	}
	for name, entry := range same {
		if got := id("mx.example.org", entry); got != want {
			t.Errorf("%s: id %s, want %s", name, got, want)
		}
	}
	if got := id("MX.Example.ORG", line); got != want {
		t.Errorf("host case: id %s, want %s", got, want)
	}
	differ := map[string][2]string{
		"host":                            {"mx2.example.org", line},
		"second":                          {"mx.example.org", strings.Replace(line, "17:45:03", "17:45:04", 1)},
		"pid":                             {"mx.example.org", strings.Replace(line, "17:45:03 ", "17:45:03 [42] ", 1)},
		"text":                            {"mx.example.org", strings.Replace(line, "spam", "spam!", 1)},
		"millisecond of Exim's timestamp": {"mx.example.org", strings.Replace(line, "17:45:03", "17:45:03.512", 1)},
	}
	for name, c := range differ {
		if got := id(c[0], c[1]); got == want {
			t.Errorf("another %s gives the same id %s", name, got)
		}
	}
	// A line without Exim's timestamp takes the transport's time (syslog
	// header), which differs between the two logs below the second.
	viaSyslog := func(at time.Time) string {
		var r exim.Record
		r.Meta = exim.Meta{HostName: "mx.example.org", Time: at}
		p.Parse([]byte(line[len("2026-11-25 17:45:03 "):]), &r)
		return string(r.AppendRejectionID(nil))
	}
	sec := time.Date(2026, 11, 25, 17, 45, 3, 0, time.UTC)
	if a, b := viaSyslog(sec.Add(123456*time.Microsecond)), viaSyslog(sec.Add(987*time.Millisecond)); a != b || a != want {
		t.Errorf("transport times of one second: ids %s and %s, want %s", a, b, want)
	}
	// Not rejections: no id.
	for _, entry := range []string{
		"2026-11-25 17:45:05 Connection from [127.0.0.71] refused: too many connections from that IP address",
		"2026-11-25 17:45:05 1xWH3H-0001rq-08 <= a@b.example H=[192.0.2.1] P=esmtp S=1",
		"2026-11-25 17:45:05 SMTP connection from [127.0.0.1] closed by DROP in ACL",
	} {
		if got := id("mx", entry); got != "" {
			t.Errorf("id %s on a line Exim writes to the main log only: %s", got, entry)
		}
	}
}
