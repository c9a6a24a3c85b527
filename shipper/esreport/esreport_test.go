package esreport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/analysis"
)

const page1 = `{"took":12,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},
"aggregations":{"c":{"after_key":{"ip":"127.0.0.20","from":null,"null":true,"to":"v@gmail.example","sdom":null,"rdom":"gmail.example","admin":null},
"buckets":[
{"key":{"ip":"127.0.0.20","from":"root@example.org","null":null,"to":"v@gmail.example","sdom":"example.org","rdom":"gmail.example","admin":true},"doc_count":2,
 "first":{"value":1.795628701E12,"value_as_string":"2026-11-25T17:45:01.000Z"},"last":{"value":1.79562870225E12}},
{"key":{"ip":"127.0.0.20","from":null,"null":true,"to":"v@gmail.example","sdom":null,"rdom":"gmail.example","admin":null},"doc_count":1,
 "first":{"value":1795628701000},"last":{"value":1795628701000}}]}}}`

func TestDecodePage(t *testing.T) {
	p, err := DecodePage([]byte(page1))
	if err != nil {
		t.Fatal(err)
	}
	if p.Took != 12*time.Millisecond || p.AfterKey == nil || len(p.Buckets) != 2 {
		t.Fatalf("page %+v", p)
	}
	a, err := p.Buckets[0].attempt()
	if err != nil {
		t.Fatal(err)
	}
	want := analysis.Attempt{SourceIP: "127.0.0.20", Sender: "root@example.org", Recipient: "v@gmail.example", SenderDomain: "example.org",
		RecipientDomain: "gmail.example", SenderAdmin: true, Count: 2, First: 1795628701000, Last: 1795628702250}
	if a != want {
		t.Errorf("attempt %+v, want %+v", a, want)
	}
	b, err := p.Buckets[1].attempt()
	if err != nil || !b.NullSender || b.Sender != "" || b.SenderAdmin {
		t.Errorf("null-sender bucket %+v %v", b, err)
	}

	last := `{"took":1,"timed_out":false,"_shards":{"total":1,"failed":0},"aggregations":{"c":{"buckets":[]}}}`
	if p, err := DecodePage([]byte(last)); err != nil || p.AfterKey != nil || len(p.Buckets) != 0 {
		t.Errorf("last page: %+v %v", p, err)
	}
	sess := `{"took":1,"_shards":{"total":1,"failed":0},"aggregations":{"c":{"buckets":[{"key":{"ip":"::1","sid":"mx:1","inf":false},"doc_count":3},{"key":{"ip":"::1","sid":null,"inf":null},"doc_count":4}]}}}`
	p, err = DecodePage([]byte(sess))
	if err != nil {
		t.Fatal(err)
	}
	s0, _ := p.Buckets[0].session()
	s1, _ := p.Buckets[1].session()
	if s0 != (analysis.Session{SourceIP: "::1", ID: "mx:1", RCPTs: 3}) || s1 != (analysis.Session{SourceIP: "::1", RCPTs: 4}) {
		t.Errorf("sessions %+v %+v", s0, s1)
	}
	slot := `{"took":1,"_shards":{"total":1,"failed":0},"aggregations":{"c":{"buckets":[{"key":{"slot":1795628700000},"doc_count":3}]}}}`
	p, _ = DecodePage([]byte(slot))
	if s, err := p.Buckets[0].slot(); err != nil || s != (analysis.Slot{Start: 1795628700000, Attempts: 3}) {
		t.Errorf("slot %+v %v", s, err)
	}
}

