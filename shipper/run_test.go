package shipper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"
)

// memSource serves messages from memory in fixed-size batches and records
// every acknowledgement.
type memSource struct {
	mu      sync.Mutex
	msgs    []Message
	next    int
	batch   int
	acked   map[int64]int // offset -> number of positive acks
	nacked  map[int64]int
	closed  bool
	reads   int
	blockAt int // when > 0, Read blocks (until ctx done) once next reaches it
}

func newMemSource(n, batch int) *memSource {
	s := &memSource{batch: batch, acked: map[int64]int{}, nacked: map[int64]int{}}
	for i := 0; i < n; i++ {
		s.msgs = append(s.msgs, Message{
			Position: Position{Topic: "t", Partition: i % 3, Offset: int64(i)},
			Value:    []byte("line " + strconv.Itoa(i)),
		})
	}
	return s
}

func (s *memSource) Read(ctx context.Context) ([]Message, AckFunc, error) {
	s.mu.Lock()
	if s.next >= len(s.msgs) || (s.blockAt > 0 && s.next >= s.blockAt) {
		s.mu.Unlock()
		<-ctx.Done()
		return nil, nil, ctx.Err()
	}
	end := min(s.next+s.batch, len(s.msgs))
	b := s.msgs[s.next:end]
	s.next = end
	s.reads++
	s.mu.Unlock()
	return b, func(_ context.Context, err error) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, m := range b {
			if err == nil {
				s.acked[m.Offset]++
			} else {
				s.nacked[m.Offset]++
			}
		}
		return nil
	}, nil
}

