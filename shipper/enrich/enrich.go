// Package enrich derives metadata from what an Exim log line names: for
// the envelope sender and recipient, the domain (lower case, IDNs in ASCII
// and Unicode), its registered domain, TLD, the country of a ccTLD, whether
// it is a free-mail provider's, whether it is one of our (local) domains,
// whether the local part is administrative (root@, info@, admin@ that
// relay probes forge); for the connecting host, the class of its HELO
// argument, the registered domain and effective TLD of its verified name,
// the special-purpose range of its address, and GeoIP/ASN data when a
// GeoIP reader is configured (shipper/enrich/geoip).
//
// It is pure: the tables are embedded, lookups do no I/O (a GeoIP reader
// reads a database opened beforehand), and it imports nothing of the
// pipeline. An Enricher caches what it computed per domain, HELO and
// address, so that a busy log costs no allocation per line.
package enrich

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/eximship/eximship/shipper/exim"
)

// DefaultAdminLocalParts are the local parts treated as administrative.
var DefaultAdminLocalParts = []string{
	"abuse", "admin", "administrator", "billing", "contact", "hostmaster", "info",
	"mail", "mailer-daemon", "marketing", "noc", "noreply", "office", "postmaster",
	"root", "sales", "security", "support", "sysadmin", "test", "webmaster",
}

// GeoIP looks up the GeoIP and ASN data of an address into g, returning
// whether anything was found. *geoip.DB implements it; it must be safe for
// concurrent use (one reader serves every Enricher).
type GeoIP interface {
	Lookup(ip netip.Addr, g *exim.Geo) (bool, error)
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
	// OwnHostnames are the names of our own mail servers: a HELO naming one
	// of them, or a name under one, is classified own_name. Default:
	// LocalDomains (so any name under a local domain).
	OwnHostnames []string
	// GeoIP, when set, adds source.geo.* and source.as.* for the client's
	// address. Default: nil (no GeoIP fields).
	GeoIP GeoIP
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	var errs []error
	for _, d := range c.LocalDomains {
		if err := validConfigName(d); err != nil {
			errs = append(errs, fmt.Errorf("local domain %w", err))
		}
	}
	for _, d := range c.OwnHostnames {
		if err := validConfigName(d); err != nil {
			errs = append(errs, fmt.Errorf("own host name %w", err))
		}
	}
	for _, l := range c.AdminLocalParts {
		if l == "" || strings.ContainsAny(l, "@ \t") {
			errs = append(errs, fmt.Errorf("admin local part %q is not a local part", l))
		}
	}
	return errors.Join(errs...)
}

func validConfigName(d string) error {
	t := strings.TrimSpace(d)
	if t == "" || strings.ContainsAny(t, "@ \t[]") || !ParseDomain([]byte(t)).Valid {
		return fmt.Errorf("%q is not a domain", d)
	}
	return nil
}

// Enricher computes the metadata. It caches what it computed, so it is not
// safe for concurrent use: use one per goroutine.
type Enricher struct {
	local map[string]struct{}
	own   map[string]struct{}
	admin []string // lower case
	geo   GeoIP
	// caches, keyed by the text as logged
	domains *cache[domainInfo]
	helos   *cache[helo]
	hosts   *cache[hostInfo]
	// the last sender: consecutive lines of a session repeat it
	lastSender      []byte
	lastSenderInfo  *domainInfo
	lastSenderAdmin bool
	// the compute functions of the caches, made once
	newDomain func([]byte) domainInfo
	newHelo   func([]byte) helo
	newHost   func([]byte) hostInfo
}

type domainInfo struct {
	Domain
	local   bool
	members []byte // exim.AppendDomainMembers of the above
}

type hostInfo struct {
	addr       netip.Addr
	class      string
	geo        *exim.Geo // nil: nothing known
	geoMembers []byte    // exim.AppendGeoMembers of geo
	err        error
}

// maxCached bounds each cache.
const maxCached = 8192

