package eximlab

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// SessionTruth is what the client did in one SMTP connection of
// SessionScript: the truth a session tracker must find in the log.
type SessionTruth struct {
	// Tag names the session; it is in every recipient address and message
	// id the session uses ("s07-2@gmail.example", "<s07-m1@client.test>"),
	// so every log line that names one belongs to this session.
	Tag string
	// Source is the client's address, Helo the name it gave.
	Source, Helo string
	// Port is the client's TCP port (set by RunSessions).
	Port int
	// Transactions are the MAIL commands Exim accepted; RcptRejected the
	// RCPT commands it rejected; MailFroms the distinct MAIL FROM
	// addresses (accepted or rejected; "" is the null sender).
	Transactions, RcptRejected, MailFroms int
	// RepeatedSender: after a RSET the client gave the previous sender
	// again. Exim logs the aborted transaction only with
	// +smtp_incomplete_transaction; without it the log shows one
	// transaction where there were two.
	RepeatedSender bool
	// Concurrent: another connection from the same address was open at
	// the same time.
	Concurrent bool
}

// sessionAct is one step of the session script: a command of one session.
type sessionAct struct {
	s    int // session index
	op   byte
	arg  string
	want int
}

// Operations of sessionAct.
const (
	opOpen    = 'o' // connect from Source, read the greeting, EHLO Helo
	opMail    = 'm' // MAIL FROM:<arg>
	opRcpt    = 'r' // RCPT TO:<arg>
	opRset    = 'R' // RSET
	opData    = 'd' // DATA with a message whose Message-ID is arg
	opUnknown = 'x' // an unknown command (Exim drops the client after 3)
	opQuit    = 'q' // QUIT
)

// SessionPlan is the script of SessionScript: its sessions and their
// commands, in the order they are run.
type SessionPlan struct {
	truth []SessionTruth
	acts  []sessionAct
	rcpts []int // per session, recipients used so far (for the tags)
	msgs  []int
	last  []string // per session, sender of the current transaction
	reset []bool   // per session, the transaction was abandoned by RSET
	froms []map[string]bool
}

func (sc *SessionPlan) session(src, helo string) int {
	sc.truth = append(sc.truth, SessionTruth{Tag: fmt.Sprintf("s%02d", len(sc.truth)), Source: src, Helo: helo})
	sc.rcpts = append(sc.rcpts, 0)
	sc.msgs = append(sc.msgs, 0)
	sc.last = append(sc.last, "")
	sc.reset = append(sc.reset, false)
	sc.froms = append(sc.froms, map[string]bool{})
	s := len(sc.truth) - 1
	sc.acts = append(sc.acts, sessionAct{s: s, op: opOpen})
	return s
}

func (sc *SessionPlan) mail(s int, from string, want int) {
	t := &sc.truth[s]
	if !sc.froms[s][from] {
		sc.froms[s][from] = true
		t.MailFroms++
	}
	if want == 250 {
		t.Transactions++
		if sc.reset[s] && sc.last[s] == from {
			t.RepeatedSender = true
		}
		sc.last[s], sc.reset[s] = from, false
	}
	sc.acts = append(sc.acts, sessionAct{s: s, op: opMail, arg: from, want: want})
}

// relay sends n RCPTs to remote domains, which Exim refuses (relay not
// permitted).
func (sc *SessionPlan) relay(s, n int) {
	domains := []string{"gmail.example", "yahoo.example", "hotmail.example", "mail.example"}
	for i := 0; i < n; i++ {
		sc.rcpts[s]++
		sc.truth[s].RcptRejected++
		addr := fmt.Sprintf("%s-%d@%s", sc.truth[s].Tag, sc.rcpts[s], domains[sc.rcpts[s]%len(domains)])
		sc.acts = append(sc.acts, sessionAct{s: s, op: opRcpt, arg: addr, want: 550})
	}
}

// deliver sends an accepted local recipient and the message.
func (sc *SessionPlan) deliver(s int) {
	sc.msgs[s]++
	sc.acts = append(sc.acts,
		sessionAct{s: s, op: opRcpt, arg: "alice@" + LocalDomain, want: 250},
		sessionAct{s: s, op: opData, arg: fmt.Sprintf("%s-m%d", sc.truth[s].Tag, sc.msgs[s]), want: 250})
	sc.last[s] = "" // the transaction is over
}

func (sc *SessionPlan) rset(s int) {
	sc.reset[s] = true
	sc.acts = append(sc.acts, sessionAct{s: s, op: opRset, want: 250})
}

func (sc *SessionPlan) quit(s int) {
	sc.acts = append(sc.acts, sessionAct{s: s, op: opQuit, want: 221})
}

