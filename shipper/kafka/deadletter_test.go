package kafka

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper"
)

func testDeadLetters() []shipper.DeadLetter {
	mk := func(off int64, entry int, orig string, status int, reason string) shipper.DeadLetter {
		pos := shipper.Position{Topic: "exim", Partition: 2, Offset: off}
		return shipper.DeadLetter{
			Doc: shipper.Doc{
				ID: shipper.DocID(pos, entry), Stream: "logs-exim.main-default",
				Pos: pos, Entry: entry, Original: []byte(orig),
				Body: []byte(`{"event":{"original":` + strconv.Quote(strings.ToValidUTF8(orig, "?")) + `}}`),
			},
			Status: status, Reason: reason,
		}
	}
	return []shipper.DeadLetter{
		mk(41, 0, "2024-01-01 00:00:00 1rXXXX-000000-XX <= a@b.example H=x [1.2.3.4] S=12", 400, "mapper_parsing_exception: failed to parse field [source.ip]"),
		mk(41, 1, "binary \xff\xfe\x00 garbage", 400, "document_parsing_exception"),
		mk(99, 0, strings.Repeat("x", 2000), 400, "too long"),
	}
}

// bigDeadLetters are dead letters of about n bytes of original and of
// document each: valid text, control bytes (escaped to 6 bytes in JSON) and
// invalid UTF-8 (kept as base64 too).
func bigDeadLetters(n int) []shipper.DeadLetter {
	dls := testDeadLetters()[:2]
	for i, fill := range []string{"\x01", "\xff"} {
		f, _ := strconv.Unquote(`"` + fill + `"`)
		orig := []byte("2024-01-01 00:00:00 " + strings.Repeat("relay "+f, n/7))
		dls[i].Doc.Original = orig
		dls[i].Doc.Body = []byte(`{"message":` + strconv.Quote(strings.Repeat("\x01", n/4)) + `}`)
	}
	return dls
}

func TestDeadLetterRecordFitsMaxRecordBytes(t *testing.T) {
	for _, limit := range []int{0, 64 << 10, minRecordBytes} {
		w, err := NewDeadLetterWriter(DeadLetterConfig{Brokers: []string{"127.0.0.1:1"}, Topic: "t", MaxRecordBytes: limit})
		if err != nil {
			t.Fatal(err)
		}
		want := w.cfg.MaxRecordBytes
		for _, dl := range bigDeadLetters(3 << 20) {
			b, err := w.encode(dl, time.Unix(0, 0), want)
			if err != nil {
				t.Fatal(err)
			}
			var rec DeadLetterRecord
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatalf("limit %d: %v", want, err)
			}
			if len(b) > want || !rec.DocumentOmitted || !rec.OriginalTruncated || rec.DocID != dl.Doc.ID {
				t.Errorf("limit %d: %d bytes, document omitted %v, original truncated %v, id %q", want, len(b), rec.DocumentOmitted, rec.OriginalTruncated, rec.DocID)
			}
			if !strings.HasPrefix(strings.ToValidUTF8(string(dl.Doc.Original), "\uFFFD"), strings.ToValidUTF8(rec.Original, "\uFFFD")) {
				t.Errorf("limit %d: the original kept is not a prefix of the entry", want)
			}
			if len(b) < want/4 && want > minRecordBytes {
				t.Errorf("limit %d: cut to %d bytes, far more than needed", want, len(b))
			}
		}
	}
	// a record that fits is left whole
	w, _ := NewDeadLetterWriter(DeadLetterConfig{Brokers: []string{"127.0.0.1:1"}, Topic: "t"})
	dl := testDeadLetters()[1]
	b, err := w.encode(dl, time.Unix(0, 0), w.cfg.MaxRecordBytes)
	if err != nil {
		t.Fatal(err)
	}
	var rec DeadLetterRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.DocumentOmitted || rec.OriginalTruncated || rec.OriginalBase64 == "" || rec.Document == "" {
		t.Fatalf("a small record was cut: %s (%v)", b, err)
	}
}

