package enrich

import (
	"bufio"
	"bytes"
	_ "embed"
	"strings"
	"sync"

	"golang.org/x/net/publicsuffix"
)

// The embedded tables; data/SOURCES.md says where they come from and how
// to refresh them.
var (
	//go:embed data/cctld.tsv
	cctldTSV []byte
	//go:embed data/freemail.txt
	freemailTXT []byte
)

var tables = sync.OnceValue(func() (t struct {
	country  map[string]string   // ccTLD (ASCII) -> ISO 3166-1 alpha-2
	freemail map[string]struct{} // free and disposable mail domains (ASCII)
}) {
	t.country = map[string]string{}
	for _, l := range lines(cctldTSV) {
		tld, rest, _ := strings.Cut(l, "\t")
		cc, _, _ := strings.Cut(rest, "\t")
		t.country[tld] = cc
	}
	list := lines(freemailTXT)
	t.freemail = make(map[string]struct{}, len(list))
	for _, d := range list {
		t.freemail[d] = struct{}{}
	}
	return t
})

// lines returns the non-empty lines of b that are not # comments.
func lines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && l[0] != '#' {
			out = append(out, l)
		}
	}
	return out
}

// Country returns the ISO 3166-1 alpha-2 code of the country of a
// country-code TLD (ASCII form, lower case: "uk" -> "GB", "xn--p1ai" ->
// "RU"), or "" for other TLDs and the ccTLDs of no country (eu, su).
func Country(tld string) string { return tables().country[tld] }

// Freemail reports whether domain (ASCII form, lower case) is a free or
// disposable mail provider's, or a name under one down to its registered
// domain ("mail.yahoo.co.uk" is, "anything.net.ua" is not, though "net.ua"
// itself is listed).
func Freemail(domain string) bool {
	reg, _ := publicsuffix.EffectiveTLDPlusOne(domain)
	return freemail(domain, reg)
}

func freemail(domain, registered string) bool {
	fm := tables().freemail
	if _, ok := fm[domain]; ok {
		return true
	}
	for d := domain; len(d) > len(registered) && registered != ""; {
		i := strings.IndexByte(d, '.')
		if i < 0 {
			break
		}
		d = d[i+1:]
		if _, ok := fm[d]; ok {
			return true
		}
	}
	return false
}
