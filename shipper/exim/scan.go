package exim

import (
	"bytes"
	"errors"
	"time"
)

var (
	errInternal     = errors.New("exim: internal parser error (entry kept as unknown)")
	errBadTimestamp = errors.New("exim: malformed timestamp")
	errBadHost      = errors.New("exim: malformed host field")
)

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func hasPrefix(s []byte, p string) bool {
	return len(s) >= len(p) && string(s[:len(p)]) == p
}

// cut returns s without prefix p and true if s starts with p.
func cut(s []byte, p string) ([]byte, bool) {
	if hasPrefix(s, p) {
		return s[len(p):], true
	}
	return s, false
}

// indexStr is bytes.Index for a string needle, without converting it.
func indexStr(s []byte, sub string) int {
	if len(sub) == 0 {
		return 0
	}
	c := sub[0]
	for i := 0; i+len(sub) <= len(s); {
		j := bytes.IndexByte(s[i:len(s)-len(sub)+1], c)
		if j < 0 {
			return -1
		}
		i += j
		if string(s[i:i+len(sub)]) == sub {
			return i
		}
		i++
	}
	return -1
}

func atoi(s []byte) (int, bool) {
	if len(s) == 0 || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func atoi64(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range s {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func dig2(s []byte, i int) int { return int(s[i]-'0')*10 + int(s[i+1]-'0') }

// parseTimestamp reads "YYYY-MM-DD HH:MM:SS[.mmm][ +HHMM]" at the start of
// s. It returns the rest after the timestamp and one space.
func (p *Parser) parseTimestamp(s []byte, r *Record) ([]byte, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return s, false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if !isDigit(s[i]) {
			return s, false
		}
	}
	year := dig2(s, 0)*100 + dig2(s, 2)
	month, day := dig2(s, 5), dig2(s, 8)
	hour, min, sec := dig2(s, 11), dig2(s, 14), dig2(s, 17)
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60 {
		r.Err = errBadTimestamp
		return s, false
	}
	rest := s[19:]
	nsec := 0
	if len(rest) >= 4 && rest[0] == '.' && isDigit(rest[1]) && isDigit(rest[2]) && isDigit(rest[3]) {
		nsec = (int(rest[1]-'0')*100 + dig2(rest, 2)) * 1e6
		rest = rest[4:]
	}
	loc := p.loc
	if len(rest) >= 6 && rest[0] == ' ' && (rest[1] == '+' || rest[1] == '-') &&
		isDigit(rest[2]) && isDigit(rest[3]) && isDigit(rest[4]) && isDigit(rest[5]) &&
		(len(rest) == 6 || rest[6] == ' ') {
		off := (dig2(rest, 2)*60 + dig2(rest, 4)) * 60
		if rest[1] == '-' {
			off = -off
		}
		loc = p.fixedZone(off)
		rest = rest[6:]
	}
	if len(rest) > 0 {
		if rest[0] != ' ' {
			return s, false
		}
		rest = rest[1:]
	}
	r.Time = time.Date(year, time.Month(month), day, hour, min, sec, nsec, loc)
	r.Flags |= FlagOwnTime
	return rest, true
}

func (p *Parser) fixedZone(off int) *time.Location {
	for _, z := range p.zones {
		if z.off == off {
			return z.loc
		}
	}
	var loc *time.Location
	if off == 0 {
		loc = time.UTC
	} else {
		loc = time.FixedZone("", off)
	}
	if len(p.zones) < 64 {
		p.zones = append(p.zones, zone{off, loc})
	}
	return loc
}

// isMessageID reports whether s starts with an Exim message id followed by
// a space or the end: 6-6-2 (before 4.97) or 6-11-4 (4.97+), base-62.
func messageIDLen(s []byte) int {
	n := 0
	switch {
	case len(s) >= 16 && s[6] == '-' && s[13] == '-' && (len(s) == 16 || s[16] == ' '):
		n = 16
	case len(s) >= 23 && s[6] == '-' && s[18] == '-' && (len(s) == 23 || s[23] == ' '):
		n = 23
	default:
		return 0
	}
	for i := 0; i < n; i++ {
		if i == 6 || i == 13 && n == 16 || i == 18 && n == 23 {
			continue
		}
		if !isAlnum(s[i]) {
			return 0
		}
	}
	return n
}

// parsePIDBracket reads "[digits] " at the start of s.
func parsePIDBracket(s []byte, r *Record) ([]byte, bool) {
	if len(s) < 3 || s[0] != '[' {
		return s, false
	}
	i := 1
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 1 || i >= len(s) || s[i] != ']' || i > 11 {
		return s, false
	}
	pid, _ := atoi(s[1:i])
	rest := s[i+1:]
	if len(rest) > 0 {
		if rest[0] != ' ' {
			return s, false
		}
		rest = rest[1:]
	}
	r.PID = pid
	return rest, true
}

// skipSyslogTag skips "host exim[pid]: " or "host exim: " that some syslog
// setups write after Exim's own timestamp (seen with syslog-ng templates).
func skipSyslogTag(s []byte, r *Record) []byte {
	sp := bytes.IndexByte(s, ' ')
	if sp <= 0 || sp > 255 || s[0] == '[' {
		// "[pid] text" is Exim's own pid (+pid), not a host name
		return s
	}
	t := s[sp+1:]
	i := 0
	for i < len(t) && i < 64 && t[i] != ' ' && t[i] != ':' && t[i] != '[' {
		i++
	}
	if i == 0 || i >= len(t) || indexStr(t[:i], "exim") < 0 {
		return s
	}
	tag := t[i:]
	if tag[0] == '[' {
		j := 1
		for j < len(tag) && isDigit(tag[j]) {
			j++
		}
		if j == 1 || j >= len(tag) || tag[j] != ']' {
			return s
		}
		if pid, ok := atoi(tag[1:j]); ok && r.PID == 0 {
			r.PID = pid
		}
		tag = tag[j+1:]
	}
	if rest, ok := cut(tag, ": "); ok {
		return rest
	}
	return s
}

// scanQuoted returns the length of a quoted string at s[0]=='"' including
// both quotes, honouring backslash escapes; -1 when unterminated.
func scanQuoted(s []byte) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// scanAddress returns the length of an address token at the start of s:
// "<...>" (with quoted local parts), or a bare address up to a space (a
// quoted local part may contain spaces).
func scanAddress(s []byte) int {
	if len(s) == 0 {
		return 0
	}
	// "<...>" ends after its '>', a bare address before a space
	start, end, after := 0, byte(' '), 0
	if s[0] == '<' {
		start, end, after = 1, '>', 1
	}
	for i := start; i < len(s); i++ {
		switch s[i] {
		case '"':
			n := scanQuoted(s[i:])
			if n < 0 {
				return len(s)
			}
			i += n - 1
		case end:
			return i + after
		}
	}
	return len(s)
}

// stripAngle removes the angle brackets of "<addr>".
func stripAngle(a []byte) []byte {
	if len(a) >= 2 && a[0] == '<' && a[len(a)-1] == '>' {
		return a[1 : len(a)-1]
	}
	return a
}

// setSender records a sender address (with or without angle brackets).
func (r *Record) setSender(a []byte) {
	a = stripAngle(a)
	if len(a) == 0 {
		r.Flags |= FlagNullSender
		r.Sender = nil
		return
	}
	r.Sender = a
	r.Flags &^= FlagNullSender
}

// parseHostAt parses "name (helo) [ip]:port" with optional parts starting
// at s (the text after "H="). It returns the length consumed.
func parseHostAt(s []byte, h *Host) int {
	i := 0
	// name: anything up to a space, unless it starts with '(' or '['.
	if i < len(s) && s[i] != '(' && s[i] != '[' {
		j := i
		for j < len(s) && s[j] != ' ' {
			j++
		}
		h.Name = s[i:j]
		// "H=name" alone (e.g. a delivery host without address).
		if j+1 >= len(s) || (s[j+1] != '(' && s[j+1] != '[') {
			return j
		}
		i = j + 1
	}
	if i < len(s) && s[i] == '(' {
		// helo: up to the ')' that is followed by " [" (helo names may
		// contain parentheses or spaces).
		j := i + 1
		end := -1
		for k := j; k < len(s); k++ {
			if s[k] == ')' && (k+1 == len(s) || k+2 < len(s) && s[k+1] == ' ' && s[k+2] == '[') {
				end = k
				break
			}
		}
		if end < 0 {
			// no address follows: "(helo)" up to the first ')'
			k := bytes.IndexByte(s[j:], ')')
			if k < 0 {
				h.Helo = s[j:]
				return len(s)
			}
			h.Helo = s[j : j+k]
			return j + k + 1
		}
		h.Helo = s[j:end]
		i = end + 1
		if i < len(s) && s[i] == ' ' && i+1 < len(s) && s[i+1] == '[' {
			i++
		} else {
			return i
		}
	}
	if i < len(s) && s[i] == '[' {
		k := bytes.IndexByte(s[i:], ']')
		if k < 0 {
			// malformed: take up to the next space
			j := i + 1
			for j < len(s) && s[j] != ' ' && s[j] != ':' {
				j++
			}
			h.IP = s[i+1 : j]
			h.malformed = true
			return j
		}
		h.IP = s[i+1 : i+k]
		i += k + 1
		if i < len(s) && (s[i] == ':' || s[i] == '.') && i+1 < len(s) && isDigit(s[i+1]) {
			j := i + 1
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if port, ok := atoi(s[i+1 : j]); ok && port <= 65535 {
				h.Port = port
			}
			i = j
		} else if i+1 < len(s) && s[i] == ':' && s[i+1] >= 'A' && s[i+1] <= 'Z' {
			// a non-numeric port (the test suite's PORT_D placeholder)
			j := i + 1
			for j < len(s) && (s[j] >= 'A' && s[j] <= 'Z' || s[j] == '_' || isDigit(s[j])) {
				j++
			}
			if j == len(s) || s[j] == ' ' {
				i = j
			}
		}
	}
	return i
}

// parseDuration reads Exim's readconf_printtime form: "1w2d3h4m5s",
// "0.349s", "2m42s", or a bare number of seconds. A component is computed
// as one division (digits / 10^decimals), so "0.054s" gives exactly the
// float64 nearest to 0.054, without accumulated rounding noise.
func parseDuration(s []byte) (float64, bool) {
	if len(s) == 0 || len(s) > 32 {
		return 0, false
	}
	var total float64
	var mant int64
	dec, inFrac, any := 0, false, false
	flush := func(mult float64) {
		v := float64(mant)
		if dec > 0 {
			v /= pow10[dec]
		}
		total += v * mult
		mant, dec, inFrac, any = 0, 0, false, false
	}
	for _, c := range s {
		switch {
		case isDigit(c):
			if mant > 1e15 {
				return 0, false
			}
			any = true
			mant = mant*10 + int64(c-'0')
			if inFrac {
				dec++
			}
		case c == '.' && !inFrac:
			inFrac = true
		default:
			if !any {
				return 0, false
			}
			switch c {
			case 'w':
				flush(7 * 86400)
			case 'd':
				flush(86400)
			case 'h':
				flush(3600)
			case 'm':
				flush(60)
			case 's':
				flush(1)
			default:
				return 0, false
			}
		}
	}
	if any {
		flush(1)
	}
	// more than 100 years is not a duration Exim writes (and would not fit
	// event.duration in nanoseconds)
	if total > 100*366*86400 {
		return 0, false
	}
	return total, true
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32}
