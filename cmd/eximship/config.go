package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/eximship/eximship/cmd/eximship/internal/envexpand"
	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/enrich"
	"github.com/eximship/eximship/shipper/kafka"
	"github.com/eximship/eximship/shipper/process"
)

// fileConfig is the YAML configuration file of `eximship run` (and of the
// commands that talk to Elasticsearch). ${VAR}, ${VAR:-default} and
// ${VAR:?message} are expanded before parsing; unknown keys are errors.
// Every field is optional unless marked; defaults are those of the package
// the section configures. docs/CONFIG.md describes each key.
type fileConfig struct {
	Kafka         kafkaSection    `yaml:"kafka"`
	Elasticsearch elasticSection  `yaml:"elasticsearch"`
	DeadLetter    deadSection     `yaml:"dead_letter"`
	Pipeline      pipelineSection `yaml:"pipeline"`
	Exim          eximSection     `yaml:"exim"`
}

type kafkaSection struct {
	Brokers            []string      `yaml:"brokers"` // required
	Topics             []string      `yaml:"topics"`  // required
	GroupID            string        `yaml:"group_id"`
	ClientID           string        `yaml:"client_id"`
	StartOffset        string        `yaml:"start_offset"`
	MinBytes           int           `yaml:"min_bytes"`
	MaxBytes           int           `yaml:"max_bytes"`
	MaxWait            time.Duration `yaml:"max_wait"`
	QueueCapacity      int           `yaml:"queue_capacity"`
	BatchSize          int           `yaml:"batch_size"`
	BatchBytes         int           `yaml:"batch_bytes"`
	Linger             time.Duration `yaml:"linger"`
	MaxUnackedMessages int           `yaml:"max_unacked_messages"`
	MaxUnackedBytes    int64         `yaml:"max_unacked_bytes"`
	CommitInterval     time.Duration `yaml:"commit_interval"`
	CommitTimeout      time.Duration `yaml:"commit_timeout"`
	SessionTimeout     time.Duration `yaml:"session_timeout"`
	RebalanceTimeout   time.Duration `yaml:"rebalance_timeout"`
	HeartbeatInterval  time.Duration `yaml:"heartbeat_interval"`
	TLS                struct {
		Enabled            bool   `yaml:"enabled"`
		CAFile             string `yaml:"ca_file"`
		CertFile           string `yaml:"cert_file"`
		KeyFile            string `yaml:"key_file"`
		ServerName         string `yaml:"server_name"`
		InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	} `yaml:"tls"`
	SASL struct {
		Mechanism    string `yaml:"mechanism"`
		Username     string `yaml:"username"`
		PasswordEnv  string `yaml:"password_env"`
		PasswordFile string `yaml:"password_file"`
	} `yaml:"sasl"`
}

type elasticSection struct {
	Addresses          []string      `yaml:"addresses"`
	Username           string        `yaml:"username"`
	Password           string        `yaml:"password"`
	PasswordFile       string        `yaml:"password_file"`
	APIKey             string        `yaml:"api_key"`
	APIKeyFile         string        `yaml:"api_key_file"`
	CAFile             string        `yaml:"ca_file"`
	CertFile           string        `yaml:"cert_file"`
	KeyFile            string        `yaml:"key_file"`
	InsecureSkipVerify bool          `yaml:"insecure_skip_verify"`
	Compress           bool          `yaml:"compress"`
	CompressionLevel   int           `yaml:"compression_level"`
	FlushBytes         int           `yaml:"flush_bytes"`
	Timeout            time.Duration `yaml:"timeout"`
}

type deadSection struct {
	// Index is the Elasticsearch data stream for dead letters. Default:
	// eximship-deadletter-<exim.namespace>.
	Index string `yaml:"index"`
	// KafkaTopic, when set, also writes every dead letter to this topic.
	KafkaTopic string `yaml:"kafka_topic"`
}

type pipelineSection struct {
	Workers          int           `yaml:"workers"`
	MaxInFlightBytes int64         `yaml:"max_in_flight_bytes"`
	RetryInitial     time.Duration `yaml:"retry_initial"`
	RetryMax         time.Duration `yaml:"retry_max"`
	ShutdownTimeout  time.Duration `yaml:"shutdown_timeout"`
	ProgressInterval time.Duration `yaml:"progress_interval"`
}

type eximSection struct {
	Namespace string `yaml:"namespace"`
	Timezone  string `yaml:"timezone"`
	Dataset   string `yaml:"dataset"`
	// LocalDomains are our own domains (Exim's local_domains), used to
	// mark local and forged senders and recipients.
	LocalDomains []string `yaml:"local_domains"`
	// AdminLocalParts replace enrich.DefaultAdminLocalParts when set.
	AdminLocalParts []string `yaml:"admin_local_parts"`
}

