package e2e

import (
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/stacktest"
)

// TestThreeInstancesOneKilledIntegration: three `eximship run` in one
// consumer group share a 6-partition topic (two partitions each); one is
// killed with SIGKILL midway. Its partitions are rebalanced to the two
// survivors, which finish the topic: nothing lost, nothing duplicated, all
// offsets committed.
func TestThreeInstancesOneKilledIntegration(t *testing.T) {
	esURL := stacktest.ElasticURL(t)
	env := newTestEnv(t, esURL)
	lines := readLines(t, corpusLog(t))
	n := int64(len(lines))

	names := []string{"a", "b", "c"}
	procs := map[string]*shipperProc{}
	for _, name := range names {
		cfg := env.writeConfig(config{clientID: "e2e-" + name})
		procs[name] = env.startShipper("run-"+name, cfg)
	}
	// Wait until the group is stable with three members, two partitions
	// each, before any data arrives.
	var members []groupMember
	deadline := time.Now().Add(3 * time.Minute)
	for {
		state, ms := env.kafka.describeGroup(t, env.group)
		ok := state == "Stable" && len(ms) == 3
		for _, m := range ms {
			ok = ok && len(m.Partitions) == 2
		}
		if ok {
			members = ms
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: state %s, members %v after 3 minutes", env.group, state, ms)
		}
		for _, p := range procs {
			if err := p.checkAlive(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("group stable: %v", members)

	env.kafka.produceLines(t, lines, 1)
	end := env.kafka.endOffsets(t)

	// Kill b once it has indexed about a fifth of its share.
	victim := procs["b"]
	victim.waitFor("a fifth of its share indexed", 10*time.Minute, func(s stats) bool { return s.Indexed >= n/15 })
	vs := victim.stats()
	victim.kill()
	t.Logf("killed run-b (kill -9) after it indexed %d of ~%d", vs.Indexed, n/3)

	alive := func() error {
		for _, name := range []string{"a", "c"} {
			if err := procs[name].checkAlive(); err != nil {
				return err
			}
		}
		return nil
	}
	env.kafka.waitCommitted(t, env.group, end, 10*time.Minute, alive)
	env.es.waitCount(t, env.logsPattern(), n, 2*time.Minute, alive)

	state, after := env.kafka.describeGroup(t, env.group)
	covered := map[int]string{}
	for _, m := range after {
		if m.ClientID == "e2e-b" {
			t.Errorf("the killed member is still in the group: %v", after)
		}
		for _, p := range m.Partitions {
			covered[p] = m.ClientID
		}
	}
	t.Logf("after the kill: group %s, members %v", state, after)
	if len(after) != 2 || len(covered) != partitions {
		t.Errorf("after the kill the survivors hold %v, want all %d partitions between two members", after, partitions)
	}
	var consumed int64
	for _, name := range []string{"a", "c"} {
		procs[name].stop(30 * time.Second)
		fs := procs[name].finalStats()
		if fs == nil {
			t.Fatalf("run-%s: no final stats", name)
		}
		consumed += fs.Consumed
		t.Logf("run-%s final %+v", name, *fs)
	}
	// The survivors consumed their own shares and what b had not
	// committed: more than two thirds of the topic.
	if consumed <= 2*n/3 {
		t.Errorf("the survivors consumed %d of %d messages: b's partitions were not taken over", consumed, n)
	}
	env.es.checkExactlyOnce(t, env.logsPattern(), expectedIDs(end, env.kafka.topic))
}
