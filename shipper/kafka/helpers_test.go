package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper"
)

// Shared helpers for the kfake tests and the integration tests.

func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("EXIMSHIP_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// testWriter logs to t until the test ends (kafka-go goroutines may still
// log after a Close that gave up at its deadline).
type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// produce writes n messages "m-<i>" to topic, spread over its partitions,
// and returns the number written per partition.
func produce(t testing.TB, brokers []string, topic string, n int) {
	t.Helper()
	w := &kafkago.Writer{
		Addr:                   kafkago.TCP(brokers...),
		Topic:                  topic,
		Balancer:               &kafkago.RoundRobin{},
		RequiredAcks:           kafkago.RequireAll,
		BatchTimeout:           5 * time.Millisecond,
		BatchSize:              500,
		AllowAutoTopicCreation: false,
	}
	defer w.Close()
	msgs := make([]kafkago.Message, 0, 500)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		msgs = append(msgs, kafkago.Message{Key: []byte(strconv.Itoa(i)), Value: []byte("m-" + strconv.Itoa(i))})
		if len(msgs) == cap(msgs) || i == n-1 {
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("produce: %v", err)
			}
			msgs = msgs[:0]
		}
	}
}

// endOffsets returns the high watermark of every partition of topic.
func endOffsets(t testing.TB, brokers []string, topic string, partitions int) map[int]int64 {
	t.Helper()
	cl := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	req := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}}
	for p := 0; p < partitions; p++ {
		req.Topics[topic] = append(req.Topics[topic], kafkago.LastOffsetOf(p))
	}
	resp, err := cl.ListOffsets(context.Background(), req)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	out := map[int]int64{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("list offsets partition %d: %v", po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out
}

// committed returns the group's committed offset of every partition (-1 none).
func committed(t testing.TB, brokers []string, group, topic string, partitions int) map[int]int64 {
	t.Helper()
	out, err := committedErr(brokers, group, topic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func committedErr(brokers []string, group, topic string, partitions int) (map[int]int64, error) {
	cl := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	ps := make([]int, partitions)
	for i := range ps {
		ps[i] = i
	}
	resp, err := cl.OffsetFetch(context.Background(), &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return nil, fmt.Errorf("offset fetch: %w", err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("offset fetch partition %d: %w", p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out, nil
}

// waitCommitted polls until the group's committed offsets equal want
// (errors, e.g. a pooled connection to a restarted broker, are retried).
func waitCommitted(t testing.TB, brokers []string, group, topic string, want map[int]int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got map[int]int64
	var err error
	for time.Now().Before(deadline) {
		got, err = committedErr(brokers, group, topic, len(want))
		if err == nil && fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("committed offsets %v (last error %v), want %v", got, err, want)
}

type readBatch struct {
	msgs []shipper.Message
	ack  shipper.AckFunc
}

// readN reads batches until they hold n messages in total, and fails if
// they hold more.
func readN(t testing.TB, src *Source, n int, timeout time.Duration) []readBatch {
	t.Helper()
	out, got := readAtLeast(t, src, n, timeout)
	if got != n {
		t.Fatalf("read %d messages, want %d", got, n)
	}
	return out
}

// readAtLeast reads batches until they hold at least n messages.
func readAtLeast(t testing.TB, src *Source, n int, timeout time.Duration) ([]readBatch, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []readBatch
	got := 0
	for got < n {
		msgs, ack, err := src.Read(ctx)
		if err != nil {
			t.Fatalf("read after %d of %d messages: %v", got, n, err)
		}
		out = append(out, readBatch{msgs, ack})
		got += len(msgs)
	}
	return out, got
}

// expectNothing checks that Read returns nothing within d.
func expectNothing(t testing.TB, src *Source, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	msgs, _, err := src.Read(ctx)
	if err == nil {
		t.Fatalf("unexpected batch of %d messages, first %s", len(msgs), msgs[0].Position)
	}
}

// positions indexes messages by partition/offset and fails on a duplicate.
func positions(t testing.TB, batches []readBatch) map[shipper.Position]string {
	t.Helper()
	out := map[shipper.Position]string{}
	for _, b := range batches {
		for _, m := range b.msgs {
			if _, dup := out[m.Position]; dup {
				t.Fatalf("duplicate delivery of %s", m.Position)
			}
			out[m.Position] = string(m.Value)
		}
	}
	return out
}

func closeSource(t testing.TB, src *Source) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := src.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

// ackAll acknowledges batches concurrently, in reverse order of reading.
func ackAll(t testing.TB, batches []readBatch) {
	t.Helper()
	var wg sync.WaitGroup
	for i := len(batches) - 1; i >= 0; i-- {
		wg.Add(1)
		go func(b readBatch) {
			defer wg.Done()
			if err := b.ack(context.Background(), nil); err != nil {
				t.Errorf("ack: %v", err)
			}
		}(batches[i])
	}
	wg.Wait()
}

// waitMembers waits until the group is stable with k members that all have
// partitions assigned.
func waitMembers(t testing.TB, brokers []string, group string, k int, timeout time.Duration) {
	t.Helper()
	cl := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	deadline := time.Now().Add(timeout)
	state := ""
	for time.Now().Before(deadline) {
		resp, err := cl.DescribeGroups(context.Background(), &kafkago.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err == nil && len(resp.Groups) == 1 && resp.Groups[0].Error == nil {
			g := resp.Groups[0]
			assigned := 0
			for _, m := range g.Members {
				for _, tp := range m.MemberAssignments.Topics {
					if len(tp.Partitions) > 0 {
						assigned++
						break
					}
				}
			}
			state = fmt.Sprintf("%s, %d members, %d assigned", g.GroupState, len(g.Members), assigned)
			if g.GroupState == "Stable" && len(g.Members) == k && assigned == k {
				return
			}
		} else if err != nil {
			state = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("group %s not stable with %d members: %s", group, k, state)
}
