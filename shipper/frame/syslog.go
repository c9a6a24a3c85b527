package frame

import (
	"time"
)

// syslogHeader is what a syslog line tells besides the message.
type syslogHeader struct {
	format  Format
	host    []byte
	program []byte
	pid     int
	time    time.Time
	// sev is the severity from <PRI>, -1 if there was none.
	sev     int
	content []byte
}

// parseSyslog recognises a syslog-carried line. ref is the reference time
// used to infer the year of RFC 3164 timestamps.
func parseSyslog(line []byte, loc *time.Location, ref time.Time, h *syslogHeader) bool {
	*h = syslogHeader{sev: -1}
	rest := line
	if len(rest) > 2 && rest[0] == '<' {
		pri, n := 0, 1
		for n < len(rest) && n <= 4 && isDigit(rest[n]) {
			pri = pri*10 + int(rest[n]-'0')
			n++
		}
		if n == 1 || n > 4 || n >= len(rest) || rest[n] != '>' || pri > 191 {
			return false
		}
		h.sev = pri & 7
		rest = rest[n+1:]
		if len(rest) > 2 && rest[0] == '1' && rest[1] == ' ' {
			return parse5424(rest[2:], loc, h)
		}
	}
	strong := h.sev >= 0
	var iso isoTime
	isISO := false
	switch {
	case len(rest) >= 15 && monthIndex(rest) > 0:
		t, n, ok := parse3164Time(rest, loc, ref)
		if !ok {
			return false
		}
		h.format, h.time, strong = FormatRFC3164, t, true
		rest = rest[n:]
	case len(rest) >= 19 && isDigit(rest[0]) && rest[4] == '-':
		// The time is only scanned here and converted (time.Date, the
		// costly part) once the line is known to be syslog: a plain Exim
		// line starts with the same kind of date.
		p, n, ok := scanISOTime(rest, loc)
		if !ok {
			return false
		}
		h.format, iso, isISO = FormatISOSyslog, p, true
		if rest[10] == 'T' {
			strong = true
		}
		rest = rest[n:]
	default:
		h.format = FormatHostTag
	}
	if h.format != FormatHostTag {
		if len(rest) == 0 || rest[0] != ' ' {
			return false
		}
		for len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
		}
	}
	// host (optional when the next token is already the tag)
	tok := tokenEnd(rest)
	if tok == 0 {
		return false
	}
	if prog, pid, n, ok := parseTag(rest); ok && strong {
		// no host name: "Jun 29 16:04:19 exim[12]: ..."
		h.program, h.pid = prog, pid
		h.content = afterTag(rest[n:])
		return !isISO || iso.setTime(h)
	}
	h.host = rest[:tok]
	rest = rest[tok:]
	if len(rest) == 0 || rest[0] != ' ' {
		return false
	}
	rest = rest[1:]
	prog, pid, n, ok := parseTag(rest)
	if !ok {
		return false
	}
	if !strong {
		// Without a T-separated or RFC 3164 time the prefix could be Exim
		// text ("2024-01-01 10:00:00 TLS error: ..."): insist on an Exim
		// program name and a plausible host name.
		if !containsFold(prog, "exim") || !plausibleHost(h.host) {
			return false
		}
	}
	h.program, h.pid = prog, pid
	h.content = afterTag(rest[n:])
	return !isISO || iso.setTime(h)
}

func afterTag(b []byte) []byte {
	if len(b) > 0 && b[0] == ' ' {
		return b[1:]
	}
	return b
}

// parseTag parses "prog[pid]:" or "prog:" at the start of b and returns the
// number of bytes consumed.
func parseTag(b []byte) (prog []byte, pid, n int, ok bool) {
	i := 0
	for i < len(b) && i < 64 {
		c := b[i]
		if c == '[' || c == ':' {
			break
		}
		if c <= ' ' || c >= 0x7f || c == ']' {
			return nil, 0, 0, false
		}
		i++
	}
	if i == 0 || i >= len(b) {
		return nil, 0, 0, false
	}
	prog = b[:i]
	if b[i] == '[' {
		j := i + 1
		for j < len(b) && isDigit(b[j]) && j-i <= 10 {
			pid = pid*10 + int(b[j]-'0')
			j++
		}
		if j == i+1 || j >= len(b) || b[j] != ']' {
			return nil, 0, 0, false
		}
		i = j + 1
		if i >= len(b) || b[i] != ':' {
			return nil, 0, 0, false
		}
	}
	return prog, pid, i + 1, true
}

func tokenEnd(b []byte) int {
	for i, c := range b {
		if c == ' ' {
			return i
		}
	}
	return len(b)
}

func plausibleHost(h []byte) bool {
	if len(h) == 0 || len(h) > 255 {
		return false
	}
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', isDigit(c), c == '.', c == '-', c == '_', c == ':':
		default:
			return false
		}
	}
	return true
}

