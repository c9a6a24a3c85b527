package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/eximship/eximship/shipper/analysis"
	"github.com/eximship/eximship/shipper/stacktest"
)

// sample is a report over generated facts: several days, many IPs, every
// classification, campaigns and a sessions histogram.
func sample(t testing.TB) *analysis.Report {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).UnixMilli()
	domains := []string{"gmail.com", "yahoo.com", "hotmail.com", "mail.ru", "qq.com", "web.de", "t-online.de"}
	var f analysis.Facts
	f.Dataset = "exim.main"
	for i := range 60 {
		ip := fmt.Sprintf("198.51.100.%d", i+1)
		n := 1 + rng.IntN(12)
		for j := range n {
			ts := t0 + rng.Int64N(7*24*3600*1000)
			from := fmt.Sprintf("user%d@%s", rng.IntN(5), domains[rng.IntN(len(domains))])
			if j%5 == 0 && i%3 == 0 {
				from = "root@example.org"
			}
			null := i%7 == 0 && j == 0
			if null {
				from = ""
			}
			dom := domains[rng.IntN(len(domains))]
			to := fmt.Sprintf("victim%d@%s", rng.IntN(30), dom)
			sdom := ""
			if from != "" {
				sdom = from[strings.IndexByte(from, '@')+1:]
			}
			f.Attempts = append(f.Attempts, analysis.Attempt{SourceIP: ip, Sender: from, NullSender: null, Recipient: to,
				SenderDomain: sdom, RecipientDomain: dom, Count: 1, First: ts, Last: ts})
			f.Slots = append(f.Slots, analysis.Slot{Start: analysis.SlotOf(ts), Attempts: 1})
		}
		for s := 0; n > 0; s++ {
			k := min(n, 1+rng.IntN(5))
			f.Sessions = append(f.Sessions, analysis.Session{SourceIP: ip, ID: fmt.Sprintf("mx:%d:%d", i, s), RCPTs: int64(k)})
			n -= k
		}
	}
	rep, err := analysis.Compute(analysis.Config{LocalDomains: []string{"example.org"}, Top: 8}, f)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestTable(t *testing.T) {
	rep := sample(t)
	var b bytes.Buffer
	if err := Table(&b, rep, Options{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		fmt.Sprintf("Relay attempts                %s", num(rep.RelayAttempts)),
		"Top recipient domains, by unique recipients",
		"  DOMAIN ",
		rep.TopRecipientDomains[0].Domain,
		"Top sources, by attempts",
		rep.Sources[0].SourceIP,
		"Relay attempts (RCPTs) per SMTP session",
		"Campaigns: one recipient or sender pattern tried from several IPs",
		"Relay attempts per day (UTC)",
		"2026-11-20",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Columns line up: in each table, the header's columns start where the
	// rows' do (right-aligned numbers end where the header ends).
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "  DOMAIN ") && strings.Contains(l, "ATTEMPTS") {
			end := len(l)
			for _, r := range lines[i+1:] {
				if r == "" {
					break
				}
				if len(r) != end {
					t.Errorf("row %q does not end under its header %q", r, l)
				}
			}
		}
	}
}

func TestNum(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 18290: "18,290", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := num(n); got != want {
			t.Errorf("num(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestJSONKeys(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, sample(t)); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	// The keys the issue names, exactly.
	for _, k := range []string{"relay_attempts", "source_ips", "single_attempt_ips", "unique_recipients", "unique_senders",
		"top_recipient_domains", "top_sender_domains", "most_distinct_mail_froms", "null_sender_attempts",
		"forged_local_sender_attempts", "forged_local_sender_ips", "smtp_sessions", "sources", "campaigns"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %s", k)
		}
	}
	for k, sub := range map[string][]string{
		"top_recipient_domains":    {"domain", "unique_recipients", "attempts"},
		"top_sender_domains":       {"domain", "unique_senders", "attempts"},
		"most_distinct_mail_froms": {"source_ip", "mail_froms", "attempts"},
		"smtp_sessions":            {"sessions_exact", "rcpts_per_session"},
	} {
		v := m[k]
		if l, ok := v.([]any); ok {
			v = l[0]
		}
		o, _ := v.(map[string]any)
		for _, s := range sub {
			if _, ok := o[s]; !ok {
				t.Errorf("%s lacks %s: %v", k, s, v)
			}
		}
	}
}

// TestHTMLSelfContained: the page references nothing outside itself (no
// script, stylesheet, image, font or link to fetch) and holds one inline
// SVG per chart.
func TestHTMLSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := HTML(&b, sample(t), Options{}); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	svgs := 0
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "link", "img", "iframe", "object", "embed", "image", "use":
				t.Errorf("external-capable element <%s>", n.Data)
			case "svg":
				svgs++
			}
			for _, a := range n.Attr {
				if a.Key == "src" || a.Key == "href" || a.Key == "xlink:href" {
					t.Errorf("<%s %s=%q>", n.Data, a.Key, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if svgs != 5 {
		t.Errorf("%d inline SVG charts, want 5", svgs)
	}
	for _, bad := range []string{"url(", "@import", "http://", "https://"} {
		if bytes.Contains(b.Bytes(), []byte(bad)) {
			t.Errorf("page contains %q", bad)
		}
	}
	// Text from the logs is escaped.
	rep := sample(t)
	rep.TopRecipientDomains[0].Domain = `<script>alert(1)</script>`
	b.Reset()
	if err := HTML(&b, rep, Options{}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b.Bytes(), []byte("<script>alert")) {
		t.Error("a domain from the log is not escaped")
	}
}

// TestHTMLChromiumIntegration renders the page in headless Chromium
// (Debian's chromium) and checks the screenshot: every chart's colour is
// on it. EXIMSHIP_SCREENSHOT_DIR keeps the page and the screenshot there
// to look at.
func TestHTMLChromiumIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		stacktest.Skip(t, "chromium not installed (scripts/install-deps installs it)")
	}
	dir := os.Getenv("EXIMSHIP_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	page := filepath.Join(dir, "report.html")
	shot := filepath.Join(dir, "report.png")
	var b bytes.Buffer
	if err := HTML(&b, sample(t), Options{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	profile := t.TempDir()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir="+profile, "--window-size=1280,1700", "--screenshot="+shot, "file://"+page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// Count pixels of each chart's bar colour.
	colours := map[string][3]uint32{"recipients": {0x2b, 0x6c, 0xb0}, "senders": {0xc0, 0x56, 0x21},
		"classes": {0x6b, 0x46, 0xc1}, "sessions": {0x2f, 0x85, 0x5a}, "days": {0xb8, 0x32, 0x80}}
	found := map[string]int{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			for name, c := range colours {
				if near(r>>8, c[0]) && near(g>>8, c[1]) && near(bl>>8, c[2]) {
					found[name]++
				}
			}
		}
	}
	for name := range colours {
		if found[name] < 200 {
			t.Errorf("chart %s: %d pixels of its colour in the screenshot, want a drawn chart", name, found[name])
		}
	}
	t.Logf("screenshot %s (%dx%d): chart pixels %v", shot, bounds.Dx(), bounds.Dy(), found)
}

func near(a, b uint32) bool { return a+6 >= b && b+6 >= a }