func (s *memSource) Close(context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// lineProc makes one document per message; a message whose value is "bad"
// is marked so the sink rejects it for good.
type lineProc struct{}

func (lineProc) Process(m Message, dst []Doc) ([]Doc, error) {
	return append(dst, Doc{
		ID:       DocID(m.Position, 0),
		Stream:   "logs-exim.main-default",
		Body:     []byte(`{"message":"` + string(m.Value) + `"}`),
		Pos:      m.Position,
		Original: m.Value,
	}), nil
}

// memSink stores documents by id; fail decides per attempt and document
// whether the write fails (status, retry) or succeeds.
type memSink struct {
	mu       sync.Mutex
	stored   map[string]int // id -> times written successfully
	attempts int
	fail     func(attempt int, d Doc) (status int, retry bool, failed bool)
	down     func(attempt int) error
}

func newMemSink() *memSink { return &memSink{stored: map[string]int{}} }

func (s *memSink) WriteBatch(_ context.Context, docs []Doc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if s.down != nil {
		if err := s.down(s.attempts); err != nil {
			return err
		}
	}
	var be BatchError
	for i, d := range docs {
		if s.fail != nil {
			if st, retry, failed := s.fail(s.attempts, d); failed {
				be.Items = append(be.Items, ItemError{Index: i, Status: st, Reason: "injected", Retry: retry})
				continue
			}
		}
		s.stored[d.ID]++
	}
	if len(be.Items) > 0 {
		return &be
	}
	return nil
}

func (s *memSink) Close(context.Context) error { return nil }

// requireEachOnce fails t unless exactly want documents were stored, each
// written once.
func (s *memSink) requireEachOnce(t *testing.T, want int) {
	t.Helper()
	if len(s.stored) != want {
		t.Fatalf("stored %d docs, want %d", len(s.stored), want)
	}
	for id, n := range s.stored {
		if n != 1 {
			t.Errorf("doc %s written %d times", id, n)
		}
	}
}

type memDead struct {
	mu  sync.Mutex
	dls []DeadLetter
}

func (d *memDead) WriteDeadLetters(_ context.Context, dls []DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dls = append(d.dls, dls...)
	return nil
}

func quietConfig() Config {
	return Config{
		Workers:          3,
		RetryInitial:     time.Millisecond,
		RetryMax:         5 * time.Millisecond,
		ProgressInterval: -1,
		ShutdownTimeout:  2 * time.Second,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// runUntil runs the pipeline until cond holds (polled), then cancels it.
func runUntil(t *testing.T, p *Pipeline, cond func() bool) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("condition not reached; stats %+v", p.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	return <-done
}

func newProc() (Processor, error) { return lineProc{}, nil }

// requireAckedOnce fails t unless every offset acknowledged was
// acknowledged once.
func (s *memSource) requireAckedOnce(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for off, n := range s.acked {
		if n != 1 {
			t.Errorf("offset %d acked %d times", off, n)
		}
	}
}

func (s *memSource) allAcked(n int) func() bool {
	return func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.acked) == n
	}
}

func TestRunIndexesEverythingOnce(t *testing.T) {
	src, sink, dead := newMemSource(1000, 7), newMemSink(), &memDead{}
	p, err := New(quietConfig(), src, newProc, sink, dead)
	if err != nil {
		t.Fatal(err)
	}
	if err := runUntil(t, p, src.allAcked(1000)); err != nil {
		t.Fatal(err)
	}
	sink.requireEachOnce(t, 1000)
	src.requireAckedOnce(t)
	if !src.closed {
		t.Error("source not closed")
	}
	st := p.Stats()
	if st.Messages != 1000 || st.Docs != 1000 || st.Indexed != 1000 || st.DeadLettered != 0 || st.InFlight != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestRunRetriesItemFailuresUntilIndexed(t *testing.T) {
	src, sink, dead := newMemSource(300, 10), newMemSink(), &memDead{}
	failures := map[string]int{}
	sink.fail = func(_ int, d Doc) (int, bool, bool) {
		// Every third document fails with 429 twice, then succeeds.
		if d.Pos.Offset%3 == 0 && failures[d.ID] < 2 {
			failures[d.ID]++
			return 429, true, true
		}
		return 0, false, false
	}
	p, err := New(quietConfig(), src, newProc, sink, dead)
	if err != nil {
		t.Fatal(err)
	}
	if err := runUntil(t, p, src.allAcked(300)); err != nil {
		t.Fatal(err)
	}
	sink.requireEachOnce(t, 300)
	if got := p.Stats().Retried; got != 200 { // 100 docs x 2 retries
		t.Errorf("retried %d, want 200", got)
	}
	if len(dead.dls) != 0 {
		t.Errorf("%d dead letters, want 0", len(dead.dls))
	}
}

func TestRunDeadLettersPermanentFailures(t *testing.T) {
	src, sink, dead := newMemSource(100, 8), newMemSink(), &memDead{}
	sink.fail = func(_ int, d Doc) (int, bool, bool) {
		if d.Pos.Offset%10 == 5 {
			return 400, false, true
		}
		return 0, false, false
	}
	p, err := New(quietConfig(), src, newProc, sink, dead)
	if err != nil {
		t.Fatal(err)
	}
	if err := runUntil(t, p, src.allAcked(100)); err != nil {
		t.Fatal(err)
	}
	if len(sink.stored) != 90 || len(dead.dls) != 10 {
		t.Fatalf("stored %d dead %d, want 90 and 10", len(sink.stored), len(dead.dls))
	}
	for _, d := range dead.dls {
		if d.Status != 400 || string(d.Doc.Original) != "line "+strconv.FormatInt(d.Doc.Pos.Offset, 10) {
			t.Errorf("dead letter %+v lacks its original line or status", d)
		}
	}
	if st := p.Stats(); st.DeadLettered != 10 || st.Indexed != 90 {
		t.Errorf("stats %+v", st)
	}
}

func TestRunPausesWhileSinkIsDownAndResumes(t *testing.T) {
	src, sink, dead := newMemSource(2000, 10), newMemSink(), &memDead{}
	var mu sync.Mutex
	down := true
	sink.down = func(int) error {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return errors.New("connection refused")
		}
		return nil
	}
	cfg := quietConfig()
	cfg.MaxInFlightBytes = 200 // about 20 messages
	p, err := New(cfg, src, newProc, sink, dead)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(200 * time.Millisecond)
	src.mu.Lock()
	read, acked := src.next, len(src.acked)
	src.mu.Unlock()
	// Bounded: at most the in-flight bound plus one batch per worker.
	if read > 20+10*cfg.Workers+10 || acked != 0 {
		t.Fatalf("while down: read %d messages, acked %d; want reading paused and nothing acked", read, acked)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for !src.allAcked(2000)() {
		if time.Now().After(deadline) {
			t.Fatalf("not resumed: %+v", p.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(sink.stored) != 2000 {
		t.Fatalf("stored %d, want 2000", len(sink.stored))
	}
}

func TestRunShutdownDeadlineNacksWhatCannotBeWritten(t *testing.T) {
	src, sink, dead := newMemSource(50, 5), newMemSink(), &memDead{}
	sink.down = func(int) error { return errors.New("503 service unavailable") }
	cfg := quietConfig()
	cfg.ShutdownTimeout = 100 * time.Millisecond
	p, err := New(cfg, src, newProc, sink, dead)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the shutdown deadline")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("shutdown took %s", el)
	}
	if len(src.acked) != 0 {
		t.Errorf("%d offsets acked although nothing was written", len(src.acked))
	}
	if len(src.nacked) == 0 {
		t.Error("no batch was nacked")
	}
	if !src.closed {
		t.Error("source not closed")
	}
}

func TestRunDrainsInFlightOnShutdown(t *testing.T) {
	src, sink, dead := newMemSource(100, 10), newMemSink(), &memDead{}
	var mu sync.Mutex
	slow := 0
	sink.down = func(int) error {
		mu.Lock()
		defer mu.Unlock()
		slow++
		time.Sleep(20 * time.Millisecond)
		return nil
	}
	src.blockAt = 40
	p, err := New(quietConfig(), src, newProc, sink, dead)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for {
		src.mu.Lock()
		n := src.next
		src.mu.Unlock()
		if n >= 40 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel() // while batches are still being written
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(src.acked) != 40 || len(src.nacked) != 0 || len(sink.stored) != 40 {
		t.Fatalf("acked %d nacked %d stored %d; want all 40 read messages written and acked", len(src.acked), len(src.nacked), len(sink.stored))
	}
}

type failingProc struct{}

func (failingProc) Process(Message, []Doc) ([]Doc, error) { return nil, fmt.Errorf("broken") }

func TestRunStopsOnProcessorFailure(t *testing.T) {
	src, sink, dead := newMemSource(10, 5), newMemSink(), &memDead{}
	p, err := New(quietConfig(), src, func() (Processor, error) { return failingProc{}, nil }, sink, dead)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Run(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("Run = %v (ctx %v), want the processor error before the timeout", err, ctx.Err())
	}
	if len(src.acked) != 0 {
		t.Error("acked after a processor failure")
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	p := &Pipeline{cfg: Config{RetryInitial: 100 * time.Millisecond, RetryMax: time.Second}}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 10: time.Second} {
		for i := 0; i < 50; i++ {
			d := p.backoff(n)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s]", n, d, want/2, want)
			}
		}
	}
}

// TestDocIDIsStable: the id of a position does not change between
// versions without a CHANGELOG note (re-delivered data would be indexed
// twice); the value is computed independently in TestDocID's way.
func TestDocIDIsStable(t *testing.T) {
	if got := DocID(Position{Topic: "exim-logs", Partition: 3, Offset: 12345}, 2); got != "u-x7lgADAAAAADA5AAI" {
		t.Fatalf("DocID = %q", got)
	}
}

// TestAppendDocID: AppendDocID appends exactly DocID after what b holds.
func TestAppendDocID(t *testing.T) {
	for _, c := range []struct {
		pos   Position
		entry int
	}{
		{Position{Topic: "exim", Partition: 0, Offset: 0}, 0},
		{Position{Topic: "file:/var/log/exim4/mainlog", Partition: 12, Offset: 9876543210}, 7},
		{Position{Topic: "", Partition: -1, Offset: -5}, 123},
	} {
		if got, want := string(AppendDocID([]byte("prefix:"), c.pos, c.entry)), "prefix:"+DocID(c.pos, c.entry); got != want {
			t.Errorf("AppendDocID %q, want %q", got, want)
		}
	}
}

// slowCloseSource blocks in Close until its context ends, like a consumer
// group leave that hangs.
type slowCloseSource struct{ *memSource }

func (s slowCloseSource) Close(ctx context.Context) error {
	<-ctx.Done()
	return s.memSource.Close(ctx)
}

func TestRunShutdownFitsOneDeadline(t *testing.T) {
	src, sink, dead := newMemSource(50, 5), newMemSink(), &memDead{}
	sink.down = func(int) error { return errors.New("503 service unavailable") }
	cfg := quietConfig()
	cfg.ShutdownTimeout = time.Second
	p, err := New(cfg, slowCloseSource{src}, newProc, sink, dead)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	cancel()
	<-done
	// Drain (1s, the sink never recovers) and close (hangs) share one
	// deadline: 1s, plus a tenth for the close, not 2s.
	if el := time.Since(start); el > 1800*time.Millisecond {
		t.Errorf("shutdown took %s with ShutdownTimeout 1s", el)
	}
	if !src.closed {
		t.Error("source not closed")
	}
}
