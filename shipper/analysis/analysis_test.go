package analysis

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

func TestRelay(t *testing.T) {
	local := NewRelay([]string{" Example.ORG. ", "mx.test"})
	none := NewRelay(nil)
	for _, c := range []struct {
		r      Relay
		domain string
		reason string
		want   bool
	}{
		{local, "gmail.com", "", true},
		{local, "example.org", "relay not permitted", false},
		{local, "sub.example.org", "", false},
		{local, "a.b.example.org", "", false},
		{local, "badexample.org", "", true}, // not a subdomain
		{local, "example.org.evil", "", true},
		{local, "mx.test", "", false},
		{local, "", "relay not permitted", false}, // no domain: not outside
		{none, "gmail.com", "relay not permitted", true},
		{none, "gmail.com", "Relay Not Permitted.", true},
		{none, "", "550 relay-not permitted here", true}, // words, as match_phrase
		{none, "gmail.com", "relaying not permitted", false},
		{none, "gmail.com", "relay is not permitted", false},
		{none, "gmail.com", "Unrouteable address", false},
		{none, "gmail.com", "", false},
	} {
		if got := c.r.Attempt(c.domain, c.reason); got != c.want {
			t.Errorf("%v.Attempt(%q, %q) = %v, want %v", c.r.Local, c.domain, c.reason, got, c.want)
		}
	}
	if !reflect.DeepEqual(local.Local, []string{"example.org", "mx.test"}) {
		t.Errorf("local domains normalised to %q", local.Local)
	}
}

