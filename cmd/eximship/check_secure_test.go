package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper/stacktest"
)

// secureStack is a stack started with EXIMSHIP_STACK_SECURITY=on
// (scripts/stack, docs/STACK.md): its stack.env and its secrets directory.
type secureStack struct {
	env map[string]string
	dir string // EXIMSHIP_SECURE_DIR: CA, certificates, passwords
}

// findSecureStack reads the stack.env of EXIMSHIP_SECURE_STATE_DIR, or skips
// (fails under EXIMSHIP_REQUIRE_INTEGRATION).
func findSecureStack(t *testing.T) *secureStack {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	state := os.Getenv("EXIMSHIP_SECURE_STATE_DIR")
	if state == "" {
		stacktest.Skip(t, "no secured stack: start one with EXIMSHIP_STACK_SECURITY=on EXIMSHIP_STATE_DIR=DIR (and its own ports) scripts/stack up, then set EXIMSHIP_SECURE_STATE_DIR=DIR")
	}
	f, err := os.Open(filepath.Join(state, "stack.env"))
	if err != nil {
		stacktest.Skip(t, "secured stack: %v", err)
	}
	defer f.Close()
	s := &secureStack{env: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			s.env[k] = v
		}
	}
	if s.env["EXIMSHIP_STACK_SECURITY"] != "on" {
		stacktest.Skip(t, "%s is not a secured stack (EXIMSHIP_STACK_SECURITY=on)", state)
	}
	s.dir = s.env["EXIMSHIP_SECURE_DIR"]
	for _, k := range []string{"EXIMSHIP_KAFKA_BROKERS", "EXIMSHIP_ES_URL", "EXIMSHIP_KAFKA_SASL_SSL_BROKERS"} {
		if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(strings.Split(s.env[k], ",")[0], "https://"), 2*time.Second); err != nil {
			stacktest.Skip(t, "secured stack at %s: %v", state, err)
		} else {
			conn.Close()
		}
	}
	return s
}

func (s *secureStack) file(name string) string { return filepath.Join(s.dir, name) }

// newTopic creates a topic through the stack's plaintext listener.
func (s *secureStack) newTopic(t *testing.T) string {
	t.Helper()
	topic := stacktest.UniqueName("check-secure")
	c := &kafkago.Client{Addr: kafkago.TCP(s.env["EXIMSHIP_KAFKA_BROKERS"]), Timeout: 20 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}}})
	if err == nil {
		err = res.Errors[topic]
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	return topic
}

