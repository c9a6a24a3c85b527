// Command diskusage is the measuring half of scripts/bench/storage: it
// indexes the same Exim log, side by side in one run, into eximship's data
// stream(s) and into a raw-message index (Filebeat style: @timestamp, the
// line as a `message` text field, host.name, log.file.path, Elasticsearch's
// ids, best_compression), force-merges every index to one segment and
// prints, for each, the bytes on disk per input line, the ratio to the
// raw-message index and the fields that take the most disk
// (POST _disk_usage?run_expensive_tasks=true). With -queries it then times
// the main aggregations of `eximship report` and the dashboards on each
// eximship index.
//
//	go run ./scripts/bench/diskusage -log mainlog -variants raw,auto,stored
//
// Variants (comma separated):
//
//	raw          the raw-message index
//	auto         eximship as `eximship run` installs it on this cluster (detected storage)
//	logsdb, synthetic, stored
//	             eximship with that storage forced (stored: what a basic licence gets)
//	NAME+orig    the same with exim.keep_original: true (event.original kept)
//	baseline     the documents of -baseline-docs (an older `eximship parse -with-meta`)
//	             into the templates of -baseline-templates (that version's mapping/templates)
//	NAME~LEVER   an eximship variant with one or more storage changes tried on it
//	             (levers.go; -levers lists them), e.g. logsdb~same,logsdb~siddv
//
// Loading is one bulk request at a time by default (-workers 1), documents
// in file order, the variants taking turns chunk by chunk, so every index
// sees the same machine at the same moment and none pays for interleaving
// (concurrent requests interleave documents in the shard, which changes
// sizes by several percent; -workers 2 shows that case). Every index has
// 1 shard and 0 replicas; sizes are primaries. eximship's templates are
// installed as private copies for the benchmark's namespaces
// (mapping.Options.Scope): the cluster's own eximship templates are not
// touched. At the end, the indices are deleted (data streams, which this
// node cannot delete, are rolled over and their old backing indices
// deleted) unless -keep.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/process"
)

type variant struct {
	Name    string `json:"name"`
	Target  string `json:"target"` // data stream or index
	Kind    string `json:"kind"`   // raw, eximship, baseline
	Storage string `json:"storage_asked,omitempty"`
	Orig    bool   `json:"keep_original"`

	Levers []string `json:"levers,omitempty"`

	proc   *process.Exim
	now    time.Time // event.ingested of the message being processed (-clock log)
	levers leverState
	base   *bufio.Scanner // baseline documents
	offset int64

	Result result `json:"result"`
}

type result struct {
	Docs         int64             `json:"docs"`
	Lines        int64             `json:"lines"`
	StoreBytes   int64             `json:"store_bytes"`
	BytesPerLine float64           `json:"bytes_per_line"`
	RatioRaw     float64           `json:"ratio_to_raw,omitempty"`
	Segments     int               `json:"segments"`
	Index        string            `json:"index"`
	Effective    string            `json:"effective"`
	SourceBytes  int64             `json:"source_bytes"` // _source + _ignored_source + _recovery_source
	Fields       []field           `json:"top_fields"`
	LoadSeconds  float64           `json:"load_seconds"`
	Queries      map[string]timing `json:"queries,omitempty"`
}

type field struct {
	Name     string `json:"name"`
	Total    int64  `json:"total"`
	Inverted int64  `json:"inverted_index"`
	Stored   int64  `json:"stored_fields"`
	DocVals  int64  `json:"doc_values"`
	Points   int64  `json:"points"`
	Norms    int64  `json:"norms"`
}

type timing struct {
	MedianMS float64 `json:"median_took_ms"`
	MinMS    float64 `json:"min_took_ms"`
	MaxMS    float64 `json:"max_took_ms"`
	Requests int     `json:"requests"`
	Result   string  `json:"result"`
}

var (
	es      mapping.Performer
	verbose bool
)

