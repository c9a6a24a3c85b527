package stackcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esutil"
	"github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper/stacktest"
)

// TestKafkaToElasticsearch10kIntegration is the proof asked by issue 3:
// 10,000 messages produced to the real Kafka with kafka-go, consumed in a
// consumer group (FetchMessage + CommitMessages), bulk-indexed into the
// real Elasticsearch with go-elasticsearch/v8; the counts match exactly,
// every message arrives once, and the group's committed offsets cover all
// of them.
func TestKafkaToElasticsearch10kIntegration(t *testing.T) {
	const n = 10000
	const partitions = 6
	brokers, topic := stacktest.NewTopic(t, partitions)
	es := esClient(t)
	index := stacktest.UniqueName("eximship-test-")
	group := topic + "-group"

	// Produce: unique, checkable payloads (seq and a body derived from it).
	w := &kafka.Writer{
		Addr:                   kafka.TCP(brokers...),
		Topic:                  topic,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchSize:              1000,
		BatchTimeout:           20 * time.Millisecond,
		AllowAutoTopicCreation: false,
	}
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{
			Key:   []byte(fmt.Sprintf("k%d", i%97)),
			Value: []byte(fmt.Sprintf(`{"seq":%d,"message":"2026-11-25 10:00:00 1vX%06d-000000-AB <= sender%d@example.org"}`, i, i, i)),
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce %d messages: %v", n, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close writer: %v", err)
	}
	t.Logf("produced %d messages to %s in %v", n, topic, time.Since(start))
	if got := topicSize(t, brokers, topic); got != n {
		t.Fatalf("topic %s holds %d messages, want %d", topic, got, n)
	}

	// Index template for the test index: explicit mapping, no replicas.
	deleteIndexAtCleanup(t, es, index)
	res, err := es.Indices.Create(index, es.Indices.Create.WithBody(strings.NewReader(
		`{"settings":{"number_of_shards":1,"number_of_replicas":0},
		  "mappings":{"properties":{"seq":{"type":"long"},"message":{"type":"text"},
		  "kafka":{"properties":{"partition":{"type":"integer"},"offset":{"type":"long"}}}}}}`)))
	if err != nil {
		t.Fatalf("create index %s: %v", index, err)
	}
	res.Body.Close()
	if res.IsError() {
		t.Fatalf("create index %s: %s", index, res.Status())
	}

	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:     es,
		Index:      index,
		NumWorkers: 2,
		FlushBytes: 1 << 20,
	})
	if err != nil {
		t.Fatalf("bulk indexer: %v", err)
	}
	var itemErrs atomic.Int64
	var firstErr atomic.Value

	// Consume in a group, index each message with an id derived from its
	// position (so a redelivery could not inflate the count).
	start = time.Now()
	got := consumeGroup(t, brokers, topic, group, n, 500, 3*time.Minute)
	seen := make(map[int]bool, n)
	for _, m := range got {
		var doc struct {
			Seq     int    `json:"seq"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			t.Fatalf("message at %d/%d is not the JSON produced: %v", m.Partition, m.Offset, err)
		}
		if seen[doc.Seq] {
			t.Fatalf("seq %d delivered twice", doc.Seq)
		}
		seen[doc.Seq] = true
		want := fmt.Sprintf("1vX%06d-000000-AB <= sender%d@example.org", doc.Seq, doc.Seq)
		if !strings.HasSuffix(doc.Message, want) {
			t.Fatalf("seq %d: message %q, want suffix %q", doc.Seq, doc.Message, want)
		}
		body, _ := json.Marshal(map[string]any{
			"seq": doc.Seq, "message": doc.Message,
			"kafka": map[string]any{"partition": m.Partition, "offset": m.Offset},
		})
		err := bi.Add(ctx, esutil.BulkIndexerItem{
			Action:     "create",
			DocumentID: fmt.Sprintf("%d-%d", m.Partition, m.Offset),
			Body:       bytes.NewReader(body),
			OnFailure: func(_ context.Context, item esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
				itemErrs.Add(1)
				if err == nil {
					err = fmt.Errorf("%s: %s", r.Error.Type, r.Error.Reason)
				}
				firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v", item.DocumentID, err))
			},
		})
		if err != nil {
			t.Fatalf("bulk add: %v", err)
		}
	}
	if err := bi.Close(ctx); err != nil {
		t.Fatalf("bulk close: %v", err)
	}
	st := bi.Stats()
	if itemErrs.Load() != 0 || st.NumFailed != 0 {
		t.Fatalf("bulk: %d items failed, first: %v", st.NumFailed, firstErr.Load())
	}
	if st.NumCreated != n {
		t.Fatalf("bulk created %d documents, want %d (stats %+v)", st.NumCreated, n, st)
	}
	t.Logf("consumed and indexed %d messages in %v", n, time.Since(start))
	if len(seen) != n {
		t.Fatalf("distinct seq consumed: %d, want %d", len(seen), n)
	}
	if c := committedTotal(t, brokers, topic, group, partitions); c != n {
		t.Fatalf("group %s committed offsets sum to %d, want %d", group, c, n)
	}

	res, err = es.Indices.Refresh(es.Indices.Refresh.WithIndex(index))
	if err != nil {
		t.Fatalf("refresh %s: %v", index, err)
	}
	res.Body.Close()
	res, err = es.Count(es.Count.WithIndex(index))
	if err != nil {
		t.Fatalf("count %s: %v", index, err)
	}
	defer res.Body.Close()
	var cnt struct {
		Count int `json:"count"`
	}
	if err := json.NewDecoder(res.Body).Decode(&cnt); err != nil {
		t.Fatalf("decode count: %v", err)
	}
	if cnt.Count != n {
		t.Fatalf("_count of %s = %d, want %d", index, cnt.Count, n)
	}

	// Distinct seq values in the index: all n (terms would be too many
	// buckets; cardinality is exact below its precision threshold).
	code, body := esDo(t, es, "POST", "/"+index+"/_search",
		`{"size":0,"aggs":{"seqs":{"cardinality":{"field":"seq","precision_threshold":40000}},"max":{"max":{"field":"seq"}}}}`)
	if code != 200 {
		t.Fatalf("aggregation: %d %s", code, body)
	}
	var agg struct {
		Aggregations struct {
			Seqs struct{ Value int } `json:"seqs"`
			Max  struct{ Value float64 }
		} `json:"aggregations"`
	}
	if err := json.Unmarshal([]byte(body), &agg); err != nil {
		t.Fatalf("decode aggregation: %v", err)
	}
	if agg.Aggregations.Seqs.Value != n || int(agg.Aggregations.Max.Value) != n-1 {
		t.Fatalf("index holds %d distinct seq up to %v, want %d up to %d", agg.Aggregations.Seqs.Value, agg.Aggregations.Max.Value, n, n-1)
	}
}
