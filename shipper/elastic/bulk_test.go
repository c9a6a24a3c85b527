package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/eximship/eximship/shipper"
)

// FuzzParseBulk: parseBulk never panics; it either fails or reports only
// item indexes in range, each once, with a status that is not ok; and the
// fast path agrees with the full decoding.
func FuzzParseBulk(f *testing.F) {
	f.Add([]byte(respond(201, 201, 201)), 3)
	f.Add([]byte(respond(201, 409, 429, 400, 503)), 5)
	f.Add([]byte(`{"errors":false,"items":[{"create":{"status":201}}]}`), 1)
	f.Add([]byte(`{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":400}}]}`), 2)
	f.Add([]byte(`{"errors":true,"items":[{"index":{"status":500,"error":{"type":"x","reason":"y","caused_by":{"type":"z","reason":"w"}}}}]}`), 1)
	f.Add([]byte(`{"errors":false,"items":[{"create":{"status":201}}`), 1)
	f.Add([]byte(`garbage`), 0)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 1000 {
			return
		}
		seen := map[int]bool{}
		err := parseBulk(body, n, func(i, status int, reason string) {
			if i < 0 || i >= n || seen[i] {
				t.Fatalf("index %d (n=%d) out of range or repeated", i, n)
			}
			seen[i] = true
			if statusOK(status) {
				t.Fatalf("status %d reported as a failure", status)
			}
			if reason == "" {
				t.Fatal("empty reason")
			}
		})
		if err == nil && allOK(body, n) && len(seen) > 0 {
			t.Fatal("fast path ok but failures reported")
		}
		if err == nil && allOK(body, n) {
			// The fast path must never accept a response whose decoding
			// reports a failed item or another item count. (It does not
			// validate the JSON in full: a body with the right prefix,
			// suffix, count and statuses but broken elsewhere passes.)
			var r bulkResponse
			if json.Unmarshal(body, &r) != nil {
				return
			}
			if len(r.Items) != n {
				t.Fatalf("fast path accepted %q for n=%d", body, n)
			}
			for _, it := range r.Items {
				res := it.Create
				if res == nil {
					res = it.Index
				}
				if res == nil || !statusOK(res.Status) {
					t.Fatalf("fast path accepted a failed item: %q", body)
				}
			}
		}
	})
}

// benchDocs are documents of a realistic size (~700 bytes).
func benchDocs(n int) []shipper.Doc {
	docs := testDocs(n)
	pad := strings.Repeat("x", 600)
	for i := range docs {
		docs[i].Body = []byte(fmt.Sprintf(`{"@timestamp":"2026-01-02T03:04:05.000Z","n":%d,"event":{"original":"%s"}}`, i, pad))
	}
	return docs
}

// BenchmarkWriteBatch measures the sink's own cost per batch of 5000
// documents against an instant fake node: encoding the bulk body, the
// HTTP round trip through go-elasticsearch, and parsing an all-ok answer.
func BenchmarkWriteBatch(b *testing.B) {
	docs := benchDocs(5000)
	resp := respond(make201(len(docs))...)
	s := newTestSink(b, nil, func(c *Config) {
		c.FlushBytes = 50 << 20
		c.Transport = drainRT(resp)
	})
	size := 0
	for _, d := range docs {
		size += len(d.Body)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.WriteBatch(context.Background(), docs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(docs)), "ns/doc")
}

// BenchmarkEncode measures building a bulk body alone.
func BenchmarkEncode(b *testing.B) {
	docs := benchDocs(1000)
	var scratch bytes.Buffer
	var buf []byte
	size := 0
	for _, d := range docs {
		size += len(d.Body)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = buf[:0]
		for _, d := range docs {
			body, err := checkBody(d.Body, &scratch)
			if err != nil {
				b.Fatal(err)
			}
			buf = appendCreate(buf, d.Stream, d.ID, body)
		}
	}
}

// BenchmarkParseBulk compares the all-ok fast path with a response that
// must be decoded (one failed item among 5000).
func BenchmarkParseBulk(b *testing.B) {
	ok := make201(5000)
	bad := make201(5000)
	bad[4000] = 400
	dup := make201(5000)
	for i := range dup {
		dup[i] = 409
	}
	for _, bc := range []struct {
		name string
		body []byte
	}{{"all-ok", []byte(respond(ok...))}, {"all-409", []byte(respond(dup...))}, {"one-failed", []byte(respond(bad...))}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := parseBulk(bc.body, 5000, func(int, int, string) {}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// drainRT is a minimal node for benchmarks: it reads the request body and
// answers resp.
type drainRT string

func (d drainRT) RoundTrip(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return &http.Response{StatusCode: 200, Header: http.Header{"X-Elastic-Product": {"Elasticsearch"}},
		Body: io.NopCloser(strings.NewReader(string(d))), Request: r}, nil
}
