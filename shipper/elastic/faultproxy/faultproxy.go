// Package faultproxy is a fault-injecting reverse proxy for Elasticsearch,
// for tests: it listens on 127.0.0.1 in front of a real node and, on
// demand, answers bulk items with 429 (without forwarding them), answers
// large requests with 413, fails every request with a status, delays
// requests, or refuses connections (Elasticsearch "down"). Everything else
// is forwarded unchanged.
package faultproxy

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Stats count what the proxy did.
type Stats struct {
	Requests       int // requests received (not counting refused connections)
	BulkRequests   int // _bulk requests received
	ItemsForwarded int // bulk items forwarded to Elasticsearch
	ItemsRejected  int // bulk items answered by the proxy (RejectItems)
	TooLarge       int // requests answered 413 (MaxBodyBytes)
	Failed         int // requests answered with FailRequests' status
}

// Proxy is a running fault-injecting proxy. Its methods are safe for
// concurrent use and take effect for the next request.
type Proxy struct {
	target *url.URL
	rp     *httputil.ReverseProxy
	client *http.Client

	mu          sync.Mutex
	addr        string
	ln          net.Listener
	srv         *http.Server
	refusing    bool
	rejectRate  float64
	rejectCode  int
	maxBody     int64
	failCode    int
	delay       time.Duration
	rnd         *rand.Rand
	stats       Stats
	closed      bool
	serveErrors []error
}

// New starts a proxy on 127.0.0.1 (a free port) in front of target, e.g.
// "http://127.0.0.1:9200". seed makes item rejection reproducible.
func New(target string, seed int64) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: target: %w", err)
	}
	if u.Scheme != "http" || u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1" {
		return nil, fmt.Errorf("faultproxy: target must be http on loopback, got %s", u.Redacted())
	}
	p := &Proxy{
		target: u,
		rp:     httputil.NewSingleHostReverseProxy(u),
		client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		rnd:    rand.New(rand.NewSource(seed)),
	}
	p.rp.ErrorLog = log.New(io.Discard, "", 0) // client cancellations are expected
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	return p, nil
}

// URL is the proxy's address, to give the client instead of the node's.
func (p *Proxy) URL() string { return "http://" + p.addr }

func (p *Proxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(p.handle), ReadHeaderTimeout: 10 * time.Second}
	p.ln, p.srv = ln, srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.mu.Lock()
			p.serveErrors = append(p.serveErrors, err)
			p.mu.Unlock()
		}
	}()
}

// Refuse closes the listening socket and every open connection, so
// clients get "connection refused" (on) until Refuse(false) listens again
// on the same address.
func (p *Proxy) Refuse(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on == p.refusing || p.closed {
		return nil
	}
	if on {
		p.refusing = true
		return p.srv.Close()
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("faultproxy: listening again on %s: %w", p.addr, err)
	}
	p.refusing = false
	p.serve(ln)
	return nil
}

// RejectItems makes the proxy answer a fraction rate (0..1) of bulk items
// with status (e.g. 429) itself; those items are removed from the request
// forwarded to Elasticsearch, so they are not indexed. rate 0 turns it off.
func (p *Proxy) RejectItems(rate float64, status int) {
	p.mu.Lock()
	p.rejectRate, p.rejectCode = rate, status
	p.mu.Unlock()
}

// MaxBodyBytes makes the proxy answer 413 to requests whose body (as
// received) is larger than n bytes; 0 turns it off. It mimics
// http.max_content_length, which cannot be changed on a running node.
func (p *Proxy) MaxBodyBytes(n int64) {
	p.mu.Lock()
	p.maxBody = n
	p.mu.Unlock()
}

// FailRequests makes the proxy answer every request with status (e.g. 503
// or 429) without forwarding it; 0 turns it off.
func (p *Proxy) FailRequests(status int) {
	p.mu.Lock()
	p.failCode = status
	p.mu.Unlock()
}

// Delay holds every request for d before handling it; 0 turns it off.
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Stats returns the counters so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Close stops the proxy.
func (p *Proxy) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	if p.refusing {
		return nil
	}
	return p.srv.Close()
}

func (p *Proxy) handle(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.stats.Requests++
	delay, fail, maxBody := p.delay, p.failCode, p.maxBody
	rate, code := p.rejectRate, p.rejectCode
	p.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if fail != 0 {
		p.count(func(s *Stats) { s.Failed++ })
		writeError(w, fail, "faultproxy_injected", "request failed by faultproxy")
		return
	}
	if maxBody > 0 && r.ContentLength > maxBody {
		p.count(func(s *Stats) { s.TooLarge++ })
		// Like Elasticsearch, answer without reading the body.
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestEntityTooLarge, "faultproxy_too_large", "request body larger than "+strconv.FormatInt(maxBody, 10)+" bytes")
		return
	}
	if maxBody > 0 && r.ContentLength < 0 {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, "faultproxy_read", err.Error())
			return
		}
		if int64(len(body)) > maxBody {
			p.count(func(s *Stats) { s.TooLarge++ })
			writeError(w, http.StatusRequestEntityTooLarge, "faultproxy_too_large", "request body too large")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if isBulk(r.URL.Path) {
		p.count(func(s *Stats) { s.BulkRequests++ })
		if rate > 0 {
			p.bulkWithRejections(w, r, rate, code)
			return
		}
		if n, ok := countItemsHint(r); ok {
			p.count(func(s *Stats) { s.ItemsForwarded += n })
		}
	}
	p.rp.ServeHTTP(w, r)
}

