package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper"
)

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("kafka: source closed")

var errDoubleAck = errors.New("kafka: batch acknowledged twice")

// Source is a consumer-group shipper.Source. Read is not safe for concurrent
// use (one reading goroutine); AckFuncs, Stats, Lag and Close are.
//
// Commits: a background loop commits every CommitInterval, per partition, the
// offset after the highest contiguously acknowledged one (one CommitMessages
// call for all partitions that advanced), and Close commits a last time. A
// commit that fails is logged and retried on the next tick. kafka-go's own
// CommitInterval stays 0 so that commit errors reach this code.
//
// A batch acknowledged with an error blocks the commit of its partitions in
// this process for good (until the partition is re-assigned at an earlier
// offset): those records are delivered again after a restart. The pipeline
// retries writes forever, so that only happens at shutdown.
//
// After a rebalance, this process may still acknowledge records of a
// partition it no longer owns (batches in flight, and kafka-go hands out
// messages queued before the rebalance, #1398). Before each commit the
// group's committed offsets are fetched and partitions where the group is
// already at or past ours are not committed, so a leftover does not move the
// new owner's offset back. A race remains (the owner commits between the
// fetch and our commit); the regressed offset is still truthful (every
// record below it is durable), it only causes re-delivery after a restart,
// which the position-derived document ids make harmless.
type Source struct {
	cfg    Config
	log    *slog.Logger
	reader *kafkago.Reader
	client *kafkago.Client // for the group's committed offsets
	transp *kafkago.Transport

	mu           sync.Mutex
	tr           *tracker
	unacked      int
	unackedBytes int64
	closed       bool
	gen          uint64 // bumped when kafka-go reports a rebalance
	st           counters
	room         chan struct{} // signalled (non-blocking) on every ack

	commitMu sync.Mutex // one commit at a time (loop and Close)
	pendBuf  []commitOffset
	msgBuf   []kafkago.Message

	segs []batchSeg // Read's scratch

	stopLoop context.CancelFunc
	loopDone chan struct{}
	closing  atomic.Bool

	// group lag (lag.go), under mu
	lags    []PartitionLag
	lagAt   time.Time
	lagErr  error
	lagDone chan struct{}
}

type counters struct {
	fetched, fetchedBytes   int64
	acked, nacked, stale    int64
	commits, commitErrors   int64
	commitsSkipped          int64
	rebalances, readerErrs  int64
	timeouts, fetchRequests int64
}

// batchSeg is a run of consecutively fetched offsets of one partition inside
// a batch.
type batchSeg struct {
	topic       string
	partition   int
	first, last int64
	hwm         int64
}

// New creates a Source and starts its consumer group member and commit loop.
// It does not wait for the group to be joined.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	dialer, err := cfg.dialer()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "kafka", "group", cfg.GroupID)
	rc := kafkago.ReaderConfig{
		Brokers:           cfg.Brokers,
		GroupID:           cfg.GroupID,
		GroupTopics:       cfg.Topics,
		Dialer:            dialer,
		QueueCapacity:     cfg.QueueCapacity,
		MinBytes:          cfg.MinBytes,
		MaxBytes:          cfg.MaxBytes,
		MaxWait:           cfg.MaxWait,
		HeartbeatInterval: cfg.HeartbeatInterval,
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.RebalanceTimeout,
		// 0: every CommitMessages is one synchronous commit whose error
		// we see. The batching is ours (commitLoop).
		CommitInterval: 0,
		StartOffset:    cfg.startOffset(),
		ErrorLogger: kafkago.LoggerFunc(func(format string, args ...any) {
			log.Warn("kafka-go: " + fmt.Sprintf(format, args...))
		}),
	}
	if log.Enabled(context.Background(), slog.LevelDebug) {
		rc.Logger = kafkago.LoggerFunc(func(format string, args ...any) {
			log.Debug("kafka-go: " + fmt.Sprintf(format, args...))
		})
	}
	transport, err := newTransport(cfg.ClientID, cfg.TLS, cfg.SASL)
	if err != nil {
		return nil, err
	}
	s := &Source{
		cfg:      cfg,
		log:      log,
		reader:   kafkago.NewReader(rc),
		client:   &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Timeout: cfg.CommitTimeout, Transport: transport},
		transp:   transport,
		tr:       newTracker(),
		room:     make(chan struct{}, 1),
		loopDone: make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopLoop = cancel
	go s.commitLoop(ctx)
	if cfg.LagInterval > 0 {
		s.lagDone = make(chan struct{})
		go s.lagLoop(ctx)
	}
	return s, nil
}