func TestSenderPattern(t *testing.T) {
	for in, want := range map[string]string{
		"info12@shop3.example": "info#@shop#.example",
		"Info12@Shop3.Example": "info#@shop#.example",
		"root@example.org":     "root@example.org",
		"a1b22c333@x.test":     "a#b#c#@x.test",
		"2024@x.test":          "#@x.test",
		"":                     "",
		"ünï123@bücher.de":     "ünï#@bücher.de",
	} {
		if got := SenderPattern(in); got != want {
			t.Errorf("SenderPattern(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	var r Rules // defaults: probe 3, spam 10/3, repeat 3
	for _, c := range []struct {
		name string
		s    Source
		want string
	}{
		{"forged local sender", Source{Attempts: 1, ForgedLocalAtt: 1}, ClassRelayProbe},
		{"forged beats spam", Source{Attempts: 50, ForgedLocalAtt: 1, Recipients: 50, RecipientDomains: 10}, ClassRelayProbe},
		{"3 senders on one recipient", Source{Attempts: 3, MaxSendersPerRecipient: 3, Recipients: 1}, ClassRelayProbe},
		{"2 senders on one recipient", Source{Attempts: 2, MaxSendersPerRecipient: 2, Recipients: 1}, ClassOther},
		{"admin sender abroad is not a probe", Source{Attempts: 2, AdminSenderAtt: 2, Recipients: 2, MaxSendersPerRecipient: 1}, ClassOther},
		{"spam run at the thresholds", Source{Attempts: 10, Recipients: 10, RecipientDomains: 3, MaxSendersPerRecipient: 1}, ClassSpamRun},
		{"9 recipients", Source{Attempts: 9, Recipients: 9, RecipientDomains: 3}, ClassOther},
		{"2 domains", Source{Attempts: 10, Recipients: 10, RecipientDomains: 2}, ClassOther},
		{"spam beats repeat", Source{Attempts: 20, Recipients: 10, RecipientDomains: 3, MaxPairAttempts: 5}, ClassSpamRun},
		{"repeat pair", Source{Attempts: 3, Recipients: 1, MaxSendersPerRecipient: 1, MaxPairAttempts: 3}, ClassRepeatPair},
		{"pair twice", Source{Attempts: 2, Recipients: 1, MaxSendersPerRecipient: 1, MaxPairAttempts: 2}, ClassOther},
		{"one shot", Source{Attempts: 1, Recipients: 1, MaxSendersPerRecipient: 1, MaxPairAttempts: 1}, ClassOneShot},
		{"two attempts", Source{Attempts: 2, Recipients: 2, MaxSendersPerRecipient: 1, MaxPairAttempts: 1}, ClassOther},
	} {
		if got := r.Classify(c.s); got != c.want {
			t.Errorf("%s: Classify = %s, want %s", c.name, got, c.want)
		}
	}
	strict := Rules{ProbeSendersPerRecipient: 5, SpamRecipients: 2, SpamDomains: 2, RepeatPair: 2}
	if got := strict.Classify(Source{Attempts: 3, MaxSendersPerRecipient: 3, Recipients: 1}); got != ClassOther {
		t.Errorf("custom probe threshold 5: 3 senders classified %s", got)
	}
	if got := strict.Classify(Source{Attempts: 2, Recipients: 2, RecipientDomains: 2}); got != ClassSpamRun {
		t.Errorf("custom spam threshold 2/2: classified %s", got)
	}
	if got := strict.Classify(Source{Attempts: 2, Recipients: 1, MaxPairAttempts: 2}); got != ClassRepeatPair {
		t.Errorf("custom repeat threshold 2: classified %s", got)
	}
}

func TestParseTime(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"now", now},
		{" now ", now},
		{"now-90d", now.Add(-90 * 24 * time.Hour)},
		{"90d", now.Add(-90 * 24 * time.Hour)},
		{"-90d", now.Add(-90 * 24 * time.Hour)},
		{"12h", now.Add(-12 * time.Hour)},
		{"30m", now.Add(-30 * time.Minute)},
		{"45s", now.Add(-45 * time.Second)},
		{"2w", now.Add(-14 * 24 * time.Hour)},
		{"now+1h", now.Add(time.Hour)},
		{"2026-11-25", time.Date(2026, 11, 25, 0, 0, 0, 0, berlin)},
		{"2026-11-25 17:45", time.Date(2026, 11, 25, 17, 45, 0, 0, berlin)},
		{"2026-11-25 17:45:01", time.Date(2026, 11, 25, 17, 45, 1, 0, berlin)},
		{"2026-11-25T17:45:01", time.Date(2026, 11, 25, 17, 45, 1, 0, berlin)},
		{"2026-11-25 17:45:01.250", time.Date(2026, 11, 25, 17, 45, 1, 250e6, berlin)},
		{"2026-11-25T17:45:01Z", time.Date(2026, 11, 25, 17, 45, 1, 0, time.UTC)},
		{"2026-11-25T17:45:01.5+01:00", time.Date(2026, 11, 25, 16, 45, 1, 500e6, time.UTC)},
	} {
		got, err := ParseTime(c.in, now, berlin)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "now-", "now-d", "now-1y", "now*2d", "1.5d", "-", "d", "2026-13-01",
		"2026-11-25 25:00", "99999999999999999999d", "now-999999999999h", "5", "2026-11-25X"} {
		if got, err := ParseTime(bad, now, berlin); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", bad, got)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"now", "now-90d", "90d", "12h", "2026-11-25", "2026-11-25 17:45:01", "2026-11-25T17:45:01Z", "now+1w", "-5m"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s, now, time.UTC)
		if err != nil {
			return
		}
		// A relative time is within its bound; every result round-trips
		// through RFC 3339 (what the report prints).
		if isAgo(s) && now.Sub(got) > maxAgo {
			t.Fatalf("ParseTime(%q) = %v: beyond %s", s, got, maxAgo)
		}
		again, err := ParseTime(got.Format(time.RFC3339Nano), now, time.UTC)
		if err != nil || !again.Equal(got) {
			t.Fatalf("ParseTime(%q) = %v does not round-trip: %v, %v", s, got, again, err)
		}
	})
}

const (
	ipA = "10.0.0.1" // forged local sender: probe
	ipB = "10.0.0.2" // one null-sender attempt: one shot
	ipC = "10.0.0.3" // 10 recipients in 3 domains: spam run
	ipD = "10.0.0.4" // one pair three times: repeat pair
	ipE = "10.0.0.5" // 3 senders on one recipient: probe
	ipF = "10.0.0.6" // two different pairs: other
	ipG = "10.0.0.7" // one attempt to the campaign recipient: one shot
)

var t0 = time.Date(2026, 11, 25, 23, 50, 0, 0, time.UTC).UnixMilli()

