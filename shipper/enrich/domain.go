package enrich

import (
	"bytes"
	"errors"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Domain is what enrichment knows of one domain.
type Domain struct {
	// ASCII is the domain lower-cased, trailing dots removed, an
	// internationalised name in its ASCII (punycode) form; an address
	// literal ("[192.0.2.1]") lower-cased as it is; a domain that is not
	// a valid name lower-cased as it is.
	ASCII string
	// Unicode is the Unicode form of an internationalised domain name; ""
	// when it is the same as ASCII.
	Unicode string
	// Registered is the registered domain (eTLD+1 by the public suffix
	// list): "example.co.uk" for "mx.example.co.uk".
	Registered string
	// Suffix is the effective TLD (public suffix): "co.uk"; ECS's
	// top_level_domain. Empty for a name without a dot.
	Suffix string
	// TLD is the last label ("uk"); empty for a name without a dot and for
	// an all-numeric last label.
	TLD string
	// Country is the ISO 3166-1 alpha-2 code of a ccTLD ("GB" for uk).
	Country string
	// Freemail marks a free or disposable mail provider's domain.
	Freemail bool
	// Valid is false for address literals and names that are not valid
	// host names; then only ASCII is set.
	Valid bool
}

var errNotName = errors.New("not a host name")

// ParseDomain normalises and describes a domain as found in an address or
// a host name. It never fails: what cannot be a domain gets Valid false.
func ParseDomain(raw []byte) Domain {
	raw = bytes.TrimRight(raw, ".")
	if len(raw) == 0 {
		return Domain{}
	}
	if _, isIP := parseIP(raw); isIP || raw[0] == '[' {
		return Domain{ASCII: keep(raw)} // an address, not a name
	}
	var d Domain
	if isASCII(raw) {
		d.ASCII = lowerASCII(raw)
		d.Valid = validName(d.ASCII)
		if d.Valid && strings.Contains(d.ASCII, "xn--") {
			u, err := idna.Lookup.ToUnicode(d.ASCII)
			switch {
			case err != nil || roundTrip(u) != d.ASCII:
				d.Valid = false // a broken A-label ("xn--", "xn--zz")
			case u != d.ASCII:
				d.Unicode = u
			}
		}
	} else {
		a, err := idna.Lookup.ToASCII(string(raw))
		a = strings.TrimRight(a, ".")
		var u string
		if err == nil && utf8.Valid(raw) && a != "" && validName(a) {
			u, err = idna.Lookup.ToUnicode(a)
			if err == nil && roundTrip(u) != a {
				err = errNotName
			}
		} else if err == nil {
			err = errNotName
		}
		if err != nil {
			return Domain{ASCII: keep(raw)} // not a valid IDN
		}
		d.ASCII, d.Valid = a, true
		if u != a {
			d.Unicode = u
		}
	}
	if !d.Valid {
		return Domain{ASCII: d.ASCII}
	}
	dot := strings.LastIndexByte(d.ASCII, '.')
	if dot < 0 {
		return d // a bare word: no suffix, TLD or registered domain
	}
	if last := d.ASCII[dot+1:]; !allDigits(last) {
		d.TLD = last
		d.Country = Country(last)
	}
	d.Suffix, _ = publicsuffix.PublicSuffix(d.ASCII)
	d.Registered, _ = publicsuffix.EffectiveTLDPlusOne(d.ASCII)
	d.Freemail = freemail(d.ASCII, d.Registered)
	return d
}

// roundTrip is the ASCII form of a Unicode form, "" when it has none.
func roundTrip(u string) string {
	a, err := idna.Lookup.ToASCII(u)
	if err != nil {
		return ""
	}
	return strings.TrimRight(a, ".")
}

// validName reports whether s (ASCII, lower case) is a plausible host
// name: labels of 1-63 letters, digits, '-' or '_' (seen in the wild),
// 253 bytes at most.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if n == 0 {
				return false
			}
			n = 0
			continue
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		n++
		if n > 63 {
			return false
		}
	}
	return n > 0
}

// keep returns what is no valid name as it is, lower-cased, invalid UTF-8
// as U+FFFD.
func keep(raw []byte) string {
	if isASCII(raw) {
		return lowerASCII(raw)
	}
	return strings.ToLower(strings.ToValidUTF8(string(raw), "\uFFFD"))
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func lowerASCII(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return string(out)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// splitAddress splits an envelope address into local part and domain. A
// quoted local part may hold '@' (`"a@b"@example.org`); an address without
// '@' after its local part has no domain.
func splitAddress(a []byte) (local, domain []byte, ok bool) {
	if len(a) > 0 && a[0] == '"' {
		for i := 1; i < len(a); i++ {
			switch a[i] {
			case '\\':
				i++
			case '"':
				rest := a[i+1:]
				at := bytes.LastIndexByte(rest, '@')
				if at < 0 {
					return a, nil, false
				}
				return a[:i+1+at], rest[at+1:], true
			}
		}
		return a, nil, false // unterminated quote
	}
	at := bytes.LastIndexByte(a, '@')
	if at < 0 {
		return a, nil, false
	}
	return a[:at], a[at+1:], true
}