// Read returns the next batch: up to BatchSize messages and BatchBytes value
// bytes, waiting at most Linger after the first message. It blocks while
// MaxUnackedMessages or MaxUnackedBytes are reached, until acknowledgements
// free room. Transient fetch errors are logged and retried; Read fails only
// when ctx is done or the source is closed (ErrClosed). Messages already
// fetched are never dropped: if ctx ends while a batch is being filled, the
// partial batch is returned without error.
func (s *Source) Read(ctx context.Context) ([]shipper.Message, shipper.AckFunc, error) {
	maxMsgs, maxBytes, err := s.waitRoom(ctx)
	if err != nil {
		return nil, nil, err
	}
	// Rebalances seen before this batch is fetched make the partitions
	// fetched earlier stale for Lag until they are fetched again.
	s.pollReaderStats()
	m, err := s.fetchFirst(ctx)
	if err != nil {
		return nil, nil, err
	}

	batch := make([]shipper.Message, 0, min(maxMsgs, s.cfg.BatchSize))
	segs := s.segs[:0]
	var bytes int64
	cur := -1 // index in segs of the last message's segment
	lctx, cancel := context.WithTimeout(ctx, s.cfg.Linger)
	for {
		batch = append(batch, shipper.Message{
			Position: shipper.Position{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset},
			Key:      m.Key,
			Value:    m.Value,
			Time:     m.Time,
		})
		bytes += int64(len(m.Value))
		if cur < 0 || segs[cur].partition != m.Partition || segs[cur].topic != m.Topic {
			cur = -1
			for k := len(segs) - 1; k >= 0; k-- {
				if segs[k].partition == m.Partition && segs[k].topic == m.Topic {
					cur = k
					break
				}
			}
		}
		if cur >= 0 && m.Offset > segs[cur].last {
			segs[cur].last = m.Offset
			segs[cur].hwm = m.HighWaterMark
		} else {
			// New partition in this batch, or the offset went backwards
			// (rebalance): a new segment.
			segs = append(segs, batchSeg{topic: m.Topic, partition: m.Partition, first: m.Offset, last: m.Offset, hwm: m.HighWaterMark})
			cur = len(segs) - 1
		}
		if len(batch) >= maxMsgs || bytes >= maxBytes {
			break
		}
		m, err = s.reader.FetchMessage(lctx)
		if err != nil {
			if lctx.Err() == nil && !errors.Is(err, io.EOF) {
				s.log.Warn("kafka fetch failed; returning the partial batch", "error", err)
			}
			break
		}
	}
	cancel()

	refs := make([]segRef, len(segs))
	s.mu.Lock()
	for i, sg := range segs {
		refs[i] = s.tr.fetched(sg.topic, sg.partition, sg.first, sg.last, sg.hwm)
		refs[i].p.gen = s.gen
	}
	s.unacked += len(batch)
	s.unackedBytes += bytes
	s.st.fetched += int64(len(batch))
	s.st.fetchedBytes += bytes
	s.mu.Unlock()
	s.segs = segs[:0]

	n := len(batch)
	var once atomic.Bool
	ack := func(_ context.Context, err error) error {
		if !once.CompareAndSwap(false, true) {
			return errDoubleAck
		}
		s.ack(refs, n, bytes, err)
		return nil
	}
	return batch, ack, nil
}

// waitRoom blocks while the unacknowledged bounds are reached and returns how
// many messages and bytes the next batch may hold. It cannot deadlock: the
// bounds are reached only while batches are unacknowledged, and every
// acknowledgement signals room.
func (s *Source) waitRoom(ctx context.Context) (int, int64, error) {
	for {
		s.mu.Lock()
		closed := s.closed
		msgs := min(s.cfg.BatchSize, s.cfg.MaxUnackedMessages-s.unacked)
		bytes := min(int64(s.cfg.BatchBytes), s.cfg.MaxUnackedBytes-s.unackedBytes)
		s.mu.Unlock()
		if closed {
			return 0, 0, ErrClosed
		}
		if msgs > 0 && bytes > 0 {
			return msgs, bytes, nil
		}
		select {
		case <-s.room:
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
}

// fetchFirst waits for one message, retrying transient errors with backoff.
func (s *Source) fetchFirst(ctx context.Context) (kafkago.Message, error) {
	for attempt := 0; ; attempt++ {
		m, err := s.reader.FetchMessage(ctx)
		if err == nil {
			return m, nil
		}
		if ctx.Err() != nil {
			return m, ctx.Err()
		}
		if errors.Is(err, io.EOF) || s.closing.Load() {
			return m, ErrClosed
		}
		s.mu.Lock()
		s.st.readerErrs++
		s.mu.Unlock()
		d := min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)
		s.log.Warn("kafka fetch failed; retrying", "error", err, "attempt", attempt+1, "backoff", d)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return m, ctx.Err()
		}
	}
}

