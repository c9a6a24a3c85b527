package enrich

import (
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eximship/eximship/shipper/exim"
)

// FuzzParseDomain checks that ParseDomain never panics and that its
// results hold together: the ASCII form is a fixed point, a valid domain
// is lower-case ASCII whose Unicode form leads back to it, and the derived
// names are suffixes of it.
func FuzzParseDomain(f *testing.F) {
	for _, c := range domainCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		d := ParseDomain(raw)
		again := ParseDomain([]byte(d.ASCII))
		if again.ASCII != d.ASCII {
			t.Fatalf("ASCII form not idempotent: %q -> %q -> %q", raw, d.ASCII, again.ASCII)
		}
		if !utf8.ValidString(d.ASCII) {
			t.Fatalf("%q: ASCII %q is not valid UTF-8", raw, d.ASCII)
		}
		if !d.Valid {
			if d.Registered != "" || d.TLD != "" || d.Suffix != "" || d.Country != "" || d.Freemail || d.Unicode != "" {
				t.Fatalf("%q: invalid domain with derived fields %+v", raw, d)
			}
			return
		}
		if again != d {
			t.Fatalf("valid domain not a fixed point: %q -> %+v -> %+v", raw, d, again)
		}
		if !isASCII([]byte(d.ASCII)) || strings.ToLower(d.ASCII) != d.ASCII || strings.HasSuffix(d.ASCII, ".") {
			t.Fatalf("%q: ASCII form %q is not lower-case ASCII without a trailing dot", raw, d.ASCII)
		}
		if d.Unicode != "" {
			if u := ParseDomain([]byte(d.Unicode)); u.ASCII != d.ASCII {
				t.Fatalf("%q: Unicode %q gives %q, not %q", raw, d.Unicode, u.ASCII, d.ASCII)
			}
		}
		for _, s := range []string{d.Registered, d.Suffix, d.TLD} {
			if s != "" && s != d.ASCII && !strings.HasSuffix(d.ASCII, "."+s) {
				t.Fatalf("%q: %q is not a suffix of %q", raw, s, d.ASCII)
			}
		}
		if d.Country != "" && Country(d.TLD) != d.Country {
			t.Fatalf("%q: country %q without its ccTLD", raw, d.Country)
		}
	})
}

// FuzzAddress checks that any address splits without panicking and that
// the domain comes from after an '@'.
func FuzzAddress(f *testing.F) {
	for _, s := range []string{`"a@b"@notexample.org`, `"a\"@x"@Example.Org`, `"john@x"`, "postmaster", "user@[IPv6:2001:db8::1]", "x@", "@", `"`, `"\`, "root@Bücher.example."} {
		f.Add([]byte(s))
	}
	e, err := New(Config{LocalDomains: []string{"example.org"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, addr []byte) {
		a := e.Address(addr)
		if a.ASCII != "" && !strings.Contains(string(addr), "@") {
			t.Fatalf("%q: a domain %q without '@'", addr, a.ASCII)
		}
		if a.Local && !a.Valid {
			t.Fatalf("%q: local but not a valid domain", addr)
		}
	})
}

var heloClasses = map[string]bool{
	HeloAddressLiteral: true, HeloAddressLiteralMismatch: true, HeloBareWord: true, HeloLocalhost: true,
	HeloOwnName: true, HeloFQDN: true, HeloInvalid: true,
}

// FuzzHelo classifies arbitrary HELO arguments from arbitrary addresses:
// the class is always one of the seven, a mismatch always names a valid
// other address, and the cached answer equals the computed one.
func FuzzHelo(f *testing.F) {
	for _, s := range [][2]string{
		{"[192.0.2.1]", "192.0.2.1"}, {"[IPv6:2001:DB8::1]", "2001:db8::1"}, {"[198.51.100.7]", "192.0.2.1"},
		{"[IPv4:10.0.0.1]", "::ffff:10.0.0.1"}, {"ylmf-pc", "127.0.0.1"}, {"localhost", ""}, {"mail.example.org", "::1"},
		{"bücher.example", "192.0.2.1"}, {"192.0.2.1", "192.0.2.1"}, {"[fe80::1%eth0]", "fe80::1"}, {`a\x01b`, "x"},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	e, err := New(Config{LocalDomains: []string{"example.org"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, h, ip []byte) {
		if len(h) == 0 {
			return
		}
		var r exim.Record
		r.Host.Helo, r.Host.IP = h, ip
		e.Apply(&r)
		en := r.Enrichment
		if !heloClasses[en.HeloClass] {
			t.Fatalf("HELO %q from %q: class %q", h, ip, en.HeloClass)
		}
		if (en.HeloClass == HeloAddressLiteralMismatch) != (en.HeloIP != "") {
			t.Fatalf("HELO %q from %q: class %q with related address %q", h, ip, en.HeloClass, en.HeloIP)
		}
		if en.HeloIP != "" {
			a, err := netip.ParseAddr(en.HeloIP)
			src, _ := parseIP(ip)
			if err != nil || a == src.Unmap() {
				t.Fatalf("HELO %q from %q: mismatch address %q", h, ip, en.HeloIP)
			}
		}
		if c := parseHelo(h, e.own).class; en.HeloClass != c && en.HeloClass != HeloAddressLiteralMismatch {
			t.Fatalf("HELO %q: cached class %q, computed %q", h, en.HeloClass, c)
		}
	})
}