func main() {
	log.SetFlags(0)
	url := flag.String("es", envOr("EXIMSHIP_ES_URL", "http://127.0.0.1:9200"), "Elasticsearch `URL`")
	logPath := flag.String("log", "", "Exim main log `file` (required)")
	variants := flag.String("variants", "raw,auto,stored", "comma-separated `list` of variants (see the package doc)")
	baseDocs := flag.String("baseline-docs", "", "NDJSON `file` from an older `eximship parse -with-meta` of the same log (variant baseline)")
	baseTemplates := flag.String("baseline-templates", "", "`directory` with that version's mapping/templates/*.json (variant baseline)")
	ns := flag.String("ns", "benchst"+strconv.FormatInt(time.Now().Unix(), 36), "namespace `prefix` of the benchmark's data streams")
	chunk := flag.Int("chunk", 4000, "documents per bulk request")
	workers := flag.Int("workers", 1, "concurrent bulk requests per variant")
	limit := flag.Int("lines", 0, "read at most this many lines (0: all)")
	top := flag.Int("top", 12, "fields to list per variant")
	flag.StringVar(&clockMode, "clock", "log", "event.created/event.ingested: `log` (a shipper in real time: the line's time + 1 s and + 3 s) or wall (the benchmark's clock)")
	queries := flag.Bool("queries", false, "time the report's and the dashboards' main aggregations on each eximship index")
	runs := flag.Int("runs", 5, "timed runs per query (after one warm-up)")
	keep := flag.Bool("keep", false, "keep the indices")
	out := flag.String("out", "", "write the results as JSON to `file`")
	flag.BoolVar(&verbose, "v", false, "log every step")
	listLevers := flag.Bool("levers", false, "list the levers (NAME~LEVER variants) and exit")
	flag.Parse()
	if *listLevers {
		fmt.Println(leverNames())
		return
	}
	if *logPath == "" {
		flag.Usage()
		os.Exit(2)
	}
	client, err := elastic.NewClient(elastic.Config{Addresses: []string{*url}})
	if err != nil {
		log.Fatalf("diskusage: %v", err)
	}
	es = client
	ctx := context.Background()

	vs, err := setup(ctx, strings.Split(*variants, ","), *ns, *baseDocs, *baseTemplates)
	if err != nil {
		log.Fatalf("diskusage: %v", err)
	}
	if !*keep {
		defer cleanup(ctx, vs)
	}
	lines, err := load(ctx, vs, *logPath, *chunk, *workers, *limit)
	if err != nil {
		cleanup(ctx, vs)
		log.Fatalf("diskusage: %v", err)
	}
	for _, v := range vs {
		if err := measure(ctx, v, lines, *top); err != nil {
			cleanup(ctx, vs)
			log.Fatalf("diskusage: %s: %v", v.Name, err)
		}
	}
	var raw *variant
	for _, v := range vs {
		if v.Kind == "raw" {
			raw = v
		}
	}
	for _, v := range vs {
		if raw != nil && raw.Result.StoreBytes > 0 {
			v.Result.RatioRaw = float64(v.Result.StoreBytes) / float64(raw.Result.StoreBytes)
		}
	}
	if *queries {
		for _, v := range vs {
			if v.Kind == "raw" {
				continue
			}
			if v.Result.Queries, err = timeWorkloads(ctx, v.Target, strings.TrimPrefix(v.Target, "logs-exim.main-"), *runs); err != nil {
				cleanup(ctx, vs)
				log.Fatalf("diskusage: queries on %s: %v", v.Name, err)
			}
		}
	}
	report(os.Stdout, vs, lines)
	if *out != "" {
		b, _ := json.MarshalIndent(map[string]any{"lines": lines, "log": *logPath, "variants": vs, "time": time.Now().UTC()}, "", "  ")
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			log.Fatalf("diskusage: %v", err)
		}
	}
}

