package session

import (
	"github.com/eximship/eximship/shipper/exim"
)

// Exim writes each rejection to the main log and, with the same timestamp,
// pid and text, to the reject log. twinTable remembers the session of the
// latest main-log rejections so that the reject-log copy gets the same
// session id. It holds at most max entries; the oldest go first.
type twinTable struct {
	m    map[uint64]twinEntry
	ring []uint64 // keys in insertion order
	next int
	max  int
}

type twinEntry struct {
	id       string
	inferred bool
}

func newTwinTable(max int) twinTable {
	return twinTable{m: map[uint64]twinEntry{}, max: max}
}

func (t *twinTable) put(k uint64, id string, inferred bool) {
	if _, ok := t.m[k]; ok {
		t.m[k] = twinEntry{id, inferred}
		return
	}
	if len(t.ring) < t.max {
		t.ring = append(t.ring, k)
	} else {
		delete(t.m, t.ring[t.next])
		t.ring[t.next] = k
		t.next = (t.next + 1) % t.max
	}
	t.m[k] = twinEntry{id, inferred}
}

func (t *twinTable) get(k uint64) (twinEntry, bool) {
	e, ok := t.m[k]
	return e, ok
}

// twinKey is exim.rejection.id of r folded to 64 bits (its first 16 hex
// digits), and false when r is not a rejection (exim.Record.IsRejection):
// a main-log rejection and its reject-log twin have the same.
func twinKey(r *exim.Record) (uint64, bool) {
	var buf [64]byte
	id := r.AppendRejectionID(buf[:0])
	if len(id) < 16 {
		return 0, false
	}
	var k uint64
	for _, c := range id[:16] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			return 0, false
		}
		k = k<<4 | uint64(c)
	}
	return k, true
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
