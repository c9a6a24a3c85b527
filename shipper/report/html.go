package report

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/eximship/eximship/shipper/analysis"
)

// HTML writes the report as one self-contained HTML page: inline CSS and
// inline SVG charts, no script, no external asset (a test checks that it
// references nothing outside itself and renders it in headless Chromium).
func HTML(w io.Writer, r *analysis.Report, o Options) error {
	o = o.withDefaults()
	data := htmlData{R: r, Window: windowText(r, o.Location), Dataset: datasetText(r.Dataset)}
	data.Local = "none: relay attempts are the rejections Exim gave as \"relay not permitted\""
	if len(r.LocalDomains) > 0 {
		data.Local = strings.Join(r.LocalDomains, ", ")
	}
	data.Cards = []card{
		{"Relay attempts", num(r.RelayAttempts), "rejected RCPTs to non-local domains"},
		{"Source IPs", num(int64(r.SourceIPs)), num(int64(r.SingleAttemptIPs)) + " seen once"},
		{"Unique recipients", num(int64(r.UniqueRecipients)), "distinct RCPT TO"},
		{"Unique senders", num(int64(r.UniqueSenders)), "distinct MAIL FROM, not <>"},
		{"Null sender", num(r.NullSenderAttempts), "attempts from " + num(int64(r.NullSenderIPs)) + " IPs"},
		{"Forged local senders", num(r.ForgedLocalSenderAttempts), "attempts from " + num(int64(r.ForgedLocalSenderIPs)) + " IPs"},
		{"SMTP sessions", num(int64(r.SMTPSessions.Sessions)), sessionsNote(r.SMTPSessions)},
	}
	if m := r.MostDistinctMailFroms; m != nil {
		data.Cards = append(data.Cards, card{"Most MAIL FROMs", num(int64(m.MailFroms)), m.SourceIP + ", " + num(m.Attempts) + " attempts"})
	}
	var bars []barItem
	for _, d := range r.TopRecipientDomains {
		bars = append(bars, barItem{d.Domain, int64(d.UniqueRecipients), fmt.Sprintf("%s recipients, %s attempts", num(int64(d.UniqueRecipients)), num(d.Attempts))})
	}
	data.RecipientChart = hbars("Top recipient domains by unique recipients", bars, "#2b6cb0")
	bars = nil
	for _, d := range r.TopSenderDomains {
		bars = append(bars, barItem{d.Domain, int64(d.UniqueSenders), fmt.Sprintf("%s senders, %s attempts", num(int64(d.UniqueSenders)), num(d.Attempts))})
	}
	data.SenderChart = hbars("Top sender domains by unique senders", bars, "#c05621")
	bars = nil
	for _, c := range r.Classifications {
		bars = append(bars, barItem{c.Classification, int64(c.SourceIPs), fmt.Sprintf("%s IPs, %s attempts", num(int64(c.SourceIPs)), num(c.Attempts))})
	}
	data.ClassChart = hbars("Source IPs by classification", bars, "#6b46c1")
	var cols []barItem
	for _, b := range r.SMTPSessions.RCPTsPerSession {
		cols = append(cols, barItem{num(b.RCPTs), int64(b.Sessions), fmt.Sprintf("%s sessions with %s RCPTs", num(int64(b.Sessions)), num(b.RCPTs))})
	}
	data.SessionChart = columns("SMTP sessions by relay attempts (RCPTs) per session", cols, "#2f855a", "RCPTs per session")
	data.DayChart = columns("Relay attempts per day ("+zoneName(o.Location)+")", dayColumns(r.AttemptsPerDay), "#b83280", "day")
	for _, s := range r.Sources {
		data.Sources = append(data.Sources, sourceRow{s, timeText(s.FirstSeen, o.Location), timeText(s.LastSeen, o.Location)})
	}
	for _, c := range r.Campaigns {
		data.Campaigns = append(data.Campaigns, campaignRow{c, strings.Join(c.IPs, " "), timeText(c.FirstSeen, o.Location), timeText(c.LastSeen, o.Location)})
	}
	data.Generated = time.Now().In(o.Location).Format(time.DateTime)
	return page.Execute(w, data)
}

func sessionsNote(s analysis.Sessions) string {
	if s.SessionsExact {
		return "exact, from the log"
	}
	var why []string
	if s.InferredSessions > 0 {
		why = append(why, num(int64(s.InferredSessions))+" inferred")
	}
	if s.AttemptsWithoutSession > 0 {
		why = append(why, num(s.AttemptsWithoutSession)+" attempts without session")
	}
	return "not exact: " + strings.Join(why, ", ")
}

