package kafka

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper"
)

// DeadLetterConfig configures a DeadLetterWriter.
type DeadLetterConfig struct {
	// Brokers are the bootstrap addresses. Required.
	Brokers []string
	// Topic receives the dead letters. Required; it must exist (eximship
	// never relies on automatic topic creation).
	Topic string
	// ClientID identifies the client to the brokers. Default: "eximship".
	ClientID string
	// MaxOriginalBytes truncates the original entry in a record (flagged
	// original_truncated), and leaves out a larger document (flagged
	// document_omitted), so that a record stays below the broker's
	// message.max.bytes (1 MiB by default). Default: 384 KiB.
	MaxOriginalBytes int
	// MaxRecordBytes bounds the JSON value of one record. A larger record
	// first leaves out the document (document_omitted), then the exact
	// bytes of an invalid UTF-8 original (original_base64_omitted), then
	// cuts the original further (original_truncated); the dead-letter
	// index keeps them whole. When the broker refuses a record as too
	// large anyway (a topic with a smaller max.message.bytes), the record
	// is made smaller, down to 1 KiB, instead of being retried as it is
	// for ever. Default: 1,000,000 (the broker's default message.max.bytes
	// is 1,048,588, which also holds the key and the batch overhead).
	MaxRecordBytes int
	// WriteTimeout bounds one write round trip. Default: 30s.
	WriteTimeout time.Duration
	// TLS configures encryption. Default: plaintext.
	TLS TLSConfig
	// SASL configures authentication. Default: none.
	SASL SASLConfig
	// Logger receives structured logs. Default: slog.Default().
	Logger *slog.Logger
}

func (c *DeadLetterConfig) setDefaults() {
	if c.ClientID == "" {
		c.ClientID = "eximship"
	}
	if c.MaxOriginalBytes == 0 {
		c.MaxOriginalBytes = 384 << 10
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = 1_000_000
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports configuration errors (after defaults are applied).
func (c DeadLetterConfig) Validate() error {
	c.setDefaults()
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("no topic"))
	}
	if c.MaxOriginalBytes < 1 {
		errs = append(errs, fmt.Errorf("max original bytes must be >= 1, got %d", c.MaxOriginalBytes))
	}
	if c.MaxRecordBytes < minRecordBytes {
		errs = append(errs, fmt.Errorf("max record bytes must be >= %d, got %d", minRecordBytes, c.MaxRecordBytes))
	}
	if c.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("write timeout must be >= 0, got %s", c.WriteTimeout))
	}
	if _, err := c.TLS.config(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.SASL.mechanism(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kafka dead letter config: %w", err)
	}
	return nil
}

// DeadLetterWriter is a shipper.DeadLetterSink writing one JSON record per
// dead letter to a Kafka topic, keyed by document id, acknowledged by all
// in-sync replicas. It is safe for concurrent use.
type DeadLetterWriter struct {
	cfg DeadLetterConfig
	log *slog.Logger
	w   *kafkago.Writer
	tr  *kafkago.Transport
	now func() time.Time
}

// DeadLetterRecord is the JSON value of a dead-letter record.
type DeadLetterRecord struct {
	// Timestamp is when the dead letter was written (RFC 3339, UTC).
	Timestamp string `json:"@timestamp"`
	// Original is the raw entry text. Invalid UTF-8 is replaced by U+FFFD
	// here; OriginalBase64 then holds the exact bytes.
	Original          string `json:"original"`
	OriginalBase64    string `json:"original_base64,omitempty"`
	OriginalTruncated bool   `json:"original_truncated,omitempty"`
	// OriginalBase64Omitted is set when the exact bytes were left out to
	// keep the record under MaxRecordBytes.
	OriginalBase64Omitted bool `json:"original_base64_omitted,omitempty"`
	// Document is the JSON document Elasticsearch refused, as a string
	// (what `eximship replay` indexes again once the cause is fixed). It
	// is left out, and DocumentOmitted set, when it is larger than
	// MaxOriginalBytes.
	Document        string `json:"document,omitempty"`
	DocumentOmitted bool   `json:"document_omitted,omitempty"`
	Error           string `json:"error"`
	Status          int    `json:"status"`
	Topic           string `json:"topic"`
	Partition       int    `json:"partition"`
	Offset          int64  `json:"offset"`
	Entry           int    `json:"entry"`
	DocID           string `json:"doc_id"`
	Stream          string `json:"data_stream,omitempty"`
}

