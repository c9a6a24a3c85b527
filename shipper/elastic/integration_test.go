package elastic_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/elastic/faultproxy"
	"github.com/eximship/eximship/shipper/stacktest"
)

// setupES returns the node's URL after installing eximship's templates,
// and a namespace unique to the test (data streams cannot be deleted on
// the test node, which lacks the _data_stream API).
func setupES(t *testing.T) (url, ns string) {
	t.Helper()
	url = stacktest.ElasticURL(t)
	c, err := elastic.NewClient(elastic.Config{Addresses: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := mapping.Install(ctx, c, mapping.Options{})
	if err != nil {
		t.Fatalf("installing templates: %v", err)
	}
	t.Logf("templates: installed %v, skipped %v; ES %s; lacks %v", res.Installed, res.Skipped, res.Features.Version, res.Features.Missing)
	ns = strings.ReplaceAll(stacktest.UniqueName("it"), "-", "")
	return url, ns
}

// esDo sends a request straight to the node (not through the sink) and
// fails t unless Elasticsearch answers with a JSON object below 300.
func esDo(t *testing.T, method, url string, body string) map[string]any {
	t.Helper()
	code, m := stacktest.ESJSON(t, method, url, body)
	if code >= 300 || m == nil {
		t.Fatalf("%s %s: %d %v", method, url, code, m)
	}
	return m
}

func count(t *testing.T, url, index string) int {
	t.Helper()
	esDo(t, "POST", url+"/"+index+"/_refresh", "")
	m := esDo(t, "GET", url+"/"+index+"/_count", "")
	return int(m["count"].(float64))
}

// eximDocs builds n realistic documents for logs-exim.main-<ns>.
func eximDocs(ns, topic string, n int) []shipper.Doc {
	docs := make([]shipper.Doc, n)
	stream := "logs-exim.main-" + ns
	for i := range docs {
		pos := shipper.Position{Topic: topic, Partition: i % 3, Offset: int64(i)}
		line := fmt.Sprintf("2026-11-25 10:%02d:%02d 1sDcEe-000000004BC-%04d <= alice%d@example.com H=mx.example.net [192.0.2.%d]:%d P=esmtps S=%d", i/60%60, i%60, i%10000, i, i%250+1, 1024+i, 1000+i)
		body := fmt.Sprintf(`{"@timestamp":"2026-11-25T10:%02d:%02d.000Z","event":{"action":"message-arrival","category":["network"],"type":["allowed"],"outcome":"success","kind":"event","module":"exim","dataset":"exim.main","original":%q},"source":{"ip":"192.0.2.%d","port":%d,"domain":"mx.example.net"},"email":{"from":{"address":["alice%d@example.com"]},"local_id":"1sDcEe-000000004BC-%04d"},"exim":{"flag":"<=","protocol":"esmtps","size":%d},"data_stream":{"type":"logs","dataset":"exim.main","namespace":%q}}`,
			i/60%60, i%60, line, i%250+1, 1024+i, i, i%10000, 1000+i, ns)
		docs[i] = shipper.Doc{ID: shipper.DocID(pos, 0), Stream: stream, Body: []byte(body), Pos: pos, Original: []byte(line)}
	}
	return docs
}

func newSink(t *testing.T, cfg elastic.Config) *elastic.Sink {
	t.Helper()
	s, err := elastic.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// TestWriteBatchIntegration: documents go into a data stream auto-created
// on the first write (from eximship's template); writing them again is
// answered 409 per item and counts as success; nothing is duplicated.
func TestWriteBatchIntegration(t *testing.T) {
	url, ns := setupES(t)
	s := newSink(t, elastic.Config{Addresses: []string{url}, FlushBytes: 64 << 10})
	docs := eximDocs(ns, "wb", 1000)
	ctx := context.Background()
	if err := s.WriteBatch(ctx, docs); err != nil {
		t.Fatalf("first write: %v", err)
	}
	stream := docs[0].Stream
	if n := count(t, url, stream); n != len(docs) {
		t.Fatalf("count %d, want %d", n, len(docs))
	}
	// Again, all ids exist: every item is a 409, which counts as written.
	if err := s.WriteBatch(ctx, docs); err != nil {
		t.Fatalf("second write: %v", err)
	}
	if n := count(t, url, stream); n != len(docs) {
		t.Fatalf("count after re-write %d, want %d", n, len(docs))
	}
	// The target is a data stream (backing index .ds-...) with the ECS
	// mapping of eximship's template.
	m := esDo(t, "GET", url+"/"+stream+"/_mapping/field/source.ip,source.port,event.original,email.from.address", "")
	if len(m) != 1 {
		t.Fatalf("stream resolves to %d indices", len(m))
	}
	for idx, v := range m {
		if !strings.HasPrefix(idx, ".ds-"+stream+"-") {
			t.Errorf("backing index %s: not a data stream", idx)
		}
		got := fmt.Sprint(v)
		for _, want := range []string{"ip:map[type:ip]", "port:map[index:false type:long]", "original:map[doc_values:false index:false type:keyword]", "address:map[ignore_above:1024 type:keyword]"} {
			if !strings.Contains(got, want) {
				t.Errorf("mapping lacks %q: %s", want, got)
			}
		}
	}
	// Compressed request bodies are accepted too.
	zs := newSink(t, elastic.Config{Addresses: []string{url}, CompressRequestBody: true})
	zdocs := eximDocs(ns, "wbgzip", 300)
	if err := zs.WriteBatch(ctx, zdocs); err != nil {
		t.Fatalf("gzip write: %v", err)
	}
	if n := count(t, url, stream); n != len(docs)+len(zdocs) {
		t.Fatalf("count after gzip write %d, want %d", n, len(docs)+len(zdocs))
	}
	// Content round trip of one document.
	r := esDo(t, "GET", url+"/"+stream+"/_search", `{"query":{"ids":{"values":["`+docs[7].ID+`"]}}}`)
	hits := r["hits"].(map[string]any)["hits"].([]any)
	if len(hits) != 1 {
		t.Fatalf("%d hits for %s", len(hits), docs[7].ID)
	}
	src, _ := json.Marshal(hits[0].(map[string]any)["_source"])
	var want any
	json.Unmarshal(docs[7].Body, &want)
	wb, _ := json.Marshal(want)
	if !bytes.Equal(src, wb) {
		t.Errorf("stored\n%s\nwant\n%s", src, wb)
	}
}

// TestMappingBreakToDeadLetterIntegration: documents that break the mapping
// come back as non-retryable item errors; WriteDeadLetters stores them with
// their original line, and storing them again is idempotent.
func TestMappingBreakToDeadLetterIntegration(t *testing.T) {
	url, ns := setupES(t)
	dlIndex := "eximship-deadletter-" + ns
	s := newSink(t, elastic.Config{Addresses: []string{url}, DeadLetterIndex: dlIndex})
	docs := eximDocs(ns, "dl", 10)
	// @timestamp that is not a date; an object where a number is mapped
	// (ignore_malformed covers a wrong scalar, not a wrong structure); a
	// value where the mapping has an object.
	docs[2].Body = []byte(`{"@timestamp":"yesterday","event":{"action":"delivery"}}`)
	docs[5].Body = bytes.Replace(docs[5].Body, []byte(`"port":1029`), []byte(`"port":{"n":1029}`), 1)
	docs[8].Body = bytes.Replace(docs[8].Body, []byte(`"email":{`), []byte(`"email":"x","e":{`), 1)
	ctx := context.Background()
	err := s.WriteBatch(ctx, docs)
	var be *shipper.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("want BatchError, got %v", err)
	}
	var dls []shipper.DeadLetter
	for k, it := range be.Items {
		want := []int{2, 5, 8}[min(k, 2)]
		if it.Index != want || it.Retry || it.Status != 400 || !strings.HasPrefix(it.Reason, "document_parsing_exception: ") {
			t.Errorf("item %+v, want index %d non-retry 400 document_parsing_exception", it, want)
		}
		dls = append(dls, shipper.DeadLetter{Doc: docs[it.Index], Status: it.Status, Reason: it.Reason})
	}
	if len(be.Items) != 3 {
		t.Fatalf("%d items failed, want 3: %v", len(be.Items), be)
	}
	if n := count(t, url, docs[0].Stream); n != 7 {
		t.Errorf("stream holds %d, want 7", n)
	}
	if err := s.WriteDeadLetters(ctx, dls); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteDeadLetters(ctx, dls); err != nil {
		t.Fatalf("second store (409s): %v", err)
	}
	if n := count(t, url, dlIndex); n != 3 {
		t.Fatalf("dead letters stored %d, want 3", n)
	}
	// Search a dead letter back by a word of its original line.
	word := fmt.Sprintf("alice%d", 5)
	r := esDo(t, "GET", url+"/"+dlIndex+"/_search", `{"query":{"match":{"original":"`+word+`@example.com"}}}`)
	hits := r["hits"].(map[string]any)["hits"].([]any)
	if len(hits) == 0 {
		t.Fatal("dead letter not found by its original text")
	}
	src := hits[0].(map[string]any)["_source"].(map[string]any)
	if src["original"] != string(docs[5].Original) || src["doc_id"] != docs[5].ID || src["document"] != string(docs[5].Body) {
		t.Errorf("dead letter %v", src)
	}
	e := src["error"].(map[string]any)
	in := src["input"].(map[string]any)
	if e["type"] != "document_parsing_exception" || e["status"] != 400.0 || in["topic"] != "dl" || in["offset"] != 5.0 {
		t.Errorf("dead letter error/input %v %v", e, in)
	}
	// The dead-letter stream took its own template (dynamic false: the
	// rejected document's fields are not mapped).
	m := esDo(t, "GET", url+"/"+dlIndex+"/_mapping", "")
	for idx, v := range m {
		got := fmt.Sprint(v)
		if !strings.HasPrefix(idx, ".ds-") || !strings.Contains(got, "dynamic:false") || strings.Contains(got, "source:") {
			t.Errorf("dead-letter mapping of %s: %s", idx, got)
		}
	}
}

// TestItemLevel429Integration: a proxy answers a third of the bulk items
// with 429 (and does not forward them). WriteBatch reports exactly those
// as retryable; re-sending the failed ones until none fail indexes every
// document exactly once.
func TestItemLevel429Integration(t *testing.T) {
	url, ns := setupES(t)
	p, err := faultproxy.New(url, 42)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.RejectItems(0.33, 429)
	s := newSink(t, elastic.Config{Addresses: []string{p.URL()}, FlushBytes: 32 << 10})
	docs := eximDocs(ns, "r429", 2000)
	ctx := context.Background()
	pending := docs
	rounds, retried := 0, 0
	for len(pending) > 0 {
		rounds++
		if rounds > 40 {
			t.Fatalf("still %d pending after 40 rounds", len(pending))
		}
		before := p.Stats().ItemsRejected
		err := s.WriteBatch(ctx, pending)
		injected := p.Stats().ItemsRejected - before
		if err == nil {
			if injected != 0 {
				t.Fatalf("round %d: nil error but %d items rejected", rounds, injected)
			}
			break
		}
		var be *shipper.BatchError
		if !errors.As(err, &be) {
			t.Fatalf("round %d: %v", rounds, err)
		}
		if len(be.Items) != injected {
			t.Fatalf("round %d: %d failed items, proxy rejected %d", rounds, len(be.Items), injected)
		}
		next := make([]shipper.Doc, 0, len(be.Items))
		for _, it := range be.Items {
			if !it.Retry || it.Status != 429 {
				t.Fatalf("item %+v not a retryable 429", it)
			}
			next = append(next, pending[it.Index])
		}
		retried += len(next)
		pending = next
	}
	t.Logf("%d rounds, %d item retries", rounds, retried)
	if retried == 0 {
		t.Fatal("the proxy rejected nothing: the test proved nothing")
	}
	if n := count(t, url, docs[0].Stream); n != len(docs) {
		t.Fatalf("count %d, want %d", n, len(docs))
	}
}

// TestRequestTooLargeSplitsIntegration: a proxy answers 413 above 8 KB
// (standing in for http.max_content_length, a static node setting); the
// sink splits requests down to what fits and everything is indexed; a
// single document above the limit is a non-retryable 413.
func TestRequestTooLargeSplitsIntegration(t *testing.T) {
	url, ns := setupES(t)
	p, err := faultproxy.New(url, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.MaxBodyBytes(8 << 10)
	s := newSink(t, elastic.Config{Addresses: []string{p.URL()}, FlushBytes: 1 << 20})
	docs := eximDocs(ns, "r413", 300)
	big := len(docs) - 1
	docs[big].Body = bytes.Replace(docs[big].Body, []byte(`"exim":{`), []byte(`"message":"`+strings.Repeat("z", 10<<10)+`","exim":{`), 1)
	err = s.WriteBatch(context.Background(), docs)
	var be *shipper.BatchError
	if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != big || be.Items[0].Status != 413 || be.Items[0].Retry {
		t.Fatalf("want only the big document as non-retry 413, got %v", err)
	}
	st := p.Stats()
	if st.TooLarge == 0 {
		t.Fatal("no 413 was answered")
	}
	t.Logf("proxy: %+v", st)
	if n := count(t, url, docs[0].Stream); n != len(docs)-1 {
		t.Fatalf("count %d, want %d", n, len(docs)-1)
	}
}

// TestWholeRequestFailuresIntegration: Elasticsearch unreachable or
// answering 503/429 to the whole request gives a plain (retry everything)
// error, and the same sink works again when the node is back.
func TestWholeRequestFailuresIntegration(t *testing.T) {
	url, ns := setupES(t)
	p, err := faultproxy.New(url, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := newSink(t, elastic.Config{Addresses: []string{p.URL()}, Timeout: 5 * time.Second})
	docs := eximDocs(ns, "down", 50)
	ctx := context.Background()
	// Create the data stream first: on a loaded machine that alone can
	// take longer than the timeout used below.
	warm := newSink(t, elastic.Config{Addresses: []string{url}})
	if err := warm.WriteBatch(ctx, docs[:1]); err != nil {
		t.Fatal(err)
	}
	check := func(what string, wantStatus int) {
		t.Helper()
		err := s.WriteBatch(ctx, docs)
		var be *shipper.BatchError
		if err == nil || errors.As(err, &be) {
			t.Fatalf("%s: want a whole-batch error, got %v", what, err)
		}
		var re *elastic.RequestError
		if wantStatus != 0 && (!errors.As(err, &re) || re.Status != wantStatus || !re.Temporary()) {
			t.Fatalf("%s: want RequestError %d, got %v", what, wantStatus, err)
		}
		t.Logf("%s: %v", what, err)
	}
	p.FailRequests(503)
	check("503", 503)
	p.FailRequests(429)
	check("429", 429)
	p.FailRequests(0)
	if err := p.Refuse(true); err != nil {
		t.Fatal(err)
	}
	check("refused", 0)
	// The first failure may be a write on a connection the proxy just
	// closed; with no connection left, the next is a refused dial.
	err = s.WriteBatch(ctx, docs)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("refused again: want connection refused, got %v", err)
	}
	p.Delay(time.Minute)
	if err := p.Refuse(false); err != nil {
		t.Fatal(err)
	}
	check("timeout", 0)
	p.Delay(0)
	if err := s.WriteBatch(ctx, docs); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if n := count(t, url, docs[0].Stream); n != len(docs) {
		t.Fatalf("count %d, want %d", n, len(docs))
	}
}
