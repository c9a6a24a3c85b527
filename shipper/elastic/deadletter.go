package elastic

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/eximship/eximship/shipper"
)

// DeadLetterDoc is the document stored for one dead letter. Its mapping is
// the eximship-deadletter template of package mapping: dynamic false, the
// original entry searchable as text, the rejected body kept unindexed.
type DeadLetterDoc struct {
	Timestamp string `json:"@timestamp"`
	// Original is the raw input entry (shipper.Doc.Original).
	Original string `json:"original"`
	// OriginalBase64 holds the exact bytes of Original when they are not
	// valid UTF-8 (JSON strings cannot carry them; Original then has
	// U+FFFD in their place).
	OriginalBase64 string `json:"original_base64,omitempty"`
	// Document is the rejected JSON body, as a string.
	Document string          `json:"document"`
	Error    DeadLetterError `json:"error"`
	Input    DeadLetterInput `json:"input"`
	// DocID is the _id the document was given (also this dead letter's _id).
	DocID string `json:"doc_id"`
	// Stream is the data stream the document was meant for.
	Stream string     `json:"stream"`
	Event  eventBlock `json:"event"`
}

// DeadLetterError is why Elasticsearch refused the document.
type DeadLetterError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
	Status int    `json:"status"`
}

// DeadLetterInput is where the document's input came from.
type DeadLetterInput struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	Entry     int    `json:"entry"`
}

type eventBlock struct {
	Kind string `json:"kind"`
}

// WriteDeadLetters stores each dead letter in DeadLetterIndex with op_type
// create and _id = the document's id, so storing the same dead letter twice
// is harmless (409 counts as stored). It returns nil only when every dead
// letter is stored; otherwise the error (a *shipper.BatchError or a request
// error) says the batch must be tried again.
func (s *Sink) WriteDeadLetters(ctx context.Context, dls []shipper.DeadLetter) error {
	if len(dls) == 0 {
		return nil
	}
	docs := make([]shipper.Doc, len(dls))
	now := s.cfg.now().UTC().Format("2006-01-02T15:04:05.000Z")
	for i, dl := range dls {
		id := dl.Doc.ID
		if id == "" {
			id = shipper.DocID(dl.Doc.Pos, dl.Doc.Entry)
		}
		typ, reason := splitReason(dl.Reason)
		d := DeadLetterDoc{
			Timestamp: now,
			Original:  string(dl.Doc.Original),
			Document:  string(dl.Doc.Body),
			Error:     DeadLetterError{Type: typ, Reason: reason, Status: dl.Status},
			Input: DeadLetterInput{
				Topic:     dl.Doc.Pos.Topic,
				Partition: dl.Doc.Pos.Partition,
				Offset:    dl.Doc.Pos.Offset,
				Entry:     dl.Doc.Entry,
			},
			DocID:  id,
			Stream: dl.Doc.Stream,
			Event:  eventBlock{Kind: "pipeline_error"},
		}
		if !utf8.Valid(dl.Doc.Original) {
			d.OriginalBase64 = base64.StdEncoding.EncodeToString(dl.Doc.Original)
		}
		body, err := json.Marshal(d)
		if err != nil { // cannot happen for strings and ints
			return fmt.Errorf("elastic: encoding dead letter %s: %w", id, err)
		}
		docs[i] = shipper.Doc{ID: id, Stream: s.cfg.DeadLetterIndex, Body: body, Pos: dl.Doc.Pos, Entry: dl.Doc.Entry}
	}
	if err := s.WriteBatch(ctx, docs); err != nil {
		return fmt.Errorf("elastic: storing %d dead letters in %s: %w", len(dls), s.cfg.DeadLetterIndex, err)
	}
	return nil
}

// splitReason splits an ItemError.Reason of the form "type: reason" (the
// form this package produces) into its parts; a reason without a type
// prefix keeps an empty type.
func splitReason(r string) (typ, reason string) {
	t, rest, ok := strings.Cut(r, ": ")
	if !ok || t == "" {
		return "", r
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return "", r
		}
	}
	return t, rest
}
