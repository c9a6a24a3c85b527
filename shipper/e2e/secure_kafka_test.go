package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// sub returns a copy of e with its own consumer group and namespace, for
// one more run over the same topic.
func (e *testEnv) sub(t *testing.T, name string) *testEnv {
	t.Helper()
	c := *e
	c.t = t
	c.group = e.group + "-" + name
	c.ns = e.ns + strings.ReplaceAll(name, "-", "")
	t.Cleanup(func() { c.es.cleanup(t, c.logsPattern(), c.deadLetterIndex()) })
	return &c
}

// esRunUser is the elasticsearch section of a run on the secured node with
// the least-privilege run role (templates installed beforehand).
func esRunUser(s *secureStack) string {
	return fmt.Sprintf("  username: eximship-run\n  password_file: %q\n  ca_file: %q\n  install_templates: false\n",
		s.path("es-eximship-run.password"), s.path("ca.pem"))
}

// TestSecureKafkaIntegration: eximship run consumes from each secured
// listener of the real broker (SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256
// and SCRAM-SHA-512; SSL with a client certificate; SASL_SSL), the
// password given in each of the three ways, and indexes everything into
// the secured Elasticsearch as the least-privileged run user. Each mistake
// (wrong password, untrusted certificate, wrong server name, no or an
// untrusted client certificate, plaintext to a TLS listener) makes it exit
// at once with a message naming the cause and the key to change; no
// output ever holds a password.
func TestSecureKafkaIntegration(t *testing.T) {
	s, env := secureEnv(t)
	lines := seedLines(t, 300)
	env.kafka.produceLines(t, lines, 1)
	end := env.kafka.endOffsets(t)
	pw := s.secret(t, "kafka.password")
	pwFile := s.path("kafka.password")
	saslPlain := s.env["EXIMSHIP_KAFKA_SASL_PLAINTEXT_BROKERS"]
	ssl := s.env["EXIMSHIP_KAFKA_SSL_BROKERS"]
	saslSSL := s.env["EXIMSHIP_KAFKA_SASL_SSL_BROKERS"]
	ca, otherCA := s.path("ca.pem"), s.path("other-ca.pem")
	cert, key := s.path("client.pem"), s.path("client.key")
	rogueCert, rogueKey := s.path("rogue-client.pem"), s.path("rogue-client.key")
	pwEnv := "EXIMSHIP_TEST_KAFKA_PASSWORD=" + pw

	for _, tc := range []struct {
		name, brokers, kafka string
	}{
		{"sasl-plaintext-plain-env", saslPlain,
			"  sasl: {mechanism: PLAIN, username: eximship, password: \"${EXIMSHIP_TEST_KAFKA_PASSWORD}\"}\n"},
		{"sasl-plaintext-scram-sha-256-file", saslPlain,
			fmt.Sprintf("  sasl: {mechanism: SCRAM-SHA-256, username: eximship, password_file: %q}\n", pwFile)},
		{"sasl-plaintext-scram-sha-512-inline", saslPlain,
			fmt.Sprintf("  sasl: {mechanism: SCRAM-SHA-512, username: eximship, password: %q}\n", pw)},
		{"ssl-client-certificate", ssl,
			fmt.Sprintf("  tls: {ca_file: %q, cert_file: %q, key_file: %q}\n", ca, cert, key)},
		{"sasl-ssl-scram-sha-512", saslSSL,
			fmt.Sprintf("  tls: {ca_file: %q}\n  sasl: {mechanism: SCRAM-SHA-512, username: eximship, password_file: %q}\n", ca, pwFile)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := env.sub(t, tc.name)
			cfg := e.writeConfig(config{brokers: []string{tc.brokers}, kafkaExtra: tc.kafka, esURL: s.esURL(), esExtra: esRunUser(s)})
			sp := e.startShipperEnv("run", cfg, pwEnv)
			e.kafka.waitCommitted(t, e.group, end, 5*time.Minute, sp.checkAlive)
			e.es.waitCount(t, e.logsPattern(), int64(len(lines)), 2*time.Minute, sp.checkAlive)
			sp.stop(30 * time.Second)
			if fs := sp.finalStats(); fs == nil || fs.Indexed != int64(len(lines)) || fs.DeadLettered != 0 {
				t.Errorf("final stats %+v, want %d indexed", fs, len(lines))
			}
			sp.requireNoSecret(pw, s.secret(t, "es-eximship-run.password"))
		})
	}

	for _, tc := range []struct {
		name, brokers, kafka string
		code                 int
		want                 string
	}{
		{"wrong-password", saslSSL,
			fmt.Sprintf("  tls: {ca_file: %q}\n  sasl: {mechanism: SCRAM-SHA-512, username: eximship, password: not-the-password}\n", ca),
			5, `Kafka refused the SASL credentials of user "eximship" (SCRAM-SHA-512): check kafka.sasl.username and the password`},
		{"wrong-password-plain", saslPlain,
			"  sasl: {mechanism: PLAIN, username: eximship, password: not-the-password}\n",
			5, `Kafka refused the SASL credentials of user "eximship" (PLAIN)`},
		{"untrusted-certificate", ssl,
			fmt.Sprintf("  tls: {ca_file: %q, cert_file: %q, key_file: %q}\n", otherCA, cert, key),
			4, "TLS: the certificate of the Kafka broker (" + ssl + ") is not signed by a trusted CA: set kafka.tls.ca_file"},
		{"system-roots", saslSSL,
			fmt.Sprintf("  tls: {enabled: true}\n  sasl: {mechanism: SCRAM-SHA-512, username: eximship, password_file: %q}\n", pwFile),
			4, "is not signed by a trusted CA: set kafka.tls.ca_file"},
		{"wrong-server-name", saslSSL,
			fmt.Sprintf("  tls: {ca_file: %q, server_name: kafka.invalid}\n  sasl: {mechanism: SCRAM-SHA-512, username: eximship, password_file: %q}\n", ca, pwFile),
			4, `TLS: the certificate of the Kafka broker is not valid for the name "kafka.invalid": set kafka.tls.server_name`},
		{"no-client-certificate", ssl,
			fmt.Sprintf("  tls: {ca_file: %q}\n", ca),
			4, "refused the handshake (it wants a client certificate it trusts): set kafka.tls.cert_file and key_file"},
		{"untrusted-client-certificate", ssl,
			fmt.Sprintf("  tls: {ca_file: %q, cert_file: %q, key_file: %q}\n", ca, rogueCert, rogueKey),
			4, "refused the handshake (it wants a client certificate it trusts)"},
		{"plaintext-to-tls-listener", saslSSL,
			fmt.Sprintf("  sasl: {mechanism: SCRAM-SHA-512, username: eximship, password_file: %q}\n", pwFile),
			4, "closed the connection: check the SASL credentials, and that the listener's security protocol matches kafka.tls and kafka.sasl"},
		{"tls-to-sasl-plaintext-listener", saslPlain,
			fmt.Sprintf("  tls: {ca_file: %q}\n  sasl: {mechanism: SCRAM-SHA-512, username: eximship, password_file: %q}\n", ca, pwFile),
			4, "kafka.tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := env.writeConfig(config{brokers: []string{tc.brokers}, kafkaExtra: tc.kafka, esURL: s.esURL(), esExtra: esRunUser(s)})
			code, out, took := runToExit(t, cfg, 45*time.Second, pwEnv)
			t.Logf("exit %d after %v: %s", code, took.Round(time.Millisecond), lastLine(out))
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d with %q in:\n%s", code, tc.code, tc.want, out)
			}
			if strings.Contains(out, pw) {
				t.Errorf("the Kafka password is in the output:\n%s", out)
			}
			if strings.Contains(out, "install index templates") || strings.Contains(out, "eximship run started") {
				t.Errorf("went past the Kafka check:\n%s", out)
			}
		})
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