// New returns an Enricher for c.
func New(c Config) (*Enricher, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("enrich: %w", err)
	}
	admin := c.AdminLocalParts
	if admin == nil {
		admin = DefaultAdminLocalParts
	}
	own := c.OwnHostnames
	if own == nil {
		own = c.LocalDomains
	}
	e := &Enricher{
		local: names(c.LocalDomains), own: names(own), geo: c.GeoIP,
		domains: newCache[domainInfo](maxCached), helos: newCache[helo](maxCached), hosts: newCache[hostInfo](maxCached),
	}
	for _, l := range admin {
		e.admin = append(e.admin, strings.ToLower(l))
	}
	e.newDomain, e.newHost = e.computeDomain, e.computeHost
	e.newHelo = func(h []byte) helo { return parseHelo(h, e.own) }
	return e, nil
}

func names(list []string) map[string]struct{} {
	m := make(map[string]struct{}, len(list))
	for _, d := range list {
		m[ParseDomain([]byte(strings.TrimSpace(d))).ASCII] = struct{}{}
	}
	return m
}

// Address is what enrichment knows of one envelope address.
type Address struct {
	Domain
	// Local is true when the domain is one of the local domains or under
	// one.
	Local bool
	// Admin is true when the local part is administrative.
	Admin bool
}

// Address returns the metadata of addr ("local@domain"; a quoted local
// part may contain '@').
func (e *Enricher) Address(addr []byte) Address {
	d, admin := e.address(addr)
	return Address{Domain: d.Domain, Local: d.local, Admin: admin}
}

// noDomain is the domainInfo of an address without a domain.
var noDomain = &domainInfo{}

func (e *Enricher) address(addr []byte) (*domainInfo, bool) {
	local, dom, ok := splitAddress(addr)
	admin := e.isAdmin(local)
	if !ok || len(dom) == 0 {
		return noDomain, admin
	}
	return e.domain(dom), admin
}

func (e *Enricher) domain(raw []byte) *domainInfo { return e.domains.get(raw, e.newDomain) }

func (e *Enricher) computeDomain(raw []byte) domainInfo {
	d := domainInfo{Domain: ParseDomain(raw)}
	d.local = d.ASCII != "" && under(d.ASCII, e.local)
	d.members = exim.AppendDomainMembers(nil, d.ASCII, d.Unicode, d.Registered, d.TLD, d.Country, d.Freemail, d.local)
	return d
}

// Apply fills r.Enrichment from the record's envelope sender and
// recipient and, when H= is the client, from its HELO, name and address.
// A rejection whose sender claims one of our local domains is marked
// forged: our own users authenticate and are not rejected, relay probes
// forge root@, info@, admin@ our domain. A GeoIP lookup error is added to
// r.Err (error.message); the rest of the document is kept.
func (e *Enricher) Apply(r *exim.Record) {
	r.Enrichment = exim.Enrichment{}
	en := &r.Enrichment
	sender := r.Sender
	if len(sender) == 0 && !r.Has(exim.FlagNullSender) {
		sender = r.EnvelopeFrom
	}
	if len(sender) > 0 {
		a, admin := e.lastSenderInfo, e.lastSenderAdmin
		if a == nil || !bytes.Equal(sender, e.lastSender) {
			a, admin = e.address(sender)
			e.lastSender, e.lastSenderInfo, e.lastSenderAdmin = append(e.lastSender[:0], sender...), a, admin
		}
		en.SenderMembers = a.members
		en.SenderDomain, en.SenderDomainUnicode, en.SenderRegisteredDomain = a.ASCII, a.Unicode, a.Registered
		en.SenderTLD, en.SenderCountry, en.SenderFreemail = a.TLD, a.Country, a.Freemail
		en.SenderLocal, en.SenderAdmin = a.local, admin
		en.SenderForged = a.local && isRejection(r.Action)
	}
	// the envelope recipient: on delivery lines the original address when
	// Exim shows it (the delivered form may be a local part, a file, a pipe)
	rcpt := r.Parent
	if len(rcpt) == 0 {
		rcpt = r.Recipient
	}
	if len(rcpt) > 0 {
		_, dom, ok := splitAddress(rcpt)
		if ok && len(dom) > 0 {
			a := e.domain(dom)
			en.RecipientMembers = a.members
			en.RecipientDomain, en.RecipientDomainUnicode, en.RecipientRegisteredDomain = a.ASCII, a.Unicode, a.Registered
			en.RecipientTLD, en.RecipientCountry, en.RecipientFreemail = a.TLD, a.Country, a.Freemail
			en.RecipientLocal = a.local
		}
	}
	en.SameDomain = en.SenderDomain != "" && en.SenderDomain == en.RecipientDomain
	en.EmailDirection = e.direction(r)
	if !r.Outbound() {
		e.host(r)
	}
}