// scenario is a table of facts with figures worked out by hand below.
func scenario() Facts {
	at := func(ip, from, to, sdom, rdom string, null, admin bool, n int64, first, last int64) Attempt {
		return Attempt{SourceIP: ip, Sender: from, NullSender: null, Recipient: to, SenderDomain: sdom,
			RecipientDomain: rdom, SenderAdmin: admin, Count: n, First: t0 + first*60000, Last: t0 + last*60000}
	}
	f := Facts{Dataset: "exim.main"}
	f.Attempts = append(f.Attempts,
		at(ipA, "root@example.org", "x@gmail.com", "example.org", "gmail.com", false, true, 2, 0, 1),
		at(ipB, "", "y@yahoo.com", "", "yahoo.com", true, false, 1, 2, 2),
		at(ipD, "carol@p.test", "z@gmail.com", "p.test", "gmail.com", false, false, 3, 3, 30),
		at(ipE, "a1@x.test", "victim@gmail.com", "x.test", "gmail.com", false, false, 1, 4, 4),
		at(ipE, "a2@x.test", "victim@gmail.com", "x.test", "gmail.com", false, false, 1, 5, 5),
		at(ipE, "a3@x.test", "victim@gmail.com", "x.test", "gmail.com", false, false, 1, 6, 6),
		at(ipF, "info@f.test", "x@gmail.com", "f.test", "gmail.com", false, true, 1, 7, 7),
		at(ipF, "info@f.test", "w@web.de", "f.test", "web.de", false, true, 1, 8, 8),
		at(ipG, "info7@f.test", "x@gmail.com", "f.test", "gmail.com", false, true, 1, 9, 9),
	)
	for i := range 10 {
		dom := fmt.Sprintf("d%d.test", i%3)
		f.Attempts = append(f.Attempts, at(ipC, "bob@spam.test", fmt.Sprintf("r%d@%s", i, dom), "spam.test", dom, false, false, 1, int64(10+i), int64(10+i)))
	}
	f.Sessions = []Session{
		{ipA, "s1", false, 2}, {ipB, "s2", false, 1}, {ipC, "s3", false, 5}, {ipC, "s4", false, 5},
		{ipD, "s5", false, 1}, {ipD, "s6", false, 1}, {ipD, "s7", false, 1},
		{ipE, "s8", true, 3}, {ipF, "", false, 2}, {ipG, "s9", false, 1},
	}
	f.Slots = []Slot{{SlotOf(t0), 7}, {SlotOf(t0 + 15*60000), 12}, {SlotOf(t0 + 30*60000), 1}}
	return f
}

