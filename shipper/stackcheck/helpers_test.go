package stackcheck

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper/stacktest"
)

// consumeGroup reads exactly want messages of topic in consumer group
// group (FetchMessage, then CommitMessages every commitEvery messages and at
// the end), failing t on timeout. It returns the messages in arrival order.
func consumeGroup(t *testing.T, brokers []string, topic, group string, want, commitEvery int, timeout time.Duration) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        brokers,
		GroupID:        group,
		Topic:          topic,
		StartOffset:    kafka.FirstOffset,
		MinBytes:       1,
		MaxBytes:       8 << 20,
		MaxWait:        250 * time.Millisecond,
		CommitInterval: 0, // synchronous CommitMessages
	})
	defer func() {
		if err := r.Close(); err != nil {
			t.Errorf("close reader: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var got, pending []kafka.Message
	for len(got) < want {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetch message %d of %d from %s: %v", len(got)+1, want, topic, err)
		}
		got = append(got, m)
		pending = append(pending, m)
		if len(pending) >= commitEvery || len(got) == want {
			if err := r.CommitMessages(ctx, pending...); err != nil {
				t.Fatalf("commit %d messages: %v", len(pending), err)
			}
			pending = pending[:0]
		}
	}
	return got
}

// noMoreMessages checks that topic holds no message beyond the n expected:
// the sum over partitions of the last offsets equals n.
func topicSize(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	conn, err := kafka.Dial("tcp", brokers[0])
	if err != nil {
		t.Fatalf("dial %s: %v", brokers[0], err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("read partitions of %s: %v", topic, err)
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p.ID), kafka.FirstOffsetOf(p.ID))
	}
	res, err := client.ListOffsets(context.Background(), req)
	if err != nil {
		t.Fatalf("list offsets of %s: %v", topic, err)
	}
	var n int64
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("list offsets of %s[%d]: %v", topic, po.Partition, po.Error)
		}
		n += po.LastOffset - po.FirstOffset
	}
	return n
}

// committedTotal returns the sum of the offsets committed by group on topic.
func committedTotal(t *testing.T, brokers []string, topic, group string, partitions int) int64 {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	ps := make([]int, partitions)
	for i := range ps {
		ps[i] = i
	}
	res, err := client.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{
		GroupID: group,
		Topics:  map[string][]int{topic: ps},
	})
	if err != nil {
		t.Fatalf("offset fetch for group %s: %v", group, err)
	}
	if res.Error != nil {
		t.Fatalf("offset fetch for group %s: %v", group, res.Error)
	}
	var n int64
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("offset fetch %s[%d]: %v", topic, p.Partition, p.Error)
		}
		if p.CommittedOffset > 0 {
			n += p.CommittedOffset
		}
	}
	return n
}

// esClient returns a go-elasticsearch/v8 client for the real node. The
// client's product check stays on: the first 2xx answer must carry
// X-Elastic-Product: Elasticsearch.
func esClient(t *testing.T) *elasticsearch.Client {
	t.Helper()
	url := stacktest.ElasticURL(t)
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{url}})
	if err != nil {
		t.Fatalf("elasticsearch client for %s: %v", url, err)
	}
	return es
}

// esDo performs a raw request and returns status and body; it fails t on a
// transport error only.
func esDo(t *testing.T, es *elasticsearch.Client, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, path, rd)
	if err != nil {
		t.Fatalf("request %s %s: %v", method, path, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := es.Perform(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return res.StatusCode, string(b)
}

// deleteIndex removes index at the end of t.
func deleteIndexAtCleanup(t *testing.T, es *elasticsearch.Client, index string) {
	t.Cleanup(func() {
		res, err := es.Indices.Delete([]string{index})
		if err != nil {
			t.Logf("delete index %s: %v", index, err)
			return
		}
		res.Body.Close()
	})
}
