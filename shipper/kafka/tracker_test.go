package kafka

import (
	"maps"
	"math/rand/v2"
	"testing"
)

// step is one operation on the tracker followed by a check of what it
// would commit.
type step struct {
	// fetch registers segment name = [first, last] of partition part.
	fetch       string
	part        int
	first, last int64
	// ack / nack acknowledge a registered segment.
	ack, nack string
	// stale: the ack must be reported as not current (old epoch or double).
	stale bool
	// commit marks what is pending as committed after the check.
	commit bool
	// want is the exact set of partition -> offset that is pending commit.
	want map[int]int64
}

func fetch(name string, part int, first, last int64, want map[int]int64) step {
	return step{fetch: name, part: part, first: first, last: last, want: want}
}

func ack(name string, want map[int]int64) step  { return step{ack: name, want: want} }
func nack(name string, want map[int]int64) step { return step{nack: name, want: want} }

func none() map[int]int64 { return map[int]int64{} }

func TestTracker(t *testing.T) {
	cases := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{
			fetch("a", 0, 0, 9, none()),
			fetch("b", 0, 10, 19, none()),
			ack("a", map[int]int64{0: 10}),
			ack("b", map[int]int64{0: 20}),
		}},
		{"out of order waits for the gap", []step{
			fetch("a", 0, 0, 9, none()),
			fetch("b", 0, 10, 19, none()),
			fetch("c", 0, 20, 29, none()),
			ack("c", none()),
			ack("a", map[int]int64{0: 10}),
			ack("b", map[int]int64{0: 30}),
		}},
		{"holes in the offset space do not block (compaction, txn markers)", []step{
			fetch("a", 0, 0, 4, none()),
			fetch("b", 0, 7, 9, none()),
			ack("b", none()),
			ack("a", map[int]int64{0: 10}),
		}},
		{"group start offset is not committed again", []step{
			fetch("a", 0, 100, 109, none()),
			ack("a", map[int]int64{0: 110}),
		}},
		{"nack blocks the partition for good", []step{
			fetch("a", 0, 0, 9, none()),
			fetch("b", 0, 10, 19, none()),
			fetch("c", 0, 20, 29, none()),
			nack("b", none()),
			ack("a", map[int]int64{0: 10}),
			ack("c", map[int]int64{0: 10}),
			fetch("d", 0, 30, 39, map[int]int64{0: 10}),
			ack("d", map[int]int64{0: 10}),
		}},
		{"partitions are independent", []step{
			fetch("a", 0, 0, 9, none()),
			fetch("b", 1, 0, 4, none()),
			fetch("c", 0, 10, 19, none()),
			fetch("d", 2, 50, 59, none()),
			nack("d", none()),
			ack("c", none()),
			ack("b", map[int]int64{1: 5}),
			ack("a", map[int]int64{0: 20, 1: 5}),
		}},
		{"commit marks what was sent, later progress is pending again", []step{
			fetch("a", 0, 0, 9, none()),
			fetch("b", 0, 10, 19, none()),
			{ack: "a", want: map[int]int64{0: 10}, commit: true},
			{fetch: "c", part: 1, first: 0, last: 0, want: none()},
			ack("b", map[int]int64{0: 20}),
		}},
		{"rebalance: offsets going backwards start a new epoch, old acks ignored", []step{
			fetch("a", 0, 0, 9, none()),
			fetch("b", 0, 10, 19, none()),
			{ack: "a", want: map[int]int64{0: 10}, commit: true},
			// Re-assigned at the committed offset 10 while b is in flight.
			fetch("c", 0, 10, 14, none()),
			{ack: "b", stale: true, want: none()},
			ack("c", map[int]int64{0: 15}),
		}},
		{"rebalance: new epoch forgets a nack", []step{
			fetch("a", 0, 0, 9, none()),
			nack("a", none()),
			fetch("b", 0, 0, 9, none()),
			ack("b", map[int]int64{0: 10}),
		}},
		{"rebalance: stale messages after the rebalance continue their run", []step{
			fetch("a", 0, 0, 9, none()),
			// Queued before the rebalance, handed out after it (#1398).
			fetch("b", 0, 10, 19, none()),
			// The new generation restarts at the committed offset 5.
			fetch("c", 0, 5, 9, none()),
			{ack: "a", stale: true, want: none()},
			{ack: "b", stale: true, want: none()},
			ack("c", map[int]int64{0: 10}),
		}},
		{"rebalance: re-assigned beyond what was fetched continues", []step{
			fetch("a", 0, 0, 9, none()),
			// Another member consumed and committed 10..49 meanwhile.
			fetch("b", 0, 50, 59, none()),
			ack("b", none()),
			ack("a", map[int]int64{0: 60}),
		}},
		{"rebalance resets only the partition that went backwards", []step{
			fetch("a", 0, 0, 9, none()),
			fetch("b", 1, 0, 9, none()),
			fetch("c", 1, 0, 3, none()),
			ack("a", map[int]int64{0: 10}),
			{ack: "b", stale: true, want: map[int]int64{0: 10}},
			ack("c", map[int]int64{0: 10, 1: 4}),
		}},
		{"double ack is ignored", []step{
			fetch("a", 0, 0, 9, none()),
			fetch("b", 0, 10, 19, none()),
			ack("b", none()),
			{ack: "b", stale: true, want: none()},
			{nack: "b", stale: true, want: none()},
			ack("a", map[int]int64{0: 20}),
			{ack: "a", stale: true, want: map[int]int64{0: 20}},
		}},
		{"single-offset segments", []step{
			fetch("a", 0, 0, 0, none()),
			fetch("b", 0, 1, 1, none()),
			fetch("c", 0, 2, 2, none()),
			ack("b", none()),
			ack("c", none()),
			ack("a", map[int]int64{0: 3}),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker()
			refs := map[string]segRef{}
			for i, s := range tc.steps {
				switch {
				case s.fetch != "":
					refs[s.fetch] = tr.fetched("t", s.part, s.first, s.last, s.last+1)
				case s.ack != "" || s.nack != "":
					name := s.ack + s.nack
					r, ok := refs[name]
					if !ok {
						t.Fatalf("step %d: unknown segment %q", i, name)
					}
					if cur := tr.ack(r, s.ack != ""); cur == s.stale {
						t.Fatalf("step %d: ack(%s) current=%v, want %v", i, name, cur, !s.stale)
					}
				}
				pend := tr.pending(nil)
				got := map[int]int64{}
				for _, c := range pend {
					if c.Topic != "t" {
						t.Fatalf("step %d: topic %q", i, c.Topic)
					}
					got[c.Partition] = c.Offset
				}
				if !maps.Equal(got, s.want) {
					t.Fatalf("step %d: pending commits %v, want %v", i, got, s.want)
				}
				if s.commit {
					tr.markCommitted(pend)
					if p := tr.pending(nil); len(p) != 0 {
						t.Fatalf("step %d: still pending after commit: %v", i, p)
					}
				}
			}
		})
	}
}

