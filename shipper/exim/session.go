package exim

import (
	"strconv"
	"time"
)

// Session is the SMTP connection a record belongs to. The parser leaves it
// empty; shipper/session sets it on the records it sees in log order.
type Session struct {
	// ID is exim.session.id; empty when the record belongs to no session.
	ID string
	// Inferred (exim.session.inferred) is set when the log has nothing that
	// identifies the connection (no pid, port or connection lines) and the
	// record was placed in a session by a heuristic.
	Inferred bool
	// Summary is set on the record that closes a session whose lines were
	// all seen; the fields below are written only then.
	Summary bool
	// Transactions is exim.session.transactions: MAIL transactions seen.
	Transactions int
	// RcptRejected is exim.session.rcpt_rejected: RCPT commands rejected
	// (permanently or temporarily).
	RcptRejected int
	// MailFroms is exim.session.mail_froms: distinct MAIL FROM addresses
	// (the null sender counts as one).
	MailFroms int
	// Duration is event.duration, from the session's first line to this
	// one; a D= that Exim logged on the line is written instead.
	Duration time.Duration
}

// appendSession writes exim.session (inside the exim object), as one run
// of bytes: an id of hex digits needs no escaping (any other id is escaped).
func (r *Record) appendSession(e *enc) {
	s := &r.Session
	if s.ID == "" {
		return
	}
	e.key(`"session":`)
	if plainID(s.ID) {
		e.b = append(e.b, `{"id":"`...)
		e.b = append(e.b, s.ID...)
		e.b = append(e.b, '"')
	} else {
		e.b = append(e.b, `{"id":`...)
		e.b = AppendJSONString(e.b, s.ID)
	}
	if s.Inferred {
		e.b = append(e.b, `,"inferred":true`...)
	}
	if s.Summary {
		e.b = append(e.b, `,"transactions":`...)
		e.b = strconv.AppendInt(e.b, int64(s.Transactions), 10)
		e.b = append(e.b, `,"rcpt_rejected":`...)
		e.b = strconv.AppendInt(e.b, int64(s.RcptRejected), 10)
		e.b = append(e.b, `,"mail_froms":`...)
		e.b = strconv.AppendInt(e.b, int64(s.MailFroms), 10)
	}
	e.b = append(e.b, '}')
}

// plainID reports whether id needs no escaping in JSON.
func plainID(id string) bool {
	for i := 0; i < len(id); i++ {
		if !jsonSafe[id[i]] {
			return false
		}
	}
	return true
}
