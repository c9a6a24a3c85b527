package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper"
)

const partitions = 6

// kafkaEnv is one test's topic on the real broker.
type kafkaEnv struct {
	brokers []string
	topic   string
	parts   int
	client  *kafka.Client
}

func newKafkaEnv(brokers []string, topic string) *kafkaEnv {
	return &kafkaEnv{brokers: brokers, topic: topic, parts: partitions, client: &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}}
}

// writer returns a producer for the topic: lines keyed by their number,
// spread over the partitions by key hash, acknowledged by all replicas.
func (k *kafkaEnv) writer() *kafka.Writer {
	return &kafka.Writer{
		Addr:                   kafka.TCP(k.brokers...),
		Topic:                  k.topic,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchSize:              2000,
		BatchBytes:             4 << 20,
		BatchTimeout:           5 * time.Millisecond,
		AllowAutoTopicCreation: false,
	}
}

// lineKey is the message key of line n (1-based): its number.
func lineKey(n int) []byte { return strconv.AppendInt(nil, int64(n), 10) }

// produceLines writes one message per line, keyed by line number
// (first+i), and returns when the broker acknowledged all of them.
func (k *kafkaEnv) produceLines(t testing.TB, lines [][]byte, first int) {
	t.Helper()
	w := k.writer()
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const chunk = 10000
	for i := 0; i < len(lines); i += chunk {
		end := min(i+chunk, len(lines))
		msgs := make([]kafka.Message, 0, end-i)
		for j := i; j < end; j++ {
			msgs = append(msgs, kafka.Message{Key: lineKey(first + j), Value: lines[j]})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("produce lines %d..%d to %s: %v", first+i, first+end-1, k.topic, err)
		}
	}
}

// endOffsets returns each partition's end offset (the next offset).
func (k *kafkaEnv) endOffsets(t testing.TB) map[int]int64 {
	t.Helper()
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := 0; p < k.parts; p++ {
		req.Topics[k.topic] = append(req.Topics[k.topic], kafka.LastOffsetOf(p))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := k.client.ListOffsets(ctx, req)
	if err != nil {
		t.Fatalf("list offsets of %s: %v", k.topic, err)
	}
	out := map[int]int64{}
	for _, po := range res.Topics[k.topic] {
		if po.Error != nil {
			t.Fatalf("list offsets of %s[%d]: %v", k.topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	if len(out) != k.parts {
		t.Fatalf("list offsets of %s: %d partitions, want %d", k.topic, len(out), k.parts)
	}
	return out
}

// committed returns the group's committed offset per partition (-1 when
// none).
func (k *kafkaEnv) committed(t testing.TB, group string) map[int]int64 {
	t.Helper()
	ps := make([]int, k.parts)
	for i := range ps {
		ps[i] = i
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var res *kafka.OffsetFetchResponse
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		res, err = k.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{k.topic: ps}})
		if err == nil && res.Error == nil {
			break
		}
		if err == nil {
			err = res.Error
		}
		time.Sleep(500 * time.Millisecond) // coordinator loading, rebalancing
	}
	if err != nil {
		t.Fatalf("offset fetch for group %s: %v", group, err)
	}
	out := map[int]int64{}
	for _, p := range res.Topics[k.topic] {
		if p.Error != nil {
			t.Fatalf("offset fetch %s[%d]: %v", k.topic, p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// waitCommitted waits until the group committed every partition's end.
func (k *kafkaEnv) waitCommitted(t testing.TB, group string, end map[int]int64, timeout time.Duration, alive func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last map[int]int64
	for time.Now().Before(deadline) {
		last = k.committed(t, group)
		if offsetsReach(last, end) {
			return
		}
		if alive != nil {
			if err := alive(); err != nil {
				t.Fatalf("waiting for the commits of group %s: %v (committed %v, end %v)", group, err, last, end)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("group %s committed %v after %v, want the end offsets %v", group, last, timeout, end)
}

func offsetsReach(committed, end map[int]int64) bool {
	for p, e := range end {
		if e > 0 && committed[p] < e {
			return false
		}
	}
	return true
}

func sumOffsets(m map[int]int64) int64 {
	var n int64
	for _, v := range m {
		if v > 0 {
			n += v
		}
	}
	return n
}

// message is one record read back from the topic.
type message struct {
	pos   shipper.Position
	key   []byte
	value []byte
}

// readAll reads every record of the topic (partition by partition, no
// consumer group) up to the current end offsets.
func (k *kafkaEnv) readAll(t testing.TB) []message {
	t.Helper()
	end := k.endOffsets(t)
	var out []message
	for p := 0; p < k.parts; p++ {
		if end[p] == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: k.brokers, Topic: k.topic, Partition: p,
			MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 500 * time.Millisecond,
		})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				cancel()
				r.Close()
				if errors.Is(err, io.EOF) {
					break
				}
				t.Fatalf("read back %s[%d]: %v", k.topic, p, err)
			}
			out = append(out, message{pos: shipper.Position{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}, key: m.Key, value: m.Value})
			if m.Offset+1 >= end[p] {
				break
			}
		}
		cancel()
		r.Close()
	}
	return out
}

// positionsByLine maps line numbers (message keys) to their positions.
func positionsByLine(t testing.TB, msgs []message) map[int]shipper.Position {
	t.Helper()
	out := make(map[int]shipper.Position, len(msgs))
	for _, m := range msgs {
		n, err := strconv.Atoi(string(m.key))
		if err != nil {
			t.Fatalf("message at %s has key %q, not a line number", m.pos, m.key)
		}
		if prev, dup := out[n]; dup {
			t.Fatalf("line %d is in the topic twice: %s and %s", n, prev, m.pos)
		}
		out[n] = m.pos
	}
	return out
}

// expectedIDs returns the document ids of every message of the topic when
// each message is one entry: DocID(position, 0).
func expectedIDs(end map[int]int64, topic string) map[string]bool {
	ids := map[string]bool{}
	for p, e := range end {
		for o := int64(0); o < e; o++ {
			ids[shipper.DocID(shipper.Position{Topic: topic, Partition: p, Offset: o}, 0)] = true
		}
	}
	return ids
}

// groupMember is one member of a consumer group and its partitions.
type groupMember struct {
	ClientID   string
	Partitions []int
}

// describeGroup returns the group's state and members.
func (k *kafkaEnv) describeGroup(t testing.TB, group string) (string, []groupMember) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := k.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		t.Fatalf("describe group %s: %v", group, err)
	}
	if len(res.Groups) != 1 {
		t.Fatalf("describe group %s: %d groups", group, len(res.Groups))
	}
	g := res.Groups[0]
	if g.Error != nil {
		t.Fatalf("describe group %s: %v", group, g.Error)
	}
	var ms []groupMember
	for _, m := range g.Members {
		gm := groupMember{ClientID: m.ClientID}
		for _, tp := range m.MemberAssignments.Topics {
			if tp.Topic == k.topic {
				gm.Partitions = append(gm.Partitions, tp.Partitions...)
			}
		}
		sort.Ints(gm.Partitions)
		ms = append(ms, gm)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ClientID < ms[j].ClientID })
	return g.GroupState, ms
}

func (g groupMember) String() string { return fmt.Sprintf("%s:%v", g.ClientID, g.Partitions) }
