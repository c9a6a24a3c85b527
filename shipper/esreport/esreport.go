// Package esreport reads the facts of the postmaster's report
// (shipper/analysis) from Elasticsearch, and writes the per-source entity
// index eximship-sources-<namespace>.
//
// Every figure is exact: the facts are the buckets of composite
// aggregations, paged with size PageSize until a short page (never the
// approximate cardinality aggregation), and their first source is
// source.address, the keyword twin of source.ip (paging over a keyword is
// an order of magnitude faster than over an ip field; docs/PERFORMANCE.md).
// Rejections are counted in the main log's data stream, or in the reject
// log's when the main log has no document in the window, as the files
// report does: Exim writes every rejection to both.
//
// A shard failure or a timed-out search is an error, never a partial
// report.
package esreport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/eximship/eximship/shipper/analysis"
)

// Doer performs an HTTP request against Elasticsearch
// (*elasticsearch.Client is one).
type Doer interface {
	Perform(*http.Request) (*http.Response, error)
}

// Config configures Collect.
type Config struct {
	// Namespace selects the data streams logs-exim.<dataset>-<namespace>.
	// Default: "default".
	Namespace string
	// Since and Until bound @timestamp to [Since, Until). Zero is
	// unbounded.
	Since, Until time.Time
	// LocalDomains decide what a relay attempt is (analysis.Relay).
	LocalDomains []string
	// PageSize is the size of a composite aggregation page. Default:
	// 10000 (Elasticsearch's search.max_buckets default is 65536).
	PageSize int
}

// DefaultPageSize is Config.PageSize's default.
const DefaultPageSize = 10000

func (c Config) withDefaults() Config {
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	return c
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	c = c.withDefaults()
	if strings.ContainsAny(c.Namespace, "*,/\\ \"<>|?#:") || strings.ToLower(c.Namespace) != c.Namespace {
		return fmt.Errorf("esreport: namespace %q: must be a lower-case data stream namespace", c.Namespace)
	}
	if c.PageSize < 1 || c.PageSize > 65536 {
		return fmt.Errorf("esreport: page size %d: want 1 to 65536", c.PageSize)
	}
	if !c.Since.IsZero() && !c.Until.IsZero() && !c.Since.Before(c.Until) {
		return errors.New("esreport: since is not before until")
	}
	for _, d := range c.LocalDomains {
		if strings.ContainsAny(d, "*?\\") {
			return fmt.Errorf("esreport: local domain %q: must not contain wildcards", d)
		}
	}
	return nil
}

// Stats describes the work Elasticsearch did for Collect.
type Stats struct {
	// Requests is the number of search and count requests.
	Requests int
	// Took is the sum of Elasticsearch's "took" over the searches.
	Took time.Duration
	// Buckets is the number of composite buckets read.
	Buckets int
}

// Collect reads the report's facts for cfg.
func Collect(ctx context.Context, es Doer, cfg Config) (analysis.Facts, Stats, error) {
	var st Stats
	if err := cfg.Validate(); err != nil {
		return analysis.Facts{}, st, err
	}
	cfg = cfg.withDefaults()
	q := &querier{es: es, cfg: cfg, stats: &st}
	var facts analysis.Facts
	index := ""
	for _, ds := range []string{"exim.main", "exim.reject"} {
		ix := "logs-" + ds + "-" + cfg.Namespace
		n, err := q.count(ctx, ix)
		if err != nil {
			return facts, st, err
		}
		if n > 0 {
			index, facts.Dataset = ix, ds
			break
		}
	}
	if index == "" {
		return facts, st, nil
	}
	filter := q.filter()
	chunks, err := q.ipChunks(ctx, index, filter)
	if err != nil {
		return facts, st, fmt.Errorf("esreport: source addresses: %w", err)
	}
	for _, c := range []struct {
		what    string
		sources []map[string]any
		aggs    map[string]any
		add     func(*bucket) error
		whole   bool // one composite over everything (few buckets)
	}{
		{"attempts", attemptSources, attemptAggs, func(b *bucket) error {
			a, err := b.attempt()
			facts.Attempts = append(facts.Attempts, a)
			return err
		}, false},
		{"sessions", sessionSources, nil, func(b *bucket) error {
			s, err := b.session()
			facts.Sessions = append(facts.Sessions, s)
			return err
		}, false},
		{"attempts per slot", slotSources, nil, func(b *bucket) error {
			s, err := b.slot()
			facts.Slots = append(facts.Slots, s)
			return err
		}, true},
	} {
		parts := chunks
		if c.whole {
			parts = []any{nil}
		}
		for _, chunk := range parts {
			query := filter
			if chunk != nil {
				query = map[string]any{"bool": map[string]any{"filter": []any{filter, chunk}}}
			}
			if err := q.composite(ctx, index, query, c.sources, c.aggs, c.add); err != nil {
				return facts, st, fmt.Errorf("esreport: %s: %w", c.what, err)
			}
		}
	}
	return facts, st, nil
}

