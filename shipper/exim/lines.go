package exim

import (
	"bytes"
)

// keywordLine handles lines recognised by their opening words.
func (p *Parser) keywordLine(s []byte, r *Record) bool {
	if len(s) == 0 {
		return false
	}
	switch s[0] {
	case 'S':
		if rest, ok := cut(s, "SMTP connection from "); ok {
			return p.smtpConnection(rest, r)
		}
		if rest, ok := cut(s, "SMTP connection "); ok && isFieldStart(rest) {
			// 4.98+: "SMTP connection Ci=123 from host ..."
			rest = r.parseFields(rest, ctxOther)
			if rest, ok := cut(rest, "from "); ok {
				return p.smtpConnection(rest, r)
			}
		}
		if rest, ok := cut(s, "SMTP connection lost"); ok {
			r.Action = ActionConnectionLost
			r.afterHost(rest, "H=", ctxOther)
			return true
		}
		if rest, ok := cut(s, "SMTP command timeout"); ok {
			r.Action = ActionCommandTimeout
			r.afterFrom(rest)
			return true
		}
		if rest, ok := cut(s, "SMTP data timeout"); ok {
			r.Action = ActionDataTimeout
			r.afterFrom(rest)
			return true
		}
		if rest, ok := cut(s, "SMTP call from "); ok {
			return p.smtpCall(rest, r)
		}
		if rest, ok := cut(s, "SMTP protocol synchronization error ("); ok {
			r.Action = ActionSyncError
			if i := indexStr(rest, "): rejected "); i >= 0 {
				r.Reason = rest[:i]
				rest = rest[i+len("): rejected "):]
				if len(rest) > 0 && rest[0] == '"' {
					if n := scanQuoted(rest); n > 0 {
						r.Command = rest[1 : n-1]
					}
				}
				r.afterHost(rest, "H=", ctxOther)
				r.syncInput(rest)
			} else {
				r.Reason = rest
			}
			return true
		}
		if rest, ok := cut(s, "SMTP protocol error in "); ok {
			r.Action = ActionProtocolError
			r.commandThenFields(rest)
			return true
		}
		if rest, ok := cut(s, "SMTP syntax error in "); ok {
			r.Action = ActionProtocolError
			r.commandThenFields(rest)
			return true
		}
		if hasPrefix(s, "Start ") && queueRun(s) {
			r.Action = ActionQueueRunStart
			r.queueRunArgs(s)
			return true
		}
		if hasPrefix(s, "SMTP error from remote mail server") && len(r.MessageID) == 0 {
			r.Action = ActionHostError
			r.Reason = s
			return true
		}
	case 't':
		if rest, ok := cut(s, "too many recipients"); ok {
			r.Action = ActionRcptTempRejected
			r.Flags |= FlagTemporary
			r.reasonAfterColon(rest)
			if i := indexStr(r.Reason, ": "); i >= 0 {
				t := r.Reason[i+2:]
				r.Reason = r.Reason[:i]
				if t, ok := cut(t, "sender="); ok {
					n := scanAddress(t)
					r.setSender(t[:n])
					t, _ = cut(t[n:], " ")
					r.parseFields(t, ctxOther)
				}
			}
			return true
		}
	case 'n':
		if rest, ok := cut(s, "no host name found for IP address "); ok {
			r.Action = ActionReverseDNSFailed
			r.Host.IP = firstWord(rest)
			return true
		}
		if rest, ok := cut(s, "no IP address found for host "); ok {
			r.Action = ActionForwardDNSFailed
			r.Host.Name = firstWord(rest)
			if i := indexStr(rest, "connection from "); i >= 0 {
				var h Host
				t := rest[i+len("connection from "):]
				m := parseHostAt(t, &h)
				r.Host.IP, r.Host.Port, r.Host.Helo = h.IP, h.Port, h.Helo
				t = t[m:]
				t = r.parseFields(t, ctxOther)
			}
			return true
		}
		if rest, ok := cut(s, "no MAIL in "); ok {
			// "no MAIL in [TFO[*] ]SMTP connection from host D=... C=..."
			if t, ok := cut(rest, "TFO"); ok {
				r.Flags |= FlagTFO
				t, _ = cut(t, "*")
				rest, _ = cut(t, " ")
			}
			if rest, ok := cut(rest, "SMTP connection from "); ok {
				r.Action = ActionNoMail
				r.hostFields(rest)
				return true
			}
		}
	case 'u':
		if rest, ok := cut(s, "unqualified recipient rejected: "); ok {
			r.Action = ActionRcptRejected
			n := scanAddress(rest)
			r.Recipient = stripAngle(rest[:n])
			rest, _ = cut(rest[n:], " ")
			r.parseFields(rest, ctxOther)
			return true
		}
		if rest, ok := cut(s, "unqualified sender rejected: "); ok {
			r.Action = ActionMailRejected
			n := scanAddress(rest)
			r.setSender(rest[:n])
			rest, _ = cut(rest[n:], " ")
			r.parseFields(rest, ctxOther)
			return true
		}
		if rest, ok := cut(s, "unexpected disconnection while reading SMTP command from "); ok {
			r.Action = ActionUnexpectedDisconnect
			r.hostFields(rest)
			return true
		}
		if rest, ok := cut(s, "unexpected EOF while reading SMTP command from "); ok {
			r.Action = ActionUnexpectedDisconnect
			r.hostFields(rest)
			return true
		}
	case 'A', 'E':
		if (hasPrefix(s, "ETRN ") || hasPrefix(s, "ATRN ")) && indexStr(s, " received from ") > 0 {
			i := indexStr(s, " received from ")
			r.Action = ActionETRN
			r.Command = s[:i]
			r.hostFields(s[i+len(" received from "):])
			return true
		}
		if hasPrefix(s, "End ") && queueRun(s) {
			r.Action = ActionQueueRunEnd
			r.queueRunArgs(s)
			return true
		}
	case 'C':
		if rest, ok := cut(s, "Connection from "); ok {
			// "Connection from [ip]:port I=[ip]:port refused: too many
			// connections from that IP address" (smtp_accept_max_per_host,
			// smtp_accept_max)
			r.Action = ActionConnRejected
			r.mainOnly = true // daemon.c logs it with LOG_MAIN only
			n := parseHostAt(rest, &r.Host)
			rest, _ = cut(rest[n:], " ")
			rest = r.parseFields(rest, ctxOther)
			r.reasonAfterColon(rest)
			if r.Reason == nil {
				r.Reason = rest
			}
			return true
		}
	case 'V':
		if rest, ok := cut(s, "VRFY failed for "); ok {
			r.Action = ActionCommandRejected
			r.mainOnly = true // smtp_in.c: LOG_MAIN only
			r.Command = cmdVRFY
			n := scanAddress(rest)
			r.Recipient = stripAngle(rest[:n])
			rest, _ = cut(rest[n:], " ")
			r.parseFields(rest, ctxOther)
			return true
		}
	case 'o':
		if hasPrefix(s, "overlong message header line received from ") {
			r.Action = ActionDataRejected
			r.mainOnly = true // receive.c: LOG_MAIN only
			r.afterFrom(s[len("overlong message header line received"):])
			return true
		}
	case 'r':
		if hasPrefix(s, "ridiculously long message header received from ") {
			r.Action = ActionDataRejected
			r.mainOnly = true // receive.c: LOG_MAIN only
			r.afterFrom(s[len("ridiculously long message header received"):])
			return true
		}
		if rest, ok := cut(s, "refused connection from "); ok {
			r.Action = ActionConnRejected
			r.hostFields(rest)
			return true
		}
		if rest, ok := cut(s, "recipient verify fail for "); ok {
			r.Action = ActionRcptVerifyFailed
			r.addrReason(rest, false)
			return true
		}
		if rest, ok := cut(s, "recipient verify defer"); ok {
			r.Action = ActionRcptVerifyDeferred
			r.Flags |= FlagTemporary
			if rest, ok := cut(rest, " for "); ok {
				r.addrReason(rest, false)
			} else {
				r.reasonAfterColon(rest)
			}
			return true
		}
	case 'D':
		if rest, ok := cut(s, "DKIM: "); ok {
			r.Action = ActionDKIM
			p.dkim(rest, r)
			return true
		}
	case '[':
		// "[ip] SSL verify error: ..." (TLS peer verification)
		var h Host
		n := parseHostAt(s, &h)
		if n > 0 && n < len(s) && s[n] == ' ' && hasPrefix(s[n+1:], "SSL verify error") {
			r.Action = ActionTLSError
			r.Host = h
			r.Reason = s[n+1:]
			return true
		}
	case 'T':
		if rest, ok := cut(s, "TLS session: "); ok {
			r.Action = ActionTLSError
			r.Reason = rest
			return true
		}
		if rest, ok := cut(s, "TLS error on connection "); ok {
			r.Action = ActionTLSError
			rest, _ = cut(rest, "from ")
			rest, _ = cut(rest, "to ")
			r.hostFields(rest)
			return true
		}
		if rest, ok := cut(s, "TLS error on "); ok {
			r.Action = ActionTLSError
			r.Reason = rest
			return true
		}
	case 'c':
		if rest, ok := cut(s, "cwd="); ok {
			r.Action = ActionCwd
			i := indexStr(rest, " args: ")
			if i < 0 {
				r.Cwd = firstWord(rest)
				return true
			}
			// "cwd=/dir N args: ..." (the directory may contain spaces)
			j := bytes.LastIndexByte(rest[:i], ' ')
			if j < 0 {
				r.Cwd = rest[:i]
			} else {
				r.Cwd = rest[:j]
				r.ArgsCount, _ = atoi(rest[j+1 : i])
			}
			r.Args = rest[i+len(" args: "):]
			return true
		}
	case 'p':
		if rest, ok := cut(s, "pid "); ok {
			if i := indexStr(rest, ": SIGHUP received"); i >= 0 {
				r.Action = ActionDaemonSighup
				r.PID, _ = atoi(rest[:i])
				return true
			}
		}
	case 'e':
		if rest, ok := cut(s, "exim "); ok {
			if i := indexStr(rest, " daemon started"); i >= 0 {
				r.Action = ActionDaemonStart
				r.Version = rest[:i]
				r.pidEq(rest)
				return true
			}
			// "exim user lost privilege for using -C option" (exim.c: a
			// non-root caller gave -C or -D, so Exim runs as the exim
			// user, not root; main and panic log)
			if rest, ok := cut(rest, "user lost privilege for using "); ok {
				if opt, ok := bytes.CutSuffix(rest, []byte(" option")); ok && len(opt) > 0 && bytes.IndexByte(opt, ' ') < 0 {
					r.Action = ActionPrivilegeDropped
					r.Args = opt
					return true
				}
			}
		}
	case 'i':
		if rest, ok := cut(s, "incomplete transaction ("); ok {
			r.Action = ActionIncompleteTransaction
			if i := bytes.IndexByte(rest, ')'); i >= 0 {
				r.Command = rest[:i]
				rest = rest[i+1:]
			}
			rest, _ = cut(rest, " from ")
			r.hostFields(rest)
			return true
		}
	}
	// "<name> authenticator failed for host: 535 ... (set_id=x)"
	if i := indexStr(s, " authenticator failed for "); i > 0 && bytes.IndexByte(s[:i], ' ') < 0 {
		r.Action = ActionAuthFailed
		r.AuthName = s[:i]
		rest := s[i+len(" authenticator failed for "):]
		r.hostFields(rest)
		if j := indexStr(r.Reason, "(set_id="); j >= 0 {
			id := r.Reason[j+len("(set_id="):]
			if k := bytes.LastIndexByte(id, ')'); k >= 0 {
				id = id[:k]
			}
			r.AuthID = id
		}
		return true
	}
	return false
}

