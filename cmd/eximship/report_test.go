package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eximship/eximship/shipper/analysis"
)

func TestReportUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"report", "--format", "xml", td + "mainlog"}, exitUsage, "want table, json or html"},
		{[]string{"report", "--since", "yesterday", td + "mainlog"}, exitUsage, "--since"},
		{[]string{"report", "--since", "2026-12-01", "--until", "2026-11-01", td + "mainlog"}, exitUsage, "not before"},
		{[]string{"report", "--top", "0", td + "mainlog"}, exitUsage, "--top"},
		{[]string{"report", "--write-sources", td + "mainlog"}, exitUsage, "give no FILEs"},
		{[]string{"report", "--local-domain", "a@b", td + "mainlog"}, exitUsage, "not a domain"},
		{[]string{"report", "--config", filepath.Join(t.TempDir(), "none.yml")}, exitConfig, "no such file"},
		{[]string{"report", "/nonexistent/mainlog"}, exitFailure, "could not be read"},
	} {
		code, _, errs := runCmd(t, nil, c.args...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, errs, c.code, c.msg)
		}
	}
	// Without files the configuration must name Elasticsearch.
	cfg := filepath.Join(t.TempDir(), "eximship.yml")
	if err := os.WriteFile(cfg, []byte("exim:\n  namespace: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCmd(t, nil, "report", "--config", cfg); code != exitConfig || !strings.Contains(errs, "elasticsearch") {
		t.Errorf("config without elasticsearch: exit %d, %s", code, errs)
	}
	// Nobody listens: unreachable (4); a 401: refused (5).
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":{"type":"security_exception","reason":"missing authentication credentials"},"status":401}`))
	}))
	defer refuse.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	for url, want := range map[string]int{dead.URL: exitUnreachable, refuse.URL: exitRefused} {
		if err := os.WriteFile(cfg, []byte("elasticsearch:\n  addresses: ["+url+"]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, _, errs := runCmd(t, nil, "report", "--config", cfg); code != want {
			t.Errorf("Elasticsearch at %s: exit %d (%s), want %d", url, code, errs, want)
		}
	}
}

// The report of files is computed from the documents parse prints: the
// same figures from a file and from standard input, and exim.local_domains
// of --config is the default of --local-domain.
func TestReportFilesAndStdin(t *testing.T) {
	mainlog := "../../shipper/exim/testdata/real/default/mainlog"
	b, err := os.ReadFile(mainlog)
	if err != nil {
		t.Fatal(err)
	}
	_, fromFile, _ := runCmd(t, nil, "report", "--format", "json", "--local-domain", "example.org", mainlog)
	_, fromStdin, _ := runCmd(t, strings.NewReader(string(b)), "report", "--format", "json", "--local-domain", "example.org", "-")
	if fromFile == "" || fromFile != fromStdin {
		t.Fatalf("file and stdin differ:\n%s\n%s", fromFile, fromStdin)
	}
	cfg := filepath.Join(t.TempDir(), "eximship.yml")
	if err := os.WriteFile(cfg, []byte("exim:\n  local_domains: [example.org]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, fromConfig, _ := runCmd(t, nil, "report", "--format", "json", "--config", cfg, mainlog)
	if fromConfig != fromFile {
		t.Errorf("exim.local_domains of --config is not the default of --local-domain")
	}
	var rep analysis.Report
	if err := json.Unmarshal([]byte(fromFile), &rep); err != nil {
		t.Fatal(err)
	}
	// The capture's relay attempts (grep "relay not permitted" mainlog).
	want := int64(strings.Count(string(b), "relay not permitted"))
	if rep.RelayAttempts != want || want == 0 {
		t.Errorf("relay_attempts %d, the log has %d", rep.RelayAttempts, want)
	}
	// --top bounds the lists; table and html are written too.
	_, top1, _ := runCmd(t, nil, "report", "--format", "json", "--top", "1", "--local-domain", "example.org", mainlog)
	json.Unmarshal([]byte(top1), &rep)
	if len(rep.TopRecipientDomains) != 1 || len(rep.Sources) != 1 {
		t.Errorf("--top 1: %d domains, %d sources", len(rep.TopRecipientDomains), len(rep.Sources))
	}
	out := filepath.Join(t.TempDir(), "r.html")
	if code, _, errs := runCmd(t, nil, "report", "--format", "html", "-o", out, mainlog); code != 0 {
		t.Fatalf("html: %d %s", code, errs)
	}
	if h, _ := os.ReadFile(out); !strings.HasPrefix(string(h), "<!DOCTYPE html>") {
		t.Errorf("-o %s holds no HTML page", out)
	}
}

// docSink gets the parser's output in arbitrary chunks.
func TestDocSinkChunks(t *testing.T) {
	docs := []string{
		`{"@timestamp":"2026-11-25T17:45:01.000Z","event":{"action":"smtp-connection"},"data_stream":{"type":"logs","dataset":"exim.main","namespace":"d"}}`,
		`{"@timestamp":"2026-11-25T17:45:02.000Z","event":{"action":"rcpt-rejected"},"source":{"address":"10.0.0.1"},"email":{"to":{"address":["a@b.test"]}},"exim":{"rcpt":{"domain":"b.test"},"reason":"relay not permitted"},"data_stream":{"type":"logs","dataset":"exim.main","namespace":"d"}}`,
	}
	all := strings.Join(docs, "\n") + "\n"
	for _, size := range []int{1, 7, 64, len(all)} {
		col := analysis.NewCollector(analysis.CollectorConfig{})
		s := &docSink{col: col}
		for i := 0; i < len(all); i += size {
			if _, err := s.Write([]byte(all[i:min(i+size, len(all))])); err != nil {
				t.Fatal(err)
			}
		}
		f := col.Facts()
		if f.Dataset != "exim.main" || len(f.Attempts) != 1 || f.Attempts[0].Recipient != "a@b.test" {
			t.Errorf("chunks of %d: %+v", size, f)
		}
	}
}
