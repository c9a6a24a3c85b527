package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper/elastic"
)

// esNode is a thin HTTP client for the checks (the product's own client is
// what is under test).
type esNode struct {
	url  string
	http *http.Client
	// user and password, and the CA of an https node (secured stack)
	user, password, caFile string
}

func newESNode(u string) *esNode {
	return &esNode{url: strings.TrimRight(u, "/"), http: &http.Client{Timeout: 60 * time.Second}}
}

// newSecureESNode is an esNode for a node with security on: basic auth as
// user, https verified against caFile.
func newSecureESNode(t testing.TB, u, caFile, user, password string) *esNode {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &esNode{url: strings.TrimRight(u, "/"), http: &http.Client{Timeout: 60 * time.Second, Transport: tr},
		user: user, password: password, caFile: caFile}
}

// client is the product's client for the node, as the admin.
func (e *esNode) client(t testing.TB) *elasticsearch.Client {
	t.Helper()
	client, err := elastic.NewClient(elastic.Config{Addresses: []string{e.url}, Username: e.user, Password: e.password, CAFile: e.caFile})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// do sends a request; body may be nil, a string, []byte or a value to
// encode as JSON.
// installTemplates installs eximship's index templates on the node, as
// eximship run and a production cluster would have them.
func (e *esNode) installTemplates(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := mapping.Install(ctx, e.client(t), mapping.Options{}); err != nil {
		t.Fatalf("install the index templates on %s: %v", e.url, err)
	}
}

func (e *esNode) do(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
		if bytes.Count(b, []byte{'\n'}) > 1 {
			ctype = "application/x-ndjson"
		}
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if e.user != "" {
		req.SetBasicAuth(e.user, e.password)
	}
	res, err := e.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, out, err
}

// must sends a request and fails t unless the status is 2xx; it decodes
// the answer into v when v is not nil.
func (e *esNode) must(t testing.TB, method, path string, body, v any) {
	t.Helper()
	st, out, err := e.do(method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if st < 200 || st > 299 {
		t.Fatalf("%s %s: status %d: %s", method, path, st, snippet(out))
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, snippet(out), err)
		}
	}
}

func snippet(b []byte) string {
	if len(b) > 800 {
		return string(b[:800]) + "..."
	}
	return string(b)
}