// fieldLine handles "H=... F=<...> rejected RCPT <...>: reason" style lines:
// fields first, then a verb phrase.
func (p *Parser) fieldLine(s []byte, r *Record) bool {
	rest := r.parseFields(s, ctxOther)
	if p.verb(rest, r) {
		return true
	}
	if len(r.MessageID) > 0 && (len(r.Host.IP) > 0 || len(r.Host.Name) > 0) && len(rest) > 0 && len(rest) < len(s) {
		// per-host delivery error: "H=name [ip]: text" / "H=name [ip] Connection refused"
		r.Action = ActionHostError
		rest, _ = cut(rest, ":")
		r.Reason = bytes.TrimSpace(rest)
		return true
	}
	return false
}

// verb matches the phrase after the fields of a rejection line.
func (p *Parser) verb(s []byte, r *Record) bool {
	temp := false
	if rest, ok := cut(s, "temporarily "); ok {
		temp = true
		s = rest
	}
	if rest, ok := cut(s, "rejected "); ok {
		if temp {
			r.Flags |= FlagTemporary
		}
		return p.rejected(rest, r, temp)
	}
	if temp {
		return false
	}
	switch {
	case hasPrefix(s, "RCPT ") && indexStr(s, ": discarded by ") > 0:
		// the discard ACL verb: "F=<a> RCPT <b>: discarded by RCPT ACL: msg"
		r.Action = ActionRcptDiscarded
		t := s[len("RCPT "):]
		n := scanAddress(t)
		r.Recipient = stripAngle(t[:n])
		t = t[n:]
		t, _ = cut(t, ": discarded by ")
		if i := indexStr(t, " ACL"); i >= 0 {
			r.ACL = t[:i]
			t = t[i+len(" ACL"):]
		}
		r.reasonAfterColon(t)
		return true
	case hasPrefix(s, "sender verify fail for "):
		r.Action = ActionSenderVerifyFailed
		r.addrReason(s[len("sender verify fail for "):], true)
		return true
	case hasPrefix(s, "sender verify defer"):
		r.Action = ActionSenderVerifyDeferred
		r.Flags |= FlagTemporary
		if t, ok := cut(s, "sender verify defer for "); ok {
			r.addrReason(t, true)
		} else {
			// "sender verify defer (making callout connection): T=smtp text"
			r.reasonAfterColon(s)
		}
		return true
	case hasPrefix(s, "dropped by '"):
		r.Action = ActionConnDropped
		t := s[len("dropped by '"):]
		if i := bytes.IndexByte(t, '\''); i >= 0 {
			r.ACL = t[:i]
			t = t[i+1:]
		}
		r.reasonAfterColon(t)
		return true
	case hasPrefix(s, "incomplete transaction ("):
		r.Action = ActionIncompleteTransaction
		t := s[len("incomplete transaction ("):]
		if i := bytes.IndexByte(t, ')'); i >= 0 {
			r.Command = t[:i]
			t = t[i+1:]
		}
		if t, ok := cut(t, " from "); ok {
			n := scanAddress(t)
			r.setSender(t[:n])
			if rest, ok := cut(t[n:], " for "); ok {
				r.Recipients = rest
			}
		}
		return true
	case hasPrefix(s, "Warning: "):
		r.Action = ActionACLWarning
		r.Reason = s[len("Warning: "):]
		return true
	}
	return false
}

