// Package process turns input messages into documents: it frames each
// message into Exim log entries (shipper/frame), parses them (shipper/exim)
// and encodes them as data stream documents with deterministic ids.
//
// Behaviour worth knowing:
//
//   - Each message is framed on its own. A message holding several lines (a
//     Filebeat multiline event, a reject-log entry sent whole) gives one
//     document per entry; a reject-log continuation line that arrives in a
//     message of its own cannot be joined to its entry (that entry was in
//     another message, possibly already indexed, possibly on another
//     partition) and becomes its own document, parsed as it is, with
//     error.message saying so and the reject dataset. Likewise for syslog
//     pieces ("[2/3] ...") of one line sent as separate messages.
//   - Document ids are shipper.DocID(position, n) where n counts the
//     documents of the message in framing order, which depends on the
//     message alone: a re-delivered message gets the same ids.
//   - The dataset (main, reject, panic) is Config.Dataset when set, else the
//     framing hint (file name in the envelope, syslog severity, reject-log
//     continuation lines), else Config.DefaultDataset.
//   - SMTP sessions (exim.session.*, shipper/session) are tracked per input
//     partition (topic and partition of the message), in the order Process
//     is called: the pipeline must give one partition to one processor, in
//     offset order (shipper.Config.PartitionOrder). A message at or before
//     an offset already seen on its partition (a re-delivery after a
//     rebalance) resets that partition's sessions. AppendEntry, called
//     directly (eximship parse), uses one tracker of its own.
//   - Nothing is dropped: every non-empty line of a message ends up in the
//     event.original of exactly one document, and a document the parser
//     could not encode, or a message the framing failed on, becomes an
//     error document with error.message and event.original.
package process

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/enrich"
	"github.com/eximship/eximship/shipper/exim"
	"github.com/eximship/eximship/shipper/frame"
	"github.com/eximship/eximship/shipper/session"
)

// Config configures an Exim processor.
type Config struct {
	// Namespace is the data stream namespace: documents go to
	// logs-exim.<dataset>-<namespace>. Default: "default".
	Namespace string
	// Location is the time zone of timestamps written without an offset
	// (Exim's own and RFC 3164 syslog). Default: time.Local.
	Location *time.Location
	// Dataset, when set, forces the dataset of every document ("main",
	// "reject" or "panic"). Default: "" (detected per entry).
	Dataset string
	// DefaultDataset is the dataset of entries whose transport gives no
	// hint. Default: "main".
	DefaultDataset string
	// CheckJSON checks that every encoded document is valid JSON and
	// replaces an invalid one by an error document. The parser's encoder is
	// fuzzed to always produce valid JSON, and Elasticsearch would send an
	// invalid document to the dead letter (original kept), so this is a
	// belt-and-braces option; it costs about as much as parsing.
	// Default: false.
	CheckJSON bool
	// Enrich configures the domain metadata added to every document with
	// envelope addresses (local domains, admin local parts). Default: no
	// local domains, enrich.DefaultAdminLocalParts.
	Enrich enrich.Config
	// NoEnrich leaves the enrichment out (for comparisons: the parser's
	// fields only). Default: false.
	NoEnrich bool
	// Frame configures framing (line and entry size bounds). Its Location
	// defaults to Location.
	Frame frame.Config
	// Host is host.name for entries whose transport names no host (no
	// envelope host, no syslog header): the exim.host setting. When it is
	// empty too, the Kafka message key is used, as the producer sent it,
	// if it looks like a host name (see HostFromKey). host.name is written
	// lower-cased. Default: "".
	Host string
	// Sessions configures SMTP session tracking (bounds, timeouts).
	// Default: session's defaults.
	Sessions session.Config
	// NoSessions turns session tracking off: no exim.session fields.
	// Default: false (sessions are tracked).
	NoSessions bool
	// KeepOriginal keeps event.original (the input as received) on every
	// document. Default: false: event.original is written only where the
	// parsed fields may not hold everything the entry said (the entry
	// could not be parsed completely, or a word of it is missing from the
	// document: see Holds); error documents always keep it, and dead
	// letters always hold the original.
	KeepOriginal bool
	// Deterministic leaves out event.created and event.ingested, so that a
	// document depends on its input alone (parse, golden tests). Without
	// it, event.created is the Kafka record's timestamp (when the producer
	// read the line; the time of processing when the record has none) and
	// event.ingested the time the document was made, both in whole
	// seconds. Default: false.
	Deterministic bool
	// Now is the clock of event.ingested. Default: time.Now.
	Now func() time.Time
}

