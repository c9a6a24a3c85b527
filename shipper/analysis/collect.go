package analysis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Collector makes Facts of eximship's documents, one JSON object each,
// exactly as `eximship parse` prints them and `eximship run` indexes them.
// It reads the fields Elasticsearch aggregates, with Elasticsearch's rules:
// a keyword longer than KeywordLimit is missing, an array contributes one
// group per combination of its values.
//
// Documents of the main log and of the reject log are collected apart;
// Facts counts the main log's, or the reject log's when no main-log
// document was in the window (the same rejection is in both logs).
//
// A Collector is not safe for concurrent use.
type Collector struct {
	relay        Relay
	since, until int64 // epoch ms; 0: unbounded
	sets         [2]factSet
}

type factSet struct {
	docs     int64 // documents of the dataset in the window
	attempts map[attemptKey]*Attempt
	sessions map[sessionKey]int64
	slots    map[int64]int64
}

type sessionKey struct {
	ip, id   string
	inferred bool
}

const (
	setMain = iota
	setReject
)

var datasets = [2]string{"exim.main", "exim.reject"}

// CollectorConfig configures a Collector.
type CollectorConfig struct {
	// LocalDomains decide what a relay attempt is (see Relay). Default:
	// none.
	LocalDomains []string
	// Since and Until bound @timestamp to [Since, Until); zero is
	// unbounded.
	Since, Until time.Time
}

// NewCollector returns an empty Collector.
func NewCollector(c CollectorConfig) *Collector {
	col := &Collector{relay: NewRelay(c.LocalDomains)}
	if !c.Since.IsZero() {
		col.since = millis(c.Since)
	}
	if !c.Until.IsZero() {
		col.until = millis(c.Until)
	}
	for i := range col.sets {
		col.sets[i] = factSet{attempts: map[attemptKey]*Attempt{}, sessions: map[sessionKey]int64{}, slots: map[int64]int64{}}
	}
	return col
}

// document is the part of an eximship document the report reads.
type document struct {
	Timestamp  string `json:"@timestamp"`
	Event      struct{ Action string }
	DataStream struct{ Dataset string } `json:"data_stream"`
	Source     struct{ Address strs }
	Email      struct {
		From struct{ Address strs }
		To   struct{ Address strs }
	}
	Exim struct {
		Sender struct {
			Null   bools
			Admin  bools
			Domain strs
		}
		Rcpt    struct{ Domain strs }
		Reason  strs
		Session struct {
			ID       strs
			Inferred bools
		}
	}
}

// multi is a field as a document may hold it: one value, an array of
// values (nulls skipped), null or absent.
type multi[T any] []T