// TestCheckSecureStack: check against Kafka with SASL_SSL and an
// Elasticsearch with security and HTTPS, with the right settings and with
// each mistake users make; every line names what to do, and the exit
// status tells unreachable (4) from refused (5).
func TestCheckSecureStack(t *testing.T) {
	s := findSecureStack(t)
	topic := s.newTopic(t)
	esURL := s.env["EXIMSHIP_ES_URL"]
	esHost := strings.TrimPrefix(esURL, "https://")
	saslSSL := s.env["EXIMSHIP_KAFKA_SASL_SSL_BROKERS"]
	saslPlain := s.env["EXIMSHIP_KAFKA_SASL_PLAINTEXT_BROKERS"]
	kafkaPW := s.file("kafka.password")
	type opts struct {
		brokers, tls, mech, kafkaPWFile string
		esURL, esUser, esPWFile, esCA   string
		extraES                         string
	}
	right := opts{brokers: saslSSL, tls: "\n  tls:\n    ca_file: " + s.file("ca.pem"), mech: "SCRAM-SHA-512", kafkaPWFile: kafkaPW,
		esURL: esURL, esUser: "eximship-run", esPWFile: s.file("es-eximship-run.password"), esCA: s.file("ca.pem"), extraES: "  install_templates: false\n"}
	config := func(o opts) string {
		cfg := "kafka:\n  brokers: [" + o.brokers + "]\n  topics: [" + topic + "]\n  group_id: " + stacktest.UniqueName("check") + o.tls +
			"\n  sasl:\n    mechanism: " + o.mech + "\n    username: " + s.env["EXIMSHIP_KAFKA_USER"] + "\n    password_file: " + o.kafkaPWFile +
			"\nelasticsearch:\n  addresses: [\"" + o.esURL + "\"]\n  username: " + o.esUser + "\n  password_file: " + o.esPWFile + "\n  timeout: 10s\n"
		if o.esCA != "" {
			cfg += "  ca_file: " + o.esCA + "\n"
		}
		cfg += o.extraES + "exim:\n  namespace: checksecure\n"
		return writeFile(t, "secure.yml", cfg)
	}
	wrongPW := writeFile(t, "wrong", "not-the-password\n")
	// run's user may not install templates: setup's user does, as the
	// README tells (setup overwrites with the same version: idempotent)
	setupCfg := writeFile(t, "setup.yml", "elasticsearch:\n  addresses: [\""+esURL+"\"]\n  username: eximship-setup\n  password_file: "+
		s.file("es-eximship-setup.password")+"\n  ca_file: "+s.file("ca.pem")+"\n")
	if code, out, errOut := runCmd(t, nil, "setup", "--config", setupCfg, "--index-management"); code != 0 {
		t.Fatalf("setup --index-management as eximship-setup: exit %d\n%s%s", code, out, errOut)
	}
	with := func(f func(*opts)) opts { o := right; f(&o); return o }
	for _, c := range []struct {
		name  string
		o     opts
		exit  int
		lines [][3]string
	}{
		{"right", right, exitOK, [][3]string{
			{"ok", "kafka brokers", saslSSL + " answered (TLS, SASL SCRAM-SHA-512 as eximship)"},
			{"ok", "kafka topics", topic + " exist"},
			{"ok", "kafka group", "the coordinator answered"},
			{"ok", "elasticsearch auth", "authenticated as eximship-run"},
			{"ok", "elasticsearch privileges", "create_doc on logs-exim.main-checksecure"},
		}},
		{"SASL_PLAINTEXT with SCRAM-SHA-256", with(func(o *opts) { o.brokers, o.tls, o.mech = saslPlain, "", "SCRAM-SHA-256" }), exitOK, [][3]string{
			{"ok", "kafka brokers", "SASL SCRAM-SHA-256 as eximship, no TLS"},
		}},
		{"wrong Kafka password", with(func(o *opts) { o.kafkaPWFile = wrongPW }), exitRefused, [][3]string{
			{"FAILED", "kafka brokers", "Kafka refused the SASL credentials of user \"eximship\""},
		}},
		{"Kafka CA not given", with(func(o *opts) { o.tls = "\n  tls:\n    enabled: true" }), exitUnreachable, [][3]string{
			{"FAILED", "kafka brokers", "not signed by a trusted CA: set kafka.tls.ca_file"},
		}},
		{"Kafka TLS listener without tls", with(func(o *opts) { o.tls = "" }), exitUnreachable, [][3]string{
			{"FAILED", "kafka brokers", "closed the connection: check the SASL credentials, and that the listener's security protocol matches kafka.tls and kafka.sasl"},
		}},
		{"Elasticsearch over http://", with(func(o *opts) { o.esURL = "http://" + esHost }), exitUnreachable, [][3]string{
			{"FAILED", "elasticsearch connect", "closed the connection without an HTTP answer: if the node serves HTTPS, use https://"},
		}},
		{"Elasticsearch CA not given", with(func(o *opts) { o.esCA = "" }), exitUnreachable, [][3]string{
			{"FAILED", "elasticsearch connect", "not signed by a trusted CA: set elasticsearch.ca_file"},
		}},
		{"wrong Elasticsearch password", with(func(o *opts) { o.esPWFile = wrongPW }), exitRefused, [][3]string{
			{"FAILED", "elasticsearch auth", "refused the credentials (401 Unauthorized"},
		}},
		{"user without write privileges", with(func(o *opts) { o.esUser, o.esPWFile = "eximship-readonly", s.file("es-eximship-readonly.password") }), exitRefused, [][3]string{
			{"ok", "elasticsearch auth", "authenticated as eximship-readonly"},
			{"FAILED", "elasticsearch privileges", "lacks index privilege create_doc on logs-exim.main-checksecure"},
		}},
		{"run user installing templates", with(func(o *opts) { o.extraES = "" }), exitRefused, [][3]string{
			{"FAILED", "elasticsearch privileges", "lacks cluster privilege manage_index_templates"},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := assertCheck(t, c.exit, c.lines, "check", "--config", config(c.o), "--timeout", "20s")
			for _, name := range []string{"kafka.password", "es-eximship-run.password", "es-eximship-readonly.password"} {
				pw, _ := os.ReadFile(s.file(name))
				if p := strings.TrimSpace(string(pw)); p != "" && strings.Contains(out, p) {
					t.Errorf("the output shows the password of %s", name)
				}
			}
			if testing.Verbose() {
				t.Logf("%s", out)
			}
		})
	}
}