// readDeadLetters reads n records from the beginning of topic.
func readDeadLetters(t testing.TB, brokers []string, topic string, n int) []kafkago.Message {
	t.Helper()
	// One reader per partition is not needed: a group reader sees all.
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: brokers, GroupID: "dlq-check", GroupTopics: []string{topic},
		StartOffset: kafkago.FirstOffset, MaxWait: 200 * time.Millisecond,
		HeartbeatInterval: 500 * time.Millisecond, SessionTimeout: 10 * time.Second,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []kafkago.Message
	for len(out) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read dead letters (%d of %d): %v", len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

func testDeadLetterRoundTrip(t *testing.T, brokers []string, topic string) {
	w, err := NewDeadLetterWriter(DeadLetterConfig{Brokers: brokers, Topic: topic, MaxOriginalBytes: 1000, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fixed := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	w.now = func() time.Time { return fixed }
	dls := testDeadLetters()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.WriteDeadLetters(ctx, dls); err != nil {
		t.Fatalf("write: %v", err)
	}
	byID := map[string]shipper.DeadLetter{}
	for _, dl := range dls {
		byID[dl.Doc.ID] = dl
	}
	for _, m := range readDeadLetters(t, brokers, topic, len(dls)) {
		dl, ok := byID[string(m.Key)]
		if !ok {
			t.Fatalf("record with unexpected key %q", m.Key)
		}
		delete(byID, string(m.Key))
		var rec DeadLetterRecord
		if err := json.Unmarshal(m.Value, &rec); err != nil {
			t.Fatalf("record %s: %v", m.Key, err)
		}
		if rec.DocID != dl.Doc.ID || rec.Error != dl.Reason || rec.Status != dl.Status ||
			rec.Topic != dl.Doc.Pos.Topic || rec.Partition != dl.Doc.Pos.Partition ||
			rec.Offset != dl.Doc.Pos.Offset || rec.Entry != dl.Doc.Entry ||
			rec.Timestamp != "2024-05-06T07:08:09Z" || rec.Stream != dl.Doc.Stream {
			t.Errorf("record %s = %+v, dead letter %+v", m.Key, rec, dl)
		}
		if len(dl.Doc.Body) > 1000 {
			if !rec.DocumentOmitted || rec.Document != "" {
				t.Errorf("record %s: a document of %d bytes kept (limit 1000)", m.Key, len(dl.Doc.Body))
			}
		} else if rec.Document != string(dl.Doc.Body) || rec.DocumentOmitted {
			t.Errorf("record %s: document %q, want %q", m.Key, rec.Document, dl.Doc.Body)
		}
		orig := dl.Doc.Original
		if len(orig) > 1000 {
			if !rec.OriginalTruncated || rec.Original != string(orig[:1000]) {
				t.Errorf("record %s: truncated=%v, %d original bytes", m.Key, rec.OriginalTruncated, len(rec.Original))
			}
			continue
		}
		if rec.OriginalTruncated {
			t.Errorf("record %s truncated", m.Key)
		}
		if rec.OriginalBase64 != "" {
			raw, err := base64.StdEncoding.DecodeString(rec.OriginalBase64)
			if err != nil || string(raw) != string(orig) {
				t.Errorf("record %s: base64 original %q, want %q", m.Key, raw, orig)
			}
		} else if rec.Original != string(orig) {
			t.Errorf("record %s: original %q, want %q", m.Key, rec.Original, orig)
		}
	}
	if len(byID) != 0 {
		t.Fatalf("dead letters not found: %v", byID)
	}
}

func TestDeadLetterWriterRoundTrip(t *testing.T) {
	brokers := fakeCluster(t, "exim-dlq", 3)
	testDeadLetterRoundTrip(t, brokers, "exim-dlq")
}

func TestDeadLetterWriterFailsOnMissingTopic(t *testing.T) {
	brokers := fakeCluster(t, "exim-dlq", 1)
	w, err := NewDeadLetterWriter(DeadLetterConfig{Brokers: brokers, Topic: "missing", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = w.WriteDeadLetters(ctx, testDeadLetters())
	if err == nil {
		t.Fatal("write to a missing topic (auto creation off) succeeded")
	}
	t.Logf("write to a missing topic: %v", err)
}

func TestDeadLetterRecordInvalidUTF8(t *testing.T) {
	w, err := NewDeadLetterWriter(DeadLetterConfig{Brokers: []string{"127.0.0.1:1"}, Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	dl := testDeadLetters()[1]
	r := w.Record(dl, time.Unix(0, 0))
	raw, err := base64.StdEncoding.DecodeString(r.OriginalBase64)
	if err != nil || string(raw) != string(dl.Doc.Original) {
		t.Fatalf("base64 original %q (%v), want %q", raw, err, dl.Doc.Original)
	}
	b, err := json.Marshal(r)
	if err != nil || !json.Valid(b) {
		t.Fatalf("marshal: %v %s", err, b)
	}
	var back DeadLetterRecord
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(back.Original, "binary \uFFFD\uFFFD\x00") {
		t.Fatalf("original in JSON %q", back.Original)
	}
	if r := w.Record(testDeadLetters()[0], time.Unix(0, 0)); r.OriginalBase64 != "" {
		t.Fatalf("valid UTF-8 original got base64 too: %+v", r)
	}
}

// TestReadTopicReadsWhatIsThere: every message present at the call, each
// partition in order, then it returns (no group, nothing waits for more).
func TestReadTopicReadsWhatIsThere(t *testing.T) {
	const topic = "exim-dlq"
	brokers := fakeCluster(t, topic, 3)
	produce(t, brokers, topic, 90)
	cfg := fastConfig(t, brokers, topic, "unused")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := map[string]bool{}
	last := map[int]int64{}
	err := ReadTopic(ctx, cfg, topic, func(m shipper.Message) error {
		if o, ok := last[m.Partition]; ok && m.Offset != o+1 {
			t.Errorf("partition %d: offset %d after %d", m.Partition, m.Offset, o)
		}
		last[m.Partition] = m.Offset
		seen[string(m.Value)] = true
		return nil
	})
	if err != nil || len(seen) != 90 || len(last) != 3 {
		t.Fatalf("read %d distinct messages from %d partitions: %v", len(seen), len(last), err)
	}
	stop := errors.New("stop")
	n := 0
	if err := ReadTopic(ctx, cfg, topic, func(shipper.Message) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("fn's error: %v after %d", err, n)
	}
	if err := ReadTopic(ctx, cfg, "nope", func(shipper.Message) error { return nil }); err == nil || !strings.Contains(err.Error(), `"nope" does not exist`) {
		t.Fatalf("missing topic: %v", err)
	}
}
