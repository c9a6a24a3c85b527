package e2e

import (
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/elastic/faultproxy"
	"github.com/eximship/eximship/shipper/stacktest"
)

// TestItem429Integration: a fault-injecting proxy in front of Elasticsearch
// answers 20% of the bulk items with 429 itself (they never reach the
// node). Every rejected item is retried, nothing is lost or duplicated, and
// the shipper's logs and final stats show the retries.
func TestItem429Integration(t *testing.T) {
	esURL := stacktest.ElasticURL(t)
	env := newTestEnv(t, esURL)
	lines := readLines(t, seedLog(t))
	n := int64(len(lines))
	env.kafka.produceLines(t, lines, 1)
	end := env.kafka.endOffsets(t)

	px, err := faultproxy.New(esURL, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	px.RejectItems(0.2, 429)

	sp := env.startShipper("run", env.writeConfig(config{esURL: px.URL(), retryMax: time.Second}))
	env.kafka.waitCommitted(t, env.group, end, 10*time.Minute, sp.checkAlive)
	env.es.waitCount(t, env.logsPattern(), n, 2*time.Minute, sp.checkAlive)
	sp.stop(30 * time.Second)

	ps := px.Stats()
	fs := sp.finalStats()
	if fs == nil {
		t.Fatal("no final stats line")
	}
	t.Logf("proxy: %+v; shipper final %+v; %d \"bulk items failed, retrying\" log lines", ps, *fs, sp.count("bulk items failed, retrying"))
	if ps.ItemsRejected == 0 {
		t.Fatal("the proxy rejected no item: nothing was tested")
	}
	if fs.Retried < int64(ps.ItemsRejected) {
		t.Errorf("final stats count %d retries, the proxy answered %d items with 429", fs.Retried, ps.ItemsRejected)
	}
	if sp.count("bulk items failed, retrying") == 0 {
		t.Error("no \"bulk items failed, retrying\" log line")
	}
	if fs.Indexed != n || fs.DeadLettered != 0 {
		t.Errorf("final stats %+v: want %d indexed, none dead-lettered", *fs, n)
	}
	env.es.checkExactlyOnce(t, env.logsPattern(), expectedIDs(end, env.kafka.topic))
}
