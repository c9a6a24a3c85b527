// Package report writes an analysis.Report for people and programs: an
// aligned plain-text table (the default of `eximship report`), JSON (the
// report's keys, indented) and one self-contained HTML file with inline
// SVG charts and no external assets.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eximship/eximship/shipper/analysis"
)

// Options configure the writers.
type Options struct {
	// Location is the zone times are shown in (table and HTML). Default:
	// UTC. JSON is always UTC.
	Location *time.Location
	// MaxIPs is how many IPs of a campaign the table shows. Default: 8.
	MaxIPs int
}

func (o Options) withDefaults() Options {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.MaxIPs == 0 {
		o.MaxIPs = 8
	}
	return o
}

// JSON writes the report as indented JSON.
func JSON(w io.Writer, r *analysis.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Table writes the report as aligned text.
func Table(w io.Writer, r *analysis.Report, o Options) error {
	o = o.withDefaults()
	t := &textWriter{w: w}
	t.line("eximship report: relay attempts %s", windowText(r, o.Location))
	local := "none (relay attempts are the \"relay not permitted\" rejections)"
	if len(r.LocalDomains) > 0 {
		local = strings.Join(r.LocalDomains, ", ")
	}
	t.line("local domains: %s; counted in %s", local, datasetText(r.Dataset))
	t.line("")

	mdf := "-"
	if m := r.MostDistinctMailFroms; m != nil {
		mdf = fmt.Sprintf("%s: %s MAIL FROMs in %s attempts", m.SourceIP, num(int64(m.MailFroms)), num(m.Attempts))
	}
	sess := fmt.Sprintf("%s sessions", num(int64(r.SMTPSessions.Sessions)))
	switch s := r.SMTPSessions; {
	case s.SessionsExact:
		sess += " (exact)"
	default:
		var why []string
		if s.InferredSessions > 0 {
			why = append(why, num(int64(s.InferredSessions))+" inferred")
		}
		if s.AttemptsWithoutSession > 0 {
			why = append(why, num(s.AttemptsWithoutSession)+" attempts without a session id")
		}
		sess += " (not exact: " + strings.Join(why, ", ") + ")"
	}
	summary := [][]string{
		{"Relay attempts", num(r.RelayAttempts), ""},
		{"Source IPs", num(int64(r.SourceIPs)), fmt.Sprintf("%s seen once", num(int64(r.SingleAttemptIPs)))},
		{"Unique recipients", num(int64(r.UniqueRecipients)), ""},
		{"Unique senders", num(int64(r.UniqueSenders)), "not counting the null sender"},
		{"Null-sender attempts", num(r.NullSenderAttempts), fmt.Sprintf("from %s IPs", num(int64(r.NullSenderIPs)))},
		{"Forged local-sender attempts", num(r.ForgedLocalSenderAttempts), fmt.Sprintf("from %s IPs", num(int64(r.ForgedLocalSenderIPs)))},
		{"SMTP sessions", "", sess},
		{"Most distinct MAIL FROMs", "", mdf},
	}
	if r.AttemptsWithoutSourceIP > 0 {
		summary = append(summary, []string{"Attempts without a source IP", num(r.AttemptsWithoutSourceIP), ""})
	}
	if r.FirstSeen != nil {
		summary = append(summary, []string{"First / last attempt", "", timeText(*r.FirstSeen, o.Location) + " / " + timeText(*r.LastSeen, o.Location)})
	}
	t.table("", nil, []bool{false, true, false}, summary)

	rd := make([][]string, 0, len(r.TopRecipientDomains))
	for _, d := range r.TopRecipientDomains {
		rd = append(rd, []string{d.Domain, num(int64(d.UniqueRecipients)), num(d.Attempts)})
	}
	t.table("Top recipient domains, by unique recipients", []string{"DOMAIN", "UNIQUE RECIPIENTS", "ATTEMPTS"}, []bool{false, true, true}, rd)

	sd := make([][]string, 0, len(r.TopSenderDomains))
	for _, d := range r.TopSenderDomains {
		sd = append(sd, []string{d.Domain, num(int64(d.UniqueSenders)), num(d.Attempts)})
	}
	t.table("Top sender domains, by unique senders", []string{"DOMAIN", "UNIQUE SENDERS", "ATTEMPTS"}, []bool{false, true, true}, sd)

	src := make([][]string, 0, len(r.Sources))
	for _, s := range r.Sources {
		sessions := strconv.Itoa(s.Sessions)
		if !s.SessionsExact {
			sessions += "~"
		}
		src = append(src, []string{s.SourceIP, s.Classification, num(s.Attempts), sessions, num(int64(s.MailFroms)),
			num(int64(s.Recipients)), num(int64(s.RecipientDomains)), timeText(s.FirstSeen, o.Location), timeText(s.LastSeen, o.Location)})
	}
	t.table("Top sources, by attempts (~: sessions not exact)",
		[]string{"SOURCE IP", "CLASSIFICATION", "ATTEMPTS", "SESSIONS", "MAIL FROMS", "RECIPIENTS", "DOMAINS", "FIRST SEEN", "LAST SEEN"},
		[]bool{false, false, true, true, true, true, true, false, false}, src)

	cl := make([][]string, 0, len(r.Classifications))
	for _, c := range r.Classifications {
		cl = append(cl, []string{c.Classification, num(int64(c.SourceIPs)), num(c.Attempts)})
	}
	t.table("Sources by classification", []string{"CLASSIFICATION", "SOURCE IPS", "ATTEMPTS"}, []bool{false, true, true}, cl)

	fl := make([][]string, 0, len(r.TopForgedLocalSenderIPs))
	for _, f := range r.TopForgedLocalSenderIPs {
		fl = append(fl, []string{f.SourceIP, num(f.Attempts), strings.Join(f.MailFroms, " ")})
	}
	t.table("IPs forging local senders", []string{"SOURCE IP", "ATTEMPTS", "MAIL FROMS"}, []bool{false, true, false}, fl)

	nl := make([][]string, 0, len(r.TopNullSenderIPs))
	for _, n := range r.TopNullSenderIPs {
		nl = append(nl, []string{n.SourceIP, num(n.Attempts)})
	}
	t.table("IPs using the null sender <>", []string{"SOURCE IP", "ATTEMPTS"}, []bool{false, true}, nl)

	hist := make([][]string, 0, len(r.SMTPSessions.RCPTsPerSession))
	most := 0
	for _, b := range r.SMTPSessions.RCPTsPerSession {
		most = max(most, b.Sessions)
	}
	for _, b := range r.SMTPSessions.RCPTsPerSession {
		hist = append(hist, []string{num(b.RCPTs), num(int64(b.Sessions)), bar(b.Sessions, most, 40)})
	}
	t.table("Relay attempts (RCPTs) per SMTP session", []string{"RCPTS", "SESSIONS", ""}, []bool{true, true, false}, hist)

	cp := make([][]string, 0, len(r.Campaigns))
	for _, c := range r.Campaigns {
		ips := c.IPs
		more := ""
		if len(ips) > o.MaxIPs {
			more = fmt.Sprintf(" (+%d more)", len(ips)-o.MaxIPs)
			ips = ips[:o.MaxIPs]
		}
		cp = append(cp, []string{c.Kind, c.Target, num(int64(c.SourceIPs)), num(c.Attempts), strings.Join(ips, " ") + more})
	}
	t.table("Campaigns: one recipient or sender pattern tried from several IPs",
		[]string{"KIND", "TARGET", "IPS", "ATTEMPTS", "SOURCE IPS"}, []bool{false, false, true, true, false}, cp)

	days := make([][]string, 0, len(r.AttemptsPerDay))
	most64 := int64(0)
	for _, d := range r.AttemptsPerDay {
		most64 = max(most64, d.Attempts)
	}
	for _, d := range r.AttemptsPerDay {
		days = append(days, []string{d.Day, num(d.Attempts), bar(int(d.Attempts), int(most64), 40)})
	}
	t.table("Relay attempts per day ("+zoneName(o.Location)+")", []string{"DAY", "ATTEMPTS", ""}, []bool{false, true, false}, days)
	return t.err
}

func datasetText(ds string) string {
	switch ds {
	case "":
		return "no documents"
	case "exim.reject":
		return "the reject log (no main-log document in the window)"
	}
	return "the main log"
}

func windowText(r *analysis.Report, loc *time.Location) string {
	since, until := "the beginning", "now"
	if r.Window.Since != nil {
		since = timeText(*r.Window.Since, loc)
	}
	if r.Window.Until != nil {
		until = timeText(*r.Window.Until, loc)
	} else if r.Window.Since == nil {
		return "over the whole input"
	}
	return "from " + since + " to " + until + " (" + zoneName(loc) + ")"
}

// zoneName names loc: its IANA name, or for the machine's zone its
// abbreviation ("CET, local").
func zoneName(loc *time.Location) string {
	if loc.String() != "Local" {
		return loc.String()
	}
	return time.Now().In(loc).Format("MST") + ", local"
}

func timeText(t analysis.Time, loc *time.Location) string {
	return t.T().In(loc).Format(time.DateTime)
}

// num formats n with thin thousands separators (18,290).
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func bar(n, most, width int) string {
	if most <= 0 || n <= 0 {
		return ""
	}
	k := max(1, n*width/most)
	return strings.Repeat("#", k)
}

// textWriter writes lines and aligned tables, keeping the first error.
type textWriter struct {
	w   io.Writer
	err error
}

func (t *textWriter) line(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format+"\n", args...)
	}
}

// table writes a titled table; right marks right-aligned columns. An
// empty table says "(none)".
func (t *textWriter) table(title string, header []string, right []bool, rows [][]string) {
	if title != "" {
		t.line("%s", title)
	}
	if len(rows) == 0 {
		t.line("  (none)")
		t.line("")
		return
	}
	all := rows
	if header != nil {
		all = append([][]string{header}, rows...)
	}
	widths := make([]int, len(right))
	for _, r := range all {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range all {
		var b strings.Builder
		b.WriteString(" ")
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			b.WriteString(" ")
			if right[i] {
				b.WriteString(pad + c)
			} else if i < len(r)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
			if i < len(r)-1 {
				b.WriteString(" ")
			}
		}
		t.line("%s", strings.TrimRight(b.String(), " "))
	}
	t.line("")
}
