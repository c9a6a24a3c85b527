// Package enrich derives domain metadata from envelope addresses: the
// domain, its registered domain (by the public suffix list), whether it is
// one of our own (local) domains, and whether the local part is one of the
// administrative names that relay probes forge (root@, info@, admin@ our
// domain). It is pure: no I/O, and nothing of the pipeline.
package enrich

import (
	"bytes"
	"fmt"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/eximship/eximship/shipper/exim"
)

// DefaultAdminLocalParts are the local parts treated as administrative.
var DefaultAdminLocalParts = []string{
	"abuse", "admin", "administrator", "billing", "contact", "hostmaster", "info",
	"mail", "mailer-daemon", "marketing", "noc", "noreply", "office", "postmaster",
	"root", "sales", "security", "support", "sysadmin", "test", "webmaster",
}

// Config configures an Enricher.
type Config struct {
	// LocalDomains are the domains this mail system is the destination for
	// (Exim's local_domains). A subdomain of a local domain is local too.
	// Default: none (then no address is marked local).
	LocalDomains []string
	// AdminLocalParts are the local parts marked administrative, compared
	// case-insensitively. Default: DefaultAdminLocalParts.
	AdminLocalParts []string
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	for _, d := range c.LocalDomains {
		if d = strings.TrimSpace(d); d == "" || strings.ContainsAny(d, "@ \t") {
			return fmt.Errorf("local domain %q is not a domain", d)
		}
	}
	for _, l := range c.AdminLocalParts {
		if l == "" || strings.ContainsAny(l, "@ \t") {
			return fmt.Errorf("admin local part %q is not a local part", l)
		}
	}
	return nil
}

// Enricher computes Address metadata. It caches domains it has seen, so it
// is not safe for concurrent use: use one per goroutine.
type Enricher struct {
	local map[string]struct{}
	admin map[string]struct{}
	// domains caches the metadata of domains seen (keyed by the domain as
	// written), so that a busy log costs no allocation per address.
	domains map[string]domainInfo
}

type domainInfo struct {
	domain, registered string
	local              bool
}

// maxCachedDomains bounds the cache; it is emptied when full.
const maxCachedDomains = 8192

// New returns an Enricher for c.
func New(c Config) (*Enricher, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("enrich: %w", err)
	}
	admin := c.AdminLocalParts
	if admin == nil {
		admin = DefaultAdminLocalParts
	}
	e := &Enricher{local: map[string]struct{}{}, admin: map[string]struct{}{}, domains: map[string]domainInfo{}}
	for _, d := range c.LocalDomains {
		e.local[strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")] = struct{}{}
	}
	for _, l := range admin {
		e.admin[strings.ToLower(l)] = struct{}{}
	}
	return e, nil
}

// Address is what enrichment knows of one envelope address.
type Address struct {
	// Domain is the lower-cased domain ("" when the address has none).
	Domain string
	// Registered is the registered domain (eTLD+1), e.g. "example.co.uk"
	// for "mx.example.co.uk"; "" when it cannot be determined.
	Registered string
	// Local is true when Domain is one of the local domains.
	Local bool
	// Admin is true when the local part is administrative.
	Admin bool
}

// Address returns the metadata of addr ("local@domain"; a quoted local
// part may contain '@').
func (e *Enricher) Address(addr []byte) Address {
	at := bytes.LastIndexByte(addr, '@')
	if at < 0 {
		return Address{Admin: e.isAdmin(addr)}
	}
	d := e.domain(addr[at+1:])
	return Address{Domain: d.domain, Registered: d.registered, Local: d.local, Admin: e.isAdmin(addr[:at])}
}

func (e *Enricher) domain(raw []byte) domainInfo {
	if d, ok := e.domains[string(raw)]; ok {
		return d
	}
	var d domainInfo
	d.domain = strings.TrimSuffix(strings.ToLower(string(raw)), ".")
	if d.domain != "" && d.domain[0] != '[' { // not an address literal
		if r, err := publicsuffix.EffectiveTLDPlusOne(d.domain); err == nil {
			d.registered = r
		}
	}
	d.local = e.isLocal(d.domain)
	if len(e.domains) >= maxCachedDomains {
		clear(e.domains)
	}
	e.domains[string(raw)] = d
	return d
}

// Apply fills r.Enrichment from the record's envelope sender and recipient.
// A rejection whose sender claims one of our local domains is marked
// forged: our own users authenticate and are not rejected, relay probes
// forge root@, info@, admin@ our domain.
func (e *Enricher) Apply(r *exim.Record) {
	r.Enrichment = exim.Enrichment{}
	if len(r.Sender) > 0 {
		a := e.Address(r.Sender)
		r.Enrichment.SenderDomain, r.Enrichment.SenderRegisteredDomain = a.Domain, a.Registered
		r.Enrichment.SenderLocal, r.Enrichment.SenderAdmin = a.Local, a.Admin
		r.Enrichment.SenderForged = a.Local && isRejection(r.Action)
	}
	if len(r.Recipient) > 0 {
		a := e.Address(r.Recipient)
		r.Enrichment.RecipientDomain, r.Enrichment.RecipientRegisteredDomain = a.Domain, a.Registered
		r.Enrichment.RecipientLocal = a.Local
	}
}

func isRejection(action string) bool {
	switch action {
	case exim.ActionRcptRejected, exim.ActionRcptTempRejected, exim.ActionMailRejected, exim.ActionDataRejected,
		exim.ActionSenderVerifyFailed, exim.ActionSenderVerifyDeferred:
		return true
	}
	return false
}

func (e *Enricher) isLocal(domain string) bool {
	for d := domain; d != ""; {
		if _, ok := e.local[d]; ok {
			return true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			break
		}
		d = d[i+1:]
	}
	return false
}

func (e *Enricher) isAdmin(local []byte) bool {
	if len(local) == 0 || len(local) > 64 {
		return false
	}
	var buf [64]byte
	l := buf[:0]
	for _, c := range local {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		l = append(l, c)
	}
	_, ok := e.admin[string(l)]
	return ok
}
