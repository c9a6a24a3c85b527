// Package exim parses Exim's main, reject and panic log entries into typed
// records and encodes them as ECS documents. It uses only the standard
// library, scans bytes by hand (no regexp) and imports nothing of the
// pipeline.
//
// The field names of the documents and the event.action values are listed in
// docs/PARSER.md.
package exim

import (
	"time"
)

// Options configure a Parser.
type Options struct {
	// Location is the time zone of timestamps written without an offset.
	// Default: time.Local.
	Location *time.Location
}

// Parser parses Exim log entries. It is not safe for concurrent use; use one
// per goroutine.
type Parser struct {
	loc *time.Location
	// zones caches the fixed zones of "+HHMM" offsets seen so far, so that
	// a timestamp with an offset costs an allocation only the first time.
	zones []zone
}

type zone struct {
	off int
	loc *time.Location
}

// NewParser returns a Parser for o.
func NewParser(o Options) *Parser {
	loc := o.Location
	if loc == nil {
		loc = time.Local
	}
	return &Parser{loc: loc}
}

// Meta is what the transport knows about an entry; the framing layer sets it.
type Meta struct {
	// HostName is the host that wrote the log (host.name).
	HostName string
	// FilePath is the log file the entry came from (log.file.path).
	FilePath string
	// Time is the transport's timestamp (syslog header or envelope), used
	// when the entry carries none of its own.
	Time time.Time
	// Dataset is event.dataset ("exim.main", "exim.reject", "exim.panic"),
	// set by the framing layer; empty leaves event.dataset out. An entry of
	// the panic dataset (or from a file whose name contains "panic") that
	// matches nothing else gets the action "panic" instead of "unknown".
	Dataset string
	// Created is event.created: when the pipeline first saw the entry (the
	// Kafka record's timestamp in run). Zero leaves it out.
	Created time.Time
	// Ingested is event.ingested: when eximship encoded the document (the
	// shipper's clock in run; Elastic Security's rules look back on it).
	// Zero leaves it out (parse, the goldens: documents then depend on the
	// input alone).
	Ingested time.Time
	// Namespace, when set together with Dataset, makes AppendJSON write
	// the document exactly as it is indexed into a data stream: with
	// event.module "exim" and data_stream {type "logs", dataset Dataset,
	// namespace Namespace}. Empty leaves them out.
	Namespace string
}

// Host is an SMTP peer as Exim writes it in H= (and I=, PRX=):
// "name (helo) [ip]:port" with every part but the address optional.
type Host struct {
	// Name is the verified (reverse DNS) host name, or the name of the host
	// delivered to on delivery lines.
	Name []byte
	// Helo is the name given in HELO/EHLO when it differs from Name.
	Helo []byte
	// IP is the address without brackets.
	IP []byte
	// Port is the port, 0 if absent.
	Port int
	// malformed: the address had no closing ']'.
	malformed bool
}

// Flags for boolean log fields.
const (
	FlagChunking   uint32 = 1 << iota // K: CHUNKING used
	FlagDNSSEC                        // DS: DNSSEC secured lookups
	FlagPRDR                          // PRDR: PRDR extension used
	FlagTFO                           // TFO: TCP Fast Open used
	FlagContinued                     // "*" after H=: delivered down an existing connection
	FlagNullSender                    // the envelope sender is <>
	FlagTemporary                     // a temporary (4xx) rejection
	FlagHasSize                       // Size is set
	FlagHasQT                         // QueueTime is set
	FlagHasDT                         // DeliveryTime is set
	FlagHasRT                         // ReceiveTime is set
	FlagHasD                          // Duration is set
	FlagHasCount                      // ConnCount is set
	FlagOwnTime                       // the entry carried its own timestamp
	FlagTruncated                     // the reject-log header dump ends in "*** truncated ***"
)

