package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/eximship/eximship/dashboards"
	"github.com/eximship/eximship/dashboards/lens"
	"github.com/eximship/eximship/shipper/esreport"
)

// query is one of the aggregations `eximship report` and the dashboards
// run. A paged query (composite) is sent until a page comes back shorter
// than its size (or, with stopEmpty, empty), and its time is the sum of
// the pages' took.
type query struct {
	name      string
	body      string
	paged     bool
	size      int
	stopEmpty bool
	// result summarises the answer for the table
	result func(r map[string]any, buckets int) string
}

const mainRejected = `{"bool":{"filter":[{"term":{"data_stream.dataset":"exim.main"}},{"term":{"event.action":"rcpt-rejected"}}]}}`

var queries = []query{
	{
		name:   "top rcpt domains by unique recipients (terms + cardinality)",
		body:   `{"size":0,"track_total_hits":false,"query":` + mainRejected + `,"aggs":{"d":{"terms":{"field":"exim.rcpt.domain","size":10,"order":{"u":"desc"}},"aggs":{"u":{"cardinality":{"field":"email.to.address"}}}}}}`,
		result: firstBucket("d", "u"),
	},
	{
		name:   "top IPs by distinct MAIL FROM (terms source.ip + cardinality)",
		body:   `{"size":0,"track_total_hits":false,"query":` + mainRejected + `,"aggs":{"d":{"terms":{"field":"source.ip","size":10,"order":{"u":"desc"}},"aggs":{"u":{"cardinality":{"field":"email.from.address"}}}}}}`,
		result: firstBucket("d", "u"),
	},
	{
		name:   "distinct source IPs, estimate (cardinality source.ip)",
		body:   `{"size":0,"track_total_hits":false,"query":` + mainRejected + `,"aggs":{"n":{"cardinality":{"field":"source.ip"}}}}`,
		result: value("n"),
	},
	{
		name:  "distinct source IPs, exact: composite source.ip, size 1000, until an empty page (before)",
		body:  `{"size":0,"track_total_hits":false,"query":` + mainRejected + `,"aggs":{"c":{"composite":{"size":1000,"sources":[{"ip":{"terms":{"field":"source.ip"}}}]}}}}`,
		paged: true, size: 1000, stopEmpty: true,
	},
	{
		name:  "distinct source IPs, exact: composite source.address, size 10000, until a short page (after)",
		body:  `{"size":0,"track_total_hits":false,"query":` + mainRejected + `,"aggs":{"c":{"composite":{"size":10000,"sources":[{"ip":{"terms":{"field":"source.address"}}}]}}}}`,
		paged: true, size: 10000,
	},
	{
		name:   "rcpt-rejected per hour (date_histogram)",
		body:   `{"size":0,"track_total_hits":false,"query":` + mainRejected + `,"aggs":{"h":{"date_histogram":{"field":"@timestamp","fixed_interval":"1h"}}}}`,
		result: bucketCount("h"),
	},
	{
		name:   "newest 500 documents with _source (Discover)",
		body:   `{"size":500,"track_total_hits":false,"sort":[{"@timestamp":"desc"}]}`,
		result: func(r map[string]any, _ int) string { return fmt.Sprintf("%d hits", len(hits(r))) },
	},
}

func hits(r map[string]any) []any {
	h, _ := r["hits"].(map[string]any)
	l, _ := h["hits"].([]any)
	return l
}

func aggOf(r map[string]any, name string) map[string]any {
	a, _ := r["aggregations"].(map[string]any)
	m, _ := a[name].(map[string]any)
	return m
}

func firstBucket(agg, sub string) func(map[string]any, int) string {
	return func(r map[string]any, _ int) string {
		bs, _ := aggOf(r, agg)["buckets"].([]any)
		if len(bs) == 0 {
			return "no buckets"
		}
		b, _ := bs[0].(map[string]any)
		s, _ := b[sub].(map[string]any)
		return fmt.Sprintf("%v: %v", b["key"], s["value"])
	}
}

func value(agg string) func(map[string]any, int) string {
	return func(r map[string]any, _ int) string { return fmt.Sprint(aggOf(r, agg)["value"]) }
}

func bucketCount(agg string) func(map[string]any, int) string {
	return func(r map[string]any, _ int) string {
		bs, _ := aggOf(r, agg)["buckets"].([]any)
		return fmt.Sprintf("%d buckets", len(bs))
	}
}

func runQuery(ctx context.Context, target string, q query) (took float64, requests int, result string, err error) {
	body := q.body
	buckets := 0
	for {
		var r map[string]any
		if err := call(ctx, http.MethodPost, "/"+target+"/_search?request_cache=false", body, &r); err != nil {
			return 0, 0, "", err
		}
		requests++
		t, _ := r["took"].(float64)
		took += t
		if !q.paged {
			return took, requests, q.result(r, 0), nil
		}
		c := aggOf(r, "c")
		bs, _ := c["buckets"].([]any)
		buckets += len(bs)
		after, ok := c["after_key"]
		if len(bs) == 0 || !ok || (!q.stopEmpty && len(bs) < q.size) {
			return took, requests, fmt.Sprintf("%d distinct", buckets), nil
		}
		ak, _ := json.Marshal(after)
		// insert "after" into the composite of the original body
		body = strings.Replace(q.body, `"composite":{`, `"composite":{"after":`+string(ak)+`,`, 1)
	}
}

