package process

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper"
)

// TestCreatedIngested: event.created is the Kafka record's time (the time
// of processing without one), event.ingested the processor's clock, both
// in whole seconds, on parsed and error documents alike; Deterministic
// leaves both out.
func TestCreatedIngested(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.UTC)
	kafkaTime := time.Date(2026, 3, 4, 5, 0, 0, 250e6, time.UTC)
	for _, value := range []string{
		"2026-03-01 00:00:00 1sDcEe-000000004BC-0oYZ Completed",
		`{"message": broken`,
	} {
		p := newProc(t, Config{Now: func() time.Time { return now }})
		for _, c := range []struct {
			msgTime time.Time
			created string
		}{{kafkaTime, "2026-03-04T05:00:00.000Z"}, {time.Time{}, "2026-03-04T05:06:07.000Z"}} {
			docs, err := p.Process(shipper.Message{Position: pos, Value: []byte(value), Time: c.msgTime}, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := doc(t, docs[0])
			if got := get(m, "event", "created"); got != c.created {
				t.Errorf("%s: event.created %v, want %s", value, got, c.created)
			}
			if got := get(m, "event", "ingested"); got != "2026-03-04T05:06:07.000Z" {
				t.Errorf("%s: event.ingested %v", value, got)
			}
		}
		d := newProc(t, Config{Deterministic: true, Now: func() time.Time { return now }})
		docs, err := d.Process(shipper.Message{Position: pos, Value: []byte(value), Time: kafkaTime}, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := doc(t, docs[0])
		if get(m, "event", "created") != nil || get(m, "event", "ingested") != nil {
			t.Errorf("Deterministic: %s", docs[0].Body)
		}
	}
}

// TestOriginalBytesKept: an entry that is not valid UTF-8 keeps its bytes
// in exim.original_base64, in parsed and in error documents.
func TestOriginalBytesKept(t *testing.T) {
	p := newProc(t, Config{})
	for _, value := range []string{
		"2026-03-01 00:00:00 H=[192.0.2.1] F=<a@b.example> rejected RCPT <caf\xe9@example.org>: Unrouteable address",
		"{\"message\": \"broken \xff",
	} {
		docs := process(t, p, value)
		m := doc(t, docs[0])
		if got := get(m, "exim", "original_base64"); got == nil {
			t.Errorf("no exim.original_base64 in %s", docs[0].Body)
		} else if raw := decodeB64(t, got.(string)); raw != value {
			t.Errorf("exim.original_base64 decodes to %q, want %q", raw, value)
		}
	}
	if m := doc(t, process(t, p, "2026-03-01 00:00:00 1sDcEe-000000004BC-0oYZ Completed")[0]); get(m, "exim", "original_base64") != nil {
		t.Errorf("exim.original_base64 on valid UTF-8")
	}
}

func decodeB64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