// NewDeadLetterWriter creates a DeadLetterWriter. It does not contact the
// brokers.
func NewDeadLetterWriter(cfg DeadLetterConfig) (*DeadLetterWriter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	tr, err := newTransport(cfg.ClientID, cfg.TLS, cfg.SASL)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "kafka-dlq", "topic", cfg.Topic)
	return &DeadLetterWriter{
		cfg: cfg,
		log: log,
		w: &kafkago.Writer{
			Addr:                   kafkago.TCP(cfg.Brokers...),
			Topic:                  cfg.Topic,
			Balancer:               &kafkago.Hash{},
			RequiredAcks:           kafkago.RequireAll,
			MaxAttempts:            3,
			BatchSize:              1000,
			BatchBytes:             64 << 20,
			BatchTimeout:           5 * time.Millisecond,
			WriteTimeout:           cfg.WriteTimeout,
			ReadTimeout:            cfg.WriteTimeout,
			Transport:              tr,
			AllowAutoTopicCreation: false,
			ErrorLogger: kafkago.LoggerFunc(func(format string, args ...any) {
				log.Warn("kafka-go: " + fmt.Sprintf(format, args...))
			}),
		},
		tr:  tr,
		now: time.Now,
	}, nil
}

// Record builds the record of one dead letter.
func (w *DeadLetterWriter) Record(dl shipper.DeadLetter, now time.Time) DeadLetterRecord {
	orig := dl.Doc.Original
	r := DeadLetterRecord{
		Timestamp: now.UTC().Format(time.RFC3339Nano),
		Error:     dl.Reason,
		Status:    dl.Status,
		Topic:     dl.Doc.Pos.Topic,
		Partition: dl.Doc.Pos.Partition,
		Offset:    dl.Doc.Pos.Offset,
		Entry:     dl.Doc.Entry,
		DocID:     dl.Doc.ID,
		Stream:    dl.Doc.Stream,
	}
	if len(orig) > w.cfg.MaxOriginalBytes {
		orig = orig[:w.cfg.MaxOriginalBytes]
		r.OriginalTruncated = true
	}
	r.Original = string(orig)
	if !utf8.Valid(orig) {
		r.OriginalBase64 = base64.StdEncoding.EncodeToString(orig)
	}
	if len(dl.Doc.Body) > w.cfg.MaxOriginalBytes {
		r.DocumentOmitted = true
	} else {
		r.Document = string(dl.Doc.Body)
	}
	return r
}

// minRecordBytes is the least a record is cut to: its fixed members (error,
// position, id) with a little of the original.
const minRecordBytes = 1 << 10

// encode returns the JSON value of dl's record, made smaller as
// MaxRecordBytes describes until it is at most limit bytes (or nothing
// more can be left out: the fixed members alone may exceed a tiny limit).
func (w *DeadLetterWriter) encode(dl shipper.DeadLetter, now time.Time, limit int) ([]byte, error) {
	r := w.Record(dl, now)
	b, err := json.Marshal(r)
	if err != nil || len(b) <= limit {
		return b, err
	}
	if r.Document != "" {
		r.Document, r.DocumentOmitted = "", true
		if b, err = json.Marshal(r); err != nil || len(b) <= limit {
			return b, err
		}
	}
	if r.OriginalBase64 != "" {
		r.OriginalBase64, r.OriginalBase64Omitted = "", true
		if b, err = json.Marshal(r); err != nil || len(b) <= limit {
			return b, err
		}
	}
	// the longest prefix of the original (on a rune boundary) that fits:
	// JSON escaping makes a byte 1 to 6 bytes, so search
	orig := r.Original
	fixed := len(b) - jsonLen(orig)
	lo, hi := 0, len(orig) // fits(lo) holds or lo is 0; fits(hi) does not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		for mid > lo && !utf8.RuneStart(orig[mid]) {
			mid--
		}
		if mid == lo {
			break
		}
		if fixed+jsonLen(orig[:mid]) <= limit {
			lo = mid
		} else {
			hi = mid
		}
	}
	r.Original, r.OriginalTruncated = orig[:lo], true
	return json.Marshal(r)
}