// dropAfterUnknown sends unknown commands until Exim drops the client.
func (sc *SessionPlan) dropAfterUnknown(s int) {
	sc.acts = append(sc.acts, sessionAct{s: s, op: opUnknown})
}

// SessionScript returns the session-truth script: relay probes and mail
// from many 127.1.x.y addresses, sequential and concurrent sessions from
// the same address (with the same and with different HELO names), RSET and
// a new MAIL FROM inside sessions (also the same sender again), a rejected
// MAIL FROM, the null sender, several messages in one session, a client
// dropped for unknown commands. Each session's truth is returned with it;
// the client ports are filled in by RunSessions.
func SessionScript() *SessionPlan {
	sc := &SessionPlan{}
	forged := func(lp string) string { return lp + "@" + LocalDomain }
	// A bot coming back three times, back to back, with the same HELO.
	for i, from := range []string{forged("root"), forged("admin"), ""} {
		s := sc.session("127.1.1.1", "ylmf-pc")
		sc.mail(s, from, 250)
		sc.relay(s, 3-i)
		sc.quit(s)
	}
	// Single probes from many addresses, some of them returning.
	helos := []string{"User", "WIN-3KL9F2PQ1M", "localhost", "ADMIN-PC", "[127.0.0.1]", "unknown"}
	for i := 0; i < 12; i++ {
		ip := fmt.Sprintf("127.1.2.%d", 10+i%8) // addresses 10-13 come back
		s := sc.session(ip, helos[i%len(helos)])
		sc.mail(s, forged([]string{"info", "webmaster", "postmaster"}[i%3]), 250)
		sc.relay(s, 1+i%4)
		sc.quit(s)
	}
	// RSET and new senders inside one session.
	s := sc.session("127.1.3.1", "WIN-3KL9F2PQ1M")
	sc.mail(s, forged("root"), 250)
	sc.relay(s, 2)
	sc.rset(s)
	sc.mail(s, forged("webmaster"), 250)
	sc.relay(s, 2)
	sc.rset(s)
	sc.mail(s, "", 250)
	sc.relay(s, 1)
	sc.quit(s)
	// The same sender again after RSET.
	s = sc.session("127.1.3.2", "localhost")
	sc.mail(s, forged("postmaster"), 250)
	sc.relay(s, 1)
	sc.rset(s)
	sc.mail(s, forged("postmaster"), 250)
	sc.relay(s, 2)
	sc.quit(s)
	// Two messages in one session, the second with a refused recipient.
	s = sc.session("127.1.4.1", "client.partner.test")
	sc.mail(s, "bob@"+PartnerDomain, 250)
	sc.deliver(s)
	sc.mail(s, "bob@"+PartnerDomain, 250)
	sc.relay(s, 1)
	sc.deliver(s)
	sc.quit(s)
	// Two sessions of one address, one message each, back to back.
	for range 2 {
		s = sc.session("127.1.4.2", "client.partner.test")
		sc.mail(s, "carol@"+PartnerDomain, 250)
		sc.deliver(s)
		sc.quit(s)
	}
	// A refused MAIL FROM, then another sender.
	s = sc.session("127.1.5.1", "spam.test")
	sc.mail(s, "spammer@spam.test", 550)
	sc.mail(s, "bulk@spam.test", 250)
	sc.relay(s, 2)
	sc.quit(s)
	// Dropped for unknown commands after two refused RCPTs.
	s = sc.session("127.1.5.2", "ADMIN-PC")
	sc.mail(s, forged("admin"), 250)
	sc.relay(s, 2)
	sc.dropAfterUnknown(s)
	// Two concurrent sessions of one address, different HELO names.
	a := sc.session("127.1.6.1", "alpha.bot.test")
	b := sc.session("127.1.6.1", "beta.bot.test")
	sc.mail(a, forged("info"), 250)
	sc.mail(b, "x@bot.test", 250)
	for range 2 {
		sc.relay(a, 1)
		sc.relay(b, 1)
	}
	sc.relay(a, 1)
	sc.quit(b)
	sc.quit(a)
	// Two concurrent sessions of one address with the same HELO name.
	a = sc.session("127.1.6.2", "ylmf-pc")
	b = sc.session("127.1.6.2", "ylmf-pc")
	sc.mail(a, forged("root"), 250)
	sc.mail(b, forged("admin"), 250)
	for range 2 {
		sc.relay(b, 1)
		sc.relay(a, 1)
	}
	sc.quit(a)
	sc.relay(b, 1)
	sc.quit(b)
	// Concurrent sessions of different addresses.
	a = sc.session("127.1.7.1", "User")
	b = sc.session("127.1.7.2", "User")
	sc.mail(a, "", 250)
	sc.mail(b, "", 250)
	sc.relay(a, 2)
	sc.relay(b, 3)
	sc.quit(a)
	sc.quit(b)
	// Sequential sessions of one address, different HELO names.
	for _, h := range []string{"a.bot.test", "b.bot.test"} {
		s = sc.session("127.1.8.1", h)
		sc.mail(s, forged("info"), 250)
		sc.relay(s, 2)
		sc.quit(s)
	}
	for i := range sc.truth {
		for j := range sc.truth {
			if i != j && sc.truth[i].Source == sc.truth[j].Source && overlap(sc.acts, i, j) {
				sc.truth[i].Concurrent = true
			}
		}
	}
	return sc
}