func TestDecodePageRefusesPartialAnswers(t *testing.T) {
	for name, body := range map[string]string{
		"timed out":      `{"took":1,"timed_out":true,"_shards":{"total":1,"failed":0},"aggregations":{"c":{"buckets":[]}}}`,
		"shard failed":   `{"took":1,"_shards":{"total":2,"failed":1,"failures":[{"reason":{"type":"x","reason":"boom"}}]},"aggregations":{"c":{"buckets":[]}}}`,
		"no aggregation": `{"took":1,"_shards":{"total":1,"failed":0}}`,
		"no doc_count":   `{"took":1,"_shards":{"total":1,"failed":0},"aggregations":{"c":{"buckets":[{"key":{"ip":"a"}}]}}}`,
		"no key":         `{"took":1,"_shards":{"total":1,"failed":0},"aggregations":{"c":{"buckets":[{"doc_count":1}]}}}`,
		"not JSON":       `<html>`,
	} {
		if _, err := DecodePage([]byte(body)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for _, key := range []string{`{"ip":1}`, `{"null":"maybe"}`, `{"slot":"x"}`} {
		if _, err := DecodePage([]byte(`{"took":1,"_shards":{"total":1,"failed":0},"aggregations":{"c":{"buckets":[{"key":` + key + `,"doc_count":1}]}}}`)); err == nil {
			t.Errorf("key %s of the wrong type: no error", key)
		}
	}
	p, _ := DecodePage([]byte(`{"took":1,"_shards":{"total":1,"failed":0},"aggregations":{"c":{"buckets":[{"key":{"ip":"a"},"doc_count":1}]}}}`))
	if _, err := p.Buckets[0].attempt(); err == nil {
		t.Error("an attempt bucket without first/last: no error")
	}
}

func FuzzDecodePage(f *testing.F) {
	f.Add([]byte(page1))
	f.Add([]byte(`{"took":1,"_shards":{"total":1,"failed":0},"aggregations":{"c":{"buckets":[{"key":{"slot":1795628700000},"doc_count":3}]}}}`))
	f.Add([]byte(`{"took":1,"_shards":{"total":1,"failed":0},"aggregations":{"c":{"buckets":[{"key":{"ip":"::1","sid":null,"inf":true},"doc_count":4}]}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := DecodePage(body)
		if err != nil {
			return
		}
		// Whatever decodes, every bucket reads as a row or errors; no panic,
		// and counts are never negative.
		for i := range p.Buckets {
			b := &p.Buckets[i]
			if a, err := b.attempt(); err == nil && a.Count < 0 {
				t.Fatalf("negative count %d", a.Count)
			}
			_, _ = b.session()
			_, _ = b.slot()
		}
	})
}

// fakeES answers _count and _search with canned pages per kind of
// composite (by its sources: "ip" alone, "attempts", "sessions", "slots"),
// recording the requests.
type fakeES struct {
	counts map[string]int64
	pages  map[string][]string
	bodies []string
	paths  []string
	kinds  []string
}

func kindOf(body string) string {
	switch {
	case strings.Contains(body, `{"from":`):
		return "attempts"
	case strings.Contains(body, `{"sid":`):
		return "sessions"
	case strings.Contains(body, `{"slot":`):
		return "slots"
	}
	return "ip"
}

func (f *fakeES) Perform(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	f.bodies = append(f.bodies, string(b))
	f.paths = append(f.paths, r.URL.Path)
	body := `{}`
	switch {
	case strings.HasSuffix(r.URL.Path, "/_count"):
		ix := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/_count")
		body = `{"count":` + jsonInt(f.counts[ix]) + `,"_shards":{"total":1,"failed":0}}`
		f.kinds = append(f.kinds, "count")
	case strings.HasSuffix(r.URL.Path, "/_search"):
		k := kindOf(string(b))
		f.kinds = append(f.kinds, k)
		body = `{"took":1,"_shards":{"total":1,"failed":0},"aggregations":{"c":{"buckets":[]}}}`
		if p := f.pages[k]; len(p) > 0 {
			body, f.pages[k] = p[0], p[1:]
		}
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}, nil
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func ipPage(took int, counts ...any) string {
	var bs []string
	for i := 0; i < len(counts); i += 2 {
		k, _ := json.Marshal(counts[i])
		bs = append(bs, fmt.Sprintf(`{"key":{"ip":%s},"doc_count":%d}`, k, counts[i+1]))
	}
	return fmt.Sprintf(`{"took":%d,"_shards":{"total":1,"failed":0},"aggregations":{"c":{"buckets":[%s]}}}`, took, strings.Join(bs, ","))
}

func TestCollectDatasetAndPaging(t *testing.T) {
	// The main log is empty in the window: the reject log counts. Three
	// attempts from two addresses fit one page of 3: no split; with a
	// page size of 2 the full first page is followed by a request with
	// its after_key, and the short second page ends the paging.
	attempts2 := `{"took":3,"_shards":{"total":1,"failed":0},"aggregations":{"c":{"buckets":[{"key":{"ip":"::1","from":"a@b.test","null":null,"to":"x@y.test","sdom":"b.test","rdom":"y.test","admin":false},"doc_count":1,"first":{"value":5},"last":{"value":6}}]}}}`
	es := &fakeES{counts: map[string]int64{"logs-exim.main-ns": 0, "logs-exim.reject-ns": 9},
		pages: map[string][]string{"ip": {ipPage(2, "127.0.0.20", 2, "::1", 1)}, "attempts": {page1, attempts2}}}
	since := time.UnixMilli(1000)
	until := time.UnixMilli(2000)
	f, st, err := Collect(context.Background(), es, Config{Namespace: "ns", Since: since, Until: until, LocalDomains: []string{"example.org"}, PageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if f.Dataset != "exim.reject" || len(f.Attempts) != 2 || st.Took != (2+12+1+1)*time.Millisecond {
		t.Errorf("facts %+v stats %+v", f, st)
	}
	if got := strings.Join(es.kinds, " "); got != "count count ip attempts sessions slots" {
		t.Errorf("requests %s", got)
	}
	for i, p := range es.paths {
		if strings.HasSuffix(p, "/_search") && p != "/logs-exim.reject-ns/_search" {
			t.Errorf("search %d on %s", i, p)
		}
	}
	q := es.bodies[3]
	for _, want := range []string{`"event.action":"rcpt-rejected"`, `"gte":1000`, `"lt":2000`, `"must_not"`, `"exim.rcpt.domain":["example.org"]`,
		`"value":"*.example.org"`, `"field":"source.address"`, `"missing_bucket":true`} {
		if !strings.Contains(q, want) {
			t.Errorf("attempts query lacks %s:\n%s", want, q)
		}
	}
	if strings.Contains(q, `"range":{"source.address"`) {
		t.Errorf("3 documents, page size 3: split anyway:\n%s", q)
	}

	// Page size 2: the full page is followed by one with its after_key.
	es = &fakeES{counts: map[string]int64{"logs-exim.main-ns": 5},
		pages: map[string][]string{"ip": {ipPage(1, "127.0.0.20", 2)}, "attempts": {page1, attempts2}}}
	if f, _, err = Collect(context.Background(), es, Config{Namespace: "ns", PageSize: 2}); err != nil {
		t.Fatal(err)
	}
	if len(f.Attempts) != 3 || !strings.Contains(es.bodies[3], `"after":{"ip":"127.0.0.20"`) || strings.Contains(es.bodies[2], `"after"`) {
		t.Errorf("paging: %d attempts; requests %v\n%s", len(f.Attempts), es.kinds, strings.Join(es.bodies, "\n"))
	}

	// More documents than a page: one chunk per run of addresses holding
	// at most a page (a heavy address alone), and one for documents
	// without an address; each composite runs per chunk, the slots whole.
	es = &fakeES{counts: map[string]int64{"logs-exim.main-ns": 50},
		pages: map[string][]string{"ip": {ipPage(1, nil, 1, "10.0.0.1", 4, "10.0.0.2", 5, "10.0.0.3", 20, "10.0.0.4", 1)}}}
	if _, _, err = Collect(context.Background(), es, Config{Namespace: "ns", PageSize: 10}); err != nil {
		t.Fatal(err)
	}
	var chunks []string
	for i, k := range es.kinds {
		if k == "attempts" {
			b := es.bodies[i]
			switch {
			case strings.Contains(b, `"must_not":[{"exists":{"field":"source.address"}}]`):
				chunks = append(chunks, "none")
			case strings.Contains(b, `"range":{"source.address"`):
				j := strings.Index(b, `"range":{"source.address"`)
				chunks = append(chunks, b[j+len(`"range":{"source.address":`):strings.Index(b[j:], "}}")+j+1])
			default:
				chunks = append(chunks, "whole")
			}
		}
	}
	want := []string{"none", `{"gte":"10.0.0.1","lte":"10.0.0.2"}`, `{"gte":"10.0.0.3","lte":"10.0.0.3"}`, `{"gte":"10.0.0.4","lte":"10.0.0.4"}`}
	if strings.Join(chunks, " ") != strings.Join(want, " ") {
		t.Errorf("chunks %q, want %q", chunks, want)
	}
	if n := strings.Count(strings.Join(es.kinds, " "), "sessions"); n != 4 {
		t.Errorf("%d sessions composites, want one per chunk (4)", n)
	}
	if n := strings.Count(strings.Join(es.kinds, " "), "slots"); n != 1 {
		t.Errorf("%d slot composites, want 1", n)
	}

	// Without local domains, the reason decides.
	es = &fakeES{counts: map[string]int64{"logs-exim.main-ns": 1}}
	if _, _, err := Collect(context.Background(), es, Config{Namespace: "ns"}); err != nil {
		t.Fatal(err)
	}
	if q := es.bodies[1]; !strings.Contains(q, `"match_phrase":{"exim.reason.text":"relay not permitted"}`) || strings.Contains(q, "must_not") || strings.Contains(q, "range") {
		t.Errorf("query without local domains: %s", q)
	}
	// Nothing at all: no search.
	es = &fakeES{counts: map[string]int64{}}
	if f, _, err := Collect(context.Background(), es, Config{Namespace: "ns"}); err != nil || f.Dataset != "" || len(es.paths) != 2 {
		t.Errorf("empty namespace: %+v %v %v", f, err, es.paths)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{Namespace: "A"}, {Namespace: "a,b"}, {Namespace: "*"}, {PageSize: 70000}, {PageSize: -1},
		{LocalDomains: []string{"*.x"}}, {Since: time.UnixMilli(5), Until: time.UnixMilli(5)}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

func TestBulkIndex(t *testing.T) {
	var got [][]byte
	es := doerFunc(func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, b)
		n := bytes.Count(b, []byte("\n")) / 2
		items := strings.TrimSuffix(strings.Repeat(`{"index":{"status":200}},`, n), ",")
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{"errors":false,"items":[` + items + `]}`))}, nil
	})
	docs := []analysis.EntityDoc{{ID: "a", Body: []byte(`{"x":1}`)}, {ID: "b", Body: []byte(`{"x":2}`)}, {ID: "c", Body: []byte(`{"x":3}`)}}
	n, err := bulkIndex(context.Background(), es, "eximship-sources-ns", docs, 80)
	if err != nil || n != len(got) || n < 2 {
		t.Fatalf("requests %d (%d bodies), %v", n, len(got), err)
	}
	all := string(bytes.Join(got, nil))
	for _, d := range docs {
		if !strings.Contains(all, `{"index":{"_id":"`+d.ID+`","_index":"eximship-sources-ns"}}`+"\n"+string(d.Body)+"\n") {
			t.Errorf("document %s not sent as an index action with its id:\n%s", d.ID, all)
		}
	}
	refuse := doerFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(
			`{"errors":true,"items":[{"index":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"bad"}}}]}`))}, nil
	})
	if _, err := bulkIndex(context.Background(), refuse, "x", docs[:1], 1000); err == nil || !strings.Contains(err.Error(), "mapper_parsing_exception") {
		t.Errorf("refused document: %v", err)
	}
}

type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Perform(r *http.Request) (*http.Response, error) { return f(r) }

// attemptsPage is a full page of n attempt buckets, as Elasticsearch
// writes them.
func attemptsPage(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"took":40,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"aggregations":{"c":{"after_key":{"ip":"10.0.0.1"},"buckets":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"key":{"ip":"10.%d.%d.%d","from":"user%d@example%d.com","null":null,"to":"victim%d@gmail.com","sdom":"example%d.com","rdom":"gmail.com","admin":true},"doc_count":%d,"first":{"value":1.795628701E12,"value_as_string":"2026-11-25T17:45:01.000Z"},"last":{"value":1.795628702E12,"value_as_string":"2026-11-25T17:45:02.000Z"}}`,
			i/65536, i/256%256, i%256, i%97, i%13, i%301, i%13, 1+i%5)
	}
	b.WriteString(`]}}}`)
	return b.Bytes()
}

// BenchmarkDecodeAttempts: decoding a page of 10,000 attempt buckets into
// facts, per bucket.
func BenchmarkDecodeAttempts(b *testing.B) {
	body := attemptsPage(10000)
	b.SetBytes(int64(len(body)) / 10000)
	b.ReportAllocs()
	for b.Loop() {
		p, err := DecodePage(body)
		if err != nil {
			b.Fatal(err)
		}
		for i := range p.Buckets {
			if _, err := p.Buckets[i].attempt(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/bucket")
}
