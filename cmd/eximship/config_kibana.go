package main

import (
	"github.com/eximship/eximship/cmd/eximship/internal/yamlconf"
	"github.com/eximship/eximship/shipper/kibana"
)

// kibanaSection locates Kibana (for check, and for setup/export).
type kibanaSection struct {
	URL          string          `yaml:"url" check:"url"`
	Space        string          `yaml:"space"`
	Username     string          `yaml:"username"`
	Password     yamlconf.Secret `yaml:"password"`
	PasswordFile string          `yaml:"password_file" check:"file"`
	APIKey       yamlconf.Secret `yaml:"api_key"`
	APIKeyFile   string          `yaml:"api_key_file" check:"file"`
	CAFile       string          `yaml:"ca_file" check:"file"`
}

// Check holds the kibana rules spanning keys.
func (k *kibanaSection) Check(c *yamlconf.Check) {
	if k.URL == "" {
		c.Problem("url", "missing: the Kibana URL, e.g. url: https://kibana:5601")
	}
	checkCredentials(c, []string{k.URL}, credentials{
		username: k.Username, password: k.Password, passwordFile: k.PasswordFile,
		apiKey: k.APIKey, apiKeyFile: k.APIKeyFile,
	})
}

// kibanaConfig builds the kibana.Config (without a Logger).
func (c *fileConfig) kibanaConfig() kibana.Config {
	k := c.Kibana
	return kibana.Config{
		URL: k.URL, Space: k.Space, Username: k.Username, Password: k.Password.Reveal(), PasswordFile: k.PasswordFile,
		APIKey: k.APIKey.Reveal(), APIKeyFile: k.APIKeyFile, CAFile: k.CAFile,
	}
}