// dayColumns fills the days between the first and the last with zeros.
func dayColumns(days []analysis.DayCount) []barItem {
	if len(days) == 0 {
		return nil
	}
	first, err1 := time.Parse(time.DateOnly, days[0].Day)
	last, err2 := time.Parse(time.DateOnly, days[len(days)-1].Day)
	by := map[string]int64{}
	for _, d := range days {
		by[d.Day] = d.Attempts
	}
	var out []barItem
	if err1 != nil || err2 != nil || last.Sub(first) > 400*24*time.Hour {
		for _, d := range days {
			out = append(out, barItem{d.Day, d.Attempts, d.Day + ": " + num(d.Attempts)})
		}
		return out
	}
	for t := first; !t.After(last); t = t.AddDate(0, 0, 1) {
		d := t.Format(time.DateOnly)
		out = append(out, barItem{d, by[d], d + ": " + num(by[d]) + " attempts"})
	}
	return out
}

type card struct{ Title, Value, Note string }

type sourceRow struct {
	analysis.Source
	First, Last string
}

type campaignRow struct {
	analysis.Campaign
	IPList, First, Last string
}

type htmlData struct {
	R                                                               *analysis.Report
	Window, Dataset, Local, Generated                               string
	Cards                                                           []card
	RecipientChart, SenderChart, ClassChart, SessionChart, DayChart template.HTML
	Sources                                                         []sourceRow
	Campaigns                                                       []campaignRow
}

type barItem struct {
	Label string
	Value int64
	Title string
}

const (
	chartWidth = 560
	labelWidth = 190
)

// hbars draws a horizontal bar chart as inline SVG.
func hbars(title string, items []barItem, color string) template.HTML {
	row := 26
	b, most, ok := chartStart(title, chartWidth, 34+row*max(1, len(items)), items)
	if !ok {
		return template.HTML(b.String())
	}
	span := chartWidth - labelWidth - 70
	for i, it := range items {
		y := 30 + i*row
		wbar := int(it.Value * int64(span) / most)
		if it.Value > 0 {
			wbar = max(wbar, 2)
		}
		fmt.Fprintf(b, `<g><title>%s</title><text x="%d" y="%d" class="cl" text-anchor="end">%s</text>`,
			html.EscapeString(it.Label+": "+it.Title), labelWidth-8, y+15, html.EscapeString(clip(it.Label, 28)))
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="18" rx="3" fill="%s"/>`, labelWidth, y+2, wbar, color)
		fmt.Fprintf(b, `<text x="%d" y="%d" class="cv">%s</text></g>`, labelWidth+wbar+6, y+15, num(it.Value))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// chartStart opens a chart's SVG with its title and returns the largest
// value; with no items the SVG is complete, saying "(none)", and ok is
// false.
func chartStart(title string, w, h int, items []barItem) (b *strings.Builder, most int64, ok bool) {
	b = &strings.Builder{}
	fmt.Fprintf(b, `<svg class="chart" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		w, h, w, h, html.EscapeString(title))
	fmt.Fprintf(b, `<text x="0" y="16" class="ct">%s</text>`, html.EscapeString(title))
	if len(items) == 0 {
		b.WriteString(`<text x="0" y="46" class="cl">(none)</text></svg>`)
		return b, 0, false
	}
	most = 1
	for _, it := range items {
		most = max(most, it.Value)
	}
	return b, most, true
}

