package mapping

import (
	"encoding/json"
	"strings"
	"testing"
)

// forbidden are mapping types and settings a minimal node (the
// integ-test-zip: no mapper-extras, wildcard, constant-keyword, ILM)
// rejects; the templates must never use them unconditionally.
var forbidden = []string{"match_only_text", "wildcard", "constant_keyword", "flattened", "lifecycle", "default_pipeline", "final_pipeline", "\"script\""}

func TestTemplatesPortable(t *testing.T) {
	ts, err := Templates("")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string][]string{}
	for _, tp := range ts {
		kinds[tp.Kind] = append(kinds[tp.Kind], tp.Name)
		if strings.Contains(tp.Name, "@") {
			t.Errorf("%s: '@' names are reserved for Elastic's own templates", tp.Name)
		}
		for _, f := range forbidden {
			if strings.Contains(string(tp.Body), f) {
				t.Errorf("%s %s uses %s, which a minimal node lacks", tp.Kind, tp.Name, f)
			}
		}
		if tp.Kind != ILMPolicy && tp.Version() < 1 {
			t.Errorf("%s has no version", tp.Name)
		}
	}
	if len(kinds[ILMPolicy]) != 0 {
		t.Errorf("ILM policy included without ILM: %v", kinds[ILMPolicy])
	}
	if len(kinds[ComponentTemplate]) != 5 || len(kinds[IndexTemplate]) != 3 {
		t.Fatalf("templates %v", kinds)
	}
	// Components come before the index templates that use them.
	if ts[0].Kind != ComponentTemplate || ts[len(ts)-1].Kind != IndexTemplate {
		t.Errorf("order: %v", ts)
	}
}

func TestIndexTemplates(t *testing.T) {
	ts, err := Templates("")
	if err != nil {
		t.Fatal(err)
	}
	comps := map[string]bool{}
	for _, tp := range ts {
		if tp.Kind == ComponentTemplate {
			comps[tp.Name] = true
		}
	}
	want := map[string]string{LogsTemplate: LogsPattern, DeadLetterTemplate: DeadLetterPattern, SourcesTemplate: SourcesPattern}
	plain := map[string]bool{SourcesTemplate: true} // rewritten by id: not a data stream
	for _, tp := range ts {
		if tp.Kind != IndexTemplate {
			continue
		}
		var it struct {
			IndexPatterns []string        `json:"index_patterns"`
			DataStream    json.RawMessage `json:"data_stream"`
			Priority      int             `json:"priority"`
			ComposedOf    []string        `json:"composed_of"`
		}
		if err := json.Unmarshal(tp.Body, &it); err != nil {
			t.Fatal(err)
		}
		if len(it.IndexPatterns) != 1 || it.IndexPatterns[0] != want[tp.Name] {
			t.Errorf("%s patterns %v, want %s", tp.Name, it.IndexPatterns, want[tp.Name])
		}
		if plain[tp.Name] {
			if it.DataStream != nil {
				t.Errorf("%s must be a plain index template: its documents are replaced by id", tp.Name)
			}
		} else if string(it.DataStream) != "{}" {
			t.Errorf("%s is not a data stream template", tp.Name)
		}
		// Above the built-in logs-*-* (100); > 500 as Elastic advises for
		// custom templates.
		if it.Priority <= 500 {
			t.Errorf("%s priority %d", tp.Name, it.Priority)
		}
		for _, c := range it.ComposedOf {
			if !comps[c] {
				t.Errorf("%s composes unknown component %s", tp.Name, c)
			}
		}
		delete(want, tp.Name)
	}
	if len(want) != 0 {
		t.Errorf("missing index templates %v", want)
	}
}

