package stackcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/enrich"
	"github.com/eximship/eximship/shipper/enrich/geoip"
	"github.com/eximship/eximship/shipper/enrich/geoip/geoiptest"
	"github.com/eximship/eximship/shipper/exim/eximlab"
	"github.com/eximship/eximship/shipper/process"
	"github.com/eximship/eximship/shipper/stacktest"
)

// enrichRcpt is a relay attempt's recipient with what the test expects of
// its domain (written by hand, not computed by shipper/enrich).
type enrichRcpt struct {
	addr, tld, country string
	freemail           bool
}

// enrichSession is one SMTP connection to the real Exim.
type enrichSession struct {
	src, helo, class string // class: the expected exim.smtp.helo_class
	from             string // "" is the null sender
	fromFreemail     bool
	fromCountry      string
	utf8             bool // MAIL FROM ... SMTPUTF8
	heloRejected     bool // Exim refuses the EHLO argument (501)
	rcpts            []enrichRcpt
}

func enrichSessions(ipv6 bool) []enrichSession {
	s := []enrichSession{
		{src: "127.0.0.30", helo: "ylmf-pc", class: enrich.HeloBareWord, from: "spam@gmail.com", fromFreemail: true, rcpts: []enrichRcpt{
			{"victim@yahoo.co.jp", "jp", "JP", true}, {"user@gmx.de", "de", "DE", true}}},
		{src: "127.0.0.31", helo: "[127.0.0.31]", class: enrich.HeloAddressLiteral, from: "", rcpts: []enrichRcpt{
			{"a@example.com.tw", "tw", "TW", false}, {"b@xn--e1afmkfd.xn--p1ai", "xn--p1ai", "RU", false}}},
		{src: "127.0.0.32", helo: "[10.1.2.3]", class: enrich.HeloAddressLiteralMismatch, from: "info@" + eximlab.LocalDomain, rcpts: []enrichRcpt{
			{"c@bbc.co.uk", "uk", "GB", false}}},
		{src: "127.0.0.130", helo: "localhost", class: enrich.HeloLocalhost, from: "x@mail.ru", fromFreemail: true, fromCountry: "RU", rcpts: []enrichRcpt{
			{"d@gmx.de", "de", "DE", true}}},
		{src: "127.0.0.131", helo: "mx." + eximlab.LocalDomain, class: enrich.HeloOwnName, from: "root@" + eximlab.LocalDomain, rcpts: []enrichRcpt{
			{"e@qq.com", "com", "", true}}},
		{src: "127.0.0.132", helo: "mail.firma.co.jp", class: enrich.HeloFQDN, from: "f@firma.co.jp", fromCountry: "JP", rcpts: []enrichRcpt{
			{"g@firma.co.jp", "jp", "JP", false}}},
		{src: "127.0.0.133", helo: "bad_name.example", class: enrich.HeloInvalid, heloRejected: true},
		{src: "127.0.0.134", helo: "mx.sender.example", class: enrich.HeloFQDN, from: "bob@例子.中国", fromCountry: "CN", utf8: true, rcpts: []enrichRcpt{
			{"用户@пример.рф", "xn--p1ai", "RU", false}}},
	}
	if ipv6 {
		s = append(s, enrichSession{src: "::1", helo: "[IPv6:::1]", class: enrich.HeloAddressLiteral, from: "v6@web.de", fromFreemail: true, fromCountry: "DE",
			rcpts: []enrichRcpt{{"h@example.com.tw", "tw", "TW", false}}})
	}
	return s
}