func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		match := true
		for j := 0; j < len(s); j++ {
			c := b[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != s[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// parse5424 parses what follows "<PRI>1 ".
func parse5424(b []byte, loc *time.Location, h *syslogHeader) bool {
	h.format = FormatRFC5424
	var fields [5][]byte
	for i := range fields {
		n := tokenEnd(b)
		if n == 0 || n == len(b) && i < 4 {
			return false
		}
		fields[i] = b[:n]
		b = b[n:]
		if len(b) > 0 {
			b = b[1:]
		}
	}
	if ts := fields[0]; !isNil(ts) {
		t, n, ok := parseISOTime(ts, loc)
		if !ok || n != len(ts) {
			return false
		}
		h.time = t
	}
	if !isNil(fields[1]) {
		h.host = fields[1]
	}
	if !isNil(fields[2]) {
		h.program = fields[2]
	}
	if p := fields[3]; !isNil(p) {
		pid := 0
		for _, c := range p {
			if !isDigit(c) || pid > 1e9 {
				pid = 0
				break
			}
			pid = pid*10 + int(c-'0')
		}
		h.pid = pid
	}
	// fields[4] is MSGID; then structured data.
	if len(b) == 0 {
		return false
	}
	if b[0] == '-' {
		b = b[1:]
	} else {
		for len(b) > 0 && b[0] == '[' {
			n, ok := sdElementEnd(b)
			if !ok {
				return false
			}
			b = b[n:]
		}
	}
	if len(b) > 0 {
		if b[0] != ' ' {
			return false
		}
		b = b[1:]
	}
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		b = b[3:]
	}
	h.content = b
	return true
}

func isNil(b []byte) bool { return len(b) == 1 && b[0] == '-' }

// sdElementEnd returns the length of the SD-ELEMENT at the start of b.
func sdElementEnd(b []byte) (int, bool) {
	inQuote := false
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == ']':
			return i + 1, true
		}
	}
	return 0, false
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func monthIndex(b []byte) int {
	if len(b) < 4 || b[3] != ' ' {
		return 0
	}
	for i, m := range months {
		if string(b[:3]) == m {
			return i + 1
		}
	}
	return 0
}

// parse3164Time parses "Jun 29 16:04:19" (day may be " 9" or "9"), with an
// optional fraction, and infers the year: of the years around ref, the one
// that puts the time closest to ref (a December line read in January belongs
// to the previous year, a January line read in late December to the next).
func parse3164Time(b []byte, loc *time.Location, ref time.Time) (time.Time, int, bool) {
	mon := monthIndex(b)
	i := 4
	if b[i] == ' ' {
		i++
	}
	day := 0
	for j := 0; j < 2 && i < len(b) && isDigit(b[i]); j++ {
		day = day*10 + int(b[i]-'0')
		i++
	}
	if day < 1 || day > 31 || i >= len(b) || b[i] != ' ' {
		return time.Time{}, 0, false
	}
	i++
	hh, mm, ss, n, ok := parseClock(b[i:])
	if !ok {
		return time.Time{}, 0, false
	}
	i += n
	nsec, n := parseFraction(b[i:])
	i += n
	if ref.IsZero() {
		ref = time.Now()
	}
	y := ref.In(loc).Year()
	best := time.Time{}
	var bestD time.Duration
	for _, yy := range [...]int{y - 1, y, y + 1} {
		t := time.Date(yy, time.Month(mon), day, hh, mm, ss, nsec, loc)
		if t.Day() != day { // Feb 29 in a non-leap year
			continue
		}
		d := t.Sub(ref)
		if d < 0 {
			d = -d
		}
		if best.IsZero() || d < bestD {
			best, bestD = t, d
		}
	}
	if best.IsZero() {
		return time.Time{}, 0, false
	}
	return best, i, true
}

func parseClock(b []byte) (hh, mm, ss, n int, ok bool) {
	if len(b) < 8 || b[2] != ':' || b[5] != ':' {
		return
	}
	for _, k := range [...]int{0, 1, 3, 4, 6, 7} {
		if !isDigit(b[k]) {
			return
		}
	}
	hh = int(b[0]-'0')*10 + int(b[1]-'0')
	mm = int(b[3]-'0')*10 + int(b[4]-'0')
	ss = int(b[6]-'0')*10 + int(b[7]-'0')
	if hh > 23 || mm > 59 || ss > 60 {
		return
	}
	if ss == 60 {
		ss = 59
	}
	return hh, mm, ss, 8, true
}

func parseFraction(b []byte) (nsec, n int) {
	if len(b) < 2 || (b[0] != '.' && b[0] != ',') || !isDigit(b[1]) {
		return 0, 0
	}
	scale := 100000000
	n = 1
	for n < len(b) && isDigit(b[n]) {
		if scale > 0 {
			nsec += int(b[n]-'0') * scale
			scale /= 10
		}
		n++
	}
	return nsec, n
}

// parseISOTime parses "2024-06-29T16:04:19[.frac][Z|+hh:mm|+hhmm]" with 'T'
// or ' ' between date and time; without an offset it reads the time in loc.
func parseISOTime(b []byte, loc *time.Location) (time.Time, int, bool) {
	p, n, ok := scanISOTime(b, loc)
	if !ok {
		return time.Time{}, 0, false
	}
	t, ok := p.time()
	if !ok {
		return time.Time{}, 0, false
	}
	return t, n, true
}

// isoTime is a scanned ISO time, not yet converted.
type isoTime struct {
	y, mo, d, hh, mm, ss, nsec int
	tz                         *time.Location
}

// time converts p; false when the day does not exist (February 30).
func (p isoTime) time() (time.Time, bool) {
	t := time.Date(p.y, time.Month(p.mo), p.d, p.hh, p.mm, p.ss, p.nsec, p.tz)
	if t.Day() != p.d {
		return time.Time{}, false
	}
	return t, true
}

// setTime sets h.time to p; false when p is not a real day.
func (p isoTime) setTime(h *syslogHeader) bool {
	t, ok := p.time()
	h.time = t
	return ok
}

// scanISOTime is parseISOTime without the conversion.
func scanISOTime(b []byte, loc *time.Location) (isoTime, int, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ') {
		return isoTime{}, 0, false
	}
	for _, k := range [...]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if !isDigit(b[k]) {
			return isoTime{}, 0, false
		}
	}
	y := int(b[0]-'0')*1000 + int(b[1]-'0')*100 + int(b[2]-'0')*10 + int(b[3]-'0')
	mo := int(b[5]-'0')*10 + int(b[6]-'0')
	d := int(b[8]-'0')*10 + int(b[9]-'0')
	if mo < 1 || mo > 12 || d < 1 || d > 31 {
		return isoTime{}, 0, false
	}
	hh, mm, ss, n, ok := parseClock(b[11:])
	if !ok {
		return isoTime{}, 0, false
	}
	i := 11 + n
	nsec, n := parseFraction(b[i:])
	i += n
	tz := loc
	if i < len(b) {
		switch b[i] {
		case 'Z', 'z':
			tz = time.UTC
			i++
		case '+', '-':
			r := b[i+1:]
			var oh, om, m int
			switch {
			case len(r) >= 5 && r[2] == ':' && isDigit(r[0]) && isDigit(r[1]) && isDigit(r[3]) && isDigit(r[4]):
				oh, om, m = int(r[0]-'0')*10+int(r[1]-'0'), int(r[3]-'0')*10+int(r[4]-'0'), 6
			case len(r) >= 4 && isDigit(r[0]) && isDigit(r[1]) && isDigit(r[2]) && isDigit(r[3]):
				oh, om, m = int(r[0]-'0')*10+int(r[1]-'0'), int(r[2]-'0')*10+int(r[3]-'0'), 5
			}
			if m > 0 && oh < 24 && om < 60 {
				off := (oh*60 + om) * 60
				if b[i] == '-' {
					off = -off
				}
				tz = fixedZone(off)
				i += m
			}
		}
	}
	return isoTime{y: y, mo: mo, d: d, hh: hh, mm: mm, ss: ss, nsec: nsec, tz: tz}, i, true
}

