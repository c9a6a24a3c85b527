package exim

import "sort"

// event.action values. The names are shared with the rest of eximship
// (helpers/actions.md); docs/PARSER.md has the table.
const (
	// message lines
	ActionArrival            = "message-arrival"
	ActionFakeReject         = "message-fake-reject"
	ActionDelivery           = "delivery"
	ActionDeliveryAdditional = "delivery-additional"
	ActionDeliveryCutthrough = "delivery-cutthrough"
	ActionDeliverySuppressed = "delivery-suppressed"
	ActionDeliveryDeferred   = "delivery-deferred"
	ActionDeliveryFailed     = "delivery-failed"
	ActionCompleted          = "message-completed"
	ActionFrozen             = "message-frozen"
	ActionUnfrozen           = "message-unfrozen"
	ActionSpoolLocked        = "spool-locked"
	ActionHostError          = "host-error"
	ActionDKIM               = "dkim"
	ActionMessageInfo        = "message-info"

	// rejections
	ActionRcptRejected         = "rcpt-rejected"
	ActionRcptTempRejected     = "rcpt-temp-rejected"
	ActionSenderVerifyFailed   = "sender-verify-failed"
	ActionSenderVerifyDeferred = "sender-verify-deferred"
	ActionRcptVerifyFailed     = "recipient-verify-failed"
	ActionRcptVerifyDeferred   = "recipient-verify-deferred"
	ActionRcptDiscarded        = "rcpt-discarded"
	ActionMailRejected         = "mail-rejected"
	ActionHeloRejected         = "helo-rejected"
	ActionHeloInvalid          = "helo-invalid"
	ActionDataRejected         = "data-rejected"
	ActionLocalScanRejected    = "local-scan-rejected"
	ActionConnRejected         = "connection-rejected"
	ActionConnTempRejected     = "connection-temp-rejected"
	ActionConnDropped          = "connection-dropped"
	ActionCommandRejected      = "command-rejected"
	ActionSyncError            = "smtp-sync-error"
	ActionProtocolError        = "smtp-protocol-error"
	ActionCommandTimeout       = "smtp-command-timeout"
	ActionDataTimeout          = "smtp-data-timeout"
	ActionUnexpectedDisconnect = "smtp-unexpected-disconnect"
	ActionTooMany              = "smtp-too-many"
	ActionReverseDNSFailed     = "reverse-dns-failed"
	ActionForwardDNSFailed     = "forward-dns-failed"
	ActionAuthFailed           = "auth-failed"
	ActionTLSError             = "tls-error"
	ActionACLWarning           = "acl-warning"
	ActionETRN                 = "smtp-etrn"

	// connections, daemon
	ActionConnection            = "smtp-connection"
	ActionConnectionClosed      = "smtp-connection-closed"
	ActionConnectionLost        = "smtp-connection-lost"
	ActionNoMail                = "smtp-no-mail"
	ActionIncompleteTransaction = "smtp-incomplete-transaction"
	ActionDaemonStart           = "daemon-start"
	ActionDaemonSighup          = "daemon-sighup"
	ActionQueueRunStart         = "queue-run-start"
	ActionQueueRunEnd           = "queue-run-end"
	ActionCwd                   = "cwd"
	ActionPrivilegeDropped      = "privilege-dropped"
	ActionPanic                 = "panic"
	ActionUnknown               = "unknown"
)

// actionInfo is the ECS classification of an action (ECS 8.17
// event.category, event.type and event.outcome; docs/PARSER.md has the
// table and the rules it follows).
type actionInfo struct {
	category []string // event.category
	typ      []string // event.type
	outcome  string   // event.outcome; "" leaves it out (info events)
	// rejection: Exim writes this kind of entry to the main log and to
	// the reject log (log_write with LOG_MAIN|LOG_REJECT), so its
	// document gets exim.rejection.id (see Record.RejectionID).
	rejection bool
	// head is the JSON of the members above, from event.action on,
	// encoded once (see init).
	head string
}

func init() {
	for a, info := range actionInfos {
		h := `"action":"` + a + `"`
		if len(info.category) > 0 {
			h += `,"category":` + jsonList(info.category)
		}
		h += `,"type":` + jsonList(info.typ)
		if info.outcome != "" {
			h += `,"outcome":"` + info.outcome + `"`
		}
		info.head = h
		actionInfos[a] = info
	}
}

func jsonList(v []string) string {
	s := "["
	for i, x := range v {
		if i > 0 {
			s += ","
		}
		s += `"` + x + `"`
	}
	return s + "]"
}

// Categories. Everything Exim does for mail is "email" (ECS: "email
// messages, email attachments, and email network or protocol activity";
// its expected type is "info"); SMTP session events add "network", whose
// expected types are access, allowed, connection, denied, end, info,
// protocol and start. Every event.type value is expected by at least one
// of the document's categories, and every category has at least one of
// its expected types.
var (
	catEmail      = []string{"email"}
	catEmailNet   = []string{"email", "network"}
	catAuth       = []string{"authentication", "email", "network"}
	catProcess    = []string{"process"}
	typInfo       = []string{"info"}
	typDenied     = []string{"info", "denied"}
	typConnection = []string{"info", "connection"}
	typProtocol   = []string{"info", "protocol"}
	typConnStart  = []string{"info", "connection", "start"}
	typConnEnd    = []string{"info", "connection", "end"}
	typEnd        = []string{"info", "end"}
	typAuth       = []string{"start", "info"}
)

