package main

import (
	"time"

	"github.com/eximship/eximship/cmd/eximship/internal/yamlconf"
	"github.com/eximship/eximship/shipper/analysis"
)

// sourcesSection configures the per-source entity index
// eximship-sources-<namespace> that run rewrites periodically, and the
// thresholds of the report's classification and campaigns (used by
// report too). docs/REPORT.md describes them.
type sourcesSection struct {
	// Enabled makes run rewrite the entity index every Interval.
	Enabled  bool          `yaml:"enabled"`
	Interval time.Duration `yaml:"interval" check:"min=0"`
	// Window is the length of one entity document's window.
	Window time.Duration `yaml:"window" check:"min=0"`
	// Windows is how many of the latest windows each rewrite recomputes
	// (the current one and those before it, for late events).
	Windows int `yaml:"windows" check:"min=0"`

	ProbeSendersPerRecipient int `yaml:"probe_senders_per_recipient" check:"min=0"`
	SpamRecipients           int `yaml:"spam_recipients" check:"min=0"`
	SpamDomains              int `yaml:"spam_domains" check:"min=0"`
	RepeatPair               int `yaml:"repeat_pair" check:"min=0"`
	CampaignIPs              int `yaml:"campaign_ips" check:"min=0"`
}

// Defaults of the sources section.
const (
	defaultSourcesInterval = 10 * time.Minute
	defaultSourcesWindow   = 24 * time.Hour
	defaultSourcesWindows  = 2
)

// Check applies the rules spanning keys.
func (s *sourcesSection) Check(c *yamlconf.Check) {
	if s.Window != 0 && s.Window < time.Minute {
		c.Problem("window", "%s is too short: use at least 1m", s.Window)
	}
	if s.Interval != 0 && s.Interval < 10*time.Second {
		c.Problem("interval", "%s is too short: use at least 10s (each rewrite runs the report's queries)", s.Interval)
	}
}

func (s *sourcesSection) rules() analysis.Rules {
	return analysis.Rules{
		ProbeSendersPerRecipient: s.ProbeSendersPerRecipient, SpamRecipients: s.SpamRecipients,
		SpamDomains: s.SpamDomains, RepeatPair: s.RepeatPair, CampaignIPs: s.CampaignIPs,
	}
}

func (s *sourcesSection) interval() time.Duration {
	if s.Interval == 0 {
		return defaultSourcesInterval
	}
	return s.Interval
}

func (s *sourcesSection) window() time.Duration {
	if s.Window == 0 {
		return defaultSourcesWindow
	}
	return s.Window
}

func (s *sourcesSection) windows() int {
	if s.Windows == 0 {
		return defaultSourcesWindows
	}
	return s.Windows
}