// ipChunks splits the attempts by source address into disjoint chunks of
// at most PageSize documents each (a source with more is a chunk of its
// own), from an exact composite over source.address alone. A composite
// aggregation scans every document of its query for every page; run per
// chunk, each page scans only its chunk, so the work grows with the
// documents instead of documents times pages. The chunks are key ranges
// of source.address in the composite's own (byte) order, plus one for
// documents without it; together they hold every document once. With at
// most PageSize documents in all it returns one nil chunk (no split).
func (q *querier) ipChunks(ctx context.Context, index string, filter any) ([]any, error) {
	type ipCount struct {
		ip string // "" for the missing bucket
		n  int64
	}
	var ips []ipCount
	var total int64
	err := q.composite(ctx, index, filter, []map[string]any{terms("ip", "source.address")}, nil, func(b *bucket) error {
		ips = append(ips, ipCount{str(b.Key.IP), *b.DocCount})
		total += *b.DocCount
		return nil
	})
	if err != nil || total <= int64(q.cfg.PageSize) {
		return []any{nil}, err
	}
	var chunks []any
	var first, last string
	var n int64
	flush := func() {
		if n > 0 {
			chunks = append(chunks, map[string]any{"range": map[string]any{"source.address": map[string]any{"gte": first, "lte": last}}})
		}
		n = 0
	}
	for _, c := range ips {
		if c.ip == "" {
			chunks = append(chunks, map[string]any{"bool": map[string]any{"must_not": []any{map[string]any{"exists": map[string]any{"field": "source.address"}}}}})
			continue
		}
		if n > 0 && n+c.n > int64(q.cfg.PageSize) {
			flush()
		}
		if n == 0 {
			first = c.ip
		}
		last = c.ip
		n += c.n
	}
	flush()
	return chunks, nil
}

// The composite sources. The names are the keys bucket reads.
var (
	attemptSources = []map[string]any{
		terms("ip", "source.address"),
		terms("from", "email.from.address"),
		terms("null", "exim.sender.null"),
		terms("to", "email.to.address"),
		terms("sdom", "exim.sender.domain"),
		terms("rdom", "exim.rcpt.domain"),
		terms("admin", "exim.sender.admin"),
	}
	attemptAggs = map[string]any{
		"first": map[string]any{"min": map[string]any{"field": "@timestamp"}},
		"last":  map[string]any{"max": map[string]any{"field": "@timestamp"}},
	}
	sessionSources = []map[string]any{
		terms("ip", "source.address"),
		terms("sid", "exim.session.id"),
		terms("inf", "exim.session.inferred"),
	}
	slotSources = []map[string]any{
		{"slot": map[string]any{"date_histogram": map[string]any{
			"field": "@timestamp", "fixed_interval": fmt.Sprintf("%dm", analysis.SlotMillis/60000), "time_zone": "UTC",
		}}},
	}
)

func terms(name, field string) map[string]any {
	return map[string]any{name: map[string]any{"terms": map[string]any{"field": field, "missing_bucket": true}}}
}

type querier struct {
	es    Doer
	cfg   Config
	stats *Stats
}

// filter is the query of relay attempts in the window (analysis.Relay).
func (q *querier) filter() map[string]any {
	filters := []any{
		map[string]any{"term": map[string]any{"event.action": "rcpt-rejected"}},
	}
	if r := q.timeRange(); r != nil {
		filters = append(filters, r)
	}
	relay := analysis.NewRelay(q.cfg.LocalDomains)
	if len(relay.Local) == 0 {
		filters = append(filters, map[string]any{"match_phrase": map[string]any{"exim.reason.text": analysis.RelayPhrase}})
		return map[string]any{"bool": map[string]any{"filter": filters}}
	}
	filters = append(filters, map[string]any{"exists": map[string]any{"field": "exim.rcpt.domain"}})
	not := []any{map[string]any{"terms": map[string]any{"exim.rcpt.domain": relay.Local}}}
	for _, d := range relay.Local {
		not = append(not, map[string]any{"wildcard": map[string]any{"exim.rcpt.domain": map[string]any{"value": "*." + d}}})
	}
	return map[string]any{"bool": map[string]any{"filter": filters, "must_not": not}}
}