// overlap reports whether sessions i and j were open at the same time.
func overlap(acts []sessionAct, i, j int) bool {
	open := map[int]bool{}
	for _, a := range acts {
		switch {
		case a.op == opOpen:
			open[a.s] = true
		case a.op == opQuit || a.op == opUnknown:
			delete(open, a.s)
		}
		if open[i] && open[j] {
			return true
		}
	}
	return false
}

// Truth returns the sessions of the script, in the order they start.
func (sc *SessionPlan) Truth() []SessionTruth { return append([]SessionTruth(nil), sc.truth...) }

// Run runs the script against l and returns the truth with the client
// ports.
func (sc *SessionPlan) Run(ctx context.Context, l *Lab) ([]SessionTruth, error) {
	truth := sc.Truth()
	clients := make([]*Client, len(truth))
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	for _, a := range sc.acts {
		t := &truth[a.s]
		c := clients[a.s]
		var err error
		switch a.op {
		case opOpen:
			c, err = open(ctx, l, t.Source, t.Helo)
			if err == nil {
				clients[a.s] = c
				t.Port = c.LocalPort()
			}
		case opMail:
			_, err = c.Cmd(a.want, "MAIL FROM:<"+a.arg+">")
		case opRcpt:
			_, err = c.Cmd(a.want, "RCPT TO:<"+a.arg+">")
		case opRset:
			_, err = c.Cmd(a.want, "RSET")
		case opData:
			_, err = c.Data(a.want, Message("sender@"+PartnerDomain, "alice@"+LocalDomain, "session "+t.Tag, a.arg))
		case opUnknown:
			for i := 0; i < 8; i++ {
				if _, err := c.Cmd(0, "XYZZY"+strconv.Itoa(i)); err != nil {
					break // dropped
				}
			}
			err = c.WaitClosed()
			clients[a.s] = nil
		case opQuit:
			err = c.Quit()
			clients[a.s] = nil
		}
		if err != nil {
			return nil, fmt.Errorf("eximlab: session %s (%s): %c %s: %w", t.Tag, t.Source, a.op, a.arg, err)
		}
		if a.op == opQuit || a.op == opUnknown {
			// let the serving process log the end before the next session
			time.Sleep(20 * time.Millisecond)
		}
	}
	return truth, nil
}

// SessionVariants are the log configurations the session proofs run with:
// Exim's default (nothing identifies a connection), each identifier alone,
// and all of them.
func SessionVariants() []Variant {
	return []Variant{
		{Name: "default"},
		{Name: "pid", LogSelector: "+pid"},
		{Name: "port", LogSelector: "+incoming_port"},
		{Name: "connection", LogSelector: "+smtp_connection"},
		{Name: "pid-connection", LogSelector: "+pid +smtp_connection"},
		{Name: "all", LogSelector: "+pid +incoming_port +smtp_connection +smtp_incomplete_transaction +smtp_no_mail"},
	}
}

// RunSessions starts a lab with v, runs SessionScript, stops the lab and
// returns the main and reject logs with the truth.
func RunSessions(ctx context.Context, v Variant) (mainlog, rejectlog []byte, truth []SessionTruth, err error) {
	l, err := Start(ctx, Config{LogSelector: v.LogSelector, LogTimezone: v.LogTimezone, TimeZone: v.TimeZone})
	if err != nil {
		return nil, nil, nil, err
	}
	defer l.Close()
	truth, err = SessionScript().Run(ctx, l)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("variant %s: %w", v.Name, err)
	}
	// the last session's lines
	time.Sleep(300 * time.Millisecond)
	if mainlog, err = os.ReadFile(l.LogPath("mainlog")); err != nil {
		return nil, nil, nil, fmt.Errorf("eximlab: %w", err)
	}
	if rejectlog, err = os.ReadFile(l.LogPath("rejectlog")); err != nil && !os.IsNotExist(err) {
		return nil, nil, nil, fmt.Errorf("eximlab: %w", err)
	}
	if !strings.Contains(string(mainlog), truth[len(truth)-1].Tag) {
		return nil, nil, nil, fmt.Errorf("eximlab: variant %s: the main log misses the last session", v.Name)
	}
	return mainlog, rejectlog, truth, nil
}