func TestTemplatesWithILM(t *testing.T) {
	ts, err := Templates(DefaultILMPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if ts[0].Kind != ILMPolicy || ts[0].Name != DefaultILMPolicy {
		t.Fatalf("first template %s/%s, want the ILM policy", ts[0].Kind, ts[0].Name)
	}
	found := false
	for _, tp := range ts {
		if tp.Name == SettingsComponent {
			var s struct {
				Template struct {
					Settings struct {
						Index struct {
							Lifecycle struct{ Name string } `json:"lifecycle"`
							Mapping   struct {
								IgnoreMalformed bool `json:"ignore_malformed"`
							} `json:"mapping"`
						} `json:"index"`
					} `json:"settings"`
				} `json:"template"`
			}
			if err := json.Unmarshal(tp.Body, &s); err != nil {
				t.Fatal(err)
			}
			found = s.Template.Settings.Index.Lifecycle.Name == DefaultILMPolicy && s.Template.Settings.Index.Mapping.IgnoreMalformed
		}
	}
	if !found {
		t.Error("settings component lacks index.lifecycle.name (or lost its other settings)")
	}
	// Another policy name is referenced but not created.
	ts, _ = Templates("logs")
	for _, tp := range ts {
		if tp.Kind == ILMPolicy {
			t.Errorf("policy %s included for a user policy", tp.Name)
		}
		if tp.Name == SettingsComponent && !strings.Contains(string(tp.Body), `"lifecycle":{"name":"logs"}`) {
			t.Errorf("settings %s", tp.Body)
		}
	}
}

func TestFieldsMapping(t *testing.T) {
	f, err := Fields()
	if err != nil {
		t.Fatal(err)
	}
	for path, typ := range map[string]string{
		"@timestamp": "date", "source.ip": "ip", "destination.ip": "ip", "related.ip": "ip",
		"source.port": "long", "exim.size": "long", "process.pid": "long",
		"event.original": "keyword", "email.subject": "keyword", "email.subject.text": "text",
		"message": "text", "data_stream.dataset": "keyword", "event.module": "keyword",
	} {
		if f[path] != typ {
			t.Errorf("%s mapped as %q, want %s", path, f[path], typ)
		}
	}
	dl, err := DeadLetterFields()
	if err != nil {
		t.Fatal(err)
	}
	if dl["document"] != "keyword" || dl["original"] != "text" || dl["input.offset"] != "long" {
		t.Errorf("dead-letter fields %v", dl)
	}
}

// TestMappingsDynamicFalse: unknown fields must neither fail a document
// (strict) nor grow the mapping (true).
func TestMappingsDynamicFalse(t *testing.T) {
	ts, _ := Templates("")
	for _, tp := range ts {
		if tp.Kind != ComponentTemplate || !strings.Contains(tp.Name, "mappings") {
			continue
		}
		var c struct {
			Template struct {
				Mappings struct {
					Dynamic any `json:"dynamic"`
				} `json:"mappings"`
			} `json:"template"`
		}
		json.Unmarshal(tp.Body, &c)
		if c.Template.Mappings.Dynamic != false {
			t.Errorf("%s: dynamic %v, want false", tp.Name, c.Template.Mappings.Dynamic)
		}
	}
}

// TestKeywordsBounded: every keyword has ignore_above unless it is neither
// indexed nor has doc values (event.original, document), so a huge value
// never fails a document.
func TestKeywordsBounded(t *testing.T) {
	for _, name := range []string{MappingsComponent, DeadLetterComponent, SourcesComponent} {
		body, _ := files.ReadFile("templates/component-" + name + ".json")
		var m map[string]any
		json.Unmarshal(body, &m)
		var visit func(path string, n map[string]any)
		visit = func(path string, n map[string]any) {
			if n["type"] == "keyword" && n["ignore_above"] == nil && !(n["index"] == false && n["doc_values"] == false) {
				t.Errorf("%s: keyword %s without ignore_above", name, path)
			}
			for _, k := range []string{"properties", "fields"} {
				if sub, ok := n[k].(map[string]any); ok {
					for key, v := range sub {
						visit(path+"."+key, v.(map[string]any))
					}
				}
			}
		}
		visit("", m["template"].(map[string]any)["mappings"].(map[string]any))
	}
}
