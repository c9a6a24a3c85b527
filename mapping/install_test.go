package mapping

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// fakeES answers GET/PUT of templates from an in-memory store.
type fakeES struct {
	// simulate names the recorded answer (testdata/simulate/<name>.json)
	// to POST _index_template/_simulate per storage asked; default: the
	// test node's answers
	simulate map[Storage]string
	plugins  string            // answer to GET _nodes/plugins
	stored   map[string]string // path -> body as GET answers it
	log      []string          // "METHOD path"
	failPut  string            // path whose PUT fails
}

func (f *fakeES) Perform(r *http.Request) (*http.Response, error) {
	f.log = append(f.log, r.Method+" "+r.URL.Path)
	answer := func(status int, body string) (*http.Response, error) {
		return &http.Response{StatusCode: status, Header: http.Header{"X-Elastic-Product": {"Elasticsearch"}}, Body: io.NopCloser(strings.NewReader(body))}, nil
	}
	switch {
	case r.URL.Path == "/_nodes/plugins":
		if f.plugins == "" {
			return answer(403, `{"error":"forbidden"}`)
		}
		return answer(200, f.plugins)
	case r.Method == http.MethodPost && r.URL.Path == "/_index_template/_simulate":
		b, _ := io.ReadAll(r.Body)
		s := StorageStored
		switch {
		case strings.Contains(string(b), `"mode":"logsdb"`):
			s = StorageLogsDB
		case strings.Contains(string(b), `"source":{"mode":"synthetic"}`):
			s = StorageSynthetic
		}
		name := f.simulate[s]
		if name == "" {
			name = "node-8.19.7-integtest-" + string(s)
		}
		a, err := os.ReadFile("testdata/simulate/" + name + ".json")
		if err != nil {
			return nil, err
		}
		status := 200
		if strings.Contains(string(a), `"status":400`) {
			status = 400
		}
		return answer(status, string(a))
	case r.Method == http.MethodGet:
		if b, ok := f.stored[r.URL.Path]; ok {
			return answer(200, b)
		}
		return answer(404, `{"error":"not found"}`)
	case r.Method == http.MethodPut:
		if r.URL.Path == f.failPut {
			return answer(400, `{"error":{"type":"illegal_argument_exception","reason":"nope"}}`)
		}
		b, _ := io.ReadAll(r.Body)
		name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		switch {
		case strings.HasPrefix(r.URL.Path, "/_index_template/"):
			f.stored[r.URL.Path] = `{"index_templates":[{"name":"` + name + `","index_template":` + string(b) + `}]}`
		case strings.HasPrefix(r.URL.Path, "/_component_template/"):
			f.stored[r.URL.Path] = `{"component_templates":[{"name":"` + name + `","component_template":` + string(b) + `}]}`
		default:
			f.stored[r.URL.Path] = `{"` + name + `":` + string(b) + `}`
		}
		return answer(200, `{"acknowledged":true}`)
	}
	return answer(400, `{}`)
}

// versionRE matches a template's version (the first one in a GET answer is
// the template's own).
var versionRE = regexp.MustCompile(`"version":[0-9]+`)

// minimalNode is the answer of the integ-test-zip node used in tests.
const minimalNode = `{"nodes":{"PhraUjxMQXmfidYj8wUNdA":{"version":"8.19.7","modules":[{"name":"apm"},{"name":"transport-netty4"},{"name":"x-pack-core"},{"name":"x-pack-security"}]}}}`

// fullNodes: two nodes of a full distribution; only one has the wildcard
// plugin, so it does not count.
const fullNodes = `{"nodes":{
 "a":{"version":"8.19.7","modules":[{"name":"x-pack-ilm"},{"name":"data-streams"},{"name":"mapper-extras"},{"name":"ingest-common"},{"name":"lang-painless"},{"name":"constant-keyword"},{"name":"rest-root"},{"name":"wildcard"}]},
 "b":{"version":"8.19.7","modules":[{"name":"x-pack-ilm"},{"name":"data-streams"},{"name":"mapper-extras"},{"name":"ingest-common"},{"name":"lang-painless"},{"name":"constant-keyword"},{"name":"rest-root"}]}}}`

func TestDetect(t *testing.T) {
	f, err := Detect(context.Background(), &fakeES{plugins: minimalNode})
	if err != nil {
		t.Fatal(err)
	}
	if f.ILM || f.DataStreamAPI || f.Version != "8.19.7" || len(f.Missing) != len(optional) {
		t.Errorf("minimal node: %+v", f)
	}
	f, err = Detect(context.Background(), &fakeES{plugins: fullNodes})
	if err != nil {
		t.Fatal(err)
	}
	if !f.ILM || !f.DataStreamAPI || len(f.Missing) != 1 || f.Missing[0] != "wildcard field" {
		t.Errorf("full nodes: %+v", f)
	}
	if _, err := Detect(context.Background(), &fakeES{}); err == nil {
		t.Error("no error for a 403")
	}
}

