package shipper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures Run.
type Config struct {
	// Workers is the number of batches processed and written concurrently.
	// Default: 4.
	Workers int
	// PartitionOrder makes every message of one partition (topic and
	// partition) go to the same worker, in the order it was read, so that
	// a processor may keep state per partition (SMTP sessions). A batch
	// spanning partitions is split into one part per partition; it is
	// acknowledged once every part is written (or given back when one part
	// could not be). Parallelism is then at most the number of partitions.
	// Default: false (any worker takes any batch).
	PartitionOrder bool
	// MaxInFlightBytes bounds the input bytes of batches read but not yet
	// acknowledged. Reading pauses above it (a single batch larger than the
	// bound is still let through alone). Default: 64 MiB.
	MaxInFlightBytes int64
	// RetryInitial is the first retry delay of a failed write. Default: 250ms.
	RetryInitial time.Duration
	// RetryMax caps the exponential retry delay. Default: 30s.
	RetryMax time.Duration
	// ShutdownTimeout bounds the whole shutdown after the run context is
	// cancelled: in-flight batches are written, then the source commits and
	// closes, all within it (closing gets at least a tenth of it more when
	// the writes used it all up). Default: 30s.
	ShutdownTimeout time.Duration
	// ProgressInterval is the period of the progress log line and callback.
	// Default: 10s. Negative disables it.
	ProgressInterval time.Duration
	// OnProgress, if set, is called with a snapshot every ProgressInterval
	// and once at the end.
	OnProgress func(Stats)
	// Observer receives the pipeline's events (metrics). Default:
	// NopObserver.
	Observer Observer
	// AlarmInterval is how often, at most, the error log line about
	// refused writes (write blocks, missing privileges, credentials) is
	// repeated per cause while they last. Default: 1m.
	AlarmInterval time.Duration
	// Logger receives structured logs. Default: slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns c with every unset field set to its default.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.MaxInFlightBytes == 0 {
		c.MaxInFlightBytes = 64 << 20
	}
	if c.RetryInitial == 0 {
		c.RetryInitial = 250 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 30 * time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = 10 * time.Second
	}
	if c.Observer == nil {
		c.Observer = NopObserver{}
	}
	if c.AlarmInterval == 0 {
		c.AlarmInterval = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports configuration errors (after defaults are applied).
func (c Config) Validate() error {
	c.setDefaults()
	switch {
	case c.Workers < 1:
		return fmt.Errorf("workers must be >= 1, got %d", c.Workers)
	case c.MaxInFlightBytes < 1:
		return fmt.Errorf("max in-flight bytes must be >= 1, got %d", c.MaxInFlightBytes)
	case c.RetryInitial < 0 || c.RetryMax < c.RetryInitial:
		return fmt.Errorf("retry delays must satisfy 0 <= initial (%s) <= max (%s)", c.RetryInitial, c.RetryMax)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("shutdown timeout must be >= 0, got %s", c.ShutdownTimeout)
	}
	return nil
}

// Stats are the pipeline's counters since start.
type Stats struct {
	Messages     int64 // messages read from the source
	Bytes        int64 // their value bytes
	Docs         int64 // documents produced by the processor
	Indexed      int64 // documents the sink acknowledged (incl. 409 duplicates)
	Retried      int64 // document writes retried
	DeadLettered int64 // documents stored as dead letters
	Acked        int64 // batches acknowledged to the source
	Nacked       int64 // batches given back unacknowledged (shutdown)
	InFlight     int64 // input bytes read but not yet acknowledged
	Lag          int64 // source lag in messages, -1 when unknown
}

// Lagger is implemented by sources that know how far behind they are.
type Lagger interface {
	Lag() int64
}

// Pipeline moves messages from a Source through Processors to a Sink.
type Pipeline struct {
	cfg     Config
	src     Source
	newProc func() (Processor, error)
	sink    Sink
	dead    DeadLetterSink

	messages, bytes, docs, indexed, retried, deadLettered, acked, nacked atomic.Int64
	inflight                                                             atomic.Int64
	draining                                                             atomic.Bool

	alarmMu   sync.Mutex
	lastAlarm map[string]time.Time // refusal cause -> last error log
}

// New returns a pipeline. newProc is called once per worker (processors
// need not be safe for concurrent use). dead receives documents the sink
// rejects for good; it is required, so that nothing is ever dropped.
func New(cfg Config, src Source, newProc func() (Processor, error), sink Sink, dead DeadLetterSink) (*Pipeline, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline config: %w", err)
	}
	if src == nil || newProc == nil || sink == nil || dead == nil {
		return nil, errors.New("pipeline needs a source, a processor, a sink and a dead-letter sink")
	}
	return &Pipeline{cfg: cfg, src: src, newProc: newProc, sink: sink, dead: dead, lastAlarm: map[string]time.Time{}}, nil
}

