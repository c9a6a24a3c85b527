package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/stacktest"
)

// TestSecureReplayIntegration: a mapping conflict of this namespace (the
// template of TestMappingConflictDeadLetterIntegration) sends the message
// lines to the dead letters, in the index and in the topic. Replayed
// before the fix, they fail again and stay dead letters (exit 1). Once
// the template is corrected and the data stream rolled over, `eximship
// replay -from kafka` indexes them, and a second replay from the index
// finds them all there already: every line is in Elasticsearch exactly
// once. The replay user has the eximship_replay role only; the run user,
// who may not read the dead letters, is refused at once (exit 5).
func TestSecureReplayIntegration(t *testing.T) {
	s, env := secureEnv(t)
	lines := seedLines(t, 400)
	dlTopic := stacktest.UniqueName("eximship-secure-dlq-")
	stacktest.CreateTopic(t, env.kafka.brokers, dlTopic, 1)

	env.conflictTemplate(t, true)

	env.kafka.produceLines(t, lines, 1)
	end := env.kafka.endOffsets(t)
	runCfg := env.writeConfig(config{esURL: s.esURL(), esExtra: esRunUser(s), deadLetterTopic: dlTopic})
	sp := env.startShipper("run", runCfg)
	env.kafka.waitCommitted(t, env.group, end, 5*time.Minute, sp.checkAlive)
	sp.stop(30 * time.Second)
	fs := sp.finalStats()
	if fs == nil || fs.DeadLettered == 0 || fs.Indexed == 0 {
		t.Fatalf("final stats %+v: the test needs dead letters and indexed lines", fs)
	}
	dead := fs.DeadLettered
	env.es.waitCount(t, env.deadLetterIndex(), dead, time.Minute, nil)
	t.Logf("%d of %d lines dead-lettered by the mapping conflict", dead, len(lines))

	replayCfg := env.writeConfig(config{esURL: s.esURL(), deadLetterTopic: dlTopic,
		esExtra: fmt.Sprintf("  username: eximship-replay\n  password_file: %q\n  ca_file: %q\n", s.path("es-eximship-replay.password"), s.path("ca.pem"))})
	replay := func(args ...string) (int, string) {
		t.Helper()
		code, out, _ := runEximship(t, 3*time.Minute, nil, append([]string{"replay", "--config", replayCfg}, args...)...)
		t.Logf("replay %v: exit %d\n%s", args, code, out)
		return code, out
	}

	// Before the fix: they fail again and stay.
	if code, out := replay("-dry-run"); code != 0 || !strings.Contains(out, fmt.Sprintf("%d dead letters read, %d selected", dead, dead)) || !strings.Contains(out, "dry run: nothing written") {
		t.Errorf("dry run: exit %d\n%s", code, out)
	}
	if code, out := replay(); code != 1 || !strings.Contains(out, fmt.Sprintf("failed again: %d", dead)) || !strings.Contains(out, "document_parsing_exception") {
		t.Errorf("replay before the fix: exit %d, want 1 and %d failed again\n%s", code, dead, out)
	}
	if n := env.es.count(t, env.logsPattern()); n != int64(len(lines))-dead {
		t.Errorf("%d documents after a failed replay, want %d", n, int64(len(lines))-dead)
	}

	// Less than the replay role: refused before anything is read.
	runUserCfg := env.writeConfig(config{esURL: s.esURL(), esExtra: esRunUser(s)})
	code, out, _ := runEximship(t, time.Minute, nil, "replay", "--config", runUserCfg)
	if want := "lacks index privilege read on eximship-deadletter-" + env.ns; code != 5 || !strings.Contains(out, want) {
		t.Errorf("replay as the run user: exit %d, want 5 with %q\n%s", code, want, out)
	}

	// The fix: the template without the conflict, and a new backing index.
	env.conflictTemplate(t, false)
	env.es.must(t, "POST", "/logs-exim.main-"+env.ns+"/_rollover", nil, nil)

	if code, out := replay("-from", "kafka"); code != 0 || !strings.Contains(out, fmt.Sprintf("written: %[1]d (%[1]d indexed now, 0 already there)", dead)) || !strings.Contains(out, "failed again: 0") {
		t.Errorf("replay from the topic: exit %d, want 0 and %d written\n%s", code, dead, out)
	}
	want := expectedIDs(end, env.kafka.topic)
	env.es.checkExactlyOnce(t, env.logsPattern(), want)

	// Idempotent: from the index, the same documents are all there already.
	if code, out := replay("-error-type", "document_parsing_exception"); code != 0 || !strings.Contains(out, fmt.Sprintf("written: %[1]d (0 indexed now, %[1]d already there)", dead)) {
		t.Errorf("second replay from the index: exit %d\n%s", code, out)
	}
	env.es.checkExactlyOnce(t, env.logsPattern(), want)
	if n := env.es.count(t, env.deadLetterIndex()); n != dead {
		t.Errorf("%d dead letters after the replays, want the %d kept", n, dead)
	}
}
