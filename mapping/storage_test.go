package mapping

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDetectStorageRecorded runs detection against recorded answers
// (testdata/simulate): the test node, a basic licence (the cluster answers
// stored _source for both synthetic storages), a cluster that refuses the
// settings outright, and one that knows synthetic _source but not logsdb.
func TestDetectStorageRecorded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answers map[Storage]string
		want    Storage
		refused []string // substrings of the reasons, in order
	}{
		{"test node", nil, StorageLogsDB, nil},
		{"basic licence", map[Storage]string{StorageLogsDB: "basic-licence-logsdb", StorageSynthetic: "basic-licence-synthetic"},
			StorageStored, []string{"would create index.mode logsdb, _source stored", "would create index.mode standard, _source stored"}},
		{"neither setting known", map[Storage]string{StorageLogsDB: "node-8.19.7-integtest-logsdb-refused", StorageSynthetic: "node-8.19.7-integtest-synthetic-refused"},
			StorageStored, []string{"answered 400: illegal_argument_exception: No enum constant", "answered 400: invalid_index_template_exception"}},
		{"no logsdb", map[Storage]string{StorageLogsDB: "node-8.19.7-integtest-logsdb-refused"},
			StorageSynthetic, []string{"No enum constant"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := &fakeES{simulate: tc.answers, plugins: minimalNode, stored: map[string]string{}}
			c, err := DetectStorage(context.Background(), es, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.Storage != tc.want || len(c.Refused) != len(tc.refused) {
				t.Fatalf("chose %s after %+v, want %s after %d refusals", c.Storage, c.Refused, tc.want, len(tc.refused))
			}
			for i, r := range tc.refused {
				if !strings.Contains(c.Refused[i].Reason, r) {
					t.Errorf("refusal %d: %q, want %q", i, c.Refused[i].Reason, r)
				}
			}
			if c.Effective.Codec != "best_compression" {
				t.Errorf("effective codec %q", c.Effective.Codec)
			}
			// Install writes what was chosen into the storage component.
			res, err := Install(context.Background(), es, Options{})
			if err != nil || res.Storage.Storage != tc.want {
				t.Fatalf("install chose %s (%v)", res.Storage.Storage, err)
			}
			body := es.stored["/_component_template/"+StorageComponent]
			idx, _, _ := tc.want.Settings()
			want, _ := json.Marshal(idx)
			if !strings.Contains(body, `"index":`+string(want)) || !strings.Contains(body, `"storage":"`+string(tc.want)+`"`) {
				t.Errorf("storage component %s, want settings %s", body, want)
			}
		})
	}
}

// TestStorageChangeRewrites: a storage component of the same version but
// another storage (the licence changed) is rewritten even without
// Overwrite; the same storage is left alone.
func TestStorageChangeRewrites(t *testing.T) {
	es := &fakeES{plugins: minimalNode, stored: map[string]string{}}
	ctx := context.Background()
	if res, err := Install(ctx, es, Options{}); err != nil || res.Storage.Storage != StorageLogsDB {
		t.Fatalf("%+v %v", res, err)
	}
	res, err := Install(ctx, es, Options{})
	if err != nil || len(res.Installed) != 0 {
		t.Fatalf("same storage rewritten: %v %v", res.Installed, err)
	}
	es.simulate = map[Storage]string{StorageLogsDB: "basic-licence-logsdb", StorageSynthetic: "basic-licence-synthetic"}
	res, err = Install(ctx, es, Options{})
	if err != nil || len(res.Installed) != 1 || res.Installed[0] != "component_template/"+StorageComponent {
		t.Fatalf("licence change: installed %v (%v)", res.Installed, err)
	}
	if !strings.Contains(es.stored["/_component_template/"+StorageComponent], `"storage":"stored"`) {
		t.Errorf("storage component %s", es.stored["/_component_template/"+StorageComponent])
	}
	if m, err := Missing(ctx, es, res.Features); err != nil || len(m) != 0 {
		t.Errorf("missing %v %v", m, err)
	}
}

