package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/stacktest"
)

// TestElasticsearchDownIntegration: Elasticsearch's process is killed
// (SIGKILL) mid-run, stays down 30 s, and is started again. The shipper
// never exits (checked every 100 ms throughout), commits nothing while
// Elasticsearch is down, logs its retries, and resumes by itself: nothing
// lost, nothing duplicated. Its /readyz answers 200 before, 503 naming
// Elasticsearch while it is down, 200 again after; its progress line's lag
// is the true backlog while down (every line not committed), not 0.
//
// It uses a private node (see the package comment), so it sorts last
// (file zz_) to give that node time to start during the other tests.
func TestElasticsearchDownIntegration(t *testing.T) {
	stacktest.ElasticURL(t) // skip like the others without the stack
	esURL := privateES.wait(t)
	env := newTestEnv(t, esURL)
	lines := readLines(t, corpusLog(t))
	n := int64(len(lines))

	// The private node is fresh: give it eximship's templates, as a
	// production cluster would have them.
	env.es.installTemplates(t)

	env.kafka.produceLines(t, lines, 1)
	end := env.kafka.endOffsets(t)
	sp := env.startShipper("run", env.writeConfig(config{extra: monitoring}))

	// Watch the process for its whole life.
	exited := make(chan error, 1)
	stopWatch := make(chan struct{})
	go func() {
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopWatch:
				return
			case <-tk.C:
				if err := sp.checkAlive(); err != nil {
					exited <- err
					return
				}
			}
		}
	}()
	defer close(stopWatch)
	checkWatch := func() {
		t.Helper()
		select {
		case err := <-exited:
			t.Fatalf("the shipper exited: %v", err)
		default:
		}
	}

	sp.waitFor("10% indexed", 10*time.Minute, func(s stats) bool { return s.Indexed >= n/10 })
	waitReady := func(want int, part string) string {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			code, body := sp.readyz()
			if code == want && strings.Contains(body, part) {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz %d %q, want %d with %q", code, body, want, part)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitReady(200, "elasticsearch: ok")
	atKill := sp.stats()
	privateES.kill(t)
	downAt := time.Now()
	t.Logf("Elasticsearch killed (SIGKILL) at %+v", atKill)

	// Batches acknowledged just before the kill may still be committed
	// during the next commit interval (500 ms); after that nothing moves.
	time.Sleep(3 * time.Second)
	c1 := env.kafka.committed(t, env.group)
	st1 := sp.stats()
	body := waitReady(503, "elasticsearch: failed")
	t.Logf("/readyz while Elasticsearch is down: %q", body)
	for time.Since(downAt) < 30*time.Second {
		checkWatch()
		time.Sleep(500 * time.Millisecond)
	}
	c2 := env.kafka.committed(t, env.group)
	st2 := sp.stats()
	checkWatch()
	// Nothing committed for 27 s: the lag measured meanwhile (every 2 s)
	// is every line not committed.
	if backlog := n - sumOffsets(c2); st2.Lag != backlog {
		t.Errorf("progress lag %d while Elasticsearch is down, want the backlog %d (%d lines, %d committed)", st2.Lag, backlog, n, sumOffsets(c2))
	} else {
		t.Logf("lag while Elasticsearch is down: %d (the backlog)", st2.Lag)
	}
	t.Logf("down 30 s: committed %d -> %d, indexed %d -> %d, retried %d -> %d, %d \"bulk write failed, retrying\" lines",
		sumOffsets(c1), sumOffsets(c2), st1.Indexed, st2.Indexed, st1.Retried, st2.Retried, sp.count("bulk write failed, retrying"))
	for p := range c2 {
		if c2[p] != c1[p] {
			t.Errorf("partition %d: committed offset moved from %d to %d while Elasticsearch was down", p, c1[p], c2[p])
		}
	}
	if st2.Indexed != st1.Indexed {
		t.Errorf("indexed moved from %d to %d while Elasticsearch was down", st1.Indexed, st2.Indexed)
	}
	if sumOffsets(c2) >= n {
		t.Fatalf("everything was committed before Elasticsearch went down: nothing was tested")
	}

	t0 := time.Now()
	privateES.up(t)
	checkWatch()
	t.Logf("Elasticsearch up again after %v down (start-up %v)", time.Since(downAt).Round(time.Second), time.Since(t0).Round(time.Second))
	waitReady(200, "elasticsearch: ok")

	env.kafka.waitCommitted(t, env.group, end, 10*time.Minute, sp.checkAlive)
	env.es.waitCount(t, env.logsPattern(), n, 2*time.Minute, sp.checkAlive)
	checkWatch()
	if sp.count("bulk write failed, retrying")+sp.count("bulk items failed, retrying") == 0 {
		t.Error("no retry was logged")
	}
	sp.stop(30 * time.Second)
	fs := sp.finalStats()
	t.Logf("final stats %+v", fs)
	if fs == nil || fs.Retried == 0 || fs.DeadLettered != 0 {
		t.Errorf("final stats %+v: want retries and no dead letter", fs)
	}
	env.es.checkExactlyOnce(t, env.logsPattern(), expectedIDs(end, env.kafka.topic))
}
