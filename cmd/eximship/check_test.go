package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/eximship/eximship/shipper/kibana/kibanatest"
	"github.com/eximship/eximship/shipper/stacktest"
)

// writeFile writes a test file and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkLines returns the lines of check's text report whose first word is
// status, for service and check.
func findLine(out, status, service, check string) string {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(status) + `\s+` + regexp.QuoteMeta(service) + `\s+` + regexp.QuoteMeta(check) + `\s+(.*)$`)
	if m := re.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

func TestCheckOfflineConfigErrors(t *testing.T) {
	cfg := writeFile(t, "bad.yml", "kafka:\n  brokers: [127.0.0.1:9092]\n  topicz: [x]\nelasticsearch:\n  timeout: 30\n---\nexim: {}\n")
	code, out, errOut := runCmd(t, nil, "check", "--config", cfg)
	if code != exitConfig || errOut != "" {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut, out)
	}
	for _, want := range []string{
		"line 1: kafka.topics: missing",
		"line 3: kafka.topicz: unknown key: did you mean topics?",
		"line 5: elasticsearch.timeout: 30 is a number without a unit: write a duration such as 30s",
		"line 6: a second YAML document",
	} {
		if !strings.Contains(out, "FAILED  config") || !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "kafka          brokers") {
		t.Errorf("services checked despite an invalid file:\n%s", out)
	}
	if code, out, _ := runCmd(t, nil, "check", "--config", filepath.Join(t.TempDir(), "none.yml")); code != exitConfig || !strings.Contains(out, "no such file or directory") {
		t.Errorf("missing file: exit %d\n%s", code, out)
	}
}

func TestCheckOfflineValid(t *testing.T) {
	cfg := writeFile(t, "ok.yml", "kafka:\n  brokers: [127.0.0.1:1]\n  topics: [x]\n  tls:\n    insecure_skip_verify: true\n")
	code, out, _ := runCmd(t, nil, "check", "--offline", "--config", cfg)
	if code != exitOK || findLine(out, "ok", "config", "file") == "" || !strings.Contains(findLine(out, "warn", "config", "file"), "line 5: kafka.tls.insecure_skip_verify") {
		t.Errorf("exit %d\n%s", code, out)
	}
	if strings.Contains(out, "kafka          brokers") || strings.Contains(out, "elasticsearch  connect") {
		t.Errorf("-offline reached a service:\n%s", out)
	}
	code, out, _ = runCmd(t, nil, "check", "--offline", "--format", "json", "--config", cfg)
	var n int
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var cl checkLine
		if err := json.Unmarshal([]byte(l), &cl); err != nil || cl.Service != "config" {
			t.Errorf("json line %q: %v", l, err)
		}
		n++
	}
	if code != 0 || n != 2 {
		t.Errorf("json: exit %d, %d lines\n%s", code, n, out)
	}
}

func TestCheckKibana(t *testing.T) {
	ok := kibanatest.Serve(t, "testdata/kibana/8.18.1-status")
	refused := kibanatest.Serve(t, "../../shipper/kibana/testdata/8.18.1-unauthorized")
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + l.Addr().String()
	l.Close()
	for _, c := range []struct {
		url, status, want string
		exit              int
	}{
		{ok.URL, "ok", "Kibana 8.18.1 (traditional), available", exitOK},
		{refused.URL, "FAILED", "answered 401", exitRefused},
		{closed, "FAILED", "connection refused", exitUnreachable},
	} {
		cfg := writeFile(t, "k.yml", "kibana:\n  url: "+c.url+"\n  username: u\n  password: p\n")
		code, out, _ := runCheckKibanaOnly(t, cfg)
		if got := findLine(out, c.status, "kibana", "status"); code != c.exit || !strings.Contains(got, c.want) {
			t.Errorf("%s: exit %d (want %d), kibana line %q, want %q\n%s", c.url, code, c.exit, got, c.want, out)
		}
	}
}

