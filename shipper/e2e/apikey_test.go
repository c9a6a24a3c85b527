package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/stacktest"
)

// apiKeyStandIn answers like an Elasticsearch node with security on for the
// requests eximship run makes with install_templates false, and records
// the Authorization header of each. The test node cannot create API keys
// (its security index needs the analysis-common module the integ-test
// distribution lacks: POST /_security/api_key answers 400 "Unknown filter
// type [pattern_capture] for [email]"), so the header is proven here; the
// rest of Elasticsearch security runs against the real node.
type apiKeyStandIn struct {
	mu       sync.Mutex
	auth     map[string]int // Authorization header -> requests
	paths    map[string]int
	ids      map[string]bool
	srv      *httptest.Server
	username string
}

func newAPIKeyStandIn(t *testing.T) *apiKeyStandIn {
	s := &apiKeyStandIn{auth: map[string]int{}, paths: map[string]int{}, ids: map[string]bool{}, username: "eximship-api-key"}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *apiKeyStandIn) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.auth[r.Header.Get("Authorization")]++
	s.paths[r.Method+" "+r.URL.Path]++
	s.mu.Unlock()
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	// Elasticsearch reads the scheme case-insensitively, as RFC 7235 says
	// (go-elasticsearch writes "APIKey").
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); !strings.EqualFold(scheme, "ApiKey") {
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error":{"type":"security_exception","reason":"missing authentication credentials"},"status":401}`)
		return
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /_security/_authenticate":
		fmt.Fprintf(w, `{"username":%q,"roles":[],"authentication_realm":{"name":"_es_api_key","type":"_es_api_key"},"authentication_type":"api_key","api_key":{"id":"test-id","name":"eximship"}}`, s.username)
	case "POST /_security/user/_has_privileges":
		var req struct {
			Cluster []string `json:"cluster"`
			Index   []struct {
				Names      []string `json:"names"`
				Privileges []string `json:"privileges"`
			} `json:"index"`
		}
		_ = json.Unmarshal(body, &req)
		res := map[string]any{"username": s.username, "has_all_requested": true}
		cl := map[string]bool{}
		for _, c := range req.Cluster {
			cl[c] = true
		}
		ix := map[string]map[string]bool{}
		for _, i := range req.Index {
			for _, n := range i.Names {
				ix[n] = map[string]bool{}
				for _, p := range i.Privileges {
					ix[n][p] = true
				}
			}
		}
		res["cluster"], res["index"] = cl, ix
		_ = json.NewEncoder(w).Encode(res)
	case "POST /_bulk":
		lines := bytes.Split(bytes.TrimSpace(body), []byte("\n"))
		var items []string
		for i := 0; i+1 < len(lines); i += 2 {
			var a struct {
				Create struct {
					ID string `json:"_id"`
				} `json:"create"`
			}
			_ = json.Unmarshal(lines[i], &a)
			s.mu.Lock()
			st := 201
			if s.ids[a.Create.ID] {
				st = 409
			}
			s.ids[a.Create.ID] = true
			s.mu.Unlock()
			items = append(items, fmt.Sprintf(`{"create":{"status":%d}}`, st))
		}
		fmt.Fprintf(w, `{"errors":false,"items":[%s]}`, strings.Join(items, ","))
	case "GET /_cluster/health":
		fmt.Fprint(w, `{"status":"green"}`)
	default:
		w.WriteHeader(404)
		fmt.Fprintf(w, `{"error":{"type":"stand_in","reason":"not recorded: %s %s"},"status":404}`, r.Method, r.URL.Path)
	}
}

// TestAPIKeyStandInIntegration: with elasticsearch.api_key (from the
// environment) or api_key_file, every request eximship run sends carries
// "Authorization: ApiKey <key>" and no basic credentials, the run
// authenticates as the key's user and indexes every line (Kafka is the
// real broker).
func TestAPIKeyStandInIntegration(t *testing.T) {
	stacktest.ElasticURL(t)
	key := base64.StdEncoding.EncodeToString([]byte("test-id:test-api-key-secret"))
	keyFile := filepath.Join(t.TempDir(), "api-key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := seedLines(t, 100)
	for _, tc := range []struct{ name, es string }{
		{"api-key-env", "  api_key: \"${EXIMSHIP_TEST_API_KEY}\"\n  install_templates: false\n"},
		{"api-key-file", fmt.Sprintf("  api_key_file: %q\n  install_templates: false\n", keyFile)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			standIn := newAPIKeyStandIn(t)
			env := newTestEnv(t, stacktest.ElasticURL(t))
			env.kafka.produceLines(t, lines, 1)
			end := env.kafka.endOffsets(t)
			sp := env.startShipperEnv("run", env.writeConfig(config{esURL: standIn.srv.URL, esExtra: tc.es}), "EXIMSHIP_TEST_API_KEY="+key)
			env.kafka.waitCommitted(t, env.group, end, 3*time.Minute, sp.checkAlive)
			sp.stop(30 * time.Second)
			standIn.mu.Lock()
			defer standIn.mu.Unlock()
			if len(standIn.ids) != len(lines) {
				t.Errorf("the stand-in got %d documents, want %d", len(standIn.ids), len(lines))
			}
			got := 0
			for h, n := range standIn.auth {
				scheme, cred, _ := strings.Cut(h, " ")
				if !strings.EqualFold(scheme, "ApiKey") || cred != key {
					t.Errorf("%d requests with Authorization %q, want ApiKey %s", n, h, key)
				}
				got += n
			}
			if got == 0 || standIn.paths["GET /_security/_authenticate"] == 0 || standIn.paths["POST /_bulk"] == 0 {
				t.Errorf("requests %v", standIn.paths)
			}
			if !sp.logHas("elasticsearch: authenticated", "user=eximship-api-key", "type=api_key") {
				t.Error("no \"elasticsearch: authenticated\" line for the API key")
			}
			sp.requireNoSecret(key, "test-api-key-secret")
		})
	}
}
