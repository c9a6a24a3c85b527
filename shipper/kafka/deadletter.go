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

// WriteDeadLetters writes one record per dead letter in one synchronous
// produce. It returns nil only when Kafka acknowledged every record.
func (w *DeadLetterWriter) WriteDeadLetters(ctx context.Context, dls []shipper.DeadLetter) error {
	if len(dls) == 0 {
		return nil
	}
	now := w.now()
	msgs := make([]kafkago.Message, len(dls))
	for i, dl := range dls {
		b, err := json.Marshal(w.Record(dl, now))
		if err != nil {
			return fmt.Errorf("encode dead letter %s: %w", dl.Doc.ID, err)
		}
		msgs[i] = kafkago.Message{Key: []byte(dl.Doc.ID), Value: b, Time: now}
	}
	if err := w.w.WriteMessages(ctx, msgs...); err != nil {
		var werrs kafkago.WriteErrors
		if errors.As(err, &werrs) {
			return fmt.Errorf("write dead letters to %s: %d of %d failed: %w", w.cfg.Topic, werrs.Count(), len(msgs), err)
		}
		return fmt.Errorf("write dead letters to %s: %w", w.cfg.Topic, err)
	}
	return nil
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
