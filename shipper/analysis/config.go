package analysis

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config configures Compute.
type Config struct {
	// LocalDomains are our own domains (Exim's local_domains). They decide
	// what a relay attempt is (see Relay) and which senders are forged.
	// Default: none (relay attempts are the "relay not permitted"
	// rejections, and no sender is forged).
	LocalDomains []string
	// Top is the length of every top list. Default: 5.
	Top int
	// Location is the time zone of the attempts per day. Default: UTC.
	Location *time.Location
	// Since and Until are the window the facts were taken from, [Since,
	// Until); zero means unbounded. They are shown in the report.
	Since, Until time.Time
	// Rules are the classification and campaign thresholds.
	Rules Rules
}

// Rules are the thresholds of the source classification and of campaign
// detection. A zero field takes its default.
type Rules struct {
	// ProbeSendersPerRecipient: a source that tried at least this many
	// different MAIL FROMs (the null sender counts as one) on one remote
	// recipient is probing for an open relay. Default: 3.
	ProbeSendersPerRecipient int
	// SpamRecipients and SpamDomains: a source that tried at least
	// SpamRecipients different recipients in at least SpamDomains
	// different recipient domains is running spam. Defaults: 10 and 3.
	SpamRecipients int
	SpamDomains    int
	// RepeatPair: a source that tried one sender/recipient pair at least
	// this many times repeats it. Default: 3.
	RepeatPair int
	// CampaignIPs: a recipient address, or a sender pattern (see
	// SenderPattern), tried from at least this many different source IPs
	// in the window is a campaign. Default: 3.
	CampaignIPs int
}

// Defaults.
const (
	DefaultTop                      = 5
	DefaultProbeSendersPerRecipient = 3
	DefaultSpamRecipients           = 10
	DefaultSpamDomains              = 3
	DefaultRepeatPair               = 3
	DefaultCampaignIPs              = 3
)

// WithDefaults returns r with zero fields set to their defaults.
func (r Rules) WithDefaults() Rules {
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	set(&r.ProbeSendersPerRecipient, DefaultProbeSendersPerRecipient)
	set(&r.SpamRecipients, DefaultSpamRecipients)
	set(&r.SpamDomains, DefaultSpamDomains)
	set(&r.RepeatPair, DefaultRepeatPair)
	set(&r.CampaignIPs, DefaultCampaignIPs)
	return r
}

// Validate reports rules that cannot work.
func (r Rules) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{
		{"probe_senders_per_recipient", r.ProbeSendersPerRecipient},
		{"spam_recipients", r.SpamRecipients},
		{"spam_domains", r.SpamDomains},
		{"repeat_pair", r.RepeatPair},
		{"campaign_ips", r.CampaignIPs},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s %d: must be at least 1", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Top == 0 {
		c.Top = DefaultTop
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	c.Rules = c.Rules.WithDefaults()
	return c
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	var errs []error
	if c.Top < 0 {
		errs = append(errs, fmt.Errorf("top %d: must be at least 1", c.Top))
	}
	for _, d := range c.LocalDomains {
		if d = strings.TrimSpace(d); d == "" || strings.ContainsAny(d, "@ \t*") {
			errs = append(errs, fmt.Errorf("local domain %q is not a domain", d))
		}
	}
	if !c.Since.IsZero() && !c.Until.IsZero() && !c.Since.Before(c.Until) {
		errs = append(errs, fmt.Errorf("since %s is not before until %s", c.Since.Format(time.RFC3339), c.Until.Format(time.RFC3339)))
	}
	if err := c.Rules.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("analysis: %w", err)
	}
	return nil
}
