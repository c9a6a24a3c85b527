package shipper

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingObserver records every event.
type countingObserver struct {
	mu                           sync.Mutex
	consumed, processed, indexed int
	bytes                        int64
	retried                      map[string]int
	dead                         int
	actions                      map[string]int
}

func newCountingObserver() *countingObserver {
	return &countingObserver{retried: map[string]int{}, actions: map[string]int{}}
}

func (o *countingObserver) Consumed(n int, b int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.consumed += n
	o.bytes += b
}

func (o *countingObserver) Processed(docs []Doc) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.processed += len(docs)
	for _, d := range docs {
		o.actions[d.Action]++
	}
}

func (o *countingObserver) Indexed(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.indexed += n
}

func (o *countingObserver) Retried(n int, cause string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retried[cause] += n
}

func (o *countingObserver) DeadLettered(dls []DeadLetter) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dead += len(dls)
}

// refusingSink refuses every document with refuse's cause until released,
// then stores everything; a document whose value is "bad" is a 400.
type refusingSink struct {
	mu       sync.Mutex
	refusing bool
	cause    string
	whole    bool // refuse the whole request (a RetryCauser error) instead of items
	attempts int
	stored   map[string]int
}

type causeErr string

func (e causeErr) Error() string      { return "request refused: " + string(e) }
func (e causeErr) RetryCause() string { return string(e) }

func (s *refusingSink) WriteBatch(_ context.Context, docs []Doc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if s.refusing && s.whole {
		return causeErr(s.cause)
	}
	var be BatchError
	for i, d := range docs {
		switch {
		case bytes.Contains(d.Body, []byte(`"bad"`)):
			be.Items = append(be.Items, ItemError{Index: i, Status: 400, Reason: "document_parsing_exception: bad"})
		case s.refusing:
			be.Items = append(be.Items, ItemError{Index: i, Status: 403, Reason: "cluster_block_exception: index [x] blocked by: [FORBIDDEN/8/index write (api)];", Retry: true, Cause: s.cause})
		default:
			s.stored[d.ID]++
		}
	}
	if len(be.Items) > 0 {
		return &be
	}
	return nil
}

func (s *refusingSink) Close(context.Context) error { return nil }

func (s *refusingSink) release() {
	s.mu.Lock()
	s.refusing = false
	s.mu.Unlock()
}

func (s *refusingSink) attemptCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRefusedWritesAreRetriedAndAlarmed: while Elasticsearch refuses
// writes (a write block, a missing privilege), nothing is dead-lettered or
// acknowledged; the refusal is logged as an error once per AlarmInterval
// and counted by cause; once lifted, everything is indexed exactly once.
func TestRefusedWritesAreRetriedAndAlarmed(t *testing.T) {
	for _, whole := range []bool{false, true} {
		name := "items"
		if whole {
			name = "whole-request"
		}
		t.Run(name, func(t *testing.T) {
			const n = 200
			src := newMemSource(n, 10)
			src.msgs[5].Value = []byte("bad")
			sink := &refusingSink{refusing: true, cause: CauseBlocked, whole: whole, stored: map[string]int{}}
			dead := &memDead{}
			obs := newCountingObserver()
			var logs lockedBuf
			cfg := quietConfig()
			cfg.Observer = obs
			cfg.AlarmInterval = time.Hour
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			p, err := New(cfg, src, newProc, sink, dead)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			for sink.attemptCount() < 30 {
				time.Sleep(time.Millisecond)
			}
			src.mu.Lock()
			acked := len(src.acked)
			src.mu.Unlock()
			dead.mu.Lock()
			deadNow := len(dead.dls)
			dead.mu.Unlock()
			wantDead := 0
			if !whole {
				wantDead = 1 // the 400 is the document's fault: it goes, the batch waits for the rest
			}
			if acked != 0 || deadNow != wantDead {
				t.Errorf("while refused: %d messages acknowledged, %d dead letters; want 0 and %d", acked, deadNow, wantDead)
			}
			if c := strings.Count(logs.String(), "Elasticsearch refuses writes"); c != 1 {
				t.Errorf("%d alarm lines while refused, want 1 (AlarmInterval 1h):\n%s", c, logs.String())
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "cause=blocked") {
				t.Errorf("alarm line is not an error naming the cause:\n%s", logs.String())
			}
			sink.release()
			for !src.allAcked(n)() {
				select {
				case err := <-done:
					t.Fatalf("run ended: %v", err)
				default:
				}
				time.Sleep(time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if len(sink.stored) != n-1 || len(dead.dls) != 1 || dead.dls[0].Status != 400 {
				t.Fatalf("stored %d, dead letters %+v", len(sink.stored), dead.dls)
			}
			for id, c := range sink.stored {
				if c != 1 {
					t.Errorf("%s stored %d times", id, c)
				}
			}
			obs.mu.Lock()
			defer obs.mu.Unlock()
			st := p.Stats()
			if obs.consumed != n || obs.processed != n || obs.indexed != n-1 || obs.dead != 1 || obs.bytes != st.Bytes {
				t.Errorf("observer consumed %d (%d bytes) processed %d indexed %d dead %d; stats %+v", obs.consumed, obs.bytes, obs.processed, obs.indexed, obs.dead, st)
			}
			if obs.retried[CauseBlocked] == 0 || int64(obs.retried[CauseBlocked]) != st.Retried {
				t.Errorf("retries by cause %v, stats retried %d", obs.retried, st.Retried)
			}
		})
	}
}

func TestAlarmRepeatsAfterInterval(t *testing.T) {
	var logs lockedBuf
	p := &Pipeline{cfg: Config{AlarmInterval: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, lastAlarm: map[string]time.Time{}}
	p.alarm(CauseForbidden, 3, "security_exception: unauthorized")
	p.alarm(CauseForbidden, 3, "again")
	p.alarm(CauseRejected, 3, "429s are not an alarm")
	p.alarm(CauseUnauthorized, 3, "401")
	time.Sleep(25 * time.Millisecond)
	p.alarm(CauseForbidden, 3, "later")
	out := logs.String()
	if strings.Count(out, "cause=forbidden") != 2 || strings.Count(out, "cause=unauthorized") != 1 || strings.Contains(out, "cause=rejected") {
		t.Errorf("alarm lines:\n%s", out)
	}
	if !strings.Contains(out, "docs/SECURITY.md") {
		t.Errorf("the forbidden alarm does not say what to do:\n%s", out)
	}
}