func TestComputeScenario(t *testing.T) {
	rep, err := Compute(Config{LocalDomains: []string{"example.org"}, Top: 3}, scenario())
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	check("relay_attempts", rep.RelayAttempts, int64(2+1+3+3+2+1+10))
	check("source_ips", rep.SourceIPs, 7)
	check("single_attempt_ips", rep.SingleAttemptIPs, 2) // B, G
	// x, y, z, victim (gmail x2), w, r0..r9
	check("unique_recipients", rep.UniqueRecipients, 5+10)
	// root, carol, a1-a3, info, info7, bob
	check("unique_senders", rep.UniqueSenders, 8)
	check("null_sender_attempts", rep.NullSenderAttempts, int64(1))
	check("null_sender_ips", rep.NullSenderIPs, 1)
	check("forged_local_sender_attempts", rep.ForgedLocalSenderAttempts, int64(2))
	check("forged_local_sender_ips", rep.ForgedLocalSenderIPs, 1)
	check("top_forged", rep.TopForgedLocalSenderIPs, []ForgedIPs{{ipA, 2, []string{"root@example.org"}}})
	// gmail.com: x, z, victim = 3 recipients, 2+3+3+1+1 = 10 attempts;
	// d0: r0 r3 r6 r9 (4), d1: r1 r4 r7 (3), d2: r2 r5 r8 (3).
	check("top_recipient_domains", rep.TopRecipientDomains, []RecipientDomain{
		{"d0.test", 4, 4}, {"gmail.com", 3, 10}, {"d1.test", 3, 3}})
	// x.test: 3 senders; f.test: info, info7 (2 senders, 3 attempts).
	check("top_sender_domains", rep.TopSenderDomains, []SenderDomain{
		{"x.test", 3, 3}, {"f.test", 2, 3}, {"spam.test", 1, 10}}) // ties by attempts
	// E: 3 MAIL FROMs in 3 attempts.
	check("most_distinct_mail_froms", rep.MostDistinctMailFroms, &MailFroms{ipE, 3, 3})
	check("sessions", rep.SMTPSessions, Sessions{
		Sessions: 9, SessionsExact: false, InferredSessions: 1, AttemptsWithoutSession: 2,
		RCPTsPerSession: []RCPTBucket{{1, 5}, {2, 1}, {3, 1}, {5, 2}},
	})
	classOf := map[string]string{}
	for _, s := range rep.AllSources {
		classOf[s.SourceIP] = s.Classification
	}
	check("classes", classOf, map[string]string{ipA: ClassRelayProbe, ipB: ClassOneShot, ipC: ClassSpamRun,
		ipD: ClassRepeatPair, ipE: ClassRelayProbe, ipF: ClassOther, ipG: ClassOneShot})
	check("classifications", rep.Classifications, []ClassCount{
		{ClassRelayProbe, 2, 5}, {ClassSpamRun, 1, 10}, {ClassRepeatPair, 1, 3}, {ClassOneShot, 2, 2}, {ClassOther, 1, 2}})
	// Top 3 by attempts: C 10, then D and E with 3 (D's address is lower).
	check("sources", []string{rep.Sources[0].SourceIP, rep.Sources[1].SourceIP, rep.Sources[2].SourceIP}, []string{ipC, ipD, ipE})
	d := rep.Sources[1]
	check("D", d, Source{SourceIP: ipD, Classification: ClassRepeatPair, Attempts: 3, Sessions: 3, SessionsExact: true,
		MailFroms: 1, Recipients: 1, RecipientDomains: 1, MaxSendersPerRecipient: 1, MaxPairAttempts: 3,
		FirstSeen: Time(t0 + 3*60000), LastSeen: Time(t0 + 30*60000)})
	if rep.Sources[2].SessionsExact {
		t.Errorf("E's session was inferred: sessions_exact must be false")
	}
	// x@gmail.com from A, F and G: a campaign; victim@ from E alone is not.
	// Sender pattern info#@f.test is G's alone; info@f.test is F's alone.
	check("campaigns", rep.Campaigns, []Campaign{{Kind: CampaignRecipient, Target: "x@gmail.com", SourceIPs: 3,
		IPs: []string{ipA, ipF, ipG}, Attempts: 4, FirstSeen: Time(t0), LastSeen: Time(t0 + 9*60000)}})
	check("per day", rep.AttemptsPerDay, []DayCount{{"2026-11-25", 7}, {"2026-11-26", 13}})
	check("first", *rep.FirstSeen, Time(t0))
	check("last", *rep.LastSeen, Time(t0+30*60000))

	// The same facts in another zone: the day boundary moves.
	ny, err := time.LoadLocation("America/New_York")
	if err == nil {
		rep, err := Compute(Config{LocalDomains: []string{"example.org"}, Location: ny}, scenario())
		if err != nil {
			t.Fatal(err)
		}
		check("per day New York", rep.AttemptsPerDay, []DayCount{{"2026-11-25", 20}})
	}
}

func TestComputeWithoutLocalDomains(t *testing.T) {
	rep, err := Compute(Config{}, scenario())
	if err != nil {
		t.Fatal(err)
	}
	if rep.ForgedLocalSenderAttempts != 0 || rep.ForgedLocalSenderIPs != 0 {
		t.Errorf("forged without local domains: %d attempts, %d IPs", rep.ForgedLocalSenderAttempts, rep.ForgedLocalSenderIPs)
	}
	for _, s := range rep.AllSources {
		if s.SourceIP == ipA && s.Classification != ClassOther {
			t.Errorf("A without local domains: %s, want other (2 attempts of one pair)", s.Classification)
		}
	}
	if len(rep.LocalDomains) != 0 || rep.LocalDomains == nil {
		t.Errorf("local_domains = %#v, want []", rep.LocalDomains)
	}
}

