package exim

import "math"

// Geo is what GeoIP and ASN databases know of the client's address
// (source.geo.*, source.as.*).
type Geo struct {
	ContinentName  string // source.geo.continent_name
	CountryISOCode string // source.geo.country_iso_code
	CountryName    string // source.geo.country_name
	RegionISOCode  string // source.geo.region_iso_code ("GB-ENG")
	RegionName     string // source.geo.region_name
	CityName       string // source.geo.city_name
	// HasLocation marks Lat and Lon as set (source.geo.location).
	HasLocation    bool
	Lat, Lon       float64
	ASNumber       int64  // source.as.number, 0 when unknown
	ASOrganization string // source.as.organization.name
}

// Outbound reports whether H= is a server Exim delivered to (the
// document's destination) rather than a client that connected to Exim.
func (r *Record) Outbound() bool { return r.outbound() }

// HasName reports whether h.Name is a real host name, not "[ip]" or the
// address repeated (source.domain is written only then).
func (h *Host) HasName() bool { return hostName(h) }

// appendSourceEnrichment writes the enrichment members of source
// (registered_domain, top_level_domain, geo, as).
func (r *Record) appendSourceEnrichment(e *enc) {
	en := &r.Enrichment
	e.strs(`"registered_domain":`, en.SourceRegisteredDomain)
	e.strs(`"top_level_domain":`, en.SourceTopLevelDomain)
	g := &en.Geo
	validLocation := g.HasLocation && math.Abs(g.Lat) <= 90 && math.Abs(g.Lon) <= 180
	if g.CountryISOCode != "" || g.ContinentName != "" || g.CityName != "" || validLocation {
		e.open(`"geo":`)
		e.strs(`"continent_name":`, g.ContinentName)
		e.strs(`"country_iso_code":`, g.CountryISOCode)
		e.strs(`"country_name":`, g.CountryName)
		e.strs(`"region_iso_code":`, g.RegionISOCode)
		e.strs(`"region_name":`, g.RegionName)
		e.strs(`"city_name":`, g.CityName)
		if validLocation {
			e.open(`"location":`)
			e.float(`"lat":`, g.Lat)
			e.float(`"lon":`, g.Lon)
			e.close()
		}
		e.close()
	}
	if g.ASNumber > 0 || g.ASOrganization != "" {
		e.open(`"as":`)
		if g.ASNumber > 0 {
			e.int(`"number":`, g.ASNumber)
		}
		if g.ASOrganization != "" {
			e.open(`"organization":`)
			e.strs(`"name":`, g.ASOrganization)
			e.close()
		}
		e.close()
	}
}

// appendAddressEnrichment writes the members of exim.sender or exim.rcpt
// that enrichment adds after the domain.
func appendAddressEnrichment(e *enc, unicode, registered, tld, country string, freemail bool) {
	e.strs(`"domain_unicode":`, unicode)
	e.strs(`"registered_domain":`, registered)
	e.strs(`"tld":`, tld)
	e.strs(`"country":`, country)
	if freemail {
		e.boolean(`"freemail":`, true)
	}
}
