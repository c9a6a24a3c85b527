package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper/analysis"
	"github.com/eximship/eximship/shipper/exim/eximlab"
	"github.com/eximship/eximship/shipper/stacktest"
)

// The report's proof on a real Exim: the lab is fed SMTP sessions whose
// truth this test knows (which RCPT is a relay attempt, from which IP, in
// which session, with which MAIL FROM), and every figure of
// `eximship report` on its logs must equal the figure computed here from
// that truth, with code that shares nothing with shipper/analysis.

// truthTx is one mail transaction: MAIL FROM, then RCPTs that Exim
// rejects as relay attempts.
type truthTx struct {
	from  string // "" is the null sender
	rcpts []string
}

// truthSession is one SMTP connection.
type truthSession struct {
	ip  string
	txs []truthTx
}

type attemptTruth struct {
	ip, from, to string
	session      int // index in the script
}

const labLocal = eximlab.LocalDomain // example.org

// reportScript is the relay traffic, chosen so that every classification
// and both kinds of campaign occur, with RSET and new MAIL FROM inside
// sessions, repeated sessions from one IP, and (concurrent) two sessions
// of one IP open at the same time.
func reportScript() (sequential []truthSession, concurrent [2]truthSession) {
	probe := "127.3.0.1"   // forged local senders, null sender, RSET
	senders := "127.3.0.2" // three senders on one recipient
	spam := "127.3.0.3"    // 10 recipients in 3 domains, two sessions
	repeat := "127.3.0.4"  // one pair in three sessions
	sequential = []truthSession{
		{probe, []truthTx{
			{"root@" + labLocal, []string{"a@gmail.test", "b@yahoo.test"}},
			{"", []string{"c@gmail.test"}},
		}},
		{probe, []truthTx{{"admin@" + labLocal, []string{"a@gmail.test"}}}},
		{senders, []truthTx{
			{"s1@x.test", []string{"victim@probe.test"}},
			{"s2@x.test", []string{"victim@probe.test"}},
			{"s3@x.test", []string{"victim@probe.test"}},
		}},
		{spam, []truthTx{{"bob@spam.test", []string{"r0@d0.test", "r1@d1.test", "r2@d2.test", "r3@d0.test", "r4@d1.test"}}}},
		{spam, []truthTx{{"bob@spam.test", []string{"r5@d2.test", "r6@d0.test", "r7@d1.test", "r8@d2.test", "r9@d0.test"}}}},
		{repeat, []truthTx{{"carol@p.test", []string{"z@gmail.test"}}}},
		{repeat, []truthTx{{"carol@p.test", []string{"z@gmail.test"}}}},
		{repeat, []truthTx{{"carol@p.test", []string{"z@gmail.test"}}}},
	}
	// One-shot IPs: one campaign recipient, one sender pattern (info#@f.test).
	for i := 1; i <= 3; i++ {
		sequential = append(sequential, truthSession{fmt.Sprintf("127.3.1.%d", i),
			[]truthTx{{fmt.Sprintf("info%d@f.test", i), []string{"camp@target.test"}}}})
	}
	both := "127.3.0.8"
	concurrent = [2]truthSession{
		{both, []truthTx{{"k1@c.test", []string{"p@gmail.test", "q@gmail.test"}}}},
		{both, []truthTx{{"k2@c.test", []string{"p@gmail.test", "r@gmail.test", "s@gmail.test"}}}},
	}
	return sequential, concurrent
}

// reportScriptSessions is the number of SMTP sessions of the script that
// carry relay attempts.
func reportScriptSessions() []truthSession {
	seq, conc := reportScript()
	return append(seq, conc[:]...)
}

