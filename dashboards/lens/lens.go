// Package lens turns a by-value Lens panel of a dashboard (formBased
// datasource) into the Elasticsearch search request Kibana would send for
// it, and the response into the table Lens draws, so that the panels can be
// checked on a real node and drawn without Kibana.
//
// It follows Kibana's Lens → esaggs path (x-pack/plugins/lens form_based
// to_expression.ts and the data plugin's agg types): the columns of a layer
// in columnOrder become aggregations with ids "0", "1", ...; bucket
// aggregations nest in that order, metrics sit under the innermost bucket;
// a column with a filter is wrapped in a filter aggregation; count is the
// bucket's doc_count; a terms column sorted by a metric column orders by
// that metric (copied under the terms as "<id>-orderAgg" when the metric is
// not below it). The query is a bool filter of the time range on the data
// view's time field, the dashboard's query and filters (unless the layer
// sets ignoreGlobalFilters), and the panel's own query and filters; KQL is
// translated by package kql.
//
// Operations: count, unique_count (cardinality), sum, avg, min, max,
// median and percentile (percentiles), terms (terms; orderBy rare →
// rare_terms), date_histogram, filters, range. Others (formula, last_value,
// multi-field terms, ES|QL layers) are refused with an error, so a panel
// that this package cannot check cannot slip in.
package lens

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/eximship/eximship/dashboards/kql"
)

// Column is one Lens column (the subset of keys the translation reads).
type Column struct {
	ID            string          `json:"-"`
	Label         string          `json:"label"`
	DataType      string          `json:"dataType"`
	OperationType string          `json:"operationType"`
	SourceField   string          `json:"sourceField"`
	IsBucketed    bool            `json:"isBucketed"`
	Params        json.RawMessage `json:"params"`
	Filter        *Query          `json:"filter"`
}

// Query is a Kibana query: KQL ("kuery") or Lucene.
type Query struct {
	Query    string `json:"query"`
	Language string `json:"language"`
}

// Layer is one formBased layer.
type Layer struct {
	ID                  string            `json:"-"`
	ColumnOrder         []string          `json:"columnOrder"`
	Columns             map[string]Column `json:"columns"`
	IgnoreGlobalFilters bool              `json:"ignoreGlobalFilters"`
}

// Attributes are a Lens visualization's attributes (by value, in a
// dashboard panel's embeddableConfig.attributes).
type Attributes struct {
	Title             string      `json:"title"`
	VisualizationType string      `json:"visualizationType"`
	References        []Reference `json:"references"`
	State             struct {
		DatasourceStates struct {
			FormBased struct {
				Layers map[string]Layer `json:"layers"`
			} `json:"formBased"`
			TextBased *struct {
				Layers map[string]json.RawMessage `json:"layers"`
			} `json:"textBased"`
		} `json:"datasourceStates"`
		Visualization json.RawMessage `json:"visualization"`
		Query         Query           `json:"query"`
		Filters       []Filter        `json:"filters"`
	} `json:"state"`
}

// Reference is a saved-object reference.
type Reference struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Filter is a Kibana filter pill: its query DSL (and meta.disabled/negate).
type Filter struct {
	Meta struct {
		Disabled bool `json:"disabled"`
		Negate   bool `json:"negate"`
	} `json:"meta"`
	Query map[string]any `json:"query"`
}

// Parse decodes Lens attributes (JSON) and checks that every layer can be
// translated.
func Parse(b []byte) (*Attributes, error) {
	var a Attributes
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("lens: %w", err)
	}
	if ts := a.State.DatasourceStates.TextBased; ts != nil && len(ts.Layers) > 0 {
		return nil, errors.New("lens: ES|QL (textBased) layers are not supported")
	}
	if len(a.State.DatasourceStates.FormBased.Layers) == 0 {
		return nil, errors.New("lens: no formBased layer")
	}
	for id, l := range a.State.DatasourceStates.FormBased.Layers {
		l.ID = id
		for cid, c := range l.Columns {
			c.ID = cid
			l.Columns[cid] = c
		}
		a.State.DatasourceStates.FormBased.Layers[id] = l
	}
	return &a, nil
}

