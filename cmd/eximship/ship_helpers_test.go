package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// envelopeMessage is a Filebeat-style JSON envelope of one log entry,
// keyed by its host (as shippers key by host).
func envelopeMessage(t testing.TB, entry, host, path string) kafka.Message {
	t.Helper()
	env, err := json.Marshal(map[string]any{"message": entry, "host": map[string]any{"name": host},
		"log": map[string]any{"file": map[string]any{"path": path}}})
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Key: []byte(host), Value: env}
}

// hashWriter writes to topic, partitioning by key.
func hashWriter(brokers []string, topic string) *kafka.Writer {
	return &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
}

// writeRunConfig writes the configuration of an `eximship run` that reads
// topic from its first offset in group ns and indexes into namespace ns of
// esURL (timezone UTC); kafkaExtra and eximExtra are lines added to those
// sections, rest more sections. It returns the file's path.
func writeRunConfig(t testing.TB, brokers []string, topic, esURL, ns, kafkaExtra, eximExtra, rest string) string {
	t.Helper()
	cfg := fmt.Sprintf("kafka:\n  brokers: [%s]\n  topics: [%s]\n  group_id: %s\n  start_offset: first\n%selasticsearch:\n  addresses: [%s]\nexim:\n  namespace: %s\n  timezone: UTC\n%s%s",
		strings.Join(brokers, ", "), topic, ns, kafkaExtra, esURL, ns, eximExtra, rest)
	path := filepath.Join(t.TempDir(), "eximship.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
