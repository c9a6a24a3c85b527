package geoip_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/eximship/eximship/shipper/enrich"
	"github.com/eximship/eximship/shipper/enrich/geoip"
	"github.com/eximship/eximship/shipper/enrich/geoip/geoiptest"
	"github.com/eximship/eximship/shipper/exim"
)

// databases writes a City, a Country and an ASN database (mmdbwriter) into
// a temporary directory.
func databases(t testing.TB) (city, country, asn string) {
	t.Helper()
	dir := t.TempDir()
	city, country, asn = filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "country.mmdb"), filepath.Join(dir, "asn.mmdb")
	nets := []geoiptest.City{
		{Network: "192.0.2.0/24", Continent: "EU", ContinentName: "Europe", Country: "DE", CountryName: "Germany",
			Region: "BE", RegionName: "Berlin", City: "Berlin", Lat: 52.52, Lon: 13.405},
		{Network: "2001:db8::/32", Continent: "AS", ContinentName: "Asia", Country: "JP", CountryName: "Japan",
			Region: "13", RegionName: "Tokyo", City: "Tokyo", Lat: 35.6895, Lon: 139.6917},
		{Network: "127.0.0.0/8", Continent: "NA", ContinentName: "North America", Country: "CA", CountryName: "Canada", NoLocation: true},
	}
	if err := geoiptest.WriteCity(city, "GeoLite2-City", nets); err != nil {
		t.Fatal(err)
	}
	var cn []geoiptest.City
	for _, n := range nets {
		cn = append(cn, geoiptest.City{Network: n.Network, Continent: n.Continent, ContinentName: n.ContinentName, Country: n.Country, CountryName: n.CountryName, NoLocation: true})
	}
	if err := geoiptest.WriteCity(country, "GeoLite2-Country", cn); err != nil {
		t.Fatal(err)
	}
	if err := geoiptest.WriteASN(asn, []geoiptest.ASN{
		{Network: "192.0.2.0/25", Number: 64496, Org: "Example Networks"},
		{Network: "2001:db8::/32", Number: 64500, Org: "Documentation AS"},
	}); err != nil {
		t.Fatal(err)
	}
	return city, country, asn
}

// open opens c for the test, closed at its end.
func open(t testing.TB, c geoip.Config) *geoip.DB {
	t.Helper()
	db, err := geoip.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

func TestLookup(t *testing.T) {
	city, country, asn := databases(t)
	db := open(t, geoip.Config{CityDatabase: city, ASNDatabase: asn})
	cdb := open(t, geoip.Config{CityDatabase: country})
	berlin := exim.Geo{ContinentName: "Europe", CountryISOCode: "DE", CountryName: "Germany", RegionISOCode: "DE-BE", RegionName: "Berlin",
		CityName: "Berlin", HasLocation: true, Lat: 52.52, Lon: 13.405}
	cases := []struct {
		db    *geoip.DB
		ip    string
		want  exim.Geo
		found bool
	}{
		{db, "192.0.2.1", withAS(berlin, 64496, "Example Networks"), true},
		{db, "192.0.2.200", berlin, true}, // outside the ASN network
		{db, "::ffff:192.0.2.1", withAS(berlin, 64496, "Example Networks"), true},
		{db, "2001:db8::25", exim.Geo{ContinentName: "Asia", CountryISOCode: "JP", CountryName: "Japan", RegionISOCode: "JP-13", RegionName: "Tokyo",
			CityName: "Tokyo", HasLocation: true, Lat: 35.6895, Lon: 139.6917, ASNumber: 64500, ASOrganization: "Documentation AS"}, true},
		{db, "127.0.0.20", exim.Geo{ContinentName: "North America", CountryISOCode: "CA", CountryName: "Canada"}, true},
		{db, "198.51.100.1", exim.Geo{}, false},
		{cdb, "192.0.2.1", exim.Geo{ContinentName: "Europe", CountryISOCode: "DE", CountryName: "Germany"}, true},
		{nil, "192.0.2.1", exim.Geo{}, false},
	}
	for _, c := range cases {
		var g exim.Geo
		found, err := c.db.Lookup(netip.MustParseAddr(c.ip), &g)
		if err != nil || found != c.found || g != c.want {
			t.Errorf("Lookup(%s) = %v, %v, %+v\n want %v, %+v", c.ip, found, err, g, c.found, c.want)
		}
	}
	if info := db.Info(); len(info) != 2 || info[0].Type != "GeoLite2-City" || info[1].Type != "GeoLite2-ASN" || info[0].Built.IsZero() {
		t.Errorf("Info() = %+v", info)
	}
}

func withAS(g exim.Geo, n int64, org string) exim.Geo {
	g.ASNumber, g.ASOrganization = n, org
	return g
}

func TestOpenErrors(t *testing.T) {
	city, _, asn := databases(t)
	notDB := filepath.Join(t.TempDir(), "not.mmdb")
	if err := os.WriteFile(notDB, []byte("this is not a MaxMind database"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty.mmdb")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg  geoip.Config
		want string
	}{
		{geoip.Config{CityDatabase: "/nonexistent/GeoLite2-City.mmdb"}, "city_database /nonexistent/GeoLite2-City.mmdb: open"},
		{geoip.Config{ASNDatabase: notDB}, "asn_database " + notDB},
		{geoip.Config{CityDatabase: empty}, "empty"},
		{geoip.Config{CityDatabase: asn}, "city_database " + asn + ": is a GeoLite2-ASN database: give it as asn_database"},
		{geoip.Config{ASNDatabase: city}, "asn_database " + city + ": is a GeoLite2-City database: give it as city_database"},
		{geoip.Config{CityDatabase: city, ASNDatabase: city}, "the same file"},
		{geoip.Config{CityDatabase: "  "}, "blank path"},
	} {
		db, err := geoip.Open(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%+v) = %v, %v; want an error with %q", c.cfg, db, err, c.want)
		}
	}
	db, err := geoip.Open(geoip.Config{})
	if db != nil || err != nil {
		t.Errorf("Open(no databases) = %v, %v; want nil, nil", db, err)
	}
}

// TestSharedByEnrichers runs one DB under several Enrichers at once (the
// race detector checks the sharing), through the enrich.GeoIP interface.
func TestSharedByEnrichers(t *testing.T) {
	city, _, asn := databases(t)
	db := open(t, geoip.Config{CityDatabase: city, ASNDatabase: asn})
	line := []byte("2026-11-25 17:06:46 H=(x.example) [192.0.2.7] F=<a@b.example> rejected RCPT <c@d.example>: relay not permitted")
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		e, err := enrich.New(enrich.Config{GeoIP: db})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := exim.NewParser(exim.Options{})
			var r exim.Record
			for i := 0; i < 200; i++ {
				p.Parse(line, &r)
				e.Apply(&r)
				if g := r.Enrichment.Geo; g == nil || g.CityName != "Berlin" || g.ASNumber != 64496 {
					t.Errorf("geo %+v", g)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkLookup(b *testing.B) {
	city, _, asn := databases(b)
	db := open(b, geoip.Config{CityDatabase: city, ASNDatabase: asn})
	ip := netip.MustParseAddr("192.0.2.1")
	b.ReportAllocs()
	for b.Loop() {
		var g exim.Geo
		if _, err := db.Lookup(ip, &g); err != nil {
			b.Fatal(err)
		}
	}
}
