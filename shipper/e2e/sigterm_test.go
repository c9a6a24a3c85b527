package e2e

import (
	"testing"
	"time"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/stacktest"
)

// TestSigtermIntegration: SIGTERM in the middle of a backlog makes `eximship
// run` flush what it consumed, commit it and exit 0 within
// pipeline.shutdown_timeout; a restart starts exactly at the committed
// offsets (it consumes the rest and nothing else) and the count is exact.
func TestSigtermIntegration(t *testing.T) {
	esURL := stacktest.ElasticURL(t)
	env := newTestEnv(t, esURL)
	lines := readLines(t, corpusLog(t))
	n := int64(len(lines))
	env.kafka.produceLines(t, lines, 1)
	end := env.kafka.endOffsets(t)
	const deadline = 15 * time.Second
	cfg := env.writeConfig(config{shutdownTimeout: deadline})

	first := env.startShipper("run-1", cfg)
	first.waitFor("10% indexed", 10*time.Minute, func(s stats) bool { return s.Indexed >= n/10 })
	before := first.stats()
	took := first.stop(deadline + 20*time.Second)
	fs := first.finalStats()
	if fs == nil {
		t.Fatal("no final stats line after SIGTERM")
	}
	t.Logf("SIGTERM at %+v; exited 0 after %v; final %+v", before, took.Round(time.Millisecond), *fs)
	// The deadline bounds the drain of in-flight batches; closing (the
	// final commit, leaving the group) comes after it and is quick.
	if took > deadline+5*time.Second {
		t.Errorf("exit took %v, shutdown_timeout is %v", took, deadline)
	}
	if fs.Consumed >= n {
		t.Fatalf("the first run consumed everything (%d) before SIGTERM: nothing was in flight", fs.Consumed)
	}
	committed := env.kafka.committed(t, env.group)
	c := sumOffsets(committed)
	// Commits: never more than was written (one entry per message); less
	// only when the deadline cut the drain (a batch given back holds its
	// partition's commit point).
	written := fs.Indexed + fs.DeadLettered
	if c > written {
		t.Errorf("after SIGTERM: committed %d (%v), more than the %d written", c, committed, written)
	}
	// Flushes: when the drain ended before the deadline, everything
	// consumed was written. (On a slow node the deadline may cut it: the
	// rest is not committed and is delivered again, as checked below.)
	if took < deadline && (written != fs.Docs || c != fs.Consumed) {
		t.Errorf("drained before the deadline, yet consumed %d, docs %d, written %d, committed %d", fs.Consumed, fs.Docs, written, c)
	}
	if took >= deadline {
		t.Logf("the deadline cut the drain: %d of %d consumed entries left uncommitted for redelivery", fs.Consumed-c, fs.Consumed)
	}
	// Every committed entry is in Elasticsearch.
	got := env.es.ids(t, env.logsPattern())
	for p, o := range committed {
		for off := int64(0); off < o; off++ {
			if id := shipper.DocID(shipper.Position{Topic: env.kafka.topic, Partition: p, Offset: off}, 0); got[id] != 1 {
				t.Fatalf("committed entry %s is in Elasticsearch %d times", id, got[id])
			}
		}
	}

	second := env.startShipper("run-2", cfg)
	env.kafka.waitCommitted(t, env.group, end, 10*time.Minute, second.checkAlive)
	env.es.waitCount(t, env.logsPattern(), n, 2*time.Minute, second.checkAlive)
	second.stop(deadline + 20*time.Second)
	ss := second.finalStats()
	if ss == nil {
		t.Fatal("no final stats line from the second run")
	}
	t.Logf("restart: consumed %d = %d lines - %d committed", ss.Consumed, n, c)
	if ss.Consumed != n-c {
		t.Errorf("the restart consumed %d messages, want exactly the %d not committed", ss.Consumed, n-c)
	}
	env.es.checkExactlyOnce(t, env.logsPattern(), expectedIDs(end, env.kafka.topic))
}
