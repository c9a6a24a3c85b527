package e2e

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSecureElasticsearchIntegration: eximship run indexes into the real
// node with security and HTTPS on, authenticated by basic auth (the
// password from the environment, or from a file) and by a client
// certificate alone (PKI realm), trusting the test CA from ca_file; the
// least-privileged run user suffices. Each mistake (wrong or no password,
// a user without the write privilege, template installation without its
// privileges, an untrusted CA or none, http:// to the HTTPS port, a client
// certificate of an untrusted CA) makes it exit at once with 5 (refused)
// or 4 (unreachable as configured) and a message naming the cause and the
// key to change; Kafka is checked before Elasticsearch; no output holds a
// password.
func TestSecureElasticsearchIntegration(t *testing.T) {
	s, env := secureEnv(t)
	lines := seedLines(t, 200)
	env.kafka.produceLines(t, lines, 1)
	end := env.kafka.endOffsets(t)
	ca, otherCA := s.path("ca.pem"), s.path("other-ca.pem")
	runPW := s.secret(t, "es-eximship-run.password")
	pwEnv := "EXIMSHIP_TEST_ES_PASSWORD=" + runPW
	secrets := []string{runPW, s.secret(t, "es-eximship-readonly.password"), s.secret(t, "es-eximship-admin.password")}

	for _, tc := range []struct {
		name, es, authLog string
	}{
		{"basic-auth-password-env",
			fmt.Sprintf("  username: eximship-run\n  password: \"${EXIMSHIP_TEST_ES_PASSWORD}\"\n  ca_file: %q\n  install_templates: false\n", ca),
			"user=eximship-run realm=file1"},
		{"basic-auth-password-file", esRunUser(s), "user=eximship-run realm=file1"},
		// The certificate's subject maps to eximship_run and eximship_setup
		// (es-role-mapping.yml): it may install the templates too.
		{"client-certificate",
			fmt.Sprintf("  ca_file: %q\n  cert_file: %q\n  key_file: %q\n", ca, s.path("client.pem"), s.path("client.key")),
			"user=eximship-client realm=pki1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := env.sub(t, tc.name)
			sp := e.startShipperEnv("run", e.writeConfig(config{esURL: s.esURL(), esExtra: tc.es}), pwEnv)
			e.kafka.waitCommitted(t, e.group, end, 5*time.Minute, sp.checkAlive)
			e.es.waitCount(t, e.logsPattern(), int64(len(lines)), 2*time.Minute, sp.checkAlive)
			sp.stop(30 * time.Second)
			if fs := sp.finalStats(); fs == nil || fs.Indexed != int64(len(lines)) || fs.DeadLettered != 0 {
				t.Errorf("final stats %+v, want %d indexed", fs, len(lines))
			}
			if !sp.logHas("elasticsearch: authenticated", tc.authLog) {
				t.Errorf("no \"elasticsearch: authenticated ... %s\" line", tc.authLog)
			}
			sp.requireNoSecret(secrets...)
		})
	}

	streams := func(ns string) string {
		return fmt.Sprintf("logs-exim.main-%[1]s, logs-exim.reject-%[1]s, logs-exim.panic-%[1]s, eximship-deadletter-%[1]s", ns)
	}
	for _, tc := range []struct {
		name, es, extra string
		code            int
		want            string
	}{
		{"wrong-password",
			fmt.Sprintf("  username: eximship-run\n  password: not-the-password\n  ca_file: %q\n  install_templates: false\n", ca), "",
			5, "refused the credentials (401 Unauthorized: security_exception: unable to authenticate user [eximship-run]"},
		{"no-credentials",
			fmt.Sprintf("  ca_file: %q\n  install_templates: false\n", ca), "",
			5, "refused the credentials (401 Unauthorized: security_exception: missing authentication credentials"},
		{"no-write-privilege",
			fmt.Sprintf("  username: eximship-readonly\n  password_file: %q\n  ca_file: %q\n  install_templates: false\n", s.path("es-eximship-readonly.password"), ca), "",
			5, "Elasticsearch user eximship-readonly (roles: eximship_test_readonly) lacks index privilege create_doc on " + streams(env.ns) + ": grant the roles of docs/SECURITY.md"},
		{"no-template-privilege",
			fmt.Sprintf("  username: eximship-run\n  password_file: %q\n  ca_file: %q\n", s.path("es-eximship-run.password"), ca), "",
			5, "Elasticsearch user eximship-run (roles: eximship_run) lacks cluster privilege monitor; cluster privilege manage_index_templates"},
		{"untrusted-ca",
			fmt.Sprintf("  username: eximship-run\n  password_file: %q\n  ca_file: %q\n", s.path("es-eximship-run.password"), otherCA), "",
			4, "TLS: the certificate of " + strings.TrimPrefix(s.esURL(), "https://") + " is not signed by a trusted CA: set elasticsearch.ca_file"},
		{"system-roots",
			fmt.Sprintf("  username: eximship-run\n  password_file: %q\n", s.path("es-eximship-run.password")), "",
			4, "is not signed by a trusted CA: set elasticsearch.ca_file"},
		{"http-to-https-port",
			fmt.Sprintf("  username: eximship-run\n  password_file: %q\n", s.path("es-eximship-run.password")), "http",
			4, "closed the connection without an HTTP answer: if the node serves HTTPS, use https:// in elasticsearch.addresses"},
		{"untrusted-client-certificate",
			fmt.Sprintf("  ca_file: %q\n  cert_file: %q\n  key_file: %q\n", ca, s.path("rogue-client.pem"), s.path("rogue-client.key")), "",
			// Go sends a client certificate only when its issuer is one the
			// node names in the handshake: this one arrives as none.
			5, "the client certificate (elasticsearch.cert_file) was not accepted: it must be signed by a CA the node trusts"},
		{"wrong-port",
			fmt.Sprintf("  username: eximship-run\n  password_file: %q\n  ca_file: %q\n", s.path("es-eximship-run.password"), ca), "port",
			4, "(connection refused): is Elasticsearch running, and is elasticsearch.addresses right?"},
		// Kafka first: a missing dead-letter topic is reported before the
		// wrong password is even tried.
		{"kafka-checked-first",
			fmt.Sprintf("  username: eximship-run\n  password: not-the-password\n  ca_file: %q\n", ca), "dlt",
			5, `kafka: kafka topics: topic "eximship-no-such-dead-letter-topic" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config{esURL: s.esURL(), esExtra: tc.es}
			switch tc.extra {
			case "http":
				c.esURL = strings.Replace(s.esURL(), "https://", "http://", 1)
			case "port":
				c.esURL = "https://127.0.0.1:" + strconv.Itoa(freePort(t))
			case "dlt":
				c.deadLetterTopic = "eximship-no-such-dead-letter-topic"
			}
			code, out, took := runToExit(t, env.writeConfig(c), 45*time.Second, pwEnv)
			t.Logf("exit %d after %v: %s", code, took.Round(time.Millisecond), lastLine(out))
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d with %q in:\n%s", code, tc.code, tc.want, out)
			}
			for _, sec := range secrets {
				if strings.Contains(out, sec) {
					t.Errorf("a password is in the output:\n%s", out)
				}
			}
			if strings.Contains(out, "index templates installed") || strings.Contains(out, "eximship run started") {
				t.Errorf("went past the start-up checks:\n%s", out)
			}
		})
	}
}

// freePort is a loopback port nothing listens on (it was free a moment ago).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
