package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSecureCheckIntegration: eximship check against Kafka with TLS and
// SASL and an Elasticsearch with security and HTTPS, with the right
// settings and with each mistake users make; every line names what to do,
// and the exit status tells unreachable (4) from refused (5).
func TestSecureCheckIntegration(t *testing.T) {
	secure.wait(t)
	env := secure.newEnv(t) // a topic; the templates installed by the admin
	saslSSL := secure.env["EXIMSHIP_KAFKA_SASL_SSL_BROKERS"]
	saslPlain := secure.env["EXIMSHIP_KAFKA_SASL_PLAINTEXT_BROKERS"]
	esURL := secure.esURL()
	type opts struct {
		brokers, tls, mech, kafkaPWFile string
		esURL, esUser, esPWFile, esCA   string
		extraES                         string
	}
	right := opts{brokers: saslSSL, tls: "\n  tls:\n    ca_file: " + secure.path("ca.pem"), mech: "SCRAM-SHA-512", kafkaPWFile: secure.path("kafka.password"),
		esURL: esURL, esUser: "eximship-run", esPWFile: secure.path("es-eximship-run.password"), esCA: secure.path("ca.pem"),
		extraES: "  install_templates: false\n"}
	wrongPW := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrongPW, []byte("not-the-password\n"), 0o600)
	config := func(o opts) string {
		cfg := "kafka:\n  brokers: [" + o.brokers + "]\n  topics: [" + env.kafka.topic + "]\n  group_id: " + env.group + o.tls +
			"\n  sasl:\n    mechanism: " + o.mech + "\n    username: " + secure.env["EXIMSHIP_KAFKA_USER"] + "\n    password_file: " + o.kafkaPWFile +
			"\nelasticsearch:\n  addresses: [\"" + o.esURL + "\"]\n  username: " + o.esUser + "\n  password_file: " + o.esPWFile + "\n  timeout: 10s\n"
		if o.esCA != "" {
			cfg += "  ca_file: " + o.esCA + "\n"
		}
		cfg += o.extraES + "exim:\n  namespace: " + env.ns + "\n"
		p := filepath.Join(t.TempDir(), "check.yml")
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	with := func(f func(*opts)) opts { o := right; f(&o); return o }
	ns := env.ns
	for _, c := range []struct {
		name  string
		o     opts
		exit  int
		lines [][3]string // status, "service check", text in the message
	}{
		{"right", right, 0, [][3]string{
			{"ok", "kafka brokers", saslSSL + " answered (TLS, SASL SCRAM-SHA-512 as eximship)"},
			{"ok", "kafka topics", env.kafka.topic + " exist"},
			{"ok", "kafka group", "the coordinator answered"},
			{"ok", "elasticsearch auth", "authenticated as eximship-run"},
			{"ok", "elasticsearch privileges", "create_doc on logs-exim.main-" + ns},
			{"ok", "elasticsearch privileges", "no cluster privilege needed"},
			{"ok", "elasticsearch templates", "not readable by this user"},
		}},
		{"SASL_PLAINTEXT with SCRAM-SHA-256", with(func(o *opts) { o.brokers, o.tls, o.mech = saslPlain, "", "SCRAM-SHA-256" }), 0, [][3]string{
			{"ok", "kafka brokers", "SASL SCRAM-SHA-256 as eximship, no TLS"},
		}},
		{"wrong Kafka password", with(func(o *opts) { o.kafkaPWFile = wrongPW }), 5, [][3]string{
			{"FAILED", "kafka brokers", `Kafka refused the SASL credentials of user "eximship"`},
		}},
		{"Kafka CA not given", with(func(o *opts) { o.tls = "\n  tls:\n    enabled: true" }), 4, [][3]string{
			{"FAILED", "kafka brokers", "not signed by a trusted CA: set kafka.tls.ca_file"},
		}},
		{"Kafka TLS listener without tls", with(func(o *opts) { o.tls = "" }), 4, [][3]string{
			{"FAILED", "kafka brokers", "closed the connection: check the SASL credentials, and that the listener's security protocol matches kafka.tls and kafka.sasl"},
		}},
		{"Elasticsearch over http://", with(func(o *opts) { o.esURL = "http://" + strings.TrimPrefix(esURL, "https://") }), 4, [][3]string{
			{"FAILED", "elasticsearch connect", "closed the connection without an HTTP answer: if the node serves HTTPS, use https://"},
		}},
		{"Elasticsearch CA not given", with(func(o *opts) { o.esCA = "" }), 4, [][3]string{
			{"FAILED", "elasticsearch connect", "not signed by a trusted CA: set elasticsearch.ca_file"},
		}},
		{"wrong Elasticsearch password", with(func(o *opts) { o.esPWFile = wrongPW }), 5, [][3]string{
			{"FAILED", "elasticsearch auth", "refused the credentials (401 Unauthorized"},
		}},
		{"setup's user", with(func(o *opts) { o.esUser, o.esPWFile = "eximship-setup", secure.path("es-eximship-setup.password") }), 5, [][3]string{
			{"ok", "elasticsearch features", "ILM no"},
			{"ok", "elasticsearch templates", "installed and current"},
			{"FAILED", "elasticsearch privileges", "lacks index privilege create_doc on logs-exim.main-" + ns},
		}},
		{"user without write privileges", with(func(o *opts) {
			o.esUser, o.esPWFile = "eximship-readonly", secure.path("es-eximship-readonly.password")
		}), 5, [][3]string{
			{"ok", "elasticsearch auth", "authenticated as eximship-readonly"},
			{"FAILED", "elasticsearch privileges", "lacks index privilege create_doc on logs-exim.main-" + ns},
		}},
		{"run's user installing templates", with(func(o *opts) { o.extraES = "" }), 5, [][3]string{
			{"FAILED", "elasticsearch privileges", "cluster privilege manage_index_templates: grant the roles of docs/SECURITY.md"},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, _ := runEximship(t, 2*time.Minute, nil, "check", "--config", config(c.o), "--timeout", "20s")
			if code != c.exit {
				t.Errorf("exit %d, want %d\n%s", code, c.exit, out)
			}
			for _, l := range c.lines {
				svc, chk, _ := strings.Cut(l[1], " ")
				re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(l[0]) + `\s+` + regexp.QuoteMeta(svc) + `\s+` + regexp.QuoteMeta(chk) + `\s+(.*)$`)
				m := re.FindStringSubmatch(out)
				if m == nil || !strings.Contains(m[1], l[2]) {
					t.Errorf("no line %s %s containing %q:\n%s", l[0], l[1], l[2], out)
				}
			}
			for _, name := range []string{"kafka.password", "es-eximship-run.password", "es-eximship-readonly.password"} {
				if pw := secure.secret(t, name); strings.Contains(out, pw) {
					t.Errorf("the output shows the password of %s", name)
				}
			}
		})
	}
}
