package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/metrics/metricstest"
	"github.com/eximship/eximship/shipper/stacktest"
)

// TestMetricsIntegration: eximship run with a monitoring listener over a
// real Exim log, some of whose lines a mapping conflict sends to the dead
// letters. Scraped while it runs, the counters only grow; scraped at the
// end, they equal what Elasticsearch holds: messages consumed = lines
// produced, documents indexed = the logs' _count, dead letters = the
// dead-letter index's _count, entries parsed per event.action = the terms
// of event.action in the logs plus those of the dead-lettered documents;
// the group's lag is 0 on every partition, nothing is in flight, and every
// bulk request was timed. /healthz and /readyz answer 200.
func TestMetricsIntegration(t *testing.T) {
	esURL := stacktest.ElasticURL(t)
	env := newTestEnv(t, esURL)
	env.es.installTemplates(t)
	env.conflictTemplate(t, true)
	lines := readLines(t, seedLog(t))
	n := len(lines)
	env.kafka.produceLines(t, lines, 1)
	end := env.kafka.endOffsets(t)

	sp := env.startShipper("run", env.writeConfig(config{extra: monitoring}))
	base := sp.monitorURL()
	var last map[string]float64
	for !offsetsReach(env.kafka.committed(t, env.group), end) {
		if err := sp.checkAlive(); err != nil {
			t.Fatal(err)
		}
		m := sp.scrape()
		for _, k := range []string{"eximship_messages_consumed_total", "eximship_documents_indexed_total"} {
			if m[k] < last[k] {
				t.Errorf("%s went down: %v -> %v", k, last[k], m[k])
			}
		}
		last = m
		time.Sleep(300 * time.Millisecond)
	}
	dead := env.es.count(t, env.deadLetterIndex())
	env.es.waitCount(t, env.logsPattern(), int64(n)-dead, time.Minute, sp.checkAlive)
	// The lag is measured every 2 s: wait for a measurement after the
	// last commit.
	var m map[string]float64
	deadline := time.Now().Add(time.Minute)
	for {
		m = sp.scrape()
		if metricstest.Sum(m, "eximship_kafka_consumer_lag") == 0 && m["eximship_in_flight_bytes"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag %v, in flight %v a minute after everything was committed", metricstest.Sum(m, "eximship_kafka_consumer_lag"), m["eximship_in_flight_bytes"])
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("%s: %d %s", path, res.StatusCode, b)
		}
	}
	sp.stop(30 * time.Second)

	if dead == 0 || dead == int64(n) {
		t.Fatalf("%d dead letters of %d lines: the test needs some", dead, n)
	}
	eq := func(name string, got float64, want int64) {
		t.Helper()
		if got != float64(want) {
			t.Errorf("%s = %v, want %d", name, got, want)
		}
	}
	eq("eximship_messages_consumed_total", m["eximship_messages_consumed_total"], int64(n))
	eq("eximship_documents_indexed_total", m["eximship_documents_indexed_total"], int64(n)-dead)
	eq(`eximship_dead_letters_total{status="400"}`, m[`eximship_dead_letters_total{status="400"}`], dead)
	eq("eximship_dead_letters_total", metricstest.Sum(m, "eximship_dead_letters_total"), dead)
	eq("eximship_entries_parsed_total", metricstest.Sum(m, "eximship_entries_parsed_total"), int64(n))
	for p := 0; p < partitions; p++ {
		k := fmt.Sprintf("eximship_kafka_consumer_lag{partition=%q,topic=%q}", strconv.Itoa(p), env.kafka.topic)
		if v, ok := m[k]; !ok || v != 0 {
			t.Errorf("%s = %v (present %t), want 0", k, v, ok)
		}
	}
	if c := m["eximship_bulk_request_duration_seconds_count"]; c == 0 || c != metricstest.Sum(m, "eximship_bulk_requests_total") {
		t.Errorf("bulk requests timed %v, counted %v", c, metricstest.Sum(m, "eximship_bulk_requests_total"))
	}
	if metricstest.Sum(m, "eximship_build_info") != 1 {
		t.Errorf("no build info")
	}
	// Sessions are on by default: the tracker's size is a gauge.
	if _, ok := m["eximship_sessions_open"]; !ok {
		t.Errorf("no eximship_sessions_open with sessions on")
	}

	// Entries by event.action: the logs' terms plus the dead letters'.
	want := map[string]int64{}
	var agg struct {
		Aggregations struct {
			A struct {
				Buckets []struct {
					Key   string `json:"key"`
					Count int64  `json:"doc_count"`
				} `json:"buckets"`
			} `json:"a"`
		} `json:"aggregations"`
	}
	env.es.must(t, "POST", "/"+env.logsPattern()+"/_search", map[string]any{
		"size": 0, "aggs": map[string]any{"a": map[string]any{"terms": map[string]any{"field": "event.action", "size": 1000}}},
	}, &agg)
	for _, b := range agg.Aggregations.A.Buckets {
		want[b.Key] += b.Count
	}
	env.es.scan(t, env.deadLetterIndex(), true, func(h hit) {
		var d struct {
			Document string `json:"document"`
		}
		var doc struct {
			Event struct {
				Action string `json:"action"`
			} `json:"event"`
		}
		if err := json.Unmarshal(h.Source, &d); err != nil || json.Unmarshal([]byte(d.Document), &doc) != nil {
			t.Fatalf("dead letter %s: %v", h.ID, err)
		}
		want[doc.Event.Action]++
	})
	for a, c := range want {
		eq(fmt.Sprintf("eximship_entries_parsed_total{action=%q}", a), m[fmt.Sprintf("eximship_entries_parsed_total{action=%q}", a)], c)
	}
	t.Logf("%d lines, %d dead letters, %d actions: metrics equal the counts in Elasticsearch", n, dead, len(want))
}