func TestTrackerMarkCommittedIgnoresOldEpoch(t *testing.T) {
	tr := newTracker()
	a := tr.fetched("t", 0, 0, 9, 10)
	tr.ack(a, true)
	pend := tr.pending(nil) // offset 10, epoch 1
	// Rebalance before the commit answer: re-assigned at 5.
	b := tr.fetched("t", 0, 5, 6, 10)
	tr.markCommitted(pend)
	tr.ack(b, true)
	got := tr.pending(nil)
	if len(got) != 1 || got[0].Offset != 7 {
		t.Fatalf("pending %+v, want offset 7", got)
	}
}

// TestTrackerRandom checks the invariant against a brute-force model: the
// commit point is always the offset after the longest fully acked prefix of
// fetched offsets, whatever the ack order.
func TestTrackerRandom(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 0))
		tr := newTracker()
		type seg struct {
			first, last int64
			ref         segRef
			acked       bool
		}
		var segs []seg
		off := int64(0)
		for i := 0; i < 30; i++ {
			n := int64(1 + r.IntN(5))
			off += int64(r.IntN(3)) // holes
			segs = append(segs, seg{first: off, last: off + n - 1})
			segs[i].ref = tr.fetched("t", 0, off, off+n-1, 0)
			off += n
		}
		for _, i := range r.Perm(len(segs)) {
			tr.ack(segs[i].ref, true)
			segs[i].acked = true
			want := int64(0)
			for _, s := range segs {
				if !s.acked {
					break
				}
				want = s.last + 1
			}
			got := int64(0)
			if p := tr.pending(nil); len(p) == 1 {
				got = p[0].Offset
			}
			if got != want {
				t.Fatalf("seed %d: commit point %d, want %d", seed, got, want)
			}
		}
	}
}