// loadConfig reads, expands and decodes a configuration file.
func loadConfig(path string) (*fileConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := parseConfig(raw, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

func parseConfig(raw []byte, lookup func(string) (string, bool)) (*fileConfig, error) {
	text, err := envexpand.Expand(string(raw), lookup)
	if err != nil {
		return nil, err
	}
	var c fileConfig
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return &c, nil
}

func (c *fileConfig) location() (*time.Location, error) {
	switch c.Exim.Timezone {
	case "", "Local", "local":
		return time.Local, nil
	}
	loc, err := time.LoadLocation(c.Exim.Timezone)
	if err != nil {
		return nil, fmt.Errorf("exim.timezone: %w", err)
	}
	return loc, nil
}

func (c *fileConfig) kafkaConfig() kafka.Config {
	k := c.Kafka
	kc := kafka.Config{
		Brokers: k.Brokers, Topics: k.Topics, GroupID: k.GroupID, ClientID: k.ClientID,
		StartOffset: k.StartOffset, MinBytes: k.MinBytes, MaxBytes: k.MaxBytes, MaxWait: k.MaxWait,
		QueueCapacity: k.QueueCapacity, BatchSize: k.BatchSize, BatchBytes: k.BatchBytes, Linger: k.Linger,
		MaxUnackedMessages: k.MaxUnackedMessages, MaxUnackedBytes: k.MaxUnackedBytes,
		CommitInterval: k.CommitInterval, CommitTimeout: k.CommitTimeout,
		SessionTimeout: k.SessionTimeout, RebalanceTimeout: k.RebalanceTimeout, HeartbeatInterval: k.HeartbeatInterval,
	}
	kc.TLS = kafka.TLSConfig{
		Enabled: k.TLS.Enabled, CAFile: k.TLS.CAFile, CertFile: k.TLS.CertFile, KeyFile: k.TLS.KeyFile,
		ServerName: k.TLS.ServerName, InsecureSkipVerify: k.TLS.InsecureSkipVerify,
	}
	kc.SASL = kafka.SASLConfig{
		Mechanism: k.SASL.Mechanism, Username: k.SASL.Username,
		PasswordEnv: k.SASL.PasswordEnv, PasswordFile: k.SASL.PasswordFile,
	}
	return kc
}

func (c *fileConfig) elasticConfig() elastic.Config {
	e := c.Elasticsearch
	dead := c.DeadLetter.Index
	if dead == "" {
		// one dead-letter stream per namespace, like the data streams
		ns := c.Exim.Namespace
		if ns == "" {
			ns = process.DefaultNamespace
		}
		dead = "eximship-deadletter-" + ns
	}
	return elastic.Config{
		Addresses: e.Addresses, Username: e.Username, Password: e.Password, PasswordFile: e.PasswordFile,
		APIKey: e.APIKey, APIKeyFile: e.APIKeyFile, CAFile: e.CAFile, CertFile: e.CertFile, KeyFile: e.KeyFile,
		InsecureSkipVerify: e.InsecureSkipVerify, CompressRequestBody: e.Compress, CompressionLevel: e.CompressionLevel,
		FlushBytes: e.FlushBytes, Timeout: e.Timeout, DeadLetterIndex: dead,
	}
}

func (c *fileConfig) processConfig() (process.Config, error) {
	loc, err := c.location()
	if err != nil {
		return process.Config{}, err
	}
	return process.Config{
		Namespace: c.Exim.Namespace, Location: loc, Dataset: c.Exim.Dataset,
		Enrich: enrich.Config{LocalDomains: c.Exim.LocalDomains, AdminLocalParts: c.Exim.AdminLocalParts},
	}, nil
}

func (c *fileConfig) pipelineConfig() shipper.Config {
	p := c.Pipeline
	return shipper.Config{
		Workers: p.Workers, MaxInFlightBytes: p.MaxInFlightBytes, RetryInitial: p.RetryInitial,
		RetryMax: p.RetryMax, ShutdownTimeout: p.ShutdownTimeout, ProgressInterval: p.ProgressInterval,
	}
}

// validate checks every section, so a bad file fails before anything starts.
func (c *fileConfig) validate() error {
	var errs []error
	if err := c.kafkaConfig().Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.elasticConfig().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("elasticsearch: %w", err))
	}
	if pc, err := c.processConfig(); err != nil {
		errs = append(errs, err)
	} else if err := pc.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("exim: %w", err))
	}
	if err := c.pipelineConfig().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("pipeline: %w", err))
	}
	return errors.Join(errs...)
}
