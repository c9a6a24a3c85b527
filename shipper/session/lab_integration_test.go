package session

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/exim/eximlab"
	"github.com/eximship/eximship/shipper/stacktest"
)

var tagRE = regexp.MustCompile(`\b(s\d\d)-(?:\d+|m\d+)@`)

// TestLabSessionsIntegration runs the session-truth script of eximlab
// against a real Exim once per log_selector variant (default; +pid;
// +incoming_port; +smtp_connection; +pid +smtp_connection; all of them
// with +smtp_incomplete_transaction and +smtp_no_mail) and checks the
// tracker against what the clients did:
//
//   - every line that names a session (its tagged recipients and message
//     ids) or its client port has a session id;
//   - where the tracker claims exactness (not inferred), one id is one
//     connection and one connection one id;
//   - the summaries of exact sessions equal the truth (transactions,
//     rejected RCPTs, distinct MAIL FROMs); a RSET followed by the same
//     sender counts as one transaction unless the log has
//     +smtp_incomplete_transaction (the documented limit);
//   - with +smtp_connection, +pid or +incoming_port, no line is inferred
//     except where two connections of one address overlap and only
//     connection lines identify them;
//   - reject-log entries have their main-log twin's session;
//   - where sessions are inferred, their accuracy is measured (logged, and
//     written to $EXIMSHIP_SESSIONS_REPORT when set, for docs/SESSIONS.md),
//     and the heuristic must beat grouping by client address alone.
func TestLabSessionsIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	if _, err := eximlab.FindExim(); err != nil {
		stacktest.Skip(t, "%v", err)
	}
	variants := eximlab.SessionVariants()
	rows := make([]string, len(variants))
	t.Run("variants", func(t *testing.T) {
		for i, v := range variants {
			t.Run(v.Name, func(t *testing.T) {
				t.Parallel() // one Exim daemon each
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				mainlog, rejectlog, truth, err := eximlab.RunSessions(ctx, v)
				if err != nil {
					t.Fatal(err)
				}
				tr := newTracker(t, Config{RejectLog: true}) // the whole main log, then the reject log
				obs := track(t, tr, "mx.example.org", mainlog, rejectlog)
				m := checkLab(t, v, obs, truth)
				rows[i] = fmt.Sprintf("| %s | `%s` | %d | %d | %d | %d (%.0f%%) | %.3f | %.3f | %.3f / %.3f | %d |\n", v.Name, v.LogSelector,
					m.lines, m.inferred, len(truth), m.recovered, 100*float64(m.recovered)/float64(len(truth)), m.precision, m.recall,
					m.ipPrecision, m.ipRecall, m.summaries)
			})
		}
	})
	var report strings.Builder
	report.WriteString("| variant | log_selector | session lines | inferred | sessions | exactly recovered | pair precision | pair recall | by address: precision / recall | summaries checked |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		report.WriteString(r)
	}
	t.Logf("session accuracy on the lab script:\n%s", report.String())
	if p := os.Getenv("EXIMSHIP_SESSIONS_REPORT"); p != "" {
		if err := os.WriteFile(p, []byte(report.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type labMeasure struct {
	lines, inferred, recovered, summaries    int
	precision, recall, ipPrecision, ipRecall float64
}

func checkLab(t *testing.T, v eximlab.Variant, obs []observed, truth []eximlab.SessionTruth) labMeasure {
	t.Helper()
	byTag := map[string]int{}
	byPort := map[string]int{}
	for i, s := range truth {
		byTag[s.Tag] = i
		byPort[fmt.Sprintf("%s:%d", s.Source, s.Port)] = i
	}
	// the truth of a main-log line: its tag, else its client port
	truthOf := func(o observed) (int, bool) {
		if m := tagRE.FindStringSubmatch(o.line); m != nil {
			i, ok := byTag[m[1]]
			return i, ok
		}
		if o.port > 0 {
			i, ok := byPort[fmt.Sprintf("%s:%d", o.ip, o.port)]
			return i, ok
		}
		return 0, false
	}
	incomplete := strings.Contains(v.LogSelector, "smtp_incomplete_transaction")
	identified := strings.Contains(v.LogSelector, "pid") || strings.Contains(v.LogSelector, "port")
	connLines := strings.Contains(v.LogSelector, "smtp_connection")

	idTruth := map[string]int{}          // exact id -> truth session
	truthID := map[int]string{}          // truth session -> exact id
	inferredIn := map[int]bool{}         // truth sessions with inferred lines
	summaryOf := map[string][]observed{} // session id -> its summary lines
	mainID := map[string]string{}        // rejection id -> session id of the main-log line
	var tagged []labLine
	var m labMeasure
	for _, o := range obs {
		if o.dataset == "exim.reject" {
			if o.rejectID != "" && mainID[o.rejectID] != o.session.ID {
				t.Errorf("reject-log entry has session %q, its main-log twin %q: %s", o.session.ID, mainID[o.rejectID], o.line)
			}
			continue
		}
		if o.session.ID != "" {
			m.lines++
			if o.session.Inferred {
				m.inferred++
			}
		}
		if o.rejectID != "" {
			mainID[o.rejectID] = o.session.ID
		}
		if o.session.Summary {
			// (often a line that names no session: "closed by QUIT")
			summaryOf[o.session.ID] = append(summaryOf[o.session.ID], o)
		}
		ti, known := truthOf(o)
		if !known {
			continue
		}
		if o.session.ID == "" {
			t.Errorf("line of session %s without a session id: %s", truth[ti].Tag, o.line)
			continue
		}
		if tagRE.MatchString(o.line) {
			tagged = append(tagged, labLine{truth: ti, id: o.session.ID})
		}
		if o.session.Inferred {
			inferredIn[ti] = true
			if identified || connLines && !truth[ti].Concurrent {
				t.Errorf("inferred line in a log that identifies its connection (session %s): %s", truth[ti].Tag, o.line)
			}
		} else {
			if prev, ok := idTruth[o.session.ID]; ok && prev != ti {
				t.Errorf("exact session %s holds lines of sessions %s and %s: %s", o.session.ID, truth[prev].Tag, truth[ti].Tag, o.line)
			}
			if prev, ok := truthID[ti]; ok && prev != o.session.ID {
				t.Errorf("session %s split into exact sessions %s and %s: %s", truth[ti].Tag, prev, o.session.ID, o.line)
			}
			idTruth[o.session.ID], truthID[ti] = ti, o.session.ID
		}
	}
	for ti, s := range truth {
		var sums []observed
		if id, ok := truthID[ti]; ok {
			sums = summaryOf[id]
		}
		if len(sums) > 1 {
			t.Errorf("session %s has %d summaries", s.Tag, len(sums))
		}
		if (connLines || identified && ti == dropped(truth)) && !inferredIn[ti] && len(sums) == 0 {
			t.Errorf("exact session %s (%s) has no summary", s.Tag, s.Source)
		}
		if len(sums) == 0 || inferredIn[ti] {
			continue
		}
		want := s.Transactions
		if s.RepeatedSender && !incomplete {
			want-- // the log cannot show the RSET
		}
		m.summaries++
		got := sums[0].session
		if got.Transactions != want || got.RcptRejected != s.RcptRejected || got.MailFroms != s.MailFroms {
			t.Errorf("session %s: summary transactions %d, rcpt_rejected %d, mail_froms %d; truth %d, %d, %d",
				s.Tag, got.Transactions, got.RcptRejected, got.MailFroms, want, s.RcptRejected, s.MailFroms)
		}
	}
	m.precision, m.recall, m.recovered = pairScores(tagged, func(l labLine) string { return l.id })
	// the baseline: one session per client address
	m.ipPrecision, m.ipRecall, _ = pairScores(tagged, func(l labLine) string { return truth[l.truth].Source })
	if m.inferred > 0 {
		f := func(p, r float64) float64 { return 2 * p * r / (p + r) }
		if f(m.precision, m.recall) <= f(m.ipPrecision, m.ipRecall) {
			t.Errorf("inferred sessions: F1 %.3f, no better than grouping by address (%.3f)", f(m.precision, m.recall), f(m.ipPrecision, m.ipRecall))
		}
	}
	t.Logf("%s: %d session lines (%d inferred), %d of %d sessions recovered exactly, pair precision %.3f recall %.3f (by address alone: %.3f %.3f)",
		v.Name, m.lines, m.inferred, m.recovered, len(truth), m.precision, m.recall, m.ipPrecision, m.ipRecall)
	return m
}

// dropped returns the session the script ends with a drop (a closing line
// in every variant), -1 if none.
func dropped(truth []eximlab.SessionTruth) int {
	for i, s := range truth {
		if s.Helo == "ADMIN-PC" && s.Source == "127.1.5.2" {
			return i
		}
	}
	return -1
}

type labLine struct {
	truth int
	id    string
}

// pairScores compares a grouping of lines (group) with the truth over all
// pairs of lines: precision is the share of pairs grouped together that
// belong to one session, recall the share of pairs of one session that are
// grouped together. recovered counts the sessions whose lines form exactly
// one group.
func pairScores(lines []labLine, group func(labLine) string) (precision, recall float64, recovered int) {
	var together, same, both int
	for i := range lines {
		for j := i + 1; j < len(lines); j++ {
			g := group(lines[i]) == group(lines[j])
			s := lines[i].truth == lines[j].truth
			if g {
				together++
			}
			if s {
				same++
			}
			if g && s {
				both++
			}
		}
	}
	precision, recall = 1, 1
	if together > 0 {
		precision = float64(both) / float64(together)
	}
	if same > 0 {
		recall = float64(both) / float64(same)
	}
	groups := map[string]map[int]bool{} // group -> truth sessions
	sessions := map[int]map[string]bool{}
	for _, l := range lines {
		g := group(l)
		if groups[g] == nil {
			groups[g] = map[int]bool{}
		}
		groups[g][l.truth] = true
		if sessions[l.truth] == nil {
			sessions[l.truth] = map[string]bool{}
		}
		sessions[l.truth][g] = true
	}
	for _, gs := range sessions {
		if len(gs) != 1 {
			continue
		}
		for g := range gs {
			if len(groups[g]) == 1 {
				recovered++
			}
		}
	}
	return precision, recall, recovered
}
