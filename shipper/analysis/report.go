package analysis

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// Report is the postmaster's answer. Its JSON keys are part of eximship's
// interface (README "eximship report"); every figure is exact.
type Report struct {
	// Window is the time range the figures cover.
	Window Window `json:"window"`
	// LocalDomains are the local domains the figures were computed with.
	LocalDomains []string `json:"local_domains"`
	// Dataset is the dataset whose rejections were counted (see Facts).
	Dataset string `json:"dataset"`

	// RelayAttempts is the number of rejected RCPTs that were relay
	// attempts (see Relay).
	RelayAttempts int64 `json:"relay_attempts"`
	// SourceIPs is the number of distinct IPs with at least one relay
	// attempt; SingleAttemptIPs of those with exactly one.
	SourceIPs        int `json:"source_ips"`
	SingleAttemptIPs int `json:"single_attempt_ips"`
	// AttemptsWithoutSourceIP are relay attempts logged without H=[ip]
	// (counted in RelayAttempts, in no source).
	AttemptsWithoutSourceIP int64 `json:"attempts_without_source_ip"`
	// UniqueRecipients is the number of distinct RCPT TO addresses;
	// UniqueSenders of distinct MAIL FROMs other than the null sender.
	UniqueRecipients int `json:"unique_recipients"`
	UniqueSenders    int `json:"unique_senders"`

	TopRecipientDomains []RecipientDomain `json:"top_recipient_domains"`
	TopSenderDomains    []SenderDomain    `json:"top_sender_domains"`
	// MostDistinctMailFroms is the IP that used the most distinct MAIL
	// FROMs (the null sender counts as one), ties broken by attempts, then
	// by the address; null when there were no attempts.
	MostDistinctMailFroms *MailFroms `json:"most_distinct_mail_froms"`

	NullSenderAttempts int64     `json:"null_sender_attempts"`
	NullSenderIPs      int       `json:"null_sender_ips"`
	TopNullSenderIPs   []IPCount `json:"top_null_sender_ips"`
	// ForgedLocalSender*: attempts whose MAIL FROM is in a local domain.
	ForgedLocalSenderAttempts int64       `json:"forged_local_sender_attempts"`
	ForgedLocalSenderIPs      int         `json:"forged_local_sender_ips"`
	TopForgedLocalSenderIPs   []ForgedIPs `json:"top_forged_local_sender_ips"`

	SMTPSessions Sessions `json:"smtp_sessions"`
	// Classifications counts sources and their attempts per
	// classification, in ClassOrder.
	Classifications []ClassCount `json:"classifications"`
	// Sources are the top sources by attempts.
	Sources []Source `json:"sources"`
	// Campaigns are the top recipient campaigns, then the top sender
	// campaigns, each by number of IPs.
	Campaigns []Campaign `json:"campaigns"`

	FirstSeen      *Time      `json:"first_seen"`
	LastSeen       *Time      `json:"last_seen"`
	AttemptsPerDay []DayCount `json:"attempts_per_day"`

	// AllSources holds every source (Sources is its head); not in JSON.
	AllSources []Source `json:"-"`
}

// Window is the report's time range; null ends are unbounded.
type Window struct {
	Since *Time `json:"since"`
	Until *Time `json:"until"`
}

// Time is an instant with millisecond precision, in JSON as
// "2006-01-02T15:04:05.000Z".
type Time int64

// TimeLayout is the JSON form of Time.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// T returns the instant as a time.Time in UTC.
func (t Time) T() time.Time { return time.UnixMilli(int64(t)).UTC() }

func (t Time) String() string { return t.T().Format(TimeLayout) }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, t.String()), nil
}

// UnmarshalJSON implements json.Unmarshaler (RFC 3339).
func (t *Time) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("time %s: %w", b, err)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	*t = Time(v.UnixMilli())
	return nil
}

func timePtr(ms int64) *Time { t := Time(ms); return &t }

// RecipientDomain is a line of top_recipient_domains.
type RecipientDomain struct {
	Domain           string `json:"domain"`
	UniqueRecipients int    `json:"unique_recipients"`
	Attempts         int64  `json:"attempts"`
}

// SenderDomain is a line of top_sender_domains.
type SenderDomain struct {
	Domain        string `json:"domain"`
	UniqueSenders int    `json:"unique_senders"`
	Attempts      int64  `json:"attempts"`
}

// MailFroms is most_distinct_mail_froms.
type MailFroms struct {
	SourceIP  string `json:"source_ip"`
	MailFroms int    `json:"mail_froms"`
	Attempts  int64  `json:"attempts"`
}

// IPCount is a source and its number of attempts.
type IPCount struct {
	SourceIP string `json:"source_ip"`
	Attempts int64  `json:"attempts"`
}