// Record is one parsed Exim log entry. Byte-slice fields point into the
// entry given to Parse and are valid only as long as it is. Escaped text
// (\ooo, \", \n ...) is kept as Exim wrote it and decoded by AppendJSON.
type Record struct {
	// Action is the event.action value, "unknown" when no rule matched.
	Action string
	// Time is the entry's timestamp.
	Time time.Time
	// Original is the whole entry as given (event.original).
	Original []byte
	// Err is set when the entry could not be parsed completely
	// (error.message); the record then holds what could be parsed.
	Err error
	// Meta comes from the transport, not from the entry.
	Meta Meta

	// Flags holds the boolean fields (Flag* constants).
	Flags uint32
	// PID is the process id from "[pid]" (log_selector +pid) or from
	// "pid=" on daemon/queue-run lines; 0 if absent.
	PID int
	// MessageID is Exim's message id (email.local_id), 6-6-2 or 6-11-4.
	MessageID []byte
	// Flag is the delivery flag of message lines: "<=", "(=", "=>", "->",
	// ">>", "*>", "==", "**"; empty on other lines.
	Flag string

	// Sender is the envelope sender (MAIL FROM): the address of "<=", F=
	// on rejection and delivery lines. Empty and FlagNullSender set for <>.
	Sender []byte
	// Recipient is the envelope recipient of delivery lines and of the
	// rejected RCPT.
	Recipient []byte
	// Parent is the original address of a delivery ("=> local <orig>").
	Parent []byte
	// Recipients is the raw " for a b c" list of arrival lines (and the
	// Envelope-to: list of reject-log entries), space separated.
	Recipients []byte

	// Host is H= (and the host of connection, DNS and TLS lines).
	Host Host
	// Interface is I=, the local interface.
	Interface Host
	// Proxy is PRX=, the proxy address.
	Proxy Host

	User         []byte // U=: local user or ident
	AuthName     []byte // A=: authenticator name; also the authenticator of "authenticator failed"
	AuthID       []byte // A=name:id; set_id= of "authenticator failed"
	AuthSender   []byte // A=name:id:sender
	Protocol     []byte // P= on <= lines
	ReturnPath   []byte // P= on =>, ** lines
	Size         int64  // S=
	HeaderID     []byte // id= / id*=: Message-ID header (email.message_id)
	Subject      []byte // T= on <= lines (escaped)
	BounceRef    []byte // R= on <= lines
	Router       []byte // R= on delivery lines
	Transport    []byte // T= on delivery lines
	Shadow       []byte // ST=: shadow transport
	Confirmation []byte // C= on delivery lines (escaped)
	Commands     []byte // C= on "no MAIL"/too-many lines: SMTP command list
	Command      []byte // the SMTP command of protocol/sync errors, timeouts
	Argument     []byte // the argument of a rejected command: "rejected VRFY x"
	Input        []byte // input= / next input= of sync errors (escaped)
	Cipher       []byte // X=
	CertVerified []byte // CV=
	PeerDN       []byte // DN= (escaped)
	SNI          []byte // SNI=
	ConnID       []byte // Ci=
	M8S          []byte // M8S=
	Pipelining   []byte // L, L-, L.
	DKIM         []byte // DKIM=
	ProtoSeq     []byte // PS=
	Queue        []byte // Q=
	QueueTime    float64
	DeliveryTime float64
	ReceiveTime  float64
	Duration     float64 // D=
	ConnCount    int     // "(TCP/IP connection count = N)"
	Errno        []byte  // "defer (-53)"
	Reason       []byte  // rejection reason, error or free text (escaped)
	Version      []byte  // Exim version on "daemon started"
	Cwd          []byte  // cwd=
	Args         []byte  // "N args: ..."; the options of queue runs (-qff)
	ArgsCount    int     // N of "N args:"
	EnvelopeFrom []byte  // reject log Envelope-from:
	EnvelopeTo   []byte  // reject log Envelope-to:
	Headers      []byte  // reject log header dump (lines after the first)
	// Header holds the headers of the dump that map to document fields.
	Header HeaderFields
	Body   []byte // the text after timestamp, pid and message id
	ACL    []byte // ACL name of "dropped by 'x' ACL", "in \"x\" ACL"
	// Enrichment is domain metadata added after Parse by the caller
	// (shipper/enrich); Parse leaves it empty.
	Enrichment Enrichment
	// Session is the SMTP session, set after Parse by shipper/session.
	Session Session
	// Cover, when set, records what AppendJSON writes of the entry text
	// as it is (see Coverage); Reset clears it.
	Cover *Coverage

	scratch       []byte
	scratch2      []byte
	host          []byte    // host.name lower-cased (AppendJSON)
	hashBuf       []byte    // input of exim.rejection.id
	cache         *encCache // kept by Reset (see AppendJSON)
	fieldsPresent bool
	// mainOnly: a rejection that Exim writes to the main log only (no
	// reject-log twin, so no exim.rejection.id).
	mainOnly bool
	// rid is exim.rejection.id once computed (ridSet): the session
	// tracker and the encoder both need it.
	rid    [rejectionIDLen]byte
	ridSet bool
}

