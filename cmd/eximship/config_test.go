package main

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/cmd/eximship/internal/yamlconf"
)

var update = flag.Bool("update", false, "rewrite the expected outputs of testdata/config")

func envOf(m map[string]string) yamlconf.Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseConfig(t *testing.T) {
	raw := `
kafka:
  brokers: ["${BROKERS:-127.0.0.1:9092}"]
  topics: [exim-logs]
  group_id: mx-group
  linger: 50ms
  sasl:
    mechanism: SCRAM-SHA-512
    username: shipper
    password: ${KAFKA_PASSWORD}
elasticsearch:
  addresses: ["${ES_URL:?set ES_URL}"]
  username: shipper
  password: ${ES_PASSWORD}
  install_templates: false
dead_letter:
  index: eximship-deadletter-mx
pipeline:
  workers: 2
  shutdown_timeout: 5s
exim:
  namespace: mx
  timezone: Europe/Berlin
  local_domains: [example.org]
`
	env := map[string]string{"ES_URL": "https://es:9200", "ES_PASSWORD": "s3cr$t", "KAFKA_PASSWORD": "k-pw"}
	c, probs := parseConfig([]byte(raw), envOf(env))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	kc, ec, pl := c.kafkaConfig(), c.elasticConfig(), c.pipelineConfig()
	if kc.Brokers[0] != "127.0.0.1:9092" || kc.GroupID != "mx-group" || kc.Linger != 50*time.Millisecond || kc.SASL.Password != "k-pw" {
		t.Errorf("kafka config %+v", kc)
	}
	if ec.Addresses[0] != "https://es:9200" || ec.Password != "s3cr$t" || ec.DeadLetterIndex != "eximship-deadletter-mx" {
		t.Errorf("elastic config %+v", ec)
	}
	if c.installTemplates() {
		t.Error("install_templates: false not honoured")
	}
	if pl.Workers != 2 || pl.ShutdownTimeout != 5*time.Second {
		t.Errorf("pipeline config %+v", pl)
	}
	pc, err := c.processConfig()
	if err != nil || pc.Namespace != "mx" || pc.Location.String() != "Europe/Berlin" || len(pc.Enrich.LocalDomains) != 1 {
		t.Errorf("process config %+v, %v", pc, err)
	}
	if got := c.doc.Line("kafka.sasl.password"); got != 10 {
		t.Errorf("line of kafka.sasl.password = %d, want 10", got)
	}
	c, probs = parseConfig([]byte("exim:\n  namespace: mx\n"), envOf(nil))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if got := c.elasticConfig().DeadLetterIndex; got != "eximship-deadletter-mx" {
		t.Errorf("default dead-letter index = %q, want eximship-deadletter-mx", got)
	}
	if !c.installTemplates() {
		t.Error("install_templates defaults to true")
	}
	if err := c.require("run", "kafka"); err == nil || !strings.Contains(err.Error(), "kafka: missing") {
		t.Errorf("require(kafka) = %v", err)
	}
}

// TestExpandPerValue: what a variable holds is never read as YAML, and
// arrives byte for byte in a string field, whatever YAML would make of it.
func TestExpandPerValue(t *testing.T) {
	for _, pw := range []string{
		"!secret", "&anchor", "*alias", "~", "null", "true", "abc #def", "a: b", "- x", "'q'", `"dq"`,
		"{x}", "[y]", "%z", "@at", "`tick", "|pipe", ">gt", "  padded  ", "$dollar", "pa$$word", "multi\nline", "",
	} {
		env := map[string]string{"PW": pw}
		raw := "elasticsearch:\n  username: u\n  password: ${PW}\n  api_key: \"${PW}\"\n"
		c, probs := parseConfig([]byte(raw), envOf(env))
		if len(probs.Errors()) > 0 {
			t.Errorf("password %q: %v", pw, probs)
			continue
		}
		if got := c.Elasticsearch.Password.Reveal(); got != pw {
			t.Errorf("password %q arrived as %q", pw, got)
		}
		if got := c.Elasticsearch.APIKey.Reveal(); got != pw {
			t.Errorf("api_key %q arrived as %q", pw, got)
		}
	}
	// a number from the environment for a number field
	c, probs := parseConfig([]byte("pipeline:\n  workers: ${W}\n  shutdown_timeout: ${T:-7s}\n"), envOf(map[string]string{"W": "3"}))
	if len(probs) > 0 || c.Pipeline.Workers != 3 || c.Pipeline.ShutdownTimeout != 7*time.Second {
		t.Errorf("workers %d timeout %s problems %v", c.Pipeline.Workers, c.Pipeline.ShutdownTimeout, probs)
	}
}

