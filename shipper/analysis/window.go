package analysis

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTime parses a window bound as `eximship report --since/--until`
// take it:
//
//   - "now";
//   - a time ago: "90d", "-90d", "now-90d", "12h", "now-30m", with units
//     s, m, h, d (24 h) and w (7 d); "now+1h" is an hour ahead;
//   - RFC 3339: "2026-11-25T17:45:01Z", "2026-11-25T17:45:01.5+01:00";
//   - a local date and time in loc: "2026-11-25", "2026-11-25 17:45",
//     "2026-11-25 17:45:01", "2026-11-25T17:45:01" (a 'T' or a space).
func ParseTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.Local
	}
	in := s
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty time")
	}
	if rest, ok := strings.CutPrefix(s, "now"); ok {
		if rest == "" {
			return now, nil
		}
		if rest[0] != '-' && rest[0] != '+' {
			return time.Time{}, fmt.Errorf("time %q: after \"now\" want -N<unit> or +N<unit>", in)
		}
		d, err := parseAgo(rest[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q: %w", in, err)
		}
		if rest[0] == '+' {
			return now.Add(d), nil
		}
		return now.Add(-d), nil
	}
	if ago := strings.TrimPrefix(s, "-"); isAgo(ago) {
		d, err := parseAgo(ago)
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q: %w", in, err)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{time.DateOnly, "2006-01-02 15:04", time.DateTime, "2006-01-02T15:04", "2006-01-02T15:04:05",
		"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want now, now-90d, 90d, 12h, 2026-11-25, \"2026-11-25 17:45:01\" or RFC 3339", in)
}

// isAgo reports whether s looks like "N<unit>": digits and one letter.
func isAgo(s string) bool {
	if len(s) < 2 || strings.IndexByte("smhdw", s[len(s)-1]) < 0 {
		return false
	}
	for _, c := range s[:len(s)-1] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// maxAgo bounds relative times (100 years), so that they never
// overflow time.Duration arithmetic.
const maxAgo = 100 * 365 * 24 * time.Hour

// parseAgo parses "N<unit>", N a whole number, unit s, m, h, d or w.
func parseAgo(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("want N<unit>, unit s, m, h, d or w")
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 's':
		unit = time.Second
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	case 'd':
		unit = 24 * time.Hour
	case 'w':
		unit = 7 * 24 * time.Hour
	default:
		return 0, fmt.Errorf("unit %q: want s, m, h, d or w", s[len(s)-1:])
	}
	digits := s[:len(s)-1]
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a whole number", digits)
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > int64(maxAgo/unit) {
		return 0, fmt.Errorf("%q is out of range", digits)
	}
	return time.Duration(n) * unit, nil
}
