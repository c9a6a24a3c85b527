package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/dashboards"
	"github.com/eximship/eximship/dashboards/kql"
	"github.com/eximship/eximship/dashboards/lens"
	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/exim/eximlab"
	"github.com/eximship/eximship/shipper/stacktest"
)

// The dashboards' and rules' proof on real data: a real Exim (the lab) is
// driven with SMTP sessions whose truth this test knows — attackers
// (a relay prober forging our senders, a relay burst, an AUTH brute
// forcer, a source spraying recipient domains) and benign traffic (mail,
// an authenticated relay, a mistyping partner, one wrong password, a
// misconfigured client with 10 relay attempts) — its logs go through real
// Kafka into `eximship run` and the real Elasticsearch, and then:
//   - every field a panel, saved search or rule uses exists in the live
//     mapping (_field_caps) with a type its operation can aggregate;
//   - every Lens layer, translated into the request Kibana would send,
//     runs and gives the figures computed here from the truth;
//   - the relay dashboard and `eximship report` give the same figures;
//   - each rule, its KQL translated and its threshold or new-terms logic
//     emulated (composite aggregation, filtering in Go), fires on exactly
//     the attackers.

const (
	ipProbe   = "127.5.0.1" // forged local senders (new source)
	ipBurst   = "127.5.0.2" // 24 relay RCPTs, 24 recipients, 6 domains, 3 MAIL FROMs
	ipBrute   = "127.5.0.3" // 12 failed AUTH, 4 users
	ipDomains = "127.5.0.4" // 6 relay RCPTs to 6 domains, null sender
	ipOnce    = "127.5.0.5" // one relay attempt
	ipOld     = "127.5.0.9" // forged local sender before the rule window and in it: not new
	ipMail    = "127.5.1.1" // inbound mail
	ipAuthOK  = "127.5.1.4" // authenticated relay
	ipTypo    = "127.5.1.5" // RCPTs to unknown local users
	ipWrongPw = "127.5.1.6" // one wrong password, then success
	ipClient  = "127.5.1.7" // misconfigured client: 10 relay RCPTs to 10 recipients of one domain
)

// dashTruth is what the test knows of the traffic.
type dashTruth struct {
	relay      []attemptTruth      // every relay attempt
	authFails  map[string][]string // ip -> users
	arrivals   int                 // accepted messages
	deliveries int                 // their deliveries
	typo       int                 // rejected RCPTs to unknown local users
	rejected   map[int]int         // session -> rejected RCPTs (relay and typo)
	mid        time.Time           // between the history phase and the rest (log time)
}

func (d *dashTruth) rejections() int { return len(d.relay) + d.typo }