// Draining reports whether Run is shutting down (its context ended): no
// more input is read, in-flight batches are being finished.
func (p *Pipeline) Draining() bool { return p.draining.Load() }

// Stats returns a snapshot of the counters.
func (p *Pipeline) Stats() Stats {
	s := Stats{
		Messages:     p.messages.Load(),
		Bytes:        p.bytes.Load(),
		Docs:         p.docs.Load(),
		Indexed:      p.indexed.Load(),
		Retried:      p.retried.Load(),
		DeadLettered: p.deadLettered.Load(),
		Acked:        p.acked.Load(),
		Nacked:       p.nacked.Load(),
		InFlight:     p.inflight.Load(),
		Lag:          -1,
	}
	if l, ok := p.src.(Lagger); ok {
		s.Lag = l.Lag()
	}
	return s
}

type job struct {
	msgs  []Message
	ack   AckFunc
	bytes int64
	// part: one partition's part of a split batch; its ack counts the
	// batch once all parts reported (splitAck)
	part bool
}

// Run reads until ctx is cancelled or the source fails. On cancellation it
// stops reading, lets in-flight batches finish within ShutdownTimeout, and
// closes the source (which commits what was acknowledged). It returns nil
// after a clean shutdown.
func (p *Pipeline) Run(ctx context.Context) error {
	log := p.cfg.Logger
	// writeCtx outlives ctx by ShutdownTimeout so in-flight work can drain.
	writeCtx, cancelWrite := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWrite()
	// stopAt is when ctx ended: the whole shutdown (drain, final commit,
	// close) must fit in ShutdownTimeout from then.
	var stopAt atomic.Int64
	stopDrain := context.AfterFunc(ctx, func() {
		p.draining.Store(true)
		stopAt.Store(time.Now().UnixNano())
		t := time.AfterFunc(p.cfg.ShutdownTimeout, cancelWrite)
		context.AfterFunc(writeCtx, func() { t.Stop() })
	})
	defer stopDrain()

	procs := make([]Processor, p.cfg.Workers)
	for i := range procs {
		pr, err := p.newProc()
		if err != nil {
			return fmt.Errorf("create processor: %w", err)
		}
		procs[i] = pr
	}

	// jobs feeds every worker; with PartitionOrder each worker has a queue
	// of its own (queues) and a partition always goes to the same one.
	jobs := make(chan job)
	var queues []chan job
	if p.cfg.PartitionOrder {
		queues = make([]chan job, len(procs))
		for i := range queues {
			queues[i] = make(chan job, 1)
		}
	}
	// room is signalled whenever in-flight bytes drop.
	room := make(chan struct{}, 1)
	var fatal atomic.Value // error from a worker that cannot go on
	workersCtx, stopWorkers := context.WithCancel(writeCtx)
	defer stopWorkers()
	// readCtx ends reading on shutdown and when a worker fails for good.
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()

	var wg sync.WaitGroup
	for i, pr := range procs {
		in := jobs
		if queues != nil {
			in = queues[i]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var docs []Doc
			for j := range in {
				var err error
				docs, err = p.handle(workersCtx, pr, j, docs[:0])
				p.inflight.Add(-j.bytes)
				select {
				case room <- struct{}{}:
				default:
				}
				if err != nil {
					fatal.CompareAndSwap(nil, err)
					stopReading()
					stopWorkers()
				}
			}
		}()
	}

	progressDone := make(chan struct{})
	if p.cfg.ProgressInterval > 0 {
		go p.progress(ctx, progressDone)
	} else {
		close(progressDone)
	}

	send := func(j job) bool { return p.sendTo(workersCtx, jobs, j) }
	if queues != nil {
		send = func(j job) bool { return p.dispatch(workersCtx, queues, j) }
	}
	readErr := p.readLoop(readCtx, workersCtx, send, room)
	close(jobs)
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	<-progressDone

	closeBy := time.Now().Add(p.cfg.ShutdownTimeout)
	if at := stopAt.Load(); at != 0 {
		// What is left of the shutdown deadline, but at least a moment for
		// the final commit (an uncommitted batch is only re-delivered).
		closeBy = time.Unix(0, at).Add(p.cfg.ShutdownTimeout)
		closeBy = later(closeBy, time.Now().Add(p.cfg.ShutdownTimeout/10))
	}
	closeCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), closeBy)
	defer cancel()
	closeErr := p.src.Close(closeCtx)
	if err := p.sink.Close(closeCtx); err != nil && closeErr == nil {
		closeErr = err
	}
	st := p.Stats()
	if p.cfg.OnProgress != nil {
		p.cfg.OnProgress(st)
	}
	log.Info("pipeline stopped", statsAttrs(st)...)

	if err, _ := fatal.Load().(error); err != nil {
		return err
	}
	if readErr != nil {
		return readErr
	}
	if closeErr != nil {
		return fmt.Errorf("close: %w", closeErr)
	}
	return nil
}

