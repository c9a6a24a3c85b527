package lens

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// layer builds Lens attributes with one layer l1 from columns (id → JSON).
func attrs(t *testing.T, query string, order []string, cols map[string]string) *Attributes {
	t.Helper()
	var cs []string
	for id, c := range cols {
		cs = append(cs, `"`+id+`":`+c)
	}
	o, _ := json.Marshal(order)
	src := `{"title":"t","visualizationType":"lnsDatatable","references":[{"type":"index-pattern","id":"dv","name":"indexpattern-datasource-layer-l1"}],
	"state":{"datasourceStates":{"formBased":{"layers":{"l1":{"columnOrder":` + string(o) + `,"columns":{` + strings.Join(cs, ",") + `}}}}},
	"visualization":{},"query":{"query":` + mustJSON(query) + `,"language":"kuery"},"filters":[]}}`
	a, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

const (
	cCount  = `{"label":"n","dataType":"number","operationType":"count","sourceField":"___records___","isBucketed":false,"params":{"emptyAsNull":true}}`
	cUnique = `{"label":"u","dataType":"number","operationType":"unique_count","sourceField":"email.to.address","isBucketed":false,"params":{"emptyAsNull":true}}`
	cTermsU = `{"label":"d","dataType":"string","operationType":"terms","sourceField":"exim.rcpt.domain","isBucketed":true,"params":{"size":3,"orderBy":{"type":"column","columnId":"u"},"orderDirection":"desc","otherBucket":false,"missingBucket":false}}`
	cTermsN = `{"label":"ip","dataType":"ip","operationType":"terms","sourceField":"source.ip","isBucketed":true,"params":{"size":5,"orderBy":{"type":"column","columnId":"n"},"orderDirection":"desc"}}`
)

var ctx = Context{TimeField: "@timestamp", From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC),
	Filters: []Filter{{Query: map[string]any{"match_phrase": map[string]any{"data_stream.dataset": "exim.main"}}}}}