const (
	success = "success"
	failure = "failure"
)

var actionInfos = map[string]actionInfo{
	ActionArrival:            {catEmail, typInfo, success, false, ""},
	ActionFakeReject:         {catEmailNet, typDenied, failure, false, ""},
	ActionDelivery:           {catEmail, typInfo, success, false, ""},
	ActionDeliveryAdditional: {catEmail, typInfo, success, false, ""},
	ActionDeliveryCutthrough: {catEmail, typInfo, success, false, ""},
	ActionDeliverySuppressed: {catEmail, typInfo, success, false, ""},
	ActionDeliveryDeferred:   {catEmail, typInfo, failure, false, ""},
	ActionDeliveryFailed:     {catEmail, typInfo, failure, false, ""},
	ActionCompleted:          {catEmail, typInfo, success, false, ""},
	ActionFrozen:             {catEmail, typInfo, "", false, ""},
	ActionUnfrozen:           {catEmail, typInfo, "", false, ""},
	ActionSpoolLocked:        {catEmail, typInfo, "", false, ""},
	ActionHostError:          {catEmailNet, typConnection, failure, false, ""},
	ActionDKIM:               {catEmail, typInfo, "", false, ""},
	ActionMessageInfo:        {catEmail, typInfo, "", false, ""},

	ActionRcptRejected:         {catEmailNet, typDenied, failure, true, ""},
	ActionRcptTempRejected:     {catEmailNet, typDenied, failure, true, ""},
	ActionSenderVerifyFailed:   {catEmailNet, typDenied, failure, true, ""},
	ActionSenderVerifyDeferred: {catEmailNet, typDenied, failure, true, ""},
	ActionMailRejected:         {catEmailNet, typDenied, failure, true, ""},
	ActionRcptVerifyFailed:     {catEmailNet, typDenied, failure, true, ""},
	ActionRcptVerifyDeferred:   {catEmailNet, typDenied, failure, true, ""},
	ActionRcptDiscarded:        {catEmailNet, typDenied, success, true, ""},
	ActionHeloRejected:         {catEmailNet, typDenied, failure, true, ""},
	ActionHeloInvalid:          {catEmailNet, typDenied, failure, true, ""},
	ActionDataRejected:         {catEmailNet, typDenied, failure, true, ""},
	ActionLocalScanRejected:    {catEmailNet, typDenied, failure, true, ""},
	ActionConnRejected:         {catEmailNet, typDenied, failure, true, ""},
	ActionConnTempRejected:     {catEmailNet, typDenied, failure, true, ""},
	ActionConnDropped:          {catEmailNet, typDenied, failure, true, ""},
	ActionCommandRejected:      {catEmailNet, typDenied, failure, true, ""},
	ActionSyncError:            {catEmailNet, typDenied, failure, true, ""},
	ActionProtocolError:        {catEmailNet, typProtocol, failure, false, ""},
	ActionCommandTimeout:       {catEmailNet, typConnEnd, failure, false, ""},
	ActionDataTimeout:          {catEmailNet, typConnEnd, failure, false, ""},
	ActionUnexpectedDisconnect: {catEmailNet, typConnEnd, failure, false, ""},
	ActionTooMany:              {catEmailNet, typDenied, failure, true, ""},
	ActionReverseDNSFailed:     {catEmailNet, typInfo, failure, false, ""},
	ActionForwardDNSFailed:     {catEmailNet, typInfo, failure, false, ""},
	ActionAuthFailed:           {catAuth, typAuth, failure, true, ""},
	ActionTLSError:             {catEmailNet, typProtocol, failure, false, ""},
	ActionACLWarning:           {catEmail, typInfo, "", false, ""},
	ActionETRN:                 {catEmailNet, typProtocol, "", false, ""},

	ActionConnection:            {catEmailNet, typConnStart, success, false, ""},
	ActionConnectionClosed:      {catEmailNet, typConnEnd, success, false, ""},
	ActionConnectionLost:        {catEmailNet, typConnEnd, failure, false, ""},
	ActionNoMail:                {catEmailNet, typConnEnd, "", false, ""},
	ActionIncompleteTransaction: {catEmailNet, typEnd, failure, false, ""},
	ActionDaemonStart:           {catProcess, []string{"start"}, success, false, ""},
	ActionDaemonSighup:          {catProcess, []string{"change"}, success, false, ""},
	ActionQueueRunStart:         {catProcess, []string{"start"}, success, false, ""},
	ActionQueueRunEnd:           {catProcess, []string{"end"}, success, false, ""},
	ActionCwd:                   {catProcess, typInfo, "", false, ""},
	ActionPrivilegeDropped:      {catProcess, []string{"change"}, "", false, ""},
	ActionPanic:                 {catProcess, typInfo, failure, false, ""},
	ActionUnknown:               {nil, typInfo, "", false, ""},
}

// Actions returns every event.action value the parser can emit, sorted.
func Actions() []string {
	out := make([]string, 0, len(actionInfos))
	for a := range actionInfos {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}
