package analysis

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// rejDoc is a rejected RCPT document as eximship's encoder writes it
// (field order and data_stream last, as shipper/exim does).
func rejDoc(ts, ds, ip, from, to, rdom, reason, extraExim string) string {
	sender := `"sender":{"null":true}`
	email := `"email":{"to":{"address":[` + q(to) + `]}}`
	if from != "" {
		dom := from[strings.LastIndexByte(from, '@')+1:]
		sender = `"sender":{"domain":` + q(dom) + `,"registered_domain":` + q(dom) + `}`
		email = `"email":{"from":{"address":[` + q(from) + `]},"to":{"address":[` + q(to) + `]}}`
	}
	src := ""
	if ip != "" {
		src = `"source":{"ip":` + q(ip) + `,"address":` + q(ip) + `},`
	}
	if extraExim != "" {
		extraExim = "," + extraExim
	}
	return `{"@timestamp":"` + ts + `","event":{"module":"exim","action":"rcpt-rejected","kind":"event","dataset":"` + ds +
		`","original":"x"},` + src + email + `,"exim":{` + sender + `,"rcpt":{"domain":` + q(rdom) + `},"reason":` + q(reason) + extraExim +
		`},"data_stream":{"type":"logs","dataset":"` + ds + `","namespace":"default"}}`
}

func q(s string) string { return fmt.Sprintf("%q", s) }

func otherDoc(ts, ds string) string {
	return `{"@timestamp":"` + ts + `","event":{"module":"exim","action":"smtp-connection","dataset":"` + ds +
		`"},"data_stream":{"type":"logs","dataset":"` + ds + `","namespace":"default"}}`
}

func collect(t *testing.T, c CollectorConfig, docs ...string) Facts {
	t.Helper()
	col := NewCollector(c)
	for _, d := range docs {
		if err := col.Add([]byte(d)); err != nil {
			t.Fatalf("Add(%s): %v", d, err)
		}
	}
	f := col.Facts()
	slices.SortFunc(f.Attempts, func(a, b Attempt) int {
		return cmp.Or(strings.Compare(a.SourceIP, b.SourceIP), strings.Compare(a.Sender, b.Sender), strings.Compare(a.Recipient, b.Recipient))
	})
	slices.SortFunc(f.Sessions, func(a, b Session) int {
		return cmp.Or(strings.Compare(a.SourceIP, b.SourceIP), strings.Compare(a.ID, b.ID))
	})
	slices.SortFunc(f.Slots, func(a, b Slot) int { return int(a.Start - b.Start) })
	return f
}

const (
	ts1 = "2026-11-25T17:45:01.000Z"
	ts2 = "2026-11-25T17:45:02.250Z"
	ts3 = "2026-11-26T09:00:00.000Z"
)

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func TestCollector(t *testing.T) {
	sess := func(id string, inferred bool) string {
		s := `"session":{"id":` + q(id)
		if inferred {
			s += `,"inferred":true`
		}
		return s + `}`
	}
	docs := []string{
		otherDoc(ts1, "exim.main"),
		rejDoc(ts1, "exim.main", "127.0.0.20", "root@example.org", "v1@gmail.example", "gmail.example", "relay not permitted", sess("h:1", false)),
		rejDoc(ts2, "exim.main", "127.0.0.20", "root@example.org", "v1@gmail.example", "gmail.example", "relay not permitted", sess("h:1", false)),
		rejDoc(ts3, "exim.main", "127.0.0.20", "", "v2@yahoo.example", "yahoo.example", "relay not permitted", sess("h:2", true)),
		// a local recipient: not a relay attempt with local domains
		rejDoc(ts1, "exim.main", "127.0.0.12", "dave@partner.test", "gone@example.org", "example.org", "this user has left", ""),
		// the reject-log twin of the first: never counted beside the main log
		rejDoc(ts1, "exim.reject", "127.0.0.20", "root@example.org", "v1@gmail.example", "gmail.example", "relay not permitted", ""),
		// no source address
		rejDoc(ts1, "exim.main", "", "x@y.test", "v3@gmail.example", "gmail.example", "relay not permitted", ""),
	}
	f := collect(t, CollectorConfig{LocalDomains: []string{"example.org"}}, docs...)
	want := Facts{
		Dataset: "exim.main",
		Attempts: []Attempt{
			{SourceIP: "", Sender: "x@y.test", Recipient: "v3@gmail.example", SenderDomain: "y.test", RecipientDomain: "gmail.example", Count: 1, First: ms(ts1), Last: ms(ts1)},
			{SourceIP: "127.0.0.20", Sender: "", NullSender: true, Recipient: "v2@yahoo.example", RecipientDomain: "yahoo.example", Count: 1, First: ms(ts3), Last: ms(ts3)},
			{SourceIP: "127.0.0.20", Sender: "root@example.org", Recipient: "v1@gmail.example", SenderDomain: "example.org", RecipientDomain: "gmail.example", Count: 2, First: ms(ts1), Last: ms(ts2)},
		},
		Sessions: []Session{{"", "", false, 1}, {"127.0.0.20", "h:1", false, 2}, {"127.0.0.20", "h:2", true, 1}},
		Slots:    []Slot{{SlotOf(ms(ts1)), 3}, {SlotOf(ms(ts3)), 1}},
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("facts:\n%+v\nwant\n%+v", f, want)
	}

	// Without local domains the reason decides: the local recipient's
	// "this user has left" is not an attempt either.
	if g := collect(t, CollectorConfig{}, docs...); !reflect.DeepEqual(g.Attempts, want.Attempts) {
		t.Errorf("without local domains:\n%+v\nwant\n%+v", g.Attempts, want.Attempts)
	}

	// The window: [since, until).
	w := collect(t, CollectorConfig{LocalDomains: []string{"example.org"}, Since: time.UnixMilli(ms(ts2)), Until: time.UnixMilli(ms(ts3))}, docs...)
	if len(w.Attempts) != 1 || w.Attempts[0].Count != 1 || w.Attempts[0].First != ms(ts2) {
		t.Errorf("window [ts2, ts3): %+v, want the ts2 attempt alone", w.Attempts)
	}

	// Only a reject log: its entries count.
	r := collect(t, CollectorConfig{LocalDomains: []string{"example.org"}}, docs[5], otherDoc(ts1, "exim.panic"))
	if r.Dataset != "exim.reject" || len(r.Attempts) != 1 || r.Attempts[0].Count != 1 {
		t.Errorf("reject log alone: %+v", r)
	}
	// A main log with documents in the window but no rejection: the
	// reject log still does not count (main is authoritative).
	m := collect(t, CollectorConfig{}, otherDoc(ts1, "exim.main"), docs[5])
	if m.Dataset != "exim.main" || len(m.Attempts) != 0 {
		t.Errorf("main log without rejections beside a reject log: %+v", m)
	}
	if e := collect(t, CollectorConfig{}); e.Dataset != "" || e.Attempts != nil {
		t.Errorf("no documents: %+v", e)
	}
}