// ForgedIPs is a source that forged local senders, with the senders.
type ForgedIPs struct {
	SourceIP  string   `json:"source_ip"`
	Attempts  int64    `json:"attempts"`
	MailFroms []string `json:"mail_froms"`
}

// Sessions summarises the SMTP sessions that carried relay attempts.
type Sessions struct {
	// Sessions is the number of distinct sessions (exim.session.id) with
	// at least one relay attempt.
	Sessions int `json:"sessions"`
	// SessionsExact is false when any session was inferred or any attempt
	// had no session id.
	SessionsExact bool `json:"sessions_exact"`
	// InferredSessions were found by the heuristic, not from the log.
	InferredSessions int `json:"inferred_sessions"`
	// AttemptsWithoutSession are relay attempts whose document has no
	// exim.session.id.
	AttemptsWithoutSession int64 `json:"attempts_without_session"`
	// RCPTsPerSession is the histogram: how many sessions had n relay
	// attempts, by n ascending.
	RCPTsPerSession []RCPTBucket `json:"rcpts_per_session"`
}

// RCPTBucket is one bar of the RCPTs-per-session histogram.
type RCPTBucket struct {
	RCPTs    int64 `json:"rcpts"`
	Sessions int   `json:"sessions"`
}

// Classifications, in precedence order: a source gets the first that
// applies (Classify).
const (
	ClassRelayProbe = "relay_probe"
	ClassSpamRun    = "spam_run"
	ClassRepeatPair = "repeat_pair"
	ClassOneShot    = "one_shot"
	ClassOther      = "other"
)

// ClassOrder lists the classifications in precedence order.
var ClassOrder = []string{ClassRelayProbe, ClassSpamRun, ClassRepeatPair, ClassOneShot, ClassOther}

// ClassCount is a line of classifications.
type ClassCount struct {
	Classification string `json:"classification"`
	SourceIPs      int    `json:"source_ips"`
	Attempts       int64  `json:"attempts"`
}

// Source is the behaviour of one source IP in the window.
type Source struct {
	SourceIP       string `json:"source_ip"`
	Classification string `json:"classification"`
	Attempts       int64  `json:"attempts"`
	// Sessions is the number of distinct session ids of its attempts;
	// SessionsExact is false when one was inferred or an attempt had none.
	Sessions      int  `json:"sessions"`
	SessionsExact bool `json:"sessions_exact"`
	// MailFroms counts distinct MAIL FROMs, the null sender as one.
	MailFroms        int   `json:"mail_froms"`
	Recipients       int   `json:"recipients"`
	RecipientDomains int   `json:"recipient_domains"`
	NullSenderAtt    int64 `json:"null_sender_attempts"`
	ForgedLocalAtt   int64 `json:"forged_local_sender_attempts"`
	AdminSenderAtt   int64 `json:"admin_sender_attempts"`
	// MaxSendersPerRecipient is the most distinct MAIL FROMs it tried on
	// one recipient; MaxPairAttempts the most attempts of one
	// sender/recipient pair.
	MaxSendersPerRecipient int   `json:"max_senders_per_recipient"`
	MaxPairAttempts        int64 `json:"max_pair_attempts"`
	FirstSeen              Time  `json:"first_seen"`
	LastSeen               Time  `json:"last_seen"`
	// SeenOnce: exactly one attempt.
	SeenOnce bool `json:"seen_once"`
}

// Campaign is a recipient address, or a sender pattern, tried from several
// source IPs.
type Campaign struct {
	// Kind is "recipient" (Target is an RCPT TO address) or "sender"
	// (Target is a SenderPattern).
	Kind      string   `json:"kind"`
	Target    string   `json:"target"`
	SourceIPs int      `json:"source_ips"`
	IPs       []string `json:"ips"`
	Attempts  int64    `json:"attempts"`
	FirstSeen Time     `json:"first_seen"`
	LastSeen  Time     `json:"last_seen"`
}

// Campaign kinds.
const (
	CampaignRecipient = "recipient"
	CampaignSender    = "sender"
)

// DayCount is the number of relay attempts on one day of the report's
// time zone.
type DayCount struct {
	Day      string `json:"day"` // 2006-01-02
	Attempts int64  `json:"attempts"`
}

// CompareIP orders addresses numerically (IPv4 before IPv6), and strings
// that are not addresses after them, by their text.
func CompareIP(a, b string) int {
	x, errx := netip.ParseAddr(a)
	y, erry := netip.ParseAddr(b)
	switch {
	case errx == nil && erry == nil:
		if c := x.Compare(y); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	case errx == nil:
		return -1
	case erry == nil:
		return 1
	}
	return cmp.Compare(a, b)
}

func sortIPs(ips []string) { slices.SortFunc(ips, CompareIP) }
