// Package mapping holds eximship's Elasticsearch index templates, embedded
// as JSON, and installs them: composable index templates (with component
// templates) for the data streams logs-exim.<dataset>-<namespace> and for
// the dead-letter stream eximship-deadletter-<namespace>, and an ILM policy
// when the cluster has ILM.
//
// The templates use only what every Elasticsearch 8 node has (server
// mappers; no match_only_text, wildcard, constant_keyword, ingest pipeline
// or painless), so they install on a minimal node too. Optional features
// are detected at install time: ILM (referenced only when present) and
// the storage (logsdb, synthetic or stored _source: storage.go).
package mapping

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed templates/*.json
var files embed.FS

// Kinds of Template.
const (
	ILMPolicy         = "ilm_policy"
	ComponentTemplate = "component_template"
	IndexTemplate     = "index_template"
)

// Names and patterns.
const (
	// LogsTemplate is the index template of logs-exim.*-*.
	LogsTemplate = "eximship-logs-exim"
	// LogsPattern matches eximship's data streams.
	LogsPattern = "logs-exim.*-*"
	// DeadLetterTemplate is the index template of the dead-letter streams.
	DeadLetterTemplate = "eximship-deadletter"
	// DeadLetterPattern matches the dead-letter streams.
	DeadLetterPattern = "eximship-deadletter-*"
	// SettingsComponent carries the index settings (and the ILM policy name).
	SettingsComponent = "eximship-logs-exim-settings"
	// (StorageComponent, in storage.go, carries the index and source mode.)
	// MappingsComponent carries the ECS mappings of the Exim documents.
	MappingsComponent = "eximship-logs-exim-mappings"
	// DeadLetterComponent carries the mappings of the dead letters.
	DeadLetterComponent = "eximship-deadletter-mappings"
	// SourcesTemplate is the index template of the per-source entity
	// indices eximship-sources-<namespace> (plain indices, not data
	// streams: a recomputed document replaces the old one by id).
	SourcesTemplate = "eximship-sources"
	// SourcesPattern matches the entity indices.
	SourcesPattern = "eximship-sources-*"
	// SourcesComponent carries the mappings of the entity documents.
	SourcesComponent = "eximship-sources-mappings"
	// DefaultILMPolicy is the policy eximship creates and references when
	// the cluster has ILM and Options.ILMPolicy is empty.
	DefaultILMPolicy = "eximship-logs"
)

// Template is one object to install.
type Template struct {
	// Kind is ILMPolicy, ComponentTemplate or IndexTemplate.
	Kind string
	Name string
	// Body is the JSON sent with PUT.
	Body json.RawMessage
}

// Path is the REST path of the template.
func (t Template) Path() string {
	switch t.Kind {
	case ILMPolicy:
		return "/_ilm/policy/" + t.Name
	case ComponentTemplate:
		return "/_component_template/" + t.Name
	default:
		return "/_index_template/" + t.Name
	}
}

// Version is the "version" field of the template (0 for ILM policies).
func (t Template) Version() int {
	var v struct {
		Version int `json:"version"`
	}
	_ = json.Unmarshal(t.Body, &v)
	return v.Version
}

// order is the install order: policies, then component templates, then
// the index templates that compose them.
var order = map[string]int{ILMPolicy: 0, ComponentTemplate: 1, IndexTemplate: 2}

// Templates returns the objects to install, in install order, with the
// portable storage (StorageStored). ilmPolicy, when not empty, is set as
// index.lifecycle.name in the settings component; when it is
// DefaultILMPolicy, the policy itself is included. With an empty ilmPolicy
// the result is what a cluster without ILM needs.
func Templates(ilmPolicy string) ([]Template, error) {
	return TemplatesFor(ilmPolicy, StorageStored)
}

// TemplatesFor is Templates with the storage component for s.
func TemplatesFor(ilmPolicy string, s Storage) ([]Template, error) {
	st, err := storageTemplate(s)
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(files, "templates")
	if err != nil {
		return nil, err
	}
	out, err := TemplatesFS(sub, ilmPolicy)
	if err != nil {
		return nil, err
	}
	out = append(out, st)
	sortTemplates(out)
	return out, nil
}

// TemplatesFS reads templates from the *.json files of fsys, named as in
// mapping/templates (component-<name>.json, index-<name>.json,
// ilm-<name>.json), in install order; ilmPolicy as for Templates. It lets
// a benchmark install the templates of another eximship version.
func TemplatesFS(fsys fs.FS, ilmPolicy string) ([]Template, error) {
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var out []Template
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		name := strings.TrimSuffix(e.Name(), ".json")
		kind, tname, ok := strings.Cut(name, "-")
		if !ok {
			return nil, fmt.Errorf("mapping: bad template file name %s", e.Name())
		}
		switch kind {
		case "ilm":
			if ilmPolicy != DefaultILMPolicy || tname != DefaultILMPolicy {
				continue
			}
			kind = ILMPolicy
		case "component":
			kind = ComponentTemplate
		case "index":
			kind = IndexTemplate
		default:
			return nil, fmt.Errorf("mapping: bad template file name %s", e.Name())
		}
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		if !json.Valid(body) {
			return nil, fmt.Errorf("mapping: %s is not valid JSON", e.Name())
		}
		if tname == SettingsComponent && ilmPolicy != "" {
			body, err = withLifecycle(body, ilmPolicy)
			if err != nil {
				return nil, err
			}
		}
		out = append(out, Template{Kind: kind, Name: tname, Body: compact(body)})
	}
	sortTemplates(out)
	return out, nil
}

// sortTemplates puts ts in install order, by name within a kind.
func sortTemplates(ts []Template) {
	sort.SliceStable(ts, func(i, j int) bool {
		if order[ts[i].Kind] != order[ts[j].Kind] {
			return order[ts[i].Kind] < order[ts[j].Kind]
		}
		return ts[i].Name < ts[j].Name
	})
}

// withLifecycle sets template.settings.index.lifecycle.name.
func withLifecycle(body []byte, policy string) ([]byte, error) {
	var t map[string]any
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, err
	}
	settings := dig(t, "template", "settings", "index")
	settings["lifecycle"] = map[string]any{"name": policy}
	return json.Marshal(t)
}

// dig returns the object at path, creating missing levels.
func dig(m map[string]any, path ...string) map[string]any {
	for _, k := range path {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	return m
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

// Fields returns the mapped fields of the Exim documents (the mappings
// component): dotted path → type. Multi-fields appear as their own paths
// (e.g. "email.subject.text").
func Fields() (map[string]string, error) {
	return componentFields(MappingsComponent)
}

// DeadLetterFields is Fields for the dead-letter mapping.
func DeadLetterFields() (map[string]string, error) {
	return componentFields(DeadLetterComponent)
}

// SourcesFields is Fields for the per-source entity index.
func SourcesFields() (map[string]string, error) {
	return componentFields(SourcesComponent)
}

func componentFields(name string) (map[string]string, error) {
	specs, err := componentSpecs(name)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(specs))
	for p, s := range specs {
		out[p] = s.Type
	}
	return out, nil
}

// Spec is how one field is mapped: its type and whether it is indexed
// (searchable) and has doc values (aggregatable, sortable).
type Spec struct {
	Type      string
	Index     bool
	DocValues bool
}

// FieldSpecs is Fields with the index and doc_values of every field (the
// types' defaults where the mapping sets none: text has no doc values).
func FieldSpecs() (map[string]Spec, error) {
	return componentSpecs(MappingsComponent)
}

func componentSpecs(name string) (map[string]Spec, error) {
	body, err := files.ReadFile("templates/component-" + name + ".json")
	if err != nil {
		return nil, err
	}
	var t struct {
		Template struct {
			Mappings mappingNode `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, fmt.Errorf("mapping: %s: %w", name, err)
	}
	out := map[string]Spec{}
	walk("", t.Template.Mappings.Properties, out)
	return out, nil
}

type mappingNode struct {
	Type       string                 `json:"type"`
	Properties map[string]mappingNode `json:"properties"`
	Fields     map[string]mappingNode `json:"fields"`
	Index      *bool                  `json:"index"`
	DocValues  *bool                  `json:"doc_values"`
}

func (n mappingNode) spec() Spec {
	s := Spec{Type: n.Type, Index: true, DocValues: true}
	switch n.Type {
	case "", "object":
		s.Type, s.Index, s.DocValues = "object", false, false
	case "text", "match_only_text", "binary":
		s.DocValues = false
	}
	if n.Index != nil {
		s.Index = *n.Index
	}
	if n.DocValues != nil {
		s.DocValues = *n.DocValues
	}
	return s
}

func walk(prefix string, props map[string]mappingNode, out map[string]Spec) {
	for k, n := range props {
		p := prefix + k
		if n.Properties != nil {
			walk(p+".", n.Properties, out)
			if n.Type == "" {
				continue
			}
		}
		out[p] = n.spec()
		for fk, fn := range n.Fields {
			out[p+"."+fk] = fn.spec()
		}
	}
}