// fixedZone caches zones by offset so that parsing allocates no Location.
var zoneCache [2 * 24 * 4]*time.Location

func fixedZone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	if off%900 == 0 {
		k := off/900 + 24*4
		if k >= 0 && k < len(zoneCache) {
			if z := zoneCache[k]; z != nil {
				return z
			}
			z := time.FixedZone("", off)
			zoneCache[k] = z
			return z
		}
	}
	return time.FixedZone("", off)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parsePiece recognises Exim's syslog piece marker "[i/m] " or "[i\m] " at
// the start of content. sep is '/' (the piece was cut for length, or is the
// last) or '\\' (the piece ended at a newline).
func parsePiece(b []byte) (i, m int, sep byte, text []byte, ok bool) {
	if len(b) < 5 || b[0] != '[' {
		return
	}
	k := 1
	for k < len(b) && isDigit(b[k]) && k < 6 {
		i = i*10 + int(b[k]-'0')
		k++
	}
	if k == 1 || k >= len(b) || (b[k] != '/' && b[k] != '\\') {
		return 0, 0, 0, nil, false
	}
	sep = b[k]
	k++
	s := k
	for k < len(b) && isDigit(b[k]) && k-s < 5 {
		m = m*10 + int(b[k]-'0')
		k++
	}
	if k == s || k >= len(b) || b[k] != ']' || i < 1 || m < 1 || i > m {
		return 0, 0, 0, nil, false
	}
	k++
	if k < len(b) && b[k] == ' ' {
		k++
	}
	return i, m, sep, b[k:], true
}