// jsonLen is the length of s encoded as a JSON string by encoding/json.
func jsonLen(s string) int {
	b, _ := json.Marshal(s) // a string always encodes
	return len(b)
}

// WriteDeadLetters writes one record per dead letter in one synchronous
// produce. It returns nil only when Kafka acknowledged every record. Records
// the broker refuses as too large (its limit is on a batch of records) are
// written again one at a time, each made smaller (see MaxRecordBytes) until
// the broker takes it.
func (w *DeadLetterWriter) WriteDeadLetters(ctx context.Context, dls []shipper.DeadLetter) error {
	if len(dls) == 0 {
		return nil
	}
	now := w.now()
	msgs := make([]kafkago.Message, len(dls))
	for i, dl := range dls {
		b, err := w.encode(dl, now, w.cfg.MaxRecordBytes)
		if err != nil {
			return fmt.Errorf("encode dead letter %s: %w", dl.Doc.ID, err)
		}
		msgs[i] = kafkago.Message{Key: []byte(dl.Doc.ID), Value: b, Time: now}
	}
	err := w.w.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil
	}
	var werrs kafkago.WriteErrors
	if !errors.As(err, &werrs) {
		if !sizeRefused(err) {
			return fmt.Errorf("write dead letters to %s: %w", w.cfg.Topic, err)
		}
		werrs = make(kafkago.WriteErrors, len(msgs))
		for i := range werrs {
			werrs[i] = err
		}
	}
	var tooLarge []int
	for i, e := range werrs {
		switch {
		case e == nil:
		case sizeRefused(e):
			tooLarge = append(tooLarge, i)
		default:
			// the caller retries the whole call; records written twice are
			// the same records (keyed by document id)
			return fmt.Errorf("write dead letters to %s: %d of %d failed: %w", w.cfg.Topic, werrs.Count(), len(msgs), err)
		}
	}
	w.log.Warn("dead-letter records too large for the topic: writing them one at a time, smaller", "records", len(tooLarge), "first_id", dls[tooLarge[0]].Doc.ID)
	for _, i := range tooLarge {
		if err := w.writeSmaller(ctx, dls[i], now, len(msgs[i].Value)); err != nil {
			return err
		}
	}
	return nil
}

// sizeRefused reports whether the broker refused a record for its size
// (also inside kafka-go's WriteErrors, which does not unwrap).
func sizeRefused(err error) bool {
	var werrs kafkago.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil && errors.Is(e, kafkago.MessageSizeTooLarge) {
				return true
			}
		}
		return false
	}
	return errors.Is(err, kafkago.MessageSizeTooLarge)
}

// writeSmaller writes dl alone, halving its record until the broker takes
// it or it is down to minRecordBytes.
func (w *DeadLetterWriter) writeSmaller(ctx context.Context, dl shipper.DeadLetter, now time.Time, size int) error {
	for limit := size; ; {
		b, err := w.encode(dl, now, limit)
		if err != nil {
			return fmt.Errorf("encode dead letter %s: %w", dl.Doc.ID, err)
		}
		err = w.w.WriteMessages(ctx, kafkago.Message{Key: []byte(dl.Doc.ID), Value: b, Time: now})
		if err == nil {
			return nil
		}
		if !sizeRefused(err) || limit <= minRecordBytes {
			return fmt.Errorf("write dead letter %s (%d bytes) to %s: %w", dl.Doc.ID, len(b), w.cfg.Topic, err)
		}
		limit = max(min(limit, len(b))/2, minRecordBytes)
	}
}

// Close flushes and closes the writer.
func (w *DeadLetterWriter) Close() error {
	defer w.tr.CloseIdleConnections()
	if err := w.w.Close(); err != nil {
		return fmt.Errorf("close dead letter writer: %w", err)
	}
	return nil
}

var _ shipper.DeadLetterSink = (*DeadLetterWriter)(nil)
