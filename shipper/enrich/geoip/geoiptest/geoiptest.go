// Package geoiptest writes small MaxMind DB files for tests, with the
// maintained writer library (github.com/maxmind/mmdbwriter), in the record
// layout of GeoLite2 City/Country and ASN databases. Reserved networks
// (loopback, documentation ranges) are allowed, so tests can geolocate the
// addresses the real-Exim lab uses.
package geoiptest

import (
	"fmt"
	"net"
	"os"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// City is one network of a City (or, without Region, City and location,
// Country) database.
type City struct {
	Network                  string // CIDR
	Continent, ContinentName string // "EU", "Europe"
	Country, CountryName     string // "DE", "Germany"
	Region, RegionName       string // "BE", "Berlin" (ISO 3166-2 subdivision code without the country)
	City                     string // "Berlin"
	Lat, Lon                 float64
	NoLocation               bool
}

// ASN is one network of an ASN database.
type ASN struct {
	Network string
	Number  uint32
	Org     string
}

func names(en string) mmdbtype.Map {
	return mmdbtype.Map{"en": mmdbtype.String(en), "de": mmdbtype.String(en + " (de)")}
}

// WriteCity writes a database of type dbType ("GeoLite2-City",
// "GeoLite2-Country", "DBIP-City-Lite") to path.
func WriteCity(path, dbType string, nets []City) error {
	t, err := tree(dbType)
	if err != nil {
		return err
	}
	for _, c := range nets {
		rec := mmdbtype.Map{
			"continent": mmdbtype.Map{"code": mmdbtype.String(c.Continent), "names": names(c.ContinentName)},
			"country":   mmdbtype.Map{"iso_code": mmdbtype.String(c.Country), "names": names(c.CountryName)},
		}
		if c.Region != "" {
			rec["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(c.Region), "names": names(c.RegionName)}}
		}
		if c.City != "" {
			rec["city"] = mmdbtype.Map{"names": names(c.City)}
		}
		if !c.NoLocation {
			rec["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(c.Lat), "longitude": mmdbtype.Float64(c.Lon), "accuracy_radius": mmdbtype.Uint16(50)}
		}
		if err := insert(t, c.Network, rec); err != nil {
			return err
		}
	}
	return write(t, path)
}

// WriteASN writes a GeoLite2-ASN database to path.
func WriteASN(path string, nets []ASN) error {
	t, err := tree("GeoLite2-ASN")
	if err != nil {
		return err
	}
	for _, a := range nets {
		rec := mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(a.Number),
			"autonomous_system_organization": mmdbtype.String(a.Org),
		}
		if err := insert(t, a.Network, rec); err != nil {
			return err
		}
	}
	return write(t, path)
}

func tree(dbType string) (*mmdbwriter.Tree, error) {
	t, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		Description:             map[string]string{"en": "eximship test database"},
		Languages:               []string{"en", "de"},
		IncludeReservedNetworks: true,
		RecordSize:              24,
	})
	if err != nil {
		return nil, fmt.Errorf("geoiptest: %w", err)
	}
	return t, nil
}

func insert(t *mmdbwriter.Tree, cidr string, rec mmdbtype.Map) error {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return fmt.Errorf("geoiptest: %w", err)
	}
	if err := t.Insert(n, rec); err != nil {
		return fmt.Errorf("geoiptest: insert %s: %w", cidr, err)
	}
	return nil
}

func write(t *mmdbwriter.Tree, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("geoiptest: %w", err)
	}
	if _, err := t.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("geoiptest: write %s: %w", path, err)
	}
	return f.Close()
}
