package analysis

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Compute turns facts into the report. Rows may repeat a key (they are
// merged first), and their order does not matter: the same facts in any
// order and grouping give the same report.
func Compute(c Config, f Facts) (*Report, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	relay := NewRelay(c.LocalDomains)
	rules := c.Rules
	attempts := mergeAttempts(f.Attempts)
	rep := &Report{
		LocalDomains: relay.Local,
		Dataset:      f.Dataset,
	}
	if rep.LocalDomains == nil {
		rep.LocalDomains = []string{}
	}
	if !c.Since.IsZero() {
		rep.Window.Since = timePtr(millis(c.Since))
	}
	if !c.Until.IsZero() {
		rep.Window.Until = timePtr(millis(c.Until))
	}

	type spread struct {
		ips         map[string]struct{}
		attempts    int64
		first, last int64
	}
	type sourceAgg struct {
		src        Source
		froms      map[string]struct{}
		rcpts      map[string]map[string]struct{} // recipient -> MAIL FROMs
		domains    map[string]struct{}
		forgedFrom map[string]struct{}
		pairs      map[[2]string]int64
		sessions   map[string]struct{}
		inexact    bool
	}
	recipients := map[string]struct{}{}
	senders := map[string]struct{}{}
	rdomains := map[string]*domainAgg{}
	sdomains := map[string]*domainAgg{}
	rcptCampaigns := map[string]*spread{}
	senderCampaigns := map[string]*spread{}
	sources := map[string]*sourceAgg{}
	nullIPs := map[string]int64{}
	var first, last int64
	seen := false

	addDomain := func(m map[string]*domainAgg, domain, addr string, n int64) {
		d := m[domain]
		if d == nil {
			d = &domainAgg{addrs: map[string]struct{}{}}
			m[domain] = d
		}
		d.addrs[addr] = struct{}{}
		d.attempts += n
	}
	addSpread := func(m map[string]*spread, key, ip string, a *Attempt) {
		s := m[key]
		if s == nil {
			s = &spread{ips: map[string]struct{}{}, first: a.First, last: a.Last}
			m[key] = s
		}
		if ip != "" {
			s.ips[ip] = struct{}{}
		}
		s.attempts += a.Count
		s.first, s.last = min(s.first, a.First), max(s.last, a.Last)
	}

	for i := range attempts {
		a := &attempts[i]
		rep.RelayAttempts += a.Count
		if !seen {
			first, last, seen = a.First, a.Last, true
		}
		first, last = min(first, a.First), max(last, a.Last)
		forged := a.Sender != "" && a.SenderDomain != "" && relay.IsLocal(a.SenderDomain)
		from := a.Sender // the MAIL FROM as a distinct value: "<>" for the null sender
		if from == "" && a.NullSender {
			from = "<>"
		}
		if a.Recipient != "" {
			recipients[a.Recipient] = struct{}{}
			if a.RecipientDomain != "" {
				addDomain(rdomains, a.RecipientDomain, a.Recipient, a.Count)
			}
			addSpread(rcptCampaigns, a.Recipient, a.SourceIP, a)
		}
		if a.Sender != "" {
			senders[a.Sender] = struct{}{}
			if a.SenderDomain != "" {
				addDomain(sdomains, a.SenderDomain, a.Sender, a.Count)
			}
			addSpread(senderCampaigns, SenderPattern(a.Sender), a.SourceIP, a)
		}
		if a.NullSender && a.Sender == "" {
			rep.NullSenderAttempts += a.Count
			if a.SourceIP != "" {
				nullIPs[a.SourceIP] += a.Count
			}
		}
		if forged {
			rep.ForgedLocalSenderAttempts += a.Count
		}
		if a.SourceIP == "" {
			rep.AttemptsWithoutSourceIP += a.Count
			continue
		}
		s := sources[a.SourceIP]
		if s == nil {
			s = &sourceAgg{
				src:   Source{SourceIP: a.SourceIP, FirstSeen: Time(a.First), LastSeen: Time(a.Last)},
				froms: map[string]struct{}{}, rcpts: map[string]map[string]struct{}{},
				domains: map[string]struct{}{}, forgedFrom: map[string]struct{}{},
				pairs: map[[2]string]int64{}, sessions: map[string]struct{}{},
			}
			sources[a.SourceIP] = s
		}
		s.src.Attempts += a.Count
		s.src.FirstSeen, s.src.LastSeen = min(s.src.FirstSeen, Time(a.First)), max(s.src.LastSeen, Time(a.Last))
		if from != "" {
			s.froms[from] = struct{}{}
		}
		if a.Recipient != "" {
			fr := s.rcpts[a.Recipient]
			if fr == nil {
				fr = map[string]struct{}{}
				s.rcpts[a.Recipient] = fr
			}
			if from != "" {
				fr[from] = struct{}{}
			}
			if from != "" {
				s.pairs[[2]string{from, a.Recipient}] += a.Count
			}
		}
		if a.RecipientDomain != "" {
			s.domains[a.RecipientDomain] = struct{}{}
		}
		if a.NullSender && a.Sender == "" {
			s.src.NullSenderAtt += a.Count
		}
		if forged {
			s.src.ForgedLocalAtt += a.Count
			s.forgedFrom[a.Sender] = struct{}{}
		}
		if a.SenderAdmin {
			s.src.AdminSenderAtt += a.Count
		}
	}
	if seen {
		rep.FirstSeen, rep.LastSeen = timePtr(first), timePtr(last)
	}
	rep.UniqueRecipients = len(recipients)
	rep.UniqueSenders = len(senders)

	// Sessions.
	type sess struct {
		rcpts    int64
		inferred bool
	}
	byID := map[string]*sess{}
	for _, r := range f.Sessions {
		s := sources[r.SourceIP]
		if r.ID == "" {
			rep.SMTPSessions.AttemptsWithoutSession += r.RCPTs
			if s != nil {
				s.inexact = true
			}
			continue
		}
		x := byID[r.ID]
		if x == nil {
			x = &sess{}
			byID[r.ID] = x
		}
		x.rcpts += r.RCPTs
		x.inferred = x.inferred || r.Inferred
		if s != nil {
			s.sessions[r.ID] = struct{}{}
			s.inexact = s.inexact || r.Inferred
		}
	}
	hist := map[int64]int{}
	for _, x := range byID {
		hist[x.rcpts]++
		if x.inferred {
			rep.SMTPSessions.InferredSessions++
		}
	}
	rep.SMTPSessions.Sessions = len(byID)
	rep.SMTPSessions.SessionsExact = rep.SMTPSessions.InferredSessions == 0 && rep.SMTPSessions.AttemptsWithoutSession == 0
	rep.SMTPSessions.RCPTsPerSession = []RCPTBucket{}
	for n, k := range hist {
		rep.SMTPSessions.RCPTsPerSession = append(rep.SMTPSessions.RCPTsPerSession, RCPTBucket{RCPTs: n, Sessions: k})
	}
	slices.SortFunc(rep.SMTPSessions.RCPTsPerSession, func(a, b RCPTBucket) int { return cmp.Compare(a.RCPTs, b.RCPTs) })

	// Sources.
	all := make([]Source, 0, len(sources))
	forgedIPs := []ForgedIPs{}
	var best *MailFroms
	for ip, s := range sources {
		src := s.src
		src.MailFroms = len(s.froms)
		src.Recipients = len(s.rcpts)
		src.RecipientDomains = len(s.domains)
		for _, fr := range s.rcpts {
			src.MaxSendersPerRecipient = max(src.MaxSendersPerRecipient, len(fr))
		}
		for _, n := range s.pairs {
			src.MaxPairAttempts = max(src.MaxPairAttempts, n)
		}
		src.Sessions = len(s.sessions)
		src.SessionsExact = !s.inexact
		src.SeenOnce = src.Attempts == 1
		src.Classification = rules.Classify(src)
		all = append(all, src)
		if src.Attempts == 1 {
			rep.SingleAttemptIPs++
		}
		if src.ForgedLocalAtt > 0 {
			forgedIPs = append(forgedIPs, ForgedIPs{SourceIP: ip, Attempts: src.ForgedLocalAtt, MailFroms: sortedKeys(s.forgedFrom)})
		}
		m := MailFroms{SourceIP: ip, MailFroms: src.MailFroms, Attempts: src.Attempts}
		if best == nil || betterMailFroms(m, *best) {
			best = &m
		}
	}
	rep.SourceIPs = len(all)
	rep.MostDistinctMailFroms = best
	slices.SortFunc(all, func(a, b Source) int { return byAttempts(a.Attempts, b.Attempts, a.SourceIP, b.SourceIP) })
	rep.AllSources = all
	rep.Sources = head(all, c.Top)
	rep.Classifications = make([]ClassCount, len(ClassOrder))
	for i, cl := range ClassOrder {
		rep.Classifications[i].Classification = cl
		for _, s := range all {
			if s.Classification == cl {
				rep.Classifications[i].SourceIPs++
				rep.Classifications[i].Attempts += s.Attempts
			}
		}
	}

	rep.ForgedLocalSenderIPs = len(forgedIPs)
	slices.SortFunc(forgedIPs, func(a, b ForgedIPs) int { return byAttempts(a.Attempts, b.Attempts, a.SourceIP, b.SourceIP) })
	rep.TopForgedLocalSenderIPs = head(forgedIPs, c.Top)
	rep.NullSenderIPs = len(nullIPs)
	nulls := make([]IPCount, 0, len(nullIPs))
	for ip, n := range nullIPs {
		nulls = append(nulls, IPCount{SourceIP: ip, Attempts: n})
	}
	slices.SortFunc(nulls, func(a, b IPCount) int { return byAttempts(a.Attempts, b.Attempts, a.SourceIP, b.SourceIP) })
	rep.TopNullSenderIPs = head(nulls, c.Top)

	// Domains.
	for _, d := range rankDomains(rdomains, c.Top) {
		rep.TopRecipientDomains = append(rep.TopRecipientDomains, RecipientDomain{Domain: d.domain, UniqueRecipients: d.unique, Attempts: d.attempts})
	}
	for _, d := range rankDomains(sdomains, c.Top) {
		rep.TopSenderDomains = append(rep.TopSenderDomains, SenderDomain{Domain: d.domain, UniqueSenders: d.unique, Attempts: d.attempts})
	}
	rep.TopRecipientDomains, rep.TopSenderDomains = head(rep.TopRecipientDomains, c.Top), head(rep.TopSenderDomains, c.Top)

	// Campaigns.
	campaigns := func(kind string, m map[string]*spread) []Campaign {
		var out []Campaign
		for key, s := range m {
			if len(s.ips) < rules.CampaignIPs {
				continue
			}
			ips := sortedKeys(s.ips)
			sortIPs(ips)
			out = append(out, Campaign{Kind: kind, Target: key, SourceIPs: len(ips), IPs: ips,
				Attempts: s.attempts, FirstSeen: Time(s.first), LastSeen: Time(s.last)})
		}
		slices.SortFunc(out, func(a, b Campaign) int {
			return cmp.Or(cmp.Compare(b.SourceIPs, a.SourceIPs), cmp.Compare(b.Attempts, a.Attempts), strings.Compare(a.Target, b.Target))
		})
		return head(out, c.Top)
	}
	rep.Campaigns = append(campaigns(CampaignRecipient, rcptCampaigns), campaigns(CampaignSender, senderCampaigns)...)
	if rep.Campaigns == nil {
		rep.Campaigns = []Campaign{}
	}

	rep.AttemptsPerDay = perDay(f.Slots, c.Location)
	return rep, nil
}

// byAttempts orders sources by attempts (most first), then by address.
func byAttempts(na, nb int64, ipa, ipb string) int {
	return cmp.Or(cmp.Compare(nb, na), CompareIP(ipa, ipb))
}

// domainAgg collects the distinct addresses of a domain and its attempts.
type domainAgg struct {
	addrs    map[string]struct{}
	attempts int64
}

type rankedDomain struct {
	domain   string
	unique   int
	attempts int64
}

// rankDomains returns the top domains by distinct addresses, then
// attempts, then name.
func rankDomains(m map[string]*domainAgg, top int) []rankedDomain {
	out := make([]rankedDomain, 0, len(m))
	for d, a := range m {
		out = append(out, rankedDomain{d, len(a.addrs), a.attempts})
	}
	slices.SortFunc(out, func(a, b rankedDomain) int {
		return cmp.Or(cmp.Compare(b.unique, a.unique), cmp.Compare(b.attempts, a.attempts), strings.Compare(a.domain, b.domain))
	})
	return head(out, top)
}

// betterMailFroms orders candidates for most_distinct_mail_froms: more
// MAIL FROMs, then more attempts, then the lower address.
func betterMailFroms(a, b MailFroms) bool {
	return cmp.Or(cmp.Compare(a.MailFroms, b.MailFroms), cmp.Compare(a.Attempts, b.Attempts), CompareIP(b.SourceIP, a.SourceIP)) > 0
}

// Classify returns the classification of a source whose figures are
// filled in (Classification is ignored), the first rule that applies:
//
//  1. relay_probe: it forged a local sender (MAIL FROM in a local domain:
//     root@, info@, admin@ our domain...), or tried at least
//     ProbeSendersPerRecipient different MAIL FROMs on one recipient;
//  2. spam_run: at least SpamRecipients different recipients in at least
//     SpamDomains different recipient domains;
//  3. repeat_pair: one sender/recipient pair at least RepeatPair times;
//  4. one_shot: exactly one attempt;
//  5. other.
//
// An administrative sender in a foreign domain (info@ some freemail) does
// not make a probe: spam runs use them as much (admin_sender_attempts
// shows them). Without local domains no sender is forged, so only the
// second half of rule 1 finds probes. Zero rules take their defaults.
func (r Rules) Classify(s Source) string {
	r = r.WithDefaults()
	switch {
	case s.ForgedLocalAtt > 0 || s.MaxSendersPerRecipient >= r.ProbeSendersPerRecipient:
		return ClassRelayProbe
	case s.Recipients >= r.SpamRecipients && s.RecipientDomains >= r.SpamDomains:
		return ClassSpamRun
	case s.MaxPairAttempts >= int64(r.RepeatPair):
		return ClassRepeatPair
	case s.Attempts == 1:
		return ClassOneShot
	}
	return ClassOther
}

// perDay sums slots into days of loc.
func perDay(slots []Slot, loc *time.Location) []DayCount {
	days := map[string]int64{}
	for _, s := range slots {
		if s.Attempts != 0 {
			days[time.UnixMilli(s.Start).In(loc).Format(time.DateOnly)] += s.Attempts
		}
	}
	out := make([]DayCount, 0, len(days))
	for d, n := range days {
		out = append(out, DayCount{Day: d, Attempts: n})
	}
	slices.SortFunc(out, func(a, b DayCount) int { return strings.Compare(a.Day, b.Day) })
	return out
}

// attemptKey is the grouping key of Attempt.
type attemptKey struct {
	ip, sender, rcpt, sdom, rdom string
	null, admin                  bool
}

func keyOf(a *Attempt) attemptKey {
	return attemptKey{a.SourceIP, a.Sender, a.Recipient, a.SenderDomain, a.RecipientDomain, a.NullSender, a.SenderAdmin}
}

// mergeAttempts merges rows with the same key.
func mergeAttempts(in []Attempt) []Attempt {
	idx := make(map[attemptKey]int, len(in))
	out := make([]Attempt, 0, len(in))
	for _, a := range in {
		if a.Count == 0 {
			continue
		}
		k := keyOf(&a)
		if i, ok := idx[k]; ok {
			o := &out[i]
			o.Count += a.Count
			o.First, o.Last = min(o.First, a.First), max(o.Last, a.Last)
			continue
		}
		idx[k] = len(out)
		out = append(out, a)
	}
	return out
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func head[T any](s []T, n int) []T {
	if s == nil {
		return []T{}
	}
	if len(s) > n {
		return s[:n:n]
	}
	return s
}
