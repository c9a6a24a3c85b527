package envexpand

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"HOST": "es.local", "EMPTY": "", "PW": "pa$$word"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cases := []struct {
		in, want, err string
	}{
		{in: "url: http://${HOST}:9200", want: "url: http://es.local:9200"},
		{in: "a: ${MISSING:-127.0.0.1:9092}", want: "a: 127.0.0.1:9092"},
		{in: "a: ${EMPTY:-fallback}", want: "a: fallback"},
		{in: "a: ${HOST:-fallback}", want: "a: es.local"},
		{in: "password: ${PW}", want: "password: pa$$word"},
		{in: "literal: $HOME and $${NOT}", want: "literal: $HOME and ${NOT}"},
		{in: "trailing $", want: "trailing $"},
		{in: "x\ny: ${MISSING}", err: "MISSING is not set"},
		{in: "pw: ${PW} #x", want: "pw: pa$$word #x"},
		{in: "y: ${EMPTY:?set the broker list}", err: "EMPTY: set the broker list"},
		{in: "y: ${MISSING:?}", err: "MISSING: required but not set"},
		{in: "y: ${HOST:+x}", err: "unknown operator"},
		{in: "y: ${1BAD}", err: "invalid variable name"},
		{in: "y: ${HOST", err: "unterminated"},
	}
	for _, c := range cases {
		got, err := Expand(c.in, lookup)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Expand(%q) error = %v, want containing %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// FuzzExpand: any value expands or fails without panicking; text without
// "${" is kept as it is; a value that expands holds no "${" left over
// unless the variable's own value or "$${" put it there.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"${A}", "${A:-d}", "${A:?m}", "$${A}", "a$b", "${", "${}", "${A:+x}", "x${A}y${B:-z}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Expand(s, func(k string) (string, bool) { return "v", k == "A" })
		if !strings.Contains(s, "${") && (err != nil || got != s) {
			t.Errorf("Expand(%q) = %q, %v; want it unchanged", s, got, err)
		}
		if err == nil && strings.Contains(got, "${") && !strings.Contains(s, "$${") {
			t.Errorf("Expand(%q) = %q left a reference", s, got)
		}
	})
}
