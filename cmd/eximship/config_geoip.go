package main

import (
	"errors"
	"log/slog"

	"github.com/eximship/eximship/cmd/eximship/internal/yamlconf"
	"github.com/eximship/eximship/shipper/enrich/geoip"
)

// geoipSection names the MaxMind-format databases of source.geo.* and
// source.as.* (shipper/enrich/geoip).
type geoipSection struct {
	CityDatabase string `yaml:"city_database" check:"file"`
	ASNDatabase  string `yaml:"asn_database" check:"file"`
}

// Check opens the databases once, so that a file that is no MaxMind DB,
// or a database given under the wrong key, is reported with its line.
func (g *geoipSection) Check(c *yamlconf.Check) {
	if c.Failed() {
		return
	}
	db, err := geoip.Open(g.config())
	var oe *geoip.OpenError
	switch {
	case errors.As(err, &oe):
		c.Problem(oe.Key, "%s: %v", oe.Path, oe.Err)
	case err != nil:
		c.Err("", err)
	default:
		c.Err("", db.Close())
	}
}

func (g *geoipSection) config() geoip.Config {
	return geoip.Config{CityDatabase: g.CityDatabase, ASNDatabase: g.ASNDatabase}
}

// openGeoIP opens the configured GeoIP databases (nil when there are
// none) and logs what they are.
func openGeoIP(cfg geoip.Config, log *slog.Logger) (*geoip.DB, error) {
	db, err := geoip.Open(cfg)
	if err != nil {
		return nil, err
	}
	for _, i := range db.Info() {
		log.Info("geoip database", "path", i.Path, "type", i.Type, "built", i.Built.Format("2006-01-02"))
	}
	return db, nil
}
