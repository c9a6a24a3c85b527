package mapping_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/process"
	"github.com/eximship/eximship/shipper/stacktest"
)

// storageLines make documents with one-element and several-element
// arrays (event.category, related.ip) to show what each _source returns.
var storageLines = []string{
	"2024-06-29 16:04:19 H=(x) [10.0.0.1] F=<a@b.example> rejected RCPT <c@d.example>: relay not permitted",
	"2024-06-29 16:04:20 1rABCD-000123-AB <= a@b.example H=mx.b.example [10.0.0.2]:25 I=[10.0.0.9]:25 P=esmtp S=100",
}

// indexScoped installs eximship's templates scoped to ns through es with
// options o, indexes storageLines into logs-exim.main-<ns> and returns
// what the node applied to the stream's index, and the rejection's
// _source as the node returns it and as it was sent.
func indexScoped(t *testing.T, es mapping.Performer, url, ns string, o mapping.Options) (mapping.Result, mapping.IndexStorage, map[string]any, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o.Scope, o.Overwrite = ns, true
	res, err := mapping.Install(ctx, es, o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := elastic.New(elastic.Config{Addresses: []string{url}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	p, err := process.New(process.Config{Namespace: ns, Location: time.UTC, Dataset: "main"})
	if err != nil {
		t.Fatal(err)
	}
	var docs []shipper.Doc
	for i, l := range storageLines {
		if docs, err = p.Process(shipper.Message{Position: shipper.Position{Topic: "storage", Offset: int64(i)}, Value: []byte(l)}, docs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WriteBatch(ctx, docs); err != nil {
		t.Fatal(err)
	}
	stream := "logs-exim.main-" + ns
	got, err := mapping.StreamStorage(ctx, s.Client(), stream)
	if err != nil || len(got) != 1 {
		t.Fatalf("stream storage of %s: %v %v", stream, got, err)
	}
	get(t, "POST", url+"/"+stream+"/_refresh", "")
	_, src := get(t, "GET", url+"/"+stream+"/_search?q=event.action:rcpt-rejected", "")
	hits := src["hits"].(map[string]any)["hits"].([]any)
	if len(hits) != 1 {
		t.Fatalf("%d hits", len(hits))
	}
	var sent map[string]any
	if err := json.Unmarshal(docs[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	return res, got[0], hits[0].(map[string]any)["_source"].(map[string]any), sent
}

// oneElementArrays lists the dotted paths of v's one-element arrays.
func oneElementArrays(prefix string, v any, out []string) []string {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out = oneElementArrays(p, e, out)
		}
	case []any:
		if len(x) == 1 {
			out = append(out, prefix)
		}
	}
	return out
}

// at is the value at a dotted path (objects only).
func at(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

// TestStorageAppliedIntegration: on the real node, the detected storage
// and each storage forced is what the node applies to a new data stream
// (read back from the index settings after creation), best_compression
// included; and what _source then returns.
func TestStorageAppliedIntegration(t *testing.T) {
	url := stacktest.ElasticURL(t)
	c, err := elastic.NewClient(elastic.Config{Addresses: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []mapping.Storage{"", mapping.StorageLogsDB, mapping.StorageSynthetic, mapping.StorageStored} {
		name := string(st)
		if name == "" {
			name = "detected"
		}
		t.Run(name, func(t *testing.T) {
			ns := strings.ReplaceAll(stacktest.UniqueName("st"+name[:3]), "-", "")
			res, applied, src, sent := indexScoped(t, c, url, ns, mapping.Options{Storage: st})
			want := st
			if st == "" {
				// this node (no x-pack logsdb module: no licence check)
				// applies the best one
				want = mapping.StorageLogsDB
				if res.Storage.Storage != want || len(res.Storage.Refused) != 0 {
					t.Errorf("detected %+v", res.Storage)
				}
			}
			if applied.Effective.Storage() != want || applied.Effective.Codec != "best_compression" {
				t.Errorf("node applied %v to %s, want %s with best_compression", applied.Effective, applied.Index, want)
			}
			// logsdb's index sort (mapping.LogsDBSort) is applied; the
			// other storages keep the node's default (none)
			_, wantEff, _ := want.Settings()
			if !reflect.DeepEqual(applied.Effective.Sort, wantEff.Sort) {
				t.Errorf("%s: node sorts by %v, want %v", want, applied.Effective.Sort, wantEff.Sort)
			}
			// What _source returns: synthetic _source gives one-element
			// arrays back as scalars; stored and logsdb (it keeps arrays)
			// return them as sent.
			ones := oneElementArrays("", sent, nil)
			if len(ones) == 0 {
				t.Fatalf("the sent document has no one-element array: %v", sent)
			}
			for _, p := range ones {
				_, isArray := at(src, p).([]any)
				if isArray != (want != mapping.StorageSynthetic) {
					t.Errorf("%s: %s comes back as %#v", want, p, at(src, p))
				}
			}
			cat := at(src, ones[0])
			t.Logf("%s: %s on %s; %s comes back as %#v", name, applied.Effective, applied.Index, ones[0], cat)
		})
	}
}

// rewriter sends every request to the real node, rewriting the body of
// the storage simulation first.
type rewriter struct {
	es      mapping.Performer
	rewrite func(body []byte) []byte
}

func (r rewriter) Perform(req *http.Request) (*http.Response, error) {
	if strings.HasPrefix(req.URL.Path, "/_index_template/_simulate") && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		b = r.rewrite(b)
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.ContentLength = int64(len(b))
	}
	return r.es.Perform(req)
}

// TestStorageFallbackIntegration refuses storages on purpose on the real
// node and checks that detection falls back and that the fallback is
// what the node then applies:
//   - the node refuses logsdb for real (the simulation asks for an index
//     mode it does not know, as a cluster older than logsdb does): the
//     synthetic storage is chosen;
//   - a basic licence: the simulation gets index.mapping.source.mode:
//     stored added, as a full distribution's licence check adds it (see
//     testdata/simulate/README.md): the portable stored storage is chosen.
func TestStorageFallbackIntegration(t *testing.T) {
	url := stacktest.ElasticURL(t)
	c, err := elastic.NewClient(elastic.Config{Addresses: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		rewrite func([]byte) []byte
		want    mapping.Storage
		reasons []string
	}{
		{"logsdb refused", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"mode":"logsdb"`), []byte(`"mode":"logsdbx"`), 1)
		}, mapping.StorageSynthetic, []string{"No enum constant org.elasticsearch.index.IndexMode.LOGSDBX"}},
		{"basic licence", func(b []byte) []byte {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			idx := m["template"].(map[string]any)["settings"].(map[string]any)["index"].(map[string]any)
			mp, _ := idx["mapping"].(map[string]any)
			if mp == nil {
				mp = map[string]any{}
				idx["mapping"] = mp
			}
			mp["source"] = map[string]any{"mode": "stored"}
			out, _ := json.Marshal(m)
			return out
		}, mapping.StorageStored, []string{"would create index.mode logsdb, _source stored", "would create index.mode standard, _source stored"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := strings.ReplaceAll(stacktest.UniqueName("stfb"), "-", "")
			res, applied, _, _ := indexScoped(t, rewriter{c, tc.rewrite}, url, ns, mapping.Options{})
			if res.Storage.Storage != tc.want || len(res.Storage.Refused) != len(tc.reasons) {
				t.Fatalf("chose %s after %+v, want %s", res.Storage.Storage, res.Storage.Refused, tc.want)
			}
			for i, r := range tc.reasons {
				if !strings.Contains(res.Storage.Refused[i].Reason, r) {
					t.Errorf("refusal %d: %q, want %q", i, res.Storage.Refused[i].Reason, r)
				}
			}
			if applied.Effective.Storage() != tc.want || applied.Effective.Codec != "best_compression" {
				t.Errorf("node applied %v, want %s", applied.Effective, tc.want)
			}
		})
	}
}
