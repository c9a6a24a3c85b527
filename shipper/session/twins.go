package session

import (
	"github.com/eximship/eximship/shipper/exim"
)

// Exim writes each rejection to the main log and, with the same timestamp,
// pid and text, to the reject log. twinTable remembers the session of the
// latest main-log rejections so that the reject-log copy gets the same
// session id: at least the last max of them, at most the last 2*max, in
// two generations (when the current one is full it becomes the previous
// one, and the previous one is emptied): one small map write per
// rejection, no deletions.
type twinTable struct {
	cur, prev twinGen
	max       int
}

// twinGen is one generation: rejection -> index in ids (the top bit says
// inferred); consecutive rejections of one session share an index.
type twinGen struct {
	index map[uint64]uint32
	ids   []string
}

type twinEntry struct {
	id       string
	inferred bool
}

const twinInferred = 1 << 31

func newTwinTable(max int) twinTable {
	return twinTable{cur: twinGen{index: map[uint64]uint32{}}, prev: twinGen{index: map[uint64]uint32{}}, max: max}
}

func (t *twinTable) put(k uint64, id string, inferred bool) {
	g := &t.cur
	if n := len(g.ids); n == 0 || g.ids[n-1] != id {
		g.ids = append(g.ids, id)
	}
	v := uint32(len(g.ids) - 1)
	if inferred {
		v |= twinInferred
	}
	g.index[k] = v
	if len(g.index) >= t.max {
		t.prev, t.cur = t.cur, t.prev
		clear(t.cur.index)
		t.cur.ids = t.cur.ids[:0]
	}
}

func (t *twinTable) get(k uint64) (twinEntry, bool) {
	for _, g := range [2]*twinGen{&t.cur, &t.prev} {
		if v, ok := g.index[k]; ok {
			return twinEntry{id: g.ids[v&^twinInferred], inferred: v&twinInferred != 0}, true
		}
	}
	return twinEntry{}, false
}

// twinKey is exim.rejection.id of r folded to 64 bits (FNV-1a), and false
// when r is not a rejection (exim.Record.IsRejection): a main-log rejection
// and its reject-log twin have the same.
func twinKey(r *exim.Record) (uint64, bool) {
	var buf [64]byte
	id := r.AppendRejectionID(buf[:0])
	if len(id) == 0 {
		return 0, false
	}
	return fnvBytes(fnvOffset, id), true
}

// FNV-1a, 64 bits, without allocations.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}
