package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/eximship/eximship/cmd/eximship/internal/yamlconf"
)

// fileConfig is eximship's YAML configuration file, one for every command
// (run, check, and those that talk to Elasticsearch or Kibana).
// docs/CONFIG.md describes every key, its default and its meaning (a test
// keeps the two in step).
//
// The file is decoded by package yamlconf from the parsed YAML tree:
// ${VAR}, ${VAR:-default} and ${VAR:?message} are expanded in each value
// after parsing (a bare $ is kept); unknown keys, wrong types, durations
// without a unit and a second YAML document are errors naming the dotted
// key and its line; every problem of the file is reported at once.
//
// Adding a section: give it a type in its own file (config_<name>.go),
// with fields tagged `yaml:"key"` (and `check:"..."` rules, see yamlconf),
// secrets typed yamlconf.Secret, an optional Check(*yamlconf.Check) method
// for rules spanning keys (it runs only when the section is in the file),
// and a method building the Config of the package it configures; add one
// field here; document every key in docs/CONFIG.md.
type fileConfig struct {
	Kafka         kafkaSection      `yaml:"kafka"`
	Elasticsearch elasticSection    `yaml:"elasticsearch"`
	DeadLetter    deadSection       `yaml:"dead_letter"`
	Pipeline      pipelineSection   `yaml:"pipeline"`
	Exim          eximSection       `yaml:"exim"`
	Kibana        kibanaSection     `yaml:"kibana"`
	Sources       sourcesSection    `yaml:"sources"`
	GeoIP         geoipSection      `yaml:"geoip"`
	Sessions      sessionsSection   `yaml:"sessions"`
	Monitoring    monitoringSection `yaml:"monitoring"`

	// doc says where each key is (and whether it is there at all).
	doc *yamlconf.Doc
	// warnings are valid but risky settings, for the log and `check`.
	warnings yamlconf.Problems
}

// Check holds the rules that span sections.
func (c *fileConfig) Check(ch *yamlconf.Check) {
	if c.DeadLetter.KafkaTopic != "" && !ch.Has("kafka") {
		ch.Problem("dead_letter.kafka_topic", "needs a kafka section (the brokers to write the topic to)")
	}
}

// loadConfig reads and decodes a configuration file. Its error is a
// *yamlconf.Error listing every problem (or a file error with a hint);
// warnings are kept in the config.
func loadConfig(path string) (*fileConfig, error) {
	return loadConfigEnv(path, os.LookupEnv)
}

// loadConfigEnv is loadConfig with the environment given. Its errors carry
// exit status exitConfig.
func loadConfigEnv(path string, lookup yamlconf.Lookup) (*fileConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &exitError{code: exitConfig, err: configFileError(path, err)}
	}
	c, probs := parseConfig(raw, lookup)
	if err := probs.Err(); err != nil {
		err.(*yamlconf.Error).File = path
		return nil, &exitError{code: exitConfig, err: err}
	}
	return c, nil
}

func configFileError(path string, err error) error {
	why := err
	var pe *fs.PathError
	if errors.As(err, &pe) {
		why = pe.Err
	}
	hint := ""
	switch {
	case errors.Is(err, fs.ErrNotExist):
		hint = " (give the file with --config FILE; docs/CONFIG.md describes it, and the README has an example)"
	case errors.Is(err, fs.ErrPermission):
		hint = " (the user running eximship must be able to read it)"
	}
	return fmt.Errorf("config file %s: %v%s", path, why, hint)
}

// parseConfig decodes a configuration file's bytes. The problems hold the
// errors and the warnings (also kept in c.warnings).
func parseConfig(raw []byte, lookup yamlconf.Lookup) (*fileConfig, yamlconf.Problems) {
	var c fileConfig
	doc, probs := yamlconf.Decode(raw, lookup, &c)
	c.doc = doc
	c.warnings = probs.Warnings()
	return &c, probs
}

// require reports the sections a command needs that the file lacks.
func (c *fileConfig) require(command string, sections ...string) error {
	var probs yamlconf.Problems
	for _, s := range sections {
		if !c.doc.Has(s) {
			probs = append(probs, yamlconf.Problem{Key: s, Msg: fmt.Sprintf("missing: eximship %s needs a %s section (docs/CONFIG.md)", command, s)})
		}
	}
	if err := probs.Err(); err != nil {
		return &exitError{code: exitConfig, err: err}
	}
	return nil
}
