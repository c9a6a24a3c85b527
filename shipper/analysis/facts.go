// Package analysis computes the postmaster's report from a small table of
// facts about rejected relay attempts: totals, top domains, per-source
// behaviour with a classification, SMTP sessions and campaigns.
//
// It is pure (no I/O) and imports nothing of the pipeline. Two producers
// fill the same Facts: Collector reads the documents eximship makes of log
// files (what `eximship parse` prints), and shipper/esreport reads
// Elasticsearch's composite aggregations over the indexed documents. The
// arithmetic from Facts to Report is this package's alone, so a report from
// files and one from Elasticsearch over the same logs are equal by
// construction wherever the facts are.
//
// The facts are grouped rows, exactly what a composite aggregation returns:
//
//   - Attempt: one row per (source.address, email.from.address,
//     exim.sender.null, email.to.address, exim.sender.domain,
//     exim.rcpt.domain, exim.sender.admin) with the number of relay
//     attempts and the first and last @timestamp;
//   - Session: one row per (source.address, exim.session.id,
//     exim.session.inferred) with the number of relay attempts (RCPTs) in
//     that session;
//   - Slot: relay attempts per 15-minute slot of @timestamp (UTC), which
//     the report turns into attempts per day in its time zone.
//
// A missing field is the empty string (or false), as a composite
// aggregation's missing bucket is null.
package analysis

import (
	"bytes"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
)

// Attempt is a group of relay attempts sharing source, sender and
// recipient. Times are epoch milliseconds.
type Attempt struct {
	SourceIP        string // source.address; "" when the rejection has none
	Sender          string // email.from.address; "" for the null sender (or none logged)
	NullSender      bool   // exim.sender.null: MAIL FROM:<>
	Recipient       string // email.to.address
	SenderDomain    string // exim.sender.domain
	RecipientDomain string // exim.rcpt.domain
	SenderAdmin     bool   // exim.sender.admin: root@, info@, admin@...
	Count           int64  // relay attempts in the group
	First, Last     int64  // min and max @timestamp (epoch ms)
}

// Session is the number of relay attempts (rejected RCPTs) in one SMTP
// session of one source.
type Session struct {
	SourceIP string // source.address
	ID       string // exim.session.id; "" for attempts without one
	Inferred bool   // exim.session.inferred
	RCPTs    int64
}

// SlotMillis is the width of a Slot: 15 minutes, the finest granularity of
// the world's UTC offsets, so slots fall into local days exactly.
const SlotMillis = 15 * 60 * 1000

// Slot counts the relay attempts whose @timestamp is in
// [Start, Start+SlotMillis) (epoch ms, a multiple of SlotMillis).
type Slot struct {
	Start    int64
	Attempts int64
}

// Facts is the input of Compute.
type Facts struct {
	// Dataset is the dataset whose rejections were counted: "exim.main",
	// or "exim.reject" when no main-log document was in the window
	// (Exim writes each rejection to both logs; the main log is
	// authoritative). Empty when there was no document at all.
	Dataset  string
	Attempts []Attempt
	Sessions []Session
	Slots    []Slot
}

// SlotOf returns the start of the slot of the instant ms (epoch ms).
func SlotOf(ms int64) int64 { return SlotFloor(ms, SlotMillis) }

// Relay decides which rejected RCPTs are relay attempts (the report's
// definition, shared by every producer):
//
//   - with local domains: the recipient's domain (exim.rcpt.domain, as
//     the document holds it) is present and neither one of the local
//     domains nor a subdomain of one;
//   - without: Exim's reason (exim.reason) contains the phrase "relay not
//     permitted", compared word by word and case-insensitively, as
//     Elasticsearch's match_phrase on exim.reason.text does.
//
// Only permanent rejections (event.action "rcpt-rejected") are attempts: a
// temporarily rejected RCPT is retried by the client and would count twice.
type Relay struct {
	// Local are the local domains, lower case, without a trailing dot.
	Local []string
}

// NewRelay returns the rule for the given local domains.
func NewRelay(local []string) Relay {
	var r Relay
	for _, d := range local {
		d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		if d != "" {
			r.Local = append(r.Local, d)
		}
	}
	return r
}

// RelayPhrase is the reason that marks a relay attempt when no local
// domains are configured.
const RelayPhrase = "relay not permitted"

// Attempt reports whether a rejected RCPT with this recipient domain and
// reason is a relay attempt.
func (r Relay) Attempt(recipientDomain, reason string) bool {
	if len(r.Local) == 0 {
		return containsPhrase(reason, RelayPhrase)
	}
	return recipientDomain != "" && !r.IsLocal(recipientDomain)
}

// IsLocal reports whether domain is a local domain or a subdomain of one.
// The domain is compared as given (documents hold it lower-cased).
func (r Relay) IsLocal(domain string) bool {
	for _, l := range r.Local {
		if domain == l || len(domain) > len(l) && strings.HasSuffix(domain, l) && domain[len(domain)-len(l)-1] == '.' {
			return true
		}
	}
	return false
}

// containsPhrase reports whether the words of phrase occur consecutively
// among the words of text. Words are maximal runs of letters and digits,
// compared case-insensitively (the gist of Elasticsearch's standard
// analyzer).
func containsPhrase(text, phrase string) bool {
	want := words(phrase)
	if len(want) == 0 {
		return false
	}
	got := words(text)
	for i := 0; i+len(want) <= len(got); i++ {
		ok := true
		for j := range want {
			if got[i+j] != want[j] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func words(s string) []string {
	var out []string
	start := -1
	for i, c := range s {
		alnum := unicode.IsLetter(c) || unicode.IsDigit(c)
		switch {
		case alnum && start < 0:
			start = i
		case !alnum && start >= 0:
			out = append(out, strings.ToLower(s[start:i]))
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, strings.ToLower(s[start:]))
	}
	return out
}

// SenderPattern is the shape of a MAIL FROM that campaign detection groups
// by: the address lower-cased, each run of digits replaced by "#"
// ("Info12@Shop3.example" -> "info#@shop#.example"). The null sender and an
// empty address have no pattern ("").
func SenderPattern(addr string) string {
	if addr == "" {
		return ""
	}
	var b bytes.Buffer
	b.Grow(len(addr))
	digits := false
	for _, c := range strings.ToLower(addr) {
		if '0' <= c && c <= '9' {
			if !digits {
				b.WriteByte('#')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteRune(c)
	}
	return b.String()
}

// KeywordLimit is Elasticsearch's ignore_above of eximship's keyword
// fields (mapping/): a longer value is not indexed, so aggregations see the
// field as missing. Collector applies the same rule.
const KeywordLimit = 1024

// keyword returns s as a keyword field's doc value: "" when longer than
// KeywordLimit characters (Java's, UTF-16 code units, as Elasticsearch
// counts them).
func keyword(s string) string {
	if len(s) <= KeywordLimit {
		return s
	}
	n := 0
	for _, c := range s {
		n += max(utf16.RuneLen(c), 1)
	}
	if n > KeywordLimit {
		return ""
	}
	return s
}

// millis converts t to epoch milliseconds.
func millis(t time.Time) int64 { return t.UnixMilli() }
