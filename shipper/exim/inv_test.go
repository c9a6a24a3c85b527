package exim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCorpusInvariants checks, over the public corpus, that the key fields
// of each action are filled: a classification without its data would pass
// TestCorpus but be useless. Violations are listed; the test fails if more
// than 0.5% of the lines of an action miss their key field.
func TestCorpusInvariants(t *testing.T) {
	dir := corpusDir(t)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus not present at %s: %v", dir, err)
	}
	// peer: a remote host, or the local caller of an SMTP session over
	// stdin (-bs, "U=CALLER", "from root").
	peer := func(r *Record) bool { return len(r.Host.IP) > 0 || len(r.Host.Name) > 0 || len(r.User) > 0 }
	checks := map[string]func(r *Record) bool{
		ActionArrival:            func(r *Record) bool { return len(r.Sender) > 0 || r.Has(FlagNullSender) },
		ActionDelivery:           func(r *Record) bool { return len(r.Recipient) > 0 },
		ActionDeliveryAdditional: func(r *Record) bool { return len(r.Recipient) > 0 },
		ActionDeliveryDeferred:   func(r *Record) bool { return len(r.Recipient) > 0 },
		ActionDeliveryFailed:     func(r *Record) bool { return len(r.Recipient) > 0 },
		ActionRcptRejected:       func(r *Record) bool { return len(r.Recipient) > 0 },
		ActionRcptTempRejected:   func(r *Record) bool { return len(r.Recipient) > 0 || len(r.Reason) > 0 },
		ActionMailRejected:       func(r *Record) bool { return len(r.Sender) > 0 || r.Has(FlagNullSender) || len(r.Reason) > 0 },
		ActionSenderVerifyFailed: func(r *Record) bool { return len(r.Sender) > 0 || r.Has(FlagNullSender) },
		ActionAuthFailed:         func(r *Record) bool { return len(r.AuthName) > 0 && peer(r) },
		ActionConnection:         peer,
		ActionConnectionClosed:   peer,
		ActionConnectionLost:     peer,
		ActionReverseDNSFailed:   func(r *Record) bool { return len(r.Host.IP) > 0 },
		ActionTooMany:            peer,
		ActionProtocolError:      peer,
		ActionTLSError:           func(r *Record) bool { return len(r.Host.IP) > 0 || len(r.Reason) > 0 },
		ActionCompleted:          func(r *Record) bool { return len(r.MessageID) > 0 },
		ActionDataRejected:       func(r *Record) bool { return len(r.Reason) > 0 || peer(r) },
		ActionHostError:          func(r *Record) bool { return len(r.Reason) > 0 },
	}
	p := NewParser(Options{Location: time.UTC})
	var r Record
	total := map[string]int{}
	bad := map[string][]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".md") {
			return err
		}
		for _, e := range readEntries(t, path, strings.Contains(path, "rejectlog")) {
			r.Meta = Meta{}
			p.Parse(e, &r)
			check := checks[r.Action]
			if check == nil || !startsWithTimestamp(e) {
				continue
			}
			total[r.Action]++
			if !check(&r) {
				rel, _ := filepath.Rel(dir, path)
				first, _, _ := strings.Cut(string(e), "\n")
				bad[r.Action] = append(bad[r.Action], rel+": "+first)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for a, list := range bad {
		for i, l := range list {
			if i < 5 {
				t.Logf("%s without its key field: %s", a, l)
			}
		}
		if pct := 100 * float64(len(list)) / float64(total[a]); pct > 0.5 {
			t.Errorf("%s: %d of %d lines (%.1f%%) miss their key field", a, len(list), total[a], pct)
		}
	}
}

// TestTimestampCache checks that the per-second cache of AppendJSON's
// timestamp writes what the uncached encoder writes, across seconds,
// milliseconds, zones and years it cannot cache.
func TestTimestampCache(t *testing.T) {
	var c encCache
	base := time.Date(2026, 11, 25, 19, 59, 59, 0, time.UTC)
	plus2 := time.FixedZone("", 2*3600)
	for i, tm := range []time.Time{
		base, base.Add(999 * time.Millisecond), base.Add(time.Second), base.Add(time.Second + 7*time.Millisecond),
		base.In(plus2), base.Add(time.Second).In(plus2), base.Add(-time.Second), base,
		time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC), base, time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), base.Add(time.Hour),
	} {
		got := string(c.appendTimestamp([]byte("x"), tm))
		want := "x" + string(appendTimestamp(nil, tm))
		if got != want {
			t.Errorf("%d: %v: cached %s, want %s", i, tm, got, want)
		}
	}
}