// rejected handles the text after "rejected ".
func (p *Parser) rejected(s []byte, r *Record, temp bool) bool {
	pick := func(perm, tmp string) string {
		if temp {
			return tmp
		}
		return perm
	}
	switch {
	case hasPrefix(s, "RCPT "):
		r.Action = pick(ActionRcptRejected, ActionRcptTempRejected)
		r.addrReason(s[len("RCPT "):], false)
	case hasPrefix(s, "MAIL "):
		r.Action = ActionMailRejected
		t := s[len("MAIL "):]
		if len(t) > 0 && t[0] == '<' {
			r.addrReason(t, true)
		} else {
			r.reasonAfterColon(t)
		}
	case hasPrefix(s, "EHLO or HELO ") || hasPrefix(s, "HELO ") || hasPrefix(s, "EHLO "):
		t := s[bytes.IndexByte(s, ' ')+1:]
		t, _ = cut(t, "or HELO ")
		if from, ok := cut(t, "from "); ok {
			// "rejected HELO from host: syntactically invalid argument(s): x"
			r.Action = ActionHeloRejected
			if len(r.Host.IP) == 0 && len(r.Host.Name) == 0 {
				n := parseHostAt(from, &r.Host)
				from = from[n:]
				if hasPrefix(from, " I=") {
					// "from [ip]:port I=[ip]:port: syntactically ..."
					from = r.parseFields(from[1:], ctxOther)
				}
			}
			r.reasonAfterColon(from)
			if rest, ok := cut(r.Reason, "syntactically invalid argument(s)"); ok {
				r.Action = ActionHeloInvalid
				rest, _ = cut(rest, ": ")
				r.Host.Helo = rest
			}
			return true
		}
		r.Action = ActionHeloRejected
		i := indexStr(t, ": ")
		if i < 0 {
			r.Host.Helo = bytes.TrimSuffix(t, []byte(":"))
		} else {
			r.Host.Helo = t[:i]
			r.Reason = t[i+2:]
		}
	case hasPrefix(s, "after DATA") || hasPrefix(s, "DATA") || hasPrefix(s, "during MIME ACL") ||
		hasPrefix(s, "by non-SMTP ACL") || hasPrefix(s, "(size") || hasPrefix(s, "by ACL"):
		r.Action = ActionDataRejected
		r.reasonAfterColon(s)
	case hasPrefix(s, "from <"):
		// "rejected from <s> H=... U=...: message too big / Non-CRLF-
		// terminated header ..." (receive.c, during DATA)
		r.Action = ActionDataRejected
		t := s[len("from "):]
		n := scanAddress(t)
		r.setSender(t[:n])
		t, _ = cut(t[n:], " ")
		t = r.parseFields(t, ctxOther)
		r.reasonAfterColon(t)
	case hasPrefix(s, "by local_scan()"):
		r.Action = ActionLocalScanRejected
		r.reasonAfterColon(s)
	case hasPrefix(s, "connection in \"connect\" ACL") || hasPrefix(s, "connection in connect ACL"):
		r.Action = pick(ActionConnRejected, ActionConnTempRejected)
		r.ACL = aclConnect
		r.reasonAfterColon(s)
	case hasPrefix(s, "connection in \""):
		r.Action = pick(ActionConnRejected, ActionConnTempRejected)
		r.reasonAfterColon(s)
	default:
		// "rejected VRFY x", "rejected AUTH plain", "rejected STARTTLS",
		// "rejected "quoted command"", ...
		w := firstWord(s)
		if len(w) == 0 {
			return false
		}
		if w[0] == '"' {
			if n := scanQuoted(s); n > 0 {
				r.Command = s[1 : n-1]
				r.Action = ActionCommandRejected
				r.reasonAfterColon(s[n:])
				return true
			}
		}
		for _, c := range w {
			if !(c >= 'A' && c <= 'Z') {
				return false
			}
		}
		r.Action = ActionCommandRejected
		r.Command = w
		rest := s[len(w):]
		r.reasonAfterColon(rest)
		// "rejected VRFY x[: reason]", "rejected ETRN #x": the argument
		if i := indexStr(rest, ": "); i >= 0 {
			rest = rest[:i]
		}
		r.Argument = bytes.TrimSpace(rest)
	}
	return true
}