func (q *querier) timeRange() map[string]any {
	r := map[string]any{"format": "epoch_millis"}
	if !q.cfg.Since.IsZero() {
		r["gte"] = q.cfg.Since.UnixMilli()
	}
	if !q.cfg.Until.IsZero() {
		r["lt"] = q.cfg.Until.UnixMilli()
	}
	if len(r) == 1 {
		return nil
	}
	return map[string]any{"range": map[string]any{"@timestamp": r}}
}

// count returns the number of documents of index in the window (0 when
// the index does not exist).
func (q *querier) count(ctx context.Context, index string) (int64, error) {
	body := map[string]any{}
	if r := q.timeRange(); r != nil {
		body["query"] = r
	}
	var res struct {
		Count  *int64 `json:"count"`
		Shards shards `json:"_shards"`
	}
	path := "/" + url.PathEscape(index) + "/_count?ignore_unavailable=true&allow_no_indices=true"
	if err := q.do(ctx, path, body, &res); err != nil {
		return 0, fmt.Errorf("esreport: count %s: %w", index, err)
	}
	if err := res.Shards.check(); err != nil {
		return 0, fmt.Errorf("esreport: count %s: %w", index, err)
	}
	if res.Count == nil {
		return 0, fmt.Errorf("esreport: count %s: the answer has no count", index)
	}
	return *res.Count, nil
}

// composite pages through a composite aggregation of index.
func (q *querier) composite(ctx context.Context, index string, query any, sources []map[string]any, aggs map[string]any,
	each func(*bucket) error) error {
	var after json.RawMessage
	for {
		comp := map[string]any{"size": q.cfg.PageSize, "sources": sources}
		if after != nil {
			comp["after"] = after
		}
		agg := map[string]any{"composite": comp}
		if aggs != nil {
			agg["aggs"] = aggs
		}
		body := map[string]any{
			"size": 0, "track_total_hits": false, "query": query,
			"aggs": map[string]any{"c": agg},
		}
		path := "/" + url.PathEscape(index) + "/_search?request_cache=false"
		var raw json.RawMessage
		if err := q.do(ctx, path, body, &raw); err != nil {
			return err
		}
		page, err := DecodePage(raw)
		if err != nil {
			return err
		}
		q.stats.Took += page.Took
		q.stats.Buckets += len(page.Buckets)
		for i := range page.Buckets {
			if err := each(&page.Buckets[i]); err != nil {
				return err
			}
		}
		if len(page.Buckets) < q.cfg.PageSize || page.AfterKey == nil {
			return nil
		}
		after = page.AfterKey
	}
}

// do POSTs body as JSON to path and decodes the 200 answer into out.
func (q *querier) do(ctx context.Context, path string, body any, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	q.stats.Requests++
	data, err := post(ctx, q.es, path, "application/json", b)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// post sends body to path and returns the answer's body, or an error
// with Elasticsearch's reason when the status is not 200.
func post(ctx context.Context, es Doer, path, contentType string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	res, err := es.Perform(req)
	if err != nil {
		return nil, &UnreachableError{Err: err}
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<30))
	if err != nil {
		return nil, &UnreachableError{Err: fmt.Errorf("read answer: %w", err)}
	}
	if res.StatusCode != http.StatusOK {
		return nil, &HTTPError{Status: res.StatusCode, Reason: errorText(data)}
	}
	return data, nil
}

// UnreachableError is a request that got no answer: connection refused,
// DNS, TLS, timeout.
type UnreachableError struct{ Err error }

func (e *UnreachableError) Error() string { return "Elasticsearch unreachable: " + e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// HTTPError is an answer other than 200.
type HTTPError struct {
	Status int
	Reason string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Reason) }

// Refused reports whether Elasticsearch refused the credentials or their
// privileges (401, 403).
func (e *HTTPError) Refused() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// errorText extracts Elasticsearch's error type and reason from an error
// answer, or returns the start of the body.
func errorText(body []byte) string {
	var e struct {
		Error struct {
			Type      string `json:"type"`
			Reason    string `json:"reason"`
			RootCause []struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"root_cause"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Type != "" {
		s := e.Error.Type + ": " + e.Error.Reason
		if len(e.Error.RootCause) > 0 && e.Error.RootCause[0].Reason != e.Error.Reason {
			s += " (caused by " + e.Error.RootCause[0].Type + ": " + e.Error.RootCause[0].Reason + ")"
		}
		return s
	}
	if len(body) > 512 {
		body = body[:512]
	}
	return strings.TrimSpace(string(body))
}
