package kafka

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper/stacktest"
)

// BenchmarkSourceRead measures Read + Ack per message against the in-process
// fake cluster (its speed bounds the result; compare allocs/op with
// BenchmarkKafkaGoFetch, the bare kafka-go FetchMessage loop).
// EXIMSHIP_BENCH_LINGER overrides Linger (default 200ms).
func BenchmarkSourceRead(b *testing.B) {
	brokers := fakeCluster(b, "exim", 3)
	benchSourceRead(b, brokers, "exim", "bench")
}

// BenchmarkSourceReadIntegration is BenchmarkSourceRead against the real
// broker (a new 6-partition topic).
func BenchmarkSourceReadIntegration(b *testing.B) {
	brokers := stacktest.KafkaBrokers(b)
	topic := createTopic(b, brokers, "eximship-bench", 6)
	benchSourceRead(b, brokers, topic, groupName("eximship-bench"))
}

// BenchmarkKafkaGoFetchIntegration is BenchmarkKafkaGoFetch against the
// real broker.
func BenchmarkKafkaGoFetchIntegration(b *testing.B) {
	brokers := stacktest.KafkaBrokers(b)
	topic := createTopic(b, brokers, "eximship-bench", 6)
	benchKafkaGoFetch(b, brokers, topic, groupName("eximship-bench"))
}

func benchSourceRead(b *testing.B, brokers []string, topic, group string) {
	benchProduce(b, brokers, topic, b.N)
	cfg := fastConfig(b, brokers, topic, group)
	cfg.SessionTimeout = 10 * time.Second
	cfg.RebalanceTimeout = 10 * time.Second
	cfg.BatchSize = 1000
	cfg.CommitInterval = time.Second
	cfg.MaxWait = 3 * time.Second
	cfg.Linger = 200 * time.Millisecond
	if d, err := time.ParseDuration(os.Getenv("EXIMSHIP_BENCH_LINGER")); err == nil {
		cfg.Linger = d
	}
	src := newSource(b, cfg)
	defer closeSource(b, src)
	ctx := context.Background()
	// The group join is not measured: read the first batch before.
	msgs, ack, err := src.Read(ctx)
	if err != nil {
		b.Fatal(err)
	}
	got := len(msgs)
	if err := ack(ctx, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(benchValueSize)
	b.ResetTimer()
	for got < b.N {
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		msgs, ack, err := src.Read(rctx)
		cancel()
		if err != nil {
			b.Fatalf("read %d of %d: %v; stats %+v; end offsets %v", got, b.N, err, src.Stats(), endOffsets(b, brokers, topic, 6))
		}
		got += len(msgs)
		if err := ack(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKafkaGoFetch is the baseline: kafka-go's FetchMessage alone.
func BenchmarkKafkaGoFetch(b *testing.B) {
	brokers := fakeCluster(b, "exim", 3)
	benchKafkaGoFetch(b, brokers, "exim", "bench")
}

func benchKafkaGoFetch(b *testing.B, brokers []string, topic, group string) {
	benchProduce(b, brokers, topic, b.N)
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: brokers, GroupID: group, GroupTopics: []string{topic},
		QueueCapacity: 1000, MaxBytes: 4 << 20, MaxWait: 3 * time.Second,
		HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: 10 * time.Second,
	})
	defer r.Close()
	ctx := context.Background()
	if _, err := r.FetchMessage(ctx); err != nil { // join first
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(benchValueSize)
	b.ResetTimer()
	for i := 1; i < b.N; i++ {
		if _, err := r.FetchMessage(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

const benchValueSize = 250

func benchProduce(b *testing.B, brokers []string, topic string, n int) {
	b.Helper()
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Topic: topic, Balancer: &kafkago.RoundRobin{},
		BatchSize: 5000, BatchBytes: 16 << 20, BatchTimeout: time.Millisecond, RequiredAcks: kafkago.RequireAll}
	defer w.Close()
	pad := strings.Repeat("x", benchValueSize-20)
	msgs := make([]kafkago.Message, 0, 5000)
	for i := 0; i < n; i++ {
		v := strconv.Itoa(i) + " " + pad
		msgs = append(msgs, kafkago.Message{Value: []byte(v[:min(len(v), benchValueSize)])})
		if len(msgs) == cap(msgs) || i == n-1 {
			if err := w.WriteMessages(context.Background(), msgs...); err != nil {
				b.Fatal(err)
			}
			msgs = msgs[:0]
		}
	}
}