// addrReason reads "<addr>: reason" (or "addr: reason", the old form
// without brackets) into the sender or the recipient.
func (r *Record) addrReason(s []byte, sender bool) {
	n := scanAddress(s)
	a := s[:n]
	rest := s[n:]
	if len(a) > 0 && a[0] != '<' && a[len(a)-1] == ':' {
		a = a[:len(a)-1]
		rest = s[n-1:]
	}
	if sender {
		r.setSender(a)
	} else {
		r.Recipient = stripAngle(a)
	}
	r.reasonAfterColon(rest)
}

// reasonAfterColon sets Reason to the text after the first ": " (or ':'
// at the start), if any.
func (r *Record) reasonAfterColon(s []byte) {
	if len(s) > 0 && s[0] == ':' {
		r.Reason = bytes.TrimSpace(s[1:])
		return
	}
	if i := indexStr(s, ": "); i >= 0 {
		r.Reason = s[i+2:]
	}
}

// hostFields reads "host [ip]:port FIELDS text" where text is the reason
// (with or without a leading ':').
func (r *Record) hostFields(s []byte) {
	if t, ok := cut(s, "TFO"); ok && len(t) > 0 && (t[0] == ' ' || t[0] == '*') {
		// TCP Fast Open marker before the host (smtp_in.c)
		r.Flags |= FlagTFO
		t, _ = cut(t, "*")
		s, _ = cut(t, " ")
	}
	if len(s) > 0 && (s[0] == 'H' && hasPrefix(s, "H=")) {
		s = s[2:]
	} else if hasPrefix(s, "U=") {
		// a local SMTP session (-bs): "for U=CALLER: 535 ..."
		s = r.parseFields(s, ctxOther)
		s, _ = cut(s, ":")
		if t := bytes.TrimSpace(s); len(t) > 0 {
			r.Reason = t
		}
		return
	}
	n := parseHostAt(s, &r.Host)
	s = s[n:]
	if len(s) > 0 && s[0] == ' ' {
		s = r.parseFields(s[1:], ctxOther)
	}
	s, _ = cut(s, ":")
	if t := bytes.TrimSpace(s); len(t) > 0 {
		r.Reason = t
	}
}

