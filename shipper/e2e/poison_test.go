package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/stacktest"
)

// poison are inputs that must neither stop a partition nor the process.
func poison() []struct {
	name  string
	value []byte
} {
	rng := rand.New(rand.NewPCG(7, 7))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	big := append([]byte("2026-11-25 10:00:02.000 [4242] 1xPois-000002-AA <= big@example.org H=(x) [127.0.0.9]:25 S=1000000 T=\""),
		bytes.Repeat([]byte("A"), 1_000_000-120)...)
	big = append(big, '"')
	return []struct {
		name  string
		value []byte
	}{
		{"invalid UTF-8", []byte("2026-11-25 10:00:00.000 [4242] 1xPois-000000-AA <= \xff\xfe\xfd@example.org H=(\xc3\x28) [127.0.0.9]:25 S=100")},
		{"NUL bytes", []byte("2026-11-25 10:00:01.000 [4242] \x00\x00 H=(nul\x00host) [127.0.0.9]:25 rejected RCPT <a\x00b@example.org>: relay not permitted\x00")},
		{"1 MB line", big},
		{"binary garbage", garbage},
		{"truncated JSON envelope", []byte(`{"@timestamp":"2026-11-25T10:00:03Z","message":"2026-11-25 10:00:03.000 [4242] SMTP connection from [127.0.0.9]`)},
		{"JSON envelope with a number as message", []byte(`{"@timestamp":"2026-11-25T10:00:04Z","message":12345,"log":{"file":{"path":7}}}`)},
		{"JSON envelope without message", []byte(`{"@timestamp":"not a time","host":{"name":["x"]}}`)},
		{"JSON with invalid UTF-8 and NUL", []byte("{\"message\":\"2026-11-25 10:00:05.000 [4242] \xff\\u0000 Completed\"}")},
		{"lone brace", []byte("{")},
	}
}

// TestPoisonInputIntegration: invalid UTF-8, NUL bytes, a 1 MB line,
// binary garbage and broken JSON envelopes, interleaved with real lines on
// one partition, go through the whole path. Each poison message becomes
// error documents or dead letters; the partition goes on: every real line
// after them is indexed and the partition's offset is committed to its end.
func TestPoisonInputIntegration(t *testing.T) {
	esURL := stacktest.ElasticURL(t)
	env := newTestEnv(t, esURL)
	good := readLines(t, seedLog(t))[:200]
	bad := poison()

	// All on partition 0, in this order: 20 good lines, a poison, ...
	type input struct {
		name string
		good bool
		msg  kafka.Message
	}
	var ins []input
	gi := 0
	for _, b := range bad {
		for k := 0; k < 20; k++ {
			ins = append(ins, input{name: "good", good: true, msg: kafka.Message{Value: good[gi]}})
			gi++
		}
		ins = append(ins, input{name: b.name, msg: kafka.Message{Value: b.value}})
	}
	for ; gi < len(good); gi++ {
		ins = append(ins, input{name: "good", good: true, msg: kafka.Message{Value: good[gi]}})
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(env.kafka.brokers...),
		Topic:        env.kafka.topic,
		Balancer:     kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 }),
		RequiredAcks: kafka.RequireAll,
		BatchSize:    1, // one record per batch: the 1 MB one alone fits the broker's limit
		BatchBytes:   1_048_000,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range ins {
		if err := w.WriteMessages(ctx, ins[i].msg); err != nil {
			t.Fatalf("produce %s: %v", ins[i].name, err)
		}
	}
	w.Close()
	end := env.kafka.endOffsets(t)
	if end[0] != int64(len(ins)) {
		t.Fatalf("partition 0 holds %d messages, produced %d", end[0], len(ins))
	}

	sp := env.startShipper("run", env.writeConfig(config{keepOriginal: true}))
	env.kafka.waitCommitted(t, env.group, end, 5*time.Minute, sp.checkAlive)
	sp.stop(30 * time.Second)
	fs := sp.finalStats()
	t.Logf("final stats %+v", fs)

	docs := map[string]map[string]any{}
	env.es.scan(t, env.logsPattern(), true, func(h hit) { docs[h.ID] = decode(t, h.Source) })
	dead := map[string]bool{}
	env.es.scan(t, env.deadLetterIndex(), true, func(h hit) {
		var d struct {
			DocID string `json:"doc_id"`
		}
		json.Unmarshal(h.Source, &d)
		dead[d.DocID] = true
	})
	for off, in := range ins {
		pos := shipper.Position{Topic: env.kafka.topic, Partition: 0, Offset: int64(off)}
		id := shipper.DocID(pos, 0)
		if in.good {
			d, ok := docs[id]
			if !ok {
				t.Errorf("good line at offset %d (%s) not indexed", off, id)
				continue
			}
			if orig := dig(d, "event", "original"); orig != string(in.msg.Value) {
				t.Errorf("good line at offset %d: event.original %q", off, orig)
			}
			if e := dig(d, "error", "message"); e != nil {
				t.Errorf("good line at offset %d has error.message %v", off, e)
			}
			continue
		}
		// A poison message: its entries are error documents or dead letters.
		var outcome []string
		for k := 0; ; k++ {
			id := shipper.DocID(pos, k)
			d, indexed := docs[id]
			if !indexed && !dead[id] {
				break
			}
			switch {
			case dead[id]:
				outcome = append(outcome, "dead letter")
			case dig(d, "error", "message") != nil:
				outcome = append(outcome, "error document")
			default:
				outcome = append(outcome, "document")
			}
		}
		if len(outcome) == 0 {
			t.Errorf("poison %q at offset %d: neither indexed nor dead-lettered", in.name, off)
			continue
		}
		t.Logf("poison %-40q offset %3d -> %s", in.name, off, strings.Join(outcome, ", "))
	}
}