// workload is a named set of requests timed as a whole: the report's
// facts (esreport.Collect, every composite page) and each bundled
// dashboard (every Lens panel on the logs data view, as Kibana would
// send it over the whole corpus).
type workload struct {
	name string
	run  func(ctx context.Context, target, namespace string) (took float64, requests int, result string, err error)
}

func workloads() ([]workload, error) {
	out := []workload{{
		name: "eximship report: relay facts (esreport.Collect, composite over keyword fields, size 10000)",
		run: func(ctx context.Context, _, ns string) (float64, int, string, error) {
			f, st, err := esreport.Collect(ctx, es, esreport.Config{Namespace: ns})
			if err != nil {
				return 0, 0, "", err
			}
			return float64(st.Took.Milliseconds()), st.Requests, fmt.Sprintf("%d buckets, %d relay attempts", st.Buckets, len(f.Attempts)), nil
		},
	}}
	panels, ctxs, err := dashboards.LensPanels()
	if err != nil {
		return nil, err
	}
	byDashboard := map[string][]map[string]any{}
	var order []string
	for _, p := range panels {
		if p.DataView != dashboards.LogsDataView {
			continue
		}
		c := ctxs[p.Dashboard]
		c.From, c.To = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
		r, err := lens.Translate(p.Attributes, "l1", c)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", p.Dashboard, p.ID, err)
		}
		if byDashboard[p.Dashboard] == nil {
			order = append(order, p.Dashboard)
		}
		byDashboard[p.Dashboard] = append(byDashboard[p.Dashboard], r.Body)
	}
	// Looking one id up: a session's lines, a rejection and its twin
	// (Discover's filter on a value). Fields without an inverted index
	// answer from their doc values, a scan: this is its price.
	for _, f := range []string{"exim.session.id", "exim.rejection.id"} {
		out = append(out, workload{
			name: "lines of one " + f + " (term query, the oldest value)",
			run: func(ctx context.Context, target, _ string) (float64, int, string, error) {
				var first map[string]any
				q := `{"size":1,"track_total_hits":false,"sort":[{"@timestamp":"asc"}],"query":{"exists":{"field":"` + f + `"}},"_source":false,"docvalue_fields":["` + f + `"]}`
				if err := call(ctx, http.MethodPost, "/"+target+"/_search", q, &first); err != nil {
					return 0, 0, "", err
				}
				hs := hits(first)
				if len(hs) == 0 {
					return 0, 0, "no value", nil
				}
				h, _ := hs[0].(map[string]any)
				fs, _ := h["fields"].(map[string]any)
				vs, _ := fs[f].([]any)
				if len(vs) == 0 {
					return 0, 0, "no value", nil
				}
				v, _ := json.Marshal(vs[0])
				var r map[string]any
				body := `{"size":0,"track_total_hits":true,"query":{"term":{"` + f + `":` + string(v) + `}}}`
				if err := call(ctx, http.MethodPost, "/"+target+"/_search?request_cache=false", body, &r); err != nil {
					return 0, 0, "", err
				}
				t, _ := r["took"].(float64)
				hh, _ := r["hits"].(map[string]any)
				tot, _ := hh["total"].(map[string]any)
				return t, 1, fmt.Sprintf("%v documents", tot["value"]), nil
			},
		})
	}
	for _, d := range order {
		reqs := byDashboard[d]
		out = append(out, workload{
			name: fmt.Sprintf("dashboard %s (%d Lens panels)", d, len(reqs)),
			run: func(ctx context.Context, target, _ string) (float64, int, string, error) {
				var took float64
				for _, b := range reqs {
					body, _ := json.Marshal(b)
					var r map[string]any
					if err := call(ctx, http.MethodPost, "/"+target+"/_search?request_cache=false", string(body), &r); err != nil {
						return 0, 0, "", err
					}
					t, _ := r["took"].(float64)
					took += t
				}
				return took, len(reqs), "", nil
			},
		})
	}
	return out, nil
}

// timeWorkloads runs every workload (the queries above, the report, the
// dashboards) once to warm up, then runs times, and reports the median of
// Elasticsearch's took (summed over a workload's requests).
func timeWorkloads(ctx context.Context, target, namespace string, runs int) (map[string]timing, error) {
	ws, err := workloads()
	if err != nil {
		return nil, err
	}
	for _, q := range queries {
		q := q
		ws = append(ws, workload{name: q.name, run: func(ctx context.Context, target, _ string) (float64, int, string, error) {
			return runQuery(ctx, target, q)
		}})
	}
	into := map[string]timing{}
	for _, w := range ws {
		var tooks []float64
		var t timing
		for i := 0; i <= runs; i++ {
			took, reqs, res, err := w.run(ctx, target, namespace)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", w.name, err)
			}
			if i > 0 {
				tooks = append(tooks, took)
			}
			t.Requests, t.Result = reqs, res
		}
		sort.Float64s(tooks)
		t.MedianMS, t.MinMS, t.MaxMS = tooks[len(tooks)/2], tooks[0], tooks[len(tooks)-1]
		into[w.name] = t
	}
	return into, nil
}
