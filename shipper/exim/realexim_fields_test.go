package exim_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Field review of the real-Exim captures, independent of the goldens: what
// the raw line says (read here with regexps, test code only) must be in the
// document, under the names docs/PARSER.md gives.
var (
	reSize     = regexp.MustCompile(` S=(\d+)`)
	reSubject  = regexp.MustCompile(` T="`)
	reMsgID    = regexp.MustCompile(` id\*?=(\S+)`)
	reForList  = regexp.MustCompile(` for ([^<>"]+)$`)
	reCipher   = regexp.MustCompile(` X=(\S+)`)
	reRejRcpt  = regexp.MustCompile(`\[([0-9a-f.:]+)\](?::\d+)?(?: I=\S+)? F=<([^>]*)> (?:temporarily )?rejected RCPT <([^>]*)>`)
	reDeferH   = regexp.MustCompile(` defer \(-?\d+\)(?: DT=\S+)? H=`)
	reEnvTo    = regexp.MustCompile(`(?m)^(?:Envelope-to: |\s+)<([^>]+)>$`)
	reArrivalL = regexp.MustCompile(` <= `)
	// Exim writes times with at most 3 decimals (QT=0.303s); a number with
	// 7+ is binary floating-point noise (0.30300000000000005).
	reFloatNoise = regexp.MustCompile(`[:,\[]-?\d+\.\d{7,}`)
)

func TestRealEximFields(t *testing.T) {
	for _, e := range capturedEntries(t) {
		leaves, err := flatten(e.doc)
		if err != nil {
			t.Fatal(err)
		}
		checkFields(t, e.where, e.parsedEntry, leaves)
	}
}

func checkFields(t *testing.T, where string, e parsedEntry, f map[string]any) {
	t.Helper()
	line := firstLine(e.original)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s: %s\n  line: %s\n  doc:  %s", where, sprintf(format, args...), line, e.doc)
	}
	if m := reFloatNoise.FindString(string(e.doc)); m != "" {
		fail("number with floating-point noise: %s", m[1:])
	}
	if e.action == "message-arrival" && reArrivalL.MatchString(line) {
		if m := reSize.FindStringSubmatch(line); m != nil {
			want, _ := strconv.ParseFloat(m[1], 64)
			if got, _ := f["exim.size"].(float64); got != want {
				fail("exim.size = %v, want %v", f["exim.size"], want)
			}
		}
		if reSubject.MatchString(line) && f["email.subject"] == nil {
			fail("no email.subject")
		}
		if m := reMsgID.FindStringSubmatch(line); m != nil && f["email.message_id"] == nil {
			fail("no email.message_id for %s", m[1])
		}
		if m := reForList.FindStringSubmatch(line); m != nil {
			want := strings.Fields(m[1])
			if got := fmtValue(f["email.to.address"]); got != "["+strings.Join(want, " ")+"]" {
				fail("email.to.address = %s, want %v", got, want)
			}
		}
		if m := reCipher.FindStringSubmatch(line); m != nil && f["tls.cipher"] == nil {
			fail("no tls.cipher for X=%s", m[1])
		}
	}
	if e.action == "rcpt-rejected" || e.action == "rcpt-temp-rejected" {
		m := reRejRcpt.FindStringSubmatch(line)
		if m == nil {
			fail("rejected RCPT line not understood by the test")
			return
		}
		if f["source.ip"] != m[1] {
			fail("source.ip = %v, want %s", f["source.ip"], m[1])
		}
		if m[2] == "" {
			if f["email.from.address"] != nil || f["exim.sender.null"] != true {
				fail("null sender: email.from.address = %v, exim.sender.null = %v", f["email.from.address"], f["exim.sender.null"])
			}
		} else if got := fmtValue(f["email.from.address"]); got != "["+m[2]+"]" {
			fail("email.from.address = %s, want %s", got, m[2])
		}
		// Exim logs an 8-bit RCPT address raw; JSON carries U+FFFD.
		want := strings.ToValidUTF8(m[3], "\ufffd")
		if got := fmtValue(f["email.to.address"]); got != "["+want+"]" {
			fail("email.to.address = %s, want %s", got, want)
		}
	}
	if e.action == "delivery-deferred" && reDeferH.MatchString(line) {
		if r, _ := f["exim.reason"].(string); strings.HasPrefix(r, "H=") {
			fail("exim.reason keeps the H= field: %q", r)
		}
	}
	if strings.Contains(e.original, "\nEnvelope-to: ") {
		var want []string
		for _, m := range reEnvTo.FindAllStringSubmatch(e.original, -1) {
			want = append(want, m[1])
		}
		got := fmtValue(f["email.to.address"])
		for _, w := range want {
			if !strings.Contains(got, w) {
				fail("email.to.address = %s lacks Envelope-to recipient %s", got, w)
			}
		}
	}
}

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}