func TestCollectorElasticsearchRules(t *testing.T) {
	long := strings.Repeat("a", KeywordLimit) + "@gmail.example"
	// Arrays make one group per value; a keyword longer than
	// ignore_above is missing (Elasticsearch does not index it).
	doc := `{"@timestamp":"` + ts1 + `","event":{"action":"rcpt-rejected"},"source":{"address":"10.0.0.1"},` +
		`"email":{"from":{"address":["a@x.test","b@x.test"]},"to":{"address":["` + long + `"]}},` +
		`"exim":{"sender":{"domain":"x.test","admin":[true]},"rcpt":{"domain":"gmail.example"},"reason":"relay not permitted"},` +
		`"data_stream":{"type":"logs","dataset":"exim.main","namespace":"x"}}`
	f := collect(t, CollectorConfig{LocalDomains: []string{"example.org"}}, doc)
	if len(f.Attempts) != 2 {
		t.Fatalf("two senders: %d groups, want 2: %+v", len(f.Attempts), f.Attempts)
	}
	for _, a := range f.Attempts {
		if a.Recipient != "" || !a.SenderAdmin || a.Count != 1 {
			t.Errorf("group %+v: want the over-long recipient missing, admin true, count 1", a)
		}
	}
	// A multi-valued recipient domain with one local value is not an
	// attempt (must_not matches any value).
	mixed := strings.Replace(doc, `"rcpt":{"domain":"gmail.example"}`, `"rcpt":{"domain":["gmail.example","example.org"]}`, 1)
	if f := collect(t, CollectorConfig{LocalDomains: []string{"example.org"}}, mixed); len(f.Attempts) != 0 {
		t.Errorf("a local recipient domain among two: %+v, want no attempt", f.Attempts)
	}
	// 1024 characters exactly are kept; UTF-16 length counts.
	if keyword(strings.Repeat("a", KeywordLimit)) == "" || keyword(strings.Repeat("é", KeywordLimit)) == "" ||
		keyword(strings.Repeat("😀", KeywordLimit/2+1)) != "" {
		t.Error("keyword limit is not Elasticsearch's ignore_above (UTF-16 code units)")
	}
}

func TestCollectorBadInput(t *testing.T) {
	col := NewCollector(CollectorConfig{})
	for _, bad := range []string{``, `not json`, `{"@timestamp":"yesterday"}`, `{"event":{"action":"rcpt-rejected"},"@timestamp":1}`, `[1,2]`} {
		if err := col.Add([]byte(bad)); !errors.Is(err, ErrNotDocument) {
			t.Errorf("Add(%q) = %v, want ErrNotDocument", bad, err)
		}
	}
}

func FuzzCollectorAdd(f *testing.F) {
	f.Add([]byte(rejDoc(ts1, "exim.main", "127.0.0.20", "root@example.org", "v1@gmail.example", "gmail.example", "relay not permitted", `"session":{"id":"h:1"}`)))
	f.Add([]byte(rejDoc(ts2, "exim.reject", "::1", "", "v1@gmail.example", "gmail.example", "relay not permitted", "")))
	f.Add([]byte(otherDoc(ts1, "exim.main")))
	f.Add([]byte(`{"@timestamp":"2026-11-25T17:45:01Z","event":{"action":"rcpt-rejected"},"email":{"to":{"address":null}},"exim":{"sender":{"null":[true,false]}}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, local := range [][]string{nil, {"example.org"}} {
			col := NewCollector(CollectorConfig{LocalDomains: local})
			if err := col.Add(doc); err != nil {
				if !errors.Is(err, ErrNotDocument) {
					t.Fatalf("Add: error %v is not ErrNotDocument", err)
				}
				continue
			}
			facts := col.Facts()
			// Every attempt is in one slot, and the sessions count each
			// attempt's document once per (ip, id, inferred) value.
			var slots int64
			for _, s := range facts.Slots {
				slots += s.Attempts
			}
			if slots > 1 {
				t.Fatalf("one document in %d slots", slots)
			}
			if _, err := Compute(Config{LocalDomains: local}, facts); err != nil {
				t.Fatalf("Compute: %v", err)
			}
		}
	})
}