// afterFrom reads "... from host FIELDS" (timeouts).
func (r *Record) afterFrom(s []byte) {
	i := indexStr(s, "from ")
	if i < 0 {
		r.Reason = bytes.TrimSpace(s)
		return
	}
	pre := bytes.TrimSpace(s[:i])
	if j := indexStr(pre, "on "); j >= 0 && (j == 0 || pre[j-1] == ' ') {
		// drop "on connection" / "on TLS connection"
		pre = bytes.TrimSpace(pre[:j])
	}
	if len(pre) > 0 {
		r.Reason = pre // "(message abandoned)"
	}
	r.hostFields(s[i+len("from "):])
}

// afterHost parses fields starting at the first " H=" (or at s if it starts
// with H=).
func (r *Record) afterHost(s []byte, key string, ctx int) {
	i := indexStr(s, key)
	if i < 0 {
		if t := bytes.TrimSpace(s); len(t) > 0 {
			r.Reason = t
		}
		return
	}
	if pre := bytes.TrimSpace(s[:i]); len(pre) > 0 && r.Command == nil && r.Reason == nil {
		r.Reason = pre
	}
	rest := r.parseFields(s[i:], ctx)
	if t := bytes.TrimSpace(rest); len(t) > 0 {
		if r.Reason == nil {
			r.Reason = t
		}
	}
}

