package shipper

import (
	"strings"
	"testing"
)

// TestDocID: ids are the documented bytes (values computed independently:
// Python's struct.pack('>IHHIH', fnv1a32(topic), partition, offset>>32,
// offset&0xffffffff, entry), base64url without padding), the wide form
// beyond the narrow widths, and every neighbouring position gets its own.
func TestDocID(t *testing.T) {
	for _, c := range []struct {
		p     Position
		entry int
		want  string
	}{
		{Position{"exim-logs", 3, 123456789}, 0, "u-x7lgADAAAHW80VAAA"},
		{Position{"exim-logs", 3, 123456790}, 0, "u-x7lgADAAAHW80WAAA"},
		{Position{"exim-logs", 3, 123456789}, 1, "u-x7lgADAAAHW80VAAE"},
		{Position{"exim-logs", 70000, 5}, 0, "u-x7lgABEXAAAAAAAAAABQAAAAA"},
		{Position{"exim-logs", 0, 1 << 48}, 0, "u-x7lgAAAAAAAQAAAAAAAAAAAAA"},
	} {
		if got := DocID(c.p, c.entry); got != c.want {
			t.Errorf("DocID(%v, %d) = %s, want %s", c.p, c.entry, got, c.want)
		}
	}
	seen := map[string]Position{}
	for _, topic := range []string{"exim-logs", "exim-logs-2"} {
		for part := 0; part < 3; part++ {
			for _, off := range []int64{0, 1, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<48 - 1, 1 << 48} {
				for _, e := range []int{0, 1, 65535, 65536} {
					p := Position{topic, part, off}
					id := DocID(p, e)
					if len(id) != 19 && len(id) != 27 || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
						t.Fatalf("DocID(%v, %d) = %q: want 19 or 27 base64url characters", p, e, id)
					}
					if q, dup := seen[id]; dup {
						t.Fatalf("DocID(%v, %d) = %s, as for %v", p, e, id, q)
					}
					seen[id] = p
					if again := string(AppendDocID([]byte("x"), p, e)); again != "x"+id {
						t.Fatalf("AppendDocID: %s, DocID: %s", again, id)
					}
				}
			}
		}
	}
}
