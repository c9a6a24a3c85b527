package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eximship/eximship/shipper"
)

// Fast tests of the Source against franz-go's in-process fake cluster. They
// prove the consumer logic with kafka-go's real client code; the same
// scenarios run against the real broker in integration_test.go.

func fakeCluster(t testing.TB, topic string, partitions int32, opts ...kfake.Opt) []string {
	t.Helper()
	_, addrs := fakeClusterC(t, topic, partitions, opts...)
	return addrs
}

func fakeClusterC(t testing.TB, topic string, partitions int32, opts ...kfake.Opt) (*kfake.Cluster, []string) {
	t.Helper()
	opts = append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(partitions, topic),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}

// fastConfig is a Config with short timers for tests.
func fastConfig(t testing.TB, brokers []string, topic, group string) Config {
	return Config{
		Brokers:           brokers,
		Topics:            []string{topic},
		GroupID:           group,
		MaxWait:           200 * time.Millisecond,
		BatchSize:         50,
		Linger:            20 * time.Millisecond,
		CommitInterval:    20 * time.Millisecond,
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    2 * time.Second,
		RebalanceTimeout:  3 * time.Second,
		Logger:            testLogger(t),
	}
}

func newSource(t testing.TB, cfg Config) *Source {
	t.Helper()
	src, err := New(cfg)
	if err != nil {
		t.Fatalf("new source: %v", err)
	}
	return src
}

func TestSourceCommitsContiguousAndRestartRedeliversSuffix(t *testing.T) {
	const topic, group, parts, n = "exim", "g1", 3, 900
	brokers := fakeCluster(t, topic, parts)
	produce(t, brokers, topic, n)
	ends := endOffsets(t, brokers, topic, parts)
	testContiguousAndRestart(t, fastConfig(t, brokers, topic, group), brokers, topic, group, parts, n, ends)
}

// testContiguousAndRestart: read everything, acknowledge out of order except
// one batch; the committed offsets stop at that batch's first offset in each
// of its partitions; after a restart exactly the uncommitted suffix comes
// again; acknowledging it commits the end of every partition.
func testContiguousAndRestart(t *testing.T, cfg Config, brokers []string, topic, group string, parts, n int, ends map[int]int64) {
	src := newSource(t, cfg)
	batches := readN(t, src, n, 60*time.Second)
	all := positions(t, batches)
	if len(all) != n {
		t.Fatalf("got %d distinct positions, want %d", len(all), n)
	}
	if len(batches) < 4 {
		t.Fatalf("only %d batches; the test needs several", len(batches))
	}
	// Hold back one batch in the middle, acknowledge the rest in reverse.
	hold := len(batches) / 2
	held := batches[hold]
	rest := append(append([]readBatch{}, batches[:hold]...), batches[hold+1:]...)
	ackAll(t, rest)

	want := map[int]int64{}
	for p, end := range ends {
		want[p] = end
	}
	for _, m := range held.msgs {
		if m.Offset < want[m.Partition] {
			want[m.Partition] = m.Offset
		}
	}
	// A partition held at its first offset has nothing committed (-1).
	wantCommitted := map[int]int64{}
	for p, o := range want {
		wantCommitted[p] = o
		if o == 0 {
			wantCommitted[p] = -1
		}
	}
	waitCommitted(t, brokers, group, topic, wantCommitted, 10*time.Second)
	// Nothing more is committed while the batch is held.
	time.Sleep(5 * cfg.CommitInterval)
	if got := committed(t, brokers, group, topic, parts); fmt.Sprint(got) != fmt.Sprint(wantCommitted) {
		t.Fatalf("committed %v after waiting, want %v", got, wantCommitted)
	}
	st := src.Stats()
	if st.Fetched != int64(n) || st.Acked != int64(n-len(held.msgs)) || st.Unacked != int64(len(held.msgs)) {
		t.Fatalf("stats %+v", st)
	}
	closeSource(t, src)

	// Restart: exactly the uncommitted suffix is delivered again.
	suffix := 0
	for p, end := range ends {
		suffix += int(end - want[p])
	}
	src2 := newSource(t, cfg)
	defer closeSource(t, src2)
	again := readN(t, src2, suffix, 60*time.Second)
	for pos, v := range positions(t, again) {
		if pos.Offset < want[pos.Partition] {
			t.Fatalf("%s delivered again but was committed (commit point %d)", pos, want[pos.Partition])
		}
		if all[pos] != v {
			t.Fatalf("%s: value %q, first delivery %q", pos, v, all[pos])
		}
	}
	expectNothing(t, src2, 300*time.Millisecond)
	ackAll(t, again)
	waitCommitted(t, brokers, group, topic, ends, 10*time.Second)
}

