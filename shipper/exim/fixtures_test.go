package exim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fixture is one case of testdata/cases.txt.
type fixture struct {
	name   string
	line   int
	input  []byte
	opts   map[string]string
	want   map[string]string // dotted key -> JSON literal
	absent []string
}

// loadFixtures reads testdata/cases.txt (format described at its top).
func loadFixtures(tb testing.TB) []fixture {
	tb.Helper()
	data, err := os.ReadFile("testdata/cases.txt")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		out []fixture
		cur *fixture
		in  [][]byte
	)
	flush := func() {
		if cur != nil {
			cur.input = bytes.Join(in, []byte("\n"))
			if cur.opts["hexbytes"] != "" {
				cur.input = unhex(cur.input)
			}
			out = append(out, *cur)
		}
		cur, in = nil, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "## "):
			flush()
			cur = &fixture{name: l[3:], line: n, opts: map[string]string{}, want: map[string]string{}}
		case cur == nil || l == "" || strings.HasPrefix(l, "# "):
		case strings.HasPrefix(l, "> "):
			in = append(in, []byte(l[2:]))
		case strings.HasPrefix(l, "@ "):
			k, v, _ := strings.Cut(l[2:], "=")
			cur.opts[k] = v
		case strings.HasPrefix(l, "!"):
			cur.absent = append(cur.absent, l[1:])
		default:
			k, v, ok := strings.Cut(l, " = ")
			if !ok {
				tb.Fatalf("cases.txt:%d: bad line %q", n, l)
			}
			cur.want[k] = v
		}
	}
	flush()
	if len(out) == 0 {
		tb.Fatal("no fixtures")
	}
	return out
}

// unhex decodes \xHH escapes (for cases with raw bytes).
func unhex(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+3 < len(b) && b[i+1] == 'x' {
			if v, err := strconv.ParseUint(string(b[i+2:i+4]), 16, 8); err == nil {
				out = append(out, byte(v))
				i += 3
				continue
			}
		}
		out = append(out, b[i])
	}
	return out
}

// flatten turns a decoded JSON object into dotted keys.
func flatten(prefix string, v any, out map[string]any) {
	m, ok := v.(map[string]any)
	if !ok {
		out[prefix] = v
		return
	}
	for k, x := range m {
		if prefix != "" {
			k = prefix + "." + k
		}
		flatten(k, x, out)
	}
}

func (f *fixture) parse(tb testing.TB, p *Parser, r *Record) {
	r.Meta = Meta{
		HostName: f.opts["host"],
		FilePath: f.opts["path"],
		Dataset:  f.opts["dataset"],
		Time:     time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	p.Parse(f.input, r)
}

func (f *fixture) parser(tb testing.TB) *Parser {
	loc := time.UTC
	if z := f.opts["zone"]; z != "" {
		var err error
		if loc, err = time.LoadLocation(z); err != nil {
			tb.Skipf("zone %s: %v", z, err)
		}
	}
	return NewParser(Options{Location: loc})
}

// TestCases runs every case of testdata/cases.txt: the document must be
// valid JSON, keep event.original, and have the listed fields with the
// listed values (and not the "!" ones).
func TestCases(t *testing.T) {
	for _, f := range loadFixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			var r Record
			f.parse(t, f.parser(t), &r)
			doc := r.AppendJSON(nil)
			if !json.Valid(doc) {
				t.Fatalf("cases.txt:%d: invalid JSON: %s", f.line, doc)
			}
			var v any
			if err := json.Unmarshal(doc, &v); err != nil {
				t.Fatal(err)
			}
			flat := map[string]any{}
			flatten("", v, flat)
			if got := flat["event.original"]; got != validUTF8(f.input) {
				t.Errorf("cases.txt:%d: event.original = %q", f.line, got)
			}
			for k, lit := range f.want {
				var want any
				if err := json.Unmarshal([]byte(lit), &want); err != nil {
					t.Fatalf("cases.txt:%d: %s: bad JSON %s: %v", f.line, k, lit, err)
				}
				got, ok := flat[k]
				if !ok {
					t.Errorf("cases.txt:%d: %s missing; document: %s", f.line, k, doc)
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("cases.txt:%d: %s = %#v, want %#v", f.line, k, got, want)
				}
			}
			for _, k := range f.absent {
				if got, ok := flat[k]; ok {
					t.Errorf("cases.txt:%d: %s = %#v, want absent", f.line, k, got)
				}
			}
			if t.Failed() {
				t.Logf("document: %s", doc)
			}
		})
	}
}

// validUTF8 is what a JSON decoder returns for our encoding of b: every
// invalid byte becomes U+FFFD.
func validUTF8(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		sb.WriteRune(r)
		b = b[n:]
	}
	return sb.String()
}
