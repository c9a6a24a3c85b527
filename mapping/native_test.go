package mapping

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestInstallNativeTypes: on nodes that all have mapper-extras and
// constant-keyword (and only some the wildcard plugin) Install writes the
// mappings component with match_only_text and constant_keyword, keeps
// email.message_id a keyword, and drops the parameters the native types do
// not take; on the minimal node every field keeps its portable type; with
// Portable the full nodes get the portable types too.
func TestInstallNativeTypes(t *testing.T) {
	put := func(plugins string, o Options) (map[string]Spec, Result) {
		t.Helper()
		es := &fakeES{plugins: plugins, stored: map[string]string{}}
		res, err := Install(context.Background(), es, o)
		if err != nil {
			t.Fatal(err)
		}
		body, ok := es.stored["/_component_template/"+MappingsComponent]
		if !ok {
			t.Fatalf("mappings component not written: %v", es.log)
		}
		var c struct {
			ComponentTemplates []struct {
				ComponentTemplate struct {
					Template struct {
						Mappings mappingNode `json:"mappings"`
					} `json:"template"`
				} `json:"component_template"`
			} `json:"component_templates"`
		}
		if err := json.Unmarshal([]byte(body), &c); err != nil || len(c.ComponentTemplates) != 1 {
			t.Fatalf("stored component: %v %s", err, body)
		}
		specs := map[string]Spec{}
		walk("", c.ComponentTemplates[0].ComponentTemplate.Template.Mappings.Properties, specs)
		return specs, res
	}
	full, res := put(fullNodes, Options{})
	want := map[string]string{
		"message": "match_only_text", "error.message": "match_only_text", "email.subject.text": "match_only_text",
		"exim.reject.headers": "match_only_text", "exim.reason.text": "match_only_text",
		"data_stream.dataset": "constant_keyword", "data_stream.type": "constant_keyword",
		"email.message_id": "keyword", // wildcard is on one node of two
		"email.subject":    "keyword", "source.ip": "ip",
	}
	for f, ty := range want {
		if got := full[f].Type; got != ty {
			t.Errorf("full nodes: %s is %s, want %s", f, got, ty)
		}
	}
	if n := len(res.Native); n != len(NativeTypes)-1 {
		t.Errorf("full nodes: %d native types used, want all but wildcard: %v", n, NativeNames(res.Native))
	}
	minimal, res := put(minimalNode, Options{})
	portable, _ := put(fullNodes, Options{Portable: true})
	for _, n := range NativeTypes {
		for name, m := range map[string]map[string]Spec{"minimal node": minimal, "Portable": portable} {
			if got := m[n.Field].Type; got != portableOf[n.Type] {
				t.Errorf("%s: %s is %s, want the portable %s", name, n.Field, got, portableOf[n.Type])
			}
		}
	}
	if len(res.Native) != 0 {
		t.Errorf("minimal node: native types %v", NativeNames(res.Native))
	}
}

// TestWithNativeTypesParams: a native type keeps only the parameters it
// accepts, and a field that is not in the template, or not of the portable
// type, is an error (the table and the template drifted apart).
func TestWithNativeTypesParams(t *testing.T) {
	ts, err := Templates("")
	if err != nil {
		t.Fatal(err)
	}
	out, err := WithNativeTypes(ts, NativeTypes)
	if err != nil {
		t.Fatal(err)
	}
	for i, tpl := range out {
		if tpl.Name != MappingsComponent {
			if string(tpl.Body) != string(ts[i].Body) {
				t.Errorf("%s changed", tpl.Name)
			}
			continue
		}
		s := string(tpl.Body)
		for _, frag := range []string{`"dataset":{"type":"constant_keyword"}`, `"message_id":{"ignore_above":1024,"type":"wildcard"}`, `"message":{"type":"match_only_text"}`} {
			if !strings.Contains(s, frag) {
				t.Errorf("mappings component lacks %s", frag)
			}
		}
	}
	for _, bad := range []NativeType{{"no.such.field", "wildcard", ModuleWildcard}, {"source.ip", "wildcard", ModuleWildcard}} {
		if _, err := WithNativeTypes(ts, []NativeType{bad}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