// LayerIDs returns the layer ids, sorted.
func (a *Attributes) LayerIDs() []string {
	var ids []string
	for id := range a.State.DatasourceStates.FormBased.Layers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Layer returns a layer by id.
func (a *Attributes) Layer(id string) (Layer, bool) {
	l, ok := a.State.DatasourceStates.FormBased.Layers[id]
	return l, ok
}

// DataViewID is the id of the data view a layer reads, from the reference
// "indexpattern-datasource-layer-<id>".
func (a *Attributes) DataViewID(layer string) (string, error) {
	for _, r := range a.References {
		if r.Name == "indexpattern-datasource-layer-"+layer && r.Type == "index-pattern" {
			return r.ID, nil
		}
	}
	return "", fmt.Errorf("lens: layer %s has no data view reference", layer)
}

// Context is what a dashboard adds to every panel's request.
type Context struct {
	// TimeField is the data view's time field ("" for none).
	TimeField string
	// From and To bound the time range.
	From, To time.Time
	// Query and Filters are the dashboard's.
	Query   Query
	Filters []Filter
	// TimeZone of date histograms (Kibana: dateFormat:tz, the browser's
	// by default). Default UTC.
	TimeZone string
}

// Request is the search of one layer.
type Request struct {
	Layer Layer
	// Body is the _search body.
	Body map[string]any
	// aggIDs maps column ids to aggregation ids.
	aggIDs map[string]string
}

// Translate builds the search request of a layer.
func Translate(a *Attributes, layerID string, c Context) (*Request, error) {
	l, ok := a.Layer(layerID)
	if !ok {
		return nil, fmt.Errorf("lens: no layer %s", layerID)
	}
	r := &Request{Layer: l, aggIDs: map[string]string{}}
	var buckets, metrics []Column
	for i, id := range l.ColumnOrder {
		col, ok := l.Columns[id]
		if !ok {
			return nil, fmt.Errorf("lens: layer %s: columnOrder names %s, which is not a column", layerID, id)
		}
		r.aggIDs[id] = strconv.Itoa(i)
		if col.IsBucketed {
			buckets = append(buckets, col)
		} else {
			metrics = append(metrics, col)
		}
	}
	if len(l.Columns) != len(l.ColumnOrder) {
		return nil, fmt.Errorf("lens: layer %s: %d columns, %d in columnOrder", layerID, len(l.Columns), len(l.ColumnOrder))
	}
	metricAggs := map[string]any{}
	for _, m := range metrics {
		agg, err := metricAgg(m)
		if err != nil {
			return nil, fmt.Errorf("lens: layer %s column %s: %w", layerID, m.ID, err)
		}
		if agg != nil {
			metricAggs[r.aggIDs[m.ID]] = agg
		}
	}
	aggs := metricAggs
	for i := len(buckets) - 1; i >= 0; i-- {
		b := buckets[i]
		agg, err := r.bucketAgg(b, c, metrics, i == len(buckets)-1)
		if err != nil {
			return nil, fmt.Errorf("lens: layer %s column %s: %w", layerID, b.ID, err)
		}
		if len(aggs) > 0 {
			sub, _ := agg["aggs"].(map[string]any)
			if sub == nil {
				sub = map[string]any{}
			}
			for k, v := range aggs {
				sub[k] = v
			}
			agg["aggs"] = sub
		}
		aggs = map[string]any{r.aggIDs[b.ID]: agg}
	}
	filter := []any{}
	if c.TimeField != "" {
		filter = append(filter, map[string]any{"range": map[string]any{c.TimeField: map[string]any{
			"gte": c.From.UTC().Format(time.RFC3339Nano), "lte": c.To.UTC().Format(time.RFC3339Nano), "format": "strict_date_optional_time"}}})
	}
	mustNot := []any{}
	add := func(q Query, fs []Filter) error {
		if d, err := queryDSL(q); err != nil {
			return err
		} else if d != nil {
			filter = append(filter, d)
		}
		for _, f := range fs {
			if f.Meta.Disabled {
				continue
			}
			if f.Meta.Negate {
				mustNot = append(mustNot, f.Query)
			} else {
				filter = append(filter, f.Query)
			}
		}
		return nil
	}
	if !l.IgnoreGlobalFilters {
		if err := add(c.Query, c.Filters); err != nil {
			return nil, fmt.Errorf("lens: dashboard query: %w", err)
		}
	}
	if err := add(a.State.Query, a.State.Filters); err != nil {
		return nil, fmt.Errorf("lens: panel query: %w", err)
	}
	b := map[string]any{"filter": filter}
	if len(mustNot) > 0 {
		b["must_not"] = mustNot
	}
	r.Body = map[string]any{"size": 0, "track_total_hits": true, "query": map[string]any{"bool": b}}
	if len(aggs) > 0 {
		r.Body["aggs"] = aggs
	}
	return r, nil
}

func queryDSL(q Query) (map[string]any, error) {
	if q.Query == "" {
		return nil, nil
	}
	switch q.Language {
	case "kuery", "":
		return kql.ToDSL(q.Query)
	case "lucene":
		return map[string]any{"query_string": map[string]any{"query": q.Query}}, nil
	}
	return nil, fmt.Errorf("unknown query language %q", q.Language)
}

// metricAgg returns the aggregation of a metric column; nil for a plain
// count (the bucket's doc_count).
func metricAgg(m Column) (map[string]any, error) {
	var agg map[string]any
	switch m.OperationType {
	case "count":
		if m.SourceField != "___records___" && m.SourceField != "" {
			agg = map[string]any{"value_count": map[string]any{"field": m.SourceField}}
		}
	case "unique_count":
		agg = map[string]any{"cardinality": map[string]any{"field": m.SourceField}}
	case "sum", "avg", "min", "max":
		agg = map[string]any{m.OperationType: map[string]any{"field": m.SourceField}}
	case "median":
		agg = map[string]any{"percentiles": map[string]any{"field": m.SourceField, "percents": []any{50.0}}}
	case "percentile":
		var p struct {
			Percentile float64 `json:"percentile"`
		}
		if err := json.Unmarshal(m.Params, &p); err != nil || p.Percentile <= 0 || p.Percentile > 100 {
			return nil, fmt.Errorf("percentile without a valid params.percentile")
		}
		agg = map[string]any{"percentiles": map[string]any{"field": m.SourceField, "percents": []any{p.Percentile}}}
	default:
		return nil, fmt.Errorf("operation %q is not supported", m.OperationType)
	}
	if m.Filter != nil && m.Filter.Query != "" {
		d, err := queryDSL(*m.Filter)
		if err != nil {
			return nil, fmt.Errorf("column filter: %w", err)
		}
		w := map[string]any{"filter": d}
		if agg != nil {
			w["aggs"] = map[string]any{"m": agg}
		}
		return w, nil
	}
	return agg, nil
}

type termsParams struct {
	Size    int `json:"size"`
	OrderBy struct {
		Type        string `json:"type"`
		ColumnID    string `json:"columnId"`
		MaxDocCount int    `json:"maxDocCount"`
	} `json:"orderBy"`
	OrderDirection  string   `json:"orderDirection"`
	OtherBucket     bool     `json:"otherBucket"`
	MissingBucket   bool     `json:"missingBucket"`
	SecondaryFields []string `json:"secondaryFields"`
	Include         []any    `json:"include"`
	Exclude         []any    `json:"exclude"`
}

func (r *Request) bucketAgg(b Column, c Context, metrics []Column, innermost bool) (map[string]any, error) {
	switch b.OperationType {
	case "terms":
		var p termsParams
		if err := json.Unmarshal(b.Params, &p); err != nil {
			return nil, err
		}
		if len(p.SecondaryFields) > 0 {
			return nil, errors.New("multi-field terms (multi_terms) are not supported")
		}
		if p.OtherBucket || p.MissingBucket {
			return nil, errors.New("terms with otherBucket or missingBucket (a second request) are not supported")
		}
		if len(p.Include) > 0 || len(p.Exclude) > 0 {
			return nil, errors.New("terms include/exclude are not supported")
		}
		dir := p.OrderDirection
		if dir == "" {
			dir = "desc"
		}
		switch p.OrderBy.Type {
		case "rare":
			max := p.OrderBy.MaxDocCount
			if max <= 0 {
				max = 1
			}
			return map[string]any{"rare_terms": map[string]any{"field": b.SourceField, "max_doc_count": max}}, nil
		case "alphabetical":
			return map[string]any{"terms": map[string]any{"field": b.SourceField, "size": p.Size, "order": map[string]any{"_key": dir}}}, nil
		case "column":
			m, ok := r.Layer.Columns[p.OrderBy.ColumnID]
			if !ok || m.IsBucketed {
				return nil, fmt.Errorf("orderBy names %q, which is not a metric column", p.OrderBy.ColumnID)
			}
			t := map[string]any{"field": b.SourceField, "size": p.Size}
			agg := map[string]any{"terms": t}
			if m.OperationType == "count" && m.Filter == nil && (m.SourceField == "___records___" || m.SourceField == "") {
				t["order"] = map[string]any{"_count": dir}
				return agg, nil
			}
			if m.Filter != nil {
				return nil, errors.New("ordering by a filtered metric is not supported")
			}
			id := r.aggIDs[m.ID]
			if !innermost {
				ma, err := metricAgg(m)
				if err != nil {
					return nil, err
				}
				id = r.aggIDs[b.ID] + "-orderAgg"
				agg["aggs"] = map[string]any{id: ma}
			}
			key := id
			if m.OperationType == "median" || m.OperationType == "percentile" {
				return nil, errors.New("ordering by a percentile is not supported")
			}
			t["order"] = map[string]any{key: dir}
			return agg, nil
		}
		return nil, fmt.Errorf("terms orderBy %q is not supported", p.OrderBy.Type)
	case "date_histogram":
		if b.SourceField != c.TimeField && c.TimeField != "" {
			return nil, fmt.Errorf("date_histogram on %s, not the data view's time field %s", b.SourceField, c.TimeField)
		}
		var p struct {
			Interval         string `json:"interval"`
			IncludeEmptyRows bool   `json:"includeEmptyRows"`
		}
		if err := json.Unmarshal(b.Params, &p); err != nil {
			return nil, err
		}
		if p.Interval != "auto" && p.Interval != "" {
			return nil, fmt.Errorf("date_histogram interval %q: only auto is supported", p.Interval)
		}
		tz := c.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		h := map[string]any{"field": b.SourceField, "fixed_interval": esInterval(AutoInterval(c.To.Sub(c.From))), "time_zone": tz}
		if p.IncludeEmptyRows {
			h["min_doc_count"] = 0
			h["extended_bounds"] = map[string]any{"min": c.From.UnixMilli(), "max": c.To.UnixMilli()}
		} else {
			h["min_doc_count"] = 1
		}
		return map[string]any{"date_histogram": h}, nil
	case "filters":
		var p struct {
			Filters []struct {
				Label string `json:"label"`
				Input Query  `json:"input"`
			} `json:"filters"`
		}
		if err := json.Unmarshal(b.Params, &p); err != nil {
			return nil, err
		}
		fs := map[string]any{}
		for _, f := range p.Filters {
			d, err := queryDSL(f.Input)
			if err != nil {
				return nil, err
			}
			if d == nil {
				d = map[string]any{"match_all": map[string]any{}}
			}
			key := f.Label
			if key == "" {
				key = f.Input.Query
			}
			fs[key] = d
		}
		return map[string]any{"filters": map[string]any{"filters": fs}}, nil
	case "range":
		var p struct {
			Type   string `json:"type"`
			Ranges []struct {
				From  *float64 `json:"from"`
				To    *float64 `json:"to"`
				Label string   `json:"label"`
			} `json:"ranges"`
		}
		if err := json.Unmarshal(b.Params, &p); err != nil {
			return nil, err
		}
		if p.Type != "range" {
			return nil, fmt.Errorf("range type %q: only explicit ranges are supported", p.Type)
		}
		var rs []any
		for _, x := range p.Ranges {
			m := map[string]any{}
			if x.From != nil {
				m["from"] = *x.From
			}
			if x.To != nil {
				m["to"] = *x.To
			}
			if x.Label != "" {
				m["key"] = x.Label
			}
			rs = append(rs, m)
		}
		return map[string]any{"range": map[string]any{"field": b.SourceField, "ranges": rs, "keyed": false}}, nil
	}
	return nil, fmt.Errorf("bucket operation %q is not supported", b.OperationType)
}

// AutoInterval is the histogram interval for a time range: the smallest of
// Kibana's rounded intervals that keeps the bar count at or below 100
// (histogram:maxBars) and near 50 (histogram:barTarget).
func AutoInterval(d time.Duration) time.Duration {
	steps := []time.Duration{time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute,
		10 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour}
	target := d / 50
	for _, s := range steps {
		if s >= target {
			return s
		}
	}
	return steps[len(steps)-1]
}

func esInterval(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return strconv.Itoa(int(d/time.Second)) + "s"
}

// Row is one row of a layer's table: column id → value (a bucket's key,
// a metric's number, nil for an empty metric).
type Row map[string]any

// Table turns the search response of r into rows, like esaggs' tabify:
// one row per innermost bucket, with every bucket column's key and every
// metric column's value.
func (r *Request) Table(resp []byte) ([]Row, error) {
	var res struct {
		Hits struct {
			Total struct {
				Value int64 `json:"value"`
			} `json:"total"`
		} `json:"hits"`
		Aggregations map[string]json.RawMessage `json:"aggregations"`
		Error        json.RawMessage            `json:"error"`
	}
	if err := json.Unmarshal(resp, &res); err != nil {
		return nil, fmt.Errorf("lens: response: %w", err)
	}
	if len(res.Error) > 0 {
		return nil, fmt.Errorf("lens: search failed: %s", res.Error)
	}
	var buckets, metrics []Column
	for _, id := range r.Layer.ColumnOrder {
		c := r.Layer.Columns[id]
		if c.IsBucketed {
			buckets = append(buckets, c)
		} else {
			metrics = append(metrics, c)
		}
	}
	if aggs, _ := r.Body["aggs"].(map[string]any); res.Aggregations == nil && len(aggs) > 0 {
		// No index matched (ignore_unavailable): Lens shows "No results".
		if len(buckets) > 0 {
			return nil, nil
		}
		row := Row{}
		for _, m := range metrics {
			row[m.ID] = nil
		}
		return []Row{row}, nil
	}
	var rows []Row
	var walk func(level int, aggs map[string]json.RawMessage, docCount int64, row Row) error
	walk = func(level int, aggs map[string]json.RawMessage, docCount int64, row Row) error {
		if level == len(buckets) {
			out := Row{}
			for k, v := range row {
				out[k] = v
			}
			for _, m := range metrics {
				v, err := metricValue(m, aggs[r.aggIDs[m.ID]], docCount)
				if err != nil {
					return fmt.Errorf("lens: column %s: %w", m.ID, err)
				}
				out[m.ID] = v
			}
			rows = append(rows, out)
			return nil
		}
		b := buckets[level]
		raw := aggs[r.aggIDs[b.ID]]
		if raw == nil {
			return fmt.Errorf("lens: no aggregation %s in the response", r.aggIDs[b.ID])
		}
		var agg struct {
			Buckets json.RawMessage `json:"buckets"`
		}
		if err := json.Unmarshal(raw, &agg); err != nil {
			return err
		}
		type bucket struct {
			key      any
			docCount int64
			aggs     map[string]json.RawMessage
		}
		var bs []bucket
		parse := func(m map[string]json.RawMessage, key any) error {
			var dc int64
			if err := json.Unmarshal(m["doc_count"], &dc); err != nil {
				return fmt.Errorf("lens: bucket without doc_count")
			}
			if b.OperationType == "date_histogram" {
				var ms float64
				_ = json.Unmarshal(m["key"], &ms)
				key = time.UnixMilli(int64(ms)).UTC()
			}
			bs = append(bs, bucket{key, dc, m})
			return nil
		}
		if len(agg.Buckets) > 0 && agg.Buckets[0] == '{' { // keyed (filters)
			var keyed map[string]map[string]json.RawMessage
			if err := json.Unmarshal(agg.Buckets, &keyed); err != nil {
				return err
			}
			var p struct {
				Filters []struct {
					Label string `json:"label"`
					Input Query  `json:"input"`
				} `json:"filters"`
			}
			_ = json.Unmarshal(b.Params, &p)
			for _, f := range p.Filters { // in the column's order
				k := f.Label
				if k == "" {
					k = f.Input.Query
				}
				if m, ok := keyed[k]; ok {
					if err := parse(m, k); err != nil {
						return err
					}
				}
			}
		} else {
			var list []map[string]json.RawMessage
			if err := json.Unmarshal(agg.Buckets, &list); err != nil {
				return err
			}
			for _, m := range list {
				var key any
				if ks, ok := m["key_as_string"]; ok && b.OperationType == "terms" {
					_ = json.Unmarshal(ks, &key) // booleans, ips
				} else if kr, ok := m["key"]; ok {
					_ = json.Unmarshal(kr, &key)
				}
				if err := parse(m, key); err != nil {
					return err
				}
			}
		}
		for _, x := range bs {
			row[b.ID] = x.key
			if err := walk(level+1, x.aggs, x.docCount, row); err != nil {
				return err
			}
		}
		delete(row, b.ID)
		return nil
	}
	if err := walk(0, res.Aggregations, res.Hits.Total.Value, Row{}); err != nil {
		return nil, err
	}
	return rows, nil
}

func metricValue(m Column, raw json.RawMessage, docCount int64) (any, error) {
	emptyAsNull := func(v float64) any {
		var p struct {
			EmptyAsNull bool `json:"emptyAsNull"`
		}
		_ = json.Unmarshal(m.Params, &p)
		if v == 0 && p.EmptyAsNull {
			return nil
		}
		return v
	}
	if m.Filter != nil && m.Filter.Query != "" {
		var f struct {
			DocCount int64           `json:"doc_count"`
			M        json.RawMessage `json:"m"`
		}
		if raw == nil {
			return nil, errors.New("no filter aggregation in the response")
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, err
		}
		raw, docCount = f.M, f.DocCount
	}
	if raw == nil {
		if m.OperationType != "count" {
			return nil, errors.New("no metric in the response")
		}
		return emptyAsNull(float64(docCount)), nil
	}
	var v struct {
		Value  *float64            `json:"value"`
		Values map[string]*float64 `json:"values"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	if v.Values != nil {
		for _, x := range v.Values {
			if x == nil || math.IsNaN(*x) {
				return nil, nil
			}
			return *x, nil
		}
		return nil, nil
	}
	if v.Value == nil {
		return nil, nil
	}
	if m.OperationType == "unique_count" || m.OperationType == "count" || m.OperationType == "sum" {
		return emptyAsNull(*v.Value), nil
	}
	return *v.Value, nil
}

// Fields returns the fields a layer's columns read (not ___records___),
// with the operation that reads each.
func (l Layer) Fields() map[string]string {
	out := map[string]string{}
	for _, c := range l.Columns {
		if c.SourceField != "" && c.SourceField != "___records___" {
			out[c.SourceField] = c.OperationType
		}
	}
	return out
}
