package kafka

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EXIMSHIP_TEST_KAFKA_PW", "s3cret")
	ok := func() Config { return Config{Brokers: []string{"localhost:9092"}, Topics: []string{"exim"}} }
	cases := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "no brokers"},
		{"no topics", func(c *Config) { c.Topics = nil }, "no topics"},
		{"empty topic", func(c *Config) { c.Topics = []string{"a", ""} }, "empty topic"},
		{"bad start offset", func(c *Config) { c.StartOffset = "middle" }, "start offset"},
		{"start last", func(c *Config) { c.StartOffset = StartLast }, ""},
		{"min > max bytes", func(c *Config) { c.MinBytes, c.MaxBytes = 10, 5 }, "fetch bytes"},
		{"negative linger", func(c *Config) { c.Linger = -1 }, "linger"},
		{"negative unacked", func(c *Config) { c.MaxUnackedMessages = -1 }, "max unacked"},
		{"sasl plain env", func(c *Config) {
			c.SASL = SASLConfig{Mechanism: "PLAIN", Username: "u", PasswordEnv: "EXIMSHIP_TEST_KAFKA_PW"}
		}, ""},
		{"sasl scram file", func(c *Config) {
			c.SASL = SASLConfig{Mechanism: "scram-sha-512", Username: "u", PasswordFile: pwFile}
		}, ""},
		{"sasl unset env", func(c *Config) {
			c.SASL = SASLConfig{Mechanism: "PLAIN", Username: "u", PasswordEnv: "EXIMSHIP_TEST_KAFKA_NOPE"}
		}, "not set"},
		{"sasl no password", func(c *Config) { c.SASL = SASLConfig{Mechanism: "PLAIN", Username: "u"} }, "no password"},
		{"sasl both", func(c *Config) {
			c.SASL = SASLConfig{Mechanism: "PLAIN", Username: "u", PasswordEnv: "X", PasswordFile: pwFile}
		}, "one way only"},
		{"sasl password", func(c *Config) {
			c.SASL = SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "s3cret"}
		}, ""},
		{"sasl password and file", func(c *Config) {
			c.SASL = SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "s3cret", PasswordFile: pwFile}
		}, "one way only"},
		{"sasl unknown", func(c *Config) {
			c.SASL = SASLConfig{Mechanism: "GSSAPI", Username: "u", PasswordFile: pwFile}
		}, "unknown mechanism"},
		{"sasl no user", func(c *Config) { c.SASL = SASLConfig{Mechanism: "PLAIN", PasswordFile: pwFile} }, "username"},
		{"tls missing ca", func(c *Config) { c.TLS.CAFile = filepath.Join(dir, "nope.pem") }, "tls ca file"},
		{"tls ca not pem", func(c *Config) { c.TLS.CAFile = pwFile }, "no PEM"},
		{"tls cert without key", func(c *Config) { c.TLS.CertFile = pwFile }, "together"},
		{"tls insecure", func(c *Config) { c.TLS.InsecureSkipVerify = true }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Brokers: []string{"b:9092"}, Topics: []string{"t"}}
	c.setDefaults()
	if c.GroupID != "eximship" || c.BatchSize != 1000 || c.BatchBytes != 4<<20 || c.Linger != 200*time.Millisecond ||
		c.CommitInterval != time.Second || c.MaxUnackedMessages != 50000 || c.MaxUnackedBytes != 64<<20 ||
		c.StartOffset != StartFirst || c.QueueCapacity != 1000 || c.MaxBytes != 4<<20 {
		t.Fatalf("defaults %+v", c)
	}
}

// TestSourceSASLScram consumes through SASL/SCRAM-SHA-256 with the password
// taken from the environment, and fails with a wrong password.
func TestSourceSASLScram(t *testing.T) {
	const topic = "exim"
	brokers := fakeCluster(t, topic, 1, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "shipper", "right-pw"))
	t.Setenv("EXIMSHIP_TEST_KAFKA_PW", "right-pw")
	sasl := SASLConfig{Mechanism: SASLScramSHA256, Username: "shipper", PasswordEnv: "EXIMSHIP_TEST_KAFKA_PW"}

	dl, err := NewDeadLetterWriter(DeadLetterConfig{Brokers: brokers, Topic: topic, SASL: sasl, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dl.WriteDeadLetters(ctx, testDeadLetters()); err != nil {
		t.Fatalf("write with SASL: %v", err)
	}
	dl.Close()

	cfg := fastConfig(t, brokers, topic, "g1")
	cfg.SASL = sasl
	src := newSource(t, cfg)
	batches := readN(t, src, len(testDeadLetters()), 30*time.Second)
	ackAll(t, batches)
	closeSource(t, src)

	t.Setenv("EXIMSHIP_TEST_KAFKA_PW", "wrong-pw")
	bad, err := NewDeadLetterWriter(DeadLetterConfig{Brokers: brokers, Topic: topic, SASL: sasl, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := bad.WriteDeadLetters(ctx2, testDeadLetters()); err == nil {
		t.Fatal("write with a wrong SASL password succeeded")
	} else if strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("error leaks the password: %v", err)
	}
}
