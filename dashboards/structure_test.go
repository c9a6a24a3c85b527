package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/eximship/eximship/dashboards/kql"
	"github.com/eximship/eximship/dashboards/lens"
)

// built decodes the importable NDJSON, line by line: the form Kibana gets.
func built(t *testing.T) []map[string]any {
	t.Helper()
	nd, err := SavedObjectsNDJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(nd, []byte("\n")) {
		t.Fatal("NDJSON does not end with a newline")
	}
	var out []map[string]any
	for i, line := range bytes.Split(bytes.TrimSuffix(nd, []byte("\n")), []byte("\n")) {
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("line %d is not JSON: %v", i+1, err)
		}
		if dec.More() {
			t.Fatalf("line %d holds more than one JSON value", i+1)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		t.Fatal("no saved objects")
	}
	return out
}

// The versions a Kibana 8.9+ import expects (see the package doc).
var wantTypeMigration = map[string]string{"index-pattern": "8.0.0", "search": "8.0.0", "dashboard": "8.9.0"}

// Top-level keys of a saved object in an export, minus what elastic-package
// strips (namespaces, updated_at, version, created_at).
var envelopeKeys = []string{"attributes", "coreMigrationVersion", "id", "managed", "references", "type", "typeMigrationVersion"}

// Dashboard attributes allowed by Kibana's dashboard saved-object schema
// (v1, unknowns: forbid): src/platform/plugins/shared/dashboard/server/
// dashboard_saved_object/schema/v1/v1.ts.
var dashboardAttributes = map[string]bool{
	"title": true, "description": true, "kibanaSavedObjectMeta": true, "timeRestore": true, "timeFrom": true, "timeTo": true,
	"refreshInterval": true, "controlGroupInput": true, "panelsJSON": true, "optionsJSON": true, "hits": true, "version": true,
}

// JSON-string attributes per type in the built form.
var stringAttributes = map[string][]string{
	"index-pattern": {"fields", "fieldAttrs", "fieldFormatMap", "runtimeFieldMap", "sourceFilters", "typeMeta"},
	"dashboard":     {"panelsJSON", "optionsJSON"},
}