// columns draws a vertical column chart as inline SVG.
func columns(title string, items []barItem, color, axis string) template.HTML {
	const w, h, top, bottom, left = chartWidth, 240, 30, 40, 44
	b, most, ok := chartStart(title, w, h, items)
	if !ok {
		return template.HTML(b.String())
	}
	plotH := h - top - bottom
	plotW := w - left - 10
	slot := float64(plotW) / float64(len(items))
	barW := max(1.0, slot*0.8)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="ax"/>`, left, top+plotH, w-10, top+plotH)
	fmt.Fprintf(b, `<text x="%d" y="%d" class="cv" text-anchor="end">%s</text>`, left-4, top+8, num(most))
	fmt.Fprintf(b, `<text x="%d" y="%d" class="cv" text-anchor="end">0</text>`, left-4, top+plotH)
	every := max(1, len(items)/8)
	for i, it := range items {
		bh := float64(it.Value) * float64(plotH) / float64(most)
		if it.Value > 0 && bh < 1 {
			bh = 1
		}
		x := float64(left) + float64(i)*slot + (slot-barW)/2
		fmt.Fprintf(b, `<g><title>%s</title><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/></g>`,
			html.EscapeString(it.Title), x, float64(top+plotH)-bh, barW, bh, color)
		if i%every == 0 {
			fmt.Fprintf(b, `<text x="%.1f" y="%d" class="cv" text-anchor="middle">%s</text>`, x+barW/2, top+plotH+14, html.EscapeString(clip(it.Label, 12)))
		}
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" class="cl" text-anchor="middle">%s</text>`, left+plotW/2, h-6, html.EscapeString(axis))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{"num": num, "int64": func(i int) int64 { return int64(i) }}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>eximship report: relay attempts</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px;color:#1a202c;background:#f7fafc}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#4a5568;font-size:13px;margin:2px 0}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:18px 0}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;min-width:150px}
.card .v{font-size:24px;font-weight:600}.card .t{font-size:12px;color:#4a5568;text-transform:uppercase;letter-spacing:.03em}.card .n{font-size:12px;color:#718096}
.charts{display:flex;flex-wrap:wrap;gap:16px}
.panel{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:12px}
.ct{font-size:14px;font-weight:600;fill:#2d3748}.cl{font-size:12px;fill:#2d3748}.cv{font-size:11px;fill:#4a5568}.ax{stroke:#a0aec0}
table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{border:1px solid #e2e8f0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#edf2f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.ips{max-width:420px;font-family:ui-monospace,monospace;font-size:12px}
</style>
</head>
<body>
<h1>eximship report: relay attempts</h1>
<p class="meta">{{.Window}}</p>
<p class="meta">local domains: {{.Local}}; counted in {{.Dataset}}; generated {{.Generated}}</p>
<div class="cards">{{range .Cards}}<div class="card"><div class="t">{{.Title}}</div><div class="v">{{.Value}}</div><div class="n">{{.Note}}</div></div>{{end}}</div>
<div class="charts">
<div class="panel">{{.RecipientChart}}</div>
<div class="panel">{{.SenderChart}}</div>
<div class="panel">{{.DayChart}}</div>
<div class="panel">{{.SessionChart}}</div>
<div class="panel">{{.ClassChart}}</div>
</div>
<h2>Top sources by attempts</h2>
{{if .Sources}}<table><tr><th>source IP</th><th>classification</th><th>attempts</th><th>sessions</th><th>MAIL FROMs</th><th>recipients</th><th>domains</th><th>forged local</th><th>null sender</th><th>first seen</th><th>last seen</th></tr>
{{range .Sources}}<tr><td>{{.SourceIP}}</td><td>{{.Classification}}</td><td class="n">{{num .Attempts}}</td><td class="n">{{.Sessions}}{{if not .SessionsExact}}~{{end}}</td><td class="n">{{.MailFroms}}</td><td class="n">{{.Recipients}}</td><td class="n">{{.RecipientDomains}}</td><td class="n">{{num .ForgedLocalAtt}}</td><td class="n">{{num .NullSenderAtt}}</td><td>{{.First}}</td><td>{{.Last}}</td></tr>
{{end}}</table>{{else}}<p>(none)</p>{{end}}
<h2>Campaigns: one recipient or sender pattern tried from several IPs</h2>
{{if .Campaigns}}<table><tr><th>kind</th><th>target</th><th>IPs</th><th>attempts</th><th>first seen</th><th>last seen</th><th>source IPs</th></tr>
{{range .Campaigns}}<tr><td>{{.Kind}}</td><td>{{.Target}}</td><td class="n">{{.SourceIPs}}</td><td class="n">{{num .Attempts}}</td><td>{{.First}}</td><td>{{.Last}}</td><td class="ips">{{.IPList}}</td></tr>
{{end}}</table>{{else}}<p>(none)</p>{{end}}
<h2>IPs forging local senders</h2>
{{if .R.TopForgedLocalSenderIPs}}<table><tr><th>source IP</th><th>attempts</th><th>MAIL FROMs</th></tr>
{{range .R.TopForgedLocalSenderIPs}}<tr><td>{{.SourceIP}}</td><td class="n">{{num .Attempts}}</td><td>{{range $i, $m := .MailFroms}}{{if $i}} {{end}}{{$m}}{{end}}</td></tr>
{{end}}</table>{{else}}<p>(none)</p>{{end}}
<h2>IPs using the null sender &lt;&gt;</h2>
{{if .R.TopNullSenderIPs}}<table><tr><th>source IP</th><th>attempts</th></tr>
{{range .R.TopNullSenderIPs}}<tr><td>{{.SourceIP}}</td><td class="n">{{num .Attempts}}</td></tr>
{{end}}</table>{{else}}<p>(none)</p>{{end}}
</body>
</html>
`))