func TestInstallMinimalNode(t *testing.T) {
	es := &fakeES{plugins: minimalNode, stored: map[string]string{}}
	ctx := context.Background()
	res, err := Install(ctx, es, Options{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := TemplatesFor("", StorageLogsDB)
	if err != nil {
		t.Fatal(err)
	}
	if res.ILMPolicy != "" || len(res.Installed) != len(all) || len(res.Skipped) != 0 || res.Storage.Storage != StorageLogsDB {
		t.Fatalf("first install %+v", res)
	}
	var puts []string
	for _, l := range es.log {
		if strings.HasPrefix(l, "PUT ") {
			puts = append(puts, l)
		}
	}
	want := []string{
		"PUT /_component_template/eximship-deadletter-mappings",
		"PUT /_component_template/eximship-logs-exim-mappings",
		"PUT /_component_template/eximship-logs-exim-settings",
		"PUT /_component_template/eximship-logs-exim-storage",
		"PUT /_component_template/eximship-sources-mappings",
		"PUT /_index_template/eximship-deadletter",
		"PUT /_index_template/eximship-logs-exim",
		"PUT /_index_template/eximship-sources",
	}
	if strings.Join(puts, "\n") != strings.Join(want, "\n") {
		t.Errorf("PUTs:\n%s\nwant:\n%s", strings.Join(puts, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(es.stored["/_component_template/eximship-logs-exim-settings"], "lifecycle") {
		t.Error("lifecycle set without ILM")
	}

	// Second run: everything present with our version.
	res, err = Install(ctx, es, Options{})
	if err != nil || len(res.Installed) != 0 || len(res.Skipped) != len(all) {
		t.Fatalf("second install %+v %v", res, err)
	}
	if m, err := Missing(ctx, es, res.Features); err != nil || len(m) != 0 {
		t.Fatalf("missing %v %v", m, err)
	}

	// An older version is upgraded without Overwrite.
	p := "/_index_template/eximship-logs-exim"
	es.stored[p] = versionRE.ReplaceAllString(es.stored[p], `"version":0`)
	if m, _ := Missing(ctx, es, res.Features); len(m) != 1 || m[0] != "index_template/eximship-logs-exim" {
		t.Fatalf("missing after downgrade %v", m)
	}
	res, err = Install(ctx, es, Options{})
	if err != nil || len(res.Installed) != 1 || res.Installed[0] != "index_template/eximship-logs-exim" {
		t.Fatalf("upgrade %+v %v", res, err)
	}

	// Overwrite rewrites everything...
	res, err = Install(ctx, es, Options{Overwrite: true})
	if err != nil || len(res.Installed) != len(all) {
		t.Fatalf("overwrite %+v %v", res, err)
	}
	// ... but never downgrades a newer eximship's template.
	es.stored[p] = versionRE.ReplaceAllString(es.stored[p], `"version":99`)
	res, err = Install(ctx, es, Options{Overwrite: true})
	if err != nil || len(res.Installed) != len(all)-1 || len(res.Skipped) != 1 || res.Skipped[0] != "index_template/eximship-logs-exim" {
		t.Fatalf("overwrite over a newer version %+v %v", res, err)
	}
}

func TestInstallWithILM(t *testing.T) {
	es := &fakeES{plugins: fullNodes, stored: map[string]string{}}
	ctx := context.Background()
	res, err := Install(ctx, es, Options{})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := TemplatesFor(DefaultILMPolicy, StorageLogsDB)
	if res.ILMPolicy != DefaultILMPolicy || len(res.Installed) != len(all) || res.Installed[0] != "ilm_policy/eximship-logs" {
		t.Fatalf("install %+v", res)
	}
	if !strings.Contains(es.stored["/_component_template/eximship-logs-exim-settings"], `"lifecycle":{"name":"eximship-logs"}`) {
		t.Errorf("settings %s", es.stored["/_component_template/eximship-logs-exim-settings"])
	}
	// The policy is never overwritten (users tune it).
	res, err = Install(ctx, es, Options{Overwrite: true})
	if err != nil || len(res.Installed) != len(all)-1 || res.Skipped[0] != "ilm_policy/eximship-logs" {
		t.Fatalf("overwrite %+v %v", res, err)
	}
	// A user policy must exist.
	if _, err := Install(ctx, es, Options{ILMPolicy: "mine"}); err == nil || !strings.Contains(err.Error(), "mine") {
		t.Fatalf("missing user policy: %v", err)
	}
	es.stored["/_ilm/policy/mine"] = `{"mine":{}}`
	res, err = Install(ctx, es, Options{ILMPolicy: "mine", Overwrite: true})
	if err != nil || res.ILMPolicy != "mine" || !strings.Contains(es.stored["/_component_template/eximship-logs-exim-settings"], `"name":"mine"`) {
		t.Fatalf("user policy %+v %v", res, err)
	}
	// DisableILM.
	res, err = Install(ctx, es, Options{DisableILM: true, Overwrite: true})
	if err != nil || res.ILMPolicy != "" || strings.Contains(es.stored["/_component_template/eximship-logs-exim-settings"], "lifecycle") {
		t.Fatalf("disabled %+v %v", res, err)
	}
}

func TestInstallErrors(t *testing.T) {
	// Feature detection forbidden: templates still installed, without ILM.
	es := &fakeES{stored: map[string]string{}}
	res, err := Install(context.Background(), es, Options{})
	all, _ := Templates("")
	if err != nil || res.DetectError == nil || len(res.Installed) != len(all) {
		t.Fatalf("%+v %v", res, err)
	}
	// A refused PUT stops and names the template.
	es = &fakeES{plugins: minimalNode, stored: map[string]string{}, failPut: "/_component_template/eximship-logs-exim-mappings"}
	_, err = Install(context.Background(), es, Options{})
	if err == nil || !strings.Contains(err.Error(), "eximship-logs-exim-mappings") || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("err %v", err)
	}
}
