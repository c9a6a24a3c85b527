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
	switch {
	case len(en.GeoMembers) > 0:
		e.members(en.GeoMembers)
	case en.Geo != nil:
		appendGeo(e, en.Geo)
	}
}

func appendGeo(e *enc, g *Geo) {
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

// appendDomain writes the members of exim.sender or exim.rcpt that
// describe the domain, from domain to local; pre, when set, is them
// already encoded.
func appendDomain(e *enc, pre []byte, domain, unicode, registered, tld, country string, freemail, local bool) {
	if len(pre) > 0 {
		e.members(pre)
		return
	}
	e.strs(`"domain":`, domain)
	e.strs(`"domain_unicode":`, unicode)
	e.strs(`"registered_domain":`, registered)
	e.strs(`"tld":`, tld)
	e.strs(`"country":`, country)
	if freemail {
		e.boolean(`"freemail":`, true)
	}
	if local {
		e.boolean(`"local":`, true)
	}
}

// members writes m, object members already encoded (`"k":v,"k2":v2`).
func (e *enc) members(m []byte) {
	e.flush()
	if !e.first[e.depth] {
		e.b = append(e.b, ',')
	}
	e.first[e.depth] = false
	e.b = append(e.b, m...)
}

// AppendDomainMembers appends the members of exim.sender or exim.rcpt
// that describe a domain ("domain", "domain_unicode", "registered_domain",
// "tld", "country", "freemail", "local"), as the encoder writes them,
// without braces or a leading comma (for Enrichment.SenderMembers and
// RecipientMembers). Nothing is appended for an empty domain.
func AppendDomainMembers(dst []byte, domain, unicode, registered, tld, country string, freemail, local bool) []byte {
	if domain == "" {
		return dst
	}
	e := enc{b: dst}
	e.first[0] = true
	appendDomain(&e, nil, domain, unicode, registered, tld, country, freemail, local)
	return e.b
}

// AppendGeoMembers appends the "geo" and "as" members of source for g, as
// the encoder writes them (for Enrichment.GeoMembers); nothing when g is
// empty.
func AppendGeoMembers(dst []byte, g *Geo) []byte {
	e := enc{b: dst}
	e.first[0] = true
	appendGeo(&e, g)
	return e.b
}