// runDashboardLab drives the lab and returns its log directory.
func runDashboardLab(t *testing.T) (string, *dashTruth) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// +smtp_connection logs the end of each SMTP connection, so sessions are
	// exact (not inferred) and closing lines carry the per-session counts.
	lab, err := eximlab.Start(ctx, eximlab.Config{Keep: true, LogSelector: "+pid +incoming_port +smtp_connection"})
	if err != nil {
		t.Fatalf("start Exim lab: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(lab.Dir) })
	defer lab.Close()
	tr := &dashTruth{authFails: map[string][]string{}, rejected: map[int]int{}}
	session := 0
	open := func(ip string) *eximlab.Client {
		t.Helper()
		c, err := lab.Dial(ctx, ip)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Expect(220); err != nil {
			t.Fatalf("greeting for %s: %v", ip, err)
		}
		if _, err := c.Cmd(250, "EHLO host-"+strings.ReplaceAll(ip, ".", "-")+".example.net"); err != nil {
			t.Fatal(err)
		}
		session++
		return c
	}
	cmd := func(c *eximlab.Client, want int, line string) {
		t.Helper()
		if _, err := c.Cmd(want, line); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	quit := func(c *eximlab.Client) {
		t.Helper()
		if err := c.Quit(); err != nil {
			t.Fatal(err)
		}
	}
	// relayTx sends one transaction whose RCPTs Exim rejects as relaying.
	relayTx := func(c *eximlab.Client, ip, from string, rcpts ...string) {
		t.Helper()
		cmd(c, 250, "MAIL FROM:<"+from+">")
		for _, to := range rcpts {
			cmd(c, 550, "RCPT TO:<"+to+">")
			tr.relay = append(tr.relay, attemptTruth{ip, from, to, session})
			tr.rejected[session]++
		}
	}
	authFail := func(c *eximlab.Client, ip, user string, login bool) {
		t.Helper()
		var rep eximlab.Reply
		var err error
		if login {
			rep, err = c.AuthLogin(user, "guess-"+user)
		} else {
			rep, err = c.AuthPlain(user, "guess-"+user)
		}
		if err != nil || rep.Code != 535 {
			t.Fatalf("AUTH as %s from %s: %v %v", user, ip, rep, err)
		}
		tr.authFails[ip] = append(tr.authFails[ip], user)
	}
	deliver := func(c *eximlab.Client, from, to, id string) {
		t.Helper()
		cmd(c, 250, "MAIL FROM:<"+from+">")
		cmd(c, 250, "RCPT TO:<"+to+">")
		if _, err := c.Data(250, eximlab.Message(from, to, "dashboards "+id, id)); err != nil {
			t.Fatal(err)
		}
		tr.arrivals++
		tr.deliveries++
	}
	local := func(lp string) string { return lp + "@" + labLocal }

	// Phase 1, before the rules' window: the old prober.
	c := open(ipOld)
	relayTx(c, ipOld, local("root"), "h1@gmail.test")
	quit(c)
	time.Sleep(1200 * time.Millisecond)
	tr.mid = time.Now().UTC().Truncate(time.Second)
	time.Sleep(time.Until(tr.mid.Add(1100 * time.Millisecond)))

	// Phase 2.
	c = open(ipOld)
	relayTx(c, ipOld, local("root"), "h2@gmail.test")
	quit(c)
	c = open(ipProbe)
	relayTx(c, ipProbe, local("root"), "a@gmail.test", "b@yahoo.test")
	quit(c)
	c = open(ipProbe)
	relayTx(c, ipProbe, local("admin"), "a@gmail.test")
	quit(c)
	k := 0
	for s, txs := range [][]int{{8, 4}, {12}} {
		c = open(ipBurst)
		for j, n := range txs {
			if j > 0 {
				cmd(c, 250, "RSET")
			}
			var rcpts []string
			for ; len(rcpts) < n; k++ {
				rcpts = append(rcpts, fmt.Sprintf("r%d@d%d.test", k, k%6))
			}
			relayTx(c, ipBurst, fmt.Sprintf("bob%d@bulk.test", 1+s*2+j), rcpts...)
		}
		quit(c)
	}
	users := []string{"admin", "test", "info", "sales"}
	for n := 0; n < 4; n++ {
		c = open(ipBrute)
		for j := 0; j < 3; j++ {
			authFail(c, ipBrute, users[(n*3+j)%4], j%2 == 1)
		}
		quit(c)
	}
	c = open(ipDomains)
	var spray []string
	for i := 0; i < 6; i++ {
		spray = append(spray, fmt.Sprintf("x%d@e%d.test", i, i))
	}
	relayTx(c, ipDomains, "", spray...)
	quit(c)
	c = open(ipOnce)
	relayTx(c, ipOnce, "dave@once.test", "z@zmail.test")
	quit(c)
	// Benign traffic.
	for i := 0; i < 3; i++ {
		c = open(ipMail)
		deliver(c, "bob@"+eximlab.PartnerDomain, local("alice"), fmt.Sprintf("d%d", i))
		quit(c)
	}
	c = open(ipAuthOK)
	if rep, err := c.AuthPlain("testuser", "secret"); err != nil || rep.Code != 235 {
		t.Fatalf("AUTH: %v %v", rep, err)
	}
	deliver(c, local("alice"), "ok@"+eximlab.PartnerDomain, "d3")
	quit(c)
	c = open(ipTypo)
	cmd(c, 250, "MAIL FROM:<carol@"+eximlab.PartnerDomain+">")
	for _, u := range []string{"nosuchuser1", "nosuchuser2", "nosuchuser3"} {
		cmd(c, 550, "RCPT TO:<"+local(u)+">")
		tr.typo++
		tr.rejected[session]++
	}
	quit(c)
	c = open(ipWrongPw)
	authFail(c, ipWrongPw, "testuser", false)
	if rep, err := c.AuthPlain("testuser", "secret"); err != nil || rep.Code != 235 {
		t.Fatalf("AUTH: %v %v", rep, err)
	}
	quit(c)
	c = open(ipClient)
	var ten []string
	for i := 0; i < 10; i++ {
		ten = append(ten, fmt.Sprintf("customer%d@clients.test", i))
	}
	relayTx(c, ipClient, "carol@"+eximlab.PartnerDomain, ten...)
	quit(c)

	if err := lab.RunQueue(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(lab.LogPath("mainlog")), tr
}

// indexed is the lab's data in Elasticsearch.
type indexed struct {
	esURL, ns, cfgPath string
	// timeField is the field rules read (their timestamp_override when the
	// documents carry it, else @timestamp) and mid the instant that splits
	// the history phase from the rest in that field.
	timeField  string
	mid        time.Time
	from, to   time.Time
	deadLetter int
}

// shipDashboardLab ships the lab's logs through Kafka and eximship run, in
// two batches (the history phase, then the rest) so that event.ingested,
// when the shipper writes it, splits them too; adds two lines that are not
// Exim's (parse errors) and two dead letters written by the shipper's own
// dead-letter writer.
func shipDashboardLab(t *testing.T, dir string, tr *dashTruth) *indexed {
	t.Helper()
	esURL := stacktest.ElasticURL(t)
	brokers, topic := stacktest.NewTopic(t, 1)
	ns := strings.ReplaceAll(stacktest.UniqueName("dash"), "-", "")
	ix := &indexed{esURL: esURL, ns: ns}
	var batches [2][]kafka.Message
	for _, name := range []string{"mainlog", "rejectlog"} {
		path := filepath.Join(dir, name)
		for _, entry := range logEntries(t, path) {
			ts, err := time.Parse("2006-01-02 15:04:05", entry[:19])
			if err != nil {
				t.Fatalf("entry without a timestamp: %q", entry)
			}
			b := 1
			if ts.Before(tr.mid) {
				b = 0
			}
			env, _ := json.Marshal(map[string]any{"message": entry, "host": map[string]any{"name": "mx"},
				"log": map[string]any{"file": map[string]any{"path": path}}})
			batches[b] = append(batches[b], kafka.Message{Key: []byte("mx"), Value: env})
		}
	}
	for _, junk := range []string{"this is not an Exim log line", "neither is this one"} {
		batches[1] = append(batches[1], envelopeMessage(t, junk, "mx", filepath.Join(dir, "mainlog")))
	}
	ix.cfgPath = writeRunConfig(t, brokers, topic, esURL, ns, "", "  local_domains: ["+labLocal+"]\n", "")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w := hashWriter(brokers, topic)
	defer w.Close()
	want := 0
	for i, b := range batches {
		if i == 1 {
			// event.ingested is in whole seconds: split at the start of a
			// second after the first batch, the second batch ingested after it.
			ix.mid = time.Now().UTC().Add(1100 * time.Millisecond).Truncate(time.Second)
			time.Sleep(time.Until(ix.mid) + 100*time.Millisecond)
		}
		if err := w.WriteMessages(ctx, b...); err != nil {
			t.Fatal(err)
		}
		want += len(b)
		// One run per batch: the second resumes from the group's commits.
		runUntilIndexed(t, ctx, ix.cfgPath, esURL, ns, want, brokers, topic, ns, nil)
	}
	ix.to = time.Now().UTC().Add(time.Minute)
	ix.from = tr.mid.Add(-time.Hour)

	// Two dead letters, stored the way run stores them.
	sink, err := elastic.New(elastic.Config{Addresses: []string{esURL}, DeadLetterIndex: "eximship-deadletter-" + ns})
	if err != nil {
		t.Fatal(err)
	}
	var dls []shipper.DeadLetter
	for i, m := range batches[1][:2] {
		dls = append(dls, shipper.DeadLetter{Doc: shipper.Doc{ID: fmt.Sprintf("dl-%s-%d", ns, i), Stream: "logs-exim.main-" + ns,
			Body: []byte(`{"email":{"local_id":"x"}}`), Original: m.Value, Pos: shipper.Position{Topic: topic, Offset: int64(i)}},
			Status: 400, Reason: "document_parsing_exception: [1:23] object mapping for [email.local_id] tried to parse field [local_id] as object, but found a concrete value"})
	}
	if err := sink.WriteDeadLetters(ctx, dls); err != nil {
		t.Fatal(err)
	}
	ix.deadLetter = len(dls)
	esCount(t, esURL, "eximship-deadletter-"+ns) // refresh

	// The per-source entity index, as run (sources.enabled) or
	// `report --write-sources` writes it.
	reportJSON(t, "--config", ix.cfgPath, "--since", ix.from.Format(time.RFC3339), "--until", ix.to.Format(time.RFC3339), "--write-sources")
	esCount(t, esURL, "eximship-sources-"+ns) // refresh

	// The rules' time field: event.ingested when the documents have it
	// (split by the batches), else @timestamp (split by the lab's phases).
	// (Every document must carry it: a mapping can hold the field before
	// the shipper writes it, e.g. a newer template on a shared node.)
	ingestMid := ix.mid
	ix.timeField, ix.mid = "@timestamp", tr.mid
	all := countQuery(t, esURL, "logs-exim.*-"+ns, map[string]any{"match_all": map[string]any{}})
	if with := countQuery(t, esURL, "logs-exim.*-"+ns, map[string]any{"exists": map[string]any{"field": "event.ingested"}}); with == all && all > 0 {
		ix.timeField, ix.mid = "event.ingested", ingestMid
	}
	t.Logf("%d messages indexed into namespace %s; rules read %s, split at %s", want, ns, ix.timeField, ix.mid.Format(time.RFC3339Nano))
	return ix
}

// countQuery counts the documents of index matching query.
func countQuery(t *testing.T, esURL, index string, query map[string]any) int {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query})
	res, err := http.Post(esURL+"/"+index+"/_count", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var c struct {
		Count int `json:"count"`
	}
	if err := json.NewDecoder(res.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c.Count
}

type fieldCap struct {
	Type         string
	Searchable   bool
	Aggregatable bool
}

// fieldCaps returns the live mapping of index: field -> capabilities
// (a field mapped with two types is reported as "conflict").
func fieldCaps(t *testing.T, esURL, index string) map[string]fieldCap {
	t.Helper()
	res, err := http.Get(esURL + "/" + index + "/_field_caps?fields=*")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r struct {
		Fields map[string]map[string]struct {
			Type         string `json:"type"`
			Searchable   bool   `json:"searchable"`
			Aggregatable bool   `json:"aggregatable"`
		} `json:"fields"`
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	out := map[string]fieldCap{}
	for f, types := range r.Fields {
		if len(types) != 1 {
			out[f] = fieldCap{Type: "conflict"}
			continue
		}
		for typ, c := range types {
			out[f] = fieldCap{typ, c.Searchable, c.Aggregatable}
		}
	}
	return out
}

func search(t *testing.T, esURL, index string, body any) []byte {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(esURL+"/"+index+"/_search", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("search %s: %d %s\nrequest: %s", index, res.StatusCode, out, b)
	}
	return out
}

// panel is one Lens panel of a bundled dashboard, translated.
type panel struct {
	dashboard, id string
	attrs         *lens.Attributes
	dataView      string
}

func bundledPanels(t *testing.T) ([]panel, map[string]lens.Context) {
	t.Helper()
	ps, ctxs, err := dashboards.LensPanels()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]panel, len(ps))
	for i, p := range ps {
		out[i] = panel{p.Dashboard, p.ID, p.Attributes, p.DataView}
	}
	return out, ctxs
}

// rows runs a panel's layer on the namespace's data.
func (ix *indexed) rows(t *testing.T, p panel, c lens.Context) []lens.Row {
	t.Helper()
	c.From, c.To = ix.from, ix.to
	objs, _ := dashboards.Objects()
	c.TimeField = dashboards.TimeField(objs, p.dataView)
	req, err := lens.Translate(p.attrs, "l1", c)
	if err != nil {
		t.Fatalf("%s/%s: %v", p.dashboard, p.id, err)
	}
	idx := "logs-exim.*-" + ix.ns
	switch p.dataView {
	case dashboards.DeadLetterDataView:
		idx = "eximship-deadletter-" + ix.ns
	case dashboards.SourcesDataView:
		idx = "eximship-sources-" + ix.ns
	}
	rows, err := req.Table(search(t, ix.esURL, idx, req.Body))
	if err != nil {
		t.Fatalf("%s/%s: %v", p.dashboard, p.id, err)
	}
	return rows
}

// typesFor are the field types each Lens operation can aggregate.
var typesFor = map[string][]string{
	"terms":          {"keyword", "ip", "long", "integer", "short", "byte", "double", "float", "boolean", "date"},
	"unique_count":   {"keyword", "ip", "long", "integer", "double", "float", "boolean", "date"},
	"date_histogram": {"date"},
	"median":         {"long", "integer", "double", "float", "scaled_float"},
	"percentile":     {"long", "integer", "double", "float", "scaled_float"},
	"sum":            {"long", "integer", "double", "float", "scaled_float"},
	"avg":            {"long", "integer", "double", "float", "scaled_float"},
	"min":            {"long", "integer", "double", "float", "scaled_float", "date"},
	"max":            {"long", "integer", "double", "float", "scaled_float", "date"},
	"range":          {"long", "integer", "double", "float", "scaled_float"},
}

func TestDashboardsAndRulesOnRealEximIntegration(t *testing.T) {
	requireExim(t)
	stacktest.ElasticURL(t)
	dir, tr := runDashboardLab(t)
	ix := shipDashboardLab(t, dir, tr)
	t.Run("fields", func(t *testing.T) { checkFields(t, ix) })
	t.Run("panels", func(t *testing.T) { checkPanels(t, ix, tr) })
	t.Run("report", func(t *testing.T) { checkPanelsVersusReport(t, ix) })
	t.Run("rules", func(t *testing.T) { checkRules(t, ix) })
}

// checkFields: every field of the bundle exists in the live mapping, with
// a type the operation using it can aggregate.
func checkFields(t *testing.T, ix *indexed) {
	logs := fieldCaps(t, ix.esURL, "logs-exim.*-"+ix.ns)
	dead := fieldCaps(t, ix.esURL, "eximship-deadletter-"+ix.ns)
	sources := fieldCaps(t, ix.esURL, "eximship-sources-"+ix.ns)
	capsOf := map[string]map[string]fieldCap{dashboards.LogsDataView: logs, dashboards.DeadLetterDataView: dead, dashboards.SourcesDataView: sources}
	check := func(where, field, op string, caps map[string]fieldCap) {
		t.Helper()
		c, ok := caps[field]
		switch {
		case !ok:
			t.Errorf("%s: field %s is not in the live mapping", where, field)
		case op == "search":
			if !c.Searchable {
				t.Errorf("%s: field %s (%s) is not searchable", where, field, c.Type)
			}
		case op == "exists":
		default:
			okType := false
			for _, ty := range typesFor[op] {
				okType = okType || ty == c.Type
			}
			if !okType || !c.Aggregatable {
				t.Errorf("%s: %s on field %s of type %s (aggregatable %v)", where, op, field, c.Type, c.Aggregatable)
			}
		}
	}
	panels, _ := bundledPanels(t)
	n := 0
	for _, p := range panels {
		caps := capsOf[p.dataView]
		l, _ := p.attrs.Layer("l1")
		for f, op := range l.Fields() {
			check(p.dashboard+"/"+p.id, f, op, caps)
			n++
		}
		for _, q := range append([]string{p.attrs.State.Query.Query}, columnFilters(l)...) {
			fs, err := kql.Fields(q)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				check(p.dashboard+"/"+p.id+" query", f, "search", caps)
				n++
			}
		}
	}
	objs, _ := dashboards.Objects()
	for _, o := range objs {
		switch o.Type {
		case "search":
			for _, c := range o.Attributes["columns"].([]any) {
				check(o.ID+" column", c.(string), "exists", logs)
			}
			q := o.Attributes["kibanaSavedObjectMeta"].(map[string]any)["searchSourceJSON"].(map[string]any)["query"].(map[string]any)["query"].(string)
			fs, _ := kql.Fields(q)
			for _, f := range fs {
				check(o.ID+" query", f, "search", logs)
			}
		case "index-pattern":
			caps := capsOf[o.ID]
			if tf, _ := o.Attributes["timeFieldName"].(string); caps[tf].Type != "date" {
				t.Errorf("%s: time field %q is %q in the live mapping, not a date", o.ID, tf, caps[tf].Type)
			}
			for _, k := range []string{"fieldAttrs", "fieldFormatMap"} {
				for f := range o.Attributes[k].(map[string]any) {
					check(o.ID+" "+k, f, "exists", caps)
				}
			}
		}
	}
	rules, _ := dashboards.Rules()
	for _, r := range rules {
		fs, _ := kql.Fields(r.Query)
		for _, f := range fs {
			check(r.File, f, "search", logs)
		}
		if r.Threshold != nil {
			for _, f := range r.Threshold.Field {
				check(r.File+" threshold", f, "terms", logs)
			}
			for _, c := range r.Threshold.Cardinality {
				check(r.File+" cardinality", c.Field, "unique_count", logs)
			}
		}
		for _, f := range r.NewTermsFields {
			check(r.File+" new_terms", f, "terms", logs)
		}
		if r.TimestampOverride != "" {
			if _, ok := logs[r.TimestampOverride]; !ok {
				t.Logf("%s: timestamp_override %s is not mapped yet: Kibana falls back to @timestamp", r.File, r.TimestampOverride)
			}
		}
	}
	if n < 80 {
		t.Errorf("only %d panel fields checked", n)
	}
}

func columnFilters(l lens.Layer) []string {
	var out []string
	for _, c := range l.Columns {
		if c.Filter != nil {
			out = append(out, c.Filter.Query)
		}
		if c.OperationType == "filters" {
			var p struct {
				Filters []struct {
					Input lens.Query `json:"input"`
				} `json:"filters"`
			}
			_ = json.Unmarshal(c.Params, &p)
			for _, f := range p.Filters {
				out = append(out, f.Input.Query)
			}
		}
	}
	return out
}

// one returns the single metric of a one-row layer.
func one(t *testing.T, rows []lens.Row, col string) float64 {
	t.Helper()
	if len(rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rows))
	}
	v, _ := rows[0][col].(float64)
	return v
}

