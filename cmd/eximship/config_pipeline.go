package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eximship/eximship/cmd/eximship/internal/yamlconf"
	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/enrich"
	"github.com/eximship/eximship/shipper/process"
)

type pipelineSection struct {
	Workers          int           `yaml:"workers" check:"min=1"`
	MaxInFlightBytes int64         `yaml:"max_in_flight_bytes" check:"min=1"`
	RetryInitial     time.Duration `yaml:"retry_initial" check:"min=0"`
	RetryMax         time.Duration `yaml:"retry_max" check:"min=0"`
	ShutdownTimeout  time.Duration `yaml:"shutdown_timeout" check:"min=0"`
	ProgressInterval time.Duration `yaml:"progress_interval"`
}

// Check runs the pipeline package's own rules (retry_initial <= retry_max).
func (p *pipelineSection) Check(c *yamlconf.Check) {
	if !c.Failed() {
		c.Err("", p.config().Validate())
	}
}

func (p *pipelineSection) config() shipper.Config {
	return shipper.Config{
		Workers: p.Workers, MaxInFlightBytes: p.MaxInFlightBytes, RetryInitial: p.RetryInitial,
		RetryMax: p.RetryMax, ShutdownTimeout: p.ShutdownTimeout, ProgressInterval: p.ProgressInterval,
	}
}

// pipelineConfig is the pipeline section's, in partition order when
// sessions are tracked (each partition's tracker sees its messages in
// order).
func (c *fileConfig) pipelineConfig() shipper.Config {
	pc := c.Pipeline.config()
	pc.PartitionOrder = !c.Sessions.Disabled
	return pc
}

type eximSection struct {
	Namespace string `yaml:"namespace"`
	Timezone  string `yaml:"timezone"`
	Dataset   string `yaml:"dataset" check:"oneof=main|reject|panic"`
	// LocalDomains are our own domains (Exim's local_domains), used to
	// mark local and forged senders and recipients.
	LocalDomains []string `yaml:"local_domains"`
	// AdminLocalParts replace enrich.DefaultAdminLocalParts when set.
	AdminLocalParts []string `yaml:"admin_local_parts"`
	// OwnHostnames are our servers' names (HELO class own_name); default
	// the local domains.
	OwnHostnames []string `yaml:"own_hostnames"`
	// KeepOriginal keeps event.original on every document (default false:
	// only where the document does not hold every word of its line).
	KeepOriginal bool `yaml:"keep_original"`
	// Host is host.name for entries whose transport names no host (no
	// envelope host, no syslog header); the Kafka key is the next fallback.
	Host string `yaml:"host"`
}

// Check validates the time zone and the process package's rules
// (namespace, domains).
func (x *eximSection) Check(c *yamlconf.Check) {
	if _, err := x.location(); err != nil {
		c.Problem("timezone", "%s", err)
	}
	if c.Failed() {
		return
	}
	pc, _ := x.config()
	if err := pc.Validate(); err != nil {
		c.Err("", errors.New(strings.TrimPrefix(err.Error(), "process: ")))
	}
}

func (x *eximSection) location() (*time.Location, error) {
	switch x.Timezone {
	case "", "Local", "local":
		return time.Local, nil
	}
	loc, err := time.LoadLocation(x.Timezone)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: use an IANA name such as Europe/Berlin or UTC, or Local", x.Timezone)
	}
	return loc, nil
}

func (x *eximSection) config() (process.Config, error) {
	loc, err := x.location()
	if err != nil {
		return process.Config{}, err
	}
	return process.Config{
		Namespace: x.Namespace, Location: loc, Dataset: strings.ToLower(x.Dataset), KeepOriginal: x.KeepOriginal, Host: x.Host,
		Enrich: enrich.Config{LocalDomains: x.LocalDomains, AdminLocalParts: x.AdminLocalParts, OwnHostnames: x.OwnHostnames},
	}, nil
}

func (c *fileConfig) processConfig() (process.Config, error) {
	pc, err := c.Exim.config()
	pc.Sessions, pc.NoSessions = c.Sessions.config(), c.Sessions.Disabled
	return pc, err
}
