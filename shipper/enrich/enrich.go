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

// Enricher computes Address metadata. It is safe for concurrent use.
type Enricher struct {
	local map[string]struct{}
	admin map[string]struct{}
}

// New returns an Enricher for c.
func New(c Config) (*Enricher, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("enrich: %w", err)
	}
	admin := c.AdminLocalParts
	if admin == nil {
		admin = DefaultAdminLocalParts
	}
	e := &Enricher{local: map[string]struct{}{}, admin: map[string]struct{}{}}
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
	var a Address
	a.Domain = strings.TrimSuffix(strings.ToLower(string(addr[at+1:])), ".")
	if a.Domain != "" && a.Domain[0] != '[' { // not an address literal
		if r, err := publicsuffix.EffectiveTLDPlusOne(a.Domain); err == nil {
			a.Registered = r
		}
	}
	a.Local = e.isLocal(a.Domain)
	a.Admin = e.isAdmin(addr[:at])
	return a
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
