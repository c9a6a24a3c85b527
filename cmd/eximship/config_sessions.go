package main

import (
	"errors"
	"strings"
	"time"

	"github.com/eximship/eximship/cmd/eximship/internal/yamlconf"
	"github.com/eximship/eximship/shipper/session"
)

// sessionsSection configures SMTP session tracking (shipper/session):
// exim.session.* on the documents. run keeps one tracker per Kafka
// partition and processes each partition in order on one worker.
type sessionsSection struct {
	// Disabled turns session tracking off (no exim.session fields, and
	// batches are processed by any worker).
	Disabled    bool          `yaml:"disabled"`
	MaxOpen     int           `yaml:"max_open" check:"min=0"`
	IdleTimeout time.Duration `yaml:"idle_timeout" check:"min=0"`
	Linger      time.Duration `yaml:"linger" check:"min=0"`
	InferGap    time.Duration `yaml:"infer_gap" check:"min=0"`
	MaxTwins    int           `yaml:"max_twins" check:"min=0"`
}

// Check runs the session package's own rules (infer_gap <= idle_timeout).
func (s *sessionsSection) Check(c *yamlconf.Check) {
	if c.Failed() {
		return
	}
	if err := s.config().Validate(); err != nil {
		c.Err("", errors.New(strings.ReplaceAll(err.Error(), "session: ", "")))
	}
}

func (s *sessionsSection) config() session.Config {
	return session.Config{MaxOpen: s.MaxOpen, IdleTimeout: s.IdleTimeout, Linger: s.Linger, InferGap: s.InferGap, MaxTwins: s.MaxTwins}
}