func (m *multi[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '[':
		var v []*T
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		for _, x := range v {
			if x != nil {
				*m = append(*m, *x)
			}
		}
		return nil
	case bytes.Equal(b, []byte("null")):
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*m = multi[T]{v}
	return nil
}

// strs is a keyword field.
type strs = multi[string]

// bools is a boolean field.
type bools = multi[bool]

// keywords returns the doc values of a keyword field: "" alone when
// missing.
func keywords(s strs) []string {
	var out []string
	for _, v := range s {
		if v = keyword(v); v != "" {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return []string{""}
	}
	return out
}

// booleans returns the distinct values of a boolean field (a missing field
// is false, like a missing bucket that the report reads as false).
func booleans(s bools) []bool {
	t, f := false, false
	for _, v := range s {
		if v {
			t = true
		} else {
			f = true
		}
	}
	switch {
	case t && f:
		return []bool{false, true}
	case t:
		return []bool{true}
	}
	return []bool{false}
}

var (
	actionRcptRejected = []byte(`"action":"rcpt-rejected"`)
	// ErrNotDocument is returned for input that is not an eximship
	// document (not a JSON object with a valid @timestamp).
	ErrNotDocument = errors.New("not an eximship document")
)

// Add reads one document. Documents other than rejected RCPTs only count
// towards their dataset's presence in the window.
func (c *Collector) Add(doc []byte) error {
	if !bytes.Contains(doc, actionRcptRejected) {
		// Only the time and the dataset matter: read just those.
		ts, ds, ok := quickFields(doc)
		if !ok {
			var d struct {
				Timestamp  string                   `json:"@timestamp"`
				DataStream struct{ Dataset string } `json:"data_stream"`
			}
			if err := json.Unmarshal(doc, &d); err != nil {
				return fmt.Errorf("%w: %w", ErrNotDocument, err)
			}
			ts, ds = d.Timestamp, d.DataStream.Dataset
		}
		t, err := parseTimestamp(ts)
		if err != nil {
			return err
		}
		if set := c.set(ds); set != nil && c.inWindow(t) {
			set.docs++
		}
		return nil
	}
	var d document
	if err := json.Unmarshal(doc, &d); err != nil {
		return fmt.Errorf("%w: %w", ErrNotDocument, err)
	}
	t, err := parseTimestamp(d.Timestamp)
	if err != nil {
		return err
	}
	set := c.set(d.DataStream.Dataset)
	if set == nil || !c.inWindow(t) {
		return nil
	}
	set.docs++
	if d.Event.Action != "rcpt-rejected" {
		return nil
	}
	if !c.relayDoc(&d) {
		return nil
	}
	// One group per combination of values, as a composite aggregation
	// makes (every field here has one value in eximship's documents).
	for _, ip := range keywords(d.Source.Address) {
		for _, from := range keywords(d.Email.From.Address) {
			for _, to := range keywords(d.Email.To.Address) {
				for _, sdom := range keywords(d.Exim.Sender.Domain) {
					for _, rdom := range keywords(d.Exim.Rcpt.Domain) {
						for _, null := range booleans(d.Exim.Sender.Null) {
							for _, admin := range booleans(d.Exim.Sender.Admin) {
								k := attemptKey{ip, from, to, sdom, rdom, null, admin}
								a := set.attempts[k]
								if a == nil {
									a = &Attempt{SourceIP: ip, Sender: from, NullSender: null, Recipient: to,
										SenderDomain: sdom, RecipientDomain: rdom, SenderAdmin: admin, First: t, Last: t}
									set.attempts[k] = a
								}
								a.Count++
								a.First, a.Last = min(a.First, t), max(a.Last, t)
							}
						}
					}
				}
			}
		}
	}
	for _, ip := range keywords(d.Source.Address) {
		for _, id := range keywords(d.Exim.Session.ID) {
			for _, inf := range booleans(d.Exim.Session.Inferred) {
				set.sessions[sessionKey{ip, id, inf}]++
			}
		}
	}
	set.slots[SlotOf(t)]++
	return nil
}

// relayDoc applies Relay to a rejected RCPT document as the
// Elasticsearch query does (shipper/esreport): with local domains, it has
// a recipient domain and none of its recipient domains is local; without,
// a reason has the phrase.
func (c *Collector) relayDoc(d *document) bool {
	if len(c.relay.Local) == 0 {
		for _, r := range d.Exim.Reason {
			if c.relay.Attempt("", r) {
				return true
			}
		}
		return false
	}
	for _, dom := range keywords(d.Exim.Rcpt.Domain) {
		if !c.relay.Attempt(dom, "") {
			return false
		}
	}
	return true
}

func (c *Collector) set(dataset string) *factSet {
	for i, ds := range datasets {
		if ds == dataset {
			return &c.sets[i]
		}
	}
	return nil
}

func (c *Collector) inWindow(ms int64) bool {
	return (c.since == 0 || ms >= c.since) && (c.until == 0 || ms < c.until)
}

// Facts returns what was collected: the main log's facts, or the reject
// log's when no main-log document was in the window.
func (c *Collector) Facts() Facts {
	i := setMain
	if c.sets[setMain].docs == 0 {
		i = setReject
	}
	set := &c.sets[i]
	f := Facts{}
	if set.docs > 0 {
		f.Dataset = datasets[i]
	}
	for _, a := range set.attempts {
		f.Attempts = append(f.Attempts, *a)
	}
	for k, n := range set.sessions {
		f.Sessions = append(f.Sessions, Session{SourceIP: k.ip, ID: k.id, Inferred: k.inferred, RCPTs: n})
	}
	for s, n := range set.slots {
		f.Slots = append(f.Slots, Slot{Start: s, Attempts: n})
	}
	return f
}

// quickFields reads @timestamp and data_stream.dataset from a document as
// eximship's encoder writes it (@timestamp first, data_stream last)
// without decoding it.
func quickFields(doc []byte) (ts, dataset string, ok bool) {
	const head = `{"@timestamp":"`
	if !bytes.HasPrefix(doc, []byte(head)) {
		return "", "", false
	}
	rest := doc[len(head):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return "", "", false
	}
	ts = string(rest[:end])
	const ds = `,"data_stream":{"type":"logs","dataset":"`
	i := bytes.LastIndex(doc, []byte(ds))
	if i < 0 {
		return ts, "", true
	}
	rest = doc[i+len(ds):]
	end = bytes.IndexByte(rest, '"')
	if end < 0 {
		return "", "", false
	}
	return ts, string(rest[:end]), true
}

// parseTimestamp parses @timestamp (RFC 3339) to epoch ms.
func parseTimestamp(s string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("%w: @timestamp %q: %w", ErrNotDocument, s, err)
	}
	return t.UnixMilli(), nil
}