// byKey turns rows into key -> metric.
func byKey(rows []lens.Row, key, metric string) map[string]float64 {
	out := map[string]float64{}
	for _, r := range rows {
		v, _ := r[metric].(float64)
		out[fmt.Sprint(r[key])] = v
	}
	return out
}

func checkPanels(t *testing.T, ix *indexed, tr *dashTruth) {
	panels, ctxs := bundledPanels(t)
	get := map[string]panel{}
	for _, p := range panels {
		get[p.id] = p
		// Every panel runs on the real node.
		rows := ix.rows(t, p, ctxs[p.dashboard])
		t.Logf("%s/%s: %d rows", p.dashboard, p.id, len(rows))
	}
	run := func(id string) []lens.Row {
		t.Helper()
		p, ok := get[id]
		if !ok {
			t.Fatalf("no panel %s", id)
		}
		return ix.rows(t, p, ctxs[p.dashboard])
	}
	// The truth, computed directly.
	perIP := map[string]float64{}
	null := map[string]float64{}
	forged := 0.0
	froms := map[string]map[string]bool{}
	rcptDom := map[string]map[string]bool{}
	type triple struct{ ip, from, to string }
	forgedTriples := map[triple]float64{}
	for _, a := range tr.relay {
		perIP[a.ip]++
		if a.from == "" {
			null[a.ip]++
		} else {
			if froms[a.ip] == nil {
				froms[a.ip] = map[string]bool{}
			}
			froms[a.ip][a.from] = true
		}
		if strings.HasSuffix(a.from, "@"+labLocal) {
			forged++
			forgedTriples[triple{a.ip, a.from, a.to}]++
		}
		d := a.to[strings.IndexByte(a.to, '@')+1:]
		if rcptDom[d] == nil {
			rcptDom[d] = map[string]bool{}
		}
		rcptDom[d][a.to] = true
	}
	eq := func(what string, got, want float64) {
		t.Helper()
		if got != want {
			t.Errorf("%s: panel says %v, the truth is %v", what, got, want)
		}
	}
	eq("relay attempts", one(t, run("relay-count"), "c"), float64(len(tr.relay)))
	eq("overview relay attempts", one(t, run("ov-relay"), "c"), float64(len(tr.relay)))
	eq("distinct source IPs", one(t, run("relay-ips"), "c"), float64(len(perIP)))
	nulls := 0.0
	for _, n := range null {
		nulls += n
	}
	eq("null-sender attempts", one(t, run("relay-null"), "c"), nulls)
	eq("forged local senders", one(t, run("relay-forged"), "c"), forged)
	top := byKey(run("relay-top-ips"), "ip", "c")
	for ip, n := range perIP {
		eq("attempts of "+ip, top[ip], n)
	}
	if len(top) != len(perIP) {
		t.Errorf("top source IPs: %v, want %v", top, perIP)
	}
	mf := byKey(run("relay-mailfroms"), "ip", "u")
	for ip := range perIP {
		eq("distinct MAIL FROMs of "+ip, mf[ip], float64(len(froms[ip])))
	}
	once := byKey(run("relay-seen-once"), "ip", "c")
	var wantOnce []string
	for ip, n := range perIP {
		if n == 1 {
			wantOnce = append(wantOnce, ip)
		}
	}
	if len(once) != len(wantOnce) || len(wantOnce) != 1 || once[wantOnce[0]] != 1 {
		t.Errorf("IPs seen once: %v, want %v", once, wantOnce)
	}
	rd := byKey(run("relay-rcpt-domains"), "d", "u")
	if len(rd) != 10 {
		t.Errorf("top recipient domains: %d rows, want 10", len(rd))
	}
	for d, u := range rd {
		eq("unique recipients at "+d, u, float64(len(rcptDom[d])))
	}
	ft := map[triple]float64{}
	for _, r := range run("relay-forged-table") {
		ft[triple{fmt.Sprint(r["ip"]), fmt.Sprint(r["f"]), fmt.Sprint(r["t"])}] = r["c"].(float64)
	}
	if fmt.Sprint(ft) != fmt.Sprint(forgedTriples) {
		t.Errorf("forged-sender table:\n got %v\nwant %v", ft, forgedTriples)
	}
	if got := byKey(run("relay-null-ips"), "ip", "c"); fmt.Sprint(got) != fmt.Sprint(null) {
		t.Errorf("null-sender IPs: %v, want %v", got, null)
	}
	if rows := run("relay-countries"); len(rows) != 0 {
		t.Errorf("source countries without GeoIP: %v", rows)
	}
	reasons := byKey(run("relay-reasons"), "r", "c")
	eq("reason 'relay not permitted'", reasons["relay not permitted"], float64(len(tr.relay)))
	total := 0.0
	for _, n := range reasons {
		total += n
	}
	eq("rejected RCPTs by reason", total, float64(tr.rejections()))
	eq("overview rejections", one(t, run("ov-rejections"), "c"), float64(tr.rejections()))

	// Sessions: exact with +smtp_connection.
	sessionsOf := map[string]map[int]bool{}
	allSessions := map[int]bool{}
	for _, a := range tr.relay {
		if sessionsOf[a.ip] == nil {
			sessionsOf[a.ip] = map[int]bool{}
		}
		sessionsOf[a.ip][a.session] = true
		allSessions[a.session] = true
	}
	perSource := run("relay-sessions")
	bySessions, byFroms, byCount := byKey(perSource, "ip", "s"), byKey(perSource, "ip", "f"), byKey(perSource, "ip", "c")
	for ip, n := range perIP {
		eq("relay attempts of "+ip+" (sessions table)", byCount[ip], n)
		eq("SMTP sessions of "+ip, bySessions[ip], float64(len(sessionsOf[ip])))
		eq("MAIL FROMs of "+ip+" (sessions table)", byFroms[ip], float64(len(froms[ip])))
	}
	eq("SMTP sessions with relay attempts", one(t, run("relay-session-count"), "c"), float64(len(allSessions)))
	wantHist := map[string]float64{}
	for _, n := range tr.rejected {
		switch {
		case n <= 4:
			wantHist[fmt.Sprint(n)]++
		case n <= 10:
			wantHist["5-10"]++
		default:
			wantHist["11+"]++
		}
	}
	gotHist := map[string]float64{}
	for _, r := range run("relay-rcpts-per-session") {
		if v, _ := r["c"].(float64); v > 0 {
			gotHist[fmt.Sprint(r["n"])] = v
		}
	}
	if fmt.Sprint(gotHist) != fmt.Sprint(wantHist) {
		t.Errorf("rejected RCPTs per session: panel %v, truth %v", gotHist, wantHist)
	}

	// Without the dashboard's dataset filter the reject log counts every
	// rejection a second time: the filter is what keeps the count right.
	p := get["relay-count"]
	c := ctxs[p.dashboard]
	c.Filters = nil
	eq("relay attempts over main and reject log (no dataset filter)", one(t, ix.rows(t, p, c), "c"), 2*float64(len(tr.relay)))

	authN, users := 0.0, map[string]bool{}
	for _, us := range tr.authFails {
		authN += float64(len(us))
		for _, u := range us {
			users[u] = true
		}
	}
	eq("AUTH failures", one(t, run("sec-auth-count"), "c"), authN)
	eq("overview AUTH failures", one(t, run("ov-auth"), "c"), authN)
	eq("sources failing AUTH", one(t, run("sec-auth-ips"), "c"), float64(len(tr.authFails)))
	src := run("sec-auth-sources")
	bySrc, usersBySrc := byKey(src, "ip", "c"), byKey(src, "ip", "u")
	for ip, us := range tr.authFails {
		distinct := map[string]bool{}
		for _, u := range us {
			distinct[u] = true
		}
		eq("AUTH failures of "+ip, bySrc[ip], float64(len(us)))
		eq("distinct users tried by "+ip, usersBySrc[ip], float64(len(distinct)))
	}
	if got := byKey(run("sec-auth-users"), "un", "c"); len(got) != len(users) {
		t.Errorf("AUTH failures by user: %v, want users %v", got, users)
	}
	eq("arrivals", one(t, run("flow-arrivals"), "c"), float64(tr.arrivals))
	eq("overview arrivals", one(t, run("ov-arrivals"), "c"), float64(tr.arrivals))
	eq("deliveries", one(t, run("flow-deliveries"), "c"), float64(tr.deliveries))
	dirs := 0.0
	for _, r := range run("flow-direction") {
		dirs += r["c"].(float64)
	}
	eq("deliveries by direction, summed", dirs, float64(tr.deliveries))
	tls := byKey(run("flow-tls"), "k", "c")
	eq("arrivals without TLS", tls["No TLS"], float64(tr.arrivals))
	eq("arrivals over TLS", tls["TLS"], 0)
	eq("arrivals of host mx", byKey(run("flow-hosts"), "h", "c")["mx"], float64(tr.arrivals))
	sizes := 0.0
	for _, r := range run("flow-sizes") {
		if v, ok := r["c"].(float64); ok {
			sizes += v
		}
	}
	eq("messages by size", sizes, float64(tr.arrivals))
	eq("parse errors", one(t, run("ov-parse-errors"), "c"), 2)
	eq("dead letters", one(t, run("ov-dead-letters"), "c"), float64(ix.deadLetter))
	dr := run("ov-dead-reasons")
	if len(dr) != 1 || dr[0]["e"] != "document_parsing_exception" || dr[0]["s"] != 400.0 || dr[0]["c"] != float64(ix.deadLetter) {
		t.Errorf("dead letters by error: %v", dr)
	}
	// Histograms sum to their total.
	hist := 0.0
	for _, r := range run("relay-over-time") {
		if v, ok := r["c"].(float64); ok {
			hist += v
		}
	}
	eq("relay attempts over time, summed", hist, float64(len(tr.relay)))
}

