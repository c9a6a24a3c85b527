package mapping_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/stacktest"
)

func get(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	return stacktest.ESJSON(t, method, url, body)
}

// TestInstallIntegration installs the templates on the real node (twice:
// the second run writes nothing), checks what the node reports missing
// and that a logs-exim stream would get eximship's mapping and settings.
func TestInstallIntegration(t *testing.T) {
	url := stacktest.ElasticURL(t)
	c, err := elastic.NewClient(elastic.Config{Addresses: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f, err := mapping.Detect(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Elasticsearch %s; modules %v; lacks %v", f.Version, f.Modules, f.Missing)
	if _, err := mapping.Install(ctx, c, mapping.Options{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	res, err := mapping.Install(ctx, c, mapping.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Installed) != 0 {
		t.Errorf("second install wrote %v", res.Installed)
	}
	if m, err := mapping.Missing(ctx, c, f); err != nil || len(m) != 0 {
		t.Errorf("missing after install: %v %v", m, err)
	}
	// What would a new logs-exim stream get?
	status, sim := get(t, "POST", url+"/_index_template/_simulate_index/logs-exim.main-simulated", "")
	if status != 200 {
		t.Fatalf("simulate: %d %v", status, sim)
	}
	s := fmt.Sprint(sim)
	for _, want := range []string{"ignore_malformed:true", "codec:best_compression", "dynamic:false", "ip:map[type:ip]"} {
		if !strings.Contains(s, want) {
			t.Errorf("simulated index lacks %s: %s", want, s)
		}
	}
	if f.ILM != strings.Contains(s, "lifecycle") {
		t.Errorf("ILM %t but lifecycle setting presence differs: %s", f.ILM, s)
	}
	if ov, _ := sim["overlapping"].([]any); len(ov) > 0 {
		t.Logf("overlapping templates (lower priority): %v", ov)
	}
}

// TestFixturesIndexIntegration indexes every fixture document (and the
// corpus when present) into real data streams with eximship's templates:
// Elasticsearch must accept every one, and no field may be ignored as
// malformed (ignore_malformed would otherwise hide a wrong type).
func TestFixturesIndexIntegration(t *testing.T) {
	url, s, _ := installedSink(t)
	ns := strings.ReplaceAll(stacktest.UniqueName("fx"), "-", "")
	all, sources := fixtureDocs(t, ns)
	// TestEveryEmittedFieldIsMapped checks all of the corpus offline.
	docs := quarterOfCorpus(all)
	t.Logf("%d documents %v into logs-exim.*-%s", len(docs), sources, ns)
	writeDocs(t, s, docs)
	streams := map[string]int{}
	for _, d := range docs {
		streams[d.Stream]++
	}
	total := 0
	for st, n := range streams {
		get(t, "POST", url+"/"+st+"/_refresh", "")
		_, c := get(t, "GET", url+"/"+st+"/_count", "")
		if got := int(c["count"].(float64)); got != n {
			t.Errorf("%s holds %d, want %d", st, got, n)
		}
		total += n
	}
	// Fields ignored at index time: keywords above ignore_above are
	// expected for huge values (only event.original-like text should be
	// that long); anything else means a type the mapping gets wrong.
	_, r := get(t, "POST", url+"/logs-exim.*-"+ns+"/_search", `{"size":0,"aggs":{"ignored":{"terms":{"field":"_ignored","size":100}}}}`)
	buckets := r["aggregations"].(map[string]any)["ignored"].(map[string]any)["buckets"].([]any)
	for _, b := range buckets {
		m := b.(map[string]any)
		t.Logf("_ignored: %v in %v documents", m["key"], m["doc_count"])
		// Only keyword length limits are acceptable; check the reason by
		// field type.
		if f, _ := mapping.Fields(); f[m["key"].(string)] != "keyword" {
			t.Errorf("field %v ignored (malformed) in %v documents", m["key"], m["doc_count"])
		}
	}
	t.Logf("%d documents indexed into %d streams", total, len(streams))
}

// writeDocs indexes docs in batches of 2000; a refused document fails the
// test, with the first refusals and their documents shown.
func writeDocs(t *testing.T, s *elastic.Sink, docs []shipper.Doc) {
	t.Helper()
	for i := 0; i < len(docs); i += 2000 {
		batch := docs[i:min(i+2000, len(docs))]
		if err := s.WriteBatch(context.Background(), batch); err != nil {
			var be *shipper.BatchError
			if errors.As(err, &be) {
				for _, it := range be.Items[:min(len(be.Items), 10)] {
					t.Errorf("refused: %+v\n  %s", it, trunc(batch[it.Index].Body))
				}
			}
			t.Fatalf("batch at %d: %v", i, err)
		}
	}
}

// installedSink installs the templates on the test node (as run does) and
// returns its URL, a sink writing to it (closed when the test ends) and
// what Install did.
func installedSink(t *testing.T) (string, *elastic.Sink, mapping.Result) {
	t.Helper()
	url := stacktest.ElasticURL(t)
	s, err := elastic.New(elastic.Config{Addresses: []string{url}, Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	res, err := mapping.Install(context.Background(), s.Client(), mapping.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return url, s, res
}

// quarterOfCorpus keeps every fixture document and a quarter of the
// corpus's (partition 1).
func quarterOfCorpus(all []shipper.Doc) []shipper.Doc {
	var docs []shipper.Doc
	for _, d := range all {
		if d.Pos.Partition == 0 || d.Pos.Offset%4 == 0 {
			docs = append(docs, d)
		}
	}
	return docs
}