// syncInput reads the quoted input="..." (input sent before the greeting)
// or next input="..." (input sent too soon) of a synchronization error,
// after H=.
func (r *Record) syncInput(s []byte) {
	h := indexStr(s, "H=")
	if h < 0 {
		return
	}
	i := indexStr(s[h:], " input=\"")
	if i < 0 {
		return
	}
	t := s[h+i+len(" input="):]
	if n := scanQuoted(t); n > 0 {
		r.Input = t[1 : n-1]
	}
}

// commandThenFields reads "\"CMD\" H=... reason".
func (r *Record) commandThenFields(s []byte) {
	if len(s) > 0 && s[0] == '"' {
		if n := scanQuoted(s); n > 0 {
			r.Command = s[1 : n-1]
			s = s[n:]
		}
	}
	s, _ = cut(s, " ")
	rest := r.parseFields(s, ctxOther)
	if t := bytes.TrimSpace(rest); len(t) > 0 {
		r.Reason = t
	}
}

// smtpConnection handles "SMTP connection from host ..." lines.
func (p *Parser) smtpConnection(s []byte, r *Record) bool {
	n := parseHostAt(s, &r.Host)
	s = s[n:]
	s, _ = cut(s, " ")
	s = r.parseFields(s, ctxOther)
	switch {
	case hasPrefix(s, "(TCP/IP connection count = "):
		r.Action = ActionConnection
		t := s[len("(TCP/IP connection count = "):]
		if i := bytes.IndexByte(t, ')'); i >= 0 {
			if c, ok := atoi(t[:i]); ok {
				r.ConnCount = c
				r.Flags |= FlagHasCount
			}
		}
	case hasPrefix(s, "closed by QUIT"):
		r.Action = ActionConnectionClosed
	case hasPrefix(s, "closed by DROP in ACL"), hasPrefix(s, "closed by ACL"):
		r.Action = ActionConnDropped
		r.mainOnly = true // the connection log line, not the ACL's
		r.Reason = s
	case hasPrefix(s, "lost"), hasPrefix(s, "closed"):
		r.Action = ActionConnectionLost
		if hasPrefix(s, "closed") {
			r.Action = ActionConnectionClosed
		}
		// "lost D=2s", "lost while reading message data"
		t := s[len("lost"):]
		if hasPrefix(s, "closed") {
			t = s[len("closed"):]
		}
		t, _ = cut(t, " ")
		t = r.parseFields(t, ctxOther)
		if len(t) > 0 {
			r.Reason = t
		}
	case hasPrefix(s, "refused"), hasPrefix(s, "rejected"):
		r.Action = ActionConnRejected
		r.reasonAfterColon(s)
		if r.Reason == nil {
			r.Reason = s
		}
	default:
		if len(s) == 0 {
			r.Action = ActionConnection
			return true
		}
		// e.g. "... TCP/IP connection count = 1" variants: still a connection
		r.Action = ActionConnection
		r.Reason = s
	}
	return true
}

