package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper/stacktest"
)

// Integration tests against the real Kafka broker started by scripts/stack
// (shipper/stacktest). Each test creates its own topic (automatic topic
// creation is off) and consumer group, and deletes the topic afterwards.

// createTopic creates a topic named after prefix (deleted when t ends) and
// returns its name once every partition has a leader.
func createTopic(t testing.TB, brokers []string, prefix string, partitions int, configs ...kafkago.ConfigEntry) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	stacktest.CreateTopic(t, brokers, name, partitions, configs...)
	return name
}

// realConfig is a Config with timers the real broker accepts (its
// group.min.session.timeout.ms is 6s by default).
func realConfig(t testing.TB, brokers []string, topic, group string) Config {
	cfg := fastConfig(t, brokers, topic, group)
	cfg.MaxWait = 2 * time.Second
	cfg.HeartbeatInterval = 500 * time.Millisecond
	cfg.SessionTimeout = 10 * time.Second
	cfg.RebalanceTimeout = 15 * time.Second
	return cfg
}

func groupName(prefix string) string { return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()) }

func TestSourceContiguousAndRestartIntegration(t *testing.T) {
	brokers := stacktest.KafkaBrokers(t)
	const parts, n = 6, 3000
	topic := createTopic(t, brokers, "eximship-test-contig", parts)
	group := groupName("eximship-test-contig")
	produce(t, brokers, topic, n)
	ends := endOffsets(t, brokers, topic, parts)
	testContiguousAndRestart(t, realConfig(t, brokers, topic, group), brokers, topic, group, parts, n, ends)
}

func TestSourceTwoMembersIntegration(t *testing.T) {
	brokers := stacktest.KafkaBrokers(t)
	const parts, n = 6, 6000
	topic := createTopic(t, brokers, "eximship-test-two", parts)
	group := groupName("eximship-test-two")
	testMembersShare(t, realConfig(t, brokers, topic, group), brokers, topic, group, parts, n, 2, -1)
}

// TestSourceRebalanceOneOfThreeClosedIntegration: 3 members on a 6-partition
// topic; one closes midway with a batch unacknowledged. Every record is
// delivered and the end of every partition committed.
func TestSourceRebalanceOneOfThreeClosedIntegration(t *testing.T) {
	brokers := stacktest.KafkaBrokers(t)
	const parts, n = 6, 30000
	topic := createTopic(t, brokers, "eximship-test-three", parts)
	group := groupName("eximship-test-three")
	testMembersShare(t, realConfig(t, brokers, topic, group), brokers, topic, group, parts, n, 3, 1)
}

func TestDeadLetterWriterIntegration(t *testing.T) {
	brokers := stacktest.KafkaBrokers(t)
	topic := createTopic(t, brokers, "eximship-test-dlq", 3)
	testDeadLetterRoundTrip(t, brokers, topic)
}

// TestDeadLetterTooLargeForTopicIntegration: a topic that takes records of
// at most 8 KiB, and dead letters of 100 KiB: the records are written
// smaller, flagged, instead of being refused for ever.
func TestDeadLetterTooLargeForTopicIntegration(t *testing.T) {
	brokers := stacktest.KafkaBrokers(t)
	topic := createTopic(t, brokers, "eximship-test-dlq-small", 1,
		kafkago.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: "8192"})
	w, err := NewDeadLetterWriter(DeadLetterConfig{Brokers: brokers, Topic: topic, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dls := bigDeadLetters(100 << 10)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.WriteDeadLetters(ctx, dls); err != nil {
		t.Fatalf("write: %v", err)
	}
	for _, m := range readDeadLetters(t, brokers, topic, len(dls)) {
		var rec DeadLetterRecord
		if err := json.Unmarshal(m.Value, &rec); err != nil {
			t.Fatalf("record %s: %v", m.Key, err)
		}
		if len(m.Value) > 8192 || !rec.DocumentOmitted || !rec.OriginalTruncated || rec.DocID != string(m.Key) || rec.Error == "" {
			t.Errorf("record %s: %d bytes, document omitted %v, original truncated %v (%d bytes), id %q, error %q",
				m.Key, len(m.Value), rec.DocumentOmitted, rec.OriginalTruncated, len(rec.Original), rec.DocID, rec.Error)
		}
	}
}
