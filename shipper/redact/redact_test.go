package redact

import "testing"

func TestURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://es:9200", "http://es:9200"},
		{"http://user@es:9200", "http://user@es:9200"},
		{"https://elastic:s3cr%t@es:9200/x", "https://elastic:REDACTED@es:9200/x"},
		{"http://u:p@ss@h", "http://u:REDACTED@h"},
		{`Get "https://u:pw@es1:9200/_bulk": EOF; also http://a:b@c`, `Get "https://u:REDACTED@es1:9200/_bulk": EOF; also http://a:REDACTED@c`},
		{"no url here", "no url here"},
		{"://:x@", "://:REDACTED@"},
		{"", ""},
	} {
		if got := URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzURL(f *testing.F) {
	f.Add("https://elastic:pw@es:9200/x http://a:b@c")
	f.Fuzz(func(t *testing.T, s string) {
		got := URL(s)
		if URL(got) != got {
			t.Errorf("URL is not idempotent on %q: %q then %q", s, got, URL(got))
		}
	})
}
