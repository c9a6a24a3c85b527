package session

import (
	"bufio"
	"bytes"
	"os"
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
