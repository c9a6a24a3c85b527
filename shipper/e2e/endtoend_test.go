package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/stacktest"
)

// TestEndToEndIntegration: a real Exim log of 50,000+ entries goes through
// Kafka (one line per message) and `eximship run` into Elasticsearch; the
// documents there equal, by id and content, what `eximship parse` makes of
// the same file.
//
// The producer keys lines by line number, so the one log is spread over
// every partition. run keeps SMTP session state per partition (docs/
// SESSIONS.md: producers should key by host, which this test does not), so
// the reference is parse run on each partition's lines, in offset order:
// the documents must be what parse makes of exactly the lines run saw in
// that partition, session ids included (a session id is made of the host,
// time, pid and line, never of the partition or the file).
// TestSessionsParseVersusRunIntegration (cmd/eximship) proves the keyed
// case: one host per partition gives parse's ids for the whole file.
//
// The one field that differs by design is log.file.path: parse sets it to
// the file it read; a raw line consumed from Kafka carries no file name
// (Filebeat/Vector envelopes would give one). It is removed from parse's
// documents before the comparison, after checking that it is the file's
// path. Nothing else is ignored: parse's reference time (the file's mtime)
// and run's (the Kafka timestamp) only matter for lines without a full
// date, and every Exim main log line has one.
func TestEndToEndIntegration(t *testing.T) {
	esURL := stacktest.ElasticURL(t)
	env := newTestEnv(t, esURL)
	path := corpusLog(t)
	lines := readLines(t, path)
	n := len(lines)
	if n < 50_000 {
		t.Fatalf("corpus %s has %d lines, want >= 50,000", path, n)
	}

	t0 := time.Now()
	env.kafka.produceLines(t, lines, 1)
	msgs := env.kafka.readAll(t)
	if len(msgs) != n {
		t.Fatalf("topic holds %d messages, produced %d", len(msgs), n)
	}
	pos := positionsByLine(t, msgs)
	for _, m := range msgs {
		if !bytes.Equal(lines[mustAtoi(t, m.key)-1], m.value) {
			t.Fatalf("message at %s (key %s) is not line %s of the file", m.pos, m.key, m.key)
		}
	}
	end := env.kafka.endOffsets(t)
	t.Logf("produced %d lines to %s (%v partitions: %v) in %v", n, env.kafka.topic, partitions, end, time.Since(t0).Round(time.Millisecond))

	t0 = time.Now()
	sp := env.startShipper("run", env.writeConfig(config{}))
	// Every real line must be indexed: a dead letter fails the test at once.
	healthy := func() error {
		if err := sp.checkAlive(); err != nil {
			return err
		}
		if d := sp.stats().DeadLettered; d > 0 {
			return fmt.Errorf("%d documents were dead-lettered (see %s)", d, sp.logPath)
		}
		return nil
	}
	env.es.waitCount(t, env.logsPattern(), int64(n), 10*time.Minute, healthy)
	env.kafka.waitCommitted(t, env.group, end, time.Minute, healthy)
	took := time.Since(t0)
	sp.stop(30 * time.Second)
	fs := sp.finalStats()
	if fs == nil {
		t.Fatal("no final stats line")
	}
	t.Logf("eximship run indexed %d entries in %v (%.0f docs/s incl. start-up); final stats %+v", n, took.Round(time.Millisecond), float64(n)/took.Seconds(), *fs)
	if fs.Consumed != int64(n) || fs.Indexed != int64(n) || fs.DeadLettered != 0 {
		t.Errorf("final stats %+v: want %d consumed and indexed, none dead-lettered", *fs, n)
	}

	// What eximship parse makes of each partition's lines.
	want, paths := parsePartitions(t, msgs, lines, env.ns)
	if len(want) != n {
		t.Fatalf("eximship parse made %d documents of %d lines, want one per line", len(want), n)
	}

	// What Elasticsearch holds, by id.
	got := map[string]hit{}
	env.es.scan(t, env.logsPattern(), true, func(h hit) {
		if _, dup := got[h.ID]; dup {
			t.Errorf("id %s twice in %s", h.ID, env.logsPattern())
		}
		got[h.ID] = h
	})
	if len(got) != n {
		t.Errorf("Elasticsearch holds %d documents, want %d", len(got), n)
	}

	mismatches := 0
	for line := 1; line <= n; line++ {
		w := want[line]
		id := shipper.DocID(pos[line], 0)
		h, ok := got[id]
		if !ok {
			mismatches++
			if mismatches <= 5 {
				t.Errorf("line %d (%s): no document %s in Elasticsearch", line, pos[line], id)
			}
			continue
		}
		if h.Index != w.Index && !strings.HasPrefix(h.Index, ".ds-"+w.Index+"-") {
			mismatches++
			if mismatches <= 5 {
				t.Errorf("line %d: document %s is in %s, parse says data stream %s", line, id, h.Index, w.Index)
			}
		}
		ws := decode(t, w.Source)
		if fp := dig(ws, "log", "file", "path"); fp != paths[pos[line].Partition] {
			t.Fatalf("line %d: parse's log.file.path is %v, want the file %s", line, fp, paths[pos[line].Partition])
		}
		deletePath(ws, "log", "file", "path")
		gs := decode(t, h.Source)
		// run stamps event.created (the Kafka record's time) and
		// event.ingested (its clock); parse leaves both out
		for _, f := range []string{"created", "ingested"} {
			if _, ok := dig(gs, "event", f).(string); !ok {
				t.Fatalf("line %d: run wrote no event.%s: %v", line, f, gs["event"])
			}
			deletePath(gs, "event", f)
		}
		// logsdb's synthetic _source writes a float field's value in
		// its type's form (0 comes back as 0.0): numbers compare by value
		canonicalNumbers(ws)
		canonicalNumbers(gs)
		if !reflect.DeepEqual(ws, gs) {
			mismatches++
			if mismatches <= 5 {
				t.Errorf("line %d (%s): Elasticsearch and parse differ:\n%s", line, id, diffJSON(ws, gs))
			}
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d documents differ from eximship parse", mismatches, n)
	}
	t.Logf("all %d documents in Elasticsearch equal eximship parse's by id, data stream and content (log.file.path aside)", n)
}

// parsePartitions writes each partition's lines, in offset order, to a
// file of its own and runs parse on each; it returns parse's document of
// every line (by line number) and the file of every partition.
func parsePartitions(t *testing.T, msgs []message, lines [][]byte, ns string) (map[int]parsed, map[int]string) {
	t.Helper()
	byPart := map[int][]message{}
	for _, m := range msgs {
		byPart[m.pos.Partition] = append(byPart[m.pos.Partition], m)
	}
	dir := t.TempDir()
	want := make(map[int]parsed, len(msgs))
	paths := map[int]string{}
	for p, ms := range byPart {
		sort.Slice(ms, func(i, j int) bool { return ms[i].pos.Offset < ms[j].pos.Offset })
		var buf bytes.Buffer
		for _, m := range ms {
			buf.Write(lines[mustAtoi(t, m.key)-1])
			buf.WriteByte('\n')
		}
		paths[p] = filepath.Join(dir, fmt.Sprintf("partition-%d", p))
		if err := os.WriteFile(paths[p], buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		docs := parseFile(t, paths[p], ns)
		if len(docs) != len(ms) {
			t.Fatalf("eximship parse made %d documents of partition %d's %d lines, want one per line", len(docs), p, len(ms))
		}
		for i, m := range ms {
			want[mustAtoi(t, m.key)] = docs[i]
		}
	}
	return want, paths
}

// parsed is one line of `eximship parse -with-meta`.
type parsed struct {
	ID     string          `json:"_id"`
	Index  string          `json:"_index"`
	Source json.RawMessage `json:"_source"`
}

// parseFile runs `eximship parse -with-meta` on path.
func parseFile(t *testing.T, path, ns string) []parsed {
	t.Helper()
	// -host "": the producer's keys are line numbers, which run does not
	// take for host names, so run writes no host.name for these lines.
	cmd := exec.Command(eximshipBinary(t), "parse", "-timezone", "UTC", "-host", "", "-namespace", ns, "-with-meta", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("eximship parse %s: %v\n%s", path, err, stderr.String())
	}
	var docs []parsed
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		var p parsed
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("eximship parse output line %d: %v: %s", len(docs)+1, err, snippet(sc.Bytes()))
		}
		docs = append(docs, p)
	}
	return docs
}

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", snippet(b), err)
	}
	return m
}