// direction is email.direction (exim.Enrichment.EmailDirection): from the
// local domains, for entries with a known recipient; "" without local
// domains. Mail of an authenticated user (A=) to elsewhere is outbound
// whatever its sender domain; the null sender (bounces) is not local.
func (e *Enricher) direction(r *exim.Record) string {
	en := &r.Enrichment
	if len(e.local) == 0 || en.RecipientDomain == "" {
		return ""
	}
	switch {
	case en.SenderLocal && en.RecipientLocal:
		return "internal"
	case en.RecipientLocal:
		return "inbound"
	case en.SenderLocal, len(r.AuthID) > 0 && r.Action != exim.ActionAuthFailed:
		return "outbound" // from one of our domains, or an authenticated user
	}
	return "external"
}

// host fills the enrichment of the client (H= on reception lines).
func (e *Enricher) host(r *exim.Record) {
	en := &r.Enrichment
	h := &noHost
	if len(r.Host.IP) > 0 {
		h = e.hostInfo(r.Host.IP)
		en.SourceIPClass = h.class
		if e.geo != nil {
			en.Geo, en.GeoMembers = h.geo, h.geoMembers // shared, read-only
		}
		if h.err != nil {
			r.Err = errors.Join(r.Err, h.err)
		}
	}
	if len(r.Host.Helo) > 0 {
		hl := e.heloInfo(r.Host.Helo)
		en.HeloClass = hl.class
		if hl.literal.IsValid() && h.addr.IsValid() && hl.literal != h.addr {
			en.HeloClass, en.HeloIP = HeloAddressLiteralMismatch, hl.text
		}
	}
	if r.Host.HasName() {
		if d := e.domain(r.Host.Name); d.Valid {
			en.SourceRegisteredDomain, en.SourceTopLevelDomain = d.Registered, d.Suffix
		}
	}
}

var noHost hostInfo

func (e *Enricher) heloInfo(h []byte) *helo { return e.helos.get(h, e.newHelo) }

func (e *Enricher) hostInfo(ip []byte) *hostInfo { return e.hosts.get(ip, e.newHost) }

func (e *Enricher) computeHost(ip []byte) hostInfo {
	var h hostInfo
	if a, ok := parseIP(ip); ok {
		h.addr = a.Unmap()
		h.class = IPClass(h.addr)
		if e.geo != nil {
			var g exim.Geo
			found, err := e.geo.Lookup(h.addr, &g)
			if err != nil {
				h.err = fmt.Errorf("geoip lookup of %s: %w", h.addr, err)
			}
			if found {
				h.geo, h.geoMembers = &g, exim.AppendGeoMembers(nil, &g)
			}
		}
	}
	return h
}

// clearCaches empties the caches (benchmarks of the uncached path).
func (e *Enricher) clearCaches() {
	e.domains.reset()
	e.helos.reset()
	e.hosts.reset()
	e.lastSenderInfo = nil
}

func isRejection(action string) bool {
	switch action {
	case exim.ActionRcptRejected, exim.ActionRcptTempRejected, exim.ActionMailRejected, exim.ActionDataRejected,
		exim.ActionSenderVerifyFailed, exim.ActionSenderVerifyDeferred:
		return true
	}
	return false
}

func (e *Enricher) isAdmin(local []byte) bool {
	// a simply quoted local part is the same mailbox: "root"@ is root@
	if len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"' && bytes.IndexByte(local, '\\') < 0 {
		local = local[1 : len(local)-1]
	}
	for _, a := range e.admin {
		if len(a) == len(local) && equalFoldASCII(local, a) {
			return true
		}
	}
	return false
}

// equalFoldASCII reports whether b equals the lower-case s, ignoring the
// case of ASCII letters in b.
func equalFoldASCII(b []byte, s string) bool {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
