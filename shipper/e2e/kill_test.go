package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper/stacktest"
)

// streamProducer writes the lines (cycling) at about rate lines/s until
// stopped, keyed by a running line number.
type streamProducer struct {
	stop     chan struct{}
	done     chan struct{}
	produced atomic.Int64
	err      error
}

func startStream(t *testing.T, k *kafkaEnv, lines [][]byte, rate int) *streamProducer {
	t.Helper()
	sp := &streamProducer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(sp.done)
		w := k.writer()
		defer w.Close()
		const tick = 100 * time.Millisecond
		per := max(1, rate/10)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		next := 0
		for {
			select {
			case <-sp.stop:
				return
			case <-tk.C:
			}
			msgs := make([]kafka.Message, per)
			for i := range msgs {
				n := next + i
				msgs[i] = kafka.Message{Key: lineKey(n + 1), Value: lines[n%len(lines)]}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := w.WriteMessages(ctx, msgs...)
			cancel()
			if err != nil {
				sp.err = err
				return
			}
			next += per
			sp.produced.Store(int64(next))
		}
	}()
	return sp
}

func (sp *streamProducer) finish(t *testing.T) int64 {
	t.Helper()
	close(sp.stop)
	<-sp.done
	if sp.err != nil {
		t.Fatalf("producer: %v", sp.err)
	}
	return sp.produced.Load()
}

// TestKillNineIntegration: `eximship run` is killed with SIGKILL at random
// moments, 10 times during one run (restarted right after each kill),
// while lines keep arriving. Each restart says that it waits for the
// killed member's session to time out. Afterwards every entry is in
// Elasticsearch exactly once and the group's committed offsets reach the
// end of every partition.
func TestKillNineIntegration(t *testing.T) {
	esURL := stacktest.ElasticURL(t)
	env := newTestEnv(t, esURL)
	lines := readLines(t, corpusLog(t))
	cfg := env.writeConfig(config{})
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	t.Logf("kill schedule seed %d", seed)

	prod := startStream(t, env.kafka, lines, 800)
	var finished sync.Once
	finish := func() int64 {
		var n int64
		finished.Do(func() { n = prod.finish(t) })
		return n
	}
	t.Cleanup(func() { finish() })

	const kills = 10
	midFlight := 0
	for i := 1; i <= kills; i++ {
		sp := env.startShipper(fmt.Sprintf("run-%d", i), cfg)
		// A random moment once this process works (it first waits for the
		// dead member's session to expire): 0-2 s after its first
		// documents are indexed, while more are in flight.
		sp.waitFor("documents indexed", 5*time.Minute, func(s stats) bool { return s.Indexed > 0 })
		// After a kill -9 the dead member stays in the group until its
		// session times out, and the new one waits for that: it says so.
		if i > 1 && !sp.logHas("the consumer group still has members", "session_timeout=6s", "members=") {
			t.Errorf("restart #%d after kill -9 did not say it waits for the dead member's session to time out", i)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(2 * time.Second))))
		st := sp.stats()
		if st.Consumed > st.Indexed {
			midFlight++
		}
		sp.kill()
		t.Logf("kill -9 #%d after %v: last progress consumed %d, indexed %d (produced so far %d)",
			i, time.Since(sp.started).Round(time.Millisecond), st.Consumed, st.Indexed, prod.produced.Load())
	}
	n := finish()
	end := env.kafka.endOffsets(t)
	if sumOffsets(end) != n {
		t.Fatalf("topic holds %d messages, produced %d", sumOffsets(end), n)
	}
	t.Logf("%d kills (%d with documents consumed but not yet indexed at the last progress line); %d lines produced", kills, midFlight, n)

	last := env.startShipper("run-final", cfg)
	env.kafka.waitCommitted(t, env.group, end, 10*time.Minute, last.checkAlive)
	env.es.waitCount(t, env.logsPattern(), n, 2*time.Minute, last.checkAlive)
	last.stop(30 * time.Second)
	env.es.checkExactlyOnce(t, env.logsPattern(), expectedIDs(end, env.kafka.topic))
	if c := env.kafka.committed(t, env.group); !offsetsReach(c, end) {
		t.Errorf("committed %v, want the end offsets %v", c, end)
	}
	if d := env.es.count(t, env.deadLetterIndex()); d != 0 {
		t.Errorf("%d dead letters, want none", d)
	}
}
