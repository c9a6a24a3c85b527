package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/stacktest"
)

// Known secrets, one per way a secret reaches eximship. TestSecretsNeverPrinted
// fails when any output of any command holds one of them (or the base64
// of a user:password pair, as in a Basic header).
var knownSecrets = map[string]string{
	"ES_PW_LITERAL":  "EsLiteralPw-7f3a9c",
	"ES_API_KEY":     "EnvApiKey-c81e2d",
	"KAFKA_PASSWORD": "*EnvKafkaPw-55d0b!",
	"KIBANA_FILE":    "KibanaFilePw-19ab4e",
	"URL_PW":         "UrlPw-a61c3f",
	"ES_PW_FILE":     "EsFilePw-0d9e77",
}

// secretEnv is the environment the commands run with: the env-borne
// secrets, and the debug log level (the most output).
func secretEnv() func(string) (string, bool) {
	env := map[string]string{
		"ES_API_KEY":         knownSecrets["ES_API_KEY"],
		"KAFKA_PASSWORD":     knownSecrets["KAFKA_PASSWORD"],
		"EXIMSHIP_LOG_LEVEL": "debug",
	}
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

type secretCase struct {
	name string
	args []string
	// integration: needs the real Kafka and Elasticsearch
	integration bool
	// stopAfter cancels the command once its stderr holds this text.
	stopAfter string
	// want is a text the output must hold (the command got far enough).
	want string
}

// writeSecretFiles writes the secret files and returns the directory.
func writeSecretFiles(t *testing.T) string {
	dir := t.TempDir()
	for name, key := range map[string]string{"kibana-password": "KIBANA_FILE", "es-password": "ES_PW_FILE"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(knownSecrets[key]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// secretConfig writes a configuration holding every kind of secret.
func secretConfig(t *testing.T, dir, name, kafkaBrokers, esHostPort, topic, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`kafka:
  brokers: [%s]
  topics: [%s]
  group_id: %s
%selasticsearch:
  addresses: ["http://elastic:%s@%s"]
  username: elastic
  password: %s
  api_key: ${ES_API_KEY}
  timeout: 3s
kibana:
  url: http://127.0.0.1:1
  username: kibana
  password_file: %s
exim:
  namespace: secretstest
`, kafkaBrokers, topic, stacktest.UniqueName("secrets"), extra,
		knownSecrets["URL_PW"], esHostPort, knownSecrets["ES_PW_LITERAL"], filepath.Join(dir, "kibana-password"))
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestSecretsNeverPrinted runs every command, and the failures users meet,
// with known secrets in the file, the environment, *_file keys and a URL,
// and fails if any output holds one.
func TestSecretsNeverPrinted(t *testing.T) {
	dir := writeSecretFiles(t)
	closed := closedPort(t)
	sasl := "  sasl:\n    mechanism: SCRAM-SHA-512\n    username: shipper\n    password: ${KAFKA_PASSWORD}\n"
	offline := secretConfig(t, dir, "offline.yml", closed, closed, "exim-logs", sasl)
	// a config error elsewhere in the file: the secrets around must not show
	broken := filepath.Join(dir, "broken.yml")
	raw, _ := os.ReadFile(offline)
	os.WriteFile(broken, append(raw, []byte("pipeline:\n  workers: many\n  shutdown_timeout: 30\nbogus: 1\n")...), 0o600)
	// the literal password written badly in the file (a YAML alias)
	alias := filepath.Join(dir, "alias.yml")
	os.WriteFile(alias, []byte("elasticsearch:\n  username: elastic\n  password: *"+knownSecrets["ES_PW_LITERAL"]+"\n"), 0o600)
	// a secret given two ways
	twice := filepath.Join(dir, "twice.yml")
	os.WriteFile(twice, []byte("elasticsearch:\n  username: elastic\n  password: "+knownSecrets["ES_PW_LITERAL"]+"\n  password_file: "+filepath.Join(dir, "es-password")+"\n"), 0o600)

	cases := []secretCase{
		{name: "run with nothing reachable", args: []string{"run", "--config", offline}, want: "eximship run:"},
		{name: "run with a config error", args: []string{"run", "--config", broken}, want: "3 problems"},
		{name: "run with a literal alias password", args: []string{"run", "--config", alias}, want: "YAML alias"},
		{name: "run with a secret given twice", args: []string{"run", "--config", twice}, want: "one way only"},
		{name: "check with nothing reachable", args: []string{"check", "--config", offline, "--timeout", "3s"}, want: "FAILED  kafka"},
		{name: "check --offline", args: []string{"check", "--offline", "--config", offline}, want: "is valid"},
		{name: "check with a config error", args: []string{"check", "--config", broken}, want: "FAILED  config"},
		{name: "check json", args: []string{"check", "--format", "json", "--config", twice}, want: `"status":"FAILED"`},
		{name: "version", args: []string{"version"}, want: "eximship"},
		{name: "parse", args: []string{"parse", "testdata/parse/mainlog"}, want: "event"},
	}
	for name := range commands {
		cases = append(cases, secretCase{name: name + " -h", args: []string{name, "-h"}, want: "usage: eximship " + name})
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		cases = append(cases, secretCase{name: "completion " + sh, args: []string{"completion", sh}, want: "eximship"})
	}
	if !testing.Short() {
		if brokers, esURL, ok := stackAddrs(t); ok {
			esHost := strings.TrimPrefix(esURL, "http://")
			// SASL against the plaintext listener: refused, with the password set
			_, topic := stacktest.NewTopic(t, 1)
			saslCfg := secretConfig(t, dir, "sasl.yml", brokers, esHost, topic, sasl)
			// everything right: run starts (the INFO line that once showed
			// the URL's password), then is stopped
			good := secretConfig(t, dir, "good.yml", brokers, esHost, topic, "")
			cases = append(cases,
				secretCase{name: "run against SASL-less Kafka", args: []string{"run", "--config", saslCfg}, integration: true, want: "kafka"},
				secretCase{name: "check against SASL-less Kafka", args: []string{"check", "--config", saslCfg}, integration: true, want: "FAILED  kafka"},
				secretCase{name: "check all reachable", args: []string{"check", "--config", good}, integration: true, want: "ok      elasticsearch"},
				secretCase{name: "run started", args: []string{"run", "--config", good, "--progress", "always"}, integration: true,
					stopAfter: "eximship run started", want: "eximship run started"},
			)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := runCapture(t, c)
			if c.want != "" && !strings.Contains(out, c.want) {
				t.Errorf("output lacks %q (the command did not get far enough):\n%s", c.want, out)
			}
			assertNoSecret(t, out)
			if testing.Verbose() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

func stackAddrs(t *testing.T) (string, string, bool) {
	brokers := stacktest.KafkaBrokers(t)
	es := stacktest.ElasticURL(t)
	return strings.Join(brokers, ", "), es, true
}

// runCapture runs a case in-process and returns stdout and stderr together.
func runCapture(t *testing.T, c secretCase) string {
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	con := &console{w: &out} // as main() does: records and the live line share it
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: con, lookup: secretEnv(), ctx: ctx}
	e.log = newLogger(con, "debug", "text")
	done := make(chan int, 1)
	go func() { done <- realMain(c.args, e) }()
	if c.stopAfter != "" {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
	wait:
		for {
			select {
			case <-tick.C:
				if strings.Contains(out.String(), c.stopAfter) {
					time.Sleep(500 * time.Millisecond) // a few more records
					cancel()
					break wait
				}
			case code := <-done:
				t.Fatalf("exited %d before %q:\n%s", code, c.stopAfter, out.String())
			}
		}
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%q did not end:\n%s", c.args, out.String())
	}
	return out.String()
}

func assertNoSecret(t *testing.T, out string) {
	t.Helper()
	forms := map[string]string{}
	for k, v := range knownSecrets {
		forms[v] = k
		for _, user := range []string{"elastic", "shipper", "kibana"} {
			forms[base64.StdEncoding.EncodeToString([]byte(user+":"+v))] = k + " in a Basic header"
		}
	}
	for s, what := range forms {
		if strings.Contains(out, s) {
			t.Errorf("output holds the secret %s:\n%s", what, out)
		}
	}
}
