// Package metrics holds eximship's Prometheus metrics and its monitoring
// HTTP listener (/metrics, /healthz, /readyz, optional pprof).
//
// Metrics implements shipper.Observer (the pipeline's events) and takes
// functions for what is read at scrape time (in-flight bytes, the consumer
// group's lag, the session tracker's size). It imports the pipeline's core
// types only; the parser and the adapters do not import it: cmd/eximship
// wires it to them.
package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eximship/eximship/shipper"
)

// BuildInfo identifies the running binary (eximship_build_info).
type BuildInfo struct {
	Version, Commit, Date string
}

// PartitionLag is the consumer group's lag on one partition.
type PartitionLag struct {
	Topic     string
	Partition int
	Lag       int64
}

// Metrics are eximship's Prometheus metrics, in a registry of their own
// (with the Go runtime and process collectors). It is safe for concurrent
// use.
type Metrics struct {
	reg *prometheus.Registry

	consumed      prometheus.Counter
	consumedBytes prometheus.Counter
	parsed        *prometheus.CounterVec
	indexed       prometheus.Counter
	retries       *prometheus.CounterVec
	deadLetters   *prometheus.CounterVec
	bulkSeconds   prometheus.Histogram
	bulkRequests  *prometheus.CounterVec

	mu       sync.Mutex
	sessions bool
}

// namespace prefixes every metric name (the README of this package
// describes each metric).
const namespace = "eximship"

// New returns the metrics of one eximship process.
func New(info BuildInfo) *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{reg: reg}
	m.consumed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "messages_consumed_total",
		Help: "Kafka messages handed to the pipeline."})
	m.consumedBytes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "consumed_bytes_total",
		Help: "Value bytes of the Kafka messages handed to the pipeline."})
	m.parsed = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "entries_parsed_total",
		Help: "Log entries parsed into documents, by event.action (unknown: no rule matched)."}, []string{"action"})
	m.indexed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "documents_indexed_total",
		Help: "Documents Elasticsearch acknowledged (409 already-indexed included)."})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "retries_total",
		Help: "Document writes retried, by cause (rejected, server_error, blocked, forbidden, unauthorized, unavailable, other). blocked, forbidden and unauthorized need an operator."},
		[]string{"cause"})
	m.deadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "dead_letters_total",
		Help: "Documents stored as dead letters, by the HTTP status Elasticsearch gave them."}, []string{"status"})
	m.bulkSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "bulk_request_duration_seconds",
		Help:    "Duration of one bulk request to Elasticsearch, until its answer is read.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}})
	m.bulkRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "bulk_requests_total",
		Help: "Bulk requests sent to Elasticsearch, by HTTP status (error: no answer)."}, []string{"code"})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
		Help: "Version, commit and build date of the running eximship (always 1)."}, []string{"version", "commit", "date", "goversion"})
	build.WithLabelValues(info.Version, info.Commit, info.Date, runtime.Version()).Set(1)
	for _, c := range []prometheus.Collector{m.consumed, m.consumedBytes, m.parsed, m.indexed, m.retries, m.deadLetters,
		m.bulkSeconds, m.bulkRequests, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	// Causes and the common statuses exist from the start (at 0), so that
	// rate() and alerts see them before the first event.
	for _, c := range []string{shipper.CauseRejected, shipper.CauseServerError, shipper.CauseBlocked, shipper.CauseForbidden,
		shipper.CauseUnauthorized, shipper.CauseUnavailable, shipper.CauseOther} {
		m.retries.WithLabelValues(c)
	}
	return m
}

// Registry is where the metrics are registered (for tests and for callers
// adding their own).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Consumed implements shipper.Observer.
func (m *Metrics) Consumed(messages int, bytes int64) {
	m.consumed.Add(float64(messages))
	m.consumedBytes.Add(float64(bytes))
}

// Processed implements shipper.Observer: one count per document, by its
// action (runs of equal actions are added at once).
func (m *Metrics) Processed(docs []shipper.Doc) {
	for i := 0; i < len(docs); {
		a, j := docs[i].Action, i+1
		for j < len(docs) && docs[j].Action == a {
			j++
		}
		if a == "" {
			a = "unknown"
		}
		m.parsed.WithLabelValues(a).Add(float64(j - i))
		i = j
	}
}

// Indexed implements shipper.Observer.
func (m *Metrics) Indexed(n int) {
	if n > 0 {
		m.indexed.Add(float64(n))
	}
}

// Retried implements shipper.Observer.
func (m *Metrics) Retried(n int, cause string) {
	if cause == "" {
		cause = shipper.CauseOther
	}
	m.retries.WithLabelValues(cause).Add(float64(n))
}

// DeadLettered implements shipper.Observer.
func (m *Metrics) DeadLettered(dls []shipper.DeadLetter) {
	for _, d := range dls {
		m.deadLetters.WithLabelValues(strconv.Itoa(d.Status)).Inc()
	}
}

var _ shipper.Observer = (*Metrics)(nil)

// ObserveBulk records one bulk request (elastic.Config.OnBulk): its
// duration and status (0: no answer).
func (m *Metrics) ObserveBulk(took time.Duration, status int, _ error) {
	m.bulkSeconds.Observe(took.Seconds())
	code := "error"
	if status != 0 {
		code = strconv.Itoa(status)
	}
	m.bulkRequests.WithLabelValues(code).Inc()
}

// SetInFlight registers eximship_in_flight_bytes, read from f at scrape
// time (the pipeline's input bytes read but not yet acknowledged).
func (m *Metrics) SetInFlight(f func() int64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "in_flight_bytes",
		Help: "Input bytes read from Kafka and not yet acknowledged (bounded by pipeline.max_in_flight_bytes)."},
		func() float64 { return float64(f()) }))
}

// SetLag registers eximship_kafka_consumer_lag{topic,partition}, read from
// f at scrape time: the consumer group's lag per partition (the same on
// every member of the group: aggregate members with max, not sum).
func (m *Metrics) SetLag(f func() []PartitionLag) {
	m.reg.MustRegister(&lagCollector{f: f})
}

// SetSessions registers eximship_sessions_open, read from f at scrape time:
// the SMTP sessions the session tracker holds open. Called once by the
// code that creates the tracker; without it the metric does not exist.
func (m *Metrics) SetSessions(f func() int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessions {
		return
	}
	m.sessions = true
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "sessions_open",
		Help: "SMTP sessions held open by the session tracker."},
		func() float64 { return float64(f()) }))
}

var lagDesc = prometheus.NewDesc(namespace+"_kafka_consumer_lag",
	"Messages between the consumer group's committed offset and the partition's high watermark.",
	[]string{"topic", "partition"}, nil)

type lagCollector struct {
	f func() []PartitionLag
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagDesc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	for _, l := range c.f() {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(l.Lag), l.Topic, strconv.Itoa(l.Partition))
	}
}