// runReportLab runs the script against a real Exim and returns the log
// directory and the truth: every relay attempt.
func runReportLab(t *testing.T, selector string) (string, []attemptTruth) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lab, err := eximlab.Start(ctx, eximlab.Config{LogSelector: selector, Keep: true})
	if err != nil {
		t.Fatalf("start Exim lab: %v", err)
	}
	defer os.RemoveAll(lab.Dir)
	defer lab.Close()
	seq, conc := reportScript()
	var truth []attemptTruth
	open := func(ip string) *eximlab.Client {
		c, err := lab.Dial(ctx, ip)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Expect(220); err != nil {
			t.Fatalf("greeting for %s: %v", ip, err)
		}
		if _, err := c.Cmd(250, "EHLO bot-"+strings.ReplaceAll(ip, ".", "-")); err != nil {
			t.Fatal(err)
		}
		return c
	}
	cmd := func(c *eximlab.Client, want int, line string) {
		t.Helper()
		if _, err := c.Cmd(want, line); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range seq {
		c := open(s.ip)
		for j, tx := range s.txs {
			if j > 0 {
				cmd(c, 250, "RSET")
			}
			cmd(c, 250, "MAIL FROM:<"+tx.from+">")
			for _, to := range tx.rcpts {
				cmd(c, 550, "RCPT TO:<"+to+">")
				truth = append(truth, attemptTruth{s.ip, tx.from, to, i})
			}
		}
		if err := c.Quit(); err != nil {
			t.Fatal(err)
		}
	}
	// Two connections of one IP open at once, their commands interleaved.
	a, b := open(conc[0].ip), open(conc[1].ip)
	cmd(a, 250, "MAIL FROM:<"+conc[0].txs[0].from+">")
	cmd(b, 250, "MAIL FROM:<"+conc[1].txs[0].from+">")
	for k := 0; k < 3; k++ {
		for n, c := range []*eximlab.Client{a, b} {
			if rc := conc[n].txs[0].rcpts; k < len(rc) {
				cmd(c, 550, "RCPT TO:<"+rc[k]+">")
				truth = append(truth, attemptTruth{conc[n].ip, conc[n].txs[0].from, rc[k], len(seq) + n})
			}
		}
	}
	for _, c := range []*eximlab.Client{a, b} {
		if err := c.Quit(); err != nil {
			t.Fatal(err)
		}
	}
	// Rejections that are not relay attempts (a local recipient) and
	// accepted mail must not count.
	c := open("127.3.2.1")
	cmd(c, 250, "MAIL FROM:<dave@"+eximlab.PartnerDomain+">")
	cmd(c, 550, "RCPT TO:<gone@"+labLocal+">")
	cmd(c, 250, "RCPT TO:<alice@"+labLocal+">")
	if _, err := c.Data(250, eximlab.Message("dave@"+eximlab.PartnerDomain, "alice@"+labLocal, "hello", "report1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	if err := lab.RunQueue(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"mainlog", "rejectlog"} {
		b, err := os.ReadFile(lab.LogPath(name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, truth
}

// expectedFigures computes the report's figures from the truth, directly.
func expectedFigures(truth []attemptTruth, top int) map[string]any {
	type set = map[string]bool
	ips := map[string]int{}
	rcpts, senders := set{}, set{}
	rdom := map[string]set{}
	rdomN := map[string]int{}
	sdom := map[string]set{}
	sdomN := map[string]int{}
	froms := map[string]set{}
	null, forged := 0, 0
	forgedIPs := set{}
	for _, a := range truth {
		ips[a.ip]++
		rcpts[a.to] = true
		d := a.to[strings.IndexByte(a.to, '@')+1:]
		if rdom[d] == nil {
			rdom[d] = set{}
		}
		rdom[d][a.to] = true
		rdomN[d]++
		if froms[a.ip] == nil {
			froms[a.ip] = set{}
		}
		if a.from == "" {
			null++
			froms[a.ip]["<>"] = true
			continue
		}
		froms[a.ip][a.from] = true
		senders[a.from] = true
		sd := a.from[strings.IndexByte(a.from, '@')+1:]
		if sdom[sd] == nil {
			sdom[sd] = set{}
		}
		sdom[sd][a.from] = true
		sdomN[sd]++
		if sd == labLocal {
			forged++
			forgedIPs[a.ip] = true
		}
	}
	single := 0
	for _, n := range ips {
		if n == 1 {
			single++
		}
	}
	type dom struct {
		d    string
		u, n int
	}
	topDomains := func(m map[string]set, n map[string]int, key string) []any {
		var l []dom
		for d, s := range m {
			l = append(l, dom{d, len(s), n[d]})
		}
		sort.Slice(l, func(i, j int) bool {
			if l[i].u != l[j].u {
				return l[i].u > l[j].u
			}
			if l[i].n != l[j].n {
				return l[i].n > l[j].n
			}
			return l[i].d < l[j].d
		})
		out := []any{}
		for i := 0; i < len(l) && i < top; i++ {
			out = append(out, map[string]any{"domain": l[i].d, key: float64(l[i].u), "attempts": float64(l[i].n)})
		}
		return out
	}
	bestIP, bestN := "", -1
	for ip, f := range froms {
		if len(f) > bestN || len(f) == bestN && (ips[ip] > ips[bestIP] || ips[ip] == ips[bestIP] && ip < bestIP) {
			bestIP, bestN = ip, len(f)
		}
	}
	return map[string]any{
		"relay_attempts":               float64(len(truth)),
		"source_ips":                   float64(len(ips)),
		"single_attempt_ips":           float64(single),
		"unique_recipients":            float64(len(rcpts)),
		"unique_senders":               float64(len(senders)),
		"null_sender_attempts":         float64(null),
		"forged_local_sender_attempts": float64(forged),
		"forged_local_sender_ips":      float64(len(forgedIPs)),
		"top_recipient_domains":        topDomains(rdom, rdomN, "unique_recipients"),
		"top_sender_domains":           topDomains(sdom, sdomN, "unique_senders"),
		"most_distinct_mail_froms":     map[string]any{"source_ip": bestIP, "mail_froms": float64(bestN), "attempts": float64(ips[bestIP])},
	}
}

// expectedSessions is the session truth: the histogram of relay RCPTs per
// session and each IP's number of sessions.
func expectedSessions(truth []attemptTruth) (sessions int, hist []any, perIP map[string]float64) {
	per := map[int]int{}
	ipOf := map[int]string{}
	for _, a := range truth {
		per[a.session]++
		ipOf[a.session] = a.ip
	}
	h := map[int]int{}
	perIP = map[string]float64{}
	for s, n := range per {
		h[n]++
		perIP[ipOf[s]]++
	}
	keys := make([]int, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		hist = append(hist, map[string]any{"rcpts": float64(k), "sessions": float64(h[k])})
	}
	return len(per), hist, perIP
}

var wantClasses = map[string]string{
	"127.3.0.1": analysis.ClassRelayProbe, "127.3.0.2": analysis.ClassRelayProbe, "127.3.0.3": analysis.ClassSpamRun,
	"127.3.0.4": analysis.ClassRepeatPair, "127.3.1.1": analysis.ClassOneShot, "127.3.1.2": analysis.ClassOneShot,
	"127.3.1.3": analysis.ClassOneShot, "127.3.0.8": analysis.ClassOther,
}

func reportJSON(t *testing.T, args ...string) (map[string]any, string) {
	t.Helper()
	code, out, errs := runCmd(t, nil, append([]string{"report", "--format", "json", "--top", "20"}, args...)...)
	if code != 0 {
		t.Fatalf("eximship report %q: exit %d: %s", args, code, errs)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out)
	}
	return m, out
}

// checkTruth compares the report with the truth.
func checkTruth(t *testing.T, label string, rep map[string]any, truth []attemptTruth, sessionsKnown bool) {
	t.Helper()
	for k, want := range expectedFigures(truth, 20) {
		if !reflect.DeepEqual(rep[k], want) {
			t.Errorf("%s: %s = %v, truth %v", label, k, rep[k], want)
		}
	}
	classes := map[string]string{}
	for _, s := range rep["sources"].([]any) {
		s := s.(map[string]any)
		classes[s["source_ip"].(string)] = s["classification"].(string)
	}
	if !reflect.DeepEqual(classes, wantClasses) {
		t.Errorf("%s: classifications %v, want %v", label, classes, wantClasses)
	}
	var camps []string
	for _, c := range rep["campaigns"].([]any) {
		c := c.(map[string]any)
		camps = append(camps, fmt.Sprintf("%s %s %v", c["kind"], c["target"], c["ips"]))
	}
	wantCamps := []string{
		"recipient camp@target.test [127.3.1.1 127.3.1.2 127.3.1.3]",
		"sender info#@f.test [127.3.1.1 127.3.1.2 127.3.1.3]",
	}
	if !slices.Equal(camps, wantCamps) {
		t.Errorf("%s: campaigns %q, want %q", label, camps, wantCamps)
	}
	if !sessionsKnown {
		return
	}
	n, hist, perIP := expectedSessions(truth)
	ss := rep["smtp_sessions"].(map[string]any)
	t.Logf("%s: sessions checked against the truth: %d sessions, histogram %v; report %v", label, n, hist, ss)
	if ss["sessions_exact"] != true || !reflect.DeepEqual(ss["rcpts_per_session"], hist) || ss["sessions"] != float64(n) {
		t.Errorf("%s: smtp_sessions %v, want exact with histogram %v", label, ss, hist)
	}
	for _, s := range rep["sources"].([]any) {
		s := s.(map[string]any)
		if ip := s["source_ip"].(string); s["sessions"] != perIP[ip] {
			t.Errorf("%s: %s has %v sessions, truth %v", label, ip, s["sessions"], perIP[ip])
		}
	}
}

// sessionsInDocuments reports whether this build writes exim.session.id
// (the field contract of the sessions work); until it does, the report
// has no session ids to count and the session figures are not checked.
func sessionsInDocuments(t *testing.T) bool {
	fields, err := mapping.Fields()
	if err != nil {
		t.Fatal(err)
	}
	_, ok := fields["exim.session.id"]
	return ok
}

// requireExim skips (or fails under EXIMSHIP_REQUIRE_INTEGRATION) when no
// Exim is installed.
func requireExim(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	if _, err := eximlab.FindExim(); err != nil {
		stacktest.Skip(t, "%v", err)
	}
}

func TestReportRealEximIntegration(t *testing.T) {
	requireExim(t)
	for _, v := range []struct {
		name, selector string
		exact          bool // the log identifies sessions exactly
	}{
		{"default", "", false},
		{"pid-port", "+pid +incoming_port +smtp_connection", true},
	} {
		t.Run(v.name, func(t *testing.T) {
			dir, truth := runReportLab(t, v.selector)
			main, rej := filepath.Join(dir, "mainlog"), filepath.Join(dir, "rejectlog")
			known := v.exact && sessionsInDocuments(t)

			both, bothJSON := reportJSON(t, "--local-domain", labLocal, main, rej)
			checkTruth(t, "main+reject logs", both, truth, known)
			if !v.exact && sessionsInDocuments(t) {
				// Without pid or port the sessions are inferred: the report
				// must say so instead of presenting them as exact.
				ss := both["smtp_sessions"].(map[string]any)
				if ss["sessions_exact"] != false || ss["inferred_sessions"] == float64(0) {
					t.Errorf("sessions from a log without pid or port: %v, want sessions_exact false with inferred sessions", ss)
				}
				t.Logf("inferred sessions (truth: %d): %v", len(reportScriptSessions()), ss)
			}
			if both["dataset"] != "exim.main" {
				t.Errorf("dataset %v, want exim.main", both["dataset"])
			}
			// The reject log repeats every rejection: alone it gives the
			// same figures, beside the main log it adds nothing.
			alone, _ := reportJSON(t, "--local-domain", labLocal, rej)
			checkTruth(t, "reject log alone", alone, truth, false)
			if alone["dataset"] != "exim.reject" {
				t.Errorf("reject log alone: dataset %v", alone["dataset"])
			}
			mainOnly, mainJSON := reportJSON(t, "--local-domain", labLocal, main)
			if mainJSON != bothJSON {
				t.Errorf("main log alone differs from main+reject:\n%s\nvs\n%s", mainJSON, bothJSON)
			}
			_ = mainOnly
			// Without local domains, "relay not permitted" decides: the
			// same attempts; no sender is forged, so the probes by forged
			// senders are not found.
			noLocal, _ := reportJSON(t, main)
			if noLocal["relay_attempts"] != float64(len(truth)) || noLocal["forged_local_sender_attempts"] != float64(0) {
				t.Errorf("without local domains: relay_attempts %v (truth %d), forged %v (want 0)",
					noLocal["relay_attempts"], len(truth), noLocal["forged_local_sender_attempts"])
			}
			// gzip is read too.
			gz := filepath.Join(t.TempDir(), "mainlog.1.gz")
			writeGzip(t, gz, main)
			if _, gzJSON := reportJSON(t, "--local-domain", labLocal, gz); gzJSON != mainJSON {
				t.Errorf("gzip-compressed main log gives another report")
			}
		})
	}
}

func writeGzip(t *testing.T, dst, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The same report from files and from Elasticsearch: the lab's logs go
// through real Kafka (one Filebeat-style envelope per log entry, as the
// bundled rsyslog config sends them) into `eximship run` and the real
// Elasticsearch; the report from Elasticsearch must be byte for byte the
// JSON of the report from the files, and both must equal the truth.
func TestReportFilesVersusElasticsearchIntegration(t *testing.T) {
	requireExim(t)
	esURL := stacktest.ElasticURL(t)
	brokers, topic := stacktest.NewTopic(t, 3)
	dir, truth := runReportLab(t, "+pid +incoming_port +smtp_connection")
	ns := strings.ReplaceAll(stacktest.UniqueName("rep"), "-", "")
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	files := []string{filepath.Join(dir, "mainlog"), filepath.Join(dir, "rejectlog")}
	window := []string{"--local-domain", labLocal, "--since", since, "--until", until, "--timezone", "UTC"}

	fromFiles, filesJSON := reportJSON(t, append(window, files...)...)
	checkTruth(t, "files", fromFiles, truth, sessionsInDocuments(t))

	// Ship: one message per entry, all with one key (one Exim host: one
	// partition, in order).
	var msgs []kafka.Message
	for _, f := range files {
		for _, entry := range logEntries(t, f) {
			msgs = append(msgs, envelopeMessage(t, entry, "mx", f))
		}
	}
	w := hashWriter(brokers, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()

	cfgPath := writeRunConfig(t, brokers, topic, esURL, ns, "", "  local_domains: ["+labLocal+"]\n", "")
	runUntilIndexed(t, ctx, cfgPath, esURL, ns, len(msgs), brokers, topic, ns, nil)

	fromES, esJSON := reportJSON(t, append(window, "--config", cfgPath)...)
	t.Logf("%d documents indexed through Kafka into namespace %s; both reports: %v relay attempts from %v IPs",
		len(msgs), ns, fromES["relay_attempts"], fromES["source_ips"])
	if esJSON != filesJSON {
		t.Errorf("report from Elasticsearch differs from the report from files:\n--- files\n%s\n--- elasticsearch\n%s", filesJSON, esJSON)
	}
	// Pages of 3 buckets: the attempts are split by source address into
	// chunks of at most 3 documents, each paged; the same report.
	if _, small := reportJSON(t, append(window, "--config", cfgPath, "--page-size", "3")...); small != esJSON {
		t.Errorf("with pages of 3 buckets the report from Elasticsearch differs:\n%s\nvs\n%s", small, esJSON)
	}
	checkTruth(t, "elasticsearch", fromES, truth, sessionsInDocuments(t))
	for _, f := range []string{"table", "html"} {
		_, a, _ := runCmd(t, nil, append([]string{"report", "--format", f}, append(window, files...)...)...)
		_, b, _ := runCmd(t, nil, append([]string{"report", "--format", f, "--config", cfgPath}, window...)...)
		if f == "html" {
			a, b = dropGenerated(a), dropGenerated(b)
		}
		if a != b || a == "" {
			t.Errorf("--format %s: files and Elasticsearch differ", f)
		}
	}

	// The entity index: one document per source and window, rewritten
	// by id. Re-delivering every message (a new consumer group reads the
	// topic again; the data streams answer 409) and rewriting changes
	// nothing.
	entities := func() map[string]float64 {
		t.Helper()
		code, _, errs := runCmd(t, nil, append([]string{"report", "--write-sources", "--format", "json", "--config", cfgPath}, window...)...)
		if code != 0 {
			t.Fatalf("report --write-sources: exit %d: %s", code, errs)
		}
		return sourceDocs(t, esURL, analysis.SourcesIndex(ns))
	}
	first := entities()
	wantAttempts := map[string]float64{}
	for _, s := range fromES["sources"].([]any) {
		s := s.(map[string]any)
		wantAttempts[s["source_ip"].(string)] += s["attempts"].(float64)
	}
	if !reflect.DeepEqual(first, wantAttempts) {
		t.Errorf("entity index: attempts per source %v, want the report's %v", first, wantAttempts)
	}
	// This time run rewrites the entity index itself (sources.enabled),
	// from scratch: the index is deleted first.
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	again := strings.Replace(string(cfg), "group_id: "+ns, "group_id: "+ns+"-again", 1) + "sources:\n  enabled: true\n  interval: 10s\n"
	if err := os.WriteFile(cfgPath, []byte(again), 0o600); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodDelete, esURL+"/"+analysis.SourcesIndex(ns), nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("delete the entity index: %v %v", res, err)
	}
	runUntilIndexed(t, ctx, cfgPath, esURL, ns, len(msgs), brokers, topic, ns+"-again", func() bool {
		return reflect.DeepEqual(sourceDocs(t, esURL, analysis.SourcesIndex(ns)), first)
	})
	if second := entities(); !reflect.DeepEqual(second, first) {
		t.Errorf("after re-delivery and a rewrite, the entity index holds %v, before %v", second, first)
	}
	if _, reJSON := reportJSON(t, append(window, "--config", cfgPath)...); reJSON != esJSON {
		t.Errorf("after re-delivery the report from Elasticsearch changed")
	}
}

// runUntilIndexed runs `eximship run` in-process until Elasticsearch holds
// want documents in the namespace and the consumer group has committed
// every message of the topic, then stops it as SIGTERM would.
func runUntilIndexed(t *testing.T, ctx context.Context, cfgPath, esURL, ns string, want int, brokers []string, topic, group string,
	also func() bool) {
	t.Helper()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	done := make(chan error, 1)
	var runLog syncBuffer
	go func() {
		done <- runRun(runCtx, &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &runLog,
			log: slog.New(slog.NewTextHandler(&runLog, nil))}, []string{"--config", cfgPath, "--progress", "never"})
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n := esCount(t, esURL, "logs-exim.*-"+ns)
		if n > want {
			t.Fatalf("Elasticsearch holds %d documents for %d messages", n, want)
		}
		if n == want && caughtUp(t, brokers, topic, group) && (also == nil || also()) {
			break
		}
		if time.Now().After(deadline) {
			stopRun()
			<-done
			t.Fatalf("Elasticsearch holds %d of %d documents after 2 minutes; run log:\n%s", n, want, runLog.String())
		}
		select {
		case err := <-done:
			t.Fatalf("run stopped early: %v\n%s", err, runLog.String())
		case <-time.After(500 * time.Millisecond):
		}
	}
	stopRun()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, runLog.String())
	}
}

// caughtUp reports whether group has committed the end offset of every
// partition of topic.
func caughtUp(t *testing.T, brokers []string, topic, group string) bool {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 {
		return false
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	var parts []int
	for _, p := range meta.Topics[0].Partitions {
		parts = append(parts, p.ID)
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p.ID))
	}
	ends, err := client.ListOffsets(ctx, req)
	if err != nil {
		return false
	}
	got, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return false
	}
	committed := map[int]int64{}
	for _, p := range got.Topics[topic] {
		committed[p.Partition] = p.CommittedOffset
	}
	for _, p := range ends.Topics[topic] {
		if p.LastOffset > 0 && committed[p.Partition] < p.LastOffset {
			return false
		}
	}
	return true
}

