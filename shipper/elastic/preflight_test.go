package elastic

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Answers recorded on the secured test node of scripts/stack (8.19).
const (
	authOK       = `{"username":"eximship-readonly","roles":["eximship_test_readonly"],"full_name":null,"email":null,"metadata":{},"enabled":true,"authentication_realm":{"name":"file1","type":"file"},"lookup_realm":{"name":"file1","type":"file"},"authentication_type":"realm"}`
	auth401      = `{"error":{"root_cause":[{"type":"security_exception","reason":"unable to authenticate user [eximship-run] for REST request [/_security/_authenticate]"}],"type":"security_exception","reason":"unable to authenticate user [eximship-run] for REST request [/_security/_authenticate]"},"status":401}`
	privsMissing = `{"username":"eximship-readonly","has_all_requested":false,"cluster":{"monitor":true},"index":{"logs-exim.main-default":{"auto_configure":false,"create_doc":false}},"application":{}}`
	// the node with security disabled (the shared stack)
	securityOff = `{"error":"Incorrect HTTP method for uri [/_security/_authenticate] and method [GET], allowed: [POST]","status":405}`
)

var runNeeds = Privileges{
	Cluster: []string{"monitor"},
	Indices: []IndexPrivileges{{Names: []string{"logs-exim.main-default"}, Privileges: []string{"create_doc"}, Optional: []string{"auto_configure"}}},
}

func TestPreflightAnswers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		handler   func(path string, body []byte) (int, string)
		noHeader  bool
		wantErr   string // "" = ok
		permanent bool
		warn      string
		user      string
	}{
		{name: "security-off", handler: func(string, []byte) (int, string) { return 405, securityOff }},
		{name: "401", handler: func(string, []byte) (int, string) { return 401, auth401 }, noHeader: true,
			wantErr: "refused the credentials (401 Unauthorized: security_exception: unable to authenticate user [eximship-run]", permanent: true},
		{name: "missing-privileges", handler: func(p string, body []byte) (int, string) {
			if p == "/_security/user/_has_privileges" {
				var req map[string]any
				if err := json.Unmarshal(body, &req); err != nil {
					t.Errorf("privileges request %s: %v", body, err)
				}
				return 200, privsMissing
			}
			return 200, authOK
		}, wantErr: "Elasticsearch user eximship-readonly (roles: eximship_test_readonly) lacks index privilege create_doc on logs-exim.main-default: grant the roles of docs/SECURITY.md", permanent: true},
		{name: "all-granted-but-optional", handler: func(p string, _ []byte) (int, string) {
			if p == "/_security/user/_has_privileges" {
				return 200, `{"username":"u","has_all_requested":false,"cluster":{"monitor":true},"index":{"logs-exim.main-default":{"auto_configure":false,"create_doc":true}}}`
			}
			return 200, authOK
		}, warn: "lacks index privilege auto_configure on logs-exim.main-default: it cannot create these data streams", user: "eximship-readonly"},
		{name: "proxy-503", handler: func(string, []byte) (int, string) { return 503, "<html>service unavailable</html>" }, noHeader: true,
			wantErr: "is not ready: 503 Service Unavailable"},
		{name: "not-elasticsearch", handler: func(string, []byte) (int, string) { return 404, "<html>not found</html>" }, noHeader: true,
			wantErr: "does not answer as Elasticsearch (status 404, no X-Elastic-Product header", permanent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeES{noHeader: tc.noHeader, handler: func(_ int, r *http.Request, body []byte) (int, string, error) {
				st, b := tc.handler(r.URL.Path, body)
				return st, b, nil
			}}
			s := newTestSink(t, f, nil)
			id, warns, err := Preflight(context.Background(), s.Client(), "https://user:secret@es.example:9200", runNeeds)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if err != nil {
				if Temporary(err) == tc.permanent {
					t.Errorf("Temporary(%v) = %t", err, Temporary(err))
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("the password leaks: %v", err)
				}
			}
			if tc.warn != "" && (len(warns) != 1 || !strings.Contains(warns[0], tc.warn)) {
				t.Errorf("warnings %q, want %q", warns, tc.warn)
			}
			if tc.user != "" && (id.Username != tc.user || !id.Security) {
				t.Errorf("identity %+v", id)
			}
		})
	}
}

// TestPreflightTransport: real listeners for the mistakes that get no HTTP
// answer; each fails at once (no retry) with a message that says what to
// change.
func TestPreflightTransport(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.WriteHeader(405)
	}))
	defer tlsSrv.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(405) }))
	defer plain.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	// a TLS server demanding a client certificate
	mtls := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	mtls.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	mtls.StartTLS()
	defer mtls.Close()
	mtlsCA := filepath.Join(dir, "mtls-ca.pem")
	if err := os.WriteFile(mtlsCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: mtls.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + closed.Addr().String()
	closed.Close()
	tlsAddr := strings.TrimPrefix(tlsSrv.URL, "https://")
	// closes every connection at once, as a TLS-only Elasticsearch port
	// does on a plain HTTP request
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	go func() {
		for {
			c, err := cl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closer := cl.Addr().String()

	for _, tc := range []struct {
		name, url, caFile, want string
	}{
		{"untrusted", tlsSrv.URL, "", "is not signed by a trusted CA: set elasticsearch.ca_file"},
		// Go's TLS server answers a plain request 400; Elasticsearch
		// closes the connection (the "eof" case).
		{"http-to-go-https-port", "http://" + tlsAddr, ca, "serves HTTPS: use https://"},
		{"eof", "http://" + closer, "", "closed the connection without an HTTP answer: if the node serves HTTPS, use https://"},
		{"https-to-http-port", strings.Replace(plain.URL, "http://", "https://", 1), "", "speaks plain HTTP, not TLS: use http://"},
		{"wrong-name", "https://localhost:" + strconv.Itoa(tlsSrv.Listener.Addr().(*net.TCPAddr).Port), ca, ""},
		{"refused", refused, "", "nothing listens at " + strings.TrimPrefix(refused, "http://") + " (connection refused)"},
		{"client-cert-required", mtls.URL, mtlsCA, "refused the handshake (it wants a client certificate it trusts): set elasticsearch.cert_file and key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, err := NewClient(Config{Addresses: []string{tc.url}, CAFile: tc.caFile})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = Preflight(context.Background(), client, tc.url, runNeeds)
			if tc.name == "wrong-name" {
				// httptest's certificate is for 127.0.0.1 and example.com,
				// and Go accepts "localhost" for neither.
				tc.want = "is not valid for that name"
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if Temporary(err) {
				t.Errorf("%v reported temporary", err)
			}
			t.Log(err)
		})
	}
}