// TestStorageForcedAndFailed: Options.Storage skips detection; a cluster
// that answers the simulation with an error leaves the portable storage.
func TestStorageForcedAndFailed(t *testing.T) {
	es := &fakeES{plugins: minimalNode, stored: map[string]string{}}
	res, err := Install(context.Background(), es, Options{Storage: StorageSynthetic})
	if err != nil || res.Storage.Storage != StorageSynthetic {
		t.Fatalf("%+v %v", res, err)
	}
	for _, l := range es.log {
		if strings.Contains(l, "_simulate") {
			t.Errorf("forced storage still simulated: %s", l)
		}
	}
	if _, err := Install(context.Background(), es, Options{Storage: "fast"}); err == nil {
		t.Error("unknown storage accepted")
	}
	forbidden := performerFunc(func(r *http.Request) (*http.Response, error) {
		if strings.Contains(r.URL.Path, "_simulate") {
			return &http.Response{StatusCode: 403, Header: http.Header{"X-Elastic-Product": {"Elasticsearch"}},
				Body: io.NopCloser(strings.NewReader(`{"error":{"type":"security_exception","reason":"action [indices:admin/index_template/simulate] is unauthorized"},"status":403}`))}, nil
		}
		return es.Perform(r)
	})
	res, err = Install(context.Background(), forbidden, Options{})
	if err != nil || res.StorageError == nil || res.Storage.Storage != StorageStored {
		t.Fatalf("simulation refused: %+v %v", res, err)
	}
	// A role that may not simulate (run without manage_index_templates)
	// keeps what setup installed: nothing is rewritten, nothing missing.
	es = &fakeES{plugins: minimalNode, stored: map[string]string{}}
	if _, err := Install(context.Background(), es, Options{}); err != nil {
		t.Fatal(err)
	}
	forbidden = performerFunc(func(r *http.Request) (*http.Response, error) {
		if strings.Contains(r.URL.Path, "_simulate") {
			return &http.Response{StatusCode: 403, Header: http.Header{"X-Elastic-Product": {"Elasticsearch"}},
				Body: io.NopCloser(strings.NewReader(`{"error":{"type":"security_exception","reason":"unauthorized"},"status":403}`))}, nil
		}
		if r.Method == http.MethodPut {
			t.Errorf("PUT %s without the right to simulate", r.URL.Path)
		}
		return es.Perform(r)
	})
	res, err = Install(context.Background(), forbidden, Options{})
	if err != nil || len(res.Installed) != 0 || res.StorageError == nil {
		t.Fatalf("run without simulate: %+v %v", res, err)
	}
	if m, err := Missing(context.Background(), forbidden, res.Features); err != nil || len(m) != 0 {
		t.Errorf("missing without simulate: %v %v", m, err)
	}
	if !strings.Contains(es.stored["/_component_template/"+StorageComponent], `"storage":"logsdb"`) {
		t.Errorf("installed storage changed: %s", es.stored["/_component_template/"+StorageComponent])
	}
}

type performerFunc func(*http.Request) (*http.Response, error)

func (f performerFunc) Perform(r *http.Request) (*http.Response, error) { return f(r) }

func TestEffectiveFrom(t *testing.T) {
	for _, tc := range []struct {
		flat map[string]any
		want Effective
		st   Storage
	}{
		{map[string]any{"index.mode": "logsdb"}, Effective{Mode: "logsdb", SourceMode: "synthetic"}, StorageLogsDB},
		{map[string]any{"index.mode": "logsdb", "index.mapping.source.mode": "STORED"}, Effective{Mode: "logsdb", SourceMode: "stored"}, StorageStored},
		{map[string]any{"index.mapping.source.mode": "synthetic", "index.codec": "best_compression"}, Effective{Mode: "standard", SourceMode: "synthetic", Codec: "best_compression"}, StorageSynthetic},
		{map[string]any{}, Effective{Mode: "standard", SourceMode: "stored"}, StorageStored},
		{map[string]any{"index.mapping.source.mode": "disabled"}, Effective{Mode: "standard", SourceMode: "disabled"}, ""},
	} {
		got := effectiveFrom(tc.flat)
		if got.String() != tc.want.String() || got.Storage() != tc.st {
			t.Errorf("%v: %v (%s), want %v (%s)", tc.flat, got, got.Storage(), tc.want, tc.st)
		}
	}
	if s, ok := backingStream(".ds-logs-exim.main-prod-2026.12.01-000002"); !ok || s != "logs-exim.main-prod" || generation(".ds-logs-exim.main-prod-2026.12.01-000002") != 2 {
		t.Errorf("backing index name: %q %t", s, ok)
	}
	if _, ok := backingStream("logs-plain"); ok {
		t.Error("plain index taken for a backing index")
	}
}

func TestScoped(t *testing.T) {
	ts, err := TemplatesFor("", StorageLogsDB)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := Scoped(ts, "bench1")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range sc {
		names[s.Name] = true
	}
	for _, s := range sc {
		if !strings.HasSuffix(s.Name, "-bench1") {
			t.Errorf("%s not renamed", s.Name)
		}
		if s.Kind != IndexTemplate {
			continue
		}
		var it struct {
			IndexPatterns []string `json:"index_patterns"`
			ComposedOf    []string `json:"composed_of"`
			Priority      int      `json:"priority"`
		}
		if err := json.Unmarshal(s.Body, &it); err != nil {
			t.Fatal(err)
		}
		if len(it.IndexPatterns) != 1 || !strings.HasSuffix(it.IndexPatterns[0], "-bench1") || strings.Contains(it.IndexPatterns[0], "*-") == false && it.Priority != 700 {
			t.Errorf("%s: patterns %v priority %d", s.Name, it.IndexPatterns, it.Priority)
		}
		if it.Priority <= 600 {
			t.Errorf("%s: priority %d not above eximship's", s.Name, it.Priority)
		}
		for _, c := range it.ComposedOf {
			if !names[c] {
				t.Errorf("%s composes %s, not scoped", s.Name, c)
			}
		}
	}
	if _, err := Scoped(ts, "Bad-Name"); err == nil {
		t.Error("bad scope accepted")
	}
}