// checkPanelsVersusReport: `eximship report` from Elasticsearch and the
// relay dashboard give the same figures on the same data.
func checkPanelsVersusReport(t *testing.T, ix *indexed) {
	rep, _ := reportJSON(t, "--config", ix.cfgPath, "--since", ix.from.Format(time.RFC3339), "--until", ix.to.Format(time.RFC3339))
	panels, ctxs := bundledPanels(t)
	get := map[string][]lens.Row{}
	for _, p := range panels {
		if p.dashboard == dashboards.RelayDashboard {
			get[p.id] = ix.rows(t, p, ctxs[p.dashboard])
		}
	}
	eq := func(what string, panel float64, key string) {
		t.Helper()
		if r, _ := rep[key].(float64); r != panel {
			t.Errorf("%s: dashboard %v, report %s %v", what, panel, key, rep[key])
		}
	}
	eq("relay attempts", one(t, get["relay-count"], "c"), "relay_attempts")
	eq("source IPs", one(t, get["relay-ips"], "c"), "source_ips")
	eq("IPs seen once", float64(len(get["relay-seen-once"])), "single_attempt_ips")
	eq("null-sender attempts", one(t, get["relay-null"], "c"), "null_sender_attempts")
	eq("forged local senders", one(t, get["relay-forged"], "c"), "forged_local_sender_attempts")
	for _, c := range []struct{ panel, col, key, field string }{
		{"relay-rcpt-domains", "u", "top_recipient_domains", "unique_recipients"},
		{"relay-sender-domains", "u", "top_sender_domains", "unique_senders"},
	} {
		repTop, _ := rep[c.key].([]any)
		repBy := map[string]float64{}
		var repVals []float64
		for _, x := range repTop {
			m := x.(map[string]any)
			repBy[m["domain"].(string)] = m[c.field].(float64)
			repVals = append(repVals, m[c.field].(float64))
		}
		var panelVals []float64
		for _, r := range get[c.panel] {
			d := fmt.Sprint(r["d"])
			v := r[c.col].(float64)
			panelVals = append(panelVals, v)
			if rv, ok := repBy[d]; ok && rv != v {
				t.Errorf("%s %s: dashboard %v, report %v", c.key, d, v, rv)
			}
		}
		sort.Sort(sort.Reverse(sort.Float64Slice(repVals)))
		if len(repVals) > len(panelVals) {
			repVals = repVals[:len(panelVals)]
		}
		if fmt.Sprint(repVals) != fmt.Sprint(panelVals) {
			t.Errorf("%s: dashboard values %v, report %v", c.key, panelVals, repVals)
		}
	}
	best, _ := rep["most_distinct_mail_froms"].(map[string]any)
	first := get["relay-mailfroms"][0]
	if fmt.Sprint(first["ip"]) != best["source_ip"] || first["u"] != best["mail_froms"] {
		t.Errorf("most distinct MAIL FROMs: dashboard %v, report %v", first, best)
	}
	// The per-source panels read the entity index: the same classifications
	// and per-source figures as the report (one window holds the data,
	// unless the test ran across midnight UTC).
	if days := map[string]bool{ix.from.Add(time.Hour).Format("2006-01-02"): true, ix.to.Add(-time.Minute).Format("2006-01-02"): true}; len(days) == 1 {
		classes := map[string][2]float64{}
		for _, r := range get["relay-source-classes"] {
			classes[fmt.Sprint(r["k"])] = [2]float64{r["u"].(float64), r["a"].(float64)}
		}
		for _, x := range rep["classifications"].([]any) {
			m := x.(map[string]any)
			want := [2]float64{m["source_ips"].(float64), m["attempts"].(float64)}
			if want[0] == 0 {
				continue
			}
			if got := classes[m["classification"].(string)]; got != want {
				t.Errorf("classification %v: dashboard (source IPs, attempts) %v, report %v", m["classification"], got, want)
			}
		}
		sess := byKey(get["relay-sessions"], "ip", "s")
		exact := 0
		for _, x := range rep["sources"].([]any) {
			m := x.(map[string]any)
			if m["sessions_exact"] != true {
				continue
			}
			exact++
			if sess[m["source_ip"].(string)] != m["sessions"] {
				t.Errorf("sessions of %v: dashboard %v, report %v", m["source_ip"], sess[m["source_ip"].(string)], m["sessions"])
			}
		}
		if exact == 0 {
			t.Error("the report has no exact session counts to compare (log_selector +smtp_connection should give them)")
		}
		bySource := map[string]lens.Row{}
		for _, r := range get["relay-source-table"] {
			bySource[fmt.Sprint(r["ip"])] = r
		}
		for _, x := range rep["sources"].([]any) {
			m := x.(map[string]any)
			r := bySource[m["source_ip"].(string)]
			if r == nil || r["k"] != m["classification"] || r["a"] != m["attempts"] || r["f"] != m["mail_froms"] || r["d"] != m["recipient_domains"] {
				t.Errorf("source %v: dashboard %v, report %v", m["source_ip"], r, m)
			}
		}
		if len(classes) == 0 {
			t.Error("no classified sources on the dashboard")
		}
	} else {
		t.Logf("the data spans two UTC days: the entity index holds two windows, the per-source comparison is skipped")
	}
	t.Logf("dashboard and report agree: %v relay attempts from %v IPs", rep["relay_attempts"], rep["source_ips"])
}

