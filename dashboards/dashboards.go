// Package dashboards holds eximship's Kibana content: saved objects (data
// views, saved searches, dashboards of by-value Lens panels) and Elastic
// Security detection rules, embedded as readable JSON, one object per file
// (kibana/<type>/<id>.json, rules/<name>.json), like elastic/integrations.
//
// The files are decoded: the attributes Kibana stores as JSON strings
// (panelsJSON, optionsJSON, searchSourceJSON, the data view's fields,
// fieldAttrs, fieldFormatMap...) are plain JSON here, so that a review reads
// them. SavedObjectsNDJSON encodes them into the form Kibana's
// saved-objects import API takes, the way elastic-package builds a package
// and libbeat loads its dashboards.
//
// Format: the Kibana >= 8.8 envelope (coreMigrationVersion 8.8.0 and a
// typeMigrationVersion per type: dashboard 8.9.0, index-pattern and search
// 8.0.0). Kibana migrates these forward on import, so the same file imports
// into Kibana 8.9 or later and 9.x (MinKibanaVersion).
package dashboards

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed kibana/*/*.json rules/*.json
var files embed.FS

// MinKibanaVersion is the oldest Kibana the saved objects and rules are
// written for: dashboards carry typeMigrationVersion 8.9.0 (Kibana refuses
// objects from a newer version, and 8.8.x had the by-value Lens migration
// bug elastic-package refuses exports of).
const MinKibanaVersion = "8.9.0"

// Ids of the bundled objects other code links to.
const (
	LogsDataView       = "eximship-logs-exim"
	DeadLetterDataView = "eximship-deadletter"
	SourcesDataView    = "eximship-sources"
	OverviewDashboard  = "eximship-overview"
	RelayDashboard     = "eximship-relay-attempts"
	MailFlowDashboard  = "eximship-mail-flow"
	SecurityDashboard  = "eximship-security"
)

// Object is one saved object in its decoded (source) form.
type Object struct {
	// File is the embedded file it was read from.
	File string `json:"-"`
	Type string `json:"type"`
	ID   string `json:"id"`
	// Attributes are decoded: nested JSON strings are objects here.
	Attributes           map[string]any `json:"attributes"`
	References           []Reference    `json:"references"`
	CoreMigrationVersion string         `json:"coreMigrationVersion"`
	TypeMigrationVersion string         `json:"typeMigrationVersion"`
	Managed              bool           `json:"managed"`
}

// Reference is a saved object reference; Name is the slot the attributes
// point to.
type Reference struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Title is the object's title attribute.
func (o Object) Title() string {
	s, _ := o.Attributes["title"].(string)
	return s
}

// typeOrder is the order objects are written in: what is referenced first.
var typeOrder = map[string]int{"index-pattern": 0, "search": 1, "lens": 2, "visualization": 2, "dashboard": 3}

// Objects returns the bundled saved objects, decoded, data views first,
// then searches, then dashboards (each group by id).
func Objects() ([]Object, error) {
	var out []Object
	err := fs.WalkDir(files, "kibana", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		var o Object
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			return fmt.Errorf("dashboards: %s: %w", p, err)
		}
		o.File = p
		if want := path.Base(path.Dir(p)); o.Type != want {
			return fmt.Errorf("dashboards: %s: type %q in the %s folder", p, o.Type, want)
		}
		if want := strings.TrimSuffix(path.Base(p), ".json"); o.ID != want {
			return fmt.Errorf("dashboards: %s: id %q does not match the file name", p, o.ID)
		}
		out = append(out, o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := typeOrder[out[i].Type], typeOrder[out[j].Type]; a != b {
			return a < b
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Find returns the object of that type and id.
func Find(objs []Object, typ, id string) (Object, bool) {
	for _, o := range objs {
		if o.Type == typ && o.ID == id {
			return o, true
		}
	}
	return Object{}, false
}

// encodedAttributes are the attributes Kibana stores as JSON strings, per
// saved-object type (and, for dashboards, inside each panel's
// embeddableConfig: see encodePanels).
var encodedAttributes = map[string][]string{
	"index-pattern": {"fields", "fieldAttrs", "fieldFormatMap", "runtimeFieldMap", "sourceFilters", "typeMeta"},
	"dashboard":     {"optionsJSON", "panelsJSON"},
	"visualization": {"visState", "uiStateJSON"},
}

// Encoded returns o as Kibana's import takes it: the JSON-string attributes
// encoded (kibanaSavedObjectMeta.searchSourceJSON, panelsJSON, optionsJSON,
// the data view's fields...). Values already strings are left alone.
func (o Object) Encoded() (map[string]any, error) {
	attrs, err := deepCopy(o.Attributes)
	if err != nil {
		return nil, err
	}
	if o.Type == "dashboard" {
		if err := encodePanels(attrs); err != nil {
			return nil, fmt.Errorf("dashboards: %s: %w", o.ID, err)
		}
	}
	for _, k := range encodedAttributes[o.Type] {
		if err := encodeKey(attrs, k); err != nil {
			return nil, fmt.Errorf("dashboards: %s: %w", o.ID, err)
		}
	}
	if err := encodeSearchSource(attrs); err != nil {
		return nil, fmt.Errorf("dashboards: %s: %w", o.ID, err)
	}
	refs := o.References
	if refs == nil {
		refs = []Reference{}
	}
	return map[string]any{
		"type":                 o.Type,
		"id":                   o.ID,
		"attributes":           attrs,
		"references":           refs,
		"coreMigrationVersion": o.CoreMigrationVersion,
		"typeMigrationVersion": o.TypeMigrationVersion,
		"managed":              o.Managed,
	}, nil
}

// encodePanels encodes, inside each panel's embeddableConfig, what Kibana
// keeps as strings there (a by-value saved search's or legacy
// visualization's searchSourceJSON), like elastic-package does.
func encodePanels(attrs map[string]any) error {
	panels, ok := attrs["panelsJSON"].([]any)
	if !ok {
		return nil
	}
	for _, p := range panels {
		pm, _ := p.(map[string]any)
		ec, _ := pm["embeddableConfig"].(map[string]any)
		if ec == nil {
			continue
		}
		if a, ok := ec["attributes"].(map[string]any); ok {
			if err := encodeSearchSource(a); err != nil {
				return err
			}
		}
	}
	return nil
}

func encodeSearchSource(attrs map[string]any) error {
	meta, ok := attrs["kibanaSavedObjectMeta"].(map[string]any)
	if !ok {
		return nil
	}
	return encodeKey(meta, "searchSourceJSON")
}

func encodeKey(m map[string]any, k string) error {
	v, ok := m[k]
	if !ok {
		return nil
	}
	if _, isString := v.(string); isString {
		return nil
	}
	b, err := marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", k, err)
	}
	m[k] = string(b)
	return nil
}

// marshal is json.Marshal without HTML escaping (Kibana's own exports keep
// <, > and & as they are).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func deepCopy(m map[string]any) (map[string]any, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// SavedObjectsNDJSON is the importable form of every bundled saved object:
// one encoded object per line, newline-terminated, in dependency order
// (what POST /api/saved_objects/_import takes and `eximship export
// dashboards` prints).
func SavedObjectsNDJSON() ([]byte, error) {
	objs, err := Objects()
	if err != nil {
		return nil, err
	}
	lines := make([]any, len(objs))
	for i, o := range objs {
		if lines[i], err = o.Encoded(); err != nil {
			return nil, err
		}
	}
	return ndjson(lines)
}

// ndjson writes one JSON value per line, each newline-terminated.
func ndjson(values []any) ([]byte, error) {
	var buf bytes.Buffer
	for _, v := range values {
		b, err := marshal(v)
		if err != nil {
			return nil, fmt.Errorf("dashboards: %w", err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// Rule is one detection rule, in the JSON of Kibana's detection-engine API
// (POST /api/detection_engine/rules, and the lines of its _import file).
type Rule struct {
	File string `json:"-"`
	// Fields the tests and the rule emulation read; the full rule is Raw.
	RuleID             string     `json:"rule_id"`
	Name               string     `json:"name"`
	Type               string     `json:"type"`
	Language           string     `json:"language"`
	Query              string     `json:"query"`
	Index              []string   `json:"index"`
	From               string     `json:"from"`
	Interval           string     `json:"interval"`
	Severity           string     `json:"severity"`
	RiskScore          int        `json:"risk_score"`
	TimestampOverride  string     `json:"timestamp_override"`
	Threshold          *Threshold `json:"threshold,omitempty"`
	NewTermsFields     []string   `json:"new_terms_fields,omitempty"`
	HistoryWindowStart string     `json:"history_window_start,omitempty"`
	Raw                map[string]any
}

// Threshold is a threshold rule's condition: at least Value documents per
// combination of Field values, and for each Cardinality entry at least
// Value distinct values of Field within the group.
type Threshold struct {
	Field       []string      `json:"field"`
	Value       int           `json:"value"`
	Cardinality []Cardinality `json:"cardinality,omitempty"`
}

// Cardinality is a distinct-count condition of a threshold rule.
type Cardinality struct {
	Field string `json:"field"`
	Value int    `json:"value"`
}

// Rules returns the bundled detection rules, by file name.
func Rules() ([]Rule, error) {
	ents, err := fs.ReadDir(files, "rules")
	if err != nil {
		return nil, err
	}
	var out []Rule
	for _, e := range ents {
		p := "rules/" + e.Name()
		b, err := files.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var r Rule
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("dashboards: %s: %w", p, err)
		}
		if err := json.Unmarshal(b, &r.Raw); err != nil {
			return nil, fmt.Errorf("dashboards: %s: %w", p, err)
		}
		r.File = p
		out = append(out, r)
	}
	return out, nil
}

// RulesNDJSON is the file Kibana's rules import API takes
// (POST /api/detection_engine/rules/_import): one rule per line.
func RulesNDJSON() ([]byte, error) {
	rules, err := Rules()
	if err != nil {
		return nil, err
	}
	lines := make([]any, len(rules))
	for i, r := range rules {
		lines[i] = r.Raw
	}
	return ndjson(lines)
}

// TimeField returns the time field of a bundled data view ("" when it has
// none or is not bundled): Kibana filters each Lens layer's time range on
// its own data view's field.
func TimeField(objs []Object, dataView string) string {
	o, ok := Find(objs, "index-pattern", dataView)
	if !ok {
		return ""
	}
	s, _ := o.Attributes["timeFieldName"].(string)
	return s
}
