package main

import (
	"strings"
	"testing"
	"time"
)

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
    password_env: KAFKA_PASSWORD
elasticsearch:
  addresses: ["${ES_URL:?set ES_URL}"]
  password: ${ES_PASSWORD}
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
	env := map[string]string{"ES_URL": "https://es:9200", "ES_PASSWORD": "s3cr$t"}
	c, err := parseConfig([]byte(raw), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	kc, ec, pl := c.kafkaConfig(), c.elasticConfig(), c.pipelineConfig()
	if kc.Brokers[0] != "127.0.0.1:9092" || kc.GroupID != "mx-group" || kc.Linger != 50*time.Millisecond || kc.SASL.PasswordEnv != "KAFKA_PASSWORD" {
		t.Errorf("kafka config %+v", kc)
	}
	if ec.Addresses[0] != "https://es:9200" || ec.Password != "s3cr$t" || ec.DeadLetterIndex != "eximship-deadletter-mx" {
		t.Errorf("elastic config %+v", ec)
	}
	if pl.Workers != 2 || pl.ShutdownTimeout != 5*time.Second {
		t.Errorf("pipeline config %+v", pl)
	}
	pc, err := c.processConfig()
	if err != nil || pc.Namespace != "mx" || pc.Location.String() != "Europe/Berlin" || len(pc.Enrich.LocalDomains) != 1 {
		t.Errorf("process config %+v, %v", pc, err)
	}
	t.Setenv("KAFKA_PASSWORD", "from-env")
	if err := c.validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	for _, tc := range []struct{ raw, want string }{
		{"kafka:\n  brokerz: [x]\n", "field brokerz not found"},
		{"elasticsearch:\n  addresses: [\"${ES_URL:?set ES_URL}\"]\n", "ES_URL: set ES_URL"},
		{"pipeline:\n  workers: many\n", "cannot unmarshal"},
	} {
		if _, err := parseConfig([]byte(tc.raw), none); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%q) = %v, want error containing %q", tc.raw, err, tc.want)
		}
	}
	c, err := parseConfig([]byte("exim:\n  namespace: mx\n"), none)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.elasticConfig().DeadLetterIndex; got != "eximship-deadletter-mx" {
		t.Errorf("default dead-letter index = %q, want eximship-deadletter-mx", got)
	}
	c, err = parseConfig([]byte("kafka:\n  topics: [t]\nexim:\n  timezone: Mars/Base\n  dataset: weird\n"), none)
	if err != nil {
		t.Fatal(err)
	}
	err = c.validate()
	for _, want := range []string{"no brokers", "Mars/Base"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate() = %v, want it to mention %q", err, want)
		}
	}
}
