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
//   - Nothing is dropped: every non-empty line of a message ends up in the
//     event.original of exactly one document, and a document the parser
//     could not encode, or a message the framing failed on, becomes an
//     error document with error.message and event.original.
package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/enrich"
	"github.com/eximship/eximship/shipper/exim"
	"github.com/eximship/eximship/shipper/frame"
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
	return nil
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
	buf      []byte
	streams  [4]string // by frame.Dataset; [0] is the forced or default one
	names    [4]string // "exim.<dataset>"

	// per Process call
	pos  shipper.Position
	ref  time.Time
	docs []shipper.Doc
	n    int
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
	if p.ref.IsZero() {
		p.ref = time.Now()
	}
	start := len(dst)
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
			p.buf = p.appendErrorDoc(p.buf[:0], m.Value, frame.DatasetUnknown, "", "", p.ref,
				fmt.Sprintf("internal error processing message: %v", v))
			p.addDoc(p.buf, m.Value, p.streams[frame.DatasetUnknown], exim.ActionUnknown)
			out, err = p.docs, nil
		}
	}()
	p.framer.Message(m.Value, p.ref, p.emit)
	return p.docs, nil
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
// neither the entry nor its transport has one.
func (p *Exim) AppendEntry(dst []byte, e *frame.Entry, fallback time.Time) ([]byte, string) {
	d := e.Dataset // names and streams map every hint to the forced dataset, if any
	r := &p.rec
	r.Meta = exim.Meta{HostName: e.HostName, FilePath: e.FilePath, Time: e.Time, Dataset: p.names[d], Namespace: p.cfg.Namespace}
	if r.Meta.Time.IsZero() {
		r.Meta.Time = fallback
	}
	p.parser.Parse(e.Text, r)
	if !p.cfg.NoEnrich {
		p.enricher.Apply(r)
	}
	// event.original is the input as received, syslog header included.
	r.Original = e.Original
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
	start := len(dst)
	dst = r.AppendJSON(dst)
	if p.cfg.CheckJSON && !json.Valid(dst[start:]) {
		msg := "the parser made an invalid JSON document"
		if r.Err != nil {
			msg += "; " + r.Err.Error()
		}
		dst = p.appendErrorDoc(dst[:start], e.Original, d, e.HostName, e.FilePath, r.Meta.Time, msg)
	}
	return dst, p.streams[d]
}

// appendErrorDoc appends a minimal document for input that could not be
// processed, keeping the input in event.original.
func (p *Exim) appendErrorDoc(dst, original []byte, d frame.Dataset, host, file string, t time.Time, msg string) []byte {
	dst = append(dst, `{"@timestamp":"`...)
	dst = t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	dst = append(dst, `","event":{"action":"unknown","kind":"pipeline_error","module":"exim","dataset":`...)
	dst = exim.AppendJSONString(dst, p.names[d])
	dst = append(dst, `,"original":`...)
	dst = exim.AppendJSONBytes(dst, original)
	dst = append(dst, `},"error":{"message":`...)
	dst = exim.AppendJSONString(dst, msg)
	dst = append(dst, '}')
	if host != "" {
		dst = append(dst, `,"host":{"name":`...)
		dst = exim.AppendJSONString(dst, host)
		dst = append(dst, '}')
	}
	if file != "" {
		dst = append(dst, `,"log":{"file":{"path":`...)
		dst = exim.AppendJSONString(dst, file)
		dst = append(dst, `}}`...)
	}
	dst = exim.AppendDataStream(dst, p.names[d], p.cfg.Namespace)
	return append(dst, '}')
}
