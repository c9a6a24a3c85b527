package mapping_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper/analysis"
)

// TestSourcesDocumentsMapped: every field of the per-source entity
// documents (analysis.EntityDocs) is mapped by the eximship-sources
// template with a type its values fit, and every mapped field is written
// (the mapping documents nothing that does not exist).
func TestSourcesDocumentsMapped(t *testing.T) {
	fields, err := mapping.SourcesFields()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 17, 45, 0, 0, time.UTC)
	at := func(ip, from, to string, null bool, n int64) analysis.Attempt {
		return analysis.Attempt{SourceIP: ip, Sender: from, NullSender: null, Recipient: to, SenderDomain: "example.org",
			RecipientDomain: "gmail.example", SenderAdmin: from != "", Count: n, First: t0.UnixMilli(), Last: t0.UnixMilli() + 1000}
	}
	facts := analysis.Facts{
		Dataset: "exim.main",
		Attempts: []analysis.Attempt{
			at("127.0.0.20", "root@example.org", "v1@gmail.example", false, 2),
			at("127.0.0.20", "", "v2@gmail.example", true, 1),
			at("2001:db8::1", "info@example.org", "v1@gmail.example", false, 1),
		},
		Sessions: []analysis.Session{{SourceIP: "127.0.0.20", ID: "mx:1", RCPTs: 3}, {SourceIP: "2001:db8::1", ID: "mx:2", Inferred: true, RCPTs: 1}},
	}
	rep, err := analysis.Compute(analysis.Config{LocalDomains: []string{"example.org"}}, facts)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := analysis.EntityDocs(rep, "test", t0.Truncate(24*time.Hour), t0.Truncate(24*time.Hour).Add(24*time.Hour), t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("%d entity documents for 2 sources", len(docs))
	}
	seen := map[string]bool{}
	for _, d := range docs {
		var m map[string]any
		if err := json.Unmarshal(d.Body, &m); err != nil {
			t.Fatal(err)
		}
		leaves("", m, func(p string, v any) {
			seen[p] = true
			typ, ok := fields[p]
			switch {
			case !ok:
				t.Errorf("entity field %s is not mapped", p)
			case !fits(typ, v):
				t.Errorf("entity field %s: %v does not fit %s", p, v, typ)
			}
		})
	}
	for p := range fields {
		if !seen[p] {
			t.Errorf("mapped field %s is never written", p)
		}
	}
}
