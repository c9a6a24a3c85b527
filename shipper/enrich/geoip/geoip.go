// Package geoip reads MaxMind-format (MMDB) GeoIP databases, GeoLite2 or
// GeoIP2 City/Country/ASN and DB-IP's lite City/Country/ASN databases, for
// shipper/enrich: source.geo.* and source.as.* of the client's address.
// Files are opened (memory-mapped) once by Open; lookups read memory only
// and are safe for concurrent use, so one DB serves every worker.
package geoip

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/eximship/eximship/shipper/exim"
)

// Config names the databases. Both are optional; with neither, Open
// returns a nil *DB and no error (GeoIP off).
type Config struct {
	// CityDatabase is a City or Country database (GeoLite2-City.mmdb,
	// GeoLite2-Country.mmdb, dbip-city-lite.mmdb, dbip-country-lite.mmdb):
	// continent, country, region, city, location. Default: "" (none).
	CityDatabase string
	// ASNDatabase is an ASN database (GeoLite2-ASN.mmdb,
	// dbip-asn-lite.mmdb): AS number and organisation. Default: "" (none).
	ASNDatabase string
}

// Enabled reports whether any database is configured.
func (c Config) Enabled() bool { return c.CityDatabase != "" || c.ASNDatabase != "" }

// Validate reports configuration errors that need no file access (Open
// checks the files).
func (c Config) Validate() error {
	var errs []error
	for _, p := range [...]struct{ key, path string }{{"city_database", c.CityDatabase}, {"asn_database", c.ASNDatabase}} {
		if p.path != "" && strings.TrimSpace(p.path) == "" {
			errs = append(errs, fmt.Errorf("geoip: %s: a blank path", p.key))
		}
	}
	if c.CityDatabase != "" && c.CityDatabase == c.ASNDatabase {
		errs = append(errs, fmt.Errorf("geoip: city_database and asn_database are the same file %s", c.CityDatabase))
	}
	return errors.Join(errs...)
}

// DB holds the open databases.
type DB struct {
	city, asn *maxminddb.Reader
	info      []Info
}

// Info describes one open database (for the start-up log).
type Info struct {
	Path  string
	Type  string // the database_type of its metadata, e.g. "GeoLite2-City"
	Built time.Time
}

// Open opens the configured databases, checking that each is a MaxMind DB
// of a fitting type (an ASN database given as city_database is refused,
// and the reverse). It returns nil, nil when none is configured.
func Open(c Config) (*DB, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !c.Enabled() {
		return nil, nil
	}
	db := &DB{}
	var err error
	if c.CityDatabase != "" {
		if db.city, err = open("city_database", c.CityDatabase, false); err != nil {
			return nil, err
		}
		db.info = append(db.info, info(c.CityDatabase, db.city))
	}
	if c.ASNDatabase != "" {
		if db.asn, err = open("asn_database", c.ASNDatabase, true); err != nil {
			db.Close()
			return nil, err
		}
		db.info = append(db.info, info(c.ASNDatabase, db.asn))
	}
	return db, nil
}

// OpenError is the error of Open: which database could not be used.
type OpenError struct {
	Key  string // "city_database" or "asn_database"
	Path string
	Err  error
}

func (e *OpenError) Error() string { return fmt.Sprintf("geoip: %s %s: %v", e.Key, e.Path, e.Err) }

func (e *OpenError) Unwrap() error { return e.Err }

func open(key, path string, asn bool) (*maxminddb.Reader, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, &OpenError{key, path, err}
	}
	t := strings.ToLower(r.Metadata.DatabaseType)
	isASN := strings.Contains(t, "asn") || strings.Contains(t, "-isp")
	isGeo := strings.Contains(t, "city") || strings.Contains(t, "country")
	switch {
	case asn && isGeo && !isASN:
		r.Close()
		return nil, &OpenError{key, path, fmt.Errorf("is a %s database: give it as city_database", r.Metadata.DatabaseType)}
	case !asn && isASN && !isGeo:
		r.Close()
		return nil, &OpenError{key, path, fmt.Errorf("is a %s database: give it as asn_database", r.Metadata.DatabaseType)}
	}
	return r, nil
}

func info(path string, r *maxminddb.Reader) Info {
	return Info{Path: path, Type: r.Metadata.DatabaseType, Built: r.Metadata.BuildTime()}
}

// Info describes the open databases.
func (db *DB) Info() []Info {
	if db == nil {
		return nil
	}
	return db.info
}

// Close unmaps the databases.
func (db *DB) Close() error {
	if db == nil {
		return nil
	}
	var errs []error
	for _, r := range []*maxminddb.Reader{db.city, db.asn} {
		if r != nil {
			errs = append(errs, r.Close())
		}
	}
	return errors.Join(errs...)
}

// The parts of the records eximship uses. GeoLite2/GeoIP2 and DB-IP
// share these names; a Country database has no subdivisions, city or
// location.
type names struct {
	EN string `maxminddb:"en"`
}

type cityRecord struct {
	Continent struct {
		Names names `maxminddb:"names"`
	} `maxminddb:"continent"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
		Names   names  `maxminddb:"names"`
	} `maxminddb:"country"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
		Names   names  `maxminddb:"names"`
	} `maxminddb:"subdivisions"`
	City struct {
		Names names `maxminddb:"names"`
	} `maxminddb:"city"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

type asnRecord struct {
	Number       uint32 `maxminddb:"autonomous_system_number"`
	Organization string `maxminddb:"autonomous_system_organization"`
}

// Lookup fills g with what the databases know of ip (English names) and
// reports whether anything was found. g is left as it was for what is not
// found. A nil DB finds nothing.
func (db *DB) Lookup(ip netip.Addr, g *exim.Geo) (bool, error) {
	if db == nil || !ip.IsValid() {
		return false, nil
	}
	ip = ip.Unmap()
	found := false
	if db.city != nil {
		c, ok, err := lookup[cityRecord](db.city, ip, "city")
		if err != nil {
			return false, err
		}
		if ok {
			g.ContinentName = c.Continent.Names.EN
			g.CountryISOCode, g.CountryName = c.Country.ISOCode, c.Country.Names.EN
			if len(c.Subdivisions) > 0 {
				s := c.Subdivisions[0]
				g.RegionName = s.Names.EN
				if s.ISOCode != "" && c.Country.ISOCode != "" {
					g.RegionISOCode = c.Country.ISOCode + "-" + s.ISOCode // ECS: "CA-QC"
				}
			}
			g.CityName = c.City.Names.EN
			if la, lo := c.Location.Latitude, c.Location.Longitude; la != nil && lo != nil {
				g.HasLocation, g.Lat, g.Lon = true, *la, *lo
			}
			found = true
		}
	}
	if db.asn != nil {
		a, ok, err := lookup[asnRecord](db.asn, ip, "asn")
		if err != nil {
			return found, err
		}
		if ok {
			g.ASNumber, g.ASOrganization = int64(a.Number), a.Organization
			found = true
		}
	}
	return found, nil
}

// lookup decodes the record of ip in r, if it has one.
func lookup[T any](r *maxminddb.Reader, ip netip.Addr, what string) (rec T, found bool, err error) {
	res := r.Lookup(ip)
	if err := res.Err(); err != nil {
		return rec, false, fmt.Errorf("%s database: %w", what, err)
	}
	if !res.Found() {
		return rec, false, nil
	}
	if err := res.Decode(&rec); err != nil {
		return rec, false, fmt.Errorf("%s database: %w", what, err)
	}
	return rec, true, nil
}
