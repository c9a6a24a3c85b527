package exim

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

// ECSVersion is the ECS version the documents follow (ecs.version).
const ECSVersion = "8.17.0"

// rejectionIDLen is the length of exim.rejection.id: 16 characters, 8 hex
// digits of the Unix second, then 8 base64url characters of 48 bits of the
// hash.
const (
	rejectionIDLen  = 16
	rejectionIDTime = 8
)

// IsRejection reports whether r is an entry that Exim writes to both the
// main log and the reject log, so that its document carries
// exim.rejection.id and has a twin in the other log.
func (r *Record) IsRejection() bool {
	return actionInfos[r.Action].rejection && !r.mainOnly
}

// AppendRejectionID appends exim.rejection.id of r to dst, or returns dst
// unchanged when r is not a rejection (IsRejection). It is computed from
// r.Meta.HostName, r.Time, r.PID and r.Body: set them as AppendJSON will
// see them.
func (r *Record) AppendRejectionID(dst []byte) []byte {
	if !r.IsRejection() {
		return dst
	}
	r.host = appendLower(r.host[:0], r.Meta.HostName)
	var id [rejectionIDLen]byte
	r.rejectionID(&id)
	return append(dst, id[:]...)
}

// rejectionID computes exim.rejection.id into id, with r.host already
// lower-cased. The id is the entry's Unix second as 32 bits in 8
// lower-case hex digits (00000000 when the entry has no time), then the
// first 48 bits of
//
//	SHA-256(host.name + "\n" + time + "\n" + pid + "\n" + text)
//
// in 8 characters of base64url (RFC 4648 section 5, no padding). The time
// first puts the ids of one index in time order, so neighbouring terms
// share their first digits and the doc values keep about 10 bytes per id
// instead of 32 (issue 12: 10.5 of 67 bytes per line went to the 32-digit
// form; base64url instead of 12 hex digits saves another 1.4). Ids can collide only within one
// second: with 1,000 rejections in every second of 90 days, the chance of
// one collision is about 1.4%, at 100 per second 1 in 7,000, at 10 per
// second 1 in 700,000 (64 bits of hash alone, 16 digits, would be about 1.6
// collisions at 1,000 per second).
//
// In the hash, host.name is lower-cased (empty when unknown); time is the Unix
// time in decimal seconds, followed by "." and three digits of
// milliseconds when Exim's own timestamp has a non-zero millisecond part
// (log_selector +millisec: Exim stamps both logs with the same text, so
// this separates lines of one second, e.g. five identical "rejected VRFY"
// of one session), seconds only when the time comes from the transport
// (syslog header, envelope: Exim calls syslog() once per log, so those
// times can differ by microseconds), empty when there is none; pid is
// decimal (0 when not logged); and text is the entry's first
// line after the timestamp, the pid and the message id, cut at the first
// "#012" (rsyslog's escape of a newline, so that a reject-log entry
// flattened by rsyslog hashes like one that kept its newlines) and without
// trailing blanks. A main-log rejection and its reject-log twin have the
// same first line, so they get the same id; the header dump that follows
// in the reject log does not count.
//
// It is computed once per record (Parse resets it).
func (r *Record) rejectionID(id *[rejectionIDLen]byte) {
	if r.ridSet {
		*id = r.rid
		return
	}
	text := r.Body
	if i := bytes.Index(text, escapedLF); i >= 0 {
		text = text[:i]
	}
	text = bytes.TrimRight(text, " \t\r")
	b := append(r.hashBuf[:0], r.host...)
	b = append(b, '\n')
	if !r.Time.IsZero() {
		b = strconv.AppendInt(b, r.Time.Unix(), 10)
		if ms := r.Time.Nanosecond() / 1e6; ms != 0 && r.Has(FlagOwnTime) {
			b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
		}
	}
	b = append(b, '\n')
	b = strconv.AppendInt(b, int64(r.PID), 10)
	b = append(b, '\n')
	b = append(b, text...)
	r.hashBuf = b
	sum := sha256.Sum256(b)
	var sec uint32
	if !r.Time.IsZero() {
		sec = uint32(r.Time.Unix())
	}
	for i := 0; i < rejectionIDTime; i++ {
		id[i] = hexDigits[sec>>(28-4*i)&0xF]
	}
	base64.RawURLEncoding.Encode(id[rejectionIDTime:], sum[:6])
	r.rid, r.ridSet = *id, true
}

var escapedLF = []byte("#012")

// appendLower appends s lower-cased (host.name: ECS wants it lower case).
func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			// non-ASCII (an IDN U-label): the Unicode rules, rare
			return append(dst, bytes.ToLower([]byte(s))...)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
