package esreport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/eximship/eximship/shipper/analysis"
)

// Page is one decoded page of a composite aggregation named "c".
type Page struct {
	Took     time.Duration
	AfterKey json.RawMessage // nil on the last page
	Buckets  []bucket
}

type bucket struct {
	Key      *bucketKey `json:"key"`
	DocCount *int64     `json:"doc_count"`
	First    *metric    `json:"first"`
	Last     *metric    `json:"last"`
}

// bucketKey holds the keys of every composite esreport asks for (the
// source names of attemptSources, sessionSources, slotSources), decoded in
// one pass; a nil pointer is the missing bucket (null) or a key the
// composite does not have.
type bucketKey struct {
	IP    *string `json:"ip"`
	From  *string `json:"from"`
	Null  *bool   `json:"null"`
	To    *string `json:"to"`
	Sdom  *string `json:"sdom"`
	Rdom  *string `json:"rdom"`
	Admin *bool   `json:"admin"`
	Sid   *string `json:"sid"`
	Inf   *bool   `json:"inf"`
	Slot  *int64  `json:"slot"`
}

type metric struct {
	Value *float64 `json:"value"`
}

type shards struct {
	Total   int `json:"total"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	// Failures are the first shard failures, kept for the error.
	Failures []json.RawMessage `json:"failures"`
}

// check fails when any shard failed: a partial answer would make the
// report's figures wrong.
func (s shards) check() error {
	if s.Failed == 0 {
		return nil
	}
	msg := ""
	if len(s.Failures) > 0 {
		msg = ": " + errorText(append([]byte(`{"error":`), append(bytes.Clone(s.Failures[0]), '}')...))
	}
	return fmt.Errorf("%d of %d shards failed%s", s.Failed, s.Total, msg)
}

// DecodePage decodes a search answer holding the composite aggregation
// "c". It fails on timed-out or partial answers and on a missing
// aggregation.
func DecodePage(body []byte) (Page, error) {
	var r struct {
		Took     *int64 `json:"took"`
		TimedOut bool   `json:"timed_out"`
		Shards   shards `json:"_shards"`
		Aggs     struct {
			C *struct {
				AfterKey json.RawMessage `json:"after_key"`
				Buckets  []bucket        `json:"buckets"`
			} `json:"c"`
		} `json:"aggregations"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return Page{}, fmt.Errorf("decode composite page: %w", err)
	}
	if r.TimedOut {
		return Page{}, errors.New("the search timed out: the answer would be partial")
	}
	if err := r.Shards.check(); err != nil {
		return Page{}, err
	}
	if r.Aggs.C == nil {
		return Page{}, errors.New("the answer has no composite aggregation")
	}
	p := Page{Buckets: r.Aggs.C.Buckets}
	if r.Took != nil && *r.Took > 0 {
		p.Took = time.Duration(*r.Took) * time.Millisecond
	}
	if a := bytes.TrimSpace(r.Aggs.C.AfterKey); len(a) > 0 && !bytes.Equal(a, []byte("null")) {
		p.AfterKey = r.Aggs.C.AfterKey
	}
	for i := range p.Buckets {
		if p.Buckets[i].Key == nil || p.Buckets[i].DocCount == nil || *p.Buckets[i].DocCount < 0 {
			return Page{}, fmt.Errorf("bucket %d has no key or no doc_count", i)
		}
	}
	return p, nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func boolean(p *bool) bool { return p != nil && *p }

func (m *metric) millis(name string) (int64, error) {
	if m == nil || m.Value == nil {
		return 0, fmt.Errorf("bucket has no %q value", name)
	}
	v := *m.Value
	if math.IsNaN(v) || math.IsInf(v, 0) || v < -1e15 || v > 1e15 {
		return 0, fmt.Errorf("bucket %q value %v is not a time", name, v)
	}
	return int64(v), nil
}

func (b *bucket) attempt() (analysis.Attempt, error) {
	k := b.Key
	a := analysis.Attempt{SourceIP: str(k.IP), Sender: str(k.From), NullSender: boolean(k.Null), Recipient: str(k.To),
		SenderDomain: str(k.Sdom), RecipientDomain: str(k.Rdom), SenderAdmin: boolean(k.Admin), Count: *b.DocCount}
	var err error
	if a.First, err = b.First.millis("first"); err != nil {
		return a, err
	}
	if a.Last, err = b.Last.millis("last"); err != nil {
		return a, err
	}
	return a, nil
}

func (b *bucket) session() (analysis.Session, error) {
	k := b.Key
	return analysis.Session{SourceIP: str(k.IP), ID: str(k.Sid), Inferred: boolean(k.Inf), RCPTs: *b.DocCount}, nil
}

func (b *bucket) slot() (analysis.Slot, error) {
	if b.Key.Slot == nil {
		return analysis.Slot{}, errors.New(`bucket key has no "slot"`)
	}
	return analysis.Slot{Start: *b.Key.Slot, Attempts: *b.DocCount}, nil
}