func (s *Source) ack(refs []segRef, n int, bytes int64, err error) {
	ok := err == nil
	stale := 0
	s.mu.Lock()
	for _, r := range refs {
		if !s.tr.ack(r, ok) {
			stale++
		}
	}
	s.unacked -= n
	s.unackedBytes -= bytes
	if ok {
		s.st.acked += int64(n)
	} else {
		s.st.nacked += int64(n)
	}
	s.st.stale += int64(stale)
	s.mu.Unlock()
	select {
	case s.room <- struct{}{}:
	default:
	}
	if !ok {
		attrs := []any{"error", err, "messages", n}
		if len(refs) > 0 {
			attrs = append(attrs, "partitions", len(refs))
		}
		s.log.Warn("kafka batch failed: its partitions are not committed past it in this process; it is delivered again after a restart or rebalance", attrs...)
	}
}

func (s *Source) commitLoop(ctx context.Context) {
	defer close(s.loopDone)
	t := time.NewTicker(s.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, s.cfg.CommitTimeout)
		err := s.commit(cctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("kafka commit failed; retrying at the next tick", "error", err)
		}
	}
}

// Commit commits now what was contiguously acknowledged (the background loop
// does it every CommitInterval). It returns the commit error, if any; the
// offsets stay pending and are retried on the next call.
func (s *Source) Commit(ctx context.Context) error { return s.commit(ctx) }

func (s *Source) commit(ctx context.Context) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	pend := s.tr.pending(s.pendBuf[:0])
	s.mu.Unlock()
	s.pendBuf = pend
	if len(pend) == 0 {
		return nil
	}
	pend = s.dropBehindGroup(ctx, pend)
	if len(pend) == 0 {
		return nil
	}
	msgs := s.msgBuf[:0]
	for _, c := range pend {
		// kafka-go commits Offset+1.
		msgs = append(msgs, kafkago.Message{Topic: c.Topic, Partition: c.Partition, Offset: c.Offset - 1})
	}
	s.msgBuf = msgs
	err := s.reader.CommitMessages(ctx, msgs...)
	s.mu.Lock()
	if err != nil {
		s.st.commitErrors++
	} else {
		s.st.commits++
		s.tr.markCommitted(pend)
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("commit %d partitions: %w", len(pend), err)
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("kafka offsets committed", "partitions", len(pend))
	}
	return nil
}

// dropBehindGroup removes from pend the partitions whose committed offset in
// the group is already at or past ours, and records them as committed. After
// a rebalance this process may still acknowledge records of a partition now
// owned by another member; committing them could move the group's offset
// back below the new owner's. If the group's offsets cannot be fetched,
// pend is returned unchanged (such a commit is still truthful: every record
// below it is durable).
func (s *Source) dropBehindGroup(ctx context.Context, pend []commitOffset) []commitOffset {
	req := &kafkago.OffsetFetchRequest{GroupID: s.cfg.GroupID, Topics: map[string][]int{}}
	for _, c := range pend {
		req.Topics[c.Topic] = append(req.Topics[c.Topic], c.Partition)
	}
	resp, err := s.client.OffsetFetch(ctx, req)
	if err == nil && resp.Error != nil {
		err = resp.Error
	}
	if err != nil {
		s.log.Debug("kafka group offsets unavailable; committing without the check", "error", err)
		return pend
	}
	group := map[topicPartition]int64{}
	for topic, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error == nil {
				group[topicPartition{topic, p.Partition}] = p.CommittedOffset
			}
		}
	}
	keep := pend[:0]
	var behind []commitOffset
	for _, c := range pend {
		if g, ok := group[topicPartition{c.Topic, c.Partition}]; ok && g >= c.Offset {
			behind = append(behind, c)
			continue
		}
		keep = append(keep, c)
	}
	if len(behind) > 0 {
		s.mu.Lock()
		s.tr.markCommitted(behind)
		s.st.commitsSkipped += int64(len(behind))
		s.mu.Unlock()
		s.log.Debug("kafka commit skipped: the group is already past it", "partitions", len(behind))
	}
	return keep
}

// pollReaderStats folds kafka-go's reader statistics (which reset on every
// call) into the totals and notices rebalances. Only Read calls it, before
// fetching, so that a rebalance is ordered before the batch that follows it.
func (s *Source) pollReaderStats() {
	rs := s.reader.Stats()
	s.mu.Lock()
	s.st.rebalances += rs.Rebalances
	s.st.readerErrs += rs.Errors
	s.st.timeouts += rs.Timeouts
	s.st.fetchRequests += rs.Fetches
	if rs.Rebalances > 0 {
		s.gen++
	}
	s.mu.Unlock()
}

