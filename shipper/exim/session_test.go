package exim

import (
	"encoding/json"
	"testing"
	"time"
)

// TestAppendSession: the session member as one run of bytes, with its
// summary, and a valid document whatever the id holds.
func TestAppendSession(t *testing.T) {
	for _, s := range []Session{
		{ID: "0123456789abcdef0123"},
		{ID: "0123456789abcdef0123", Inferred: true, Summary: true, Transactions: 2, RcptRejected: 5, MailFroms: 1, Duration: time.Second},
		{ID: `odd "id" \ with </escapes>` + "\x01"},
	} {
		var r Record
		r.Time = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		r.Action = ActionRcptRejected
		r.Session = s
		doc := r.AppendJSON(nil)
		var d struct {
			Event struct{ Duration int64 } `json:"event"`
			Exim  struct {
				Session struct {
					ID           string `json:"id"`
					Inferred     bool   `json:"inferred"`
					Transactions *int   `json:"transactions"`
					RcptRejected int    `json:"rcpt_rejected"`
					MailFroms    int    `json:"mail_froms"`
				} `json:"session"`
			} `json:"exim"`
		}
		if err := json.Unmarshal(doc, &d); err != nil {
			t.Fatalf("%v: %s", err, doc)
		}
		got := d.Exim.Session
		if got.ID != s.ID || got.Inferred != s.Inferred || (got.Transactions != nil) != s.Summary {
			t.Errorf("session %+v written as %s", s, doc)
		}
		if s.Summary && (*got.Transactions != s.Transactions || got.RcptRejected != s.RcptRejected || got.MailFroms != s.MailFroms || d.Event.Duration != int64(s.Duration)) {
			t.Errorf("summary %+v written as %s", s, doc)
		}
	}
}
