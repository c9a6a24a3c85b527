package exim

import (
	"bytes"
	"time"
)

// HeaderFields are the message headers of a reject-log entry's header dump
// that have a place in the document. Each is the raw value as Exim wrote it
// (folded lines included, RFC 2047 words not decoded), a slice into the
// entry; nil when the header is absent. The first occurrence of a header
// counts; headers Exim marked as deleted ('*') are skipped.
type HeaderFields struct {
	From      []byte // From: (exim.header.from)
	To        []byte // To: (exim.header.to)
	Cc        []byte // Cc: (email.cc.address)
	Sender    []byte // Sender: (email.sender.address)
	ReplyTo   []byte // Reply-To: (email.reply_to.address)
	Subject   []byte // Subject: (email.subject)
	MessageID []byte // Message-ID: (email.message_id)
	Mailer    []byte // X-Mailer:, else User-Agent: (email.x_mailer)
	Date      []byte // Date: (email.origination_timestamp)
}

// parseHeaderDump reads the header dump of a reject-log entry: one header
// per line as "<flag> <name>: <value>" (flag: Exim's header type letter,
// '*' for a deleted header, ' ' for others), folded continuation lines
// starting with a blank.
func (h *HeaderFields) parse(s []byte) {
	var cur *[]byte // the header being read, to extend over folded lines
	for len(s) > 0 {
		line := s
		rest := []byte(nil)
		if i := bytes.IndexByte(s, '\n'); i >= 0 {
			line, rest = s[:i], s[i+1:]
		}
		name, value, ok := headerStart(line)
		switch {
		case ok:
			cur = nil
			if line[0] == '*' {
				break
			}
			if f := h.field(name); f != nil && *f == nil {
				*f = value
				cur = f
			}
		case cur != nil && len(line) > 0 && (line[0] == ' ' || line[0] == '\t'):
			// a folded line: extend the value over it (the slice stays
			// inside the entry)
			*cur = extend(*cur, line)
		default:
			cur = nil
		}
		s = rest
	}
}

// extend returns v grown up to the end of line, which follows v in the same
// backing array.
func extend(v, line []byte) []byte {
	n := cap(v) - cap(line) + len(line)
	if n < len(v) || n > cap(v) {
		return v
	}
	return v[:n]
}

// headerStart recognises "<flag> <name>: value": flag an upper-case letter,
// '*' or ' ', then a field name of printable characters up to ':'. A line
// of two blanks and a word ending in ':' is a header of type ' ' (Exim's
// "other"), a line starting with a tab or more blanks a folded line.
func headerStart(line []byte) (name, value []byte, ok bool) {
	if len(line) < 4 || line[1] != ' ' {
		return nil, nil, false
	}
	c := line[0]
	if !(c >= 'A' && c <= 'Z' || c == '*' || c == ' ') {
		return nil, nil, false
	}
	s := line[2:]
	i := 0
	for i < len(s) && s[i] > ' ' && s[i] < 0x7f && s[i] != ':' {
		i++
	}
	if i == 0 || i >= len(s) || s[i] != ':' {
		return nil, nil, false
	}
	v := s[i+1:]
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	return s[:i], v, true
}

func (h *HeaderFields) field(name []byte) *[]byte {
	switch {
	case bytes.EqualFold(name, []byte("From")):
		return &h.From
	case bytes.EqualFold(name, []byte("To")):
		return &h.To
	case bytes.EqualFold(name, []byte("Cc")):
		return &h.Cc
	case bytes.EqualFold(name, []byte("Sender")):
		return &h.Sender
	case bytes.EqualFold(name, []byte("Reply-To")):
		return &h.ReplyTo
	case bytes.EqualFold(name, []byte("Subject")):
		return &h.Subject
	case bytes.EqualFold(name, []byte("Message-ID")):
		return &h.MessageID
	case bytes.EqualFold(name, []byte("X-Mailer")):
		return &h.Mailer
	case bytes.EqualFold(name, []byte("User-Agent")):
		if len(h.Mailer) == 0 {
			return &h.Mailer
		}
	case bytes.EqualFold(name, []byte("Date")):
		return &h.Date
	}
	return nil
}

// unfold appends a header value on one line: each line break with the
// blanks around it becomes one space (RFC 5322 unfolding, with the folding
// white space collapsed as mail readers show it), trailing blanks trimmed.
func unfold(dst, v []byte) []byte {
	for len(v) > 0 {
		i := bytes.IndexByte(v, '\n')
		if i < 0 {
			dst = append(dst, v...)
			break
		}
		dst = append(bytes.TrimRight(append(dst, v[:i]...), " \t\r"), ' ')
		v = bytes.TrimLeft(v[i+1:], " \t")
	}
	return bytes.TrimRight(dst, " \t\r\n")
}

// addrList iterates over the addresses of an address-list header value
// (RFC 5322: "Name <a@b>, \"Last, First\" <c@d>, e@f (comment)", groups
// "team: a@b, c@d;"): each call of next returns one addr-spec, without the
// display name, the angle brackets and comments.
type addrList struct{ s []byte }

