package kibana

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/dashboards"
	"github.com/eximship/eximship/shipper/kibana/kibanatest"
)

type testCase struct {
	Config struct {
		Space, Username, Password string
		APIKey                    string `json:"api_key"`
	} `json:"config"`
	Error string `json:"error"`
}

func bundle(t *testing.T) Bundle {
	t.Helper()
	so, err := dashboards.SavedObjectsNDJSON()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := dashboards.RulesNDJSON()
	if err != nil {
		t.Fatal(err)
	}
	return Bundle{SavedObjects: so, Rules: rules}
}

// TestRecorded runs Setup against each recorded Kibana conversation in
// testdata/<kibana version>-<case>/: the requests must be exactly the
// recorded ones (method, path with space and ?overwrite=true, kbn-xsrf,
// the credentials, the NDJSON as a multipart "file" part), and the outcome
// the case's: success, or an error naming what went wrong per object.
func TestRecorded(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/*/exchanges.json")
	if len(dirs) < 8 {
		t.Fatalf("only %d recorded cases", len(dirs))
	}
	b := bundle(t)
	for _, f := range dirs {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, "case.json"))
			if err != nil {
				t.Fatal(err)
			}
			var tc testCase
			if err := json.Unmarshal(raw, &tc); err != nil {
				t.Fatal(err)
			}
			srv := kibanatest.Serve(t, dir)
			c, err := New(Config{URL: srv.URL, Space: tc.Config.Space, Username: tc.Config.Username, Password: tc.Config.Password,
				APIKey: tc.Config.APIKey, RetryBackoff: time.Millisecond, StartupTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := c.Setup(context.Background(), dashboards.MinKibanaVersion, b)
			switch {
			case tc.Error == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.Error != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tc.Error)
			case tc.Error != "" && !strings.Contains(err.Error(), tc.Error):
				t.Fatalf("error %q does not contain %q", err, tc.Error)
			}
			if err != nil {
				t.Logf("error as the user sees it:\n%v", err)
			}
			wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(tc.Config.Username+":"+tc.Config.Password))
			if tc.Config.APIKey != "" {
				wantAuth = "ApiKey " + tc.Config.APIKey
			}
			for i, r := range srv.Requests() {
				if got := r.Header.Get("Authorization"); got != wantAuth {
					t.Errorf("request %d: Authorization %q, want %q", i+1, got, wantAuth)
				}
				switch {
				case strings.Contains(r.Path, "/saved_objects/_import"):
					if !bytes.Equal(r.File, b.SavedObjects) {
						t.Errorf("request %d: the saved-objects file is not the bundle's NDJSON", i+1)
					}
				case strings.Contains(r.Path, "/rules/_import"):
					if !bytes.Equal(r.File, b.Rules) {
						t.Errorf("request %d: the rules file is not the bundle's NDJSON", i+1)
					}
				}
			}
			if err == nil {
				if rep.SavedObjects == nil || rep.SavedObjects.SuccessCount == 0 || rep.Rules == nil || rep.Rules.SuccessCount == 0 {
					t.Errorf("success without counts: %+v", rep)
				}
				if rep.Status.Version == "" {
					t.Error("no version in the report")
				}
			}
			var ie *ImportError
			if errors.As(err, &ie) && len(ie.Result.Errors) == 0 {
				t.Error("an import error without per-object errors")
			}
		})
	}
}

func TestAPIKeyForms(t *testing.T) {
	c, err := New(Config{URL: "http://k:5601", APIKey: "id:secret"})
	if err != nil {
		t.Fatal(err)
	}
	if c.auth != "ApiKey "+base64.StdEncoding.EncodeToString([]byte("id:secret")) {
		t.Errorf("id:key not encoded: %s", c.auth)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "key")
	if err := os.WriteFile(p, []byte("  ZW5jb2RlZA==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = New(Config{URL: "http://k:5601", APIKeyFile: p})
	if err != nil {
		t.Fatal(err)
	}
	if c.auth != "ApiKey ZW5jb2RlZA==" {
		t.Errorf("api_key_file: %s", c.auth)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{
		{},
		{URL: "kibana:5601"},
		{URL: "http://u:p@kibana:5601"},
		{URL: "http://k", Space: "My Space"},
		{URL: "http://k", Password: "p"},
		{URL: "http://k", Username: "u", Password: "p", PasswordFile: "f"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		} else if strings.Contains(err.Error(), ":p@") {
			t.Errorf("error leaks the URL password: %v", err)
		}
	}
	if err := (Config{URL: "https://proxy/kibana", Space: "sec-ops_1", Username: "u", Password: "p"}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"8.9.0", "8.9.0", 0}, {"8.10.1", "8.9.0", 1}, {"8.8.2", "8.9.0", -1}, {"9.0.1", "8.9.0", 1}, {"9.1.0-SNAPSHOT", "9.1.0", 0}, {"7.17.3", "8.9.0", -1}} {
		got, err := compareVersions(c.a, c.b)
		if err != nil || got != c.want {
			t.Errorf("compare %s %s = %d, %v; want %d", c.a, c.b, got, err, c.want)
		}
	}
	if _, err := compareVersions("eight", "8.9.0"); err == nil {
		t.Error("bad version accepted")
	}
}

// TestStartupTimeout: a Kibana that never gets ready makes Status give up
// with a clear error after StartupTimeout.
func TestStartupTimeout(t *testing.T) {
	srv := kibanatest.Serve(t, "testdata/9.0.1-starting")
	c, err := New(Config{URL: srv.URL, Username: "elastic", Password: "changeme", RetryBackoff: 30 * time.Millisecond, StartupTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not ready after") {
		t.Fatalf("err %v", err)
	}
	// Serve it the rest of the recording so that the server's checks pass.
	// (with a patient client: how many 503s the first one consumed depends on
	// the machine's speed).
	c2, err := New(Config{URL: srv.URL, Username: "elastic", Password: "changeme", RetryBackoff: time.Millisecond, StartupTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Setup(context.Background(), "8.9.0", bundle(t)); err != nil {
		t.Fatal(err)
	}
}

// TestUnreachable: a Kibana that does not answer at all gives up after
// StartupTimeout with an error Unreachable recognises (setup exits 4).
func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := New(Config{URL: url, RetryBackoff: time.Millisecond, StartupTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(context.Background())
	if err == nil || !Unreachable(err) || !strings.Contains(err.Error(), "not ready after") {
		t.Fatalf("err %v (unreachable %v)", err, Unreachable(err))
	}
	if Unreachable(&HTTPError{StatusCode: 401}) {
		t.Error("an answer counted as unreachable")
	}
}

// TestSetupIsRepeatable: running Setup again sends exactly the same
// requests (same paths with overwrite=true, same files with the same
// fixed ids), so a second `eximship setup` overwrites its own objects
// instead of adding copies.
func TestSetupIsRepeatable(t *testing.T) {
	b := bundle(t)
	var runs [2][]kibanatest.Request
	for i := range runs {
		srv := kibanatest.Serve(t, "testdata/8.18.1-success")
		c, err := New(Config{URL: srv.URL, Username: "elastic", Password: "changeme", RetryBackoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Setup(context.Background(), dashboards.MinKibanaVersion, b); err != nil {
			t.Fatal(err)
		}
		runs[i] = srv.Requests()
	}
	if len(runs[0]) != len(runs[1]) || len(runs[0]) != 3 {
		t.Fatalf("%d and %d requests", len(runs[0]), len(runs[1]))
	}
	for i := range runs[0] {
		a, z := runs[0][i], runs[1][i]
		if a.Method != z.Method || a.Path != z.Path || !bytes.Equal(a.File, z.File) {
			t.Errorf("request %d differs between runs: %s %s vs %s %s", i+1, a.Method, a.Path, z.Method, z.Path)
		}
		if a.File != nil && !strings.Contains(a.Path, "overwrite=true") {
			t.Errorf("import %s without overwrite=true", a.Path)
		}
	}
	// Every object line carries its fixed id.
	for _, line := range bytes.Split(bytes.TrimSpace(b.SavedObjects), []byte("\n")) {
		var o struct{ ID string }
		if err := json.Unmarshal(line, &o); err != nil || !strings.HasPrefix(o.ID, "eximship-") {
			t.Errorf("saved object without a fixed id: %.80s", line)
		}
	}
	for _, line := range bytes.Split(bytes.TrimSpace(b.Rules), []byte("\n")) {
		var r struct {
			RuleID string `json:"rule_id"`
		}
		if err := json.Unmarshal(line, &r); err != nil || len(r.RuleID) != 36 {
			t.Errorf("rule without a fixed rule_id: %.80s", line)
		}
	}
}