// smtpCall handles "SMTP call from host FIELDS dropped: too many ...".
func (p *Parser) smtpCall(s []byte, r *Record) bool {
	n := parseHostAt(s, &r.Host)
	s = s[n:]
	s, _ = cut(s, " ")
	s = r.parseFields(s, ctxOther)
	if rest, ok := cut(s, "dropped: "); ok {
		r.Action = ActionTooMany
		r.Reason = rest
		if i := indexStr(rest, "(last "); i >= 0 {
			t := rest[i:]
			if j := bytes.IndexByte(t, '"'); j >= 0 {
				if k := scanQuoted(t[j:]); k > 0 {
					r.Command = t[j+1 : j+k-1]
				}
			}
		}
		return true
	}
	r.Action = ActionConnection
	r.Reason = s
	return true
}

// pidEq reads "pid=N" anywhere in s.
func (r *Record) pidEq(s []byte) {
	if i := indexStr(s, "pid="); i >= 0 {
		t := s[i+4:]
		j := 0
		for j < len(t) && isDigit(t[j]) {
			j++
		}
		if pid, ok := atoi(t[:j]); ok {
			r.PID = pid
		}
	}
}

// queueRunArgs reads "... queue run: pid=N -qff": the pid, and the options
// after it (queue.c logs the -q flags of the run) into Args.
func (r *Record) queueRunArgs(s []byte) {
	r.pidEq(s)
	if i := indexStr(s, "pid="); i >= 0 {
		t := s[i+4:]
		j := 0
		for j < len(t) && isDigit(t[j]) {
			j++
		}
		if a := bytes.TrimSpace(t[j:]); len(a) > 0 && a[0] == '-' {
			r.Args = a
		}
	}
}

func firstWord(s []byte) []byte {
	if i := bytes.IndexByte(s, ' '); i >= 0 {
		return s[:i]
	}
	return s
}

var aclConnect = []byte("connect")

var cmdVRFY = []byte("VRFY")

// queueRun reports whether a "Start"/"End" line is about a queue run:
// "Start queue run: pid=1", "Start 'lowpri' queue run: ...", "Start ODMR queue run: ...".
func queueRun(s []byte) bool {
	i := indexStr(s, "queue run")
	return i >= 0 && i < 64
}
