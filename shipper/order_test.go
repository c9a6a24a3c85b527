package shipper

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// orderProc records, for every message, which processor instance saw it.
type orderProc struct {
	id  int
	log *orderLog
}

type orderLog struct {
	mu   sync.Mutex
	seen map[int][]procSeen // partition -> messages in processing order
	fail func(m Message) error
}

type procSeen struct {
	proc   int
	offset int64
}

func (o *orderProc) Process(m Message, dst []Doc) ([]Doc, error) {
	o.log.mu.Lock()
	o.log.seen[m.Partition] = append(o.log.seen[m.Partition], procSeen{o.id, m.Offset})
	fail := o.log.fail
	o.log.mu.Unlock()
	if fail != nil {
		if err := fail(m); err != nil {
			return dst, err
		}
	}
	return lineProc{}.Process(m, dst)
}

func orderProcs(log *orderLog) func() (Processor, error) {
	var mu sync.Mutex
	n := 0
	return func() (Processor, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		return &orderProc{id: n, log: log}, nil
	}
}

// TestRunPartitionOrder checks the keyed dispatch: with batches that span
// the three partitions, every message of a partition is processed by one
// processor, in offset order; every message is acknowledged once, and a
// split batch counts as one acknowledged batch.
func TestRunPartitionOrder(t *testing.T) {
	src, sink, dead := newMemSource(3000, 10), newMemSink(), &memDead{}
	log := &orderLog{seen: map[int][]procSeen{}}
	cfg := quietConfig()
	cfg.Workers = 4
	cfg.PartitionOrder = true
	p, err := New(cfg, src, orderProcs(log), sink, dead)
	if err != nil {
		t.Fatal(err)
	}
	if err := runUntil(t, p, src.allAcked(3000)); err != nil {
		t.Fatal(err)
	}
	sink.requireEachOnce(t, 3000)
	src.requireAckedOnce(t)
	if len(log.seen) != 3 {
		t.Fatalf("%d partitions processed, want 3", len(log.seen))
	}
	procs := map[int]bool{}
	for part, seen := range log.seen {
		if len(seen) != 1000 {
			t.Errorf("partition %d: %d messages processed, want 1000", part, len(seen))
		}
		for i, s := range seen {
			if s.proc != seen[0].proc {
				t.Fatalf("partition %d: offset %d processed by processor %d, the ones before by %d", part, s.offset, s.proc, seen[0].proc)
			}
			if i > 0 && s.offset <= seen[i-1].offset {
				t.Fatalf("partition %d: offset %d processed after %d", part, s.offset, seen[i-1].offset)
			}
		}
		procs[seen[0].proc] = true
	}
	if len(procs) < 2 {
		t.Errorf("the 3 partitions all went to one worker of 4")
	}
	if st := p.Stats(); st.Acked != int64(src.reads) || st.Nacked != 0 || st.InFlight != 0 {
		t.Errorf("stats %+v, want %d acked batches", st, src.reads)
	}
}

// TestRunPartitionOrderAcksSplitBatchOnce holds back the documents of one
// partition in the sink: the batches it shares with the other partitions
// are not acknowledged while that part is unwritten, and are acknowledged
// once it is.
func TestRunPartitionOrderAcksSplitBatchOnce(t *testing.T) {
	src, dead := newMemSource(30, 30), &memDead{} // one batch, three partitions
	release := make(chan struct{})
	sink := &gateSink{memSink: newMemSink(), gate: release, partition: 2}
	cfg := quietConfig()
	cfg.PartitionOrder = true
	p, err := New(cfg, src, newProc, sink, dead)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for sink.count() < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("partitions 0 and 1 not written: %d docs", sink.count())
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	src.mu.Lock()
	early := len(src.acked)
	src.mu.Unlock()
	if early != 0 {
		t.Fatalf("%d offsets acknowledged while partition 2 was not written", early)
	}
	close(release)
	for !src.allAcked(30)() {
		if time.Now().After(deadline) {
			t.Fatal("batch not acknowledged after partition 2 was written")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Acked != 1 {
		t.Errorf("acked batches %d, want 1", st.Acked)
	}
}

// TestRunPartitionOrderNacksSplitBatch makes the processor fail on one
// partition's message: the batch is given back once (no offset of it is
// acknowledged) and Run returns the processor's error.
func TestRunPartitionOrderNacksSplitBatch(t *testing.T) {
	src, sink, dead := newMemSource(30, 30), newMemSink(), &memDead{}
	boom := errors.New("boom")
	log := &orderLog{seen: map[int][]procSeen{}, fail: func(m Message) error {
		if m.Offset == 17 {
			return boom
		}
		return nil
	}}
	cfg := quietConfig()
	cfg.PartitionOrder = true
	p, err := New(cfg, src, orderProcs(log), sink, dead)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(context.Background())
	if !errors.Is(err, boom) {
		t.Fatalf("Run: %v, want the processor's error", err)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.acked) != 0 {
		t.Errorf("%d offsets acknowledged", len(src.acked))
	}
	for off := int64(0); off < 30; off++ {
		if src.nacked[off] != 1 {
			t.Errorf("offset %d given back %d times, want once", off, src.nacked[off])
		}
	}
	if st := p.Stats(); st.Nacked != 1 || st.Acked != 0 {
		t.Errorf("stats %+v, want 1 nacked batch", st)
	}
}

// gateSink holds the documents of one partition until gate is closed.
type gateSink struct {
	*memSink
	gate      chan struct{}
	partition int
}

func (g *gateSink) WriteBatch(ctx context.Context, docs []Doc) error {
	if len(docs) > 0 && docs[0].Pos.Partition == g.partition {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.memSink.WriteBatch(ctx, docs)
}

func (g *gateSink) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.stored)
}

func TestWorkerSpread(t *testing.T) {
	seen := map[int]bool{}
	for part := 0; part < 12; part++ {
		w := worker(Position{Topic: "exim-logs", Partition: part}, 4)
		if w < 0 || w >= 4 {
			t.Fatalf("worker %d out of range", w)
		}
		if w != worker(Position{Topic: "exim-logs", Partition: part, Offset: 99}, 4) {
			t.Fatal("the worker depends on the offset")
		}
		seen[w] = true
	}
	if len(seen) < 3 {
		t.Errorf("12 partitions on %d of 4 workers", len(seen))
	}
}
