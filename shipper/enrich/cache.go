package enrich

import (
	"encoding/binary"
	"unsafe"
)

// cache maps the text of a domain, HELO or address as logged to what was
// computed of it. A direct-mapped table of recent entries (a hash of
// length, head and tail, then one comparison) sits in front of a map
// (emptied when it holds max entries): a log names a few hot domains and
// clients again and again, and the table answers those without a map
// probe. Neither path allocates once an entry exists.
type cache[V any] struct {
	hot [256]*entry[V]
	m   map[string]*entry[V]
	max int
}

type entry[V any] struct {
	key string
	val V
}

func newCache[V any](max int) *cache[V] { return &cache[V]{m: map[string]*entry[V]{}, max: max} }

// slot hashes the length and the first and last 8 bytes of k.
func slot(k []byte) uint8 {
	n := len(k)
	var h uint64
	if n >= 8 {
		h = binary.LittleEndian.Uint64(k) ^ binary.LittleEndian.Uint64(k[n-8:])*0x9e3779b97f4a7c15
	} else {
		for _, c := range k {
			h = h<<8 | uint64(c)
		}
	}
	h = (h ^ uint64(n)) * 0xff51afd7ed558ccd
	return uint8(h >> 56)
}

// get returns the value of k, computing it with compute on a miss.
func (c *cache[V]) get(k []byte, compute func([]byte) V) *V {
	i := slot(k)
	if e := c.hot[i]; e != nil && e.key == unsafe.String(unsafe.SliceData(k), len(k)) {
		return &e.val
	}
	e, ok := c.m[string(k)]
	if !ok {
		if len(c.m) >= c.max {
			c.reset()
		}
		e = &entry[V]{key: string(k), val: compute(k)}
		c.m[e.key] = e
	}
	c.hot[i] = e
	return &e.val
}

// reset empties the cache.
func (c *cache[V]) reset() {
	clear(c.m)
	c.hot = [256]*entry[V]{}
}
