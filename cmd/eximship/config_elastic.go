package main

import (
	"strings"
	"time"

	"github.com/eximship/eximship/cmd/eximship/internal/yamlconf"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/process"
	"github.com/eximship/eximship/shipper/redact"
)

// elasticSection configures the sink (package elastic).
type elasticSection struct {
	Addresses          []string        `yaml:"addresses" check:"url"`
	Username           string          `yaml:"username"`
	Password           yamlconf.Secret `yaml:"password"`
	PasswordFile       string          `yaml:"password_file" check:"file"`
	APIKey             yamlconf.Secret `yaml:"api_key"`
	APIKeyFile         string          `yaml:"api_key_file" check:"file"`
	CAFile             string          `yaml:"ca_file" check:"file"`
	CertFile           string          `yaml:"cert_file" check:"file"`
	KeyFile            string          `yaml:"key_file" check:"file"`
	InsecureSkipVerify bool            `yaml:"insecure_skip_verify"`
	Compress           bool            `yaml:"compress"`
	CompressionLevel   int             `yaml:"compression_level" check:"min=-2"`
	FlushBytes         int             `yaml:"flush_bytes" check:"min=1024"`
	Timeout            time.Duration   `yaml:"timeout" check:"min=0"`
	// InstallTemplates: nil means true (run installs missing templates).
	InstallTemplates *bool `yaml:"install_templates"`
}

// deadSection configures the dead letters.
type deadSection struct {
	// Index is the Elasticsearch data stream for dead letters. Default:
	// eximship-deadletter-<exim.namespace>.
	Index string `yaml:"index"`
	// KafkaTopic, when set, also writes every dead letter to this topic.
	KafkaTopic string `yaml:"kafka_topic"`
}

// Check holds the elasticsearch rules spanning keys.
func (e *elasticSection) Check(c *yamlconf.Check) {
	checkCredentials(c, e.Addresses, credentials{
		username: e.Username, password: e.Password, passwordFile: e.PasswordFile,
		apiKey: e.APIKey, apiKeyFile: e.APIKeyFile, insecure: e.InsecureSkipVerify,
	})
	if (e.CertFile == "") != (e.KeyFile == "") {
		c.Problem("cert_file", "cert_file and key_file go together (the client certificate and its key)")
	}
	if e.CompressionLevel > 9 {
		c.Problem("compression_level", "must be between -2 and 9 (gzip levels), got %d", e.CompressionLevel)
	}
	if !c.Failed() {
		c.Err("", e.config("").Validate())
	}
}

// credentials are the authentication settings of an HTTP service
// (Elasticsearch, Kibana), for the rules and warnings they share.
type credentials struct {
	username         string
	password, apiKey yamlconf.Secret
	passwordFile     string
	apiKeyFile       string
	insecure         bool
}

func checkCredentials(c *yamlconf.Check, urls []string, cr credentials) {
	hasPassword := cr.password != "" || cr.passwordFile != ""
	hasAPIKey := cr.apiKey != "" || cr.apiKeyFile != ""
	if cr.password != "" && cr.passwordFile != "" {
		c.Problem("password", "give the password one way only: password or password_file")
	}
	if cr.apiKey != "" && cr.apiKeyFile != "" {
		c.Problem("api_key", "give the API key one way only: api_key or api_key_file")
	}
	if hasAPIKey && cr.username != "" {
		c.Warn("api_key", "both api_key and username are set: the API key is used and username/password are ignored; remove one")
	}
	if hasPassword && cr.username == "" && !hasAPIKey {
		c.Problem("username", "missing: a password is given but no username")
	}
	if cr.insecure {
		c.Warn("insecure_skip_verify", "the server certificate is not verified: anyone on the path can read the credentials and the logs; set ca_file instead")
	}
	if hasPassword || hasAPIKey {
		for _, u := range urls {
			if strings.HasPrefix(strings.ToLower(u), "http://") {
				c.Warn("", "credentials are sent over http:// (%s), in clear text: use https://", redact.URL(u))
				break
			}
		}
	}
}

func (c *fileConfig) elasticConfig() elastic.Config {
	dead := c.DeadLetter.Index
	if dead == "" {
		dead = "eximship-deadletter-" + c.namespace()
	}
	return c.Elasticsearch.config(dead)
}

// config builds the elastic.Config (without a Logger).
func (e *elasticSection) config(deadLetterIndex string) elastic.Config {
	return elastic.Config{
		Addresses: e.Addresses, Username: e.Username, Password: e.Password.Reveal(), PasswordFile: e.PasswordFile,
		APIKey: e.APIKey.Reveal(), APIKeyFile: e.APIKeyFile, CAFile: e.CAFile, CertFile: e.CertFile, KeyFile: e.KeyFile,
		InsecureSkipVerify: e.InsecureSkipVerify, CompressRequestBody: e.Compress, CompressionLevel: e.CompressionLevel,
		FlushBytes: e.FlushBytes, Timeout: e.Timeout, DeadLetterIndex: deadLetterIndex,
	}
}

// installTemplates reports whether run installs missing index templates.
func (c *fileConfig) installTemplates() bool {
	return c.Elasticsearch.InstallTemplates == nil || *c.Elasticsearch.InstallTemplates
}

func (c *fileConfig) namespace() string {
	if c.Exim.Namespace == "" {
		return process.DefaultNamespace
	}
	return c.Exim.Namespace
}

// Check validates the dead-letter index name with the elastic package's
// rules.
func (d *deadSection) Check(c *yamlconf.Check) {
	if strings.TrimSpace(d.Index) == "" && c.Has("index") {
		c.Problem("index", "is empty: remove the key for the default (eximship-deadletter-<namespace>)")
		return
	}
	if d.Index != "" {
		c.Err("index", elastic.Config{DeadLetterIndex: d.Index}.Validate())
	}
}