// setup creates the targets: templates (scoped to the variant's
// namespace) for the eximship variants, the index for raw.
func setup(ctx context.Context, names []string, prefix, baseDocs, baseTemplates string) ([]*variant, error) {
	var vs []*variant
	for _, name := range names {
		name = strings.TrimSpace(name)
		v := &variant{Name: name}
		storage, lv, err := parseLevers(name)
		if err != nil {
			return nil, err
		}
		v.Levers = lv
		base, orig := strings.CutSuffix(storage, "+orig")
		v.Orig = orig
		tag := strings.NewReplacer("+", "", "-", "", "~", "").Replace(name)
		if len(lv) > 0 && (base == "raw" || base == "baseline") {
			return nil, fmt.Errorf("variant %s: levers apply to eximship's variants only", name)
		}
		switch base {
		case "raw":
			v.Kind, v.Target = "raw", "bench-raw-"+prefix
			body := `{"settings":{"index":{"number_of_shards":1,"number_of_replicas":0,"codec":"best_compression"}},
"mappings":{"dynamic":false,"properties":{"@timestamp":{"type":"date"},"message":{"type":"text"},
"host":{"properties":{"name":{"type":"keyword","ignore_above":1024}}},
"log":{"properties":{"file":{"properties":{"path":{"type":"keyword","ignore_above":1024}}}}}}}}`
			if err := call(ctx, http.MethodPut, "/"+v.Target, body, nil); err != nil {
				return nil, fmt.Errorf("creating %s: %w", v.Target, err)
			}
		case "baseline":
			if baseDocs == "" || baseTemplates == "" {
				return nil, errors.New("variant baseline needs -baseline-docs and -baseline-templates")
			}
			v.Kind = "baseline"
			scope := prefix + tag
			ts, err := mapping.TemplatesFS(os.DirFS(baseTemplates), "")
			if err != nil {
				return nil, fmt.Errorf("baseline templates: %w", err)
			}
			if ts, err = mapping.Scoped(ts, scope); err != nil {
				return nil, err
			}
			for _, t := range ts {
				if err := call(ctx, http.MethodPut, t.Path(), string(t.Body), nil); err != nil {
					return nil, fmt.Errorf("baseline template %s: %w", t.Name, err)
				}
			}
			f, err := os.Open(baseDocs)
			if err != nil {
				return nil, err
			}
			v.base = bufio.NewScanner(f)
			v.base.Buffer(make([]byte, 1<<20), 64<<20)
			v.Target = "logs-exim.main-" + scope
		default:
			v.Kind = "eximship"
			st := mapping.Storage(base)
			if base == "auto" {
				st = ""
			}
			v.Storage = base
			scope := prefix + tag
			res, err := mapping.Install(ctx, es, mapping.Options{Scope: scope, Storage: st, Overwrite: true})
			if err != nil {
				return nil, fmt.Errorf("variant %s: %w", name, err)
			}
			if err := applyTemplateLevers(ctx, scope, lv); err != nil {
				return nil, fmt.Errorf("variant %s: %w", name, err)
			}
			if base == "auto" {
				v.Storage = "auto: " + string(res.Storage.Storage)
				for _, r := range res.Storage.Refused {
					log.Printf("diskusage: %s: storage %s refused: %s", name, r.Storage, r.Reason)
				}
			}
			// host.name as the raw-message index has it
			v.proc, err = process.New(process.Config{Namespace: scope, Location: time.UTC, Dataset: "main", KeepOriginal: orig, Host: "mx.bench.example",
				Now: v.clock})
			if err != nil {
				return nil, err
			}
			v.Target = "logs-exim.main-" + scope
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// load reads the log and sends each chunk of lines to every variant in
// turn.
func load(ctx context.Context, vs []*variant, path string, chunk, workers, limit int) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	type job struct {
		v    *variant
		body []byte
		n    int
	}
	jobs := make([]chan job, len(vs))
	errs := make(chan error, len(vs)*workers)
	var wg sync.WaitGroup
	for i := range vs {
		jobs[i] = make(chan job, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(c chan job) {
				defer wg.Done()
				for j := range c {
					t0 := time.Now()
					if err := bulk(ctx, j.body, j.n); err != nil {
						errs <- fmt.Errorf("%s: %w", j.v.Name, err)
						for range c {
						}
						return
					}
					j.v.Result.LoadSeconds += time.Since(t0).Seconds()
				}
			}(jobs[i])
		}
	}
	var lines int64
	batch := make([][]byte, 0, chunk)
	created := map[string]bool{}
	flush := func() error {
		for i, v := range vs {
			body, n, err := v.encode(batch)
			if err != nil {
				return err
			}
			if workers == 1 {
				// synchronous: the variants take turns
				t0 := time.Now()
				if err := bulk(ctx, body, n); err != nil {
					return fmt.Errorf("%s: %w", v.Name, err)
				}
				v.Result.LoadSeconds += time.Since(t0).Seconds()
			} else {
				jobs[i] <- job{v, body, n}
			}
			v.Result.Docs += int64(n)
			if !created[v.Name] {
				created[v.Name] = true
				if workers > 1 {
					time.Sleep(2 * time.Second) // let the stream be created
				}
				// 0 replicas: one node, sizes are primaries anyway
				if err := call(ctx, http.MethodPut, "/"+v.Target+"/_settings", `{"index":{"number_of_replicas":0}}`, nil); err != nil {
					return fmt.Errorf("%s: replicas: %w", v.Name, err)
				}
			}
		}
		batch = batch[:0]
		return nil
	}
	var ferr error
	for sc.Scan() {
		if limit > 0 && lines >= int64(limit) {
			break
		}
		l := sc.Bytes()
		if len(l) == 0 {
			continue
		}
		batch = append(batch, append([]byte(nil), l...))
		lines++
		if len(batch) == chunk {
			if ferr = flush(); ferr != nil {
				break
			}
			if verbose && lines%(int64(chunk)*25) == 0 {
				log.Printf("diskusage: %d lines", lines)
			}
		}
	}
	if ferr == nil && len(batch) > 0 {
		ferr = flush()
	}
	for _, c := range jobs {
		close(c)
	}
	wg.Wait()
	close(errs)
	if ferr != nil {
		return lines, ferr
	}
	if err := <-errs; err != nil {
		return lines, err
	}
	if err := sc.Err(); err != nil {
		return lines, err
	}
	for _, v := range vs {
		v.Result.Lines = lines
	}
	return lines, nil
}

// encode returns the bulk body of one chunk of lines for v.
func (v *variant) encode(lines [][]byte) ([]byte, int, error) {
	var b []byte
	n := 0
	switch v.Kind {
	case "raw":
		for _, l := range lines {
			b = append(b, `{"create":{"_index":"`+v.Target+`"}}`+"\n"...)
			b = append(b, `{"@timestamp":"`...)
			b = append(b, rawTime(l)...)
			b = append(b, `","message":`...)
			m, _ := json.Marshal(string(l))
			b = append(b, m...)
			b = append(b, `,"host":{"name":"mx.bench.example"},"log":{"file":{"path":"/var/log/exim4/mainlog"}}}`+"\n"...)
			n++
		}
	case "baseline":
		for range lines {
			if !v.base.Scan() {
				return nil, 0, fmt.Errorf("baseline documents end early (%v)", v.base.Err())
			}
			var d struct {
				Source json.RawMessage `json:"_source"`
			}
			if err := json.Unmarshal(v.base.Bytes(), &d); err != nil {
				return nil, 0, fmt.Errorf("baseline document: %w", err)
			}
			// the same ids as the other variants (parse's name the file)
			v.offset++
			id := shipper.DocID(shipper.Position{Topic: "bench", Offset: v.offset}, 0)
			meta, _ := json.Marshal(map[string]any{"create": map[string]string{"_index": v.Target, "_id": id}})
			b = append(append(b, meta...), '\n')
			b = append(append(b, d.Source...), '\n')
			n++
		}
	default:
		var docs []shipper.Doc
		for _, l := range lines {
			v.offset++
			var err error
			// -clock log: a shipper in real time; the producer reads the
			// line a second after Exim wrote it (the Kafka timestamp,
			// event.created), eximship indexes it two seconds later
			// (event.ingested); -clock wall: both the benchmark's clock
			created := time.Now()
			if clockMode == "log" {
				if t, ok := lineTime(l); ok {
					created = t.Add(time.Second)
				}
			}
			v.now = created.Add(2 * time.Second)
			if clockMode != "log" {
				v.now = time.Time{}
			}
			docs, err = v.proc.Process(shipper.Message{Position: shipper.Position{Topic: "bench", Offset: v.offset}, Value: l, Time: created}, docs)
			if err != nil {
				return nil, 0, err
			}
		}
		for _, d := range docs {
			meta, _ := json.Marshal(map[string]any{"create": map[string]string{"_index": d.Stream, "_id": docID(v.Levers, d)}})
			b = append(append(b, meta...), '\n')
			body := d.Body
			if len(v.Levers) > 0 {
				var err error
				if body, err = applyDocLevers(&v.levers, v.Levers, body); err != nil {
					return nil, 0, fmt.Errorf("levers: %w", err)
				}
			}
			b = append(append(b, body...), '\n')
			n++
		}
	}
	return b, n, nil
}

// rawTime is the line's "YYYY-MM-DD HH:MM:SS[.mmm]" as an ISO time (UTC,
// as the eximship documents of the benchmark are parsed).
func rawTime(l []byte) string {
	if t, ok := lineTime(l); ok {
		return t.Format("2006-01-02T15:04:05.000Z")
	}
	return time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
}

// lineTime is the line's Exim timestamp (UTC, as the benchmark parses).
func lineTime(l []byte) (time.Time, bool) {
	s := string(l[:min(len(l), 23)])
	for _, layout := range []string{"2006-01-02 15:04:05.000", "2006-01-02 15:04:05"} {
		if len(s) >= len(layout) {
			if t, err := time.Parse(layout, s[:len(layout)]); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// clockMode is -clock: "log" or "wall".
var clockMode = "log"

// clock is the processor's clock for v: the time set per message with
// -clock log, the wall clock otherwise.
func (v *variant) clock() time.Time {
	if v.now.IsZero() {
		return time.Now()
	}
	return v.now
}

func bulk(ctx context.Context, body []byte, n int) error {
	var r struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int             `json:"status"`
			Error  json.RawMessage `json:"error"`
		} `json:"items"`
	}
	for attempt := 0; ; attempt++ {
		err := callBytes(ctx, http.MethodPost, "/_bulk?filter_path=errors,items.*.status,items.*.error", body, &r)
		if err != nil {
			if attempt < 5 {
				time.Sleep(time.Duration(attempt+1) * time.Second)
				continue
			}
			return err
		}
		break
	}
	if len(r.Items) != n {
		return fmt.Errorf("bulk answered %d items for %d documents", len(r.Items), n)
	}
	if r.Errors {
		for _, it := range r.Items {
			for _, x := range it {
				if x.Status > 299 {
					return fmt.Errorf("document refused (%d): %s", x.Status, x.Error)
				}
			}
		}
	}
	return nil
}

// measure force-merges v's index to one segment and reads its size.
func measure(ctx context.Context, v *variant, lines int64, top int) error {
	idx, err := backing(ctx, v.Target)
	if err != nil {
		return err
	}
	v.Result.Index = idx
	for _, step := range []string{"/_refresh", "/_flush", "/_forcemerge?max_num_segments=1"} {
		if err := call(ctx, http.MethodPost, "/"+idx+step, "", nil); err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
	}
	var st struct {
		Indices map[string]struct {
			Primaries struct {
				Docs struct {
					Count int64 `json:"count"`
				} `json:"docs"`
				Store struct {
					Size int64 `json:"size_in_bytes"`
				} `json:"store"`
				Segments struct {
					Count int `json:"count"`
				} `json:"segments"`
			} `json:"primaries"`
		} `json:"indices"`
	}
	if err := call(ctx, http.MethodGet, "/"+idx+"/_stats/docs,store,segments", "", &st); err != nil {
		return err
	}
	p := st.Indices[idx].Primaries
	if p.Docs.Count != v.Result.Docs {
		return fmt.Errorf("%s holds %d documents, %d sent", idx, p.Docs.Count, v.Result.Docs)
	}
	v.Result.StoreBytes, v.Result.Segments = p.Store.Size, p.Segments.Count
	v.Result.BytesPerLine = float64(p.Store.Size) / float64(lines)
	if v.Kind != "raw" {
		ss, err := mapping.StreamStorage(ctx, es, v.Target)
		if err != nil {
			return err
		}
		for _, s := range ss {
			if s.Index == idx {
				v.Result.Effective = s.Effective.String()
			}
		}
	} else {
		v.Result.Effective = "index.mode standard, _source stored, codec best_compression"
	}
	var du map[string]json.RawMessage
	if err := call(ctx, http.MethodPost, "/"+idx+"/_disk_usage?run_expensive_tasks=true", "", &du); err != nil {
		return fmt.Errorf("_disk_usage: %w", err)
	}
	var d struct {
		Fields map[string]struct {
			Total    int64 `json:"total_in_bytes"`
			Inverted struct {
				Total int64 `json:"total_in_bytes"`
			} `json:"inverted_index"`
			Stored  int64 `json:"stored_fields_in_bytes"`
			DocVals int64 `json:"doc_values_in_bytes"`
			Points  int64 `json:"points_in_bytes"`
			Norms   int64 `json:"norms_in_bytes"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(du[idx], &d); err != nil {
		return fmt.Errorf("_disk_usage answer: %w", err)
	}
	var fs []field
	for name, f := range d.Fields {
		fs = append(fs, field{name, f.Total, f.Inverted.Total, f.Stored, f.DocVals, f.Points, f.Norms})
		switch name {
		case "_source", "_ignored_source", "_recovery_source":
			v.Result.SourceBytes += f.Total
		}
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].Total > fs[j].Total })
	v.Result.Fields = fs[:min(top, len(fs))]
	return nil
}

// backing is the one index behind a data stream (or the index itself).
func backing(ctx context.Context, target string) (string, error) {
	var r map[string]json.RawMessage
	if err := call(ctx, http.MethodGet, "/"+target+"/_settings?filter_path=*.settings.index.provided_name", "", &r); err != nil {
		return "", err
	}
	if len(r) != 1 {
		return "", fmt.Errorf("%s has %d indices, want 1", target, len(r))
	}
	for k := range r {
		return k, nil
	}
	return "", nil
}

func cleanup(ctx context.Context, vs []*variant) {
	for _, v := range vs {
		if v.Kind == "raw" {
			_ = call(ctx, http.MethodDelete, "/"+v.Target, "", nil)
			continue
		}
		idx, err := backing(ctx, v.Target)
		if err != nil || !strings.HasPrefix(idx, ".ds-") {
			continue
		}
		// the node cannot delete data streams: keep an empty write index
		if err := call(ctx, http.MethodPost, "/"+v.Target+"/_rollover", "", nil); err != nil {
			log.Printf("diskusage: cleanup %s: %v", v.Target, err)
			continue
		}
		if err := call(ctx, http.MethodDelete, "/"+idx, "", nil); err != nil {
			log.Printf("diskusage: cleanup %s: %v", idx, err)
		}
	}
}

func report(w io.Writer, vs []*variant, lines int64) {
	fmt.Fprintf(w, "%d lines\n\n", lines)
	fmt.Fprintf(w, "| variant | storage | effective | docs | bytes | B/line | × raw | _source etc. B/line |\n|---|---|---|---|---|---|---|---|\n")
	for _, v := range vs {
		r := v.Result
		fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %.1f | %.3f | %.1f |\n", v.Name, v.Storage, r.Effective, r.Docs, r.StoreBytes,
			r.BytesPerLine, r.RatioRaw, float64(r.SourceBytes)/float64(lines))
	}
	for _, v := range vs {
		fmt.Fprintf(w, "\n%s (%s, %.1f B/line): top fields, B/line\n\n| field | total | inverted | stored | doc values | points | norms |\n|---|---|---|---|---|---|---|\n",
			v.Name, v.Result.Index, v.Result.BytesPerLine)
		per := func(b int64) string { return strconv.FormatFloat(float64(b)/float64(lines), 'f', 2, 64) }
		for _, f := range v.Result.Fields {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", f.Name, per(f.Total), per(f.Inverted), per(f.Stored), per(f.DocVals), per(f.Points), per(f.Norms))
		}
	}
	var qs []string
	for _, v := range vs {
		for q := range v.Result.Queries {
			if !contains(qs, q) {
				qs = append(qs, q)
			}
		}
	}
	if len(qs) == 0 {
		return
	}
	sort.Strings(qs)
	fmt.Fprintf(w, "\nquery times: median took in ms (min-max; requests) and result\n\n| query |")
	for _, v := range vs {
		if v.Result.Queries != nil {
			fmt.Fprintf(w, " %s |", v.Name)
		}
	}
	fmt.Fprintf(w, "\n|---|")
	for _, v := range vs {
		if v.Result.Queries != nil {
			fmt.Fprint(w, "---|")
		}
	}
	for _, q := range qs {
		fmt.Fprintf(w, "\n| %s |", q)
		for _, v := range vs {
			if v.Result.Queries == nil {
				continue
			}
			t := v.Result.Queries[q]
			fmt.Fprintf(w, " %.0f (%.0f-%.0f; %d) %s |", t.MedianMS, t.MinMS, t.MaxMS, t.Requests, t.Result)
		}
	}
	fmt.Fprintln(w)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func call(ctx context.Context, method, path, body string, out any) error {
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return callBytes(ctx, method, path, b, out)
}

func callBytes(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		if strings.HasPrefix(path, "/_bulk") {
			req.Header.Set("Content-Type", "application/x-ndjson")
		}
	}
	if verbose {
		log.Printf("diskusage: %s %s", method, path)
	}
	res, err := es.Perform(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if res.StatusCode > 299 {
		return fmt.Errorf("%s %s: %d %.500s", method, path, res.StatusCode, rb)
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
