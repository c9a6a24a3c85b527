package yamlconf

import (
	"fmt"
	"sort"
	"strings"
)

// Check is what a section's Check method reports to: keys are relative to
// the section ("sasl.username" inside kafka), and every problem gets the
// line of its key, or of the closest parent present in the file.
type Check struct {
	prefix string
	d      *decoder
}

// Key returns the dotted key of a key relative to the section.
func (c *Check) Key(key string) string { return join(c.prefix, key) }

// Has reports whether the key (relative to the section) is in the file.
func (c *Check) Has(key string) bool { return c.d.doc.Has(c.Key(key)) }

// Problem reports an error about key ("" for the section itself).
func (c *Check) Problem(key, format string, args ...any) {
	k := c.Key(key)
	c.d.add(c.d.doc.lineOf(k), k, fmt.Sprintf(format, args...), false)
}

// Warn reports a risky but valid setting.
func (c *Check) Warn(key, format string, args ...any) {
	k := c.Key(key)
	c.d.add(c.d.doc.lineOf(k), k, fmt.Sprintf(format, args...), true)
}

// Err reports err (a package's Validate error) as problems of key, one per
// joined error. A message starting with the name of a key present under
// key ("namespace ...", "tls ca file ...") is reported at that key.
func (c *Check) Err(key string, err error) {
	if err == nil {
		return
	}
	for _, e := range splitErr(err) {
		msg := e.Error()
		k := key
		if w := firstWord(msg); w != "" && c.Has(join(key, w)) {
			k = join(key, w)
		}
		c.Problem(k, "%s", msg)
	}
}

// firstWord returns the leading run of letters, digits and '_' of s.
func firstWord(s string) string {
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= '0' && s[i] <= '9') {
		i++
	}
	return s[:i]
}

// Failed reports whether an error was reported at or under the section.
func (c *Check) Failed() bool { return c.FailedAt("") }

// FailedAt reports whether an error was reported at or under key.
func (c *Check) FailedAt(key string) bool {
	k := c.Key(key)
	for _, p := range c.d.probs {
		if !p.Warning && (k == "" || p.Key == k || strings.HasPrefix(p.Key, k+".") || strings.HasPrefix(p.Key, k+"[")) {
			return true
		}
	}
	return false
}

func sortStrings(s []string) { sort.Strings(s) }

// closest returns the candidate nearest to s (a typo of it), or "".
func closest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := distance(strings.ToLower(s), c)
		if d > max(1, len(c)/3) {
			continue
		}
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance of two short words.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