// The relay panel "top recipient domains by unique recipients": the
// request Kibana sends (note §1.7 of the Kibana research, checked there on
// the live node) and the table of a response recorded from the node.
func TestTermsByUniqueCount(t *testing.T) {
	a := attrs(t, `event.action:"rcpt-rejected"`, []string{"d", "u"}, map[string]string{"d": cTermsU, "u": cUnique})
	r, err := Translate(a, "l1", ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"aggs":{"0":{"aggs":{"1":{"cardinality":{"field":"email.to.address"}}},"terms":{"field":"exim.rcpt.domain","order":{"1":"desc"},"size":3}}},` +
		`"query":{"bool":{"filter":[{"range":{"@timestamp":{"format":"strict_date_optional_time","gte":"2026-01-01T00:00:00Z","lte":"2026-01-02T00:00:00Z"}}},` +
		`{"match_phrase":{"data_stream.dataset":"exim.main"}},{"match_phrase":{"event.action":"rcpt-rejected"}}]}},"size":0,"track_total_hits":true}`
	if got := mustJSON(r.Body); got != want {
		t.Errorf("request\n got %s\nwant %s", got, want)
	}
	resp := `{"took":3,"hits":{"total":{"value":320,"relation":"eq"},"hits":[]},"aggregations":{"0":{"doc_count_error_upper_bound":0,"sum_other_doc_count":260,
	"buckets":[{"key":"yandex.ru","doc_count":21,"1":{"value":14}},{"key":"mail.ru","doc_count":24,"1":{"value":13}},{"key":"163.com","doc_count":15,"1":{"value":12}}]}}}`
	rows, err := r.Table([]byte(resp))
	if err != nil {
		t.Fatal(err)
	}
	wantRows := []Row{{"d": "yandex.ru", "u": 14.0}, {"d": "mail.ru", "u": 13.0}, {"d": "163.com", "u": 12.0}}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("rows %v, want %v", rows, wantRows)
	}
}

// Nested buckets, a filtered metric, ordering by count, a metric a level
// up (orderAgg), ignoreGlobalFilters and rare terms.
func TestShapes(t *testing.T) {
	nested := attrs(t, "", []string{"ip", "d", "n", "f"}, map[string]string{
		"ip": `{"label":"ip","dataType":"ip","operationType":"terms","sourceField":"source.ip","isBucketed":true,"params":{"size":5,"orderBy":{"type":"column","columnId":"u"},"orderDirection":"desc"}}`,
		"d":  `{"label":"d","dataType":"string","operationType":"terms","sourceField":"exim.rcpt.domain","isBucketed":true,"params":{"size":2,"orderBy":{"type":"column","columnId":"n"}}}`,
		"n":  cCount,
		"u":  cUnique,
		"f":  `{"label":"f","dataType":"number","operationType":"count","sourceField":"___records___","isBucketed":false,"filter":{"query":"exim.sender.null:true","language":"kuery"}}`,
	})
	// u is not in columnOrder: refused.
	if _, err := Translate(nested, "l1", ctx); err == nil {
		t.Error("a column missing from columnOrder was accepted")
	}
	nested = attrs(t, "", []string{"ip", "d", "n", "u", "f"}, map[string]string{
		"ip": `{"label":"ip","dataType":"ip","operationType":"terms","sourceField":"source.ip","isBucketed":true,"params":{"size":5,"orderBy":{"type":"column","columnId":"u"},"orderDirection":"desc"}}`,
		"d":  `{"label":"d","dataType":"string","operationType":"terms","sourceField":"exim.rcpt.domain","isBucketed":true,"params":{"size":2,"orderBy":{"type":"column","columnId":"n"}}}`,
		"n":  cCount,
		"u":  cUnique,
		"f":  `{"label":"f","dataType":"number","operationType":"count","sourceField":"___records___","isBucketed":false,"filter":{"query":"exim.sender.null:true","language":"kuery"}}`,
	})
	r, err := Translate(nested, "l1", ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantAggs := `{"0":{"aggs":{"0-orderAgg":{"cardinality":{"field":"email.to.address"}},"1":{"aggs":{"3":{"cardinality":{"field":"email.to.address"}},` +
		`"4":{"filter":{"match":{"exim.sender.null":"true"}}}},"terms":{"field":"exim.rcpt.domain","order":{"_count":"desc"},"size":2}}},` +
		`"terms":{"field":"source.ip","order":{"0-orderAgg":"desc"},"size":5}}}`
	if got := mustJSON(r.Body["aggs"]); got != wantAggs {
		t.Errorf("aggs\n got %s\nwant %s", got, wantAggs)
	}
	resp := `{"hits":{"total":{"value":9}},"aggregations":{"0":{"buckets":[
	 {"key":"127.0.0.1","doc_count":6,"0-orderAgg":{"value":5},"1":{"buckets":[{"key":"a.test","doc_count":4,"3":{"value":3},"4":{"doc_count":1}},{"key":"b.test","doc_count":2,"3":{"value":2},"4":{"doc_count":0}}]}},
	 {"key":"::1","doc_count":3,"0-orderAgg":{"value":1},"1":{"buckets":[{"key":"a.test","doc_count":3,"3":{"value":1},"4":{"doc_count":3}}]}}]}}}`
	rows, err := r.Table([]byte(resp))
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{"ip": "127.0.0.1", "d": "a.test", "n": 4.0, "u": 3.0, "f": 1.0},
		{"ip": "127.0.0.1", "d": "b.test", "n": 2.0, "u": 2.0, "f": 0.0}, // no emptyAsNull
		{"ip": "::1", "d": "a.test", "n": 3.0, "u": 1.0, "f": 3.0},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows\n got %v\nwant %v", rows, want)
	}

	rare := attrs(t, "", []string{"ip", "n"}, map[string]string{
		"ip": `{"label":"ip","dataType":"ip","operationType":"terms","sourceField":"source.ip","isBucketed":true,"params":{"size":100,"orderBy":{"type":"rare","maxDocCount":1}}}`,
		"n":  cCount,
	})
	l := rare.State.DatasourceStates.FormBased.Layers["l1"]
	l.IgnoreGlobalFilters = true
	rare.State.DatasourceStates.FormBased.Layers["l1"] = l
	r, err = Translate(rare, "l1", ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(r.Body); !strings.Contains(got, `"rare_terms":{"field":"source.ip","max_doc_count":1}`) || strings.Contains(got, "exim.main") {
		t.Errorf("rare terms, ignoring global filters: %s", got)
	}
}

func TestDateHistogramAndFilters(t *testing.T) {
	a := attrs(t, "", []string{"t", "k", "n"}, map[string]string{
		"t": `{"label":"t","dataType":"date","operationType":"date_histogram","sourceField":"@timestamp","isBucketed":true,"params":{"interval":"auto","includeEmptyRows":true}}`,
		"k": `{"label":"k","dataType":"string","operationType":"filters","isBucketed":true,"params":{"filters":[{"label":"Arrivals","input":{"query":"event.action:\"message-arrival\"","language":"kuery"}},{"label":"","input":{"query":"event.type:denied","language":"kuery"}}]}}`,
		"n": cCount,
	})
	r, err := Translate(a, "l1", ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := r.Body["aggs"].(map[string]any)["0"].(map[string]any)["date_histogram"].(map[string]any)
	if h["fixed_interval"] != "30m" || h["min_doc_count"] != 0 || h["time_zone"] != "UTC" {
		t.Errorf("date_histogram %v (one day: 30m buckets, 48 bars)", h)
	}
	resp := `{"hits":{"total":{"value":3}},"aggregations":{"0":{"buckets":[{"key_as_string":"2026-01-01T00:00:00.000Z","key":1767225600000,"doc_count":3,
	 "1":{"buckets":{"Arrivals":{"doc_count":2},"event.type:denied":{"doc_count":1}}}}]}}}`
	rows, err := r.Table([]byte(resp))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	want := []Row{{"t": t0, "k": "Arrivals", "n": 2.0}, {"t": t0, "k": "event.type:denied", "n": 1.0}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows %v, want %v", rows, want)
	}
}

func TestRefused(t *testing.T) {
	for name, c := range map[string]string{
		"formula":     `{"label":"x","dataType":"number","operationType":"formula","isBucketed":false,"params":{"formula":"count()"}}`,
		"last_value":  `{"label":"x","dataType":"number","operationType":"last_value","sourceField":"exim.size","isBucketed":false}`,
		"multi_terms": `{"label":"x","dataType":"string","operationType":"terms","sourceField":"a","isBucketed":true,"params":{"size":3,"secondaryFields":["b"],"orderBy":{"type":"alphabetical"}}}`,
		"other":       `{"label":"x","dataType":"string","operationType":"terms","sourceField":"a","isBucketed":true,"params":{"size":3,"otherBucket":true,"orderBy":{"type":"alphabetical"}}}`,
	} {
		a := attrs(t, "", []string{"x"}, map[string]string{"x": c})
		if _, err := Translate(a, "l1", ctx); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestAutoInterval(t *testing.T) {
	for d, want := range map[time.Duration]time.Duration{time.Hour: 5 * time.Minute, 24 * time.Hour: 30 * time.Minute, 90 * 24 * time.Hour: 7 * 24 * time.Hour, 10 * time.Second: time.Second} {
		if got := AutoInterval(d); got != want || d/got > 100 {
			t.Errorf("AutoInterval(%v) = %v, want %v", d, got, want)
		}
	}
}

// TestNoIndex: a search over no index (ignore_unavailable) answers without
// aggregations; the table is empty, a metric empty, as Lens shows them.
func TestNoIndex(t *testing.T) {
	empty := `{"took":0,"timed_out":false,"_shards":{"total":0,"successful":0,"skipped":0,"failed":0},"hits":{"total":{"value":0,"relation":"eq"},"max_score":0,"hits":[]}}`
	a := attrs(t, "", []string{"d", "u"}, map[string]string{"d": cTermsU, "u": cUnique})
	r, err := Translate(a, "l1", ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := r.Table([]byte(empty)); err != nil || len(rows) != 0 {
		t.Errorf("rows %v, %v", rows, err)
	}
	a = attrs(t, "", []string{"u"}, map[string]string{"u": cUnique})
	r, _ = Translate(a, "l1", ctx)
	if rows, err := r.Table([]byte(empty)); err != nil || len(rows) != 1 || rows[0]["u"] != nil {
		t.Errorf("rows %v, %v", rows, err)
	}
	a = attrs(t, "", []string{"n"}, map[string]string{"n": cCount})
	r, _ = Translate(a, "l1", ctx)
	if rows, err := r.Table([]byte(empty)); err != nil || len(rows) != 1 || rows[0]["n"] != nil {
		t.Errorf("rows %v, %v", rows, err)
	}
}
