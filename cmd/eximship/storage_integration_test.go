package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/dashboards"
	"github.com/eximship/eximship/dashboards/kql"
	"github.com/eximship/eximship/dashboards/lens"
	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/esreport"
	"github.com/eximship/eximship/shipper/process"
	"github.com/eximship/eximship/shipper/stacktest"
)

// TestStorageAnswersSameIntegration indexes the same real-Exim documents
// (the captures of shipper/exim/testdata/real) three times on the real
// node, each into its own scoped data stream:
//
//   - before: the storage of eximship before issue 12 (stored _source,
//     event.original kept on every document);
//   - after: what eximship now installs here (the detected storage,
//     logsdb on this node, event.original only where needed);
//   - basic: stored _source forced (a basic licence), event.original only
//     where needed;
//
// and checks that every field the dashboards, rules and report read
// (fieldUses) answers the same on all three: the same values with the same
// counts (a composite aggregation over all of them, or a count for text
// fields), every dashboard panel the same table, every rule query the same
// count, and the report the same facts.
func TestStorageAnswersSameIntegration(t *testing.T) {
	url := stacktest.ElasticURL(t)
	c, err := elastic.NewClient(elastic.Config{Addresses: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base := strings.ReplaceAll(stacktest.UniqueName("sts"), "-", "")
	variants := []struct {
		name    string
		storage mapping.Storage
		keep    bool
	}{
		{"before", mapping.StorageStored, true},
		{"after", "", false},
		{"basic", mapping.StorageStored, false},
	}
	files, _ := filepath.Glob("../../shipper/exim/testdata/real/all/*log")
	if len(files) == 0 {
		t.Fatal("no real-Exim captures")
	}
	sink, err := elastic.New(elastic.Config{Addresses: []string{url}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close(context.Background())
	namespaces := map[string]string{}
	for _, v := range variants {
		ns := base + v.name
		namespaces[v.name] = ns
		res, err := mapping.Install(ctx, c, mapping.Options{Scope: ns, Storage: v.storage, Overwrite: true})
		if err != nil {
			t.Fatal(err)
		}
		p, err := process.New(process.Config{Namespace: ns, Location: time.UTC, KeepOriginal: v.keep, Host: "mx.example.org", Deterministic: true,
			NoSessions: false})
		if err != nil {
			t.Fatal(err)
		}
		var docs []shipper.Doc
		for i, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			env, _ := json.Marshal(map[string]any{"message": string(raw), "log": map[string]any{"file": map[string]any{"path": "/var/log/exim4/" + filepath.Base(f)}}})
			if docs, err = p.Process(shipper.Message{Position: shipper.Position{Topic: "storage", Partition: i}, Value: env}, docs); err != nil {
				t.Fatal(err)
			}
		}
		if err := sink.WriteBatch(ctx, docs); err != nil {
			t.Fatal(err)
		}
		esGet(t, "POST", url+"/logs-exim.*-"+ns+"/_refresh", "")
		got, err := mapping.StreamStorage(ctx, c, "logs-exim.*-"+ns)
		if err != nil || len(got) == 0 {
			t.Fatalf("%s: %v %v", v.name, got, err)
		}
		t.Logf("%s: %d documents, storage %s, applied %s", v.name, len(docs), res.Storage.Storage, got[0].Effective)
	}
	index := func(v string) string { return "logs-exim.*-" + namespaces[v] }

	type answer struct {
		what string
		val  any
	}
	answers := map[string][]answer{}
	specs, err := mapping.FieldSpecs()
	if err != nil {
		t.Fatal(err)
	}
	uses := fieldUses(t)
	var fields []string
	for f := range uses {
		if _, ok := specs[f]; ok {
			fields = append(fields, f)
		}
	}
	sort.Strings(fields)
	for _, v := range variants {
		idx := index(v.name)
		for _, f := range fields {
			if !specs[f].DocValues {
				// text: searched, never aggregated
				r := esGet(t, "GET", url+"/"+idx+"/_count", `{"query":{"exists":{"field":"`+f+`"}}}`)
				answers[v.name] = append(answers[v.name], answer{"count of " + f, r["count"]})
				continue
			}
			answers[v.name] = append(answers[v.name], answer{"values of " + f, allValues(t, url, idx, f)})
		}
		// every dashboard panel on the logs data view
		panels, ctxs := bundledPanels(t)
		for _, p := range panels {
			if p.dataView != dashboards.LogsDataView {
				continue
			}
			lc := ctxs[p.dashboard]
			lc.From, lc.To = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
			r, err := lens.Translate(p.attrs, "l1", lc)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := r.Table(search(t, url, idx, r.Body))
			if err != nil {
				t.Fatalf("%s/%s: %v", p.dashboard, p.id, err)
			}
			answers[v.name] = append(answers[v.name], answer{"panel " + p.dashboard + "/" + p.id, fmt.Sprint(rows)})
		}
		// every rule's query
		rules, _ := dashboards.Rules()
		for _, rl := range rules {
			q, err := kql.ToDSL(rl.Query)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(map[string]any{"query": q})
			r := esGet(t, "GET", url+"/"+idx+"/_count", string(b))
			answers[v.name] = append(answers[v.name], answer{"rule " + rl.File, r["count"]})
		}
		// the report's facts
		facts, _, err := esreport.Collect(ctx, c, esreport.Config{Namespace: namespaces[v.name], LocalDomains: []string{"example.org"}})
		if err != nil {
			t.Fatal(err)
		}
		fb, _ := json.Marshal(facts)
		answers[v.name] = append(answers[v.name], answer{"report facts", string(fb)})
	}
	ref := answers["before"]
	nonEmpty := 0
	for _, a := range ref {
		if s := fmt.Sprint(a.val); s != "" && s != "0" && s != "[]" && s != "<nil>" {
			nonEmpty++
		}
	}
	if nonEmpty < len(ref)*2/3 {
		t.Errorf("only %d of %d answers hold anything: the data proves little", nonEmpty, len(ref))
	}
	for _, v := range variants[1:] {
		got := answers[v.name]
		if len(got) != len(ref) {
			t.Fatalf("%s: %d answers, before %d", v.name, len(got), len(ref))
		}
		for i := range ref {
			if !reflect.DeepEqual(got[i].val, ref[i].val) {
				t.Errorf("%s: %s differs:\n before %v\n %s %v", v.name, ref[i].what, ref[i].val, v.name, got[i].val)
			}
		}
	}
	t.Logf("%d answers (%d fields, panels, rules, report) compared, %d non-empty", len(ref), len(fields), nonEmpty)

	// Every field still searchable: the fields mapped without an inverted
	// index (index: false, doc values kept) answer term queries from their
	// doc values, with the counts their values have.
	for _, v := range []string{"after", "basic"} {
		checked := unindexedSearchable(t, url, index(v), specs)
		if len(checked) < 3 {
			t.Errorf("%s: only %v of the fields without an index hold values here: the check proves little", v, checked)
		}
		t.Logf("%s: searched from doc values: %v", v, checked)
	}
}

// unindexedSearchable runs, for every field of specs mapped with doc values
// and without an index, a term query for each of its three most common
// values in idx and compares the hit count with the value's document
// count; it returns the fields that held values.
func unindexedSearchable(t *testing.T, url, idx string, specs map[string]mapping.Spec) []string {
	t.Helper()
	var names []string
	for f, s := range specs {
		if !s.Index && s.DocValues {
			names = append(names, f)
		}
	}
	sort.Strings(names)
	var held []string
	for _, f := range names {
		raw := search(t, url, idx, map[string]any{"size": 0, "aggs": map[string]any{"v": map[string]any{"terms": map[string]any{"field": f, "size": 3}}}})
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		var r struct {
			Aggregations struct {
				V struct {
					Buckets []struct {
						Key      any   `json:"key"`
						DocCount int64 `json:"doc_count"`
					} `json:"buckets"`
				} `json:"v"`
			} `json:"aggregations"`
		}
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		if len(r.Aggregations.V.Buckets) == 0 {
			continue
		}
		held = append(held, f)
		for _, b := range r.Aggregations.V.Buckets {
			q, _ := json.Marshal(map[string]any{"query": map[string]any{"term": map[string]any{f: b.Key}}})
			got := esGet(t, "GET", url+"/"+idx+"/_count", string(q))
			if n, _ := got["count"].(float64); int64(n) != b.DocCount {
				t.Errorf("%s: term %s:%v finds %v documents, %d hold it", idx, f, b.Key, got["count"], b.DocCount)
			}
		}
	}
	return held
}

// allValues lists every value of field with its document count (a
// composite aggregation, paged to the end).
func allValues(t *testing.T, url, idx, field string) []string {
	t.Helper()
	var out []string
	var after json.RawMessage
	for {
		comp := map[string]any{"size": 1000, "sources": []any{map[string]any{"v": map[string]any{"terms": map[string]any{"field": field}}}}}
		if after != nil {
			comp["after"] = after
		}
		raw := search(t, url, idx, map[string]any{"size": 0, "aggs": map[string]any{"c": map[string]any{"composite": comp}}})
		var r struct {
			Aggregations struct {
				C struct {
					AfterKey json.RawMessage `json:"after_key"`
					Buckets  []struct {
						Key      map[string]any `json:"key"`
						DocCount int64          `json:"doc_count"`
					} `json:"buckets"`
				} `json:"c"`
			} `json:"aggregations"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		for _, bk := range r.Aggregations.C.Buckets {
			out = append(out, fmt.Sprintf("%v=%d", bk.Key["v"], bk.DocCount))
		}
		if len(r.Aggregations.C.Buckets) < 1000 || r.Aggregations.C.AfterKey == nil {
			return out
		}
		after = r.Aggregations.C.AfterKey
	}
}

func esGet(t *testing.T, method, url, body string) map[string]any {
	t.Helper()
	status, m := stacktest.ESJSON(t, method, url, body)
	if status != 200 {
		t.Fatalf("%s %s: %d %v", method, url, status, m)
	}
	return m
}