// TestEnrichmentRealEximIntegration drives a real Exim (the lab) with relay
// attempts whose domains, HELOs and addresses the test knows, parses its
// logs with enrichment and a GeoIP database built for the lab's loopback
// addresses, indexes them into the real Elasticsearch through eximship's
// templates, and checks the enrichment fields by aggregations: terms on
// exim.rcpt.tld and exim.rcpt.country, a filter on exim.sender.freemail,
// HELO classes per source, address classes, source.geo and source.as
// (terms, a geo_distance query and geo_bounds on the geo_point).
func TestEnrichmentRealEximIntegration(t *testing.T) {
	url := stacktest.ElasticURL(t)
	es := esClient(t)
	if _, err := eximlab.FindExim(); err != nil {
		stacktest.Skip(t, "%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// 1. the real Exim
	lab, err := eximlab.Start(ctx, eximlab.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sessions := enrichSessions(lab.HasIPv6)
	for _, s := range sessions {
		if err := runEnrichSession(ctx, lab, s); err != nil {
			lab.Close()
			t.Fatalf("session from %s: %v", s.src, err)
		}
	}
	logDir := t.TempDir()
	for _, name := range []string{"mainlog", "rejectlog"} {
		if b, err := os.ReadFile(lab.LogPath(name)); err == nil {
			if err := os.WriteFile(filepath.Join(logDir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}

	// 2. GeoIP databases for the lab's addresses
	dbDir := t.TempDir()
	city, asn := filepath.Join(dbDir, "city.mmdb"), filepath.Join(dbDir, "asn.mmdb")
	if err := geoiptest.WriteCity(city, "GeoLite2-City", []geoiptest.City{
		{Network: "127.0.0.0/25", Continent: "EU", ContinentName: "Europe", Country: "DE", CountryName: "Germany", Region: "BE", RegionName: "Berlin", City: "Berlin", Lat: 52.52, Lon: 13.405},
		{Network: "127.0.0.128/25", Continent: "AS", ContinentName: "Asia", Country: "JP", CountryName: "Japan", Region: "13", RegionName: "Tokyo", City: "Tokyo", Lat: 35.6895, Lon: 139.6917},
		{Network: "::1/128", Continent: "NA", ContinentName: "North America", Country: "US", CountryName: "United States", NoLocation: true},
	}); err != nil {
		t.Fatal(err)
	}
	if err := geoiptest.WriteASN(asn, []geoiptest.ASN{
		{Network: "127.0.0.0/25", Number: 64501, Org: "Lab Berlin"}, {Network: "127.0.0.128/25", Number: 64502, Org: "Lab Tokyo"},
	}); err != nil {
		t.Fatal(err)
	}
	db, err := geoip.Open(geoip.Config{CityDatabase: city, ASNDatabase: asn})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// 3. parse with enrichment, index through the real templates
	sink, err := elastic.New(elastic.Config{Addresses: []string{url}, Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close(context.Background())
	if _, err := mapping.Install(ctx, sink.Client(), mapping.Options{}); err != nil {
		t.Fatal(err)
	}
	ns := strings.ReplaceAll(stacktest.UniqueName("enrich"), "-", "")
	var docs []shipper.Doc
	for _, ds := range []string{"main", "reject"} {
		p, err := process.New(process.Config{Namespace: ns, Location: time.UTC, Dataset: ds,
			Enrich: enrich.Config{LocalDomains: []string{eximlab.LocalDomain}, GeoIP: db}})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(logDir, ds+"log"))
		if err != nil {
			t.Fatalf("%slog: %v", ds, err)
		}
		docs = appendLogDocs(t, p, ds, raw, docs)
	}
	if err := sink.WriteBatch(ctx, docs); err != nil {
		var be *shipper.BatchError
		if errors.As(err, &be) {
			for _, it := range be.Items[:min(len(be.Items), 5)] {
				t.Errorf("refused: %+v", it)
			}
		}
		t.Fatal(err)
	}
	index := "logs-exim.main-" + ns
	esJSON(t, es, "POST", "/logs-exim.*-"+ns+"/_refresh", "")
	t.Logf("%d documents from the real Exim's logs into logs-exim.*-%s", len(docs), ns)

	// 4. the truth, from the sessions
	tlds, countries := map[string]float64{}, map[string]float64{}
	var relay, freemailSenders, forged, same, nullSender float64
	geoCountry, asNumbers := map[string]float64{}, map[string]float64{}
	var nearBerlin float64
	heloIPs := map[string][]string{}
	for _, s := range sessions {
		heloIPs[s.class] = append(heloIPs[s.class], s.src)
		for _, r := range s.rcpts {
			relay++
			tlds[r.tld]++
			if r.country != "" {
				countries[r.country]++
			}
			if s.fromFreemail {
				freemailSenders++
			}
			if strings.HasSuffix(s.from, "@"+eximlab.LocalDomain) {
				forged++
			}
			if s.from == "" {
				nullSender++
			}
			if s.from != "" && s.from[strings.LastIndexByte(s.from, '@'):] == r.addr[strings.LastIndexByte(r.addr, '@'):] {
				same++
			}
			switch {
			case s.src == "::1":
				geoCountry["US"]++
			case strings.HasPrefix(s.src, "127.0.0.1"): // .130-.134: the JP half
				geoCountry["JP"]++
				asNumbers["64502"]++
			default:
				geoCountry["DE"]++
				asNumbers["64501"]++
				nearBerlin++
			}
		}
	}
	for _, ips := range heloIPs {
		sort.Strings(ips)
	}

	// 5. aggregations over the main log's relay attempts
	relayQ := `{"bool":{"filter":[{"term":{"event.action":"rcpt-rejected"}},{"match_phrase":{"exim.reason":"relay not permitted"}}]}}`
	res := esJSON(t, es, "POST", "/"+index+"/_search", `{"size":0,"query":`+relayQ+`,"aggs":{
		"tld":{"terms":{"field":"exim.rcpt.tld","size":50}},
		"country":{"terms":{"field":"exim.rcpt.country","size":50}},
		"freemail":{"filter":{"term":{"exim.sender.freemail":true}}},
		"forged":{"filter":{"term":{"exim.sender.forged_local":true}}},
		"same":{"filter":{"term":{"exim.same_domain":true}}},
		"null":{"filter":{"term":{"exim.sender.null":true}}},
		"unicode":{"terms":{"field":"exim.rcpt.domain_unicode"}},
		"sender_country":{"terms":{"field":"exim.sender.country"}},
		"ipclass":{"terms":{"field":"exim.source.ip_class"}},
		"geo_country":{"terms":{"field":"source.geo.country_iso_code"}},
		"as":{"terms":{"field":"source.as.number"}},
		"berlin":{"filter":{"geo_distance":{"distance":"100km","source.geo.location":{"lat":52.5,"lon":13.4}}}},
		"bounds":{"geo_bounds":{"field":"source.geo.location"}}}}`)
	if got := hits(res); got != relay {
		t.Fatalf("%v relay attempts indexed, the sessions made %v", got, relay)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Elasticsearch says %v, the sessions say %v", name, got, want)
		}
	}
	check("terms exim.rcpt.tld", buckets(res, "tld"), tlds)
	check("terms exim.rcpt.country", buckets(res, "country"), countries)
	check("filter exim.sender.freemail", docCount(res, "freemail"), freemailSenders)
	check("filter exim.sender.forged_local", docCount(res, "forged"), forged)
	check("filter exim.same_domain", docCount(res, "same"), same)
	check("filter exim.sender.null", docCount(res, "null"), nullSender)
	check("terms exim.rcpt.domain_unicode", buckets(res, "unicode"), map[string]float64{"пример.рф": 2})
	wantSC := map[string]float64{"RU": 1, "JP": 1, "CN": 1}
	if lab.HasIPv6 {
		wantSC["DE"] = 1
	}
	check("terms exim.sender.country", buckets(res, "sender_country"), wantSC)
	check("terms exim.source.ip_class", buckets(res, "ipclass"), map[string]float64{"loopback": relay})
	check("terms source.geo.country_iso_code", buckets(res, "geo_country"), geoCountry)
	check("terms source.as.number", buckets(res, "as"), asNumbers)
	check("geo_distance 100 km around Berlin", docCount(res, "berlin"), nearBerlin)
	b, _ := res["aggregations"].(map[string]any)["bounds"].(map[string]any)["bounds"].(map[string]any)
	tl, _ := b["top_left"].(map[string]any)
	br, _ := b["bottom_right"].(map[string]any)
	if tl == nil || br == nil || !near(tl["lat"], 52.52) || !near(tl["lon"], 13.405) || !near(br["lat"], 35.6895) || !near(br["lon"], 139.6917) {
		t.Errorf("geo_bounds of source.geo.location = %v, want Berlin to Tokyo", b)
	}

	// HELO classes per source, over every main-log document with a HELO
	res = esJSON(t, es, "POST", "/"+index+"/_search", `{"size":0,"aggs":{"c":{"terms":{"field":"exim.smtp.helo_class","size":20},
		"aggs":{"ip":{"terms":{"field":"source.address","size":50}}}}}}`)
	gotHelo := map[string][]string{}
	for _, bk := range res["aggregations"].(map[string]any)["c"].(map[string]any)["buckets"].([]any) {
		bm := bk.(map[string]any)
		for _, ib := range bm["ip"].(map[string]any)["buckets"].([]any) {
			gotHelo[bm["key"].(string)] = append(gotHelo[bm["key"].(string)], ib.(map[string]any)["key"].(string))
		}
		sort.Strings(gotHelo[bm["key"].(string)])
	}
	check("terms exim.smtp.helo_class > source.address", gotHelo, heloIPs)

	// the mismatching literal is in related.ip; nothing was ignored as malformed
	res = esJSON(t, es, "POST", "/logs-exim.*-"+ns+"/_search", `{"size":0,"query":{"term":{"related.ip":"10.1.2.3"}}}`)
	if hits(res) == 0 {
		t.Error("no document has the HELO literal 10.1.2.3 in related.ip")
	}
	res = esJSON(t, es, "POST", "/logs-exim.*-"+ns+"/_search", `{"size":3,"query":{"exists":{"field":"_ignored"}},"_source":["_ignored","event.original"]}`)
	if n := hits(res); n != 0 {
		t.Errorf("%v documents have fields ignored as malformed: %v", n, res["hits"])
	}
	caps := esJSON(t, es, "GET", "/logs-exim.*-"+ns+"/_field_caps?fields=source.geo.location,exim.sender.freemail,exim.rcpt.tld,source.as.number", "")
	for f, typ := range map[string]string{"source.geo.location": "geo_point", "exim.sender.freemail": "boolean", "exim.rcpt.tld": "keyword", "source.as.number": "long"} {
		if _, ok := caps["fields"].(map[string]any)[f].(map[string]any)[typ]; !ok {
			t.Errorf("field %s is not mapped as %s: %v", f, typ, caps["fields"].(map[string]any)[f])
		}
	}
}

func runEnrichSession(ctx context.Context, l *eximlab.Lab, s enrichSession) error {
	c, err := l.Dial(ctx, s.src)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Expect(220); err != nil {
		return err
	}
	if s.heloRejected {
		if _, err := c.Cmd(501, "EHLO "+s.helo); err != nil {
			return err
		}
		return c.Quit()
	}
	if _, err := c.Cmd(250, "EHLO "+s.helo); err != nil {
		return err
	}
	mail := "MAIL FROM:<" + s.from + ">"
	if s.utf8 {
		mail += " SMTPUTF8"
	}
	if _, err := c.Cmd(250, mail); err != nil {
		return err
	}
	for _, r := range s.rcpts {
		if _, err := c.Cmd(550, "RCPT TO:<"+r.addr+">"); err != nil {
			return err
		}
	}
	return c.Quit()
}

// appendLogDocs processes a log file as messages of whole entries (a line
// with a timestamp starts one).
func appendLogDocs(t *testing.T, p *process.Exim, ds string, raw []byte, docs []shipper.Doc) []shipper.Doc {
	t.Helper()
	var entry []byte
	off := int64(0)
	flush := func() {
		if len(entry) == 0 {
			return
		}
		off++
		var err error
		docs, err = p.Process(shipper.Message{Position: shipper.Position{Topic: "enrich-" + ds, Offset: off}, Value: entry, Time: time.Now()}, docs)
		if err != nil {
			t.Fatal(err)
		}
		entry = nil
	}
	for _, l := range bytes.SplitAfter(raw, []byte("\n")) {
		if len(l) > 0 && l[0] >= '0' && l[0] <= '9' {
			flush()
		}
		entry = append(entry, l...)
	}
	flush()
	return docs
}

// esJSON performs a request with esDo and decodes its 200 answer.
func esJSON(t *testing.T, es *elasticsearch.Client, method, path, body string) map[string]any {
	t.Helper()
	status, b := esDo(t, es, method, path, body)
	var m map[string]any
	if err := json.Unmarshal([]byte(b), &m); err != nil || status != 200 {
		t.Fatalf("%s %s: %d %s", method, path, status, b)
	}
	return m
}

func hits(res map[string]any) float64 {
	return res["hits"].(map[string]any)["total"].(map[string]any)["value"].(float64)
}

func buckets(res map[string]any, name string) map[string]float64 {
	out := map[string]float64{}
	for _, b := range res["aggregations"].(map[string]any)[name].(map[string]any)["buckets"].([]any) {
		bm := b.(map[string]any)
		out[fmt.Sprint(bm["key"])] = bm["doc_count"].(float64)
	}
	return out
}

func docCount(res map[string]any, name string) float64 {
	return res["aggregations"].(map[string]any)[name].(map[string]any)["doc_count"].(float64)
}

func near(v any, want float64) bool {
	f, ok := v.(float64)
	return ok && f > want-0.01 && f < want+0.01
}
