package mapping_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/process"
	"github.com/eximship/eximship/shipper/stacktest"
)

// TestSIEMQueriesIntegration indexes the documents of the real-Exim
// captures (main, reject and panic logs of every variant), the fixtures and
// a quarter of the public corpus through the real templates into the real
// Elasticsearch, and runs the ECS queries a SIEM analyst runs: each must
// find exactly the documents that carry the values (counted in the sent
// documents), so a field the template failed to index would show up as a
// short count. Then the count of rejections per source over logs-exim.*,
// with the rule that the main log is authoritative, must equal the
// rejections Exim logged: the reject-log entries per client address, read
// from the raw capture files.
func TestSIEMQueriesIntegration(t *testing.T) {
	url, s, res := installedSink(t)
	ctx := context.Background()
	t.Logf("native types used on this node: %v (modules lacking: %v)", mapping.NativeNames(res.Native), res.Features.Missing)
	ns := strings.ReplaceAll(stacktest.UniqueName("siem"), "-", "")
	all, _ := fixtureDocsHost(t, ns, "mx.example.org")
	docs := quarterOfCorpus(all)
	writeDocs(t, s, docs)
	// ECS fields eximship does not write but a pipeline after it may
	// (tags, labels.*, observer.*): dynamic:false would leave them
	// unsearchable unless the template maps them.
	extra := shipper.Doc{ID: "siem-extra", Stream: "logs-exim.main-" + ns,
		Body: []byte(`{"@timestamp":"2026-01-01T00:00:00.000Z","ecs":{"version":"8.17.0"},"host":{"name":"mx.example.org"},"event":{"kind":"event","dataset":"exim.main","module":"exim"},"data_stream":{"type":"logs","dataset":"exim.main","namespace":"` + ns + `"},"tags":["mail-edge"],"labels":{"site":"fra1"},"observer":{"name":"edge-1","vendor":"Exim"}}`)}
	if err := s.WriteBatch(ctx, []shipper.Doc{extra}); err != nil {
		t.Fatal(err)
	}
	docs = append(docs, extra) // counted with the others below
	pattern := "logs-exim.*-" + ns
	get(t, "POST", url+"/"+pattern+"/_refresh", "")
	for _, q := range []string{"tags:mail-edge", "labels.site:fra1", "observer.name:edge-1 AND observer.vendor:Exim"} {
		body, _ := json.Marshal(map[string]any{"query": map[string]any{"query_string": map[string]any{"query": q}}})
		if _, r := get(t, "POST", url+"/"+pattern+"/_count", string(body)); r["count"] != float64(1) {
			t.Errorf("%s: count %v, want the one document that has it", q, r["count"])
		}
	}

	// The documents as sent, to count what each query must find.
	sent := make([]map[string]any, len(docs))
	for i, d := range docs {
		flat := map[string]any{}
		var m map[string]any
		if err := json.Unmarshal(d.Body, &m); err != nil {
			t.Fatal(err)
		}
		flattenDoc("", m, flat)
		sent[i] = flat
	}
	has := func(f, v string) func(map[string]any) bool {
		return func(d map[string]any) bool {
			x, ok := d[f]
			if !ok {
				return false
			}
			if v == "" {
				return true
			}
			if arr, ok := x.([]any); ok {
				for _, e := range arr {
					if fmt.Sprint(e) == v {
						return true
					}
				}
				return false
			}
			return fmt.Sprint(x) == v
		}
	}
	and := func(a, b func(map[string]any) bool) func(map[string]any) bool {
		return func(d map[string]any) bool { return a(d) && b(d) }
	}
	queries := []struct {
		q    string
		want func(map[string]any) bool
	}{
		{"event.category:email AND event.outcome:failure", and(has("event.category", "email"), has("event.outcome", "failure"))},
		{"related.user:*", has("related.user", "")},
		{"network.protocol:smtp", has("network.protocol", "smtp")},
		{"event.category:authentication AND event.outcome:failure", and(has("event.category", "authentication"), has("event.outcome", "failure"))},
		{"event.category:network AND event.type:denied", and(has("event.category", "network"), has("event.type", "denied"))},
		{"host.name:\"mx.example.org\"", has("host.name", "mx.example.org")},
		{"ecs.version:\"8.17.0\"", has("ecs.version", "8.17.0")},
		{"event.reason:\"relay not permitted\"", has("event.reason", "relay not permitted")},
		{"error.code:535", has("error.code", "535")},
		{"email.subject:\"Cheap SPAM offer\"", has("email.subject", "Cheap SPAM offer")},
		{"exim.rejection.id:*", has("exim.rejection.id", "")},
		{"event.ingested:* AND event.created:*", and(has("event.ingested", ""), has("event.created", ""))},
	}
	for _, q := range queries {
		want := 0
		for _, d := range sent {
			if q.want(d) {
				want++
			}
		}
		body, _ := json.Marshal(map[string]any{"query": map[string]any{"query_string": map[string]any{"query": q.q}}})
		status, r := get(t, "POST", url+"/"+pattern+"/_count", string(body))
		got, _ := r["count"].(float64)
		if status != 200 || int(got) != want || want == 0 {
			t.Errorf("%s: Elasticsearch counts %v (status %d), the sent documents hold %d", q.q, r["count"], status, want)
		} else {
			t.Logf("%-60s %6d documents", q.q, want)
		}
	}

	// One count per rejection: rejections (with a reject-log twin) per
	// client address over logs-exim.*, main log only, on the captures
	// alone (their own namespace: the corpus has rejections of its own).
	rns := ns + "real"
	rdocs := captureDocs(t, rns)
	if err := s.WriteBatch(ctx, rdocs); err != nil {
		t.Fatal(err)
	}
	pattern = "logs-exim.*-" + rns
	get(t, "POST", url+"/"+pattern+"/_refresh", "")
	truth := rejectLogSources(t)
	perSource := func(filter string) map[string]int {
		q := `{"size":0,"query":{"query_string":{"query":` + jsonString(filter) + `}},"aggs":{"src":{"terms":{"field":"source.ip","size":1000}}}}`
		status, r := get(t, "POST", url+"/"+pattern+"/_search", q)
		if status != 200 {
			t.Fatalf("%s: %d %v", filter, status, r)
		}
		out := map[string]int{}
		for _, b := range r["aggregations"].(map[string]any)["src"].(map[string]any)["buckets"].([]any) {
			m := b.(map[string]any)
			out[fmt.Sprint(m["key"])] = int(m["doc_count"].(float64))
		}
		return out
	}
	once := perSource("exim.rejection.id:* AND data_stream.dataset:exim.main")
	both := perSource("exim.rejection.id:*")
	total := 0
	for ip, n := range truth {
		total += n
		if once[ip] != n {
			t.Errorf("source %s: %d rejections counted (main log), Exim logged %d", ip, once[ip], n)
		}
		if both[ip] != 2*n {
			t.Errorf("source %s: %d documents with both logs, want twice %d", ip, both[ip], n)
		}
	}
	for ip, n := range once {
		if truth[ip] == 0 {
			t.Errorf("source %s: %d rejections counted, Exim logged none", ip, n)
		}
	}
	if total == 0 {
		t.Fatal("no rejections in the captures")
	}
	t.Logf("%d rejections from %d sources counted once each (%d documents in both logs)", total, len(truth), 2*total)
}

