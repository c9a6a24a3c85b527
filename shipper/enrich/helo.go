package enrich

import (
	"bytes"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// Values of exim.smtp.helo_class.
const (
	// HeloAddressLiteral: "[192.0.2.1]" or "[IPv6:2001:db8::1]" naming the
	// client's own address (or the address is unknown).
	HeloAddressLiteral = "address_literal"
	// HeloAddressLiteralMismatch: an address literal of another address.
	HeloAddressLiteralMismatch = "address_literal_mismatch"
	// HeloBareWord: a name without a dot ("ylmf-pc", "WIN-8F2K").
	HeloBareWord = "bare_word"
	// HeloLocalhost: localhost, localhost.localdomain, *.localhost.
	HeloLocalhost = "localhost"
	// HeloOwnName: one of Config.OwnHostnames, or a name under one: a
	// client claiming to be us.
	HeloOwnName = "own_name"
	// HeloFQDN: a syntactically valid fully qualified host name.
	HeloFQDN = "fqdn"
	// HeloInvalid: anything else (a bare IP without brackets, a broken
	// literal, characters a host name cannot have, an empty label).
	HeloInvalid = "invalid"
)

// helo is the part of a HELO's classification that does not depend on the
// client's address, cached per HELO text.
type helo struct {
	class   string
	literal netip.Addr // for address literals
	text    string     // literal's address, canonical (related.ip)
}

// parseHelo classifies a HELO argument as Exim logs it (`H=(helo)`); own
// are our own names (Config.OwnHostnames).
func parseHelo(h []byte, own map[string]struct{}) helo {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		inner := h[1 : len(h)-1]
		// Exim accepts an "IPv6:" or "IPv4:" tag, in any case
		if len(inner) > 5 && inner[4] == ':' && (bytes.EqualFold(inner[:4], []byte("ipv6")) || bytes.EqualFold(inner[:4], []byte("ipv4"))) {
			inner = inner[5:]
		}
		a, ok := parseIP(inner)
		if !ok {
			return helo{class: HeloInvalid}
		}
		a = a.Unmap()
		return helo{class: HeloAddressLiteral, literal: a, text: a.String()}
	}
	if bytes.IndexByte(h, '\\') >= 0 {
		return helo{class: HeloInvalid} // Exim escaped a non-printing byte
	}
	if _, ok := parseIP(h); ok {
		return helo{class: HeloInvalid} // RFC 5321 4.1.3: literals are bracketed
	}
	name := strings.TrimRight(string(h), ".")
	if isASCII(h) {
		name = strings.ToLower(name)
	} else {
		a, err := idna.Lookup.ToASCII(name)
		if err != nil {
			return helo{class: HeloInvalid}
		}
		name = strings.TrimRight(a, ".")
	}
	switch {
	case name == "":
		return helo{class: HeloInvalid}
	case name == "localhost" || name == "localhost.localdomain" || strings.HasSuffix(name, ".localhost"):
		return helo{class: HeloLocalhost}
	case under(name, own):
		return helo{class: HeloOwnName}
	case strings.IndexByte(name, '.') < 0:
		if validName(name) {
			return helo{class: HeloBareWord}
		}
		return helo{class: HeloInvalid}
	case fqdn(name):
		return helo{class: HeloFQDN}
	}
	return helo{class: HeloInvalid}
}

// fqdn reports whether s (ASCII, lower case) is a valid host name of at
// least two labels (RFC 1123: letters, digits, '-' not at either end of a
// label; the last label not all digits).
func fqdn(s string) bool {
	if len(s) > 253 {
		return false
	}
	labels := 0
	for len(s) > 0 {
		l := s
		if i := strings.IndexByte(s, '.'); i >= 0 {
			l, s = s[:i], s[i+1:]
			if s == "" {
				return false
			}
		} else {
			s = ""
		}
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
		labels++
		if s == "" && allDigits(l) {
			return false
		}
	}
	return labels >= 2
}

// under reports whether name is one of set or a name under one of them.
func under(name string, set map[string]struct{}) bool {
	if len(set) == 0 {
		return false
	}
	for d := name; d != ""; {
		if _, ok := set[d]; ok {
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
