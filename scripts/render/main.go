// Command render draws eximship's bundled Kibana dashboards from live data,
// for people to look at without a Kibana: every Lens panel is translated
// into the search Kibana would send (package dashboards/lens), run on
// Elasticsearch, and drawn as a Vega-Lite chart in the dashboard's grid
// layout; saved-search panels show their newest documents with the
// search's columns. It writes one Vega-Lite spec per dashboard
// (<out>/<dashboard id>.vl.json); scripts/render-dashboards turns them into
// SVG (npm vega, vega-lite) and PNG (rsvg-convert).
//
//	go run ./scripts/render -es http://127.0.0.1:9200 -namespace demo123 -out /tmp/pictures
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/eximship/eximship/dashboards"
	"github.com/eximship/eximship/dashboards/kql"
	"github.com/eximship/eximship/dashboards/lens"
)

const (
	pxPerCol = 26 // Kibana's grid: 48 columns
	pxPerRow = 22
)

func main() {
	es := flag.String("es", "http://127.0.0.1:9200", "Elasticsearch `URL`")
	ns := flag.String("namespace", "*", "data stream `namespace` to draw (logs-exim.*-<namespace>)")
	out := flag.String("out", "", "output `directory` (required)")
	since := flag.Duration("since", 0, "time range: the last `duration` (default: from the first to the last document)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "render: -out is required")
		os.Exit(2)
	}
	if err := run(*es, *ns, *out, *since); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

type renderer struct {
	es, logs, dead, sources string
	objs                    []dashboards.Object
	from, to                time.Time
}

func run(es, ns, out string, since time.Duration) error {
	r := &renderer{es: strings.TrimRight(es, "/"), logs: "logs-exim.*-" + ns, dead: "eximship-deadletter-" + ns, sources: "eximship-sources-" + ns}
	if err := r.timeRange(since); err != nil {
		return err
	}
	objs, err := dashboards.Objects()
	if err != nil {
		return err
	}
	r.objs = objs
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, o := range objs {
		if o.Type != "dashboard" {
			continue
		}
		spec, err := r.dashboard(objs, o)
		if err != nil {
			return fmt.Errorf("%s: %w", o.ID, err)
		}
		b, err := json.MarshalIndent(spec, "", " ")
		if err != nil {
			return err
		}
		p := filepath.Join(out, o.ID+".vl.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		fmt.Println(p)
	}
	return nil
}

// timeRange is the last `since`, or the span of the data (plus a minute).
func (r *renderer) timeRange(since time.Duration) error {
	r.to = time.Now().UTC()
	if since > 0 {
		r.from = r.to.Add(-since)
		return nil
	}
	var res struct {
		Aggregations struct {
			Min struct {
				Value *float64 `json:"value"`
			} `json:"min"`
			Max struct {
				Value *float64 `json:"value"`
			} `json:"max"`
		} `json:"aggregations"`
	}
	b, err := r.search(r.logs, map[string]any{"size": 0, "aggs": map[string]any{
		"min": map[string]any{"min": map[string]any{"field": "@timestamp"}}, "max": map[string]any{"max": map[string]any{"field": "@timestamp"}}}})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return err
	}
	if res.Aggregations.Min.Value == nil {
		return fmt.Errorf("no documents in %s", r.logs)
	}
	r.from = time.UnixMilli(int64(*res.Aggregations.Min.Value)).UTC().Add(-time.Minute)
	r.to = time.UnixMilli(int64(*res.Aggregations.Max.Value)).UTC().Add(time.Minute)
	return nil
}

func (r *renderer) search(index string, body any) ([]byte, error) {
	b, _ := json.Marshal(body)
	res, err := http.Post(r.es+"/"+index+"/_search?ignore_unavailable=true&allow_no_indices=true", "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("search %s: %d %s", index, res.StatusCode, out)
	}
	return out, nil
}

type gridPanel struct {
	x, y, w, h int
	spec       map[string]any
}

func (r *renderer) dashboard(objs []dashboards.Object, o dashboards.Object) (map[string]any, error) {
	ssb, _ := json.Marshal(o.Attributes["kibanaSavedObjectMeta"].(map[string]any)["searchSourceJSON"])
	var src struct {
		Query   lens.Query    `json:"query"`
		Filters []lens.Filter `json:"filter"`
	}
	if err := json.Unmarshal(ssb, &src); err != nil {
		return nil, err
	}
	ctx := lens.Context{TimeField: "@timestamp", From: r.from, To: r.to, Query: src.Query, Filters: src.Filters}
	var gps []gridPanel
	for _, p := range o.Attributes["panelsJSON"].([]any) {
		pm := p.(map[string]any)
		g := pm["gridData"].(map[string]any)
		gp := gridPanel{x: int(g["x"].(float64)), y: int(g["y"].(float64)), w: int(g["w"].(float64)), h: int(g["h"].(float64))}
		width, height := gp.w*pxPerCol-20, gp.h*pxPerRow-40
		title, _ := pm["title"].(string)
		var err error
		switch pm["type"] {
		case "lens":
			gp.spec, err = r.lensPanel(pm, ctx, title, width, height)
		case "search":
			gp.spec, err = r.searchPanel(objs, o, pm, ctx, title, width, height)
		case "visualization":
			md := pm["embeddableConfig"].(map[string]any)["savedVis"].(map[string]any)["params"].(map[string]any)["markdown"].(string)
			gp.spec = textPanel(plainMarkdown(md), width, gp.h*pxPerRow-10)
		}
		if err != nil {
			return nil, fmt.Errorf("panel %v: %w", pm["panelIndex"], err)
		}
		gps = append(gps, gp)
	}
	// Rows of the grid: panels starting at the same y, left to right.
	sort.Slice(gps, func(i, j int) bool {
		if gps[i].y != gps[j].y {
			return gps[i].y < gps[j].y
		}
		return gps[i].x < gps[j].x
	})
	var rows []any
	for i := 0; i < len(gps); {
		j := i
		var row []any
		for ; j < len(gps) && gps[j].y == gps[i].y; j++ {
			row = append(row, gps[j].spec)
		}
		rows = append(rows, map[string]any{"hconcat": row, "spacing": 20, "resolve": independent})
		i = j
	}
	return map[string]any{
		"$schema": "https://vega.github.io/schema/vega-lite/v6.json",
		"title": map[string]any{"text": o.Title(), "subtitle": fmt.Sprintf("%s — %s (UTC), %s, data_stream.dataset: exim.main",
			r.from.Format("2006-01-02 15:04"), r.to.Format("2006-01-02 15:04"), r.logs), "anchor": "start", "fontSize": 18},
		"vconcat":    rows,
		"resolve":    independent,
		"spacing":    18,
		"background": "#ffffff",
		"padding":    16,
		"config": map[string]any{"font": "DejaVu Sans", "view": map[string]any{"stroke": "#d3dae6"},
			"title": map[string]any{"fontSize": 13, "anchor": "start", "color": "#343741"},
			"axis":  map[string]any{"labelFontSize": 10, "titleFontSize": 10, "labelLimit": 170},
			"range": map[string]any{"category": []string{"#54b399", "#6092c0", "#d36086", "#9170b8", "#ca8eae", "#d6bf57", "#b9a888", "#da8b45", "#aa6556", "#e7664c"}}},
	}, nil
}

// countAxis labels counts as integers.
var countAxis = map[string]any{"format": "~s", "tickMinStep": 1}

// independent: each panel keeps its own scales and legend, as in Kibana.
var independent = map[string]any{"scale": map[string]any{"color": "independent", "x": "independent", "y": "independent", "theta": "independent"},
	"legend": map[string]any{"color": "independent"}}

var mdLink = regexp.MustCompile(`\[([^\]]+)\]\([^)]+\)`)

func plainMarkdown(md string) string {
	s := mdLink.ReplaceAllString(md, "$1")
	s = strings.NewReplacer("**", "", "`", "", "  \n", "\n").Replace(s)
	return s
}

func textPanel(text string, width, height int) map[string]any {
	lines := strings.Split(text, "\n")
	var vals []any
	for i, l := range lines {
		vals = append(vals, map[string]any{"i": i, "t": l})
	}
	return map[string]any{"width": width, "height": max(height, 14*len(lines)), "data": map[string]any{"values": vals},
		"mark": map[string]any{"type": "text", "align": "left", "baseline": "top", "fontSize": 12, "color": "#343741"},
		"encoding": map[string]any{"y": map[string]any{"field": "i", "type": "ordinal", "axis": nil},
			"text": map[string]any{"field": "t"}, "x": map[string]any{"value": 4}},
		"view": map[string]any{"stroke": nil}}
}

func (r *renderer) lensPanel(pm map[string]any, ctx lens.Context, title string, width, height int) (map[string]any, error) {
	ab, _ := json.Marshal(pm["embeddableConfig"].(map[string]any)["attributes"])
	a, err := lens.Parse(ab)
	if err != nil {
		return nil, err
	}
	dv, err := a.DataViewID("l1")
	if err != nil {
		return nil, err
	}
	ctx.TimeField = dashboards.TimeField(r.objs, dv)
	req, err := lens.Translate(a, "l1", ctx)
	if err != nil {
		return nil, err
	}
	idx := r.logs
	switch dv {
	case dashboards.DeadLetterDataView:
		idx = r.dead
	case dashboards.SourcesDataView:
		idx = r.sources
	}
	resp, err := r.search(idx, req.Body)
	if err != nil {
		return nil, err
	}
	rows, err := req.Table(resp)
	if err != nil {
		return nil, err
	}
	l, _ := a.Layer("l1")
	label := func(id string) string { return l.Columns[id].Label }
	var vis map[string]any
	_ = json.Unmarshal(a.State.Visualization, &vis)
	// Rows as Vega-Lite values keyed by column label.
	var vals []any
	for _, row := range rows {
		m := map[string]any{}
		for id, v := range row {
			if t, ok := v.(time.Time); ok {
				v = t.Format(time.RFC3339)
			}
			if v == nil {
				v = 0.0
			}
			m[label(id)] = v
		}
		vals = append(vals, m)
	}
	base := map[string]any{"title": title, "width": width, "height": height, "data": map[string]any{"values": vals}}
	if len(rows) == 0 {
		base["data"] = map[string]any{"values": []any{map[string]any{"t": "No results found"}}}
		base["mark"] = map[string]any{"type": "text", "fontSize": 13, "color": "#98a2b3"}
		base["encoding"] = map[string]any{"text": map[string]any{"field": "t"}}
		return base, nil
	}
	ftype := func(id string) string {
		switch l.Columns[id].DataType {
		case "date":
			return "temporal"
		case "number":
			if l.Columns[id].IsBucketed {
				return "ordinal"
			}
			return "quantitative"
		}
		return "nominal"
	}
	switch a.VisualizationType {
	case "lnsMetric":
		acc := vis["metricAccessor"].(string)
		base["mark"] = map[string]any{"type": "text", "fontSize": 40, "fontWeight": "bold", "color": "#343741"}
		base["encoding"] = map[string]any{"text": map[string]any{"field": label(acc), "type": "quantitative", "format": ",.0f"}}
		base["view"] = map[string]any{"stroke": "#d3dae6"}
	case "lnsXY":
		layer := vis["layers"].([]any)[0].(map[string]any)
		x := layer["xAccessor"].(string)
		y := layer["accessors"].([]any)[0].(string)
		series := layer["seriesType"].(string)
		enc := map[string]any{}
		mark := map[string]any{"type": "bar", "tooltip": true}
		timeX := func() {
			// The dashboard's whole time range, as Kibana draws it; one bar
			// per auto interval.
			e := enc["x"].(map[string]any)
			e["scale"] = map[string]any{"domain": []any{ctx.From.Format(time.RFC3339), ctx.To.Format(time.RFC3339)}}
			e["axis"] = map[string]any{"format": "%H:%M:%S", "labelAngle": 0}
			if mark["type"] == "bar" {
				bars := float64(ctx.To.Sub(ctx.From)) / float64(lens.AutoInterval(ctx.To.Sub(ctx.From)))
				mark["width"] = max(1.5, 0.8*float64(width)/bars)
			}
		}
		switch series {
		case "bar_horizontal", "bar_horizontal_stacked":
			enc["y"] = map[string]any{"field": label(x), "type": "nominal", "sort": "-x", "title": nil}
			enc["x"] = map[string]any{"field": label(y), "type": "quantitative", "title": label(y), "axis": countAxis}
		case "line":
			mark = map[string]any{"type": "line", "point": true}
			enc["x"] = map[string]any{"field": label(x), "type": ftype(x), "title": nil}
			enc["y"] = map[string]any{"field": label(y), "type": "quantitative", "title": label(y), "axis": countAxis}
		default:
			enc["x"] = map[string]any{"field": label(x), "type": ftype(x), "title": nil}
			if ftype(x) != "temporal" {
				enc["x"].(map[string]any)["sort"] = nil
			}
			enc["y"] = map[string]any{"field": label(y), "type": "quantitative", "title": label(y), "axis": countAxis}
		}
		if ftype(x) == "temporal" {
			timeX()
		}
		if s, ok := layer["splitAccessor"].(string); ok {
			enc["color"] = map[string]any{"field": label(s), "type": "nominal", "title": label(s)}
		} else {
			mark["color"] = "#54b399"
		}
		base["mark"] = mark
		base["encoding"] = enc
	case "lnsPie":
		layer := vis["layers"].([]any)[0].(map[string]any)
		g := layer["primaryGroups"].([]any)[0].(string)
		m := layer["metrics"].([]any)[0].(string)
		base["mark"] = map[string]any{"type": "arc", "innerRadius": min(width, height) / 5, "tooltip": true}
		base["encoding"] = map[string]any{"theta": map[string]any{"field": label(m), "type": "quantitative"},
			"color": map[string]any{"field": label(g), "type": "nominal", "title": label(g), "legend": map[string]any{"labelLimit": 220}}}
	case "lnsDatatable":
		var cols []string
		for _, c := range vis["columns"].([]any) {
			cols = append(cols, label(c.(map[string]any)["columnId"].(string)))
		}
		return tablePanel(title, cols, vals, width, height), nil
	default:
		return nil, fmt.Errorf("visualization %s is not drawn", a.VisualizationType)
	}
	return base, nil
}

// tablePanel draws rows as a table: one text mark, row × column.
func tablePanel(title string, cols []string, rows []any, width, height int) map[string]any {
	maxRows := max(1, (height-20)/16)
	// Values and header labels cut to their column's width (about 6.5 px a
	// character).
	maxChars := max(6, width/max(1, len(cols))*10/65)
	var vals []any
	for i, r := range rows {
		if i >= maxRows {
			break
		}
		m := r.(map[string]any)
		for j, c := range cols {
			v := m[c]
			s := fmt.Sprint(v)
			if f, ok := v.(float64); ok {
				s = strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", f), "0"), ".")
			}
			if r := []rune(s); len(r) > maxChars {
				s = string(r[:maxChars-1]) + "…"
			}
			vals = append(vals, map[string]any{"row": i, "col": fmt.Sprintf("%d %s", j, c), "v": s})
		}
	}
	sortCols := make([]string, len(cols))
	for j, c := range cols {
		sortCols[j] = fmt.Sprintf("%d %s", j, c)
	}
	labelExpr := fmt.Sprintf("truncate(slice(datum.label, indexof(datum.label, ' ') + 1), %d)", maxChars)
	return map[string]any{"title": title, "width": width, "height": min(height, 20+16*len(rows)), "data": map[string]any{"values": vals},
		"mark": map[string]any{"type": "text", "align": "left", "fontSize": 11, "dx": -40},
		"encoding": map[string]any{
			"x": map[string]any{"field": "col", "type": "ordinal", "sort": sortCols, "title": nil,
				"axis": map[string]any{"orient": "top", "labelAngle": 0, "labelExpr": labelExpr, "labelFontWeight": "bold", "domain": false, "ticks": false}},
			"y":    map[string]any{"field": "row", "type": "ordinal", "axis": nil},
			"text": map[string]any{"field": "v"}},
		"view": map[string]any{"stroke": "#d3dae6"}}
}

// searchPanel shows a saved search's newest documents with its columns.
func (r *renderer) searchPanel(objs []dashboards.Object, d dashboards.Object, pm map[string]any, ctx lens.Context, title string, width, height int) (map[string]any, error) {
	ref := pm["panelIndex"].(string) + ":" + pm["panelRefName"].(string)
	var id string
	for _, x := range d.References {
		if x.Name == ref {
			id = x.ID
		}
	}
	s, ok := dashboards.Find(objs, "search", id)
	if !ok {
		return nil, fmt.Errorf("no saved search %s", id)
	}
	var cols []string
	for _, c := range s.Attributes["columns"].([]any) {
		cols = append(cols, c.(string))
	}
	q := s.Attributes["kibanaSavedObjectMeta"].(map[string]any)["searchSourceJSON"].(map[string]any)["query"].(map[string]any)["query"].(string)
	dsl, err := kql.ToDSL(q)
	if err != nil {
		return nil, err
	}
	filter := []any{dsl, map[string]any{"range": map[string]any{"@timestamp": map[string]any{"gte": ctx.From.Format(time.RFC3339), "lte": ctx.To.Format(time.RFC3339)}}}}
	for _, f := range ctx.Filters {
		filter = append(filter, f.Query)
	}
	b, err := r.search(r.logs, map[string]any{"size": 12, "sort": []any{map[string]any{"@timestamp": "desc"}},
		"_source": append([]string{"@timestamp"}, cols...), "query": map[string]any{"bool": map[string]any{"filter": filter}}})
	if err != nil {
		return nil, err
	}
	var res struct {
		Hits struct {
			Hits []struct {
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	var rows []any
	for _, h := range res.Hits.Hits {
		m := map[string]any{"@timestamp": dig(h.Source, "@timestamp")}
		for _, c := range cols {
			m[c] = dig(h.Source, c)
		}
		rows = append(rows, m)
	}
	return tablePanel(title+" (newest first)", append([]string{"@timestamp"}, cols...), rows, width, height), nil
}

// dig reads a dotted field of a _source (arrays joined).
func dig(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[k]
	}
	if xs, ok := v.([]any); ok {
		var ss []string
		for _, x := range xs {
			ss = append(ss, fmt.Sprint(x))
		}
		return strings.Join(ss, ", ")
	}
	if v == nil {
		return ""
	}
	return v
}
