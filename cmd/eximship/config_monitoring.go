package main

import (
	"net"
	"time"

	"github.com/eximship/eximship/cmd/eximship/internal/yamlconf"
	"github.com/eximship/eximship/shipper/metrics"
)

// monitoringSection configures the monitoring listener of run (package
// metrics): Prometheus /metrics, /healthz, /readyz, optional pprof. Off
// when address is not set.
type monitoringSection struct {
	Address       string        `yaml:"address" check:"hostport"`
	Pprof         bool          `yaml:"pprof"`
	CheckInterval time.Duration `yaml:"check_interval" check:"min=0"`
}

// Check holds the monitoring rules spanning keys.
func (m *monitoringSection) Check(c *yamlconf.Check) {
	if m.Address == "" {
		if m.Pprof {
			c.Problem("pprof", "needs monitoring.address (pprof is served on the monitoring listener)")
		}
		return
	}
	host, _, err := net.SplitHostPort(m.Address)
	if err != nil {
		return // the hostport rule reported it
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		what := "the metrics and health endpoints"
		if m.Pprof {
			what = "the metrics, health and pprof endpoints (pprof can run profiles: a denial of service)"
		}
		c.Warn("address", "%s have no authentication and are reachable beyond this host: bind to 127.0.0.1 or a management network", what)
	}
}

// enabled reports whether run starts the listener.
func (m *monitoringSection) enabled() bool { return m.Address != "" }

// config builds the metrics.ServerConfig (without a Logger).
func (m *monitoringSection) config() metrics.ServerConfig {
	return metrics.ServerConfig{Address: m.Address, Pprof: m.Pprof, CheckInterval: m.CheckInterval}
}
