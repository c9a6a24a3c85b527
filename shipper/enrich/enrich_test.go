package enrich

import (
	"testing"

	"github.com/eximship/eximship/shipper/exim"
)

func TestAddress(t *testing.T) {
	e, err := New(Config{LocalDomains: []string{"Example.org", "mail.test."}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		in   string
		want Address
	}{
		{"root@example.org", Address{Domain: "example.org", Registered: "example.org", Local: true, Admin: true}},
		{"Info@Sub.Example.ORG", Address{Domain: "sub.example.org", Registered: "example.org", Local: true, Admin: true}},
		{"alice@mx.example.co.uk", Address{Domain: "mx.example.co.uk", Registered: "example.co.uk"}},
		{"victim1@gmail.com", Address{Domain: "gmail.com", Registered: "gmail.com"}},
		{"postmaster@mail.test", Address{Domain: "mail.test", Registered: "mail.test", Local: true, Admin: true}},
		{`"a@b"@notexample.org`, Address{Domain: "notexample.org", Registered: "notexample.org"}},
		{"user@[192.0.2.1]", Address{Domain: "[192.0.2.1]"}},
		{"postmaster", Address{Admin: true}},
		{"", Address{}},
		{"x@", Address{}},
	}
	for _, c := range cases {
		if got := e.Address([]byte(c.in)); got != c.want {
			t.Errorf("Address(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{LocalDomains: []string{"a b"}}, {LocalDomains: []string{""}}, {AdminLocalParts: []string{"x@y"}}} {
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

func BenchmarkAddress(b *testing.B) {
	e, _ := New(Config{LocalDomains: []string{"example.org"}})
	addr := []byte("victim1@mail.example.co.uk")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = e.Address(addr)
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
			exim.Enrichment{SenderDomain: "example.org", SenderRegisteredDomain: "example.org", SenderLocal: true, SenderAdmin: true, SenderForged: true,
				RecipientDomain: "mail.example.co.uk", RecipientRegisteredDomain: "example.co.uk"}},
		{"2026-11-25 17:06:46 H=(x) [127.0.0.21] F=<> rejected RCPT <victim2@gmail.com>: relay not permitted",
			exim.Enrichment{RecipientDomain: "gmail.com", RecipientRegisteredDomain: "gmail.com"}},
		{"2026-11-25 17:06:43 1xWGSB-0004Yk-2k <= info@example.org U=info P=local S=419",
			exim.Enrichment{SenderDomain: "example.org", SenderRegisteredDomain: "example.org", SenderLocal: true, SenderAdmin: true}},
		{"2026-11-25 17:06:43 Start queue run: pid=1", exim.Enrichment{}},
	}
	for _, c := range cases {
		var r exim.Record
		p.Parse([]byte(c.line), &r)
		r.Enrichment.SenderDomain = "stale" // Apply must reset it
		e.Apply(&r)
		if r.Enrichment != c.want {
			t.Errorf("%s\n got  %+v\n want %+v", c.line, r.Enrichment, c.want)
		}
	}
}

func TestAddressCacheAllocates(t *testing.T) {
	e, _ := New(Config{LocalDomains: []string{"example.org"}})
	addr := []byte("victim1@mail.example.co.uk")
	e.Address(addr)
	if n := testing.AllocsPerRun(100, func() { e.Address(addr) }); n != 0 {
		t.Errorf("a cached domain costs %v allocations, want 0", n)
	}
}
