package process

import (
	"fmt"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper"
)

// sessionID returns exim.session.id of the one document of a message at
// position p.
func sessionID(t *testing.T, pr *Exim, p shipper.Position, line string) string {
	t.Helper()
	docs, err := pr.Process(shipper.Message{Position: p, Value: []byte(line), Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Fatalf("%d documents, want 1", len(docs))
	}
	id, _ := get(doc(t, docs[0]), "exim", "session", "id").(string)
	return id
}

// TestProcessSessionsPerPartition: each partition has its own sessions (the
// same connection's lines on two partitions are two sessions); a message
// at an offset already seen on its partition (re-delivery after a
// rebalance) starts that partition afresh; NoSessions writes none.
func TestProcessSessionsPerPartition(t *testing.T) {
	line := func(n int) string {
		return fmt.Sprintf("2026-11-25 10:00:0%d [100] H=(a.test) [192.0.2.1] F=<x@a.test> rejected RCPT <v%d@gmail.example>: relay not permitted", n, n)
	}
	pr := newProc(t, Config{})
	p0 := shipper.Position{Topic: "exim", Partition: 0}
	p1 := shipper.Position{Topic: "exim", Partition: 1}
	a := sessionID(t, pr, p0, line(1))
	p0.Offset++
	if b := sessionID(t, pr, p0, line(2)); a == "" || b != a {
		t.Fatalf("one connection on one partition: sessions %q and %q", a, b)
	}
	if c := sessionID(t, pr, p1, line(3)); c == "" || c == a {
		t.Fatalf("partition 1 joined partition 0's session (%q)", c)
	}
	if n := pr.Sessions(); n != 2 {
		t.Errorf("Sessions() = %d, want 2 (one per partition)", n)
	}
	// re-delivery of offset 1 on partition 0: fresh state, the line starts
	// a session again (the same one it started before: ids come from the
	// input)
	p0.Offset = 1
	if d := sessionID(t, pr, p0, line(2)); d == a {
		t.Fatalf("re-delivered message joined the session held before the rewind")
	}
	p0.Offset = 0
	if e := sessionID(t, pr, p0, line(1)); e != a {
		t.Fatalf("the first line again, after a rewind: session %q, want the same id %q", e, a)
	}
	off := newProc(t, Config{NoSessions: true})
	if id := sessionID(t, off, p0, line(1)); id != "" {
		t.Fatalf("NoSessions wrote session %q", id)
	}
}
