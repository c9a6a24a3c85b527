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

// twinKey identifies a rejection across the main and reject logs: host,
// time, pid, message id and the text of its (first) line.
func twinKey(r *exim.Record) uint64 {
	h := fnvString(fnvOffset, r.Meta.HostName)
	h = fnvUint(h, uint64(r.Time.UnixNano()))
	h = fnvUint(h, uint64(r.PID))
	h = fnvBytes(h, r.MessageID)
	h = fnvUint(h, 0)
	return fnvBytes(h, r.Body)
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

func fnvUint(h, v uint64) uint64 {
	for i := 0; i < 8; i++ {
		h = (h ^ (v & 0xff)) * fnvPrime
		v >>= 8
	}
	return h
}

// rejected reports whether Exim writes lines of action a to the reject log
// too (log_write with LOG_REJECT).
func rejected(a string) bool {
	switch a {
	case exim.ActionRcptRejected, exim.ActionRcptTempRejected, exim.ActionSenderVerifyFailed,
		exim.ActionSenderVerifyDeferred, exim.ActionRcptVerifyFailed, exim.ActionRcptVerifyDeferred,
		exim.ActionMailRejected, exim.ActionHeloRejected, exim.ActionHeloInvalid, exim.ActionDataRejected,
		exim.ActionLocalScanRejected, exim.ActionConnRejected, exim.ActionConnTempRejected,
		exim.ActionConnDropped, exim.ActionCommandRejected, exim.ActionSyncError, exim.ActionTooMany,
		exim.ActionAuthFailed, exim.ActionRcptDiscarded:
		return true
	}
	return false
}
