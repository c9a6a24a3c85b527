package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/stacktest"
)

// sessionDoc is a document's session fields, as a comparable string.
type sessionDoc struct {
	Host    string
	Dataset string
	Line    string // event.original, or the message it came from
	Session string // exim.session (keys sorted) and event.duration
}

// TestSessionsParseVersusRunIntegration ships the main and reject logs of
// two Exim hosts (real Exim captures: one with pids, ports and connection
// lines, one with Exim's default log_selector) through Kafka, as
// Filebeat-style envelopes keyed by host into a topic of three partitions,
// runs `eximship run` into Elasticsearch (in batches of 7 messages on 3
// workers, so that a partition's messages would reach several workers
// without the partition order), and parses the same envelopes with
// `eximship parse`: every document has the same session fields
// (exim.session.*, and event.duration on closing lines) both ways.
func TestSessionsParseVersusRunIntegration(t *testing.T) {
	esURL := stacktest.ElasticURL(t)
	brokers, topic := stacktest.NewTopic(t, 3)
	ns := strings.ReplaceAll(stacktest.UniqueName("sess"), "-", "")
	real := filepath.Join("..", "..", "shipper", "exim", "testdata", "real")
	hosts := []struct{ name, dir string }{{"mx1.example.org", "all"}, {"mx2.example.org", "default"}}

	// The envelopes: each host's main log, then its reject log (the
	// order Exim's log files are read in), the two hosts interleaved.
	var perHost [][]kafka.Message
	for _, h := range hosts {
		var msgs []kafka.Message
		for _, log := range []string{"mainlog", "rejectlog"} {
			path := "/var/log/exim4/" + log
			for _, entry := range logEntries(t, filepath.Join(real, h.dir, log)) {
				msgs = append(msgs, envelopeMessage(t, entry, h.name, path))
			}
		}
		perHost = append(perHost, msgs)
	}
	var msgs []kafka.Message
	for i := 0; len(msgs) < len(perHost[0])+len(perHost[1]); i++ {
		for _, hm := range perHost {
			if i < len(hm) {
				msgs = append(msgs, hm[i])
			}
		}
	}
	var file strings.Builder
	for _, m := range msgs {
		file.Write(m.Value)
		file.WriteByte('\n')
	}
	envPath := filepath.Join(t.TempDir(), "envelopes.ndjson")
	if err := os.WriteFile(envPath, []byte(file.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	// eximship parse
	code, out, errs := runCmd(t, nil, "parse", "-namespace", ns, "-timezone", "UTC", envPath)
	if code != 0 {
		t.Fatalf("parse: exit %d: %s", code, errs)
	}
	var fromParse []sessionDoc
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		fromParse = append(fromParse, sessionOf(t, []byte(l)))
	}

	// eximship run
	w := hashWriter(brokers, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	cfgPath := writeRunConfig(t, brokers, topic, esURL, ns, "  batch_size: 7\n", "", "pipeline:\n  workers: 3\n")
	runUntilIndexed(t, ctx, cfgPath, esURL, ns, len(fromParse), brokers, topic, ns, nil)

	// Elasticsearch keeps no event.original (storage settings): a
	// document is known by its _id, shipper.DocID of its position (one
	// entry per message); the topic read back gives each offset's message.
	valueAt := map[string]string{} // DocID(position, 0) -> message value
	for p := 0; p < 3; p++ {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 200 * time.Millisecond})
		last, err := lastOffset(ctx, brokers, topic, p)
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(0); off < last; off++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("read back partition %d: %v", p, err)
			}
			valueAt[shipper.DocID(shipper.Position{Topic: topic, Partition: m.Partition, Offset: m.Offset}, 0)] = string(m.Value)
		}
		r.Close()
	}
	if len(valueAt) != len(msgs) {
		t.Fatalf("read back %d messages, wrote %d", len(valueAt), len(msgs))
	}
	fromRun := esSessionDocs(t, esURL, "logs-exim.*-"+ns, valueAt)

	// per message value, the session fields of its documents in input
	// order (the same line may repeat: "rejected VRFY" five times in one
	// second)
	want, got := map[string][]string{}, map[string][]string{}
	withSession, summaries := 0, 0
	for i, d := range fromParse {
		v := string(msgs[i].Value)
		want[v] = append(want[v], d.Session)
		if strings.Contains(d.Session, `"id"`) {
			withSession++
		}
		if strings.Contains(d.Session, `"transactions"`) {
			summaries++
		}
	}
	for _, d := range fromRun {
		got[d.Line] = append(got[d.Line], d.Session)
	}
	if len(fromRun) != len(fromParse) {
		t.Fatalf("parse made %d documents, run indexed %d", len(fromParse), len(fromRun))
	}
	for v, w := range want {
		if !slices.Equal(got[v], w) {
			t.Fatalf("session fields differ for %s\nparse %q\n  run %q", v, w, got[v])
		}
	}
	if withSession < 200 || summaries < 30 {
		t.Fatalf("only %d documents with a session, %d summaries: the captures hold more", withSession, summaries)
	}
	t.Logf("%d documents, %d with a session id and %d with a summary: the same from parse and from run", len(fromParse), withSession, summaries)
}

func lastOffset(ctx context.Context, brokers []string, topic string, partition int) (int64, error) {
	c, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, partition)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.ReadLastOffset()
}

// sessionOf reads the session fields of a document.
func sessionOf(t *testing.T, doc []byte) sessionDoc {
	t.Helper()
	var d struct {
		Host  struct{ Name string } `json:"host"`
		Event struct {
			Dataset  string          `json:"dataset"`
			Original string          `json:"original"`
			Duration json.RawMessage `json:"duration"`
		} `json:"event"`
		Exim struct {
			Session json.RawMessage `json:"session"`
		} `json:"exim"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("%v: %s", err, doc)
	}
	s := ""
	if len(d.Exim.Session) > 0 {
		// Elasticsearch's synthetic source sorts keys: compare decoded
		var m map[string]any
		if err := json.Unmarshal(d.Exim.Session, &m); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(m) // sorted keys
		s = string(b) + " duration=" + string(d.Event.Duration)
	}
	return sessionDoc{Host: d.Host.Name, Dataset: d.Event.Dataset, Line: d.Event.Original, Session: s}
}

// esSessionDocs reads every document of index with its session fields;
// Line is the value of the message it came from (by its _id).
func esSessionDocs(t *testing.T, esURL, index string, valueAt map[string]string) []sessionDoc {
	t.Helper()
	http.Post(esURL+"/"+index+"/_refresh", "application/json", nil) //nolint:errcheck // best effort before searching
	raw := search(t, esURL, index, map[string]any{"size": 10000})
	var r struct {
		Hits struct {
			Hits []struct {
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	var out []sessionDoc
	for _, h := range r.Hits.Hits {
		d := sessionOf(t, h.Source)
		v, ok := valueAt[h.ID]
		if !ok {
			t.Fatalf("document %s: no message at its position (one entry per message)", h.ID)
		}
		d.Line = v
		out = append(out, d)
	}
	return out
}