// TestConfigCases runs every folder of testdata/config: config.yml (with
// the variables of env, KEY=VALUE lines, when present) must give exactly
// the problems of problems.txt. go test -run TestConfigCases -update
// rewrites them from the real output (review the diff).
func TestConfigCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/config/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, "config.yml"))
			if err != nil {
				t.Fatal(err)
			}
			env := readEnv(t, filepath.Join(dir, "env"))
			// relative files of a case are relative to its folder
			for k, v := range env {
				env[k] = strings.ReplaceAll(v, "@DIR@", dir)
			}
			raw = []byte(strings.ReplaceAll(string(raw), "@DIR@", dir))
			_, probs := parseConfig(raw, envOf(env))
			var b strings.Builder
			for _, p := range probs {
				if p.Warning {
					b.WriteString("warning: ")
				}
				b.WriteString(p.String())
				b.WriteByte('\n')
			}
			got := strings.ReplaceAll(b.String(), dir, "@DIR@")
			for _, v := range env {
				if len(v) >= 6 && strings.Contains(got, v) {
					t.Errorf("a variable's value %q is in the output:\n%s", v, got)
				}
			}
			wantFile := filepath.Join(dir, "problems.txt")
			if *update {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("problems differ\n--- got\n%s--- want\n%s", got, want)
			}
			if regexp.MustCompile(`main\.|struct \{|yamlconf\.|\*?[a-z]+Section`).MatchString(got) {
				t.Errorf("Go type names in messages:\n%s", got)
			}
		})
	}
}

func readEnv(t *testing.T, path string) map[string]string {
	env := map[string]string{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return env
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}

// TestReadmeConfig: the README's example configuration is valid.
func TestReadmeConfig(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("no yaml block in README.md")
	}
	for _, b := range blocks {
		if _, probs := parseConfig(b[1], envOf(nil)); len(probs.Errors()) > 0 {
			t.Errorf("README example:\n%s\nproblems: %v", b[1], probs)
		}
	}
}

// TestConfigDoc: docs/CONFIG.md documents every key of the file.
func TestConfigDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range yamlconf.Keys(reflect.TypeFor[fileConfig]()) {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/CONFIG.md does not document `%s`", k)
		}
	}
}

// TestSessionsConfig: the sessions section reaches the processor, and
// turns the pipeline's partition order on unless sessions are disabled.
func TestSessionsConfig(t *testing.T) {
	c, probs := parseConfig([]byte("sessions:\n  max_open: 500\n  idle_timeout: 20m\n  infer_gap: 3s\n  linger: 1s\n  max_twins: 7\n"), envOf(nil))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	pc, err := c.processConfig()
	if err != nil {
		t.Fatal(err)
	}
	if s := pc.Sessions; pc.NoSessions || s.MaxOpen != 500 || s.IdleTimeout != 20*time.Minute || s.InferGap != 3*time.Second || s.Linger != time.Second || s.MaxTwins != 7 {
		t.Errorf("process config sessions %+v (off %v)", s, pc.NoSessions)
	}
	if !c.pipelineConfig().PartitionOrder {
		t.Error("sessions on, but the pipeline is not in partition order")
	}
	c, probs = parseConfig([]byte("sessions:\n  disabled: true\n"), envOf(nil))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if pc, _ := c.processConfig(); !pc.NoSessions || c.pipelineConfig().PartitionOrder {
		t.Error("sessions.disabled: sessions still on, or partition order kept")
	}
	c, _ = parseConfig([]byte("exim:\n  namespace: mx\n"), envOf(nil))
	if pc, _ := c.processConfig(); pc.NoSessions || !c.pipelineConfig().PartitionOrder {
		t.Error("sessions are on by default, in partition order")
	}
}

// TestConfigEximHost: exim.host reaches the processor (host.name fallback)
// and a value that is no host name is an error naming the key.
func TestConfigEximHost(t *testing.T) {
	c, probs := parseConfig([]byte("exim:\n  host: MX1.Example.org\n"), envOf(nil))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	pc, err := c.processConfig()
	if err != nil || pc.Host != "MX1.Example.org" {
		t.Fatalf("process config host %q, %v", pc.Host, err)
	}
	_, probs = parseConfig([]byte("exim:\n  host: \"mx 1\"\n"), envOf(nil))
	if len(probs) == 0 || !strings.Contains(probs[0].String(), "host") {
		t.Errorf("a host with a blank: problems %v", probs)
	}
}