// Defaults.
const (
	DefaultNamespace = "default"
	DefaultDataset   = "main"
)

func (c *Config) setDefaults() {
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Location == nil {
		c.Location = time.Local
	}
	if c.DefaultDataset == "" {
		c.DefaultDataset = DefaultDataset
	}
	if c.Frame.Location == nil {
		c.Frame.Location = c.Location
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports configuration errors (after defaults are applied).
func (c *Config) Validate() error {
	d := *c
	d.setDefaults()
	if err := validName("namespace", d.Namespace, 100); err != nil {
		return err
	}
	if d.Dataset != "" {
		if err := validDataset(d.Dataset); err != nil {
			return err
		}
	}
	if err := validDataset(d.DefaultDataset); err != nil {
		return fmt.Errorf("default %w", err)
	}
	if err := d.Enrich.Validate(); err != nil {
		return fmt.Errorf("process: enrich: %w", err)
	}
	if err := d.Frame.Validate(); err != nil {
		return fmt.Errorf("process: %w", err)
	}
	if err := d.Sessions.Validate(); err != nil {
		return fmt.Errorf("process: %w", err)
	}
	if d.Host != "" && HostFromKey([]byte(d.Host)) == "" {
		return fmt.Errorf("process: host %q: want a host name (1 to 255 bytes of UTF-8, no blanks or control characters)", d.Host)
	}
	return nil
}

// HostFromKey returns the Kafka message key as a host name, or "" when it
// does not look like one: empty, longer than 255 bytes, invalid UTF-8,
// all digits (a line number), or holding blanks, quotes, backslashes or
// control characters (a JSON key...). The producers eximship documents (rsyslog's omkafka with
// key="%hostname%", Vector's key_field: host, kcat -K) send the host name.
func HostFromKey(key []byte) string {
	if len(key) == 0 || len(key) > 255 || !utf8.Valid(key) {
		return ""
	}
	digits := true
	for _, c := range key {
		if c <= ' ' || c == 0x7f || c == '"' || c == '\\' {
			return ""
		}
		digits = digits && c >= '0' && c <= '9'
	}
	if digits {
		return "" // a sequence number, not a host (RFC 1123: not all-numeric)
	}
	return string(key)
}

func validDataset(ds string) error {
	switch ds {
	case "main", "reject", "panic":
		return nil
	}
	return fmt.Errorf("dataset %q: want main, reject or panic", ds)
}

// validName applies Elasticsearch's data stream naming rules to one part.
func validName(what, s string, maxLen int) error {
	if s == "" || len(s) > maxLen {
		return fmt.Errorf("process: %s %q: must be 1 to %d bytes", what, s, maxLen)
	}
	if strings.ContainsAny(s, "\\/*?\"<>| ,#:-") || strings.ToLower(s) != s {
		return fmt.Errorf("process: %s %q: must be lower case without any of \\/*?\"<>| ,#:-", what, s)
	}
	return nil
}

// Exim is the shipper.Processor for Exim logs. It is not safe for concurrent
// use; make one per worker.
type Exim struct {
	cfg      Config
	framer   *frame.Framer
	parser   *exim.Parser
	enricher *enrich.Enricher
	rec      exim.Record
	cover    exim.Coverage // what the encoder wrote of the entry as it is (EncodeEntry)
	buf      []byte
	streams  [4]string // by frame.Dataset; [0] is the forced or default one
	names    [4]string // "exim.<dataset>"

	// sessions: one tracker per input partition, and one for direct
	// AppendEntry calls; cur is the one of the message being processed
	parts map[partKey]*partState
	own   *session.Tracker
	cur   *session.Tracker
	open  atomic.Int64 // sessions held, for Sessions

	// per Process call
	pos               shipper.Position
	ref               time.Time
	created, ingested time.Time // event.created, event.ingested
	host              string    // host.name fallback: Config.Host, else the message key
	key               []byte    // the key host was made from (reused while it repeats)
	docs              []shipper.Doc
	n                 int
}

// New returns a processor for c.
func New(c Config) (*Exim, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.setDefaults()
	fr, err := frame.NewFramer(c.Frame)
	if err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	en, err := enrich.New(c.Enrich)
	if err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	p := &Exim{
		cfg:      c,
		framer:   fr,
		parser:   exim.NewParser(exim.Options{Location: c.Location}),
		enricher: en,
		host:     c.Host, // for AppendEntry; Process sets it per message
		parts:    map[partKey]*partState{},
	}
	if !c.NoSessions {
		if p.own, err = session.New(c.Sessions); err != nil {
			return nil, fmt.Errorf("process: %w", err)
		}
		p.cur = p.own
	}
	for d := frame.DatasetUnknown; d <= frame.DatasetPanic; d++ {
		ds := d.String()
		switch {
		case c.Dataset != "":
			ds = c.Dataset
		case ds == "":
			ds = c.DefaultDataset
		}
		p.names[d] = "exim." + ds
		p.streams[d] = "logs-exim." + ds + "-" + c.Namespace
	}
	return p, nil
}

// Factory validates c and returns a constructor of processors, one per
// pipeline worker, as shipper.New expects.
func Factory(c Config) (func() (shipper.Processor, error), error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return func() (shipper.Processor, error) { return New(c) }, nil
}

// Stream returns the data stream of a dataset hint.
func (p *Exim) Stream(d frame.Dataset) string { return p.streams[d] }

// Process frames, parses and encodes one message.
func (p *Exim) Process(m shipper.Message, dst []shipper.Doc) (out []shipper.Doc, err error) {
	p.pos, p.docs, p.n = m.Position, dst, 0
	p.ref = m.Time
	p.setHost(m.Key)
	if !p.cfg.Deterministic {
		// Whole seconds, as Exim's own timestamps: values that repeat
		// from one document to the next compress to almost nothing
		// (issue 12: milliseconds cost 4 bytes per line on disk), and the
		// rules' look-back and the shipping lag are read in seconds.
		p.ingested = p.cfg.Now().Truncate(time.Second)
		p.created = m.Time.Truncate(time.Second)
		if p.created.IsZero() {
			p.created = p.ingested
		}
	}
	if p.ref.IsZero() {
		p.ref = time.Now()
	}
	start := len(dst)
	if p.own != nil {
		tr, err := p.partition(m.Position)
		if err != nil {
			return dst, err
		}
		p.cur = tr
		defer func() {
			p.cur = p.own
			p.countSessions()
		}()
	}
	defer func() {
		if v := recover(); v != nil {
			// A bug must not lose the message: replace whatever it made so
			// far by one error document holding the whole value.
			p.docs = p.docs[:start]
			p.n = 0
			// The framer may hold half-framed state: start afresh.
			if fr, err := frame.NewFramer(p.cfg.Frame); err == nil {
				p.framer = fr
			}
			p.buf = p.appendErrorDoc(p.buf[:0], m.Value, frame.DatasetUnknown, p.host, "", p.ref,
				fmt.Sprintf("internal error processing message: %v", v))
			p.addDoc(p.buf, m.Value, p.streams[frame.DatasetUnknown], exim.ActionUnknown)
			out, err = p.docs, nil
		}
	}()
	p.framer.Message(m.Value, p.ref, p.emit)
	return p.docs, nil
}

// setHost sets the host.name fallback of a message: Config.Host, else its
// key (converted once per distinct key: a partition's messages mostly come
// from one host).
func (p *Exim) setHost(key []byte) {
	switch {
	case p.cfg.Host != "":
		p.host = p.cfg.Host
	case len(key) == 0:
		p.host, p.key = "", p.key[:0]
	case string(key) != string(p.key):
		p.host = HostFromKey(key)
		p.key = append(p.key[:0], key...)
	}
}

// testHookEmit, when set by tests, runs before each entry is encoded.
var testHookEmit func(*frame.Entry)

func (p *Exim) emit(e *frame.Entry) {
	if testHookEmit != nil {
		testHookEmit(e)
	}
	var stream string
	p.buf, stream = p.AppendEntry(p.buf[:0], e, p.ref)
	p.addDoc(p.buf, e.Original, stream, p.rec.Action)
	if cap(p.buf) > 1<<20 {
		// Do not keep a huge buffer per worker after an overlong entry
		// (addDoc copied the document).
		p.buf = nil
	}
}

func (p *Exim) addDoc(body, original []byte, stream, action string) {
	// One allocation per document for Body, Original and ID: the pipeline
	// keeps them until the batch is written, and nothing writes to them.
	idLen := len(p.pos.Topic) + 3 + decLen(int64(p.pos.Partition)) + decLen(p.pos.Offset) + decLen(int64(p.n))
	mem := make([]byte, 0, len(body)+len(original)+idLen)
	mem = append(mem, body...)
	mem = append(mem, original...)
	mem = shipper.AppendDocID(mem, p.pos, p.n)
	nb, no := len(body), len(body)+len(original)
	id := mem[no:]
	p.docs = append(p.docs, shipper.Doc{
		ID:       unsafe.String(unsafe.SliceData(id), len(id)),
		Stream:   stream,
		Body:     mem[:nb:nb],
		Pos:      p.pos,
		Entry:    p.n,
		Original: mem[nb:no:no],
		Action:   action,
	})
	p.n++
}

func decLen(v int64) int {
	n := 1
	if v < 0 {
		n++
		v = -v
	}
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// errOrphan marks a continuation line that arrived without its entry.
var errOrphan = errors.New("continuation line without the entry it belongs to (it was framed on its own, e.g. sent in a message of its own)")

// AppendEntry parses one framed entry and appends its document to dst. It
// returns the document and its data stream. fallback is the time used when
// neither the entry nor its transport has one. Called directly, it tracks
// sessions with a tracker of its own, in call order.
func (p *Exim) AppendEntry(dst []byte, e *frame.Entry, fallback time.Time) ([]byte, string) {
	r := &p.rec
	p.ParseEntry(e, fallback, r)
	if p.cur != nil {
		p.cur.Observe(r)
	}
	return p.EncodeEntry(dst, e, r)
}

// ParseEntry parses and enriches one framed entry into r, as AppendEntry
// does before it tracks sessions and encodes. Byte slices of r point into
// e. With EncodeEntry it lets a caller parse on several goroutines and
// still feed one session tracker in input order (eximship parse).
func (p *Exim) ParseEntry(e *frame.Entry, fallback time.Time, r *exim.Record) {
	d := e.Dataset // names and streams map every hint to the forced dataset, if any
	r.Meta = exim.Meta{HostName: e.HostName, FilePath: e.FilePath, Time: e.Time, Dataset: p.names[d], Namespace: p.cfg.Namespace}
	if r.Meta.HostName == "" {
		r.Meta.HostName = p.host
	}
	r.Meta.Created, r.Meta.Ingested = p.created, p.ingested
	if r.Meta.Time.IsZero() {
		r.Meta.Time = fallback
	}
	p.parser.Parse(e.Text, r)
	if !p.cfg.NoEnrich {
		p.enricher.Apply(r)
	}
	if r.PID == 0 {
		r.PID = e.PID
	}
	switch {
	case e.Err != nil && r.Err != nil:
		r.Err = fmt.Errorf("%w; %w", e.Err, r.Err)
	case e.Err != nil:
		r.Err = e.Err
	case e.Orphan && r.Err == nil:
		r.Err = errOrphan
	}
}

// EncodeEntry appends the document of r, parsed from e by ParseEntry, to
// dst and returns it with its data stream.
func (p *Exim) EncodeEntry(dst []byte, e *frame.Entry, r *exim.Record) ([]byte, string) {
	d := e.Dataset
	// event.original is the input as received, syslog header included:
	// on every document with KeepOriginal, else only where the parse
	// failed or the document misses a word of the entry (original.go).
	r.Original = nil
	if p.cfg.KeepOriginal || r.Err != nil {
		r.Original = e.Original
	}
	start := len(dst)
	if r.Original == nil {
		p.cover.Reset(e.Text)
		r.Cover = &p.cover
	}
	dst = r.AppendJSON(dst)
	r.Cover = nil
	if r.Original == nil && !holds(e.Text, dst[start:], r.Has(exim.FlagOwnTime), &p.cover) {
		r.Original = e.Original
		dst = r.AppendJSON(dst[:start])
	}
	if p.cfg.CheckJSON && !json.Valid(dst[start:]) {
		msg := "the parser made an invalid JSON document"
		if r.Err != nil {
			msg += "; " + r.Err.Error()
		}
		dst = p.appendErrorDoc(dst[:start], e.Original, d, r.Meta.HostName, e.FilePath, r.Meta.Time, msg)
	}
	return dst, p.streams[d]
}

// partKey names an input partition.
type partKey struct {
	topic     string
	partition int
}

// partState is the session state of one input partition.
type partState struct {
	tracker *session.Tracker
	next    int64 // the offset after the last one processed
}

// partition returns the session tracker of pos's partition, reset when pos
// is not after the last offset processed there (a re-delivery).
func (p *Exim) partition(pos shipper.Position) (*session.Tracker, error) {
	k := partKey{pos.Topic, pos.Partition}
	ps := p.parts[k]
	if ps == nil {
		// a topic may carry reject logs too: their twins need the
		// main-log rejections from the start
		sc := p.cfg.Sessions
		sc.RejectLog = true
		tr, err := session.New(sc)
		if err != nil {
			return nil, fmt.Errorf("process: session tracker of %s/%d: %w", pos.Topic, pos.Partition, err)
		}
		ps = &partState{tracker: tr, next: pos.Offset}
		p.parts[k] = ps
	}
	if pos.Offset < ps.next {
		ps.tracker.Reset()
	}
	ps.next = pos.Offset + 1
	return ps.tracker, nil
}

// Track sets r.Session with the processor's own tracker (the one direct
// AppendEntry calls use): for a caller that parses with ParseEntry on
// several goroutines and tracks in input order. It does nothing when
// sessions are off.
func (p *Exim) Track(r *exim.Record) {
	if p.own != nil {
		p.own.Observe(r)
		p.countSessions()
	}
}

func (p *Exim) countSessions() {
	n := 0
	if p.own != nil {
		n = p.own.Size()
	}
	for _, ps := range p.parts {
		n += ps.tracker.Size()
	}
	p.open.Store(int64(n))
}

// Sessions returns the number of sessions the processor's trackers hold
// after its last call (see session.Tracker.Size), 0 when sessions are off.
// It is safe to call from any goroutine (a gauge).
func (p *Exim) Sessions() int { return int(p.open.Load()) }

// appendErrorDoc appends a minimal document for input that could not be
// processed, keeping the input in event.original.
func (p *Exim) appendErrorDoc(dst, original []byte, d frame.Dataset, host, file string, t time.Time, msg string) []byte {
	dst = append(dst, `{"@timestamp":"`...)
	dst = t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	dst = append(dst, `","event":{"action":"unknown","type":["info"],"kind":"pipeline_error","module":"exim","dataset":`...)
	dst = exim.AppendJSONString(dst, p.names[d])
	if !p.ingested.IsZero() {
		dst = append(dst, `,"created":"`...)
		dst = p.created.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
		dst = append(dst, `","ingested":"`...)
		dst = p.ingested.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
		dst = append(dst, '"')
	}
	dst = append(dst, `,"original":`...)
	dst = exim.AppendJSONBytes(dst, original)
	dst = append(dst, `},"ecs":{"version":"`+exim.ECSVersion+`"},"error":{"message":`...)
	dst = exim.AppendJSONString(dst, msg)
	dst = append(dst, '}')
	if host != "" {
		dst = append(dst, `,"host":{"name":`...)
		dst = exim.AppendJSONString(dst, strings.ToLower(host))
		dst = append(dst, '}')
	}
	if file != "" {
		dst = append(dst, `,"log":{"file":{"path":`...)
		dst = exim.AppendJSONString(dst, file)
		dst = append(dst, `}}`...)
	}
	if !utf8.Valid(original) {
		// event.original has U+FFFD for the invalid bytes: keep them
		dst = append(dst, `,"exim":{"original_base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, original)
		dst = append(dst, `"}`...)
	}
	dst = exim.AppendDataStream(dst, p.names[d], p.cfg.Namespace)
	return append(dst, '}')
}
