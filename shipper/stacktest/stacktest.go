// Package stacktest gives integration tests the addresses of the real Kafka
// and Elasticsearch started by scripts/stack. When they are not running, the
// tests skip with a clear message, or fail when EXIMSHIP_REQUIRE_INTEGRATION
// is set (as .ci/run does), so CI can never pass by skipping.
package stacktest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Required reports whether integration tests must run (CI).
func Required() bool { return os.Getenv("EXIMSHIP_REQUIRE_INTEGRATION") != "" }

// Skip skips t, or fails it when integration tests are required.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf("integration test cannot run (EXIMSHIP_REQUIRE_INTEGRATION is set): "+format, args...)
	}
	t.Skipf("integration test skipped: "+format, args...)
}

// StateDir is where scripts/stack keeps pid files, logs and stack.env.
func StateDir() string {
	if d := os.Getenv("EXIMSHIP_STATE_DIR"); d != "" {
		return d
	}
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(base, "eximship", "stack")
}

// env returns the value of key from the environment, else from the
// stack.env file that scripts/stack up writes (KEY=VALUE lines).
func env(key string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	f, err := os.Open(filepath.Join(StateDir(), "stack.env"))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && k == key {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// KafkaBrokers returns the bootstrap addresses of the real Kafka broker
// (EXIMSHIP_KAFKA_BROKERS, comma-separated), or skips t.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	v := env("EXIMSHIP_KAFKA_BROKERS")
	if v == "" {
		Skip(t, "no Kafka: run 'scripts/stack up' (or set EXIMSHIP_KAFKA_BROKERS)")
	}
	brokers := strings.Split(v, ",")
	if err := reachable(brokers[0]); err != nil {
		Skip(t, "Kafka at %s does not answer (%v): run 'scripts/stack up'", brokers[0], err)
	}
	return brokers
}

// reachable dials addr (host:port) once, briefly, so that a stale
// stack.env gives a clear skip (or failure in CI) instead of timeouts.
func reachable(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// ElasticURL returns the URL of the real Elasticsearch node
// (EXIMSHIP_ES_URL), or skips t.
func ElasticURL(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	v := env("EXIMSHIP_ES_URL")
	if v == "" {
		Skip(t, "no Elasticsearch: run 'scripts/stack up' (or set EXIMSHIP_ES_URL)")
	}
	if u, err := url.Parse(v); err == nil && u.Host != "" {
		host := u.Host
		if u.Port() == "" {
			port := "80"
			if u.Scheme == "https" {
				port = "443"
			}
			host = net.JoinHostPort(u.Hostname(), port)
		}
		if err := reachable(host); err != nil {
			Skip(t, "Elasticsearch at %s does not answer (%v): run 'scripts/stack up'", v, err)
		}
	}
	return v
}

// UniqueName returns prefix followed by a name unique to this test run
// (time and random bytes), lower case, usable as a Kafka topic, consumer
// group or Elasticsearch index name.
func UniqueName(prefix string) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("stacktest: random name: %v", err))
	}
	return fmt.Sprintf("%s%d-%x", prefix, time.Now().UnixNano()/1e6, b)
}

// NewTopic creates a unique topic with the given number of partitions on
// the real Kafka broker (auto topic creation is off there) and deletes it
// when t ends. It skips t like KafkaBrokers when no broker is configured.
func NewTopic(t testing.TB, partitions int) (brokers []string, topic string) {
	t.Helper()
	brokers = KafkaBrokers(t)
	topic = UniqueName("eximship-test-")
	CreateTopic(t, brokers, topic, partitions)
	return brokers, topic
}

// CreateTopic creates topic with the given partitions and topic configs
// (replication 1) on brokers, failing t, and deletes it when t ends.
func CreateTopic(t testing.TB, brokers []string, topic string, partitions int, configs ...kafka.ConfigEntry) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: configs}},
	})
	if err == nil {
		err = res.Errors[topic]
	}
	if err != nil {
		t.Fatalf("create topic %s on %v: %v", topic, brokers, err)
	}
	// A new topic's partitions get their leader a moment after the
	// answer; a producer that writes before may be told "Not Leader For
	// Partition" and, on a loaded machine, give up.
	for {
		if err = leadersElected(ctx, client, topic, partitions); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s on %v: no leader for every partition: %v", topic, brokers, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
		if err == nil {
			err = res.Errors[topic]
		}
		if err != nil {
			t.Logf("delete topic %s: %v", topic, err)
		}
	})
}

// leadersElected reports why not every one of topic's partitions has a
// leader yet (nil once they have).
func leadersElected(ctx context.Context, client *kafka.Client, topic string, partitions int) error {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return err
	}
	for _, tp := range md.Topics {
		if tp.Name != topic {
			continue
		}
		if tp.Error != nil {
			return tp.Error
		}
		if len(tp.Partitions) != partitions {
			return fmt.Errorf("%d of %d partitions known", len(tp.Partitions), partitions)
		}
		for _, p := range tp.Partitions {
			if p.Error != nil {
				return fmt.Errorf("partition %d: %w", p.ID, p.Error)
			}
			if p.Leader.ID < 0 {
				return fmt.Errorf("partition %d has no leader", p.ID)
			}
		}
		return nil
	}
	return fmt.Errorf("topic %s not in the metadata", topic)
}

// ESJSON sends one JSON request to Elasticsearch (url is the node's URL
// with the path) and returns the status and the decoded answer (nil when
// it is not a JSON object). Transport errors fail the test.
func ESJSON(t testing.TB, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m) // not every answer is an object
	return res.StatusCode, m
}
