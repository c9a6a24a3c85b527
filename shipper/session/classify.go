package session

import (
	"bytes"

	"github.com/eximship/eximship/shipper/exim"
)

// kind is what a line means for the connection it belongs to.
type kind uint8

const (
	// kindNone: not a line of an SMTP connection (deliveries, queue runs,
	// daemon lines, local submissions).
	kindNone kind = iota
	// kindOpen: "SMTP connection from ..." (log_selector +smtp_connection).
	kindOpen
	// kindRefused: the daemon refused the connection before serving it
	// ("Connection from [ip] refused: too many connections"): a session of
	// one line.
	kindRefused
	// kindMember: a line written during the connection.
	kindMember
	// kindClose: the last line of a connection (QUIT, lost, dropped,
	// timeouts, synchronization errors, connect ACL rejections). Exim may
	// still write an epilogue after it ("no MAIL in SMTP connection",
	// "closed by DROP in ACL", "closed by EOF").
	kindClose
)

// lineKind is how a line relates to connections.
type lineKind struct {
	kind kind
	// pidOnly: the line has no client address; it belongs to the
	// connection its pid names, if any (an ACL logwrite, a DKIM
	// verification line, other text of the process serving it).
	pidOnly bool
	// epilogue: the line may follow the line that closed its connection.
	epilogue bool
}

// classify returns how r relates to connections.
func classify(r *exim.Record) lineKind {
	lk := classifyAction(r)
	if len(r.Host.IP) == 0 {
		switch lk.kind {
		case kindOpen, kindRefused:
			lk.kind = kindNone
		case kindMember, kindClose:
			lk.pidOnly = true
		}
	}
	return lk
}

func classifyAction(r *exim.Record) lineKind {
	switch r.Action {
	case exim.ActionConnection:
		if bytes.HasPrefix(r.Body, []byte("SMTP call from ")) {
			return lineKind{kind: kindMember}
		}
		return lineKind{kind: kindOpen}
	case exim.ActionConnRejected, exim.ActionConnTempRejected:
		if bytes.HasPrefix(r.Body, []byte("Connection from ")) {
			return lineKind{kind: kindRefused}
		}
		return lineKind{kind: kindClose}
	case exim.ActionConnectionClosed, exim.ActionConnectionLost, exim.ActionConnDropped, exim.ActionNoMail:
		return lineKind{kind: kindClose, epilogue: true}
	case exim.ActionTooMany, exim.ActionCommandTimeout, exim.ActionDataTimeout, exim.ActionSyncError,
		exim.ActionUnexpectedDisconnect:
		return lineKind{kind: kindClose}
	case exim.ActionTLSError:
		// "TLS error on connection from ..." ends the connection (Exim
		// cannot go on in clear); other TLS errors are about deliveries.
		if len(r.MessageID) > 0 || !bytes.HasPrefix(r.Body, []byte("TLS error on connection from")) {
			return lineKind{}
		}
		return lineKind{kind: kindClose}
	case exim.ActionArrival, exim.ActionFakeReject:
		// received over SMTP: the client's address is known (local
		// submissions have none, and belong to no connection)
		if len(r.Host.IP) == 0 {
			return lineKind{}
		}
		return lineKind{kind: kindMember}
	case exim.ActionRcptRejected, exim.ActionRcptTempRejected, exim.ActionSenderVerifyFailed,
		exim.ActionSenderVerifyDeferred, exim.ActionRcptVerifyFailed, exim.ActionRcptVerifyDeferred,
		exim.ActionRcptDiscarded, exim.ActionMailRejected, exim.ActionHeloRejected, exim.ActionHeloInvalid,
		exim.ActionDataRejected, exim.ActionLocalScanRejected, exim.ActionCommandRejected,
		exim.ActionProtocolError, exim.ActionIncompleteTransaction, exim.ActionReverseDNSFailed,
		exim.ActionForwardDNSFailed, exim.ActionAuthFailed, exim.ActionACLWarning, exim.ActionETRN:
		return lineKind{kind: kindMember}
	case exim.ActionUnknown, exim.ActionDKIM, exim.ActionMessageInfo:
		return lineKind{kind: kindMember, pidOnly: true}
	}
	return lineKind{}
}

// effect is what a line tells about the transactions of its session.
type effect struct {
	rcptRejected bool // a rejected RCPT
	tx           bool // the line is part of a MAIL transaction
	mailOnly     bool // a MAIL FROM that was rejected: a sender, no transaction
	endsTx       bool // the transaction is over after this line
}

func effectOf(r *exim.Record) effect {
	switch r.Action {
	case exim.ActionRcptRejected, exim.ActionRcptTempRejected:
		return effect{rcptRejected: true, tx: true}
	case exim.ActionSenderVerifyFailed, exim.ActionSenderVerifyDeferred, exim.ActionRcptVerifyFailed,
		exim.ActionRcptVerifyDeferred, exim.ActionRcptDiscarded:
		return effect{tx: true}
	case exim.ActionArrival, exim.ActionFakeReject, exim.ActionIncompleteTransaction, exim.ActionLocalScanRejected:
		return effect{tx: true, endsTx: true}
	case exim.ActionDataRejected:
		// after DATA (the message has an id): the transaction is over;
		// "rejected DATA" (predata ACL) leaves it open.
		return effect{tx: true, endsTx: len(r.MessageID) > 0}
	case exim.ActionDataTimeout:
		if hasSender(r) || len(r.MessageID) > 0 {
			return effect{tx: true, endsTx: true}
		}
	case exim.ActionMailRejected:
		return effect{mailOnly: true}
	}
	return effect{}
}

func hasSender(r *exim.Record) bool {
	return len(r.Sender) > 0 || r.Has(exim.FlagNullSender)
}

// msgPID returns the part of a message id that is the id of the process
// that received the message ("1xWH3C-0001ow-1d" -> "0001ow"; 23-character
// ids: the 11 characters after the first hyphen).
func msgPID(id []byte) []byte {
	switch len(id) {
	case 16:
		return id[7:13]
	case 23:
		return id[7:18]
	}
	return nil
}

// label is what the client called itself: the HELO name, or the verified
// host name when Exim shows no HELO (they are the same). A rejected or
// invalid HELO is not the client's name for the session.
func label(r *exim.Record) []byte {
	if r.Action == exim.ActionHeloRejected || r.Action == exim.ActionHeloInvalid {
		return nil
	}
	if len(r.Host.Helo) > 0 {
		return r.Host.Helo
	}
	if n := r.Host.Name; len(n) > 0 && n[0] != '[' {
		return n
	}
	return nil
}
