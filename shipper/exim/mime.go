package exim

import (
	"bytes"
	"encoding/base64"
)

// decodeWords appends s to dst with RFC 2047 encoded-words
// ("=?UTF-8?B?...?=", "=?iso-8859-1?Q?...?=") decoded, for the charsets that
// need no table: UTF-8, US-ASCII and ISO-8859-1 (Latin-1, converted to
// UTF-8). Words in other charsets, or malformed ones, are kept as they are.
// Whitespace between two adjacent encoded-words is dropped (RFC 2047 6.2).
// It does not allocate beyond growing dst.
func decodeWords(dst, s []byte) []byte {
	if indexStr(s, "=?") < 0 {
		return append(dst, s...)
	}
	lastWasWord := false
	for len(s) > 0 {
		i := indexStr(s, "=?")
		if i < 0 {
			return append(dst, s...)
		}
		gap := s[:i]
		if lastWasWord && len(bytes.TrimLeft(gap, " \t")) == 0 {
			gap = nil // drop whitespace between encoded-words
		}
		dst = append(dst, gap...)
		n, out, ok := decodeWord(dst, s[i:])
		if !ok {
			dst = append(dst, "=?"...)
			s = s[i+2:]
			lastWasWord = false
			continue
		}
		dst = out
		s = s[i+n:]
		lastWasWord = true
	}
	return dst
}

// decodeWord decodes the encoded-word at the start of w ("=?cs?E?text?=")
// into dst and returns its length.
func decodeWord(dst, w []byte) (int, []byte, bool) {
	// =?charset?enc?text?=
	p := w[2:]
	q1 := bytes.IndexByte(p, '?')
	if q1 <= 0 || q1+3 > len(p) || p[q1+2] != '?' {
		return 0, dst, false
	}
	charset := p[:q1]
	if j := bytes.IndexByte(charset, '*'); j >= 0 { // RFC 2231 language
		charset = charset[:j]
	}
	enc := p[q1+1] | 0x20
	text := p[q1+3:]
	end := indexStr(text, "?=")
	if end < 0 {
		return 0, dst, false
	}
	text = text[:end]
	latin1 := false
	switch {
	case bytes.EqualFold(charset, []byte("utf-8")), bytes.EqualFold(charset, []byte("us-ascii")):
	case bytes.EqualFold(charset, []byte("iso-8859-1")), bytes.EqualFold(charset, []byte("latin1")):
		latin1 = true
	default:
		return 0, dst, false
	}
	start := len(dst)
	switch enc {
	case 'b':
		need := base64.StdEncoding.DecodedLen(len(text))
		if cap(dst)-len(dst) < need {
			grown := make([]byte, len(dst), len(dst)+need+64)
			copy(grown, dst)
			dst = grown
		}
		if len(text)%4 != 0 {
			return 0, dst[:start], false
		}
		m, err := base64.StdEncoding.Decode(dst[len(dst):len(dst)+need], text)
		if err != nil {
			return 0, dst[:start], false
		}
		dst = dst[:len(dst)+m]
	case 'q':
		for i := 0; i < len(text); i++ {
			c := text[i]
			switch {
			case c == '_':
				dst = append(dst, ' ')
			case c == '=' && i+2 < len(text) && isHex(text[i+1]) && isHex(text[i+2]):
				dst = append(dst, unhexByte(text[i+1])<<4|unhexByte(text[i+2]))
				i += 2
			default:
				dst = append(dst, c)
			}
		}
	default:
		return 0, dst, false
	}
	if latin1 {
		// convert the bytes just written from Latin-1 to UTF-8 in place,
		// back to front (each byte >= 0x80 becomes two)
		extra := 0
		for _, c := range dst[start:] {
			if c >= 0x80 {
				extra++
			}
		}
		if extra > 0 {
			old := len(dst)
			for k := 0; k < extra; k++ {
				dst = append(dst, 0)
			}
			j := len(dst) - 1
			for i := old - 1; i >= start; i-- {
				c := dst[i]
				if c < 0x80 {
					dst[j] = c
					j--
					continue
				}
				dst[j] = 0x80 | c&0x3F
				dst[j-1] = 0xC0 | c>>6
				j -= 2
			}
		}
	}
	return 2 + q1 + 3 + end + 2, dst, true
}

func unhexByte(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
