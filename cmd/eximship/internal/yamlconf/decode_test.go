package yamlconf

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

type testTLS struct {
	Enabled    bool   `yaml:"enabled"`
	ServerName string `yaml:"server_name"`
}

type testConf struct {
	Name     string            `yaml:"name"`
	Pw       Secret            `yaml:"pw"`
	N        int               `yaml:"n" check:"min=1"`
	U        uint16            `yaml:"u"`
	F        float64           `yaml:"f"`
	D        time.Duration     `yaml:"d"`
	On       *bool             `yaml:"on"`
	List     []string          `yaml:"list" check:"oneof=a|b"`
	Map      map[string]string `yaml:"map"`
	TLS      testTLS           `yaml:"tls"`
	Items    []testTLS         `yaml:"items"`
	untagged string
	Skipped  string `yaml:"-"`
}

func none(string) (string, bool) { return "", false }

func TestDecodeValues(t *testing.T) {
	raw := `
x-base: &base
  enabled: true
  server_name: base
name: plain
pw: "${PW}"
n: 0x10
u: 65535
f: 2.5
d: 1m30s
on: false
list: [a, b]
map: {k: v, k2: "${PW}"}
tls:
  <<: *base
  server_name: own
items:
  - *base
  - {server_name: second}
`
	var c testConf
	doc, probs := Decode([]byte(raw), func(string) (string, bool) { return "p#w", true }, &c)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	want := testConf{
		Name: "plain", Pw: "p#w", N: 16, U: 65535, F: 2.5, D: 90 * time.Second, On: new(bool),
		List: []string{"a", "b"}, Map: map[string]string{"k": "v", "k2": "p#w"},
		TLS:   testTLS{Enabled: true, ServerName: "own"},
		Items: []testTLS{{Enabled: true, ServerName: "base"}, {ServerName: "second"}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", c, want)
	}
	for key, line := range map[string]int{"name": 5, "tls.server_name": 16, "items[1]": 19, "map.k2": 13, "tls": 14} {
		if got := doc.Line(key); got != line {
			t.Errorf("Line(%q) = %d, want %d", key, got, line)
		}
	}
	if doc.Has("untagged") || doc.Has("x-base") {
		t.Error("untagged or x- keys recorded")
	}
}

func TestDecodeNullKeepsDefault(t *testing.T) {
	c := testConf{Name: "default"}
	if _, probs := Decode([]byte("name:\nn: ~\non: null\n"), none, &c); len(probs) > 0 {
		t.Fatal(probs)
	}
	if c.Name != "default" || c.On != nil {
		t.Errorf("null changed the defaults: %+v", c)
	}
}

func TestSecretNeverShown(t *testing.T) {
	s := Secret("hunter2-secret")
	var b strings.Builder
	for _, verb := range []string{"%v", "%s", "%q", "%x", "%+v", "%#v", "%10s"} {
		fmt.Fprintf(&b, verb+"\n", s)
		fmt.Fprintf(&b, verb+"\n", struct{ P Secret }{s})
	}
	j, _ := json.Marshal(struct{ P Secret }{s})
	b.Write(j)
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "pw", s)
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "pw", s)
	if strings.Contains(b.String(), "hunter2") || strings.Contains(b.String(), fmt.Sprintf("%x", "hunter2")) {
		t.Errorf("secret shown:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "REDACTED") || s.Reveal() != "hunter2-secret" {
		t.Errorf("secret not redacted or not revealed:\n%s", b.String())
	}
	if Secret("").String() != "" {
		t.Error("empty secret should print empty")
	}
}

func TestSecretNotInTypeErrors(t *testing.T) {
	type conf struct {
		Pw Secret `yaml:"pw"`
		N  int    `yaml:"n"`
	}
	var c conf
	// a secret-typed field never gets a type error; a number field shows its value
	_, probs := Decode([]byte("pw: [a]\nn: ${X}\n"), func(string) (string, bool) { return "abc", true }, &c)
	got := fmt.Sprint(probs)
	if !strings.Contains(got, `line 2: n: "abc" is not a whole number`) || !strings.Contains(got, "line 1: pw: expected a single value") {
		t.Errorf("problems: %s", got)
	}
}

func TestKeys(t *testing.T) {
	got := strings.Join(Keys(reflect.TypeFor[testConf]()), " ")
	want := "name pw n u f d on list map tls tls.enabled tls.server_name items items[].enabled items[].server_name"
	if got != want {
		t.Errorf("Keys = %s\nwant   %s", got, want)
	}
}

func TestClosest(t *testing.T) {
	names := []string{"brokers", "topics", "group_id", "tls", "sasl"}
	for in, want := range map[string]string{"brokerz": "brokers", "Topics": "topics", "groupid": "group_id", "tsl": "", "xyz": "", "sals": ""} {
		if got := closest(in, names); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzDecode: any input gives problems or a value, never a panic, and no
// problem repeats the value of a secret given through the environment.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"name: x\npw: ${PW}\n", "tls: {enabled: true}\nitems: [{server_name: a}]\n", "a: *b\n", "n: [1, 2\n",
		"d: 30\non: yes\n", "---\n---\nname: x\n", "map:\n  k: &a v\n  j: *a\n", "<<: {name: x}\n", "pw: !t\nname: &x\n",
	} {
		f.Add(s)
	}
	const secret = "Fuzz-S3cret-Value"
	f.Fuzz(func(t *testing.T, raw string) {
		var c testConf
		_, probs := Decode([]byte(raw), func(string) (string, bool) { return secret, true }, &c)
		for _, p := range probs {
			if strings.Contains(p.String(), secret) && !strings.Contains(raw, secret) {
				t.Errorf("problem shows the secret: %s", p)
			}
		}
	})
}
