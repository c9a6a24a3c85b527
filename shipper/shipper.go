// Package shipper holds the core of eximship's pipeline: the types that flow
// from a Source (Kafka) through a Processor (framing, parsing, enrichment,
// encoding) to a Sink (Elasticsearch), and Run, which moves them with bounded
// memory and at-least-once acknowledgement.
//
// Adapters (shipper/kafka, shipper/elastic) import this package and never each
// other; the parser (shipper/exim) and enrichment (shipper/enrich) import
// nothing of the pipeline. cmd/eximship wires everything.
package shipper

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Position is where one input message came from.
type Position struct {
	Topic     string
	Partition int
	Offset    int64
}

func (p Position) String() string {
	return p.Topic + "/" + strconv.Itoa(p.Partition) + "/" + strconv.FormatInt(p.Offset, 10)
}

// Message is one record read from a Source.
type Message struct {
	Position
	Key   []byte
	Value []byte
	// Time is the broker timestamp of the record (zero if unknown).
	Time time.Time
}

// AckFunc reports the fate of a batch returned by Source.Read. A nil error
// means every message of the batch is durable (indexed or dead-lettered) and
// may be committed. A non-nil error means none of them may be committed; they
// will be delivered again after a restart or rebalance.
type AckFunc func(ctx context.Context, err error) error

// Source delivers batches of messages. Read blocks until at least one message
// is available or ctx is done. Batches may be acknowledged out of order; the
// source commits only what is contiguously acknowledged.
type Source interface {
	Read(ctx context.Context) ([]Message, AckFunc, error)
	Close(ctx context.Context) error
}

// Doc is one document ready to be indexed.
type Doc struct {
	// ID is the document _id, derived from the input position so that a
	// re-delivered message overwrites nothing and duplicates nothing.
	ID string
	// Stream is the target data stream, e.g. "logs-exim.main-default".
	Stream string
	// Body is the JSON document.
	Body []byte
	// Pos and Entry locate the document's input: the message and the index of
	// the entry inside it (a message can hold several log entries).
	Pos   Position
	Entry int
	// Original is the raw input of the entry, kept for dead letters.
	Original []byte
	// Action is the document's event.action ("unknown" when the parser
	// recognized nothing), for the entries-by-action metric. It is a
	// constant of the parser's table: keeping it costs nothing.
	Action string
}

// DocID derives a document id from an input position: the same position
// always gives the same id, so a re-delivered message duplicates nothing.
// The id is base64url (no padding) of 14 bytes, big-endian: the topic's
// 32-bit FNV-1a hash, the partition (2 bytes), the offset (6) and the
// entry's index in the message (2): 19 characters. A position beyond those
// widths (partition >= 65536, offset >= 2^48, entry >= 65536) gets the wide
// form, 4, 4, 8 and 4 bytes (27 characters): the lengths differ, so two
// positions share an id only if their topics' hashes collide (about 1 in
// 4*10^9 for a pair of topics writing into one data stream). Fixed-width
// big-endian numbers give the ids of one partition long shared prefixes,
// which the _id terms and stored field compress
// (issue 12: 2.8 bytes per log line less than the decimal
// "topic-partition-offset-entry" of earlier versions, which this form
// replaced: a message delivered before an upgrade and again after it is
// indexed twice; docs/CHANGELOG.md). It changes only with such a note.
func DocID(p Position, entry int) string {
	return string(AppendDocID(make([]byte, 0, 27), p, entry))
}

// AppendDocID appends DocID(p, entry) to b, for callers that place the id
// in memory of their own.
func AppendDocID(b []byte, p Position, entry int) []byte {
	h := uint32(2166136261)
	for i := 0; i < len(p.Topic); i++ {
		h = (h ^ uint32(p.Topic[i])) * 16777619
	}
	var raw [20]byte
	binary.BigEndian.PutUint32(raw[0:], h)
	n := 14
	if p.Partition >= 0 && p.Partition < 1<<16 && p.Offset >= 0 && p.Offset < 1<<48 && entry >= 0 && entry < 1<<16 {
		binary.BigEndian.PutUint16(raw[4:], uint16(p.Partition))
		binary.BigEndian.PutUint16(raw[6:], uint16(p.Offset>>32))
		binary.BigEndian.PutUint32(raw[8:], uint32(p.Offset))
		binary.BigEndian.PutUint16(raw[12:], uint16(entry))
	} else {
		binary.BigEndian.PutUint32(raw[4:], uint32(p.Partition))
		binary.BigEndian.PutUint64(raw[8:], uint64(p.Offset))
		binary.BigEndian.PutUint32(raw[16:], uint32(entry))
		n = 20
	}
	return base64.RawURLEncoding.AppendEncode(b, raw[:n])
}

// Processor turns one message into zero or more documents, appended to dst.
// It must not fail for bad input: unparseable input becomes documents that
// carry error.message and event.original. An error means the processor itself
// cannot work (and stops the pipeline).
type Processor interface {
	Process(m Message, dst []Doc) ([]Doc, error)
}

