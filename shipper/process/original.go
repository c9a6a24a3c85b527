package process

//go:generate go run ./internal/vocabgen ../exim vocab_gen.go

import (
	"bytes"
	"strconv"

	"github.com/eximship/eximship/shipper/exim"
)

// When Config.KeepOriginal is false, a document keeps event.original only
// where its parsed fields may not hold everything the entry said:
//
//   - the entry could not be parsed completely (error.message: framing
//     errors, parse errors, orphaned continuation lines; and every error
//     document);
//   - or a word of the entry is missing from the document (Holds).
//
// What is never kept without event.original: the transport's wrapping (a
// syslog header's priority and tag, a JSON envelope's other members), the
// exact spelling of times and durations (they are in @timestamp and in
// seconds or nanoseconds), and Exim's own wording of the line, which
// event.action stands for.

// wording is the set of words that are Exim's wording rather than values:
// what the parser matches (parserWording, generated from its sources) and
// the fixed text of lines it recognises by their start.
var wording = newWordSet(parserWording, fixedWording)

// wordSet is a set of words looked up by a []byte without a string (open
// addressing, FNV-1a: cheaper per word than a map for these short words).
type wordSet struct {
	slots []string
	mask  uint32
}

func newWordSet(lists ...[]string) *wordSet {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	size := 16
	for size < 4*n {
		size *= 2
	}
	s := &wordSet{slots: make([]string, size), mask: uint32(size - 1)}
	for _, l := range lists {
		for _, w := range l {
			if w == "" || s.has([]byte(w)) {
				continue
			}
			i := hashWord([]byte(w)) & s.mask
			for s.slots[i] != "" {
				i = (i + 1) & s.mask
			}
			s.slots[i] = w
		}
	}
	return s
}

