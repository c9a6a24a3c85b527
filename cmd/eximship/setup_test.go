package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/eximship/eximship/dashboards"
	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper/kibana/kibanatest"
	"github.com/eximship/eximship/shipper/stacktest"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "eximship.yml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const kibanaCases = "../../shipper/kibana/testdata/"

// TestSetupKibanaRecorded: eximship setup --dashboards --rules against
// recorded Kibana 8.x and 9.x conversations (the replaying server checks
// each request): success, success:false with missing references (each
// object named, exit 1), 401, a space with an API key from the
// environment. Running it twice is the same (fixed ids, overwrite=true).
func TestSetupKibanaRecorded(t *testing.T) {
	for _, c := range []struct {
		dir, auth string
		code      int
		out, err  []string
	}{
		{"8.18.1-success", "username: elastic\n  password: changeme", 0,
			[]string{"kibana: Kibana 8.18.1, space default", "saved objects: 3 imported", "index-pattern/eximship-logs-exim", "detection rules: 4 imported", "rules are disabled", "run as the user elastic"}, nil},
		{"9.0.1-space-api-key", "space: secops\n  api_key: ${TEST_KIBANA_API_KEY}", 0,
			[]string{"Kibana 9.0.1, space secops", "detection rules: 4 imported", "API key's owner"}, nil},
		{"8.10.1-missing-references", "username: elastic\n  password_file: " + "PWFILE", 1,
			[]string{"saved objects: 1 imported"},
			[]string{"2 failed", `dashboard eximship-relay-attempts ("[eximship] Relay attempts"): missing_references: missing index-pattern/eximship-logs-exim`,
				"search eximship-search-relay-attempts"}},
		{"8.18.1-unauthorized", "username: elastic\n  password: wrong", 5, nil, []string{"401", "authentication failed"}},
		{"8.8.2-too-old", "username: elastic\n  password: changeme", 1, nil, []string{"Kibana 8.8.2 is too old", "8.9.0 or later"}},
	} {
		t.Run(c.dir, func(t *testing.T) {
			srv := kibanatest.Serve(t, kibanaCases+c.dir)
			t.Setenv("TEST_KIBANA_API_KEY", "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==")
			pw := filepath.Join(t.TempDir(), "pw")
			if err := os.WriteFile(pw, []byte("changeme\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := writeConfig(t, "kibana:\n  url: "+srv.URL+"\n  "+strings.Replace(c.auth, "PWFILE", pw, 1)+"\n")
			code, out, errs := runCmd(t, nil, "setup", "--config", cfg, "--dashboards", "--rules")
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, out, errs)
			}
			for _, w := range c.out {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range c.err {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			for _, secret := range []string{"changeme", "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="} {
				if strings.Contains(out+errs, secret) {
					t.Errorf("a secret appears in the output")
				}
			}
		})
	}
}

func TestSetupNeedsSections(t *testing.T) {
	cfg := writeConfig(t, "elasticsearch:\n  addresses: [http://127.0.0.1:1]\n")
	code, _, errs := runCmd(t, nil, "setup", "--config", cfg, "--dashboards")
	if code != 3 || !strings.Contains(errs, "needs a kibana section") || !strings.Contains(errs, "--index-management needs only") {
		t.Errorf("exit %d: %s", code, errs)
	}
	cfg = writeConfig(t, "kibana:\n  url: http://127.0.0.1:1\n")
	code, _, errs = runCmd(t, nil, "setup", "--config", cfg, "--index-management")
	if code != 3 || !strings.Contains(errs, "needs a elasticsearch section") && !strings.Contains(errs, "needs an elasticsearch section") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

// fakeFullES answers like an Elasticsearch node of a full distribution
// (with ILM) that has none of eximship's objects yet, and records what is
// written. The _nodes/plugins answer is shaped like a real 8.19 node's.
type fakeFullES struct {
	mu   sync.Mutex
	puts []string
	body map[string]string
}

func (f *fakeFullES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/_nodes/plugins":
		io.WriteString(w, `{"nodes":{"Xq3lq1bRTI2cA7yQ5-dCbw":{"version":"8.19.7","modules":[{"name":"aggregations"},{"name":"data-streams"},{"name":"ingest-common"},{"name":"lang-painless"},{"name":"mapper-extras"},{"name":"x-pack-core"},{"name":"x-pack-ilm"},{"name":"wildcard"},{"name":"constant-keyword"},{"name":"rest-root"}],"plugins":[]}}}`)
	case r.Method == http.MethodGet:
		if b, ok := f.body[r.URL.Path]; ok {
			io.WriteString(w, b)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"type":"resource_not_found_exception"},"status":404}`)
	case r.Method == http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		f.puts = append(f.puts, r.URL.Path)
		f.body[r.URL.Path+"#put"] = string(b)
		io.WriteString(w, `{"acknowledged":true}`)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// TestSetupIndexManagementWithILM: on a cluster that has ILM (recorded
// _nodes/plugins shape), setup installs the lifecycle policy first and the
// settings component references it.
func TestSetupIndexManagementWithILM(t *testing.T) {
	es := &fakeFullES{body: map[string]string{}}
	srv := httptest.NewServer(es)
	defer srv.Close()
	cfg := writeConfig(t, "elasticsearch:\n  addresses: ["+srv.URL+"]\n")
	code, out, errs := runCmd(t, nil, "setup", "--config", cfg, "--index-management")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "ILM: available; data streams use lifecycle policy eximship-logs") || !strings.Contains(out, "installed ilm_policy/eximship-logs") {
		t.Errorf("output:\n%s", out)
	}
	all, _ := mapping.Templates(mapping.DefaultILMPolicy)
	if len(es.puts) != len(all) || es.puts[0] != "/_ilm/policy/eximship-logs" {
		t.Fatalf("PUTs %v", es.puts)
	}
	if s := es.body["/_component_template/eximship-logs-exim-settings#put"]; !strings.Contains(s, `"lifecycle":{"name":"eximship-logs"}`) {
		t.Errorf("settings component without the lifecycle: %s", s)
	}
}

// TestSetupIndexManagementIntegration: on the real node (no ILM module),
// setup detects the absence of ILM, says so, skips the policy and installs
// the templates, which then exist with eximship's versions.
func TestSetupIndexManagementIntegration(t *testing.T) {
	esURL := stacktest.ElasticURL(t)
	cfg := writeConfig(t, "elasticsearch:\n  addresses: ["+esURL+"]\n")
	code, out, errs := runCmd(t, nil, "setup", "--config", cfg, "--index-management")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "ILM: not available on this cluster (no x-pack-ilm module): lifecycle policy skipped") || strings.Contains(out, "ilm_policy") {
		t.Errorf("output:\n%s", out)
	}
	ts, err := mapping.Templates("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range ts {
		res, err := http.Get(esURL + tm.Path())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !bytes.Contains(b, []byte(`"version":`)) {
			t.Errorf("%s: %d %s", tm.Path(), res.StatusCode, b)
		}
		if !strings.Contains(out, tm.Kind+"/"+tm.Name) {
			t.Errorf("output does not mention %s/%s", tm.Kind, tm.Name)
		}
	}
	if res, err := http.Get(esURL + "/_ilm/policy/eximship-logs"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Error("an ILM policy exists on a node without ILM")
		}
	}
}

// TestExport: export prints exactly what setup installs.
func TestExport(t *testing.T) {
	code, out, errs := runCmd(t, nil, "export", "dashboards")
	want, _ := dashboards.SavedObjectsNDJSON()
	if code != 0 || out != string(want) {
		t.Errorf("export dashboards: exit %d, %d bytes, want %d (%s)", code, len(out), len(want), errs)
	}
	code, out, _ = runCmd(t, nil, "export", "rules")
	want, _ = dashboards.RulesNDJSON()
	if code != 0 || out != string(want) {
		t.Errorf("export rules: exit %d", code)
	}
	for _, c := range []struct {
		args   []string
		policy string
		ilm    bool
	}{{[]string{"template"}, "", false}, {[]string{"--ilm", "template"}, mapping.DefaultILMPolicy, false}, {[]string{"ilm"}, mapping.DefaultILMPolicy, true}} {
		code, out, errs := runCmd(t, nil, append([]string{"export"}, c.args...)...)
		if code != 0 {
			t.Fatalf("export %v: %d %s", c.args, code, errs)
		}
		ts, _ := mapping.Templates(c.policy)
		var wantReqs []string
		for _, tm := range ts {
			if (tm.Kind == mapping.ILMPolicy) == c.ilm {
				wantReqs = append(wantReqs, "PUT "+tm.Path()[1:]+"\n"+string(tm.Body))
			}
		}
		var got []string
		for _, req := range strings.Split(strings.TrimSuffix(out, "\n\n"), "\n\n") {
			line, body, _ := strings.Cut(req, "\n")
			var buf bytes.Buffer
			if err := json.Compact(&buf, []byte(body)); err != nil {
				t.Fatalf("export %v: body of %s: %v", c.args, line, err)
			}
			got = append(got, line+"\n"+buf.String())
		}
		if strings.Join(got, "\n") != strings.Join(wantReqs, "\n") {
			t.Errorf("export %v:\n%s\nwant:\n%s", c.args, strings.Join(got, "\n"), strings.Join(wantReqs, "\n"))
		}
	}
	if code, _, _ := runCmd(t, nil, "export", "nothing"); code != 2 {
		t.Errorf("export nothing: exit %d", code)
	}
}

func TestSetupExportHelp(t *testing.T) {
	for _, c := range []string{"setup", "export"} {
		code, out, _ := runCmd(t, nil, c, "-h")
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "eximship "+c+" ") {
			t.Errorf("%s -h: exit %d\n%s", c, code, out)
		}
	}
}