// checkRules: each rule fires on exactly the attackers it is for.
func checkRules(t *testing.T, ix *indexed) {
	rules, err := dashboards.Rules()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"rules/relay-probing-forged-sender.json": {ipProbe},
		"rules/relay-burst-single-source.json":   {ipBurst},
		"rules/smtp-auth-brute-force.json":       {ipBrute},
		"rules/many-recipient-domains.json":      {ipBurst, ipDomains},
	}
	for _, r := range rules {
		w, ok := want[r.File]
		if !ok {
			t.Errorf("%s: no expectation", r.File)
			continue
		}
		got := fire(t, ix, r, r.Query)
		if strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("%s fires on %v, want exactly %v", r.File, got, w)
		} else {
			t.Logf("%s fires on %v", r.File, got)
		}
	}
	// The dataset filter matters: without it the relay burst rule counts
	// the misconfigured client's 10 rejections twice (main and reject log)
	// and fires on it too.
	for _, r := range rules {
		if r.File == "rules/relay-burst-single-source.json" {
			q := strings.TrimPrefix(r.Query, `data_stream.dataset:"exim.main" and `)
			if got := fire(t, ix, r, q); strings.Join(got, ",") != ipBurst+","+ipClient {
				t.Errorf("without the dataset filter the burst rule fires on %v, want %v and %v", got, ipBurst, ipClient)
			}
		}
	}
}