func (p *Pipeline) readLoop(ctx, workersCtx context.Context, send func(job) bool, room <-chan struct{}) error {
	for {
		// Backpressure: wait while too many bytes are in flight.
		for p.inflight.Load() >= p.cfg.MaxInFlightBytes {
			select {
			case <-room:
			case <-ctx.Done():
				return nil
			case <-workersCtx.Done():
				return nil
			}
		}
		msgs, ack, err := p.src.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read: %w", err)
		}
		if len(msgs) == 0 {
			continue
		}
		n := valueBytes(msgs)
		p.messages.Add(int64(len(msgs)))
		p.bytes.Add(n)
		p.cfg.Observer.Consumed(len(msgs), n)
		p.inflight.Add(n)
		if !send(job{msgs: msgs, ack: ack, bytes: n}) {
			// A worker failed or the drain deadline passed: the batch (or
			// what dispatch could not hand over) was given back.
			return nil
		}
	}
}

// dispatch splits j by partition and hands each part, in order, to the
// worker queue of its partition (PartitionOrder). When workersCtx ends
// first, the parts not handed over are given back; j's ack then reports
// the failure once the parts already handed over are done too.
func (p *Pipeline) dispatch(workersCtx context.Context, queues []chan job, j job) bool {
	parts := splitByPartition(j.msgs)
	if len(parts) == 1 {
		return p.sendTo(workersCtx, queues[worker(parts[0][0].Position, len(queues))], j)
	}
	sa := &splitAck{p: p, ack: j.ack, left: len(parts)}
	for i, msgs := range parts {
		part := job{msgs: msgs, ack: sa.report, bytes: valueBytes(msgs), part: true}
		if !p.sendTo(workersCtx, queues[worker(msgs[0].Position, len(queues))], part) {
			for _, rest := range parts[i+1:] {
				p.inflight.Add(-valueBytes(rest))
				p.nack(job{ack: sa.report, part: true}, workersCtx.Err())
			}
			return false
		}
	}
	return true
}

// valueBytes is the size of the messages' values (what in-flight bytes
// count).
func valueBytes(msgs []Message) int64 {
	var n int64
	for i := range msgs {
		n += int64(len(msgs[i].Value))
	}
	return n
}

// sendTo hands j to the worker queue q, or gives it back (nack) and
// returns false when workersCtx ended first.
func (p *Pipeline) sendTo(workersCtx context.Context, q chan<- job, j job) bool {
	select {
	case q <- j:
		return true
	case <-workersCtx.Done():
		p.inflight.Add(-j.bytes)
		p.nack(j, workersCtx.Err())
		return false
	}
}

// splitByPartition returns the messages of each partition of msgs, in the
// order of their first appearance, each in read order. A batch of one
// partition is returned as it is.
func splitByPartition(msgs []Message) [][]Message {
	first := msgs[0].Position
	one := true
	for i := range msgs {
		if msgs[i].Partition != first.Partition || msgs[i].Topic != first.Topic {
			one = false
			break
		}
	}
	if one {
		return [][]Message{msgs}
	}
	var parts [][]Message
	idx := map[partitionKey]int{}
	for _, m := range msgs {
		k := partitionKey{m.Topic, m.Partition}
		i, ok := idx[k]
		if !ok {
			i = len(parts)
			idx[k] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], m)
	}
	return parts
}

