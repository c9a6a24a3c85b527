package kql

import (
	"encoding/json"
	"strings"
	"testing"
)

// Each case: a query and the DSL Kibana's KQL (@kbn/es-query) makes of it.
var cases = []struct{ q, dsl string }{
	{``, `{"match_all":{}}`},
	{`event.action:rcpt-rejected`, `{"match":{"event.action":"rcpt-rejected"}}`},
	{`event.action:"rcpt-rejected"`, `{"match_phrase":{"event.action":"rcpt-rejected"}}`},
	{`exim.sender.null:true`, `{"match":{"exim.sender.null":"true"}}`},
	{`tls.version:*`, `{"exists":{"field":"tls.version"}}`},
	{`exim.smtp.command:AUTH*`, `{"query_string":{"fields":["exim.smtp.command"],"query":"AUTH*"}}`},
	{`user.name:a/b*`, `{"query_string":{"fields":["user.name"],"query":"a\\/b*"}}`},
	{`exim.size >= 100`, `{"range":{"exim.size":{"gte":"100"}}}`},
	{`exim.size<10`, `{"range":{"exim.size":{"lt":"10"}}}`},
	{`a:1 and b:2`, `{"bool":{"filter":[{"match":{"a":"1"}},{"match":{"b":"2"}}]}}`},
	{`a:1 AND b:2 And c:3`, `{"bool":{"filter":[{"match":{"a":"1"}},{"match":{"b":"2"}},{"match":{"c":"3"}}]}}`},
	{`a:1 or b:2`, `{"bool":{"minimum_should_match":1,"should":[{"match":{"a":"1"}},{"match":{"b":"2"}}]}}`},
	{`not a:1`, `{"bool":{"must_not":{"match":{"a":"1"}}}}`},
	{`a:1 or b:2 and c:3`, `{"bool":{"minimum_should_match":1,"should":[{"match":{"a":"1"}},{"bool":{"filter":[{"match":{"b":"2"}},{"match":{"c":"3"}}]}}]}}`},
	{`(a:1 or b:2) and c:3`, `{"bool":{"filter":[{"bool":{"minimum_should_match":1,"should":[{"match":{"a":"1"}},{"match":{"b":"2"}}]}},{"match":{"c":"3"}}]}}`},
	{`exim.reason.text:(relay or relaying)`, `{"bool":{"minimum_should_match":1,"should":[{"match":{"exim.reason.text":"relay"}},{"match":{"exim.reason.text":"relaying"}}]}}`},
	{`event.action:("a" or not "b")`, `{"bool":{"minimum_should_match":1,"should":[{"match_phrase":{"event.action":"a"}},{"bool":{"must_not":{"match_phrase":{"event.action":"b"}}}}]}}`},
	{`m:"say \"hi\""`, `{"match_phrase":{"m":"say \"hi\""}}`},
	{`f:a\:b`, `{"match":{"f":"a:b"}}`},
}

func TestToDSL(t *testing.T) {
	for _, c := range cases {
		d, err := ToDSL(c.q)
		if err != nil {
			t.Errorf("%q: %v", c.q, err)
			continue
		}
		b, _ := json.Marshal(d)
		if string(b) != c.dsl {
			t.Errorf("%q:\n got %s\nwant %s", c.q, b, c.dsl)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, q := range []string{`relay`, `a:`, `a:(b`, `(a:1`, `a:1 and`, `a:1)`, `a:"x`, `a:{b:1}`, `a >=`, `not`, `a:1 b:2`} {
		if _, err := Parse(q); err == nil {
			t.Errorf("%q: no error", q)
		}
	}
}

func TestFields(t *testing.T) {
	f, err := Fields(`a:1 and (b:2 or not a:3) and c >= 4 and d:*`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f, ",") != "a,b,c,d" {
		t.Errorf("fields %v", f)
	}
}

// FuzzParse: no input panics; whatever parses gives DSL that marshals,
// and its fields are non-empty.
func FuzzParse(f *testing.F) {
	for _, c := range cases {
		f.Add(c.q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		n, err := Parse(q)
		if err != nil {
			return
		}
		if _, err := json.Marshal(n.DSL()); err != nil {
			t.Fatalf("%q: DSL does not marshal: %v", q, err)
		}
		fs, err := Fields(q)
		if err != nil {
			t.Fatalf("%q parses but Fields fails: %v", q, err)
		}
		for _, f := range fs {
			if f == "" {
				t.Fatalf("%q: empty field name", q)
			}
		}
	})
}