// ItemError is the outcome of one failed document in a bulk write.
type ItemError struct {
	// Index is the position of the document in the batch given to WriteBatch.
	Index int
	// Status is the HTTP status of the item (0 for transport failures).
	Status int
	// Reason is the error text reported for the item.
	Reason string
	// Retry is true when writing the item again may succeed (429, 5xx,
	// timeouts, and refusals an operator must lift: write blocks, missing
	// privileges); false means it must go to the dead letter.
	Retry bool
	// Cause classifies a retryable failure for metrics and alarms: one of
	// the Cause* constants. Empty is CauseOther.
	Cause string
}

// Causes of retried writes (ItemError.Cause, RetryCauser). Blocked,
// Forbidden and Unauthorized are refusals that do not pass by themselves:
// the pipeline keeps retrying (nothing is dead-lettered for them) and
// raises an alarm (an error log and the retries metric).
const (
	CauseRejected     = "rejected"     // 429: queue full, circuit breaker
	CauseServerError  = "server_error" // 5xx
	CauseBlocked      = "blocked"      // 403 cluster_block_exception (write block, read-only index)
	CauseForbidden    = "forbidden"    // 403 for want of a privilege
	CauseUnauthorized = "unauthorized" // 401: credentials refused
	CauseUnavailable  = "unavailable"  // no answer: connection refused, timeout, TLS
	CauseOther        = "other"
)

// Refusal reports whether a retry cause needs an operator (an alarm).
func Refusal(cause string) bool {
	return cause == CauseBlocked || cause == CauseForbidden || cause == CauseUnauthorized
}

// RetryCauser is implemented by whole-request write errors that know their
// cause (one of the Cause* constants).
type RetryCauser interface {
	RetryCause() string
}

// BatchError reports the documents of a batch that were not written. The
// documents not listed were written (or were already there).
type BatchError struct {
	Items []ItemError
}

func (e *BatchError) Error() string {
	retry := 0
	for _, it := range e.Items {
		if it.Retry {
			retry++
		}
	}
	first := ""
	if len(e.Items) > 0 {
		first = fmt.Sprintf("; first: status %d: %s", e.Items[0].Status, e.Items[0].Reason)
	}
	return fmt.Sprintf("%d documents failed (%d retryable)%s", len(e.Items), retry, first)
}

// Sink writes documents. WriteBatch makes one attempt (splitting requests
// that are too large as needed). It returns nil when every document was
// written, a *BatchError naming the documents that were not, or any other
// error when the whole attempt failed (every document is then retryable).
type Sink interface {
	WriteBatch(ctx context.Context, docs []Doc) error
	Close(ctx context.Context) error
}

// Observer receives the pipeline's events, for metrics. Its methods are
// called concurrently by the workers and must be cheap; NopObserver is the
// default.
type Observer interface {
	// Consumed reports messages handed to the pipeline by the source.
	Consumed(messages int, bytes int64)
	// Processed reports the documents the processor made of one batch (one
	// per log entry; Doc.Action tells the kind).
	Processed(docs []Doc)
	// Indexed reports documents Elasticsearch acknowledged (409 included).
	Indexed(n int)
	// Retried reports documents written again, by cause.
	Retried(n int, cause string)
	// DeadLettered reports dead letters stored for good.
	DeadLettered(dls []DeadLetter)
}

// NopObserver observes nothing.
type NopObserver struct{}

func (NopObserver) Consumed(int, int64)       {}
func (NopObserver) Processed([]Doc)           {}
func (NopObserver) Indexed(int)               {}
func (NopObserver) Retried(int, string)       {}
func (NopObserver) DeadLettered([]DeadLetter) {}

// StartError is a failed start-up check of a service (the adapters'
// Kafka and Elasticsearch checks). Its message says what is wrong and what
// to do. Permanent: retrying will not help (a wrong address, scheme,
// certificate, credential, topic or privilege). Refused: the service
// answered and refused (credentials, privileges, a missing topic);
// otherwise it could not be reached as configured.
type StartError struct {
	Permanent bool
	Refused   bool
	Msg       string
	Err       error
}

func (e *StartError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *StartError) Unwrap() error { return e.Err }

// TemporaryStart reports whether a start-up error may pass by retrying:
// any error but a permanent StartError.
func TemporaryStart(err error) bool {
	var se *StartError
	if errors.As(err, &se) {
		return !se.Permanent
	}
	return true
}

// DeadLetter is a document that can never be indexed, with the reason.
type DeadLetter struct {
	Doc    Doc
	Status int
	Reason string
}

// DeadLetterSink stores dead letters durably. WriteDeadLetters returns nil
// only when every dead letter is stored.
type DeadLetterSink interface {
	WriteDeadLetters(ctx context.Context, dls []DeadLetter) error
}

// AllDeadLetters stores every dead letter in each of its sinks (e.g. an
// Elasticsearch failure index and a Kafka topic); it succeeds only when all
// of them did, so a retry may store a dead letter twice in one sink (the
// sinks make that idempotent by document id or key).
type AllDeadLetters []DeadLetterSink

// WriteDeadLetters implements DeadLetterSink.
func (a AllDeadLetters) WriteDeadLetters(ctx context.Context, dls []DeadLetter) error {
	var errs []error
	for _, s := range a {
		if err := s.WriteDeadLetters(ctx, dls); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