// runCheckKibanaOnly runs check with Elasticsearch pointed at a stand-in
// that answers as a security-less node, so that the Kibana line decides.
func runCheckKibanaOnly(t *testing.T, cfg string) (int, string, string) {
	es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(r.URL.Path, "/_security"):
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":{"type":"illegal_argument_exception","reason":"security is disabled"}}`))
		case strings.HasPrefix(r.URL.Path, "/_nodes"):
			w.Write([]byte(`{"nodes":{"n":{"version":"8.19.7","modules":[]}}}`))
		default:
			w.Write([]byte(`{}`))
		}
	}))
	t.Cleanup(es.Close)
	raw, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(raw, []byte("elasticsearch:\n  addresses: ["+es.URL+"]\n")...), 0o600)
	return runCmd(t, nil, "check", "--config", cfg)
}

// assertCheck runs eximship with args and checks its exit status and that
// each {status, "service check", text} line is in its report; it returns
// the report.
func assertCheck(t *testing.T, exit int, lines [][3]string, args ...string) string {
	t.Helper()
	code, out, _ := runCmd(t, nil, args...)
	if code != exit {
		t.Errorf("exit %d, want %d\n%s", code, exit, out)
	}
	for _, l := range lines {
		svc, chk, _ := strings.Cut(l[1], " ")
		if got := findLine(out, l[0], svc, chk); !strings.Contains(got, l[2]) {
			t.Errorf("line %s %s: %q, want it to contain %q\n%s", l[0], l[1], got, l[2], out)
		}
	}
	return out
}

// TestCheckSharedStack runs check against the real Kafka and
// Elasticsearch (security off): everything right, a missing topic, nothing
// listening, and each service's address pointed at the other one.
func TestCheckSharedStack(t *testing.T) {
	brokers, topic := stacktest.NewTopic(t, 2)
	es := stacktest.ElasticURL(t)
	esHost := strings.TrimPrefix(es, "http://")
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	config := func(kafkaBrokers, topics, esURL string) string {
		return writeFile(t, "c.yml", "kafka:\n  brokers: ["+kafkaBrokers+"]\n  topics: ["+topics+"]\n  group_id: "+stacktest.UniqueName("check")+
			"\nelasticsearch:\n  addresses: [\""+esURL+"\"]\n  timeout: 5s\nexim:\n  namespace: checktest\n")
	}
	b := strings.Join(brokers, ", ")
	for _, c := range []struct {
		name  string
		cfg   string
		exit  int
		lines [][3]string // status, service+check, text in the message
	}{
		{"all right", config(b, topic, es), exitOK, [][3]string{
			{"ok", "kafka brokers", b + " answered (plaintext)"},
			{"ok", "kafka topics", topic + " exist"},
			{"ok", "kafka group", "the coordinator answered; new"},
			{"ok", "elasticsearch connect", "answered: Elasticsearch 8."},
			{"ok", "elasticsearch auth", "security is off"},
			{"ok", "elasticsearch features", "ILM no"},
		}},
		{"missing topic", config(b, topic+", no-such-topic-"+topic, es), exitRefused, [][3]string{
			{"ok", "kafka brokers", "answered"},
			{"FAILED", "kafka topics", `topic "no-such-topic-` + topic + `" does not exist (create it`},
		}},
		{"nothing listening", config(closed, topic, "http://"+closed), exitUnreachable, [][3]string{
			{"FAILED", "kafka brokers", "nothing listens at " + closed + " (connection refused)"},
			{"FAILED", "elasticsearch connect", "nothing listens at " + closed},
		}},
		// the bare "EOF" users once met: each client pointed at the other server
		{"swapped ports", config(esHost, topic, "http://"+brokers[0]), exitUnreachable, [][3]string{
			{"FAILED", "kafka brokers", "Kafka listeners? (a server that is not Kafka, such as an HTTP port"},
			{"FAILED", "elasticsearch connect", "closed the connection without an HTTP answer"},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := assertCheck(t, c.exit, c.lines, "check", "--config", c.cfg)
			if regexp.MustCompile(`(?m)\s(EOF|context deadline exceeded)$`).MatchString(out) && !strings.Contains(out, "closed the connection") && !strings.Contains(out, "in time") {
				t.Errorf("a bare EOF without an explanation:\n%s", out)
			}
		})
	}
}