// syncBuffer is a bytes.Buffer safe for the run goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sourceDocs reads the entity index: attempts per source IP, failing on
// a source with two documents.
func sourceDocs(t *testing.T, esURL, index string) map[string]float64 {
	t.Helper()
	http.Post(esURL+"/"+index+"/_refresh?ignore_unavailable=true", "application/json", nil) //nolint:errcheck // best effort before searching
	res, err := http.Get(esURL + "/" + index + "/_search?size=1000&ignore_unavailable=true")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r struct {
		Hits struct {
			Hits []struct {
				Source struct {
					Source struct{ IP string }
					Exim   struct{ Relay struct{ Attempts float64 } }
				} `json:"_source"`
			}
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, h := range r.Hits.Hits {
		if _, dup := out[h.Source.Source.IP]; dup {
			t.Errorf("two entity documents for %s", h.Source.Source.IP)
		}
		out[h.Source.Source.IP] += h.Source.Exim.Relay.Attempts
	}
	return out
}

var generatedRe = regexp.MustCompile(`generated [0-9: -]+`)

func dropGenerated(s string) string { return generatedRe.ReplaceAllString(s, "generated") }

// logEntries splits an Exim log into entries: a line starting with a
// timestamp opens one, the lines after it (reject-log header dumps) join.
func logEntries(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`)
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if start.MatchString(l) || len(out) == 0 {
			out = append(out, l)
		} else {
			out[len(out)-1] += "\n" + l
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// esCount refreshes index (a name or pattern) and counts its documents.
func esCount(t *testing.T, esURL, index string) int {
	t.Helper()
	http.Post(esURL+"/"+index+"/_refresh?ignore_unavailable=true", "application/json", nil) //nolint:errcheck // best effort before counting
	return countQuery(t, esURL, index, map[string]any{"match_all": map[string]any{}})
}