// fire emulates a rule over the rule window [mid, to] (the history window
// of new_terms rules is [from, mid)): query rules alert per document,
// threshold rules per group reaching the count and every cardinality,
// new_terms rules per value not seen in the history window. Kibana's own
// threshold executor uses composite + cardinality + bucket_selector (no
// painless here): the selection is done in Go. It returns the source IPs.
func fire(t *testing.T, ix *indexed, r dashboards.Rule, query string) []string {
	t.Helper()
	q, err := kql.ToDSL(query)
	if err != nil {
		t.Fatal(err)
	}
	window := func(from, to time.Time) map[string]any {
		return map[string]any{"bool": map[string]any{"filter": []any{q, map[string]any{"range": map[string]any{ix.timeField: map[string]any{
			"gte": from.Format(time.RFC3339Nano), "lt": to.Format(time.RFC3339Nano)}}}}}}
	}
	idx := "logs-exim.*-" + ix.ns
	group := r.NewTermsFields
	if r.Threshold != nil {
		group = r.Threshold.Field
	}
	if r.Type == "query" {
		group = []string{"source.ip"}
	}
	sources := []any{}
	for _, f := range group {
		sources = append(sources, map[string]any{f: map[string]any{"terms": map[string]any{"field": f}}})
	}
	composite := func(query map[string]any, sub map[string]any) []map[string]any {
		var out []map[string]any
		var after any
		for {
			comp := map[string]any{"size": 1000, "sources": sources}
			if after != nil {
				comp["after"] = after
			}
			agg := map[string]any{"composite": comp}
			if len(sub) > 0 {
				agg["aggs"] = sub
			}
			var res struct {
				Aggregations struct {
					G struct {
						AfterKey any              `json:"after_key"`
						Buckets  []map[string]any `json:"buckets"`
					} `json:"g"`
				} `json:"aggregations"`
			}
			if err := json.Unmarshal(search(t, ix.esURL, idx, map[string]any{"size": 0, "query": query, "aggs": map[string]any{"g": agg}}), &res); err != nil {
				t.Fatal(err)
			}
			out = append(out, res.Aggregations.G.Buckets...)
			if len(res.Aggregations.G.Buckets) < 1000 {
				return out
			}
			after = res.Aggregations.G.AfterKey
		}
	}
	var fired []string
	switch r.Type {
	case "query":
		for _, b := range composite(window(ix.mid, ix.to), nil) {
			fired = append(fired, fmt.Sprint(b["key"].(map[string]any)["source.ip"]))
		}
	case "threshold":
		sub := map[string]any{}
		for i, c := range r.Threshold.Cardinality {
			sub[fmt.Sprint("c", i)] = map[string]any{"cardinality": map[string]any{"field": c.Field}}
		}
	buckets:
		for _, b := range composite(window(ix.mid, ix.to), sub) {
			if b["doc_count"].(float64) < float64(r.Threshold.Value) {
				continue
			}
			for i, c := range r.Threshold.Cardinality {
				if b[fmt.Sprint("c", i)].(map[string]any)["value"].(float64) < float64(c.Value) {
					continue buckets
				}
			}
			fired = append(fired, fmt.Sprint(b["key"].(map[string]any)["source.ip"]))
		}
	case "new_terms":
		var days int
		if _, err := fmt.Sscanf(r.HistoryWindowStart, "now-%dd", &days); err != nil || days <= 0 {
			t.Fatalf("%s: history_window_start %q", r.File, r.HistoryWindowStart)
		}
		histFrom := ix.to.AddDate(0, 0, -days)
		seen := map[string]bool{}
		for _, b := range composite(window(histFrom, ix.mid), nil) {
			seen[fmt.Sprint(b["key"])] = true
		}
		for _, b := range composite(window(ix.mid, ix.to), nil) {
			if !seen[fmt.Sprint(b["key"])] {
				fired = append(fired, fmt.Sprint(b["key"].(map[string]any)["source.ip"]))
			}
		}
	default:
		t.Fatalf("%s: rule type %s cannot be emulated", r.File, r.Type)
	}
	sort.Strings(fired)
	return fired
}
