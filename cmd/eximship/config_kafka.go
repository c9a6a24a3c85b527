package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/eximship/eximship/cmd/eximship/internal/yamlconf"
	"github.com/eximship/eximship/shipper/kafka"
)

// kafkaSection configures the consumer (package kafka).
type kafkaSection struct {
	Brokers            []string      `yaml:"brokers" check:"hostport"`
	Topics             []string      `yaml:"topics"`
	GroupID            string        `yaml:"group_id"`
	ClientID           string        `yaml:"client_id"`
	StartOffset        string        `yaml:"start_offset" check:"oneof=first|last"`
	MinBytes           int           `yaml:"min_bytes" check:"min=1"`
	MaxBytes           int           `yaml:"max_bytes" check:"min=1"`
	MaxWait            time.Duration `yaml:"max_wait" check:"min=0"`
	QueueCapacity      int           `yaml:"queue_capacity" check:"min=1"`
	BatchSize          int           `yaml:"batch_size" check:"min=1"`
	BatchBytes         int           `yaml:"batch_bytes" check:"min=1"`
	Linger             time.Duration `yaml:"linger" check:"min=0"`
	MaxUnackedMessages int           `yaml:"max_unacked_messages" check:"min=1"`
	MaxUnackedBytes    int64         `yaml:"max_unacked_bytes" check:"min=1"`
	CommitInterval     time.Duration `yaml:"commit_interval" check:"min=0"`
	CommitTimeout      time.Duration `yaml:"commit_timeout" check:"min=0"`
	SessionTimeout     time.Duration `yaml:"session_timeout" check:"min=0"`
	RebalanceTimeout   time.Duration `yaml:"rebalance_timeout" check:"min=0"`
	HeartbeatInterval  time.Duration `yaml:"heartbeat_interval" check:"min=0"`
	TLS                kafkaTLS      `yaml:"tls"`
	SASL               kafkaSASL     `yaml:"sasl"`
}

type kafkaTLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file" check:"file"`
	CertFile           string `yaml:"cert_file" check:"file"`
	KeyFile            string `yaml:"key_file" check:"file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

type kafkaSASL struct {
	Mechanism    string          `yaml:"mechanism" check:"oneof=PLAIN|SCRAM-SHA-256|SCRAM-SHA-512"`
	Username     string          `yaml:"username"`
	Password     yamlconf.Secret `yaml:"password"`
	PasswordFile string          `yaml:"password_file" check:"file"`
	PasswordEnv  string          `yaml:"password_env"`
}

// Check holds the kafka rules spanning keys; the package's own Validate
// runs last, for what the keys alone cannot tell.
func (k *kafkaSection) Check(c *yamlconf.Check) {
	if len(k.Brokers) == 0 && !c.FailedAt("brokers") {
		c.Problem("brokers", "missing: list the bootstrap brokers, e.g. brokers: [kafka1:9092]")
	}
	if len(k.Topics) == 0 && !c.FailedAt("topics") {
		c.Problem("topics", "missing: list the topics holding the Exim logs, e.g. topics: [exim-logs]")
	}
	for i, t := range k.Topics {
		if strings.TrimSpace(t) == "" && !c.FailedAt(fmt.Sprintf("topics[%d]", i)) {
			c.Problem(fmt.Sprintf("topics[%d]", i), "empty topic name")
		}
	}
	if (k.TLS.CertFile == "") != (k.TLS.KeyFile == "") {
		c.Problem("tls", "cert_file and key_file go together (the client certificate and its key)")
	}
	if k.TLS.InsecureSkipVerify {
		c.Warn("tls.insecure_skip_verify", "the brokers' certificates are not verified: anyone on the path can read and change the logs; set tls.ca_file instead")
	}
	s := k.SASL
	sources := 0
	for _, set := range []bool{s.Password != "", s.PasswordFile != "", s.PasswordEnv != ""} {
		if set {
			sources++
		}
	}
	switch {
	case s.Mechanism == "" && (s.Username != "" || sources > 0):
		c.Problem("sasl.mechanism", "missing: sasl credentials are given but no mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
	case s.Mechanism != "" && s.Username == "":
		c.Problem("sasl.username", "missing: sasl.mechanism is set, so a username is needed")
	case s.Mechanism != "" && sources == 0:
		c.Problem("sasl.password", "missing: give the password as sasl.password (e.g. ${KAFKA_PASSWORD}) or sasl.password_file")
	}
	if sources > 1 {
		c.Problem("sasl", "give the password one way only: password, password_file or password_env")
	}
	if strings.EqualFold(s.Mechanism, kafka.SASLPlain) && !k.tlsOn() {
		c.Warn("sasl.mechanism", "PLAIN without tls sends the password in clear text: enable tls or use SCRAM-SHA-512")
	}
	if !c.Failed() {
		c.Err("", k.config().Validate())
	}
}

func (k *kafkaSection) tlsOn() bool {
	t := k.TLS
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.ServerName != "" || t.InsecureSkipVerify
}

// config builds the kafka.Config (without a Logger).
func (k *kafkaSection) config() kafka.Config {
	return kafka.Config{
		Brokers: k.Brokers, Topics: k.Topics, GroupID: k.GroupID, ClientID: k.ClientID,
		StartOffset: strings.ToLower(k.StartOffset), MinBytes: k.MinBytes, MaxBytes: k.MaxBytes, MaxWait: k.MaxWait,
		QueueCapacity: k.QueueCapacity, BatchSize: k.BatchSize, BatchBytes: k.BatchBytes, Linger: k.Linger,
		MaxUnackedMessages: k.MaxUnackedMessages, MaxUnackedBytes: k.MaxUnackedBytes,
		CommitInterval: k.CommitInterval, CommitTimeout: k.CommitTimeout,
		SessionTimeout: k.SessionTimeout, RebalanceTimeout: k.RebalanceTimeout, HeartbeatInterval: k.HeartbeatInterval,
		TLS: kafka.TLSConfig{
			Enabled: k.TLS.Enabled, CAFile: k.TLS.CAFile, CertFile: k.TLS.CertFile, KeyFile: k.TLS.KeyFile,
			ServerName: k.TLS.ServerName, InsecureSkipVerify: k.TLS.InsecureSkipVerify,
		},
		SASL: kafka.SASLConfig{
			Mechanism: strings.ToUpper(k.SASL.Mechanism), Username: k.SASL.Username, Password: k.SASL.Password.Reveal(),
			PasswordEnv: k.SASL.PasswordEnv, PasswordFile: k.SASL.PasswordFile,
		},
	}
}

func (c *fileConfig) kafkaConfig() kafka.Config { return c.Kafka.config() }
