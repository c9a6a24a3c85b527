package enrich

import "testing"

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
