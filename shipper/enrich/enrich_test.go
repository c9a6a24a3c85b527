package enrich

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/eximship/eximship/shipper/exim"
)

// domainCases drive TestParseDomain, FuzzParseDomain's seeds and
// BenchmarkParseDomain.
var domainCases = []struct {
	in   string
	want Domain
}{
	{"example.org", Domain{ASCII: "example.org", Registered: "example.org", Suffix: "org", TLD: "org", Valid: true}},
	{"Mail.Example.CO.UK", Domain{ASCII: "mail.example.co.uk", Registered: "example.co.uk", Suffix: "co.uk", TLD: "uk", Country: "GB", Valid: true}},
	{"example.org.", Domain{ASCII: "example.org", Registered: "example.org", Suffix: "org", TLD: "org", Valid: true}},
	{"mx.example.co.jp", Domain{ASCII: "mx.example.co.jp", Registered: "example.co.jp", Suffix: "co.jp", TLD: "jp", Country: "JP", Valid: true}},
	{"shop.example.com.tw", Domain{ASCII: "shop.example.com.tw", Registered: "example.com.tw", Suffix: "com.tw", TLD: "tw", Country: "TW", Valid: true}},
	// IDN, Unicode input and punycode input give the same result
	{"Bücher.Example", Domain{ASCII: "xn--bcher-kva.example", Unicode: "bücher.example", Registered: "xn--bcher-kva.example", Suffix: "example", TLD: "example", Valid: true}},
	{"xn--bcher-kva.example", Domain{ASCII: "xn--bcher-kva.example", Unicode: "bücher.example", Registered: "xn--bcher-kva.example", Suffix: "example", TLD: "example", Valid: true}},
	{"пример.рф", Domain{ASCII: "xn--e1afmkfd.xn--p1ai", Unicode: "пример.рф", Registered: "xn--e1afmkfd.xn--p1ai", Suffix: "xn--p1ai", TLD: "xn--p1ai", Country: "RU", Valid: true}},
	{"XN--E1AFMKFD.XN--P1AI", Domain{ASCII: "xn--e1afmkfd.xn--p1ai", Unicode: "пример.рф", Registered: "xn--e1afmkfd.xn--p1ai", Suffix: "xn--p1ai", TLD: "xn--p1ai", Country: "RU", Valid: true}},
	{"例子.中国", Domain{ASCII: "xn--fsqu00a.xn--fiqs8s", Unicode: "例子.中国", Registered: "xn--fsqu00a.xn--fiqs8s", Suffix: "xn--fiqs8s", TLD: "xn--fiqs8s", Country: "CN", Valid: true}},
	// ccTLD exceptions
	{"nic.ac", Domain{ASCII: "nic.ac", Registered: "nic.ac", Suffix: "ac", TLD: "ac", Country: "SH", Valid: true}},
	{"europa.eu", Domain{ASCII: "europa.eu", Registered: "europa.eu", Suffix: "eu", TLD: "eu", Valid: true}},
	{"mail.su", Domain{ASCII: "mail.su", Registered: "mail.su", Suffix: "su", TLD: "su", Valid: true}},
	{"gmail.com", Domain{ASCII: "gmail.com", Registered: "gmail.com", Suffix: "com", TLD: "com", Freemail: true, Valid: true}},
	{"MAIL.Yahoo.co.uk", Domain{ASCII: "mail.yahoo.co.uk", Registered: "yahoo.co.uk", Suffix: "co.uk", TLD: "uk", Country: "GB", Freemail: true, Valid: true}},
	{"mailinator.com", Domain{ASCII: "mailinator.com", Registered: "mailinator.com", Suffix: "com", TLD: "com", Freemail: true, Valid: true}},
	// net.ua is listed (a provider on a public suffix): its registrants are not
	{"shop.net.ua", Domain{ASCII: "shop.net.ua", Registered: "shop.net.ua", Suffix: "net.ua", TLD: "ua", Country: "UA", Valid: true}},
	{"co.uk", Domain{ASCII: "co.uk", Suffix: "co.uk", TLD: "uk", Country: "GB", Valid: true}},
	{"localhost", Domain{ASCII: "localhost", Valid: true}},
	{"host.lan", Domain{ASCII: "host.lan", Registered: "host.lan", Suffix: "lan", TLD: "lan", Valid: true}},
	{"192.0.2.1", Domain{ASCII: "192.0.2.1"}},
	// address literals and what is no name
	{"[192.0.2.1]", Domain{ASCII: "[192.0.2.1]"}},
	{"[IPv6:2001:DB8::1]", Domain{ASCII: "[ipv6:2001:db8::1]"}},
	{"exa mple.com", Domain{ASCII: "exa mple.com"}},
	{"a..b.com", Domain{ASCII: "a..b.com"}},
	{"xn--zz.com", Domain{ASCII: "xn--zz.com"}},
	{"Ünï\xffcode.com", Domain{ASCII: "ünï\ufffdcode.com"}},
	{"...", Domain{}},
	{"", Domain{}},
}