func (l *addrList) next() []byte {
	for len(l.s) > 0 {
		// one element: up to a comma outside quotes, <> and ()
		depth, quoted, angle := 0, false, false
		end := len(l.s)
	scan:
		for i := 0; i < len(l.s); i++ {
			switch c := l.s[i]; {
			case quoted:
				if c == '\\' {
					i++
				} else if c == '"' {
					quoted = false
				}
			case c == '"':
				quoted = true
			case c == '(':
				depth++
			case c == ')' && depth > 0:
				depth--
			case depth > 0:
			case c == '<':
				angle = true
			case c == '>':
				angle = false
			case (c == ',' || c == ';') && !angle:
				end = i
				break scan
			}
		}
		el := l.s[:end]
		if end < len(l.s) {
			l.s = l.s[end+1:]
		} else {
			l.s = nil
		}
		if a := addrSpec(el); len(a) > 0 {
			return a
		}
	}
	return nil
}

// addrSpec returns the address of one list element: the text inside <>
// when there is one, else the element without comments, a group name
// ("team:") and blanks.
func addrSpec(el []byte) []byte {
	if i := lastUnquoted(el, '<'); i >= 0 {
		a := el[i+1:]
		if j := bytes.IndexByte(a, '>'); j >= 0 {
			a = a[:j]
		}
		return bytes.TrimSpace(a)
	}
	// group name
	if i := lastUnquoted(el, ':'); i >= 0 && bytes.IndexByte(el[:i], '@') < 0 {
		el = el[i+1:]
	}
	// a trailing comment
	if i := bytes.IndexByte(el, '('); i >= 0 && bytes.IndexByte(el[i:], ')') >= 0 {
		el = el[:i]
	}
	el = bytes.Trim(el, " \t\r\n")
	if bytes.IndexByte(el, '@') < 0 && !bytes.Equal(el, []byte("<>")) {
		// no address ("undisclosed-recipients:;" and display text)
		return nil
	}
	return el
}

// lastUnquoted is bytes.LastIndexByte ignoring c inside double quotes.
func lastUnquoted(s []byte, c byte) int {
	last, quoted := -1, false
	for i := 0; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++
		case s[i] == '"':
			quoted = !quoted
		case !quoted && s[i] == c:
			last = i
		}
	}
	return last
}

// parseMailDate parses an RFC 5322 date ("Tue, 03 Nov 2026 10:00:00 +0000",
// also without the day of the week or the seconds, two-digit years, the
// obsolete zone names and a trailing comment) into UTC.
func parseMailDate(s []byte) (time.Time, bool) {
	s = bytes.TrimSpace(s)
	if i := bytes.IndexByte(s, ','); i >= 0 && i <= 10 {
		s = s[i+1:]
	}
	var f [6][]byte // day month year time zone
	n := 0
	for len(s) > 0 && n < len(f) {
		for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r') {
			s = s[1:]
		}
		if len(s) == 0 || s[0] == '(' {
			break
		}
		j := 0
		for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' {
			j++
		}
		f[n] = s[:j]
		s = s[j:]
		n++
	}
	if n < 4 {
		return time.Time{}, false
	}
	day, ok1 := atoi(f[0])
	mon := monthOf(f[1])
	year, ok2 := atoi(f[2])
	if !ok1 || !ok2 || mon == 0 || day < 1 || day > 31 {
		return time.Time{}, false
	}
	switch {
	case len(f[2]) == 2 && year < 50:
		year += 2000
	case len(f[2]) <= 3:
		year += 1900
	}
	// hh:mm[:ss]
	t := f[3]
	var hms [3]int
	k := 0
	for k < 3 && len(t) > 0 {
		j := bytes.IndexByte(t, ':')
		part := t
		if j >= 0 {
			part, t = t[:j], t[j+1:]
		} else {
			t = nil
		}
		v, ok := atoi(part)
		if !ok || len(part) > 2 {
			return time.Time{}, false
		}
		hms[k] = v
		k++
	}
	if k < 2 || len(t) > 0 || hms[0] > 23 || hms[1] > 59 || hms[2] > 60 {
		return time.Time{}, false
	}
	off := 0 // minutes east of UTC
	if n > 4 {
		z := f[4]
		switch {
		case len(z) == 5 && (z[0] == '+' || z[0] == '-'):
			hh, ok1 := atoi(z[1:3])
			mm, ok2 := atoi(z[3:5])
			if !ok1 || !ok2 || mm > 59 {
				return time.Time{}, false
			}
			off = hh*60 + mm
			if z[0] == '-' {
				off = -off
			}
		default:
			off = obsZone(z)
		}
	}
	d := time.Date(year, time.Month(mon), day, hms[0], hms[1], hms[2], 0, time.UTC)
	if d.Day() != day {
		return time.Time{}, false // 31 Feb
	}
	return d.Add(-time.Duration(off) * time.Minute), true
}

func monthOf(m []byte) int {
	if len(m) < 3 {
		return 0
	}
	const names = "janfebmaraprmayjunjulaugsepoctnovdec"
	var l [3]byte
	for i := 0; i < 3; i++ {
		l[i] = m[i] | 0x20
	}
	for i := 0; i < 12; i++ {
		if names[3*i] == l[0] && names[3*i+1] == l[1] && names[3*i+2] == l[2] {
			return i + 1
		}
	}
	return 0
}

// obsZone is the offset of RFC 5322's obsolete zone names (minutes east);
// unknown names (military letters) mean "no information": 0.
func obsZone(z []byte) int {
	for _, o := range obsZones {
		if bytes.EqualFold(z, []byte(o.name)) {
			return o.off
		}
	}
	return 0
}

var obsZones = [...]struct {
	name string
	off  int
}{{"EDT", -4 * 60}, {"EST", -5 * 60}, {"CDT", -5 * 60}, {"CST", -6 * 60}, {"MDT", -6 * 60}, {"MST", -7 * 60}, {"PDT", -7 * 60}, {"PST", -8 * 60}}
