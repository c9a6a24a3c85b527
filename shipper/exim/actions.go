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
	ActionPanic                 = "panic"
	ActionUnknown               = "unknown"
)

// actionInfo is the ECS classification of an action.
type actionInfo struct {
	category string // event.category (one value)
	typ      string // event.type (one value)
	outcome  string // event.outcome
	// head is the JSON of the members above and event.kind, from
	// event.action on, encoded once (see init).
	head string
}

func init() {
	for a, info := range actionInfos {
		h := `"action":"` + a + `"`
		if info.category != "" {
			h += `,"category":["` + info.category + `"]`
		}
		h += `,"type":["` + info.typ + `"]`
		if info.outcome != "" {
			h += `,"outcome":"` + info.outcome + `"`
		}
		info.head = h + `,"kind":"event"`
		actionInfos[a] = info
	}
}

var actionInfos = map[string]actionInfo{
	ActionArrival:            {"network", "allowed", "success", ""},
	ActionFakeReject:         {"network", "denied", "failure", ""},
	ActionDelivery:           {"network", "info", "success", ""},
	ActionDeliveryAdditional: {"network", "info", "success", ""},
	ActionDeliveryCutthrough: {"network", "info", "success", ""},
	ActionDeliverySuppressed: {"network", "info", "success", ""},
	ActionDeliveryDeferred:   {"network", "info", "failure", ""},
	ActionDeliveryFailed:     {"network", "info", "failure", ""},
	ActionCompleted:          {"network", "end", "success", ""},
	ActionFrozen:             {"network", "info", "unknown", ""},
	ActionUnfrozen:           {"network", "info", "unknown", ""},
	ActionSpoolLocked:        {"network", "info", "unknown", ""},
	ActionHostError:          {"network", "error", "failure", ""},
	ActionDKIM:               {"network", "info", "unknown", ""},
	ActionMessageInfo:        {"network", "info", "unknown", ""},

	ActionRcptRejected:         {"network", "denied", "failure", ""},
	ActionRcptTempRejected:     {"network", "denied", "failure", ""},
	ActionSenderVerifyFailed:   {"network", "denied", "failure", ""},
	ActionSenderVerifyDeferred: {"network", "denied", "failure", ""},
	ActionMailRejected:         {"network", "denied", "failure", ""},
	ActionRcptVerifyFailed:     {"network", "denied", "failure", ""},
	ActionRcptVerifyDeferred:   {"network", "denied", "failure", ""},
	ActionRcptDiscarded:        {"network", "denied", "success", ""},
	ActionHeloRejected:         {"network", "denied", "failure", ""},
	ActionHeloInvalid:          {"network", "denied", "failure", ""},
	ActionDataRejected:         {"network", "denied", "failure", ""},
	ActionLocalScanRejected:    {"network", "denied", "failure", ""},
	ActionConnRejected:         {"network", "denied", "failure", ""},
	ActionConnTempRejected:     {"network", "denied", "failure", ""},
	ActionConnDropped:          {"network", "denied", "failure", ""},
	ActionCommandRejected:      {"network", "denied", "failure", ""},
	ActionSyncError:            {"network", "denied", "failure", ""},
	ActionProtocolError:        {"network", "error", "failure", ""},
	ActionCommandTimeout:       {"network", "error", "failure", ""},
	ActionDataTimeout:          {"network", "error", "failure", ""},
	ActionUnexpectedDisconnect: {"network", "error", "failure", ""},
	ActionTooMany:              {"network", "denied", "failure", ""},
	ActionReverseDNSFailed:     {"network", "info", "failure", ""},
	ActionForwardDNSFailed:     {"network", "info", "failure", ""},
	ActionAuthFailed:           {"authentication", "start", "failure", ""},
	ActionTLSError:             {"network", "error", "failure", ""},
	ActionACLWarning:           {"network", "info", "unknown", ""},
	ActionETRN:                 {"network", "info", "unknown", ""},

	ActionConnection:            {"network", "start", "success", ""},
	ActionConnectionClosed:      {"network", "end", "success", ""},
	ActionConnectionLost:        {"network", "end", "failure", ""},
	ActionNoMail:                {"network", "end", "unknown", ""},
	ActionIncompleteTransaction: {"network", "end", "failure", ""},
	ActionDaemonStart:           {"process", "start", "success", ""},
	ActionDaemonSighup:          {"process", "change", "success", ""},
	ActionQueueRunStart:         {"process", "start", "success", ""},
	ActionQueueRunEnd:           {"process", "end", "success", ""},
	ActionCwd:                   {"process", "info", "unknown", ""},
	ActionPanic:                 {"process", "error", "failure", ""},
	ActionUnknown:               {"", "info", "unknown", ""},
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
