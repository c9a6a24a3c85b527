package metrics

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/metrics/metricstest"
)

func TestObserverCounts(t *testing.T) {
	m := New(BuildInfo{Version: "1.2.3", Commit: "abc", Date: "2026-01-02"})
	m.Consumed(3, 300)
	m.Consumed(2, 50)
	m.Processed([]shipper.Doc{{Action: "rejected-rcpt"}, {Action: "rejected-rcpt"}, {Action: "delivered"}, {Action: "rejected-rcpt"}, {}})
	m.Indexed(4)
	m.Indexed(0)
	m.Retried(2, shipper.CauseBlocked)
	m.Retried(1, "")
	m.DeadLettered([]shipper.DeadLetter{{Status: 400}, {Status: 400}, {Status: 413}})
	m.ObserveBulk(30*time.Millisecond, 200, nil)
	m.ObserveBulk(2*time.Second, 0, errors.New("refused"))
	var inflight int64 = 1234
	m.SetInFlight(func() int64 { return inflight })
	m.SetLag(func() []PartitionLag {
		return []PartitionLag{{Topic: "exim", Partition: 0, Lag: 7}, {Topic: "exim", Partition: 1, Lag: 0}}
	})
	m.SetSessions(func() int { return 5 })
	m.SetSessions(func() int { return 9 }) // second call: ignored, no panic

	want := map[string]float64{
		`eximship_messages_consumed_total`:                                                                    5,
		`eximship_consumed_bytes_total`:                                                                       350,
		`eximship_entries_parsed_total{action="rejected-rcpt"}`:                                               3,
		`eximship_entries_parsed_total{action="delivered"}`:                                                   1,
		`eximship_entries_parsed_total{action="unknown"}`:                                                     1,
		`eximship_documents_indexed_total`:                                                                    4,
		`eximship_retries_total{cause="blocked"}`:                                                             2,
		`eximship_retries_total{cause="other"}`:                                                               1,
		`eximship_retries_total{cause="forbidden"}`:                                                           0,
		`eximship_dead_letters_total{status="400"}`:                                                           2,
		`eximship_dead_letters_total{status="413"}`:                                                           1,
		`eximship_bulk_requests_total{code="200"}`:                                                            1,
		`eximship_bulk_requests_total{code="error"}`:                                                          1,
		`eximship_bulk_request_duration_seconds_count`:                                                        2,
		`eximship_bulk_request_duration_seconds_bucket{le="0.05"}`:                                            1,
		`eximship_in_flight_bytes`:                                                                            1234,
		`eximship_kafka_consumer_lag{partition="0",topic="exim"}`:                                             7,
		`eximship_kafka_consumer_lag{partition="1",topic="exim"}`:                                             0,
		`eximship_sessions_open`:                                                                              5,
		`eximship_build_info{commit="abc",date="2026-01-02",goversion="` + goVersion() + `",version="1.2.3"}`: 1,
	}
	got := scrape(t, m.Handler())
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s missing from the scrape", k)
			continue
		}
		if g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	if n := testutil.CollectAndCount(m.parsed); n != 3 {
		t.Errorf("%d action series, want 3", n)
	}
}

// scrape reads the text exposition of h into series -> value, a series
// being name{label="value",...} with the labels sorted by name (histogram
// buckets as name_bucket{le="..."}, and name_count).
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	out, err := metricstest.Parse(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func goVersion() string { return runtime.Version() }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