// Close stops the commit loop, commits what was acknowledged, and closes the
// kafka-go Reader (leaving the group). kafka-go's Reader.Close can hang
// (kafka-go #428, #1006), so it runs in its own goroutine and Close returns
// ctx's error when ctx ends first. Batches still unacknowledged are not
// committed; they are delivered again after a restart.
func (s *Source) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	unacked := s.unacked
	s.mu.Unlock()
	s.closing.Store(true)
	select {
	case s.room <- struct{}{}: // wake a Read blocked in waitRoom
	default:
	}

	s.stopLoop()
	<-s.loopDone
	if s.lagDone != nil {
		<-s.lagDone
	}
	var errs []error
	if err := s.commit(ctx); err != nil {
		errs = append(errs, fmt.Errorf("final commit: %w", err))
	}
	if s.lagDone != nil {
		// The lag of the final stats: measured after the final commit.
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if lags, err := s.measureLag(lctx); err == nil {
			s.mu.Lock()
			s.lags, s.lagAt = lags, time.Now()
			s.mu.Unlock()
		}
		cancel()
	}
	if unacked > 0 {
		s.log.Info("kafka source closing with unacknowledged messages; they will be delivered again", "unacked", unacked)
	}

	s.transp.CloseIdleConnections()

	done := make(chan error, 1)
	go func() { done <- s.reader.Close() }()
	select {
	case err := <-done:
		if err != nil {
			errs = append(errs, fmt.Errorf("close reader: %w", err))
		}
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("close reader: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}

// Stats is a snapshot of a Source's counters since it was created.
type Stats struct {
	Fetched      int64 // messages returned by Read
	FetchedBytes int64 // their value bytes
	Acked        int64 // messages acknowledged
	Nacked       int64 // messages acknowledged with an error
	StaleAcks    int64 // segments acknowledged after their partition restarted (rebalance)
	Unacked      int64 // messages returned and not yet acknowledged
	UnackedBytes int64
	Commits      int64 // successful commit round trips
	CommitErrors int64 // failed commit round trips (retried)
	// CommitsSkipped counts partition commits not sent because the group's
	// committed offset was already at or past them (rebalance leftovers).
	CommitsSkipped int64
	Rebalances     int64 // generations joined (and leader moves), from kafka-go
	Errors         int64 // fetch and group errors, from kafka-go and Read
	// Lag is the group's lag (see Lag), -1 when unknown.
	Lag        int64
	Partitions []PartitionStats
}

// PartitionStats is the state of one partition this Source fetched from.
type PartitionStats struct {
	Topic     string
	Partition int
	// Fetched is the offset after the last fetched message.
	Fetched int64
	// Acked is the commit point: every fetched offset below it is acknowledged.
	Acked int64
	// Committed is the last offset committed by this Source (or the offset
	// the group started this partition at).
	Committed     int64
	HighWaterMark int64
	// Lag is HighWaterMark - Fetched, as of the last fetch (see Source.Lag
	// for the group's lag).
	Lag int64
	// Current is false when kafka-go rebalanced since the last fetch from
	// this partition (it may belong to another member now).
	Current bool
	// Blocked is true when a failed batch holds the commit point.
	Blocked bool
	// Restarts counts the times the partition restarted at an earlier
	// offset (re-assignment).
	Restarts int64
}

// Stats returns a snapshot for the progress log.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Fetched:        s.st.fetched,
		FetchedBytes:   s.st.fetchedBytes,
		Acked:          s.st.acked,
		Nacked:         s.st.nacked,
		StaleAcks:      s.st.stale,
		Unacked:        int64(s.unacked),
		UnackedBytes:   s.unackedBytes,
		Commits:        s.st.commits,
		CommitErrors:   s.st.commitErrors,
		CommitsSkipped: s.st.commitsSkipped,
		Rebalances:     s.st.rebalances,
		Errors:         s.st.readerErrs,
		Lag:            s.groupLagLocked(),
	}
	for k, p := range s.tr.parts {
		ps := PartitionStats{
			Topic: k.topic, Partition: k.partition,
			Fetched: p.next, Acked: p.point, Committed: p.committed,
			HighWaterMark: p.hwm, Lag: max(0, p.hwm-p.next),
			Current: p.gen == s.gen, Blocked: p.blocked, Restarts: p.resets,
		}
		st.Partitions = append(st.Partitions, ps)
	}
	sort.Slice(st.Partitions, func(i, j int) bool {
		a, b := st.Partitions[i], st.Partitions[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	return st
}

var _ shipper.Source = (*Source)(nil)
