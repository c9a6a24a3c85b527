package session

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/exim"
)

// entries splits a log into entries: a line that starts with a timestamp
// begins one, the lines after it that do not (reject-log continuation
// lines) belong to it.
func entries(data []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Bytes()
		if len(l) == 0 {
			continue
		}
		if len(out) > 0 && !(len(l) >= 19 && l[4] == '-' && l[10] == ' ' && l[13] == ':') {
			out[len(out)-1] = append(append(out[len(out)-1], '\n'), l...)
			continue
		}
		out = append(out, append([]byte(nil), l...))
	}
	return out
}

// observed is one record after the tracker saw it.
type observed struct {
	line     string
	action   string
	dataset  string
	ip       string
	port     int
	rejectID string // exim.rejection.id
	session  exim.Session
}

// track parses the entries of a main log, then of the reject logs that
// follow it, with one tracker and returns what it set.
func track(t testing.TB, tr *Tracker, host string, logs ...[]byte) []observed {
	t.Helper()
	p := exim.NewParser(exim.Options{Location: time.UTC})
	var out []observed
	for i, data := range logs {
		ds := "exim.main"
		if i > 0 {
			ds = "exim.reject"
		}
		for _, e := range entries(data) {
			var r exim.Record
			r.Meta = exim.Meta{HostName: host, Dataset: ds}
			p.Parse(e, &r)
			tr.Observe(&r)
			line := string(e)
			if i := bytes.IndexByte(e, '\n'); i >= 0 {
				line = string(e[:i])
			}
			out = append(out, observed{line: line, action: r.Action, dataset: ds, ip: string(r.Host.IP), port: r.Host.Port,
				rejectID: string(r.AppendRejectionID(nil)), session: r.Session})
		}
	}
	return out
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newTracker(t testing.TB, c Config) *Tracker {
	t.Helper()
	tr, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestIDTimeFirst: a session id is the Unix second of its first line in 8
// hex digits, then 12 of the hash, so ids sort in time order; two sessions
// that start with the same line in the same second (a log without pids or
// ports) still get different ids.
func TestIDTimeFirst(t *testing.T) {
	tr := newTracker(t, Config{})
	log := []byte("2026-11-25 17:45:03 SMTP connection from [192.0.2.1]\n" +
		"2026-11-25 17:45:03 SMTP connection from [192.0.2.1]\n" +
		"2026-11-25 17:46:10 SMTP connection from [192.0.2.2]\n")
	obs := track(t, tr, "mx.example.org", log)
	if len(obs) != 3 {
		t.Fatalf("%d records", len(obs))
	}
	first := time.Date(2026, 11, 25, 17, 45, 3, 0, time.UTC).Unix()
	want := []int64{first, first, first + 67}
	seen := map[string]bool{}
	for i, o := range obs {
		id := o.session.ID
		if len(id) != 20 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("line %d: session id %q: want 20 lower-case hex digits", i, id)
		}
		if sec, err := strconv.ParseInt(id[:8], 16, 64); err != nil || sec != want[i] {
			t.Errorf("line %d: id %s starts with second %d, want %d", i, id, sec, want[i])
		}
		if seen[id] {
			t.Errorf("line %d: id %s given twice", i, id)
		}
		seen[id] = true
	}
	if !(obs[0].session.ID < obs[2].session.ID && obs[1].session.ID < obs[2].session.ID) {
		t.Errorf("ids not in time order: %s %s %s", obs[0].session.ID, obs[1].session.ID, obs[2].session.ID)
	}
}
