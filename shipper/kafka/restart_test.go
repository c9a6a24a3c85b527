package kafka

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestSourceSurvivesBrokerRestart: the broker goes away while the source
// is consuming and comes back on the same address with its data (kfake
// persistence). Read neither fails nor stalls for good (kafka-go #387,
// #847, #1044): it resumes, everything is delivered, the end is committed.
func TestSourceSurvivesBrokerRestart(t *testing.T) {
	const topic, group, parts, n = "exim", "g1", 2, 400
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	start := func() *kfake.Cluster {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir),
			kfake.SeedTopics(parts, topic), kfake.GroupMinSessionTimeout(100*time.Millisecond))
		if err != nil {
			t.Fatalf("kfake: %v", err)
		}
		return c
	}
	c := start()
	brokers := c.ListenAddrs()
	t.Logf("brokers %v", brokers)
	produce(t, brokers, topic, n/2)

	src := newSource(t, fastConfig(t, brokers, topic, group))
	defer closeSource(t, src)
	first := readN(t, src, n/2, 30*time.Second)
	ackAll(t, first)
	waitCommitted(t, brokers, group, topic, committedFor(first, parts), 10*time.Second)

	// Outage: Read blocks (it must not fail) until the broker is back.
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type result struct {
		b   readBatch
		err error
	}
	results := make(chan result, 1)
	go func() {
		msgs, ack, err := src.Read(ctx)
		results <- result{readBatch{msgs, ack}, err}
	}()
	time.Sleep(2 * time.Second)
	select {
	case r := <-results:
		t.Fatalf("Read returned during the outage: %d messages, %v", len(r.b.msgs), r.err)
	default:
	}
	c = start()
	defer c.Close()
	if got := c.ListenAddrs(); got[0] != brokers[0] {
		t.Fatalf("restarted on %v, want %v", got, brokers)
	}
	produce(t, brokers, topic, n/2)
	ends := endOffsets(t, brokers, topic, parts)

	seen := positions(t, first)
	r := <-results
	if r.err != nil {
		t.Fatalf("read across the restart: %v", r.err)
	}
	batches := []readBatch{r.b}
	got := len(r.b.msgs)
	if got < n/2 {
		more, k := readAtLeast(t, src, n/2-got, 30*time.Second)
		batches = append(batches, more...)
		got += k
	}
	for _, b := range batches {
		for _, m := range b.msgs {
			if m.Offset >= ends[m.Partition] {
				t.Errorf("%s is past the end offset %d", m.Position, ends[m.Partition])
			}
			seen[m.Position] = string(m.Value)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct records delivered, want %d", len(seen), n)
	}
	ackAll(t, batches)
	waitCommitted(t, brokers, group, topic, ends, 30*time.Second)
	t.Logf("stats after the restart: %+v", src.Stats())
	closeSource(t, src) // before the cluster goes (deferred)
}

// committedFor returns, per partition, the offset after the highest offset
// in the batches (they cover each partition's prefix).
func committedFor(batches []readBatch, parts int) map[int]int64 {
	out := map[int]int64{}
	for p := 0; p < parts; p++ {
		out[p] = -1
	}
	for _, b := range batches {
		for _, m := range b.msgs {
			if m.Offset+1 > out[m.Partition] {
				out[m.Partition] = m.Offset + 1
			}
		}
	}
	return out
}
