package exim

import (
	"bytes"
	"strings"
)

// field contexts: the same letter means different things on different lines.
const (
	ctxOther    = iota // rejections, connections: P=protocol, C=commands
	ctxArrival         // <= (= : P=protocol, R=bounce reference, T=subject
	ctxDelivery        // => -> >> *> == ** : P=return path, R=router, T=transport, C=confirmation
)

func (p *Parser) parse(entry []byte, r *Record) {
	line := entry
	if i := bytes.IndexByte(entry, '\n'); i >= 0 {
		line = entry[:i]
		r.parseContinuation(entry[i+1:])
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	s := line
	if rest, ok := p.parseTimestamp(s, r); ok {
		s = rest
		s = skipSyslogTag(s, r)
	}
	if rest, ok := parsePIDBracket(s, r); ok {
		s = rest
	}
	if n := messageIDLen(s); n > 0 {
		r.MessageID = s[:n]
		s = s[n:]
		if len(s) > 0 {
			s = s[1:]
		}
	}
	r.Body = s
	if len(r.MessageID) > 0 {
		if p.messageLine(s, r) {
			return
		}
	}
	if p.keywordLine(s, r) {
		return
	}
	if p.fieldLine(s, r) {
		return
	}
	switch {
	case len(r.MessageID) > 0:
		r.Action = ActionMessageInfo
	case strings.Contains(r.Meta.Dataset, "panic") || strings.Contains(r.Meta.FilePath, "panic"):
		r.Action = ActionPanic
	default:
		r.Action = ActionUnknown
	}
}

// parseContinuation handles the lines after the first one of a reject-log
// entry: Envelope-from:, Envelope-to: and the header dump.
func (r *Record) parseContinuation(s []byte) {
	for len(s) > 0 {
		line := s
		next := []byte(nil)
		if i := bytes.IndexByte(s, '\n'); i >= 0 {
			line, next = s[:i], s[i+1:]
		}
		if rest, ok := cut(line, "Envelope-from: "); ok && r.EnvelopeFrom == nil {
			r.EnvelopeFrom = stripAngle(bytes.TrimSpace(rest))
		} else if rest, ok := cut(line, "Envelope-to: "); ok && r.EnvelopeTo == nil {
			// "Envelope-to: <a>" then up to 4 more "    <b>" lines and
			// "    ..." when there were more recipients
			start := len(line) - len(rest)
			end := len(line)
			for len(next) > 4 && hasPrefix(next, "    ") && (next[4] == '<' || hasPrefix(next[4:], "...")) {
				l := next
				nn := []byte(nil)
				if i := bytes.IndexByte(next, '\n'); i >= 0 {
					l, nn = next[:i], next[i+1:]
				}
				end = len(s) - len(next) + len(l)
				next = nn
			}
			r.EnvelopeTo = bytes.TrimSpace(s[start:end])
		} else {
			// everything else, from here on, is the header dump
			r.Headers = bytes.TrimRight(s, "\n")
			if bytes.HasSuffix(r.Headers, []byte("*** truncated ***")) {
				r.Flags |= FlagTruncated
			}
			r.Header.parse(r.Headers)
			return
		}
		s = next
	}
}

// messageLine handles lines that carry a message id.
func (p *Parser) messageLine(s []byte, r *Record) bool {
	if len(s) >= 3 && s[2] == ' ' {
		var ctx int
		switch string(s[:2]) {
		case "<=":
			r.Action, ctx = ActionArrival, ctxArrival
		case "(=":
			r.Action, ctx = ActionFakeReject, ctxArrival
		case "=>":
			r.Action, ctx = ActionDelivery, ctxDelivery
		case "->":
			r.Action, ctx = ActionDeliveryAdditional, ctxDelivery
		case ">>":
			r.Action, ctx = ActionDeliveryCutthrough, ctxDelivery
		case "*>":
			r.Action, ctx = ActionDeliverySuppressed, ctxDelivery
		case "==":
			r.Action, ctx = ActionDeliveryDeferred, ctxDelivery
		case "**":
			r.Action, ctx = ActionDeliveryFailed, ctxDelivery
		default:
			goto other
		}
		r.Flag = flagString(s[:2])
		if ctx == ctxArrival {
			p.arrival(s[3:], r)
		} else {
			p.delivery(s[3:], r)
			r.hostFromReason()
		}
		return true
	}
other:
	switch {
	case hasPrefix(s, "Completed"):
		r.Action = ActionCompleted
		rest := s[len("Completed"):]
		if len(rest) > 0 && rest[0] == ' ' {
			r.parseFields(rest[1:], ctxDelivery)
		}
		return true
	case hasPrefix(s, "Spool file is locked") || hasPrefix(s, "spool file locked"):
		r.Action = ActionSpoolLocked
		return true
	case hasPrefix(s, "Frozen") || hasPrefix(s, "frozen by") || hasPrefix(s, "Message is frozen") ||
		hasPrefix(s, "Message frozen") || hasPrefix(s, "Frozen by"):
		r.Action = ActionFrozen
		return true
	case hasPrefix(s, "Unfrozen") || hasPrefix(s, "unfrozen by") || hasPrefix(s, "Message is unfrozen"):
		r.Action = ActionUnfrozen
		return true
	case hasPrefix(s, "DKIM: "):
		r.Action = ActionDKIM
		p.dkim(s[len("DKIM: "):], r)
		return true
	case len(s) > 0 && s[0] != 'H' && hostErrorLine(s, r):
		return true
	case hasPrefix(s, "SMTP timeout while connected to ") || hasPrefix(s, "Remote host "):
		// older per-host error forms:
		// "SMTP timeout while connected to mx [ip] after initial connection"
		// "Remote host mx [ip] closed connection in response to end of data"
		r.Action = ActionHostError
		t := s[len("Remote host "):]
		if hasPrefix(s, "SMTP") {
			t = s[len("SMTP timeout while connected to "):]
		}
		var h Host
		if parseHostAt(t, &h); validIP(h.IP) {
			r.Host = h
		}
		r.Reason = s
		return true
	case hasPrefix(s, "SMTP error from remote mail server"):
		// "SMTP error from remote mail server after X: host N [ip]: text"
		r.Action = ActionHostError
		if i := indexStr(s, ": host "); i >= 0 {
			n := parseHostAt(s[i+len(": host "):], &r.Host)
			rest := s[i+len(": host ")+n:]
			rest, _ = cut(rest, ":")
			r.Reason = bytes.TrimSpace(rest)
			if j := len("SMTP error from remote mail server "); i > j {
				r.Command = s[j:i] // "after RCPT TO:<a>"
			}
		} else {
			r.Reason = s
		}
		return true
	}
	return false
}

func flagString(f []byte) string {
	switch string(f) {
	case "<=":
		return "<="
	case "(=":
		return "(="
	case "=>":
		return "=>"
	case "->":
		return "->"
	case ">>":
		return ">>"
	case "*>":
		return "*>"
	case "==":
		return "=="
	case "**":
		return "**"
	}
	return ""
}

// arrival parses the text after "<= " or "(= ".
func (p *Parser) arrival(s []byte, r *Record) {
	n := scanAddress(s)
	r.setSender(s[:n])
	s = s[n:]
	if len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	s = r.parseFields(s, ctxArrival)
	// log_selector +received_sender: " from <raw sender>"
	if hasPrefix(s, "from <") {
		m := scanAddress(s[len("from "):])
		s = s[len("from ")+m:]
		s, _ = cut(s, " ")
	}
	// log_selector +received_recipients: " for a b c"
	if rest, ok := cut(s, "for "); ok {
		r.Recipients = rest
		return
	}
	if len(s) > 0 {
		// "(= " lines end with the reason after ": "; other text is kept.
		s, _ = cut(s, ": ")
		r.Reason = s
	}
}

// delivery parses the text after "=> ", "-> ", ">> ", "*> ", "== ", "** ".
func (p *Parser) delivery(s []byte, r *Record) {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	n := 0
	if len(s) > 0 && s[0] == '|' {
		// a pipe command may contain spaces: it ends before " <", " (" or
		// a field.
		n = len(s)
		for i := 1; i < len(s); i++ {
			if s[i] == ' ' && i+1 < len(s) && (s[i+1] == '<' || s[i+1] == '(' || isFieldStart(s[i+1:])) {
				n = i
				break
			}
		}
	} else {
		n = scanAddress(s)
	}
	addr := s[:n]
	s = s[n:]
	if len(addr) > 1 && addr[len(addr)-1] == ':' && addr[0] != ':' && (len(s) == 0 || s[0] == ' ') {
		// "** addr: error text"
		r.Recipient = stripAngle(addr[:len(addr)-1])
		r.Reason = r.trailingDT(bytes.TrimSpace(s))
		return
	}
	r.Recipient = stripAngle(addr)
	if len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	// "(generated from ...)" / "(a, b)" alias lists
	if len(s) > 0 && s[0] == '(' {
		if i := bytes.IndexByte(s, ')'); i >= 0 {
			s = s[i+1:]
			s, _ = cut(s, " ")
		}
	}
	if len(s) > 0 && s[0] == '<' {
		m := scanAddress(s)
		par := s[:m]
		s = s[m:]
		if len(s) > 0 && s[0] == ':' {
			r.Parent = stripAngle(par)
			r.Reason = r.trailingDT(bytes.TrimSpace(s[1:]))
			return
		}
		r.Parent = stripAngle(par)
		s, _ = cut(s, " ")
	}
	s = r.parseFields(s, ctxDelivery)
	if len(s) == 0 {
		return
	}
	// deferral / failure text: "defer (-53): text", "routing defer (-51): text",
	// ": text" (after a field value that ended in ':') or plain text.
	t := s
	if i := indexStr(t, "defer ("); i >= 0 && i < 20 {
		t = t[i+len("defer ("):]
		if j := bytes.IndexByte(t, ')'); j >= 0 {
			r.Errno = t[:j]
			t = t[j+1:]
		}
		// Exim 4.9x: "defer (-44) H=host [ip]:port I=... DT=0s: text"
		if len(t) > 1 && t[0] == ' ' && isFieldStart(t[1:]) {
			t = r.parseFields(t[1:], ctxDelivery)
		}
	}
	t, _ = cut(t, ":")
	r.Reason = r.trailingDT(bytes.TrimSpace(t))
}

// trailingDT takes the " DT=0.000s" that Exim 4.9x (+deliver_time) writes
// after the error text of "**" lines off the reason, into DeliveryTime.
func (r *Record) trailingDT(reason []byte) []byte {
	i := bytes.LastIndexByte(reason, ' ')
	if i < 0 || !hasPrefix(reason[i+1:], "DT=") {
		return reason
	}
	if d, ok := parseDuration(reason[i+4:]); ok {
		if !r.Has(FlagHasDT) {
			r.DeliveryTime = d
			r.Flags |= FlagHasDT
		}
		return reason[:i]
	}
	return reason
}

// hostFromReason takes the remote host of a deferral or failure from its
// text when H= is absent:
// "SMTP error from remote mail server after RCPT TO:<a>: host mx [ip]: 550 ...".
func (r *Record) hostFromReason() {
	if len(r.Host.IP) > 0 || len(r.Host.Name) > 0 || len(r.Reason) == 0 {
		return
	}
	var h Host
	if i := indexStr(r.Reason, ": host "); i >= 0 {
		parseHostAt(r.Reason[i+len(": host "):], &h)
	} else if i := indexStr(r.Reason, "H="); i >= 0 && (i == 0 || r.Reason[i-1] == ' ') {
		// "defer (-44): text H=host [ip]: more" (H= after the errno)
		parseHostAt(r.Reason[i+2:], &h)
	}
	if validIP(h.IP) {
		r.Host = h
	}
}

// dkim parses "d=example.com s=sel c=... a=... b=... [verification succeeded]":
// the signing domain and the bracketed result.
func (p *Parser) dkim(s []byte, r *Record) {
	if i := indexStr(s, "d="); i >= 0 && (i == 0 || s[i-1] == ' ') {
		v := s[i+2:]
		if j := bytes.IndexByte(v, ' '); j >= 0 {
			v = v[:j]
		}
		r.DKIM = v
	}
	if i := bytes.LastIndexByte(s, '['); i >= 0 {
		r.Reason = bytes.TrimSuffix(s[i+1:], []byte("]"))
	}
}

// hostErrorLine handles the per-host error form without H=:
// "mx.example.com [192.0.2.1] Connection timed out" (also with ": text").
func hostErrorLine(s []byte, r *Record) bool {
	sp := bytes.IndexByte(s, ' ')
	if sp <= 0 || sp+1 >= len(s) || s[sp+1] != '[' {
		return false
	}
	var h Host
	n := parseHostAt(s, &h)
	if len(h.IP) == 0 || n >= len(s) || !validIP(h.IP) && bytes.IndexByte(h.IP, ' ') >= 0 {
		return false
	}
	r.Host = h
	r.Action = ActionHostError
	rest, _ := cut(s[n:], ":")
	r.Reason = bytes.TrimSpace(rest)
	return true
}
