package esreport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
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
	Key      map[string]json.RawMessage `json:"key"`
	DocCount *int64                     `json:"doc_count"`
	First    *metric                    `json:"first"`
	Last     *metric                    `json:"last"`
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

// str reads a keyword key: a string, or "" for the missing bucket (null).
func (b *bucket) str(name string) (string, error) {
	raw, ok := b.Key[name]
	if !ok {
		return "", fmt.Errorf("bucket key has no %q", name)
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("bucket key %q: %w", name, err)
	}
	return s, nil
}

// boolean reads a boolean key: true/false (or 1/0, "true"/"false", as
// some versions write boolean terms), false for the missing bucket.
func (b *bucket) boolean(name string) (bool, error) {
	raw, ok := b.Key[name]
	if !ok {
		return false, fmt.Errorf("bucket key has no %q", name)
	}
	switch string(bytes.TrimSpace(raw)) {
	case "null", "false", "0", `"false"`:
		return false, nil
	case "true", "1", `"true"`:
		return true, nil
	}
	return false, fmt.Errorf("bucket key %q: %s is not a boolean", name, raw)
}

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
	var a analysis.Attempt
	var err error
	strsOf := []struct {
		name string
		dst  *string
	}{{"ip", &a.SourceIP}, {"from", &a.Sender}, {"to", &a.Recipient}, {"sdom", &a.SenderDomain}, {"rdom", &a.RecipientDomain}}
	for _, s := range strsOf {
		if *s.dst, err = b.str(s.name); err != nil {
			return a, err
		}
	}
	if a.NullSender, err = b.boolean("null"); err != nil {
		return a, err
	}
	if a.SenderAdmin, err = b.boolean("admin"); err != nil {
		return a, err
	}
	a.Count = *b.DocCount
	if a.First, err = b.First.millis("first"); err != nil {
		return a, err
	}
	if a.Last, err = b.Last.millis("last"); err != nil {
		return a, err
	}
	return a, nil
}

func (b *bucket) session() (analysis.Session, error) {
	var s analysis.Session
	var err error
	if s.SourceIP, err = b.str("ip"); err != nil {
		return s, err
	}
	if s.ID, err = b.str("sid"); err != nil {
		return s, err
	}
	if s.Inferred, err = b.boolean("inf"); err != nil {
		return s, err
	}
	s.RCPTs = *b.DocCount
	return s, nil
}

func (b *bucket) slot() (analysis.Slot, error) {
	raw, ok := b.Key["slot"]
	if !ok {
		return analysis.Slot{}, errors.New(`bucket key has no "slot"`)
	}
	ms, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		return analysis.Slot{}, fmt.Errorf("bucket key \"slot\" %s: %w", raw, err)
	}
	return analysis.Slot{Start: ms, Attempts: *b.DocCount}, nil
}
