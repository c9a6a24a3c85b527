package exim

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
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