func TestSourceNackIsNeverCommitted(t *testing.T) {
	const topic, group, parts, n = "exim", "g1", 1, 300
	brokers := fakeCluster(t, topic, parts)
	produce(t, brokers, topic, n)
	src := newSource(t, fastConfig(t, brokers, topic, group))
	batches := readN(t, src, n, 30*time.Second)
	if len(batches) < 3 {
		t.Fatalf("only %d batches", len(batches))
	}
	failed := batches[1]
	if err := failed.ack(context.Background(), errors.New("shutdown")); err != nil {
		t.Fatal(err)
	}
	if err := failed.ack(context.Background(), nil); err == nil {
		t.Fatal("second ack of a batch accepted")
	}
	ackAll(t, append(batches[:1:1], batches[2:]...))
	closeSource(t, src)
	want := map[int]int64{0: failed.msgs[0].Offset}
	if got := committed(t, brokers, group, topic, parts); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("committed %v, want %v (the failed batch's first offset)", got, want)
	}
	st := src.Stats()
	if len(st.Partitions) != 1 || !st.Partitions[0].Blocked || st.Nacked != int64(len(failed.msgs)) {
		t.Fatalf("stats %+v", st)
	}
}

func TestSourceBoundsUnacked(t *testing.T) {
	const topic, group, n = "exim", "g1", 500
	brokers := fakeCluster(t, topic, 2)
	produce(t, brokers, topic, n)
	cfg := fastConfig(t, brokers, topic, group)
	cfg.BatchSize = 40
	cfg.MaxUnackedMessages = 100
	src := newSource(t, cfg)
	defer closeSource(t, src)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var held []readBatch
	total := 0
	for total < cfg.MaxUnackedMessages {
		msgs, ack, err := src.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) > cfg.BatchSize {
			t.Fatalf("batch of %d > BatchSize %d", len(msgs), cfg.BatchSize)
		}
		held = append(held, readBatch{msgs, ack})
		total += len(msgs)
	}
	if total != cfg.MaxUnackedMessages {
		t.Fatalf("read %d unacked messages, want exactly the bound %d", total, cfg.MaxUnackedMessages)
	}
	// Full: Read blocks until an ack frees room.
	expectNothing(t, src, 300*time.Millisecond)
	freed := len(held[0].msgs)
	done := make(chan int)
	go func() {
		msgs, ack, err := src.Read(ctx)
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		held = append(held, readBatch{msgs, ack})
		done <- len(msgs)
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("Read returned while the bound was reached")
	default:
	}
	if err := held[0].ack(ctx, nil); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got < 1 || got > freed {
		t.Fatalf("after freeing %d, Read returned %d messages", freed, got)
	}
	if st := src.Stats(); st.Unacked > int64(cfg.MaxUnackedMessages) {
		t.Fatalf("unacked %d > bound", st.Unacked)
	}
}

func TestSourceBoundsUnackedBytes(t *testing.T) {
	const topic, group, n = "exim", "g1", 200
	brokers := fakeCluster(t, topic, 1)
	produce(t, brokers, topic, n) // values "m-0".."m-199": 3 to 5 bytes
	cfg := fastConfig(t, brokers, topic, group)
	cfg.BatchSize = 1000
	cfg.MaxUnackedBytes = 100
	src := newSource(t, cfg)
	defer closeSource(t, src)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, _, err := src.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := 0
	for _, m := range msgs {
		b += len(m.Value)
	}
	if b < 100 || b-len(msgs[len(msgs)-1].Value) >= 100 {
		t.Fatalf("batch of %d bytes; want it to stop at the first message reaching 100", b)
	}
	expectNothing(t, src, 200*time.Millisecond)
}