type partitionKey struct {
	topic     string
	partition int
}

// worker returns the worker that processes partition pos (FNV-1a of topic
// and partition, modulo n).
func worker(pos Position, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(pos.Topic); i++ {
		h = (h ^ uint32(pos.Topic[i])) * 16777619
	}
	for v, i := uint32(pos.Partition), 0; i < 4; i++ {
		h = (h ^ v&0xff) * 16777619
		v >>= 8
	}
	return int(h % uint32(n))
}

// splitAck acknowledges a batch split by partition once all of its parts
// reported: positively when every part was written, otherwise with the
// first error (the whole batch is then delivered again later).
type splitAck struct {
	p    *Pipeline
	ack  AckFunc
	mu   sync.Mutex
	left int
	err  error
}

func (s *splitAck) report(ctx context.Context, err error) error {
	s.mu.Lock()
	if err != nil && s.err == nil {
		s.err = err
	}
	s.left--
	done, first := s.left == 0, s.err
	s.mu.Unlock()
	if !done {
		return nil
	}
	if first != nil {
		s.p.nacked.Add(1)
		return s.ack(context.Background(), first)
	}
	s.p.acked.Add(1)
	return s.ack(ctx, nil)
}

// handle processes, writes and acknowledges one batch. It returns an error
// only when the pipeline cannot go on (the processor failed).
func (p *Pipeline) handle(ctx context.Context, pr Processor, j job, docs []Doc) ([]Doc, error) {
	var err error
	for _, m := range j.msgs {
		docs, err = pr.Process(m, docs)
		if err != nil {
			p.nack(j, err)
			return docs, fmt.Errorf("process %s: %w", m.Position, err)
		}
	}
	p.docs.Add(int64(len(docs)))
	p.cfg.Observer.Processed(docs)
	if err := p.write(ctx, docs); err != nil {
		p.nack(j, err)
		return docs, nil // shutdown deadline: not fatal, the batch is re-delivered later
	}
	if err := j.ack(ctx, nil); err != nil {
		p.cfg.Logger.Warn("acknowledge batch", "error", err)
	}
	if !j.part {
		p.acked.Add(1)
	}
	return docs, nil
}

// nack gives j back: none of its messages may be committed.
func (p *Pipeline) nack(j job, cause error) {
	if !j.part {
		p.nacked.Add(1)
	}
	if err := j.ack(context.Background(), cause); err != nil {
		p.cfg.Logger.Warn("negative acknowledge", "error", err)
	}
}

// write writes docs until every one is indexed or dead-lettered, retrying
// with exponential backoff and jitter. It fails only when ctx is done.
func (p *Pipeline) write(ctx context.Context, docs []Doc) error {
	pending := docs
	// causes counts the documents of pending by the cause of their last
	// failure, reported to the observer when they are written again.
	causes := map[string]int{}
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			p.retried.Add(int64(len(pending)))
			for c, n := range causes {
				p.cfg.Observer.Retried(n, c)
			}
			clear(causes)
			if err := Sleep(ctx, p.backoff(attempt)); err != nil {
				return fmt.Errorf("write abandoned with %d documents pending: %w", len(pending), err)
			}
		}
		err := p.sink.WriteBatch(ctx, pending)
		if err == nil {
			p.indexed.Add(int64(len(pending)))
			p.cfg.Observer.Indexed(len(pending))
			return nil
		}
		var be *BatchError
		if !errors.As(err, &be) {
			if ctx.Err() != nil {
				return fmt.Errorf("write abandoned with %d documents pending: %w", len(pending), ctx.Err())
			}
			cause := CauseUnavailable
			var rc RetryCauser
			if errors.As(err, &rc) {
				cause = rc.RetryCause()
			}
			causes[cause] += len(pending)
			p.cfg.Logger.Warn("bulk write failed, retrying", "docs", len(pending), "attempt", attempt+1, "cause", cause, "error", err)
			p.alarm(cause, len(pending), err.Error())
			continue
		}
		var retry []Doc
		var dead []DeadLetter
		var first *ItemError
		for i := range be.Items {
			it := &be.Items[i]
			if it.Index < 0 || it.Index >= len(pending) {
				return fmt.Errorf("sink reported item %d of a batch of %d", it.Index, len(pending))
			}
			if it.Retry {
				retry = append(retry, pending[it.Index])
				cause := it.Cause
				if cause == "" {
					cause = CauseOther
				}
				causes[cause]++
				if first == nil {
					first = it
				}
			} else {
				dead = append(dead, DeadLetter{Doc: pending[it.Index], Status: it.Status, Reason: it.Reason})
			}
		}
		ok := len(pending) - len(be.Items)
		p.indexed.Add(int64(ok))
		p.cfg.Observer.Indexed(ok)
		if len(dead) > 0 {
			if err := p.deadLetter(ctx, dead); err != nil {
				return err
			}
		}
		if len(retry) > 0 {
			p.cfg.Logger.Warn("bulk items failed, retrying", "retry", len(retry), "attempt", attempt+1,
				"first_status", first.Status, "first_cause", first.Cause, "first_reason", first.Reason)
			for c, n := range causes {
				p.alarm(c, n, firstReason(be, c))
			}
		}
		pending = retry
	}
	return nil
}

