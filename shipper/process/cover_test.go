package process

import (
	"os"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/exim"
	"github.com/eximship/eximship/shipper/frame"
)

// holdsBoth encodes every entry of raw with the encoder's coverage and
// calls check with the answer of the check that asks the coverage first
// (holds, what EncodeEntry runs) and the answer of the search alone
// (Holds).
func holdsBoth(t testing.TB, p *Exim, raw []byte, check func(text, body []byte, fast, slow bool)) {
	fr, err := frame.NewFramer(frame.Config{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	ref := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var r exim.Record
	fr.Message(raw, ref, func(e *frame.Entry) {
		p.ParseEntry(e, ref, &r)
		if r.Err != nil {
			return // keeps its original: no check
		}
		r.Original = nil
		p.cover.Reset(e.Text)
		r.Cover = &p.cover
		body := r.AppendJSON(nil)
		r.Cover = nil
		own := r.Has(exim.FlagOwnTime)
		check(e.Text, body, holds(e.Text, body, own, &p.cover), Holds(e.Text, body, own))
	})
}

// TestCoverageSameAnswer: asking the encoder's coverage first changes the
// cost of the check, never its answer, on every entry of the real-Exim
// captures and of the public corpus (when present); and the coverage
// answers for most words (else it saves nothing).
func TestCoverageSameAnswer(t *testing.T) {
	var files []string
	for _, fs := range logSets(t) {
		files = append(files, fs...)
	}
	p := newProc(t, Config{})
	var n, held, searched, searchedBefore int
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		holdsBoth(t, p, raw, func(text, body []byte, fast, slow bool) {
			n++
			if fast != slow {
				t.Errorf("%s: with the coverage %t, without %t: %q\n%s", f, fast, slow, text, body)
			}
			if slow {
				held++
			}
			forWords(skipTimestamp(text), len(text)-len(skipTimestamp(text)), func(w []byte, at int) {
				if wording.has(w) {
					return
				}
				searchedBefore++
				if p.cover.Covers(at, at+len(w)) {
					return
				}
				if v, ok := plainInt(w); ok && p.cover.WroteInt(v) {
					return
				}
				if sec, ok := eximSeconds(w); ok && (p.cover.WroteFloat(sec) || p.cover.WroteInt(int64(sec*1e9+0.5))) {
					return
				}
				searched++
			})
		})
	}
	t.Logf("%d files, %d entries, %d held; words searched in the document: %d with the coverage, %d without",
		len(files), n, held, searched, searchedBefore)
	if searched*4 > searchedBefore {
		t.Errorf("the coverage spares only %d of %d searches", searchedBefore-searched, searchedBefore)
	}
}

// forWords calls f with each word of text (Holds's split) and its offset
// plus off.
func forWords(text []byte, off int, f func(w []byte, at int)) {
	for i := 0; i < len(text); {
		for i < len(text) && separator(text[i]) {
			i++
		}
		j := i
		for j < len(text) && !separator(text[j]) {
			j++
		}
		if j > i {
			f(text[i:j], off+i)
		}
		i = j
	}
}

func FuzzHoldsCoverage(f *testing.F) {
	for _, s := range []string{
		"2024-06-29 16:04:19 1rABCD-000123-AB Completed",
		rejectEntry,
		"2026-11-25 17:44:58.522 [7001] 1xWH3C-0001ov-1c <= bob@partner.test H=(client.partner.test) [127.0.0.10]:36529 I=[127.0.0.1]:37173 P=esmtp L.- S=419 M8S=0 RT=0.009s id=s1@client.test T=\"Quarterly \\\"report\\\"\" from <bob@partner.test> for alice@example.org",
		"2024-06-29 16:04:20 1sNbxE-000Gf2-2L => bob@example.net R=dnslookup T=remote_smtp H=mx.example.net [198.51.100.7]:25 X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C=\"250 2.0.0 Ok: queued as 4WB\" QT=1m2s DT=0.054s",
		"2024-06-29 16:04:19 H=(x) [10.0.0.1] F=<caf\xe9@b.example> rejected RCPT <c@d.example>: relay not permitted",
		"<22>Jun 29 16:04:19 mx2 exim[4321]: SMTP connection from [192.0.2.1]:0012 (TCP/IP connection count = 3)",
	} {
		f.Add([]byte(s))
	}
	p := newProc(f, Config{})
	f.Fuzz(func(t *testing.T, data []byte) {
		holdsBoth(t, p, data, func(text, body []byte, fast, slow bool) {
			if fast != slow {
				t.Fatalf("with the coverage %t, without %t: %q\n%s", fast, slow, text, body)
			}
		})
	})
}
