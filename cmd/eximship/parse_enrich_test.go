package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eximship/eximship/shipper/enrich/geoip/geoiptest"
)

const enrichLines = `2026-11-25 17:06:46 H=mail.example.co.jp (relay.example.org) [192.0.2.10]:4711 F=<root@example.org> rejected RCPT <victim@gmail.com>: relay not permitted
2026-11-25 17:06:47 H=([198.51.100.9]) [192.0.2.11] F=<> rejected RCPT <x@例子.中国>: relay not permitted
`

// testGeoDBs writes a City and an ASN database for 192.0.2.0/24.
func testGeoDBs(t *testing.T) (city, asn string) {
	t.Helper()
	dir := t.TempDir()
	city, asn = filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "asn.mmdb")
	if err := geoiptest.WriteCity(city, "GeoLite2-City", []geoiptest.City{{Network: "192.0.2.0/24", Continent: "EU", ContinentName: "Europe",
		Country: "NL", CountryName: "Netherlands", Region: "NH", RegionName: "North Holland", City: "Amsterdam", Lat: 52.37, Lon: 4.89}}); err != nil {
		t.Fatal(err)
	}
	if err := geoiptest.WriteASN(asn, []geoiptest.ASN{{Network: "192.0.2.0/24", Number: 64511, Org: "Test Transit"}}); err != nil {
		t.Fatal(err)
	}
	return city, asn
}

func TestParseEnrichFlags(t *testing.T) {
	city, asn := testGeoDBs(t)
	code, out, errs := runCmd(t, strings.NewReader(enrichLines), "parse", "-workers", "1", "--local-domain", "example.org",
		"--geoip-city", city, "--geoip-asn", asn)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ds := docs(t, out)
	if len(ds) != 2 {
		t.Fatalf("%d documents", len(ds))
	}
	want := map[string]any{
		"exim.sender.domain": "example.org", "exim.sender.local": true, "exim.sender.forged_local": true, "exim.sender.admin": true,
		"exim.rcpt.domain": "gmail.com", "exim.rcpt.freemail": true, "exim.rcpt.tld": "com", "exim.same_domain": false,
		"exim.smtp.helo_class": "own_name", "exim.source.ip_class": "documentation",
		"source.registered_domain": "example.co.jp", "source.top_level_domain": "co.jp",
		"source.geo.city_name": "Amsterdam", "source.geo.country_iso_code": "NL", "source.geo.region_iso_code": "NL-NH",
		"source.geo.location.lat": 52.37, "source.geo.location.lon": 4.89,
		"source.as.number": float64(64511), "source.as.organization.name": "Test Transit",
	}
	for k, v := range want {
		if got := field(ds[0], k); got != v {
			t.Errorf("doc 1 %s = %#v, want %#v", k, got, v)
		}
	}
	want = map[string]any{
		"exim.sender.null": true, "exim.rcpt.domain": "xn--fsqu00a.xn--fiqs8s", "exim.rcpt.domain_unicode": "例子.中国",
		"exim.rcpt.country": "CN", "exim.smtp.helo_class": "address_literal_mismatch",
	}
	for k, v := range want {
		if got := field(ds[1], k); got != v {
			t.Errorf("doc 2 %s = %#v, want %#v", k, got, v)
		}
	}
	if got, _ := field(ds[1], "related.ip").([]any); len(got) != 2 || got[0] != "192.0.2.11" || got[1] != "198.51.100.9" {
		t.Errorf("doc 2 related.ip = %v, want the client and the HELO literal", got)
	}
	if field(ds[1], "exim.same_domain") != nil {
		t.Error("exim.same_domain written without a sender domain")
	}

	// -own-hostname replaces the local domains as our own names
	_, out, _ = runCmd(t, strings.NewReader(enrichLines), "parse", "-workers", "1", "--local-domain", "example.org", "--own-hostname", "mx.example.net")
	if got := field(docs(t, out)[0], "exim.smtp.helo_class"); got != "fqdn" {
		t.Errorf("with -own-hostname mx.example.net, relay.example.org is %v, want fqdn", got)
	}
	// -no-enrich: the parser's fields only
	_, out, _ = runCmd(t, strings.NewReader(enrichLines), "parse", "-workers", "1", "--no-enrich", "--geoip-city", city)
	d := docs(t, out)[0]
	for _, k := range []string{"exim.sender.domain", "exim.smtp.helo_class", "exim.source", "source.geo", "source.registered_domain"} {
		if field(d, k) != nil {
			t.Errorf("-no-enrich wrote %s", k)
		}
	}
	if field(d, "source.ip") != "192.0.2.10" || field(d, "exim.smtp.helo") != "relay.example.org" {
		t.Error("-no-enrich lost parser fields")
	}
}

func TestParseEnrichConfig(t *testing.T) {
	city, asn := testGeoDBs(t)
	cfg := filepath.Join(t.TempDir(), "eximship.yml")
	if err := os.WriteFile(cfg, []byte("exim:\n  local_domains: [example.org]\n  own_hostnames: [example.net]\ngeoip:\n  city_database: "+city+"\n  asn_database: "+asn+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, strings.NewReader(enrichLines), "parse", "-workers", "1", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	d := docs(t, out)[0]
	for k, v := range map[string]any{"exim.sender.forged_local": true, "exim.smtp.helo_class": "fqdn", "source.as.number": float64(64511), "source.geo.city_name": "Amsterdam"} {
		if got := field(d, k); got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
}

func TestParseGeoIPErrors(t *testing.T) {
	city, asn := testGeoDBs(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--geoip-city", "/nonexistent/GeoLite2-City.mmdb"}, "city_database /nonexistent/GeoLite2-City.mmdb"},
		{[]string{"--geoip-city", asn}, "is a GeoLite2-ASN database: give it as asn_database"},
		{[]string{"--geoip-asn", city}, "is a GeoLite2-City database: give it as city_database"},
		{[]string{"--own-hostname", "not a name"}, `own host name "not a name" is not a domain`},
	} {
		code, out, errs := runCmd(t, strings.NewReader(enrichLines), append([]string{"parse"}, c.args...)...)
		if code != 2 || out != "" || !strings.Contains(errs, c.want) {
			t.Errorf("parse %v: exit %d, stdout %q, stderr %q; want 2 and %q", c.args, code, out, errs, c.want)
		}
	}
}

// TestConfigGeoIPTypes: databases given under the wrong key are reported
// at their line; right ones pass.
func TestConfigGeoIPTypes(t *testing.T) {
	city, asn := testGeoDBs(t)
	_, probs := parseConfig([]byte("geoip:\n  city_database: "+asn+"\n"), envOf(nil))
	if len(probs) != 1 || !strings.Contains(probs[0].String(), "line 2: geoip.city_database: "+asn+": is a GeoLite2-ASN database: give it as asn_database") {
		t.Errorf("swapped database: %v", probs)
	}
	c, probs := parseConfig([]byte("geoip:\n  city_database: "+city+"\n  asn_database: "+asn+"\nexim:\n  own_hostnames: [mx.example.org]\n"), envOf(nil))
	if len(probs) != 0 {
		t.Fatalf("valid geoip section: %v", probs)
	}
	pc, err := c.processConfig()
	if err != nil || len(pc.Enrich.OwnHostnames) != 1 || c.GeoIP.config().CityDatabase != city {
		t.Errorf("config not carried: %+v %v", pc.Enrich, err)
	}
}