func firstReason(be *BatchError, cause string) string {
	for _, it := range be.Items {
		if it.Retry && it.Cause == cause {
			return it.Reason
		}
	}
	return ""
}

// alarm logs an error for writes that Elasticsearch refuses until an
// operator acts (Refusal causes), at most once per AlarmInterval per cause.
// The documents are not lost: they are retried until the refusal ends.
func (p *Pipeline) alarm(cause string, docs int, reason string) {
	if !Refusal(cause) {
		return
	}
	now := time.Now()
	p.alarmMu.Lock()
	last, seen := p.lastAlarm[cause]
	due := !seen || now.Sub(last) >= p.cfg.AlarmInterval
	if due {
		p.lastAlarm[cause] = now
	}
	p.alarmMu.Unlock()
	if !due {
		return
	}
	what := map[string]string{
		CauseBlocked:      "a write block on the index (lift it: PUT <index>/_settings {\"index.blocks.write\": null}; or free disk space for a read-only-allow-delete block)",
		CauseForbidden:    "a missing privilege (grant the role of docs/SECURITY.md to eximship's user)",
		CauseUnauthorized: "refused credentials (check elasticsearch.username/password or api_key)",
	}[cause]
	p.cfg.Logger.Error("Elasticsearch refuses writes: documents are kept and retried until an operator fixes the cause",
		"cause", cause, "fix", what, "docs", docs, "reason", reason)
}

func (p *Pipeline) deadLetter(ctx context.Context, dls []DeadLetter) error {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := Sleep(ctx, p.backoff(attempt)); err != nil {
				return fmt.Errorf("dead letters abandoned (%d): %w", len(dls), err)
			}
		}
		err := p.dead.WriteDeadLetters(ctx, dls)
		if err == nil {
			p.deadLettered.Add(int64(len(dls)))
			p.cfg.Observer.DeadLettered(dls)
			for _, d := range dls {
				p.cfg.Logger.Warn("document dead-lettered", "id", d.Doc.ID, "status", d.Status, "reason", d.Reason)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("dead letters abandoned (%d): %w", len(dls), ctx.Err())
		}
		p.cfg.Logger.Error("dead-letter write failed, retrying", "count", len(dls), "attempt", attempt+1, "error", err)
	}
}

// backoff returns the delay before retry attempt n (n >= 1): exponential
// from RetryInitial, capped at RetryMax, with full jitter in [d/2, d].
func (p *Pipeline) backoff(n int) time.Duration {
	d := p.cfg.RetryInitial
	for i := 1; i < n && d < p.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, p.cfg.RetryMax)
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Sleep waits d, or until ctx is done (then it returns ctx.Err()).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Pipeline) progress(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(p.cfg.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st := p.Stats()
			p.cfg.Logger.Info("progress", statsAttrs(st)...)
			if p.cfg.OnProgress != nil {
				p.cfg.OnProgress(st)
			}
		}
	}
}

func statsAttrs(s Stats) []any {
	return []any{
		"consumed", s.Messages, "bytes", s.Bytes, "docs", s.Docs, "indexed", s.Indexed,
		"retried", s.Retried, "dead_lettered", s.DeadLettered, "acked_batches", s.Acked,
		"nacked_batches", s.Nacked, "in_flight_bytes", s.InFlight, "lag", s.Lag,
	}
}