func TestSourceStatsAndLag(t *testing.T) {
	const topic, group, n = "exim", "g1", 100
	brokers := fakeCluster(t, topic, 2)
	produce(t, brokers, topic, n)
	cfg := fastConfig(t, brokers, topic, group)
	cfg.BatchSize = 20
	cfg.LagInterval = 50 * time.Millisecond
	src := newSource(t, cfg)
	defer closeSource(t, src)
	// The group's lag: nothing is committed yet, so every message counts
	// (StartOffset first), whatever this member fetched.
	waitLag := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for src.Lag() != want {
			if time.Now().After(deadline) {
				lags, at, err := src.PartitionLags()
				t.Fatalf("lag %d, want %d (partitions %+v at %v, error %v)", src.Lag(), want, lags, at, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLag(n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Two batches: the group join counts as a rebalance, seen by the
	// second Read, after which the partition is current again.
	got := 0
	var acks []shipper.AckFunc
	for range 2 {
		msgs, ack, err := src.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got += len(msgs)
		acks = append(acks, ack)
	}
	if got >= n {
		t.Fatalf("two batches of at most %d held everything", cfg.BatchSize)
	}
	// Fetched but not acknowledged: still lag.
	waitLag(n)
	st := src.Stats()
	if len(st.Partitions) == 0 {
		t.Fatalf("partitions %+v", st.Partitions)
	}
	fetched := int64(0)
	for _, p := range st.Partitions {
		fetched += p.Fetched
		if p.HighWaterMark != n/2 || p.Lag != p.HighWaterMark-p.Fetched {
			t.Fatalf("partition stats %+v (fetched %d in all)", p, got)
		}
	}
	if fetched != int64(got) {
		t.Fatalf("partitions fetched %d, read %d", fetched, got)
	}
	for _, ack := range acks {
		if err := ack(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitLag(n - int64(got))
	lags, _, err := src.PartitionLags()
	if err != nil || len(lags) != 2 {
		t.Fatalf("partition lags %+v, %v", lags, err)
	}
	for _, l := range lags {
		if l.HighWaterMark != n/2 || l.Lag != l.HighWaterMark-max(l.Committed, 0) {
			t.Errorf("partition lag %+v", l)
		}
	}
	if st := src.Stats(); st.Lag != n-int64(got) {
		t.Errorf("Stats().Lag = %d, want %d", st.Lag, n-got)
	}
	var _ shipper.Lagger = src
}

func TestSourceTwoMembersSharePartitions(t *testing.T) {
	const topic, group, parts, n = "exim", "g1", 4, 2000
	brokers := fakeCluster(t, topic, parts)
	testMembersShare(t, fastConfig(t, brokers, topic, group), brokers, topic, group, parts, n, 2, -1)
}

func TestSourceThreeMembersOneClosedMidway(t *testing.T) {
	const topic, group, parts, n = "exim", "g1", 6, 6000
	brokers := fakeCluster(t, topic, parts)
	testMembersShare(t, fastConfig(t, brokers, topic, group), brokers, topic, group, parts, n, 3, 1)
}

// testMembersShare starts members sources in one group, waits until they
// share the partitions, produces n records and acknowledges what they read.
// If closeOne >= 0, that member reads one more batch without acknowledging
// it after a quarter of its share and closes. Every record must be delivered
// (re-deliveries across a rebalance are allowed: document ids absorb them)
// and the end of every partition committed.
func testMembersShare(t *testing.T, cfg Config, brokers []string, topic, group string, parts, n, members, closeOne int) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[shipper.Position]int{}
	perMember := make([]map[int]bool, members)
	var wg sync.WaitGroup
	allSeen := make(chan struct{})
	var once sync.Once
	srcs := make([]*Source, members)
	for i := range srcs {
		srcs[i] = newSource(t, cfg)
	}
	waitMembers(t, brokers, group, members, 60*time.Second)
	produce(t, brokers, topic, n)
	ends := endOffsets(t, brokers, topic, parts)
	for i, src := range srcs {
		perMember[i] = map[int]bool{}
		wg.Add(1)
		go func(i int, src *Source) {
			defer wg.Done()
			defer closeSource(t, src)
			read := 0
			for {
				if i == closeOne && read >= n/(members*4) {
					// Closed midway with a batch in flight: it must
					// not be committed and must reach another member.
					msgs, _, err := src.Read(ctx)
					if err != nil {
						t.Errorf("member %d: %v", i, err)
					}
					t.Logf("member %d closes with %d unacked messages", i, len(msgs))
					return
				}
				msgs, ack, err := src.Read(ctx)
				if err != nil {
					select {
					case <-allSeen:
					default:
						t.Errorf("member %d: %v", i, err)
					}
					return
				}
				read += len(msgs)
				mu.Lock()
				for _, m := range msgs {
					seen[m.Position]++
					perMember[i][m.Partition] = true
				}
				complete := len(seen) == n
				mu.Unlock()
				if err := ack(ctx, nil); err != nil {
					t.Error(err)
				}
				if complete {
					once.Do(func() { close(allSeen) })
				}
			}
		}(i, src)
	}
	_ = srcs
	go func() {
		<-allSeen
		// Let the last commits happen, then stop everyone.
		waitCommitted(t, brokers, group, topic, ends, 30*time.Second)
		cancel()
	}()
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("delivered %d distinct records, want %d", len(seen), n)
	}
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	for i, ps := range perMember {
		if len(ps) == 0 {
			t.Errorf("member %d got no partition", i)
		}
		t.Logf("member %d read partitions %v", i, ps)
	}
	t.Logf("%d records, %d re-deliveries", n, dups)
	if got := committed(t, brokers, group, topic, parts); fmt.Sprint(got) != fmt.Sprint(ends) {
		t.Fatalf("committed %v, want %v", got, ends)
	}
}

func TestSourceCloseIsBoundedByContext(t *testing.T) {
	const topic, group = "exim", "g1"
	brokers := fakeCluster(t, topic, 1)
	produce(t, brokers, topic, 10)
	src := newSource(t, fastConfig(t, brokers, topic, group))
	readN(t, src, 10, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	start := time.Now()
	err := src.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close with an expired context: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("close took %s", d)
	}
	if _, _, err := src.Read(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

func TestSourceReadHonoursContext(t *testing.T) {
	brokers := fakeCluster(t, "exim", 1)
	src := newSource(t, fastConfig(t, brokers, "exim", "g1"))
	defer closeSource(t, src)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, _, err := src.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read on an empty topic: %v", err)
	}
}

// TestSourceCommitErrorsAreRetried: the broker fails the first commits; the
// errors are counted and logged, and the offsets are committed on a later
// tick, nothing lost.
func TestSourceCommitErrorsAreRetried(t *testing.T) {
	const topic, group, parts, n = "exim", "g1", 2, 200
	c, brokers := fakeClusterC(t, topic, parts)
	produce(t, brokers, topic, n)
	ends := endOffsets(t, brokers, topic, parts)
	const fail = 5
	var failed atomic.Int32
	c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if failed.Load() >= fail {
			c.DropControl()
			return nil, nil, false
		}
		failed.Add(1)
		r := req.(*kmsg.OffsetCommitRequest)
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = 14 // COORDINATOR_LOAD_IN_PROGRESS
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	src := newSource(t, fastConfig(t, brokers, topic, group))
	defer closeSource(t, src)
	ackAll(t, readN(t, src, n, 30*time.Second))
	waitCommitted(t, brokers, group, topic, ends, 20*time.Second)
	if failed.Load() < fail {
		t.Fatalf("only %d commits were failed by the broker", failed.Load())
	}
	if st := src.Stats(); st.CommitErrors < 1 || st.Commits < 1 {
		t.Fatalf("commit errors %d, commits %d", st.CommitErrors, st.Commits)
	}
}

// TestSourceMemberJoinsMidway: a second member joins while the first has a
// full kafka-go queue and a batch in flight, so the rebalance happens with
// messages queued (kafka-go #1398) and acknowledgements arriving after it.
// Nothing is lost and the end of every partition is committed.
func TestSourceMemberJoinsMidway(t *testing.T) {
	const topic, group, parts, n = "exim", "g1", 4, 8000
	brokers := fakeCluster(t, topic, parts)
	produce(t, brokers, topic, n)
	ends := endOffsets(t, brokers, topic, parts)
	cfg := fastConfig(t, brokers, topic, group)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	seen := map[shipper.Position]int{}
	record := func(msgs []shipper.Message) int {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			seen[m.Position]++
		}
		return len(seen)
	}
	a := newSource(t, cfg)
	first, _ := readAtLeast(t, a, 1000, 30*time.Second)
	for _, b := range first[:len(first)-1] {
		record(b.msgs)
		if err := b.ack(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	held := first[len(first)-1]
	b := newSource(t, cfg)

	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	consume := func(src *Source) {
		defer wg.Done()
		for {
			msgs, ack, err := src.Read(ctx)
			if err != nil {
				return
			}
			total := record(msgs)
			if err := ack(ctx, nil); err != nil {
				t.Error(err)
			}
			if total == n {
				once.Do(func() { close(done) })
			}
		}
	}
	wg.Add(2)
	go consume(a)
	go consume(b)
	waitMembers(t, brokers, group, 2, 30*time.Second)
	// The held batch is acknowledged after the rebalance.
	record(held.msgs)
	if err := held.ack(ctx, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("only %d of %d records delivered", len(seen), n)
	}
	waitCommitted(t, brokers, group, topic, ends, 20*time.Second)
	cancel()
	wg.Wait()
	redelivered := 0
	for _, c := range seen {
		redelivered += c - 1
	}
	for i, src := range []*Source{a, b} {
		st := src.Stats()
		t.Logf("member %d: fetched %d, acked %d, stale acks %d, rebalances %d", i, st.Fetched, st.Acked, st.StaleAcks, st.Rebalances)
		for _, p := range st.Partitions {
			t.Logf("  partition %d: fetched %d acked %d committed %d restarts %d current %v", p.Partition, p.Fetched, p.Acked, p.Committed, p.Restarts, p.Current)
		}
		closeSource(t, src)
	}
	t.Logf("%d records, %d re-deliveries", n, redelivered)
}

// TestSourceDoesNotMoveGroupOffsetBack: a leftover acknowledgement of a
// partition (as after a rebalance) below the group's committed offset is
// not committed.
func TestSourceDoesNotMoveGroupOffsetBack(t *testing.T) {
	const topic, group, n = "exim", "g1", 100
	brokers := fakeCluster(t, topic, 1)
	produce(t, brokers, topic, n)
	cfg := fastConfig(t, brokers, topic, group)
	a := newSource(t, cfg)
	ackAll(t, readN(t, a, n, 30*time.Second))
	closeSource(t, a)
	want := map[int]int64{0: n}
	waitCommitted(t, brokers, group, topic, want, 10*time.Second)

	cfg.CommitInterval = time.Hour // commit only when asked
	b := newSource(t, cfg)
	defer closeSource(t, b)
	// b acknowledged offsets 0..49 of partition 0 in an earlier generation.
	b.mu.Lock()
	ref := b.tr.fetched(topic, 0, 0, 49, n)
	b.tr.ack(ref, true)
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, brokers, group, topic, 1); got[0] != n {
		t.Fatalf("committed %v, want %v (not moved back)", got, want)
	}
	if st := b.Stats(); st.CommitsSkipped != 1 || st.Commits != 0 {
		t.Fatalf("commits %d, skipped %d", st.Commits, st.CommitsSkipped)
	}
	// Nothing stays pending.
	b.mu.Lock()
	pend := b.tr.pending(nil)
	b.mu.Unlock()
	if len(pend) != 0 {
		t.Fatalf("pending after skip: %+v", pend)
	}
}

// TestSourceCloseReturnsWhenKafkaGoHangs: the broker stalls the group leave
// of kafka-go's Reader.Close (as in kafka-go #428/#1006); Source.Close still
// returns at its context deadline, after the final commit.
func TestSourceCloseReturnsWhenKafkaGoHangs(t *testing.T) {
	const topic, group, n = "exim", "g1", 20
	c, brokers := fakeClusterC(t, topic, 1)
	produce(t, brokers, topic, n)
	cfg := fastConfig(t, brokers, topic, group)
	cfg.CommitInterval = time.Hour // only the final commit
	src := newSource(t, cfg)
	ackAll(t, readN(t, src, n, 30*time.Second))

	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock()
	var stalled atomic.Bool
	c.ControlKey(int16(kmsg.LeaveGroup), func(kmsg.Request) (kmsg.Response, error, bool) {
		stalled.Store(true)
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		return nil, nil, false
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	err := src.Close(ctx)
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close: %v (after %s), want the deadline error", err, elapsed)
	}
	if elapsed > 3*time.Second {
		t.Fatalf("close took %s with a 1s deadline", elapsed)
	}
	if !stalled.Load() {
		t.Fatal("the broker never saw the group leave: the test proves nothing")
	}
	unblock()
	// The final commit happened before the hang.
	waitCommitted(t, brokers, group, topic, map[int]int64{0: n}, 10*time.Second)
}