// captureDocs are the documents of the real-Exim capture files, each file
// sent whole as one message (reject-log entries stay whole), as run makes
// them.
func captureDocs(t *testing.T, ns string) []shipper.Doc {
	t.Helper()
	files, _ := filepath.Glob("../shipper/exim/testdata/real/*/*log")
	var docs []shipper.Doc
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ds := "main"
		switch {
		case strings.HasSuffix(f, "rejectlog"):
			ds = "reject"
		case strings.HasSuffix(f, "paniclog"):
			ds = "panic"
		}
		p, err := process.New(process.Config{Namespace: ns, Location: time.UTC, Dataset: ds, Host: "mx.example.org"})
		if err != nil {
			t.Fatal(err)
		}
		docs, err = p.Process(shipper.Message{Position: shipper.Position{Topic: "captures", Offset: int64(i)}, Value: b}, docs)
		if err != nil {
			t.Fatal(err)
		}
	}
	return docs
}

// rejectLogSources counts the reject-log entries of the real-Exim captures
// per client address: the [address] of the first line that is not a HELO
// literal "([...])".
func rejectLogSources(t *testing.T) map[string]int {
	t.Helper()
	files, err := filepath.Glob("../shipper/exim/testdata/real/*/rejectlog")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured reject logs: %v", err)
	}
	addr := regexp.MustCompile(`(?:^|[^(])\[([0-9a-fA-F]*[.:][0-9a-fA-F:.]*)\](?::\d+)?[ :]`)
	stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`)
	out := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := sc.Text()
			if !stamp.MatchString(line) {
				continue // the header dump of the entry
			}
			m := addr.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("%s: no client address in %s", f, line)
			}
			out[m[1]]++
		}
	}
	return out
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
