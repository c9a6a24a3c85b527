package e2e

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/kafka"
	"github.com/eximship/eximship/shipper/stacktest"
)

// conflictField is the field the test maps with a type its values cannot
// have: the parser emits a string (the Exim message id), the test template
// says object. (A type clash such as boolean for a number would not do:
// eximship's settings set index.mapping.ignore_malformed, which keeps such
// documents and drops the value; a concrete value for an object is an error
// ignore_malformed does not cover.)
var conflictField = []string{"email", "local_id"}

// conflictTemplate puts, for the env's namespace only, a higher-priority
// index template made of eximship's components plus, when conflict is set,
// a mapping of conflictField as an object; without conflict it is the
// fix (data streams keep their template: it can be replaced, not removed).
func (e *testEnv) conflictTemplate(t testing.TB, conflict bool) {
	t.Helper()
	props := map[string]any{}
	if conflict {
		props[conflictField[0]] = map[string]any{"properties": map[string]any{conflictField[1]: map[string]any{"type": "object"}}}
	}
	tmpl := "e2e-conflict-" + e.ns
	e.es.must(t, "PUT", "/_index_template/"+tmpl, map[string]any{
		"index_patterns": []string{"logs-exim.*-" + e.ns},
		"priority":       1000,
		"data_stream":    map[string]any{},
		"composed_of":    []string{mapping.SettingsComponent, mapping.MappingsComponent},
		"template":       map[string]any{"mappings": map[string]any{"properties": props}},
	}, nil)
	t.Cleanup(func() { e.es.do("DELETE", "/_index_template/"+tmpl, nil) })
}

// TestMappingConflictDeadLetterIntegration: for this test's namespace a
// higher-priority index template (eximship's components plus one override)
// maps email.local_id (the message id of every message line) as an object,
// so Elasticsearch rejects those real lines with 400. Each lands in the dead-letter index and the
// dead-letter Kafka topic with its original line, the error and its input
// position; every other line is indexed; all offsets are committed.
func TestMappingConflictDeadLetterIntegration(t *testing.T) {
	esURL := stacktest.ElasticURL(t)
	env := newTestEnv(t, esURL)
	_, dlTopic := stacktest.NewTopic(t, 1)
	path := seedLog(t)
	lines := readLines(t, path)
	n := len(lines)

	// The real templates, then the conflicting one on top for this
	// namespace only.
	env.es.installTemplates(t)
	env.conflictTemplate(t, true)

	// Which lines carry the field: parse tells.
	rejected := map[int]bool{}
	for i, d := range parseFile(t, path, env.ns) {
		if dig(decode(t, d.Source), conflictField...) != nil {
			rejected[i+1] = true
		}
	}
	if len(rejected) == 0 || len(rejected) == n {
		t.Fatalf("%d of %d lines have email.local_id: the test needs some, not all", len(rejected), n)
	}

	env.kafka.produceLines(t, lines, 1)
	pos := positionsByLine(t, env.kafka.readAll(t))
	end := env.kafka.endOffsets(t)

	sp := env.startShipper("run", env.writeConfig(config{deadLetterTopic: dlTopic}))
	env.kafka.waitCommitted(t, env.group, end, 10*time.Minute, sp.checkAlive)
	env.es.waitCount(t, env.logsPattern(), int64(n-len(rejected)), 2*time.Minute, sp.checkAlive)
	env.es.waitCount(t, env.deadLetterIndex(), int64(len(rejected)), 2*time.Minute, sp.checkAlive)
	sp.stop(30 * time.Second)
	fs := sp.finalStats()
	t.Logf("%d of %d lines rejected by the mapping; final stats %+v", len(rejected), n, fs)
	if fs == nil || fs.DeadLettered != int64(len(rejected)) || fs.Indexed != int64(n-len(rejected)) {
		t.Errorf("final stats %+v: want %d indexed and %d dead-lettered", fs, n-len(rejected), len(rejected))
	}

	// The indexed documents are exactly the other lines.
	want := map[string]bool{}
	wantDead := map[string]int{} // id -> line
	for line, p := range pos {
		id := shipper.DocID(p, 0)
		if rejected[line] {
			wantDead[id] = line
		} else {
			want[id] = true
		}
	}
	env.es.checkExactlyOnce(t, env.logsPattern(), want)

	// The dead-letter index: one per rejected line, with its original.
	type dlDoc struct {
		Original string `json:"original"`
		DocID    string `json:"doc_id"`
		Stream   string `json:"stream"`
		Error    struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
			Status int    `json:"status"`
		} `json:"error"`
		Input struct {
			Topic     string `json:"topic"`
			Partition int    `json:"partition"`
			Offset    int64  `json:"offset"`
		} `json:"input"`
	}
	seen := map[string]bool{}
	env.es.scan(t, env.deadLetterIndex(), true, func(h hit) {
		var d dlDoc
		if err := json.Unmarshal(h.Source, &d); err != nil {
			t.Fatalf("dead letter %s: %v", h.ID, err)
		}
		line, ok := wantDead[d.DocID]
		switch {
		case !ok:
			t.Errorf("unexpected dead letter %s: %s", d.DocID, d.Original)
		case seen[d.DocID]:
			t.Errorf("dead letter %s twice", d.DocID)
		case d.Original != string(lines[line-1]):
			t.Errorf("dead letter %s: original %q, want line %d %q", d.DocID, d.Original, line, lines[line-1])
		case d.Error.Status != 400 || d.Error.Reason == "":
			t.Errorf("dead letter %s: error %+v, want status 400 with a reason", d.DocID, d.Error)
		case d.Input.Topic != env.kafka.topic || shipper.DocID(shipper.Position{Topic: d.Input.Topic, Partition: d.Input.Partition, Offset: d.Input.Offset}, 0) != d.DocID:
			t.Errorf("dead letter %s: input %+v does not match", d.DocID, d.Input)
		}
		seen[d.DocID] = true
	})
	if len(seen) != len(wantDead) {
		t.Errorf("%d dead letters in %s, want %d", len(seen), env.deadLetterIndex(), len(wantDead))
	}

	// The dead-letter topic: the same, as JSON records keyed by id.
	dk := newKafkaEnv(env.kafka.brokers, dlTopic)
	dk.parts = 1
	inTopic := map[string]bool{}
	for _, m := range dk.readAll(t) {
		var r kafka.DeadLetterRecord
		if err := json.Unmarshal(m.value, &r); err != nil {
			t.Fatalf("dead-letter record at %s: %v", m.pos, err)
		}
		line, ok := wantDead[r.DocID]
		if !ok || string(m.key) != r.DocID || r.Original != string(lines[line-1]) || r.Status != 400 || r.Error == "" {
			t.Errorf("dead-letter record %s (key %s): %+v", m.pos, m.key, r)
		}
		inTopic[r.DocID] = true
	}
	if len(inTopic) != len(wantDead) {
		t.Errorf("dead-letter topic holds %d distinct ids, want %d", len(inTopic), len(wantDead))
	}
	t.Logf("%d dead letters checked in %s and in topic %s", len(seen), env.deadLetterIndex(), dlTopic)
}