func (p *Proxy) count(f func(*Stats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

func isBulk(path string) bool { return path == "/_bulk" || strings.HasSuffix(path, "/_bulk") }

// countItemsHint counts the items of a bulk request that is forwarded
// unchanged, buffering its body.
func countItemsHint(r *http.Request) (int, bool) {
	body, err := readBody(r)
	if err != nil {
		return 0, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Del("Content-Encoding")
	items, err := splitBulk(body)
	if err != nil {
		return 0, false
	}
	return len(items), true
}

// readBody reads the request body, decompressing gzip.
func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		rd = zr
	}
	return io.ReadAll(rd)
}

// item is one bulk operation: its lines and what the answer needs.
type item struct {
	lines     []byte // action line and source line (if any), each with '\n'
	op        string
	index, id string
}

func splitBulk(body []byte) ([]item, error) {
	var items []item
	for len(body) > 0 {
		line, rest := cutLine(body)
		if len(bytes.TrimSpace(line)) == 0 {
			body = rest
			continue
		}
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(line, &action); err != nil || len(action) != 1 {
			return nil, fmt.Errorf("bad bulk action line %q", truncate(line))
		}
		var it item
		for op, a := range action {
			it.op, it.index, it.id = op, a.Index, a.ID
		}
		n := len(line)
		if it.op != "delete" {
			src, rest2 := cutLine(rest)
			n += len(src)
			rest = rest2
		}
		it.lines = body[:n]
		items = append(items, it)
		body = rest
	}
	return items, nil
}

func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i+1], b[i+1:]
	}
	return b, nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// bulkWithRejections answers a random fraction of the items itself and
// forwards the others, then merges the answers in the original order.
func (p *Proxy) bulkWithRejections(w http.ResponseWriter, r *http.Request, rate float64, code int) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "faultproxy_read", err.Error())
		return
	}
	items, err := splitBulk(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "faultproxy_parse", err.Error())
		return
	}
	rejected := make([]bool, len(items))
	var fwd []byte
	nrej := 0
	p.mu.Lock()
	for i := range items {
		if p.rnd.Float64() < rate {
			rejected[i] = true
			nrej++
		} else {
			fwd = append(fwd, items[i].lines...)
		}
	}
	p.stats.ItemsRejected += nrej
	p.stats.ItemsForwarded += len(items) - nrej
	p.mu.Unlock()

	var upstream []json.RawMessage
	head := http.Header{}
	out := map[string]json.RawMessage{}
	if len(fwd) > 0 {
		u := *p.target
		u.Path = r.URL.Path
		u.RawQuery = r.URL.RawQuery
		req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(fwd))
		if err != nil {
			writeError(w, http.StatusInternalServerError, "faultproxy", err.Error())
			return
		}
		for k, v := range r.Header {
			switch k {
			case "Content-Length", "Content-Encoding", "Accept-Encoding", "Connection":
				continue
			}
			req.Header[k] = v
		}
		res, err := p.client.Do(req)
		if err != nil {
			writeError(w, http.StatusBadGateway, "faultproxy_upstream", err.Error())
			return
		}
		rb, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			writeError(w, http.StatusBadGateway, "faultproxy_upstream", err.Error())
			return
		}
		if res.StatusCode != http.StatusOK {
			copyHeader(w.Header(), res.Header)
			w.Header().Del("Content-Length")
			w.WriteHeader(res.StatusCode)
			w.Write(rb)
			return
		}
		head = res.Header
		if err := json.Unmarshal(rb, &out); err != nil {
			writeError(w, http.StatusBadGateway, "faultproxy_upstream", "undecodable bulk answer: "+err.Error())
			return
		}
		if err := json.Unmarshal(out["items"], &upstream); err != nil || len(upstream) != len(items)-nrej {
			writeError(w, http.StatusBadGateway, "faultproxy_upstream", fmt.Sprintf("bulk answer has %d items for %d forwarded", len(upstream), len(items)-nrej))
			return
		}
	} else {
		head.Set("X-Elastic-Product", "Elasticsearch")
		out["took"] = json.RawMessage("0")
	}
	merged := make([]json.RawMessage, 0, len(items))
	k := 0
	for i, it := range items {
		if !rejected[i] {
			merged = append(merged, upstream[k])
			k++
			continue
		}
		res := map[string]any{
			it.op: map[string]any{
				"_index": it.index, "_id": it.id, "status": code,
				"error": map[string]any{"type": "es_rejected_execution_exception", "reason": "rejected by faultproxy"},
			},
		}
		b, _ := json.Marshal(res)
		merged = append(merged, b)
	}
	mb, _ := json.Marshal(merged)
	out["items"] = mb
	if nrej > 0 {
		out["errors"] = json.RawMessage("true")
	}
	resp, _ := json.Marshal(out)
	copyHeader(w.Header(), head)
	w.Header().Del("Content-Length")
	w.Header().Del("Content-Encoding")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(resp)
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = append([]string(nil), v...)
	}
}

// writeError answers like Elasticsearch does for a failed request.
func writeError(w http.ResponseWriter, status int, typ, reason string) {
	b, _ := json.Marshal(map[string]any{
		"error":  map[string]any{"type": typ, "reason": reason},
		"status": status,
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.WriteHeader(status)
	w.Write(b)
}