func hashWord(w []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range w {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

func (s *wordSet) has(w []byte) bool {
	for i := hashWord(w) & s.mask; ; i = (i + 1) & s.mask {
		x := s.slots[i]
		if x == "" {
			return false
		}
		if x == string(w) {
			return true
		}
	}
}

// fixedWording: the rest of the fixed text of lines the parser recognises
// by their first words (Exim 4.9x, src/*.c log_write calls).
var fixedWording = []string{
	"another", "handling", "this", // "Spool file is locked (another process is handling this message)"
	"re-exec", // "SIGHUP received: re-exec daemon"
}

// separator reports the bytes that separate words (the same as
// internal/vocabgen.Separator).
func separator(c byte) bool { return separators[c] }

var separators = func() (t [256]bool) {
	for _, c := range []byte(" \t\n\r[]<>()\",;=:*") {
		t[c] = true
	}
	return t
}()

// Holds reports whether the document body (JSON) holds every word of the
// Exim entry text: each word (split at spaces, brackets, quotes and
// = , ; :) must occur in the body, be Exim's wording, or be a number or
// Exim time (1m2s) that occurs in the body in seconds or nanoseconds. With
// ownTime the leading timestamp is skipped (it is @timestamp). Exim's
// escapes (\n, \t, \", \\) are spelled the same in JSON, so an escaped
// word matches its decoded value; a word whose bytes the document had to
// change (\ooo of invalid UTF-8) does not, and the entry keeps its
// original.
//
// A word can occur by chance in another value or in a field name: the
// check is deliberately simple, and the process tests check on the
// real-Exim captures and the public corpus that every document it lets go
// without event.original holds every word of its line among its values.
// EncodeEntry runs it with the encoder's Coverage (holds), which answers
// the same for about a fifth of the cost (docs/PERFORMANCE.md).
func Holds(text, body []byte, ownTime bool) bool {
	return holds(text, body, ownTime, nil)
}

// holds is Holds, asking cov (what the encoder wrote of text as it is,
// when not nil) before searching body: a word the encoder copied into a
// string value, or an integer or Exim time it wrote as a number, is in
// body, so the answer is Holds's, found without the search for most
// words.
func holds(text, body []byte, ownTime bool, cov *exim.Coverage) bool {
	off := 0
	if ownTime {
		off = len(text) - len(skipTimestamp(text))
	}
	if cov != nil {
		return holdsGaps(text, body, off, cov)
	}
	for i := off; i < len(text); {
		for i < len(text) && separator(text[i]) {
			i++
		}
		j := i
		for j < len(text) && !separator(text[j]) {
			j++
		}
		if j == i {
			break
		}
		if !wordHeld(text[i:j], body, nil) {
			return false
		}
		i = j
	}
	return true
}

// holdsGaps looks only at the words that have a byte the encoder did not
// write as it is (cov's gaps): every other word of the text lies inside
// a string value of body.
func holdsGaps(text, body []byte, off int, cov *exim.Coverage) bool {
	for p := off; p < len(text); {
		s, e := cov.Gap(p)
		if s >= len(text) {
			break
		}
		i := s
		for i < e {
			if separator(text[i]) {
				i++
				continue
			}
			// the word around i, as the scan above splits it
			ws := i
			for ws > off && !separator(text[ws-1]) {
				ws--
			}
			we := i + 1
			for we < len(text) && !separator(text[we]) {
				we++
			}
			if !wordHeld(text[ws:we], body, cov) {
				return false
			}
			i = we
		}
		p = i
	}
	return true
}

// wordHeld reports whether one word is in body (see Holds), asking cov,
// when not nil, for the numbers the encoder wrote.
func wordHeld(w, body []byte, cov *exim.Coverage) bool {
	if cov != nil {
		if c := w[0]; c >= '0' && c <= '9' {
			if v, ok := plainInt(w); ok && cov.WroteInt(v) {
				return true
			}
			if sec, ok := eximSeconds(w); ok && (cov.WroteFloat(sec) || cov.WroteInt(int64(sec*1e9+0.5))) {
				return true
			}
		}
	}
	if wording.has(w) || bytes.Contains(body, w) {
		return true
	}
	sec, ok := eximSeconds(w)
	return ok && containsNumber(body, sec)
}

// plainInt parses w as strconv.AppendInt writes an int64 of up to 18
// digits (no sign, no leading zero).
func plainInt(w []byte) (int64, bool) {
	if len(w) == 0 || len(w) > 18 || w[0] == '0' && len(w) > 1 {
		return 0, false
	}
	var v int64
	for _, c := range w {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// containsNumber reports whether body holds sec as a JSON number in
// seconds or in nanoseconds.
func containsNumber(body []byte, sec float64) bool {
	var buf [32]byte
	if bytes.Contains(body, strconv.AppendFloat(buf[:0], sec, 'f', -1, 64)) {
		return true
	}
	return bytes.Contains(body, strconv.AppendInt(buf[:0], int64(sec*1e9+0.5), 10))
}

// eximSeconds parses an Exim time such as 2s, 0.349s, 1m2s or 1w2d3h4m5s.
func eximSeconds(w []byte) (float64, bool) {
	total, start, units := 0.0, 0, 0
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= '0' && c <= '9' || c == '.' {
			continue
		}
		unit := 0.0
		switch c {
		case 'w':
			unit = 7 * 86400
		case 'd':
			unit = 86400
		case 'h':
			unit = 3600
		case 'm':
			unit = 60
		case 's':
			unit = 1
		}
		if unit == 0 || i == start {
			return 0, false
		}
		n, err := strconv.ParseFloat(string(w[start:i]), 64)
		if err != nil {
			return 0, false
		}
		total += n * unit
		start = i + 1
		units++
	}
	// a plain number (no unit, or digits after the last one) was matched
	// as bytes already
	return total, units > 0 && start == len(w)
}

// skipTimestamp skips "YYYY-MM-DD HH:MM:SS[.fff][ +zzzz] " at the start.
func skipTimestamp(s []byte) []byte {
	const layout = "0000-00-00 00:00:00"
	if len(s) < len(layout) {
		return s
	}
	for i := 0; i < len(layout); i++ {
		if layout[i] == '0' {
			if s[i] < '0' || s[i] > '9' {
				return s
			}
		} else if s[i] != layout[i] {
			return s
		}
	}
	s = s[len(layout):]
	if len(s) > 0 && s[0] == '.' {
		i := 1
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		s = s[i:]
	}
	if len(s) >= 6 && s[0] == ' ' && (s[1] == '+' || s[1] == '-') {
		ok := true
		for _, c := range s[2:6] {
			ok = ok && c >= '0' && c <= '9'
		}
		if ok {
			s = s[6:]
		}
	}
	return s
}