// canonicalNumbers rewrites, in place, every number of a decoded document
// (json.Number) that is a whole number written as a float (0.0, 2.0) in
// its integer form, so that 0 and 0.0 compare equal and 0.5 stays 0.5.
func canonicalNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = canonicalNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = canonicalNumbers(e)
		}
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return x
		}
		if f, err := x.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return json.Number(strconv.FormatInt(int64(f), 10))
		}
	}
	return v
}

func dig(m map[string]any, path ...string) any {
	var cur any = m
	for _, k := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

// deletePath removes the field at path and the objects it leaves empty.
func deletePath(m map[string]any, path ...string) {
	if len(path) == 1 {
		delete(m, path[0])
		return
	}
	sub, ok := m[path[0]].(map[string]any)
	if !ok {
		return
	}
	deletePath(sub, path[1:]...)
	if len(sub) == 0 {
		delete(m, path[0])
	}
}

// diffJSON lists the differing fields of two decoded documents.
func diffJSON(want, got map[string]any) string {
	var out []string
	var walk func(prefix string, w, g any)
	walk = func(prefix string, w, g any) {
		wm, wok := w.(map[string]any)
		gm, gok := g.(map[string]any)
		if wok && gok {
			keys := map[string]bool{}
			for k := range wm {
				keys[k] = true
			}
			for k := range gm {
				keys[k] = true
			}
			for k := range keys {
				walk(strings.TrimPrefix(prefix+"."+k, "."), wm[k], gm[k])
			}
			return
		}
		if !reflect.DeepEqual(w, g) {
			out = append(out, fmt.Sprintf("  %s: parse %v, elasticsearch %v", prefix, w, g))
		}
	}
	walk("", want, got)
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func mustAtoi(t testing.TB, b []byte) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(string(b), "%d", &n); err != nil {
		t.Fatalf("not a number: %q", b)
	}
	return n
}
