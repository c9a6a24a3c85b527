package exim

import (
	"math/bits"
	"unsafe"
)

// Coverage records, while AppendJSON encodes a record, which bytes of the
// entry text went into the document as they are: string values copied
// from the text without a byte changed by JSON escaping, and the integers
// and floats written. A caller that wants to know whether the document
// holds every word of the entry (shipper/process, to leave event.original
// out) asks Covers and Wrote* first and searches the document only for
// the rest, instead of searching it for every word.
//
// Set Record.Cover before AppendJSON; a nil Cover records nothing. A
// Coverage is reused across records (Reset), without allocating once its
// bitmap has grown to the longest text.
type Coverage struct {
	base uintptr // address of the text's first byte
	n    int     // length of the text
	bits []uint64

	ints   [16]int64
	nints  int
	floats [8]float64
	nfloat int
}

// Reset starts recording for an entry whose values are slices of text.
func (c *Coverage) Reset(text []byte) {
	c.n = len(text)
	c.base = 0
	if len(text) > 0 {
		c.base = uintptr(unsafe.Pointer(unsafe.SliceData(text)))
	}
	words := (len(text) + 63) >> 6
	if cap(c.bits) < words {
		c.bits = make([]uint64, words)
	} else {
		c.bits = c.bits[:words]
		clear(c.bits)
	}
	c.nints, c.nfloat = 0, 0
}

// wrote notes that v was written as a JSON string of outLen bytes between
// its quotes: when nothing was escaped and v lies inside the text, its
// bytes are covered.
func (c *Coverage) wrote(v []byte, outLen int) {
	if outLen != len(v) || len(v) == 0 || c.n == 0 {
		return
	}
	off := uintptr(unsafe.Pointer(unsafe.SliceData(v))) - c.base
	if off >= uintptr(c.n) || uintptr(c.n)-off < uintptr(len(v)) {
		return
	}
	c.set(int(off), int(off)+len(v))
}

func (c *Coverage) set(s, e int) {
	for s < e {
		w, b := s>>6, uint(s&63)
		n := min(64-int(b), e-s)
		c.bits[w] |= mask(n) << b
		s += n
	}
}

func mask(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<uint(n) - 1
}

// Covers reports whether bytes [s, e) of the text were all written as
// they are (within string values).
func (c *Coverage) Covers(s, e int) bool {
	if w := s >> 6; uint(s) < uint(e) && uint(e) <= uint(c.n) && (e-1)>>6 == w {
		// within one word of bits (most words of a line)
		m := ^uint64(0) >> uint(64-(e-s)) << uint(s&63)
		return c.bits[w]&m == m
	}
	return c.coversSpan(s, e)
}

//go:noinline
func (c *Coverage) coversSpan(s, e int) bool {
	if s < 0 || e > c.n || s >= e {
		return false
	}
	for s < e {
		w, b := s>>6, uint(s&63)
		n := min(64-int(b), e-s)
		m := mask(n) << b
		if c.bits[w]&m != m {
			return false
		}
		s += n
	}
	return true
}

// Gap returns the first run [s, e) of bytes at or after p that were not
// written as they are; s is the text's length when there is none.
func (c *Coverage) Gap(p int) (s, e int) {
	if p < 0 {
		p = 0
	}
	if p >= c.n {
		return c.n, c.n
	}
	w := p >> 6
	x := ^c.bits[w] & (^uint64(0) << uint(p&63))
	for x == 0 {
		w++
		if w == len(c.bits) {
			return c.n, c.n
		}
		x = ^c.bits[w]
	}
	s = w<<6 + bits.TrailingZeros64(x)
	if s >= c.n {
		return c.n, c.n
	}
	x = c.bits[w] & (^uint64(0) << uint(s&63))
	for x == 0 {
		w++
		if w == len(c.bits) {
			return s, c.n
		}
		x = c.bits[w]
	}
	return s, min(w<<6+bits.TrailingZeros64(x), c.n)
}

func (c *Coverage) num(v int64) {
	if c.nints < len(c.ints) {
		c.ints[c.nints] = v
		c.nints++
	}
}

func (c *Coverage) float(v float64) {
	if c.nfloat < len(c.floats) {
		c.floats[c.nfloat] = v
		c.nfloat++
	}
}

// WroteInt reports whether v was written as a JSON number (one of the
// first 16 integers of the document).
func (c *Coverage) WroteInt(v int64) bool {
	for _, x := range c.ints[:c.nints] {
		if x == v {
			return true
		}
	}
	return false
}

// WroteFloat reports whether v was written as a JSON number (one of the
// first 8 floats of the document).
func (c *Coverage) WroteFloat(v float64) bool {
	for _, x := range c.floats[:c.nfloat] {
		if x == v {
			return true
		}
	}
	return false
}
