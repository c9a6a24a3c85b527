package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/metrics/metricstest"
	"github.com/eximship/eximship/shipper/stacktest"
)

// refusal is one way Elasticsearch refuses writes until an operator acts.
type refusal struct {
	cause        string // the retry cause it must be counted under
	refuse, lift func(t *testing.T)
}

// checkRefusal runs eximship with a monitoring listener: the first half
// of the lines is indexed, then the refusal starts and the second half is
// produced. While refused, nothing of it is dead-lettered or committed;
// the refusal is logged as an error naming its cause, counted by
// eximship_retries_total{cause=...}, and /readyz stays 200 (Elasticsearch
// answers). Once lifted, every line is in Elasticsearch exactly once.
func checkRefusal(t *testing.T, env *testEnv, c config, lines [][]byte, r refusal) {
	t.Helper()
	half := len(lines) / 2
	c.extra += monitoring
	sp := env.startShipper("run", env.writeConfig(c))
	env.kafka.produceLines(t, lines[:half], 1)
	env.kafka.waitCommitted(t, env.group, env.kafka.endOffsets(t), 3*time.Minute, sp.checkAlive)
	env.es.waitCount(t, env.logsPattern(), int64(half), time.Minute, sp.checkAlive)

	r.refuse(t)
	lifted := false
	defer func() {
		if !lifted {
			r.lift(t)
		}
	}()
	env.kafka.produceLines(t, lines[half:], half+1)
	end := env.kafka.endOffsets(t)
	series := fmt.Sprintf("eximship_retries_total{cause=%q}", r.cause)
	deadline := time.Now().Add(2 * time.Minute)
	for !sp.logHas("Elasticsearch refuses writes", "cause="+r.cause) || sp.scrape()[series] == 0 {
		if err := sp.checkAlive(); err != nil || time.Now().After(deadline) {
			t.Fatalf("no alarm for %s (retries %v): %v", r.cause, sp.scrape()[series], err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // retries go on
	m := sp.scrape()
	committed := env.kafka.committed(t, env.group)
	if offsetsReach(committed, end) {
		t.Errorf("everything was committed while Elasticsearch refused the writes")
	}
	if n := env.es.count(t, env.deadLetterIndex()); n != 0 || metricstest.Sum(m, "eximship_dead_letters_total") != 0 {
		t.Errorf("%d dead letters (metric %v) while Elasticsearch refused the writes: they must be retried", n, metricstest.Sum(m, "eximship_dead_letters_total"))
	}
	if code, body := sp.readyz(); code != 200 {
		t.Errorf("/readyz %d while Elasticsearch answers (and refuses): %s", code, body)
	}
	t.Logf("refused (%s): %v retries, committed %d of %d", r.cause, m[series], sumOffsets(committed), sumOffsets(end))

	r.lift(t)
	lifted = true
	env.kafka.waitCommitted(t, env.group, end, 3*time.Minute, sp.checkAlive)
	env.es.waitCount(t, env.logsPattern(), int64(len(lines)), 2*time.Minute, sp.checkAlive)
	m = sp.scrape()
	sp.stop(30 * time.Second)
	if fs := sp.finalStats(); fs == nil || fs.DeadLettered != 0 || fs.Indexed != int64(len(lines)) {
		t.Errorf("final stats %+v: want %d indexed and no dead letter", fs, len(lines))
	}
	if got := m["eximship_documents_indexed_total"]; got != float64(len(lines)) {
		t.Errorf("eximship_documents_indexed_total %v, want %d", got, len(lines))
	}
	env.es.checkExactlyOnce(t, env.logsPattern(), expectedIDs(end, env.kafka.topic))
}

// TestWriteBlockIntegration: a write block on the data stream's backing
// index (index.blocks.write, as an operator or a disk watermark sets it)
// is retried, alarmed and survived, not dead-lettered.
func TestWriteBlockIntegration(t *testing.T) {
	esURL := stacktest.ElasticURL(t)
	env := newTestEnv(t, esURL)
	env.es.installTemplates(t)
	lines := seedLines(t, 400)
	block := func(v any) func(t *testing.T) {
		return func(t *testing.T) {
			for _, ix := range env.es.backingIndices(t, env.logsPattern()) {
				env.es.must(t, "PUT", "/"+ix+"/_settings", map[string]any{"index.blocks.write": v}, nil)
			}
		}
	}
	checkRefusal(t, env, config{}, lines, refusal{cause: "blocked", refuse: block(true), lift: block(nil)})
}

// TestSecureRevokedPrivilegeIntegration: the run user loses its write
// privilege while eximship runs (its role is edited in the node's
// roles.yml, which the node reloads): the writes answered 403 are retried
// and alarmed, not dead-lettered; when the privilege is back, everything
// is indexed once.
func TestSecureRevokedPrivilegeIntegration(t *testing.T) {
	s, env := secureEnv(t)
	lines := seedLines(t, 400)
	rolesFile := filepath.Join(filepath.Dir(s.env["EXIMSHIP_SECURE_DIR"]), "elasticsearch", "config", "roles.yml")
	orig, err := os.ReadFile(rolesFile)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(rolesFile)
	if err != nil {
		t.Fatal(err)
	}
	const grant = "privileges: [create_doc, auto_configure]"
	if !strings.Contains(string(orig), grant) {
		t.Fatalf("%s has no %q", rolesFile, grant)
	}
	runUser := newSecureESNode(t, s.esURL(), s.path("ca.pem"), "eximship-run", s.secret(t, "es-eximship-run.password"))
	setRoles := func(content string, canWrite bool) func(t *testing.T) {
		return func(t *testing.T) {
			// Write beside and rename: the node never reads half a file.
			tmp := rolesFile + ".tmp"
			if err := os.WriteFile(tmp, []byte(content), st.Mode()); err != nil {
				t.Fatal(err)
			}
			if sys, ok := statOwner(st); ok {
				_ = os.Chown(tmp, sys.uid, sys.gid)
			}
			if err := os.Rename(tmp, rolesFile); err != nil {
				t.Fatal(err)
			}
			// The node reloads roles.yml within its resource watcher
			// interval (5 s): wait until the privilege is what we want.
			deadline := time.Now().Add(time.Minute)
			for {
				var res struct {
					Index map[string]map[string]bool `json:"index"`
				}
				runUser.must(t, "POST", "/_security/user/_has_privileges", map[string]any{
					"index": []any{map[string]any{"names": []string{"logs-exim.main-" + env.ns}, "privileges": []string{"create_doc"}}},
				}, &res)
				if res.Index["logs-exim.main-"+env.ns]["create_doc"] == canWrite {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("the node did not reload %s in a minute", rolesFile)
				}
				time.Sleep(250 * time.Millisecond)
			}
		}
	}
	revoked := strings.Replace(string(orig), grant, "privileges: [read]", 1)
	checkRefusal(t, env, config{esURL: s.esURL(), esExtra: esRunUser(s)}, lines, refusal{
		cause: "forbidden", refuse: setRoles(revoked, false), lift: setRoles(string(orig), true),
	})
}

// backingIndices lists the backing indices of the data streams matching
// pattern.
func (e *esNode) backingIndices(t testing.TB, pattern string) []string {
	t.Helper()
	var res struct {
		DataStreams []struct {
			BackingIndices []string `json:"backing_indices"`
		} `json:"data_streams"`
	}
	e.must(t, "GET", "/_resolve/index/"+pattern, nil, &res)
	var out []string
	for _, ds := range res.DataStreams {
		out = append(out, ds.BackingIndices...)
	}
	if len(out) == 0 {
		b, _ := json.Marshal(res)
		t.Fatalf("no backing index for %s: %s", pattern, b)
	}
	return out
}

type owner struct{ uid, gid int }

// statOwner is the owner of a file (the node's user must keep reading
// roles.yml after the test rewrote it).
func statOwner(fi os.FileInfo) (owner, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return owner{}, false
	}
	return owner{int(st.Uid), int(st.Gid)}, true
}
