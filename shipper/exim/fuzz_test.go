package exim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParse checks the parser's contract on arbitrary input: no panic
// (Parse recovers, so a recovered panic shows up as errInternal and fails
// here), exactly one record per entry with a known action, Original equal
// to the input, valid JSON, and no state leaking from the previous entry
// through a reused Record. Seeds: testdata/cases.txt and
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.input)
	}
	p := NewParser(Options{Location: time.UTC})
	var reused Record
	reused.Meta.Dataset = "exim.main"
	p.Parse([]byte("2020-01-01 00:00:00 1jdghf-00034W-No <= a@b H=x (y) [192.0.2.1]:25 I=[192.0.2.2]:25 P=esmtp S=1 T=\"s\" for c@d"), &reused)
	f.Fuzz(func(t *testing.T, entry []byte) {
		var r Record
		r.Meta.Dataset = "exim.main"
		p.Parse(entry, &r)
		if r.Err == errInternal {
			t.Fatalf("parser panicked on %q", entry)
		}
		if _, ok := actionInfos[r.Action]; !ok || r.Action == "" {
			t.Fatalf("action %q not in the action table for %q", r.Action, entry)
		}
		if !bytes.Equal(r.Original, entry) {
			t.Fatalf("Original %q != entry %q", r.Original, entry)
		}
		doc := r.AppendJSON(nil)
		if !json.Valid(doc) {
			t.Fatalf("invalid JSON for %q: %s", entry, doc)
		}
		var m map[string]any
		if err := json.Unmarshal(doc, &m); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		// invalid UTF-8 in event.original: the bytes are kept in base64
		ex, _ := m["exim"].(map[string]any)
		b64, kept := ex["original_base64"].(string)
		if kept == utf8.Valid(entry) {
			t.Fatalf("exim.original_base64 present %v for valid UTF-8 %v: %q", kept, utf8.Valid(entry), entry)
		}
		if kept {
			if raw, err := base64.StdEncoding.DecodeString(b64); err != nil || !bytes.Equal(raw, entry) {
				t.Fatalf("exim.original_base64 does not decode to the entry %q: %v", entry, err)
			}
		}
		// a Record reused after another entry gives the same document
		p.Parse(entry, &reused)
		if doc2 := reused.AppendJSON(nil); !bytes.Equal(doc, doc2) {
			t.Fatalf("reused record differs for %q:\n%s\n%s", entry, doc, doc2)
		}
	})
}

// FuzzDecodeWords: RFC 2047 decoding never panics, never shrinks text
// without an encoded-word, and leaves text without "=?" unchanged.
func FuzzDecodeWords(f *testing.F) {
	for _, s := range []string{"=?UTF-8?B?Q2Fmw6k=?=", "a =?iso-8859-1?Q?cr=E8me_br=FBl=E9e?= b", "=?x?q?", "=?utf-8?b?====?=", "plain"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		out := decodeWords(nil, s)
		if !bytes.Contains(s, []byte("=?")) && !bytes.Equal(out, s) {
			t.Fatalf("changed text without encoded-words: %q -> %q", s, out)
		}
	})
}

// FuzzAppendString: the JSON string encoder round-trips through
// encoding/json (invalid UTF-8 as U+FFFD) for any bytes.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain ascii text of some length", "quote\" back\\slash", "ctl\x01\x1f\x7f", "\xff\xfe utf8 é ü \u2028", "12345678\"2345678\\"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		out := AppendJSONBytes(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q -> %s: %v", s, out, err)
		}
		if want := validUTF8(s); got != want {
			t.Fatalf("%q -> %q, want %q", s, got, want)
		}
	})
}

// FuzzMailHeaders: the reject-log header reader, the address-list scanner
// and the Date: parser never panic; every value and address is a slice of
// the input; an address never holds the list's separators or the angle
// brackets around it; a parsed date survives a round trip through its
// RFC 5322 text. Seeds: testdata/fuzz/FuzzMailHeaders and the header
// dumps of cases.txt.
func FuzzMailHeaders(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		if i := bytes.Index(fx.input, []byte("\nEnvelope-")); i >= 0 {
			f.Add(fx.input[i+1:])
		}
	}
	f.Fuzz(func(t *testing.T, dump []byte) {
		var h HeaderFields
		h.parse(dump)
		for _, v := range [][]byte{h.From, h.To, h.Cc, h.Sender, h.ReplyTo, h.Subject, h.MessageID, h.Mailer, h.Date} {
			if len(v) > 0 && !within(v, dump) {
				t.Fatalf("value %q is not a slice of the input %q", v, dump)
			}
			l := addrList{v}
			for a := l.next(); a != nil; a = l.next() {
				if !within(a, dump) || len(a) == 0 {
					t.Fatalf("address %q of %q", a, v)
				}
				if a[0] == '<' && a[len(a)-1] == '>' && len(a) > 2 {
					t.Fatalf("address %q keeps its angle brackets (from %q)", a, v)
				}
			}
			if d, ok := parseMailDate(v); ok {
				back, ok2 := parseMailDate([]byte(d.Format(time.RFC1123Z)))
				if !ok2 || !back.Equal(d) {
					t.Fatalf("date %q -> %v -> %v %v", v, d, back, ok2)
				}
			}
			_ = unfold(nil, v)
		}
	})
}

// within reports whether sub lies inside s's memory.
func within(sub, s []byte) bool {
	if len(sub) == 0 {
		return true
	}
	start := cap(s) - cap(sub)
	return start >= 0 && start+len(sub) <= len(s) && &s[start] == &sub[0]
}