// Enrichment is metadata about the envelope addresses and the connecting
// host that the parser cannot know (the public suffix list, the local
// domains, the free-mail list, GeoIP databases), set by shipper/enrich.
// Zero values are not written.
type Enrichment struct {
	SenderDomain           string // exim.sender.domain: lower case, IDNs in ASCII (punycode)
	SenderDomainUnicode    string // exim.sender.domain_unicode: only for IDNs
	SenderRegisteredDomain string // exim.sender.registered_domain
	SenderTLD              string // exim.sender.tld: the last label ("jp" for example.co.jp)
	SenderCountry          string // exim.sender.country: ISO 3166-1 code of a ccTLD
	SenderFreemail         bool   // exim.sender.freemail: a free or disposable mail provider
	SenderLocal            bool   // exim.sender.local: one of our domains
	SenderAdmin            bool   // exim.sender.admin: root@, info@, admin@...
	// SenderForged is set on rejections whose sender claims one of our
	// domains (exim.sender.forged_local): relay probes forge them.
	SenderForged              bool
	RecipientDomain           string // exim.rcpt.domain
	RecipientDomainUnicode    string // exim.rcpt.domain_unicode
	RecipientRegisteredDomain string // exim.rcpt.registered_domain
	RecipientTLD              string // exim.rcpt.tld
	RecipientCountry          string // exim.rcpt.country
	RecipientFreemail         bool   // exim.rcpt.freemail
	RecipientLocal            bool   // exim.rcpt.local
	// SameDomain is exim.same_domain, written when both domains are known.
	SameDomain bool
	// EmailDirection is email.direction from the local domains: inbound
	// (to a local recipient from elsewhere), outbound (from a local sender
	// to elsewhere), internal (local to local), external (neither: relayed,
	// or a relay attempt); "" when no local domains are configured or the
	// recipient is unknown.
	EmailDirection string

	// HeloClass is exim.smtp.helo_class (shipper/enrich's Helo* values).
	HeloClass string
	// HeloIP is the address of a literal HELO that is not the client's
	// (added to related.ip).
	HeloIP string
	// SourceRegisteredDomain and SourceTopLevelDomain are
	// source.registered_domain and source.top_level_domain (ECS: the
	// effective TLD, "co.uk") of the client's verified host name.
	SourceRegisteredDomain string
	SourceTopLevelDomain   string
	// SourceIPClass is exim.source.ip_class (public, private, loopback...).
	SourceIPClass string
	// Geo is source.geo.* and source.as.* from GeoIP databases; nil when
	// they know nothing of the client (shared: never modify it).
	Geo *Geo

	// SenderMembers, RecipientMembers and GeoMembers, when set, are the
	// sender's and recipient's domain members and source's geo and as
	// members already encoded (AppendDomainMembers, AppendGeoMembers, from
	// the fields above): enrichment caches them per domain and address,
	// and the encoder copies them instead of encoding the fields again.
	SenderMembers, RecipientMembers, GeoMembers []byte
}

// Reset clears r for reuse, keeping allocated capacity.
func (r *Record) Reset() {
	s, s2, h, hb, c := r.scratch[:0], r.scratch2[:0], r.host[:0], r.hashBuf[:0], r.cache
	*r = Record{}
	r.scratch, r.scratch2, r.host, r.hashBuf, r.cache = s, s2, h, hb, c
}

// Has reports whether flag f is set.
func (r *Record) Has(f uint32) bool { return r.Flags&f != 0 }

// Parse parses one entry (a log line, or a reject-log entry whose lines are
// joined by '\n') into r, which it resets first except for r.Meta. It never
// panics and never drops the entry: problems are reported in r.Err.
func (p *Parser) Parse(entry []byte, r *Record) {
	meta := r.Meta
	r.Reset()
	r.Meta = meta
	r.Original = entry
	r.Action = ActionUnknown
	r.Time = meta.Time
	defer func() {
		if v := recover(); v != nil {
			// A bug in a line rule must not lose the entry.
			r.Action = ActionUnknown
			r.Err = errInternal
		}
	}()
	p.parse(entry, r)
}
