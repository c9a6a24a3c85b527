package faultproxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeNode answers _bulk like Elasticsearch (201 per item) and records the
// ids it received.
type fakeNode struct {
	mu  sync.Mutex
	ids []string
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	items, err := splitBulk(body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var out []string
	f.mu.Lock()
	for _, it := range items {
		f.ids = append(f.ids, it.id)
		out = append(out, `{"create":{"status":201}}`)
	}
	f.mu.Unlock()
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	fmt.Fprintf(w, `{"errors":false,"items":[%s]}`, strings.Join(out, ","))
}

func bulkBody(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "{\"create\":{\"_index\":\"x\",\"_id\":\"d%d\"}}\n{\"n\":%d}\n", i, i)
	}
	return b.String()
}

// noKeepAlive opens a connection per request, so a connection the proxy
// closed (Refuse) is never reused.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func post(t *testing.T, url, body string) (int, map[string]any, http.Header) {
	t.Helper()
	res, err := noKeepAlive.Post(url+"/_bulk?filter_path=errors,items.*.status", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(res.Body)
	json.Unmarshal(b, &m)
	return res.StatusCode, m, res.Header
}

func TestRejectItemsMerge(t *testing.T) {
	node := &fakeNode{}
	srv := httptest.NewServer(node)
	defer srv.Close()
	p, err := New(srv.URL, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.RejectItems(0.5, 429)
	status, m, h := post(t, p.URL(), bulkBody(100))
	if status != 200 || h.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("status %d header %v", status, h)
	}
	items := m["items"].([]any)
	if len(items) != 100 || m["errors"] != true {
		t.Fatalf("%d items, errors %v", len(items), m["errors"])
	}
	st := p.Stats()
	rejected := 0
	forwarded := map[string]bool{}
	for _, id := range node.ids {
		forwarded[id] = true
	}
	for i, it := range items {
		c := it.(map[string]any)["create"].(map[string]any)
		id := fmt.Sprintf("d%d", i)
		switch c["status"] {
		case 429.0:
			rejected++
			if forwarded[id] || c["_id"] != id {
				t.Errorf("item %d: rejected but forwarded, or wrong id %v", i, c["_id"])
			}
		case 201.0:
			if !forwarded[id] {
				t.Errorf("item %d: 201 but never forwarded", i)
			}
		default:
			t.Errorf("item %d: %v", i, c)
		}
	}
	if rejected != st.ItemsRejected || rejected+len(node.ids) != 100 || rejected == 0 || rejected == 100 {
		t.Fatalf("rejected %d, stats %+v, forwarded %d", rejected, st, len(node.ids))
	}
}

func TestRejectAllItemsNoForward(t *testing.T) {
	node := &fakeNode{}
	srv := httptest.NewServer(node)
	defer srv.Close()
	p, _ := New(srv.URL, 1)
	defer p.Close()
	p.RejectItems(1, 429)
	status, m, _ := post(t, p.URL(), bulkBody(3))
	if status != 200 || len(m["items"].([]any)) != 3 || len(node.ids) != 0 {
		t.Fatalf("status %d, %v, forwarded %v", status, m, node.ids)
	}
}

func TestTooLargeFailRefuse(t *testing.T) {
	node := &fakeNode{}
	srv := httptest.NewServer(node)
	defer srv.Close()
	p, _ := New(srv.URL, 1)
	defer p.Close()

	p.MaxBodyBytes(100)
	if status, _, _ := post(t, p.URL(), bulkBody(10)); status != 413 {
		t.Errorf("large body: %d", status)
	}
	if status, _, _ := post(t, p.URL(), bulkBody(1)); status != 200 {
		t.Errorf("small body: %d", status)
	}
	p.MaxBodyBytes(0)

	p.FailRequests(503)
	if status, m, h := post(t, p.URL(), bulkBody(1)); status != 503 || h.Get("X-Elastic-Product") == "" || m["status"] != 503.0 {
		t.Errorf("fail: %d %v", status, m)
	}
	p.FailRequests(0)

	if err := p.Refuse(true); err != nil {
		t.Fatal(err)
	}
	fresh := &http.Client{Transport: &http.Transport{}} // no kept-alive connection
	_, err := fresh.Post(p.URL()+"/_bulk", "application/x-ndjson", strings.NewReader(bulkBody(1)))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("refused: %v", err)
	}
	if err := p.Refuse(false); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := post(t, p.URL(), bulkBody(2)); status != 200 {
		t.Errorf("after refuse: %d", status)
	}
	st := p.Stats()
	if st.TooLarge != 1 || st.Failed != 1 || st.ItemsForwarded != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestTargetMustBeLoopback(t *testing.T) {
	if _, err := New("http://example.com:9200", 1); err == nil {
		t.Fatal("non-loopback target accepted")
	}
}
