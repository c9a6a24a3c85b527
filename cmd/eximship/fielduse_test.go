package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/eximship/eximship/dashboards"
	"github.com/eximship/eximship/dashboards/kql"
	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper/esreport"
)

// fieldUse is what the dashboards, the rules and the report need of a
// field: searching it (index) or aggregating and sorting it (doc values).
type fieldUse struct {
	search, agg bool
	by          map[string]bool
}

// fieldUses collects, from the bundled dashboards and rules and from the
// requests `eximship report` sends, every field of the Exim documents they
// read and how.
func fieldUses(t *testing.T) map[string]*fieldUse {
	t.Helper()
	uses := map[string]*fieldUse{}
	add := func(field, by string, agg bool) {
		u := uses[field]
		if u == nil {
			u = &fieldUse{by: map[string]bool{}}
			uses[field] = u
		}
		if agg {
			u.agg = true
		} else {
			u.search = true
		}
		u.by[by] = true
	}
	searchQ := func(q, by string) {
		fs, err := kql.Fields(q)
		if err != nil {
			t.Fatalf("%s: %v", by, err)
		}
		for _, f := range fs {
			add(f, by, false)
		}
	}
	panels, _ := bundledPanels(t)
	for _, p := range panels {
		if p.dataView != dashboards.LogsDataView {
			continue // the entity index has its own mapping
		}
		l, _ := p.attrs.Layer("l1")
		for f := range l.Fields() {
			add(f, "dashboard "+p.dashboard, true)
		}
		for _, q := range append([]string{p.attrs.State.Query.Query}, columnFilters(l)...) {
			searchQ(q, "dashboard "+p.dashboard)
		}
	}
	objs, err := dashboards.Objects()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		switch o.Type {
		case "search":
			q := o.Attributes["kibanaSavedObjectMeta"].(map[string]any)["searchSourceJSON"].(map[string]any)["query"].(map[string]any)["query"].(string)
			searchQ(q, "search "+o.ID)
		case "index-pattern":
			if o.ID == dashboards.LogsDataView {
				add(o.Attributes["timeFieldName"].(string), "data view", true)
			}
		}
	}
	rules, err := dashboards.Rules()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		searchQ(r.Query, "rule "+r.File)
		if r.Threshold != nil {
			for _, f := range r.Threshold.Field {
				add(f, "rule "+r.File, true)
			}
			for _, c := range r.Threshold.Cardinality {
				add(c.Field, "rule "+r.File, true)
			}
		}
		for _, f := range r.NewTermsFields {
			add(f, "rule "+r.File, true)
		}
		if r.TimestampOverride != "" {
			add(r.TimestampOverride, "rule "+r.File, false)
		}
	}
	// the report: every request of esreport.Collect, against a node that
	// answers empty pages
	var bodies []map[string]any
	doer := answerFunc(func(r *http.Request) (int, string) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if json.Unmarshal(b, &m) == nil {
			bodies = append(bodies, m)
		}
		return 200, `{"took":1,"timed_out":false,"count":1,"hits":{"hits":[]},"aggregations":{"c":{"buckets":[]}}}`
	})
	if _, _, err := esreport.Collect(context.Background(), doer, esreport.Config{LocalDomains: []string{"example.org"}}); err != nil {
		t.Fatalf("report: %v", err)
	}
	if _, _, err := esreport.Collect(context.Background(), doer, esreport.Config{}); err != nil {
		t.Fatalf("report: %v", err)
	}
	if len(bodies) == 0 {
		t.Fatal("the report sent no request")
	}
	for _, b := range bodies {
		walkRequest(b, false, func(f string, agg bool) { add(f, "report", agg) })
	}
	return uses
}

// walkRequest calls f for every field a search body reads: "field" values
// (aggregated when under "aggs") and the keys of term-level queries.
func walkRequest(v any, inAggs bool, f func(field string, agg bool)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch k {
			case "aggs", "aggregations":
				walkRequest(e, true, f)
				continue
			case "field":
				if s, ok := e.(string); ok {
					f(s, inAggs)
					continue
				}
			case "term", "terms", "match", "match_phrase", "wildcard", "prefix", "range":
				if m, ok := e.(map[string]any); ok && !inAggs {
					for fk := range m {
						f(fk, false)
					}
					continue
				}
			}
			walkRequest(e, inAggs, f)
		}
	case []any:
		for _, e := range x {
			walkRequest(e, inAggs, f)
		}
	}
}

// pendingFields are fields of the contract that the dashboards or rules
// already read and the documents do not carry yet, with who adds them.
var pendingFields = map[string]string{}

// TestFieldUsesKeepWhatTheyNeed is the checked list of the mapping review:
// every field the dashboards, the rules and the report read is mapped, and
// indexed where they search it and with doc values where they aggregate
// or sort it. Fields nobody searches may go without the inverted index
// (index: false; Elasticsearch still answers term, range and exists
// queries on them from their doc values, slowly: scanning them), e.g.
// exim.rejection.id, a nearly unique id: a lookup finds a rejection's
// twin, an EQL or ES|QL join needs its doc values.
func TestFieldUsesKeepWhatTheyNeed(t *testing.T) {
	specs, err := mapping.FieldSpecs()
	if err != nil {
		t.Fatal(err)
	}
	uses := fieldUses(t)
	var names []string
	for f := range uses {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		u := uses[f]
		var by []string
		for b := range u.by {
			by = append(by, b)
		}
		sort.Strings(by)
		s, ok := specs[f]
		if why, p := pendingFields[f]; p {
			if ok {
				t.Errorf("%s is mapped now: drop it from pendingFields", f)
			}
			t.Logf("%-32s NOT MAPPED YET (%s): %s", f, why, strings.Join(by, ", "))
			continue
		}
		switch {
		case !ok:
			t.Errorf("%s (used by %s) is not mapped", f, strings.Join(by, ", "))
		case u.search && !s.Index:
			t.Errorf("%s is searched by %s but not indexed", f, strings.Join(by, ", "))
		case u.agg && !s.DocValues:
			t.Errorf("%s is aggregated by %s but has no doc values", f, strings.Join(by, ", "))
		}
		t.Logf("%-32s search %-5t agg %-5t %s", f, u.search, u.agg, strings.Join(by, ", "))
	}
	for _, must := range []string{"source.address", "email.to.address", "exim.rcpt.domain", "event.action", "@timestamp"} {
		if u := uses[must]; u == nil || !u.agg && must != "event.action" {
			t.Errorf("the collection missed %s (a known report/dashboard field): %+v", must, u)
		}
	}
	if u := uses["exim.rejection.id"]; u != nil && u.search {
		t.Errorf("exim.rejection.id is searched by %v: it needs its inverted index back", u.by)
	}
}