func TestParseDomain(t *testing.T) {
	for _, c := range domainCases {
		if got := ParseDomain([]byte(c.in)); got != c.want {
			t.Errorf("ParseDomain(%q)\n got  %+v\n want %+v", c.in, got, c.want)
		}
	}
}

func TestAddress(t *testing.T) {
	e, err := New(Config{LocalDomains: []string{"Example.org", "mail.test.", "Bücher.example"}})
	if err != nil {
		t.Fatal(err)
	}
	d := func(s string) Domain { return ParseDomain([]byte(s)) }
	cases := []struct {
		in   string
		want Address
	}{
		{"root@example.org", Address{Domain: d("example.org"), Local: true, Admin: true}},
		{"Info@Sub.Example.ORG", Address{Domain: d("sub.example.org"), Local: true, Admin: true}},
		{"alice@mx.example.co.uk", Address{Domain: d("mx.example.co.uk")}},
		{"victim1@gmail.com", Address{Domain: d("gmail.com")}},
		{"postmaster@mail.test", Address{Domain: d("mail.test"), Local: true, Admin: true}},
		{"info@xn--bcher-kva.example", Address{Domain: d("bücher.example"), Local: true, Admin: true}},
		// quoted local parts, with '@' inside
		{`"a@b"@notexample.org`, Address{Domain: d("notexample.org")}},
		{`"root"@example.org`, Address{Domain: d("example.org"), Local: true, Admin: true}},
		{`"a\"@x"@Example.Org`, Address{Domain: d("example.org"), Local: true}},
		{`"john@x"`, Address{}},
		{`"unterminated@x.org`, Address{}},
		// address literals
		{"user@[192.0.2.1]", Address{Domain: Domain{ASCII: "[192.0.2.1]"}}},
		{"user@[IPv6:2001:db8::1]", Address{Domain: Domain{ASCII: "[ipv6:2001:db8::1]"}}},
		// bare local part, null sender, empty domain
		{"postmaster", Address{Admin: true}},
		{"", Address{}},
		{"x@", Address{}},
	}
	for _, c := range cases {
		if got := e.Address([]byte(c.in)); got != c.want {
			t.Errorf("Address(%q)\n got  %+v\n want %+v", c.in, got, c.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{LocalDomains: []string{"a b"}}, {LocalDomains: []string{""}}, {LocalDomains: []string{"[192.0.2.1]"}},
		{OwnHostnames: []string{"mx@example.org"}}, {AdminLocalParts: []string{"x@y"}},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted an invalid config", c)
		}
	}
	e, err := New(Config{AdminLocalParts: []string{"Boss"}})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Address([]byte("boss@x.org")).Admin || e.Address([]byte("root@x.org")).Admin {
		t.Error("custom admin local parts not used in place of the defaults")
	}
}

func TestHeloClass(t *testing.T) {
	e, err := New(Config{LocalDomains: []string{"example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	own, err := New(Config{LocalDomains: []string{"example.org"}, OwnHostnames: []string{"mx1.example.net", "Relay"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		e          *Enricher
		helo, ip   string
		class, rel string
	}{
		{e, "[192.0.2.1]", "192.0.2.1", HeloAddressLiteral, ""},
		{e, "[192.0.2.1]", "", HeloAddressLiteral, ""},
		{e, "[IPv4:192.0.2.1]", "192.0.2.1", HeloAddressLiteral, ""},
		{e, "[198.51.100.7]", "192.0.2.1", HeloAddressLiteralMismatch, "198.51.100.7"},
		{e, "[IPv6:2001:DB8:0:0::1]", "2001:db8::1", HeloAddressLiteral, ""},
		{e, "[ipv6:2001:db8::2]", "2001:db8::1", HeloAddressLiteralMismatch, "2001:db8::2"},
		{e, "[IPv6:::ffff:192.0.2.1]", "192.0.2.1", HeloAddressLiteral, ""},
		{e, "[10.0.0.1]", "127.0.0.1", HeloAddressLiteralMismatch, "10.0.0.1"},
		{e, "[999.1.1.1]", "192.0.2.1", HeloInvalid, ""},
		{e, "[]", "192.0.2.1", HeloInvalid, ""},
		{e, "[fe80::1%eth0]", "192.0.2.1", HeloInvalid, ""},
		{e, "192.0.2.1", "192.0.2.1", HeloInvalid, ""},
		{e, "ylmf-pc", "192.0.2.1", HeloBareWord, ""},
		{e, "WIN-8F2K", "192.0.2.1", HeloBareWord, ""},
		{e, "localhost", "192.0.2.1", HeloLocalhost, ""},
		{e, "LOCALHOST.localdomain", "192.0.2.1", HeloLocalhost, ""},
		{e, "mx.localhost", "192.0.2.1", HeloLocalhost, ""},
		{e, "example.org", "192.0.2.1", HeloOwnName, ""},
		{e, "Mail.Example.ORG.", "192.0.2.1", HeloOwnName, ""},
		{e, "notexample.org", "192.0.2.1", HeloFQDN, ""},
		{e, "mx.example.co.jp", "192.0.2.1", HeloFQDN, ""},
		{e, "Mail.Example.COM.", "192.0.2.1", HeloFQDN, ""},
		{e, "bücher.example", "192.0.2.1", HeloFQDN, ""},
		{e, "xn--bcher-kva.example", "192.0.2.1", HeloFQDN, ""},
		{e, "client.partner.test", "127.0.0.21", HeloFQDN, ""},
		{e, "under_score.example.com", "192.0.2.1", HeloInvalid, ""},
		{e, "-bad.example.com", "192.0.2.1", HeloInvalid, ""},
		{e, "a..b.com", "192.0.2.1", HeloInvalid, ""},
		{e, "host.123", "192.0.2.1", HeloInvalid, ""},
		{e, "two words", "192.0.2.1", HeloInvalid, ""},
		{e, `ctl\x01`, "192.0.2.1", HeloInvalid, ""},
		{e, "_", "192.0.2.1", HeloBareWord, ""},
		{e, "!", "192.0.2.1", HeloInvalid, ""},
		{e, ".", "192.0.2.1", HeloInvalid, ""},
		{e, strings.Repeat("a", 64) + ".com", "192.0.2.1", HeloInvalid, ""},
		// OwnHostnames replaces the local domains
		{own, "mx1.example.net", "192.0.2.1", HeloOwnName, ""},
		{own, "a.mx1.example.net", "192.0.2.1", HeloOwnName, ""},
		{own, "relay", "192.0.2.1", HeloOwnName, ""},
		{own, "example.org", "192.0.2.1", HeloFQDN, ""},
	}
	for _, c := range cases {
		var r exim.Record
		r.Host.Helo, r.Host.IP = []byte(c.helo), []byte(c.ip)
		c.e.Apply(&r)
		if r.Enrichment.HeloClass != c.class || r.Enrichment.HeloIP != c.rel {
			t.Errorf("HELO %q from %q: class %q related %q, want %q %q", c.helo, c.ip, r.Enrichment.HeloClass, r.Enrichment.HeloIP, c.class, c.rel)
		}
	}
}

func TestIPClass(t *testing.T) {
	cases := map[string]string{
		"8.8.8.8": IPPublic, "192.0.2.1": IPDocumentation, "198.51.100.200": IPDocumentation, "203.0.113.9": IPDocumentation,
		"10.1.2.3": IPPrivate, "172.16.0.1": IPPrivate, "172.31.255.255": IPPrivate, "172.32.0.1": IPPublic, "192.168.1.1": IPPrivate,
		"127.0.0.1": IPLoopback, "127.0.0.20": IPLoopback, "169.254.1.1": IPLinkLocal, "100.64.0.1": IPShared, "100.128.0.1": IPPublic,
		"224.0.0.1": IPMulticast, "239.255.255.250": IPMulticast, "0.0.0.0": IPUnspecified, "0.1.2.3": IPReserved,
		"240.0.0.1": IPReserved, "255.255.255.255": IPReserved, "198.18.0.1": IPReserved, "192.0.0.8": IPReserved, "192.0.0.9": IPPublic,
		"::": IPUnspecified, "::1": IPLoopback, "::ffff:10.0.0.1": IPPrivate, "::ffff:8.8.8.8": IPPublic,
		"2001:db8::1": IPDocumentation, "3fff::1": IPDocumentation, "fe80::1": IPLinkLocal, "fd00::1": IPPrivate, "fc00::1": IPPrivate,
		"ff02::1": IPMulticast, "2a00:1450:4001::1": IPPublic, "2001:2::1": IPReserved, "2001::1": IPPublic, "2002:c000:201::1": IPPublic,
		"64:ff9b::808:808": IPPublic, "100::1": IPReserved, "fec0::1": IPReserved, "4000::1": IPReserved, "5f00::1": IPReserved,
	}
	for ip, want := range cases {
		if got := IPClass(netip.MustParseAddr(ip)); got != want {
			t.Errorf("IPClass(%s) = %s, want %s", ip, got, want)
		}
	}
	if got := IPClass(netip.Addr{}); got != "" {
		t.Errorf("IPClass(zero) = %q", got)
	}
}

func TestCountryTable(t *testing.T) {
	for tld, want := range map[string]string{
		"uk": "GB", "gb": "GB", "ac": "SH", "eu": "", "su": "", "de": "DE", "jp": "JP", "tw": "TW",
		"xn--p1ai": "RU", "xn--fiqs8s": "CN", "xn--kprw13d": "TW", "xn--e1a4c": "", "com": "", "org": "", "": "",
	} {
		if got := Country(tld); got != want {
			t.Errorf("Country(%q) = %q, want %q", tld, got, want)
		}
	}
	if n := len(tables().country); n < 300 {
		t.Errorf("only %d ccTLDs in the table", n)
	}
	if n := len(tables().freemail); n < 10000 {
		t.Errorf("only %d free-mail domains in the table", n)
	}
}

func TestFreemail(t *testing.T) {
	for d, want := range map[string]bool{
		"gmail.com": true, "googlemail.com": true, "yahoo.co.uk": true, "mail.yahoo.co.uk": true, "gmx.de": true,
		"mailinator.com": true, "example.org": false, "net.ua": true, "shop.net.ua": false, "com": false, "": false,
	} {
		if got := Freemail(d); got != want {
			t.Errorf("Freemail(%q) = %v, want %v", d, got, want)
		}
	}
}

func TestApply(t *testing.T) {
	e, err := New(Config{LocalDomains: []string{"example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	p := exim.NewParser(exim.Options{})
	cases := []struct {
		line string
		want exim.Enrichment
	}{
		{"2026-11-25 17:06:46 H=(ylmf-pc) [127.0.0.20] F=<root@example.org> rejected RCPT <victim1@Mail.Example.CO.UK>: relay not permitted",
			exim.Enrichment{SenderDomain: "example.org", SenderRegisteredDomain: "example.org", SenderTLD: "org", SenderLocal: true, SenderAdmin: true, SenderForged: true,
				RecipientDomain: "mail.example.co.uk", RecipientRegisteredDomain: "example.co.uk", RecipientTLD: "uk", RecipientCountry: "GB",
				HeloClass: HeloBareWord, SourceIPClass: IPLoopback, EmailDirection: "outbound"}},
		{"2026-11-25 17:06:46 H=(x) [127.0.0.21] F=<> rejected RCPT <victim2@gmail.com>: relay not permitted",
			exim.Enrichment{RecipientDomain: "gmail.com", RecipientRegisteredDomain: "gmail.com", RecipientTLD: "com", RecipientFreemail: true,
				HeloClass: HeloBareWord, SourceIPClass: IPLoopback, EmailDirection: "external"}},
		{"2026-11-25 17:06:46 H=mail.example.co.jp (MAIL.Example.CO.JP) [203.0.113.5]:4711 F=<bob@例子.中国> rejected RCPT <carol@例子.中国>: relay not permitted",
			exim.Enrichment{SenderDomain: "xn--fsqu00a.xn--fiqs8s", SenderDomainUnicode: "例子.中国", SenderRegisteredDomain: "xn--fsqu00a.xn--fiqs8s", SenderTLD: "xn--fiqs8s", SenderCountry: "CN",
				RecipientDomain: "xn--fsqu00a.xn--fiqs8s", RecipientDomainUnicode: "例子.中国", RecipientRegisteredDomain: "xn--fsqu00a.xn--fiqs8s", RecipientTLD: "xn--fiqs8s", RecipientCountry: "CN",
				SameDomain: true, HeloClass: HeloFQDN, SourceIPClass: IPDocumentation, SourceRegisteredDomain: "example.co.jp", SourceTopLevelDomain: "co.jp", EmailDirection: "external"}},
		{"2026-11-25 17:06:46 H=([10.9.8.7]) [192.168.1.5] F=<a@b.example.com.tw> rejected RCPT <c@d.example.com.tw>: relay not permitted",
			exim.Enrichment{SenderDomain: "b.example.com.tw", SenderRegisteredDomain: "example.com.tw", SenderTLD: "tw", SenderCountry: "TW",
				RecipientDomain: "d.example.com.tw", RecipientRegisteredDomain: "example.com.tw", RecipientTLD: "tw", RecipientCountry: "TW",
				HeloClass: HeloAddressLiteralMismatch, HeloIP: "10.9.8.7", SourceIPClass: IPPrivate, EmailDirection: "external"}},
		{"2026-11-25 17:06:43 1xWGSB-0004Yk-2k <= info@example.org U=info P=local S=419",
			exim.Enrichment{SenderDomain: "example.org", SenderRegisteredDomain: "example.org", SenderTLD: "org", SenderLocal: true, SenderAdmin: true}},
		// delivery: H= is the server delivered to; the recipient is the original address
		{"2026-11-25 17:06:44 1xWGSB-0004Yk-2k => alice <alice@example.org> R=local_user T=maildir_home",
			exim.Enrichment{RecipientDomain: "example.org", RecipientRegisteredDomain: "example.org", RecipientTLD: "org", RecipientLocal: true, EmailDirection: "inbound"}},
		{"2026-11-25 17:06:44 1xWGSB-0004Yk-2k => bob@remote.example R=dnslookup T=remote_smtp H=mx.remote.example [192.0.2.25] C=\"250 OK\"",
			exim.Enrichment{RecipientDomain: "remote.example", RecipientRegisteredDomain: "remote.example", RecipientTLD: "example", EmailDirection: "external"}},
		{"2026-11-25 17:06:43 Start queue run: pid=1", exim.Enrichment{}},
	}
	for _, c := range cases {
		var r exim.Record
		p.Parse([]byte(c.line), &r)
		r.Enrichment.SenderDomain = "stale" // Apply must reset it
		e.Apply(&r)
		if got := fieldsOnly(r.Enrichment); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s\n got  %+v\n want %+v", c.line, got, c.want)
		}
		// the pre-encoded members are what the fields encode to
		doc := string(r.AppendJSON(nil))
		r.Enrichment = fieldsOnly(r.Enrichment)
		if again := string(r.AppendJSON(nil)); again != doc {
			t.Errorf("%s: cached members encode differently\n with    %s\n without %s", c.line, doc, again)
		}
	}
}

// fieldsOnly is e without its pre-encoded members (so it compares).
func fieldsOnly(e exim.Enrichment) exim.Enrichment {
	e.SenderMembers, e.RecipientMembers, e.GeoMembers = nil, nil, nil
	return e
}

// TestEmailDirection: email.direction from the local domains, an
// authenticated sender counting as local; nothing without local domains.
func TestEmailDirection(t *testing.T) {
	p := exim.NewParser(exim.Options{})
	cases := []struct{ line, want, wantNoLocal string }{
		{"2026-11-25 17:06:46 H=[192.0.2.1] F=<bob@partner.test> rejected RCPT <alice@example.org>: no", "inbound", ""},
		{"2026-11-25 17:06:46 H=[192.0.2.1] F=<alice@example.org> rejected RCPT <bob@partner.test>: no", "outbound", ""},
		{"2026-11-25 17:06:46 H=[192.0.2.1] F=<alice@example.org> rejected RCPT <carol@sub.example.org>: no", "internal", ""},
		{"2026-11-25 17:06:46 H=[192.0.2.1] F=<x@relay.test> rejected RCPT <y@victim.test>: relay not permitted", "external", ""},
		{"2026-11-25 17:06:46 H=[192.0.2.1] F=<> rejected RCPT <y@victim.test>: relay not permitted", "external", ""},
		{"2026-11-25 17:06:46 1xWGSB-0004Yk-2k => y@victim.test F=<x@gmail.test> A=plain:alice R=dnslookup T=remote_smtp H=mx.victim.test [192.0.2.9]", "outbound", ""},
		{"2026-11-25 17:06:43 1xWGSB-0004Yk-2k <= x@gmail.test H=[192.0.2.1] P=esmtp S=1", "", ""},
	}
	local, err := New(Config{LocalDomains: []string{"example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	none, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		var r exim.Record
		p.Parse([]byte(c.line), &r)
		if local.Apply(&r); r.Enrichment.EmailDirection != c.want {
			t.Errorf("%s: direction %q, want %q", c.line, r.Enrichment.EmailDirection, c.want)
		}
		if none.Apply(&r); r.Enrichment.EmailDirection != c.wantNoLocal {
			t.Errorf("no local domains: %s: direction %q", c.line, r.Enrichment.EmailDirection)
		}
	}
}

// fakeGeo is a GeoIP seam for unit tests (the real reader is tested in
// geoip with databases built by mmdbwriter).
type fakeGeo struct {
	calls int
	err   error
}

func (f *fakeGeo) Lookup(ip netip.Addr, g *exim.Geo) (bool, error) {
	f.calls++
	if f.err != nil {
		return false, f.err
	}
	if ip == netip.MustParseAddr("192.0.2.1") {
		*g = exim.Geo{CountryISOCode: "DE", CountryName: "Germany", ContinentName: "Europe", ASNumber: 64500, ASOrganization: "Test AS"}
		return true, nil
	}
	return false, nil
}

func TestApplyGeoIP(t *testing.T) {
	f := &fakeGeo{}
	e, err := New(Config{GeoIP: f})
	if err != nil {
		t.Fatal(err)
	}
	p := exim.NewParser(exim.Options{})
	var r exim.Record
	for i := 0; i < 3; i++ {
		p.Parse([]byte("2026-11-25 17:06:46 H=(x.example) [192.0.2.1] F=<a@b.example> rejected RCPT <c@d.example>: relay not permitted"), &r)
		e.Apply(&r)
		if g := r.Enrichment.Geo; g == nil || g.CountryISOCode != "DE" || g.ASNumber != 64500 || r.Err != nil {
			t.Fatalf("geo %+v err %v", r.Enrichment.Geo, r.Err)
		}
	}
	if f.calls != 1 {
		t.Errorf("%d lookups for one address, want 1 (cached)", f.calls)
	}
	p.Parse([]byte("2026-11-25 17:06:46 H=(x.example) [198.51.100.1] F=<a@b.example> rejected RCPT <c@d.example>: relay not permitted"), &r)
	e.Apply(&r)
	if r.Enrichment.Geo != nil {
		t.Errorf("geo for an address the database lacks: %+v", r.Enrichment.Geo)
	}
	// a lookup error is kept on the document, never swallowed
	bad := &fakeGeo{err: errors.New("corrupt database")}
	e, _ = New(Config{GeoIP: bad})
	p.Parse([]byte("2026-11-25 17:06:46 H=(x.example) [192.0.2.1] F=<a@b.example> rejected RCPT <c@d.example>: relay not permitted"), &r)
	e.Apply(&r)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "corrupt database") || r.Enrichment.SourceIPClass != IPDocumentation {
		t.Errorf("lookup error: err %v, class %q", r.Err, r.Enrichment.SourceIPClass)
	}
}

func TestCachedAllocations(t *testing.T) {
	e, _ := New(Config{LocalDomains: []string{"example.org"}, GeoIP: &fakeGeo{}})
	p := exim.NewParser(exim.Options{})
	var r exim.Record
	line := []byte("2026-11-25 17:06:46 H=mail.example.co.jp (MAIL.Example.CO.JP) [192.0.2.1]:4711 F=<bob@例子.中国> rejected RCPT <carol@gmail.com>: relay not permitted")
	p.Parse(line, &r)
	e.Apply(&r)
	if n := testing.AllocsPerRun(100, func() { e.Apply(&r) }); n != 0 {
		t.Errorf("enriching a line of cached names costs %v allocations, want 0", n)
	}
}
