package process

//go:generate go run ./internal/vocabgen ../exim vocab_gen.go

import (
	"bytes"
	"strconv"
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
var wording = func() map[string]struct{} {
	m := make(map[string]struct{}, len(parserWording)+len(fixedWording))
	for _, w := range parserWording {
		m[w] = struct{}{}
	}
	for _, w := range fixedWording {
		m[w] = struct{}{}
	}
	return m
}()

// fixedWording: the rest of the fixed text of lines the parser recognises
// by their first words (Exim 4.9x, src/*.c log_write calls).
var fixedWording = []string{
	"another", "handling", "this", // "Spool file is locked (another process is handling this message)"
	"re-exec", // "SIGHUP received: re-exec daemon"
}

// separator reports the bytes that separate words (the same as
// internal/vocabgen.Separator).
func separator(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '[', ']', '<', '>', '(', ')', '"', ',', ';', '=', ':', '*':
		return true
	}
	return false
}

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
// check is deliberately simple (it costs about a microsecond per line),
// and the process tests check on the real-Exim captures and the public
// corpus that every document it lets go without event.original holds
// every word of its line among its values.
func Holds(text, body []byte, ownTime bool) bool {
	s := text
	if ownTime {
		s = skipTimestamp(s)
	}
	for len(s) > 0 {
		i := 0
		for i < len(s) && separator(s[i]) {
			i++
		}
		s = s[i:]
		j := 0
		for j < len(s) && !separator(s[j]) {
			j++
		}
		if j == 0 {
			break
		}
		w := s[:j]
		s = s[j:]
		if _, ok := wording[string(w)]; ok {
			continue
		}
		if bytes.Contains(body, w) {
			continue
		}
		if sec, ok := eximSeconds(w); ok && containsNumber(body, sec) {
			continue
		}
		return false
	}
	return true
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
