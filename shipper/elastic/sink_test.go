package elastic

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper"
)

// fakeES is an http.RoundTripper that answers like Elasticsearch: handler
// gets the decoded request body and returns status and response body.
type fakeES struct {
	mu       sync.Mutex
	requests []recorded
	handler  func(n int, r *http.Request, body []byte) (int, string, error)
	noHeader bool // omit X-Elastic-Product
}

type recorded struct {
	method, path, query string
	header              http.Header
	body                []byte
}

func (f *fakeES) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		rd := io.Reader(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				return nil, err
			}
			rd = zr
		}
		var err error
		body, err = io.ReadAll(rd)
		if err != nil {
			return nil, err
		}
		r.Body.Close()
	}
	f.mu.Lock()
	n := len(f.requests)
	f.requests = append(f.requests, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
	f.mu.Unlock()
	status, resp, err := f.handler(n, r, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if !f.noHeader {
		h.Set("X-Elastic-Product", "Elasticsearch")
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(resp)), Request: r}, nil
}

func (f *fakeES) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// actions returns the _id of every action line of a bulk body.
func actions(t testing.TB, body []byte) []string {
	t.Helper()
	lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
	if len(lines)%2 != 0 {
		t.Fatalf("bulk body has %d lines (odd):\n%s", len(lines), body)
	}
	var ids []string
	for i := 0; i < len(lines); i += 2 {
		var a struct {
			Create struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"create"`
		}
		if err := json.Unmarshal(lines[i], &a); err != nil {
			t.Fatalf("action line %q: %v", lines[i], err)
		}
		if !json.Valid(lines[i+1]) {
			t.Fatalf("source line %q is not JSON", lines[i+1])
		}
		ids = append(ids, a.Create.ID)
	}
	return ids
}

// respond builds a bulk response with the given item statuses (filtered
// as with filter_path=errors,items.*.error,items.*.status).
func respond(statuses ...int) string {
	var b strings.Builder
	errs := false
	for _, s := range statuses {
		if !statusOK(s) || s == 409 {
			errs = true
		}
	}
	fmt.Fprintf(&b, `{"errors":%t,"items":[`, errs)
	for i, s := range statuses {
		if i > 0 {
			b.WriteByte(',')
		}
		switch {
		case s == 409:
			fmt.Fprintf(&b, `{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"[%d]: version conflict, document already exists (current version [1])"}}}`, i)
		case s == 429:
			b.WriteString(`{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}}`)
		case s == 400:
			b.WriteString(`{"create":{"status":400,"error":{"type":"document_parsing_exception","reason":"[1:40] failed to parse field [source.port] of type [long] in document with id 'x'. Preview of field's value: 'abc'","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"abc\""}}}}`)
		case s >= 500:
			fmt.Fprintf(&b, `{"create":{"status":%d,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}}`, s)
		case s >= 300:
			fmt.Fprintf(&b, `{"create":{"status":%d,"error":{"type":"some_exception","reason":"status %d"}}}`, s, s)
		default:
			fmt.Fprintf(&b, `{"create":{"status":%d}}`, s)
		}
	}
	b.WriteString("]}")
	return b.String()
}

func newTestSink(t testing.TB, f *fakeES, mod func(*Config)) *Sink {
	t.Helper()
	cfg := Config{Addresses: []string{"http://es.invalid:9200"}}
	if f != nil {
		cfg.Transport = f
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func testDocs(n int) []shipper.Doc {
	docs := make([]shipper.Doc, n)
	for i := range docs {
		pos := shipper.Position{Topic: "exim", Partition: 1, Offset: int64(100 + i)}
		docs[i] = shipper.Doc{
			ID:       shipper.DocID(pos, 0),
			Stream:   "logs-exim.main-default",
			Body:     []byte(fmt.Sprintf(`{"@timestamp":"2026-01-02T03:04:05.000Z","n":%d}`, i)),
			Pos:      pos,
			Original: []byte(fmt.Sprintf("2026-01-02 03:04:05 line %d", i)),
		}
	}
	return docs
}

func batchError(t *testing.T, err error) *shipper.BatchError {
	t.Helper()
	var be *shipper.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("want *shipper.BatchError, got %T: %v", err, err)
	}
	return be
}

func TestWriteBatchAllOK(t *testing.T) {
	f := &fakeES{handler: func(_ int, _ *http.Request, body []byte) (int, string, error) {
		n := bytes.Count(body, []byte("\n")) / 2
		st := make([]int, n)
		for i := range st {
			st[i] = 201
		}
		return 200, respond(st...), nil
	}}
	s := newTestSink(t, f, nil)
	docs := testDocs(3)
	if err := s.WriteBatch(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	if f.count() != 1 {
		t.Fatalf("%d requests, want 1", f.count())
	}
	r := f.requests[0]
	if r.method != "POST" || r.path != "/_bulk" || r.query != "filter_path=errors,items.*.error,items.*.status" {
		t.Errorf("request %s %s?%s", r.method, r.path, r.query)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q", ct)
	}
	want := `{"create":{"_index":"logs-exim.main-default","_id":"` + docs[0].ID + `"}}` + "\n" + string(docs[0].Body) + "\n" +
		`{"create":{"_index":"logs-exim.main-default","_id":"` + docs[1].ID + `"}}` + "\n" + string(docs[1].Body) + "\n" +
		`{"create":{"_index":"logs-exim.main-default","_id":"` + docs[2].ID + `"}}` + "\n" + string(docs[2].Body) + "\n"
	if string(r.body) != want {
		t.Errorf("bulk body:\n%s\nwant:\n%s", r.body, want)
	}
}

func TestWriteBatchEmpty(t *testing.T) {
	f := &fakeES{handler: func(int, *http.Request, []byte) (int, string, error) { return 500, "", nil }}
	s := newTestSink(t, f, nil)
	if err := s.WriteBatch(context.Background(), nil); err != nil || f.count() != 0 {
		t.Fatalf("err %v, %d requests", err, f.count())
	}
}

func TestWriteBatchMixedItems(t *testing.T) {
	statuses := []int{201, 409, 429, 400, 503, 200, 404, 500}
	f := &fakeES{handler: func(int, *http.Request, []byte) (int, string, error) {
		return 200, respond(statuses...), nil
	}}
	s := newTestSink(t, f, nil)
	be := batchError(t, s.WriteBatch(context.Background(), testDocs(len(statuses))))
	type want struct {
		index, status int
		retry         bool
		reason        string
	}
	wants := []want{
		{2, 429, true, "es_rejected_execution_exception: "},
		{3, 400, false, "document_parsing_exception: [1:40] failed to parse field [source.port] of type [long] in document with id 'x'. Preview of field's value: 'abc' (caused by: illegal_argument_exception: For input string: \"abc\")"},
		{4, 503, true, "unavailable_shards_exception: "},
		{6, 404, false, "some_exception: status 404"},
		{7, 500, true, "unavailable_shards_exception: "},
	}
	if len(be.Items) != len(wants) {
		t.Fatalf("items %+v, want %d", be.Items, len(wants))
	}
	for i, w := range wants {
		it := be.Items[i]
		if it.Index != w.index || it.Status != w.status || it.Retry != w.retry || !strings.HasPrefix(it.Reason, w.reason) {
			t.Errorf("item %d = %+v, want %+v", i, it, w)
		}
	}
}

func TestWriteBatchChunksByFlushBytes(t *testing.T) {
	// Fail the second document of every request: the reported indexes must
	// be relative to the batch, not to the request.
	var sizes []int
	f := &fakeES{handler: func(_ int, _ *http.Request, body []byte) (int, string, error) {
		sizes = append(sizes, len(body))
		n := bytes.Count(body, []byte("\n")) / 2
		st := make([]int, n)
		for i := range st {
			st[i] = 201
		}
		if n > 1 {
			st[1] = 400
		}
		return 200, respond(st...), nil
	}}
	docs := testDocs(40)
	one := len(appendCreate(nil, docs[0].Stream, docs[0].ID, docs[0].Body))
	s := newTestSink(t, f, func(c *Config) { c.FlushBytes = 1024 })
	be := batchError(t, s.WriteBatch(context.Background(), docs))
	perReq := 1024 / one
	if want := (40 + perReq - 1) / perReq; f.count() != want {
		t.Fatalf("%d requests, want %d (doc %d bytes)", f.count(), want, one)
	}
	var seen []string
	for i, r := range f.requests {
		if sizes[i] > 1024 {
			t.Errorf("request %d has %d bytes > FlushBytes", i, sizes[i])
		}
		seen = append(seen, actions(t, r.body)...)
	}
	for i, id := range seen {
		if id != docs[i].ID {
			t.Fatalf("document %d sent as %s, want %s (order)", i, id, docs[i].ID)
		}
	}
	for k, it := range be.Items {
		if want := k*perReq + 1; it.Index != want || it.Retry {
			t.Errorf("item %d = %+v, want index %d non-retry", k, it, want)
		}
	}
}

func TestWriteBatchOversizedDocumentAlone(t *testing.T) {
	f := &fakeES{handler: func(_ int, _ *http.Request, body []byte) (int, string, error) {
		n := len(actions(t, body))
		st := make([]int, n)
		for i := range st {
			st[i] = 201
		}
		return 200, respond(st...), nil
	}}
	docs := testDocs(3)
	docs[1].Body = []byte(`{"big":"` + strings.Repeat("x", 5000) + `"}`)
	s := newTestSink(t, f, func(c *Config) { c.FlushBytes = 1024 })
	if err := s.WriteBatch(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	if f.count() != 3 {
		t.Fatalf("%d requests, want 3 (the big document alone)", f.count())
	}
	if ids := actions(t, f.requests[1].body); len(ids) != 1 || ids[0] != docs[1].ID {
		t.Errorf("second request holds %v", ids)
	}
}

func Test413Splits(t *testing.T) {
	const limit = 600
	f := &fakeES{handler: func(_ int, _ *http.Request, body []byte) (int, string, error) {
		if len(body) > limit {
			return 413, "", nil
		}
		n := len(actions(t, body))
		st := make([]int, n)
		for i := range st {
			st[i] = 201
		}
		return 200, respond(st...), nil
	}}
	docs := testDocs(10)
	docs[7].Body = []byte(`{"big":"` + strings.Repeat("y", 800) + `"}`)
	s := newTestSink(t, f, nil)
	be := batchError(t, s.WriteBatch(context.Background(), docs))
	if len(be.Items) != 1 || be.Items[0].Index != 7 || be.Items[0].Status != 413 || be.Items[0].Retry {
		t.Fatalf("items %+v, want only document 7 as non-retry 413", be.Items)
	}
	// Every other document was sent exactly once in a request that fitted.
	got := map[string]int{}
	for _, r := range f.requests {
		if len(r.body) > limit {
			continue
		}
		for _, id := range actions(t, r.body) {
			got[id]++
		}
	}
	for i, d := range docs {
		if want := map[bool]int{true: 0, false: 1}[i == 7]; got[d.ID] != want {
			t.Errorf("document %d accepted %d times, want %d", i, got[d.ID], want)
		}
	}
	// 10 → 5+5; the half with doc 7 → 2+3 → ... : bounded by 2n-1.
	if f.count() > 2*len(docs)-1 {
		t.Errorf("%d requests for %d documents", f.count(), len(docs))
	}
}

func TestWholeRequestFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		err       error
		temporary bool
	}{
		{name: "429", status: 429, body: `{"error":{"type":"es_rejected_execution_exception"},"status":429}`, temporary: true},
		{name: "503", status: 503, body: `{"error":"unavailable"}`, temporary: true},
		{name: "502", status: 502, body: `bad gateway`, temporary: true},
		{name: "401", status: 401, body: `{"error":"unauthorized"}`},
		{name: "400", status: 400, body: `{"error":"bad request"}`},
		{name: "garbage-200", status: 200, body: `<html>hello</html>`},
		{name: "truncated-200", status: 200, body: `{"errors":false,"items":[{"create":{"status":201}}`},
		{name: "count-mismatch", status: 200, body: respond(201, 201)},
		{name: "no-errors-field", status: 200, body: `{"items":[{"create":{"status":201}},{"create":{"status":201}},{"create":{"status":201}}]}`},
		{name: "no-status", status: 200, body: `{"errors":true,"items":[{"create":{}},{"create":{"status":201}},{"create":{"status":201}}]}`},
		{name: "connection-refused", err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeES{handler: func(int, *http.Request, []byte) (int, string, error) {
				return tc.status, tc.body, tc.err
			}}
			s := newTestSink(t, f, nil)
			err := s.WriteBatch(context.Background(), testDocs(3))
			if err == nil {
				t.Fatal("no error")
			}
			var be *shipper.BatchError
			if errors.As(err, &be) {
				t.Fatalf("got a BatchError, want a whole-batch error: %v", err)
			}
			var re *RequestError
			if tc.status >= 300 {
				if !errors.As(err, &re) || re.Status != tc.status || re.Temporary() != tc.temporary {
					t.Fatalf("err %v, want RequestError %d temporary=%t", err, tc.status, tc.temporary)
				}
			}
			if f.count() != 1 {
				t.Errorf("%d requests: the sink must not retry by itself", f.count())
			}
			t.Log(err)
		})
	}
}

func TestLaterRequestFailsAfterEarlierSucceeded(t *testing.T) {
	f := &fakeES{handler: func(n int, _ *http.Request, body []byte) (int, string, error) {
		if n >= 1 {
			return 503, "unavailable", nil
		}
		k := len(actions(t, body))
		st := make([]int, k)
		for i := range st {
			st[i] = 201
		}
		st[0] = 400
		return 200, respond(st...), nil
	}}
	docs := testDocs(30)
	s := newTestSink(t, f, func(c *Config) { c.FlushBytes = 1024 })
	be := batchError(t, s.WriteBatch(context.Background(), docs))
	if f.count() != 2 {
		t.Fatalf("%d requests, want 2 (stop after the failed one)", f.count())
	}
	first := len(actions(t, f.requests[0].body))
	if be.Items[0].Index != 0 || be.Items[0].Retry {
		t.Errorf("first item %+v, want 0 non-retry", be.Items[0])
	}
	rest := be.Items[1:]
	if len(rest) != len(docs)-first {
		t.Fatalf("%d retry items, want %d", len(rest), len(docs)-first)
	}
	for k, it := range rest {
		if it.Index != first+k || !it.Retry || !strings.Contains(it.Reason, "503") {
			t.Errorf("item %+v, want index %d retryable with the request error", it, first+k)
		}
	}
}

func TestInvalidBodies(t *testing.T) {
	f := &fakeES{handler: func(_ int, _ *http.Request, body []byte) (int, string, error) {
		k := len(actions(t, body))
		st := make([]int, k)
		for i := range st {
			st[i] = 201
		}
		return 200, respond(st...), nil
	}}
	docs := testDocs(5)
	docs[1].Body = nil
	docs[2].Body = []byte("{\n  \"a\": 1,\n  \"b\": \"x\"\n}\n")
	docs[3].Body = []byte("{\"a\":\n")
	s := newTestSink(t, f, nil)
	be := batchError(t, s.WriteBatch(context.Background(), docs))
	if len(be.Items) != 2 || be.Items[0].Index != 1 || be.Items[1].Index != 3 || be.Items[0].Retry || be.Items[1].Retry {
		t.Fatalf("items %+v, want 1 and 3 non-retry", be.Items)
	}
	ids := actions(t, f.requests[0].body)
	if len(ids) != 3 || ids[1] != docs[2].ID {
		t.Fatalf("sent %v", ids)
	}
	if !bytes.Contains(f.requests[0].body, []byte(`{"a":1,"b":"x"}`)) {
		t.Errorf("multi-line body not compacted:\n%s", f.requests[0].body)
	}
}

func TestAllInvalidSendsNothing(t *testing.T) {
	f := &fakeES{handler: func(int, *http.Request, []byte) (int, string, error) { return 500, "", nil }}
	docs := testDocs(2)
	docs[0].Body, docs[1].Body = []byte("  "), []byte("[1]")
	s := newTestSink(t, f, nil)
	be := batchError(t, s.WriteBatch(context.Background(), docs))
	if len(be.Items) != 2 || f.count() != 0 {
		t.Fatalf("items %+v, %d requests", be.Items, f.count())
	}
}

func TestProductCheck(t *testing.T) {
	f := &fakeES{noHeader: true, handler: func(int, *http.Request, []byte) (int, string, error) {
		return 200, respond(201), nil
	}}
	s := newTestSink(t, f, nil)
	err := s.WriteBatch(context.Background(), testDocs(1))
	if err == nil || !strings.Contains(err.Error(), "not Elasticsearch") {
		t.Fatalf("err %v, want the product check to fail", err)
	}
}

func TestTimeout(t *testing.T) {
	f := &fakeES{handler: func(_ int, r *http.Request, _ []byte) (int, string, error) {
		<-r.Context().Done()
		return 0, "", r.Context().Err()
	}}
	s := newTestSink(t, f, func(c *Config) { c.Timeout = 50 * time.Millisecond })
	start := time.Now()
	err := s.WriteBatch(context.Background(), testDocs(2))
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestCompression(t *testing.T) {
	var enc string
	f := &fakeES{handler: func(_ int, r *http.Request, body []byte) (int, string, error) {
		enc = r.Header.Get("Content-Encoding")
		return 200, respond(make201(len(actions(t, body)))...), nil
	}}
	s := newTestSink(t, f, func(c *Config) { c.CompressRequestBody = true })
	docs := testDocs(4)
	if err := s.WriteBatch(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	if enc != "gzip" {
		t.Fatalf("Content-Encoding %q", enc)
	}
	if ids := actions(t, f.requests[0].body); len(ids) != 4 {
		t.Fatalf("decompressed body has %d docs", len(ids))
	}
}

func make201(n int) []int {
	st := make([]int, n)
	for i := range st {
		st[i] = 201
	}
	return st
}

func TestAuthHeaders(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("c2VjcmV0OmtleQ==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fakeES{handler: func(int, *http.Request, []byte) (int, string, error) { return 200, respond(201), nil }}
	s := newTestSink(t, f, func(c *Config) { c.APIKeyFile = keyFile })
	if err := s.WriteBatch(context.Background(), testDocs(1)); err != nil {
		t.Fatal(err)
	}
	if h := f.requests[0].header.Get("Authorization"); h != "APIKey c2VjcmV0OmtleQ==" {
		t.Errorf("Authorization %q", h)
	}
	f2 := &fakeES{handler: f.handler}
	s2 := newTestSink(t, f2, func(c *Config) { c.Username, c.Password = "elastic", "pw" })
	if err := s2.WriteBatch(context.Background(), testDocs(1)); err != nil {
		t.Fatal(err)
	}
	if u, p, ok := (&http.Request{Header: f2.requests[0].header}).BasicAuth(); !ok || u != "elastic" || p != "pw" {
		t.Errorf("basic auth %q %q %t", u, p, ok)
	}
}

func TestWriteDeadLetters(t *testing.T) {
	var bodies [][]byte
	status := 201
	f := &fakeES{handler: func(_ int, _ *http.Request, body []byte) (int, string, error) {
		bodies = append(bodies, body)
		return 200, respond(status, 409), nil
	}}
	fixed := time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.UTC)
	s := newTestSink(t, f, func(c *Config) {
		c.DeadLetterIndex = "eximship-deadletter-test"
		c.now = func() time.Time { return fixed }
	})
	docs := testDocs(2)
	docs[1].Original = []byte("bad \xff\xfe bytes")
	dls := []shipper.DeadLetter{
		{Doc: docs[0], Status: 400, Reason: "document_parsing_exception: failed to parse field [source.port]"},
		{Doc: docs[1], Status: 413, Reason: "no type here"},
	}
	if err := s.WriteDeadLetters(context.Background(), dls); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(bodies[0]), []byte("\n"))
	if len(lines) != 4 {
		t.Fatalf("%d lines", len(lines))
	}
	if want := `{"create":{"_index":"eximship-deadletter-test","_id":"` + docs[0].ID + `"}}`; string(lines[0]) != want {
		t.Errorf("action %s, want %s", lines[0], want)
	}
	var got map[string]any
	if err := json.Unmarshal(lines[1], &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"@timestamp": "2026-03-04T05:06:07.008Z",
		"original":   "2026-01-02 03:04:05 line 0",
		"document":   string(docs[0].Body),
		"error":      map[string]any{"type": "document_parsing_exception", "reason": "failed to parse field [source.port]", "status": 400.0},
		"input":      map[string]any{"topic": "exim", "partition": 1.0, "offset": 100.0, "entry": 0.0},
		"doc_id":     docs[0].ID,
		"stream":     "logs-exim.main-default",
		"event":      map[string]any{"kind": "pipeline_error"},
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("dead letter\n got %s\nwant %s", gj, wj)
	}
	var second DeadLetterDoc
	if err := json.Unmarshal(lines[3], &second); err != nil {
		t.Fatal(err)
	}
	if second.Error.Type != "" || second.Error.Reason != "no type here" || second.OriginalBase64 != "YmFkIP/+IGJ5dGVz" {
		t.Errorf("second dead letter %+v", second)
	}

	// A dead letter that cannot be stored is an error.
	status = 429
	err := s.WriteDeadLetters(context.Background(), dls)
	if be := batchError(t, err); len(be.Items) != 1 || !be.Items[0].Retry {
		t.Fatalf("err %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		bad string
	}{
		{cfg: Config{}},
		{cfg: Config{Addresses: []string{"https://u:p@es:9200"}, FlushBytes: 2048, Timeout: time.Second}},
		{cfg: Config{Addresses: []string{"es:9200"}}, bad: "scheme"},
		{cfg: Config{Addresses: []string{"http://"}}, bad: "no host"},
		{cfg: Config{Addresses: []string{"http://u:secret@es:9200/%zz"}}, bad: "not a valid URL"},
		{cfg: Config{FlushBytes: 10}, bad: "flush_bytes"},
		{cfg: Config{Timeout: -1}, bad: "timeout"},
		{cfg: Config{Password: "a", PasswordFile: "b"}, bad: "password"},
		{cfg: Config{CertFile: "a"}, bad: "cert_file"},
		{cfg: Config{CompressionLevel: 12}, bad: "compression_level"},
		{cfg: Config{DeadLetterIndex: "Dead"}, bad: "dead_letter_index"},
	} {
		err := tc.cfg.Validate()
		if (err != nil) != (tc.bad != "") || err != nil && !strings.Contains(err.Error(), tc.bad) {
			t.Errorf("%+v: err %v, want %q", tc.cfg, err, tc.bad)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestConfigLogValueHidesSecrets(t *testing.T) {
	var b bytes.Buffer
	l := slogJSON(&b)
	l.Info("cfg", "elastic", Config{Username: "u", Password: "hunter2", APIKey: "sekrit"})
	if strings.Contains(b.String(), "hunter2") || strings.Contains(b.String(), "sekrit") || !strings.Contains(b.String(), "REDACTED") {
		t.Fatalf("log: %s", b.String())
	}
}

func TestSplitReason(t *testing.T) {
	for _, tc := range [][3]string{
		{"mapper_parsing_exception: failed", "mapper_parsing_exception", "failed"},
		{"request_failed: elasticsearch answered 503: x", "request_failed", "elasticsearch answered 503: x"},
		{"Some text: here", "", "Some text: here"},
		{"plain", "", "plain"},
	} {
		typ, r := splitReason(tc[0])
		if typ != tc[1] || r != tc[2] {
			t.Errorf("splitReason(%q) = %q, %q", tc[0], typ, r)
		}
	}
}