// The report depends on the facts, not on how producers group or order
// their rows: rows split into several with the same key, and shuffled,
// give the same JSON.
func TestComputeOrderAndGrouping(t *testing.T) {
	cfg := Config{LocalDomains: []string{"example.org"}}
	want, err := Compute(cfg, scenario())
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		f := scenario()
		var split []Attempt
		for _, a := range f.Attempts {
			for a.Count > 1 && rng.IntN(2) == 0 {
				b := a
				b.Count = 1
				split = append(split, b)
				a.Count--
			}
			split = append(split, a)
		}
		rng.Shuffle(len(split), func(i, j int) { split[i], split[j] = split[j], split[i] })
		rng.Shuffle(len(f.Sessions), func(i, j int) { f.Sessions[i], f.Sessions[j] = f.Sessions[j], f.Sessions[i] })
		f.Attempts = split
		got, err := Compute(cfg, f)
		if err != nil {
			t.Fatal(err)
		}
		gotJSON, _ := json.Marshal(got)
		if string(gotJSON) != string(wantJSON) {
			t.Fatalf("regrouped facts give another report:\n%s\nwant\n%s", gotJSON, wantJSON)
		}
	}
}

func TestComputeEmpty(t *testing.T) {
	rep, err := Compute(Config{}, Facts{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	// Every list is [] (never null), and the single objects are null.
	for _, k := range []string{"top_recipient_domains", "top_sender_domains", "sources", "campaigns", "attempts_per_day",
		"top_forged_local_sender_ips", "top_null_sender_ips", "local_domains"} {
		if l, ok := m[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %#v, want []", k, m[k])
		}
	}
	if m["most_distinct_mail_froms"] != nil || m["first_seen"] != nil {
		t.Errorf("empty report: most_distinct_mail_froms %v, first_seen %v, want null", m["most_distinct_mail_froms"], m["first_seen"])
	}
	if !rep.SMTPSessions.SessionsExact {
		t.Error("no attempts: sessions are exact (there is nothing to infer)")
	}
}

func TestConfigValidate(t *testing.T) {
	now := time.Now()
	for _, c := range []Config{
		{Top: -1},
		{LocalDomains: []string{"a@b"}},
		{LocalDomains: []string{""}},
		{LocalDomains: []string{"*.example.org"}},
		{Since: now, Until: now},
		{Rules: Rules{SpamDomains: -2}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: Validate() = nil, want an error", c)
		}
	}
	if err := (Config{LocalDomains: []string{"example.org"}, Since: now.Add(-time.Hour), Until: now}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestWindows(t *testing.T) {
	day := 24 * time.Hour
	since := time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)
	until := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	got := Windows(since, until, day)
	want := [][2]time.Time{
		{time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Windows = %v, want %v", got, want)
	}
	if Windows(until, since, day) != nil || Windows(since, until, 0) != nil {
		t.Error("empty range or zero width must give no window")
	}
	if a, b := EntityID("ns", want[0][0], want[0][1], ipA), EntityID("ns", want[0][0], want[0][1], ipA); a != b || len(a) != 32 {
		t.Errorf("EntityID not deterministic: %s %s", a, b)
	}
	ids := map[string]bool{}
	for _, ns := range []string{"ns", "other"} {
		for _, w := range want {
			for _, ip := range []string{ipA, ipB} {
				ids[EntityID(ns, w[0], w[1], ip)] = true
			}
		}
	}
	if len(ids) != 8 {
		t.Errorf("EntityID collides: %d distinct of 8", len(ids))
	}
}

func TestSlotOf(t *testing.T) {
	for ms, want := range map[int64]int64{0: 0, 1: 0, SlotMillis: SlotMillis, SlotMillis - 1: 0, -1: -SlotMillis, -SlotMillis: -SlotMillis} {
		if got := SlotOf(ms); got != want {
			t.Errorf("SlotOf(%d) = %d, want %d", ms, got, want)
		}
	}
}

// The JSON of a report reads back into the same report.
func TestReportJSONRoundTrip(t *testing.T) {
	rep, err := Compute(Config{LocalDomains: []string{"example.org"}, Since: time.UnixMilli(t0), Until: time.UnixMilli(t0 + 3600e3)}, scenario())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(rep)
	var back Report
	if err := json.Unmarshal(a, &back); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(&back)
	if string(a) != string(b) {
		t.Errorf("round trip:\n%s\n%s", a, b)
	}
	var bad Time
	if bad.UnmarshalJSON([]byte(`"yesterday"`)) == nil || bad.UnmarshalJSON([]byte(`12`)) == nil {
		t.Error("invalid times accepted")
	}
}