// count refreshes the indices matching pattern and counts their documents
// (0 when none exists yet). It waits while a new index's shard is not
// started yet (503).
func (e *esNode) count(t testing.TB, pattern string) int64 {
	t.Helper()
	for attempt := 0; ; attempt++ {
		n, st, out, err := e.tryCount(pattern)
		if err == nil && st == 200 {
			return n
		}
		if err != nil || st != 503 || attempt >= 100 {
			t.Fatalf("count %s: %v %d %s", pattern, err, st, snippet(out))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (e *esNode) tryCount(pattern string) (int64, int, []byte, error) {
	st, out, err := e.do("POST", "/"+pattern+"/_refresh?ignore_unavailable=true&allow_no_indices=true", nil)
	if err != nil || st != 200 {
		return 0, st, out, err
	}
	st, out, err = e.do("GET", "/"+pattern+"/_count?ignore_unavailable=true&allow_no_indices=true", nil)
	if err != nil || st != 200 {
		return 0, st, out, err
	}
	var r struct {
		Count int64 `json:"count"`
	}
	err = json.Unmarshal(out, &r)
	return r.Count, st, out, err
}

// waitCount waits until pattern holds want documents, failing t if it
// holds more, or on timeout, or when alive reports an error.
func (e *esNode) waitCount(t testing.TB, pattern string, want int64, timeout time.Duration, alive func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var n int64
	for time.Now().Before(deadline) {
		n = e.count(t, pattern)
		if n == want {
			return
		}
		if n > want {
			t.Fatalf("%s holds %d documents, more than the %d expected", pattern, n, want)
		}
		if alive != nil {
			if err := alive(); err != nil {
				t.Fatalf("waiting for %d documents in %s (have %d): %v", want, pattern, n, err)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s holds %d documents after %v, want %d", pattern, n, timeout, want)
}

// hit is one document read back.
type hit struct {
	Index  string          `json:"_index"`
	ID     string          `json:"_id"`
	Source json.RawMessage `json:"_source"`
}

// scan calls fn for every document of pattern (scroll, in index order).
func (e *esNode) scan(t testing.TB, pattern string, source bool, fn func(h hit)) {
	t.Helper()
	e.count(t, pattern) // refresh
	q := map[string]any{"size": 5000, "sort": []string{"_doc"}, "_source": source}
	var r struct {
		ScrollID string `json:"_scroll_id"`
		Hits     struct {
			Hits []hit `json:"hits"`
		} `json:"hits"`
	}
	e.must(t, "POST", "/"+pattern+"/_search?scroll=2m&ignore_unavailable=true&allow_no_indices=true", q, &r)
	for len(r.Hits.Hits) > 0 {
		for _, h := range r.Hits.Hits {
			fn(h)
		}
		id := r.ScrollID
		r.Hits.Hits = nil
		e.must(t, "POST", "/_search/scroll", map[string]any{"scroll": "2m", "scroll_id": id}, &r)
	}
	if r.ScrollID != "" {
		e.do("DELETE", "/_search/scroll", map[string]any{"scroll_id": r.ScrollID})
	}
}

// ids returns how many times each _id occurs in pattern.
func (e *esNode) ids(t testing.TB, pattern string) map[string]int {
	t.Helper()
	out := map[string]int{}
	e.scan(t, pattern, false, func(h hit) { out[h.ID]++ })
	return out
}

// checkExactlyOnce checks that pattern holds exactly the expected ids, each
// once.
func (e *esNode) checkExactlyOnce(t testing.TB, pattern string, want map[string]bool) {
	t.Helper()
	if n := e.count(t, pattern); n != int64(len(want)) {
		t.Errorf("%s: _count %d, want %d", pattern, n, len(want))
	}
	got := e.ids(t, pattern)
	dups, extra, missing := 0, 0, 0
	var examples []string
	for id, n := range got {
		if n > 1 {
			dups++
			examples = append(examples, fmt.Sprintf("%s x%d", id, n))
		}
		if !want[id] {
			extra++
			examples = append(examples, "unexpected "+id)
		}
	}
	for id := range want {
		if got[id] == 0 {
			missing++
			if missing <= 5 {
				examples = append(examples, "missing "+id)
			}
		}
	}
	if dups+extra+missing > 0 {
		if len(examples) > 10 {
			examples = examples[:10]
		}
		t.Errorf("%s: %d ids duplicated, %d unexpected, %d missing (of %d): %v", pattern, dups, extra, missing, len(want), examples)
	}
}

// cleanup deletes what matches the patterns: plain indices, and the
// documents of data streams. This node's distribution has no _data_stream
// API, so a data stream cannot be deleted: it is rolled over and its old
// backing indices deleted, which leaves an empty stream.
func (e *esNode) cleanup(t testing.TB, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		var r struct {
			Indices []struct {
				Name       string   `json:"name"`
				DataStream string   `json:"data_stream"`
				Attributes []string `json:"attributes"`
			} `json:"indices"`
			DataStreams []struct {
				Name           string   `json:"name"`
				BackingIndices []string `json:"backing_indices"`
			} `json:"data_streams"`
		}
		st, out, err := e.do("GET", "/_resolve/index/"+url.PathEscape(p), nil)
		if err == nil && st == 404 {
			continue
		}
		if err != nil || st != 200 {
			t.Logf("cleanup: resolve %s: %v %d %s", p, err, st, snippet(out))
			continue
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Logf("cleanup: resolve %s: %v", p, err)
			continue
		}
		for _, ix := range r.Indices {
			if ix.DataStream != "" || strings.HasPrefix(ix.Name, ".ds-") {
				continue
			}
			if st, out, err := e.do("DELETE", "/"+ix.Name, nil); err != nil || st != 200 {
				t.Logf("cleanup: delete index %s: %v %d %s", ix.Name, err, st, snippet(out))
			}
		}
		for _, ds := range r.DataStreams {
			if st, out, err := e.do("POST", "/"+ds.Name+"/_rollover", nil); err != nil || st != 200 {
				t.Logf("cleanup: roll over %s: %v %d %s", ds.Name, err, st, snippet(out))
				continue
			}
			for _, b := range ds.BackingIndices {
				if st, out, err := e.do("DELETE", "/"+b, nil); err != nil || st != 200 {
					t.Logf("cleanup: delete %s: %v %d %s", b, err, st, snippet(out))
				}
			}
		}
	}
}