func TestBuiltEnvelope(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range built(t) {
		typ, _ := o["type"].(string)
		id, _ := o["id"].(string)
		var keys []string
		for k := range o {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if !reflect.DeepEqual(keys, envelopeKeys) {
			t.Errorf("%s/%s: top-level keys %v, want %v", typ, id, keys, envelopeKeys)
		}
		if seen[typ+"/"+id] {
			t.Errorf("%s/%s appears twice", typ, id)
		}
		seen[typ+"/"+id] = true
		if !strings.HasPrefix(id, "eximship-") {
			t.Errorf("%s/%s: ids start with eximship- (they are the handles of idempotent imports)", typ, id)
		}
		if o["coreMigrationVersion"] != "8.8.0" {
			t.Errorf("%s/%s: coreMigrationVersion %v, want 8.8.0", typ, id, o["coreMigrationVersion"])
		}
		want, ok := wantTypeMigration[typ]
		if !ok {
			t.Errorf("%s/%s: unexpected type", typ, id)
		} else if o["typeMigrationVersion"] != want {
			t.Errorf("%s/%s: typeMigrationVersion %v, want %s", typ, id, o["typeMigrationVersion"], want)
		}
		attrs, _ := o["attributes"].(map[string]any)
		if title, _ := attrs["title"].(string); title == "" {
			t.Errorf("%s/%s: no title", typ, id)
		}
		for _, k := range stringAttributes[typ] {
			s, ok := attrs[k].(string)
			if !ok {
				t.Errorf("%s/%s: attribute %s is %T in the built form, want a JSON string", typ, id, k, attrs[k])
				continue
			}
			if !json.Valid([]byte(s)) {
				t.Errorf("%s/%s: attribute %s is not valid JSON: %.80s", typ, id, k, s)
			}
		}
		if meta, ok := attrs["kibanaSavedObjectMeta"].(map[string]any); ok {
			if s, ok := meta["searchSourceJSON"].(string); !ok || !json.Valid([]byte(s)) {
				t.Errorf("%s/%s: kibanaSavedObjectMeta.searchSourceJSON must be a JSON string, is %T", typ, id, meta["searchSourceJSON"])
			}
		}
		if typ == "dashboard" {
			for k := range attrs {
				if !dashboardAttributes[k] {
					t.Errorf("dashboard %s: attribute %q is not in Kibana's dashboard schema (unknown keys are refused)", id, k)
				}
			}
		}
	}
	for _, want := range []string{"index-pattern/" + LogsDataView, "index-pattern/" + DeadLetterDataView, "dashboard/" + OverviewDashboard,
		"dashboard/" + RelayDashboard, "dashboard/" + MailFlowDashboard, "dashboard/" + SecurityDashboard} {
		if !seen[want] {
			t.Errorf("%s is missing", want)
		}
	}
}

// TestBuiltDecodesToSource: encoding loses nothing — decoding every
// JSON-string attribute of the built form gives the source back.
func TestBuiltDecodesToSource(t *testing.T) {
	objs, err := Objects()
	if err != nil {
		t.Fatal(err)
	}
	b := built(t)
	if len(b) != len(objs) {
		t.Fatalf("%d built objects, %d sources", len(b), len(objs))
	}
	for i, o := range objs {
		got := decodeStrings(t, b[i]["attributes"])
		var want any
		raw, _ := json.Marshal(o.Attributes)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		_ = dec.Decode(&want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: built attributes do not decode to the source", o.File)
		}
	}
}

// decodeStrings replaces every string that holds a JSON object or array
// by its value, recursively.
func decodeStrings(t *testing.T, v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = decodeStrings(t, e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = decodeStrings(t, e)
		}
		return out
	case string:
		if s := strings.TrimSpace(x); (strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[")) && json.Valid([]byte(s)) {
			var d any
			dec := json.NewDecoder(strings.NewReader(s))
			dec.UseNumber()
			_ = dec.Decode(&d)
			return decodeStrings(t, d)
		}
	}
	return v
}

// panels returns a dashboard's decoded panels.
func panels(t *testing.T, o Object) []map[string]any {
	t.Helper()
	raw, ok := o.Attributes["panelsJSON"].([]any)
	if !ok {
		t.Fatalf("%s: panelsJSON is not a list", o.ID)
	}
	var out []map[string]any
	for _, p := range raw {
		out = append(out, p.(map[string]any))
	}
	return out
}

func lensAttributes(t *testing.T, p map[string]any) *lens.Attributes {
	t.Helper()
	ec, _ := p["embeddableConfig"].(map[string]any)
	b, err := json.Marshal(ec["attributes"])
	if err != nil {
		t.Fatal(err)
	}
	a, err := lens.Parse(b)
	if err != nil {
		t.Fatalf("panel %v: %v", p["panelIndex"], err)
	}
	return a
}

func dashboardsOf(t *testing.T) ([]Object, []Object) {
	t.Helper()
	objs, err := Objects()
	if err != nil {
		t.Fatal(err)
	}
	var ds []Object
	for _, o := range objs {
		if o.Type == "dashboard" {
			ds = append(ds, o)
		}
	}
	return objs, ds
}

// TestReferencesResolve: every reference names a bundled object; every
// Lens layer has its data-view reference, inside the panel and, prefixed
// with the panel index, on the dashboard (Kibana hands a panel the
// dashboard references whose name starts with "<panelIndex>:"); every
// by-reference panel's panelRefName has its reference; every indexRefName
// in a searchSourceJSON has one.
func TestReferencesResolve(t *testing.T) {
	objs, ds := dashboardsOf(t)
	exists := map[string]bool{}
	for _, o := range objs {
		exists[o.Type+"/"+o.ID] = true
	}
	for _, o := range objs {
		names := map[string]Reference{}
		for _, r := range o.References {
			if !exists[r.Type+"/"+r.ID] {
				t.Errorf("%s: reference %s → %s/%s resolves to nothing in the bundle", o.ID, r.Name, r.Type, r.ID)
			}
			if _, dup := names[r.Name]; dup {
				t.Errorf("%s: reference name %s used twice", o.ID, r.Name)
			}
			names[r.Name] = r
		}
		if meta, ok := o.Attributes["kibanaSavedObjectMeta"].(map[string]any); ok {
			for _, n := range indexRefNames(meta["searchSourceJSON"]) {
				if _, ok := names[n]; !ok {
					t.Errorf("%s: searchSourceJSON names %s, which is not a reference", o.ID, n)
				}
			}
		}
		if o.Type != "dashboard" {
			continue
		}
		used := map[string]bool{"kibanaSavedObjectMeta.searchSourceJSON.filter[0].meta.index": true}
		for _, p := range panels(t, o) {
			pi, _ := p["panelIndex"].(string)
			switch p["type"] {
			case "lens":
				a := lensAttributes(t, p)
				for _, l := range a.LayerIDs() {
					inner, err := a.DataViewID(l)
					if err != nil {
						t.Errorf("%s panel %s: %v", o.ID, pi, err)
						continue
					}
					n := pi + ":indexpattern-datasource-layer-" + l
					r, ok := names[n]
					if !ok {
						t.Errorf("%s panel %s: no dashboard reference %s", o.ID, pi, n)
					} else if r.ID != inner || r.Type != "index-pattern" {
						t.Errorf("%s panel %s: dashboard reference %s → %s/%s, the layer's own → index-pattern/%s", o.ID, pi, n, r.Type, r.ID, inner)
					}
					used[n] = true
				}
			case "search":
				ref, _ := p["panelRefName"].(string)
				n := pi + ":" + ref
				if r, ok := names[n]; !ok || r.Type != "search" {
					t.Errorf("%s panel %s: panelRefName %q has no search reference %s", o.ID, pi, ref, n)
				}
				used[n] = true
			case "visualization":
			default:
				t.Errorf("%s panel %s: panel type %v", o.ID, pi, p["type"])
			}
		}
		for n := range names {
			if !used[n] {
				t.Errorf("%s: reference %s is not used by any panel", o.ID, n)
			}
		}
	}
	if len(ds) != 4 {
		t.Errorf("%d dashboards, want 4", len(ds))
	}
}

func indexRefNames(ss any) []string {
	m, _ := ss.(map[string]any)
	var out []string
	if n, ok := m["indexRefName"].(string); ok {
		out = append(out, n)
	}
	fs, _ := m["filter"].([]any)
	for _, f := range fs {
		meta, _ := f.(map[string]any)["meta"].(map[string]any)
		if n, ok := meta["indexRefName"].(string); ok {
			out = append(out, n)
		}
	}
	return out
}

// Keys of a by-value Lens panel and of its attributes, as in Elastic's own
// dashboards (elastic/integrations packages/system/kibana/dashboard/
// system-Logs-syslog-dashboard.json, read for the shape).
var (
	lensPanelKeys = []string{"embeddableConfig", "gridData", "panelIndex", "title", "type"}
	lensAttrKeys  = []string{"description", "references", "state", "title", "type", "visualizationType"}
	lensStateKeys = []string{"adHocDataViews", "datasourceStates", "filters", "internalReferences", "query", "visualization"}
	gridKeys      = []string{"h", "i", "w", "x", "y"}
)

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestPanels: the shape of each panel, its grid (48 columns, no
// overlaps), Lens columns and the accessors that name them.
func TestPanels(t *testing.T) {
	_, ds := dashboardsOf(t)
	for _, o := range ds {
		ids := map[string]bool{}
		var cells [][4]float64
		for _, p := range panels(t, o) {
			pi, _ := p["panelIndex"].(string)
			where := o.ID + " panel " + pi
			if pi == "" || ids[pi] {
				t.Errorf("%s: empty or duplicate panelIndex", where)
			}
			ids[pi] = true
			g, _ := p["gridData"].(map[string]any)
			if !reflect.DeepEqual(sortedKeys(g), gridKeys) {
				t.Errorf("%s: gridData keys %v", where, sortedKeys(g))
			}
			if g["i"] != pi {
				t.Errorf("%s: gridData.i %v differs from panelIndex", where, g["i"])
			}
			x, y, w, h := g["x"].(float64), g["y"].(float64), g["w"].(float64), g["h"].(float64)
			if x < 0 || w < 1 || x+w > 48 || h < 1 || y < 0 {
				t.Errorf("%s: grid %v,%v %vx%v outside the 48-column grid", where, x, y, w, h)
			}
			for _, c := range cells {
				if x < c[0]+c[2] && c[0] < x+w && y < c[1]+c[3] && c[1] < y+h {
					t.Errorf("%s: overlaps another panel", where)
				}
			}
			cells = append(cells, [4]float64{x, y, w, h})
			if p["type"] != "lens" {
				continue
			}
			if !reflect.DeepEqual(sortedKeys(p), lensPanelKeys) {
				t.Errorf("%s: panel keys %v, want %v", where, sortedKeys(p), lensPanelKeys)
			}
			ec := p["embeddableConfig"].(map[string]any)
			attrs := ec["attributes"].(map[string]any)
			if !reflect.DeepEqual(sortedKeys(attrs), lensAttrKeys) {
				t.Errorf("%s: attributes keys %v, want %v", where, sortedKeys(attrs), lensAttrKeys)
			}
			if !reflect.DeepEqual(sortedKeys(attrs["state"].(map[string]any)), lensStateKeys) {
				t.Errorf("%s: state keys %v, want %v", where, sortedKeys(attrs["state"].(map[string]any)), lensStateKeys)
			}
			checkLens(t, where, lensAttributes(t, p))
		}
	}
}

func checkLens(t *testing.T, where string, a *lens.Attributes) {
	t.Helper()
	layers := a.LayerIDs()
	if len(layers) == 0 {
		t.Errorf("%s: no layer", where)
	}
	cols := map[string]lens.Column{}
	for _, lid := range layers {
		l, _ := a.Layer(lid)
		order := append([]string(nil), l.ColumnOrder...)
		sort.Strings(order)
		var keys []string
		for k, c := range l.Columns {
			keys = append(keys, k)
			cols[k] = c
			if c.Label == "" || c.DataType == "" {
				t.Errorf("%s: column %s without label or dataType", where, k)
			}
		}
		sort.Strings(keys)
		if !reflect.DeepEqual(order, keys) {
			t.Errorf("%s: layer %s columnOrder %v != columns %v", where, lid, l.ColumnOrder, keys)
		}
		// Buckets before metrics, as Lens writes them.
		metricSeen := false
		for _, id := range l.ColumnOrder {
			if !l.Columns[id].IsBucketed {
				metricSeen = true
			} else if metricSeen {
				t.Errorf("%s: bucket column %s after a metric in columnOrder", where, id)
			}
		}
	}
	// Every accessor of the visualization names a column of the layer.
	var vis map[string]any
	if err := json.Unmarshal(a.State.Visualization, &vis); err != nil {
		t.Fatalf("%s: visualization: %v", where, err)
	}
	var accessors []string
	var layerIDs []string
	collect := func(m map[string]any) {
		if id, ok := m["layerId"].(string); ok {
			layerIDs = append(layerIDs, id)
		}
		for _, k := range []string{"xAccessor", "splitAccessor", "metricAccessor", "columnId"} {
			if s, ok := m[k].(string); ok {
				accessors = append(accessors, s)
			}
		}
		for _, k := range []string{"accessors", "primaryGroups", "metrics", "secondaryGroups"} {
			if xs, ok := m[k].([]any); ok {
				for _, x := range xs {
					accessors = append(accessors, x.(string))
				}
			}
		}
	}
	switch a.VisualizationType {
	case "lnsXY", "lnsPie":
		for _, l := range vis["layers"].([]any) {
			collect(l.(map[string]any))
		}
	case "lnsMetric":
		collect(vis)
	case "lnsDatatable":
		collect(vis)
		for _, c := range vis["columns"].([]any) {
			collect(c.(map[string]any))
		}
	default:
		t.Errorf("%s: visualization type %s", where, a.VisualizationType)
	}
	for _, id := range layerIDs {
		if _, ok := a.Layer(id); !ok {
			t.Errorf("%s: visualization names layer %s, which the datasource lacks", where, id)
		}
	}
	used := map[string]bool{}
	for _, acc := range accessors {
		if _, ok := cols[acc]; !ok {
			t.Errorf("%s: visualization names column %s, which no layer has", where, acc)
		}
		used[acc] = true
	}
	for id := range cols {
		if !used[id] {
			t.Errorf("%s: column %s is not shown by the visualization", where, id)
		}
	}
}

// TestEveryLayerTranslates: each Lens layer is one the translator (and so
// the numbers test) understands; the translation fails on formula,
// last_value, multi_terms, ES|QL and friends.
func TestEveryLayerTranslates(t *testing.T) {
	n := 0
	eachLayer(t, func(o Object, p map[string]any, a *lens.Attributes, lid string) {
		if _, err := lens.Translate(a, lid, lens.Context{TimeField: "@timestamp"}); err != nil {
			t.Errorf("%s panel %v: %v", o.ID, p["panelIndex"], err)
		}
		n++
	})
	if n < 40 {
		t.Errorf("only %d Lens layers", n)
	}
}

// TestOneCountPerRejection: Exim writes every rejection to the main log
// and the reject log. Each dashboard filters data_stream.dataset:
// exim.main; a layer that ignores the dashboard's filters must not count
// rejections: it reads the dead letters or the per-source entity index
// (one document per source and window), selects pipeline errors only, or
// splits its counts by data_stream.dataset. Every saved search has the
// filter too.
func TestOneCountPerRejection(t *testing.T) {
	objs, _ := dashboardsOf(t)
	for _, o := range objs {
		if o.Type != "dashboard" && o.Type != "search" {
			continue
		}
		if !hasMainFilter(o) {
			t.Errorf("%s %s: no data_stream.dataset: exim.main filter", o.Type, o.ID)
		}
	}
	eachLayer(t, func(o Object, p map[string]any, a *lens.Attributes, lid string) {
		l, _ := a.Layer(lid)
		if !l.IgnoreGlobalFilters {
			return
		}
		dv, _ := a.DataViewID(lid)
		_, splitsByDataset := l.Fields()["data_stream.dataset"]
		q := a.State.Query.Query
		pipelineOnly := strings.HasPrefix(q, `event.kind:"pipeline_error"`)
		if dv != DeadLetterDataView && dv != SourcesDataView && !splitsByDataset && !pipelineOnly {
			t.Errorf("%s panel %v ignores the dashboard's dataset filter and may count rejections twice", o.ID, p["panelIndex"])
		}
	})
}

// eachLayer calls f for every layer of every Lens panel of every bundled
// dashboard.
func eachLayer(t *testing.T, f func(o Object, p map[string]any, a *lens.Attributes, layer string)) {
	t.Helper()
	_, ds := dashboardsOf(t)
	for _, o := range ds {
		for _, p := range panels(t, o) {
			if p["type"] != "lens" {
				continue
			}
			a := lensAttributes(t, p)
			for _, lid := range a.LayerIDs() {
				f(o, p, a, lid)
			}
		}
	}
}

func hasMainFilter(o Object) bool {
	meta, _ := o.Attributes["kibanaSavedObjectMeta"].(map[string]any)
	ss, _ := meta["searchSourceJSON"].(map[string]any)
	fs, _ := ss["filter"].([]any)
	for _, f := range fs {
		q, _ := f.(map[string]any)["query"].(map[string]any)
		mp, _ := q["match_phrase"].(map[string]any)
		if mp["data_stream.dataset"] == "exim.main" {
			fm := f.(map[string]any)["meta"].(map[string]any)
			return fm["disabled"] == false && fm["negate"] == false
		}
	}
	return false
}

var navLink = regexp.MustCompile(`\]\(#/view/([a-z0-9-]+)\)`)

// TestDashboardsLinkEachOther: each dashboard's navigation panel links
// every other bundled dashboard (relative links, so they work in any
// space and under any base path).
func TestDashboardsLinkEachOther(t *testing.T) {
	_, ds := dashboardsOf(t)
	all := map[string]bool{}
	for _, o := range ds {
		all[o.ID] = true
	}
	for _, o := range ds {
		links := map[string]bool{}
		for _, p := range panels(t, o) {
			if p["type"] != "visualization" {
				continue
			}
			sv := p["embeddableConfig"].(map[string]any)["savedVis"].(map[string]any)
			if sv["type"] != "markdown" {
				t.Errorf("%s: by-value visualization of type %v (only markdown is allowed: no legacy visualizations)", o.ID, sv["type"])
				continue
			}
			md := sv["params"].(map[string]any)["markdown"].(string)
			for _, m := range navLink.FindAllStringSubmatch(md, -1) {
				if !all[m[1]] {
					t.Errorf("%s links to %s, which is not bundled", o.ID, m[1])
				}
				links[m[1]] = true
			}
		}
		for id := range all {
			if id != o.ID && !links[id] {
				t.Errorf("%s does not link to %s", o.ID, id)
			}
		}
	}
}

// TestDataView: the logs data view covers eximship's data streams, with
// field formats and popularity for fields that exist in the templates.
func TestDataView(t *testing.T) {
	objs, _ := dashboardsOf(t)
	dv, ok := Find(objs, "index-pattern", LogsDataView)
	if !ok {
		t.Fatal("no logs data view")
	}
	if dv.Attributes["title"] != "logs-exim.*-*" || dv.Attributes["timeFieldName"] != "@timestamp" {
		t.Errorf("logs data view: title %v, time field %v", dv.Attributes["title"], dv.Attributes["timeFieldName"])
	}
	fa, _ := dv.Attributes["fieldAttrs"].(map[string]any)
	ff, _ := dv.Attributes["fieldFormatMap"].(map[string]any)
	if len(fa) < 10 || len(ff) < 3 {
		t.Errorf("logs data view: %d field attributes, %d formats", len(fa), len(ff))
	}
	for f, v := range fa {
		if c, _ := v.(map[string]any)["count"].(float64); c <= 0 {
			t.Errorf("fieldAttrs %s: popularity count %v", f, c)
		}
	}
	for f, v := range ff {
		if id, _ := v.(map[string]any)["id"].(string); id == "" {
			t.Errorf("fieldFormatMap %s: no format id", f)
		}
	}
}

// TestRules: each rule has what Elastic Security needs and this world can
// evaluate: query, threshold or new_terms; KQL in the translated subset;
// the dataset filter; event.ingested as timestamp override; a severity
// matching its risk score; MITRE mapping; description and false positives.
func TestRules(t *testing.T) {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) < 4 {
		t.Fatalf("%d rules, want at least 4", len(rules))
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	ids := map[string]bool{}
	types := map[string]int{}
	for _, r := range rules {
		w := r.File
		if !uuid.MatchString(r.RuleID) || ids[r.RuleID] {
			t.Errorf("%s: rule_id %q not a unique UUID", w, r.RuleID)
		}
		ids[r.RuleID] = true
		types[r.Type]++
		switch r.Type {
		case "query":
		case "threshold":
			if r.Threshold == nil || r.Threshold.Value < 1 || len(r.Threshold.Field) == 0 || len(r.Threshold.Field) > 3 {
				t.Errorf("%s: threshold %+v", w, r.Threshold)
			}
		case "new_terms":
			if len(r.NewTermsFields) < 1 || len(r.NewTermsFields) > 3 || !strings.HasPrefix(r.HistoryWindowStart, "now-") {
				t.Errorf("%s: new_terms fields %v, history %q", w, r.NewTermsFields, r.HistoryWindowStart)
			}
		default:
			t.Errorf("%s: type %s cannot be evaluated here (query, threshold, new_terms only)", w, r.Type)
		}
		if r.Language != "kuery" {
			t.Errorf("%s: language %s", w, r.Language)
		}
		if _, err := kql.Parse(r.Query); err != nil {
			t.Errorf("%s: query: %v", w, err)
		}
		if !strings.HasPrefix(r.Query, `data_stream.dataset:"exim.main" and `) {
			t.Errorf("%s: query does not start with the exim.main dataset filter", w)
		}
		if r.TimestampOverride != "event.ingested" {
			t.Errorf("%s: timestamp_override %q", w, r.TimestampOverride)
		}
		if len(r.Index) != 1 || r.Index[0] != "logs-exim.*-*" {
			t.Errorf("%s: index %v", w, r.Index)
		}
		want := map[string][2]int{"low": {0, 21}, "medium": {22, 47}, "high": {48, 73}, "critical": {74, 100}}[r.Severity]
		if want == [2]int{} || r.RiskScore < want[0] || r.RiskScore > want[1] {
			t.Errorf("%s: severity %s with risk score %d", w, r.Severity, r.RiskScore)
		}
		for _, k := range []string{"description", "note", "name"} {
			if s, _ := r.Raw[k].(string); len(s) < 20 {
				t.Errorf("%s: %s too short or missing", w, k)
			}
		}
		if fp, _ := r.Raw["false_positives"].([]any); len(fp) == 0 {
			t.Errorf("%s: no false_positives", w)
		}
		if r.Raw["enabled"] != false {
			t.Errorf("%s: rules ship disabled", w)
		}
		threat, _ := r.Raw["threat"].([]any)
		if len(threat) == 0 {
			t.Errorf("%s: no MITRE ATT&CK mapping", w)
		}
		for _, th := range threat {
			m := th.(map[string]any)
			tac := m["tactic"].(map[string]any)
			if m["framework"] != "MITRE ATT&CK" || !strings.HasPrefix(fmt.Sprint(tac["id"]), "TA") {
				t.Errorf("%s: threat %v", w, m)
			}
			for _, te := range m["technique"].([]any) {
				if id := fmt.Sprint(te.(map[string]any)["id"]); !strings.HasPrefix(id, "T") || !strings.Contains(fmt.Sprint(te.(map[string]any)["reference"]), id) {
					t.Errorf("%s: technique %v", w, te)
				}
			}
		}
	}
	if types["threshold"] == 0 || types["new_terms"] == 0 {
		t.Errorf("rule types %v: want threshold and new_terms rules", types)
	}
	nd, err := RulesNDJSON()
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(nd, []byte("\n")); n != len(rules) {
		t.Errorf("rules NDJSON has %d lines for %d rules", n, len(rules))
	}
}
