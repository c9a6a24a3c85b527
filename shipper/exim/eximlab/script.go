package eximlab

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// A Session is one step of a script: usually one SMTP connection.
type Session struct {
	Name string
	Run  func(ctx context.Context, l *Lab) error
}

// Message returns a small RFC 5322 message with fixed Date and Message-ID
// headers, so that only Exim's own headers vary between runs.
func Message(from, to, subject, id string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\nTo: %s\nSubject: %s\nDate: Tue, 03 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@client.test>\n", from, to, subject, id)
	for _, h := range extra {
		b.WriteString(h)
		b.WriteByte('\n')
	}
	b.WriteString("\nHello,\n\nthis is a test message from eximlab (" + id + ").\n.leading dot line\n\n-- \neximlab\n")
	return b.String()
}

// greet dials from src and reads the greeting, whose code must be want.
func greet(ctx context.Context, l *Lab, src string, want int) (*Client, error) {
	c, err := l.Dial(ctx, src)
	if err != nil {
		return nil, err
	}
	if _, err := c.Expect(want); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// step is an SMTP command and the reply code it must get.
type step struct {
	want int
	cmd  string
}

// cmds sends the commands in turn and stops at the first unexpected reply.
func cmds(c *Client, steps ...step) error {
	for _, s := range steps {
		if _, err := c.Cmd(s.want, s.cmd); err != nil {
			return err
		}
	}
	return nil
}

// open dials from src, reads the greeting and says EHLO helo (HELO when
// helo starts with "HELO ").
func open(ctx context.Context, l *Lab, src, helo string) (*Client, error) {
	c, err := greet(ctx, l, src, 220)
	if err != nil {
		return nil, err
	}
	cmd := "EHLO " + helo
	if strings.HasPrefix(helo, "HELO ") {
		cmd = helo
	}
	if _, err := c.Cmd(250, cmd); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// transaction sends one complete mail transaction; rcpts are sent one by
// one, each expecting the given code (250 accepted, 550 rejected, ...).
// DATA is sent when at least one recipient was accepted, and its final
// reply must be dataWant.
type rcpt struct {
	addr string
	want int
}

func transaction(c *Client, from string, rcpts []rcpt, msg string, dataWant int) error {
	if _, err := c.Cmd(250, "MAIL FROM:<"+from+">"); err != nil {
		return err
	}
	accepted := 0
	for _, r := range rcpts {
		if _, err := c.Cmd(r.want, "RCPT TO:<"+r.addr+">"); err != nil {
			return err
		}
		if r.want == 250 {
			accepted++
		}
	}
	if accepted == 0 || msg == "" {
		return nil
	}
	_, err := c.Data(dataWant, msg)
	return err
}

// mailSession is one connection with one transaction, then QUIT.
func mailSession(src, helo, from string, rcpts []rcpt, msg string, dataWant int) func(context.Context, *Lab) error {
	return func(ctx context.Context, l *Lab) error {
		c, err := open(ctx, l, src, helo)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := transaction(c, from, rcpts, msg, dataWant); err != nil {
			return err
		}
		return c.Quit()
	}
}

func r(addr string, want int) rcpt { return rcpt{addr, want} }

// Script returns the fixed session script of the fixtures: every kind of
// line the lab configuration can make Exim write. The same script runs for
// every log_selector, so the logs differ only by the selector.
func Script() []Session {
	lo := func(n int) string { return fmt.Sprintf("127.0.0.%d", n) }
	partner := func(local string) string { return local + "@" + PartnerDomain }
	local := func(lp string) string { return lp + "@" + LocalDomain }
	return []Session{
		{"accepted local mail, several recipients", mailSession(lo(10), "client.partner.test", partner("bob"),
			[]rcpt{r(local("alice"), 250), r(local("root"), 250), r(local("postmaster"), 250), r(local("devnull"), 250)},
			Message(partner("bob"), local("alice"), "Quarterly report", "s1"), 250)},
		{"file, pipe and mbox deliveries", mailSession(lo(10), "client.partner.test", partner("carol"),
			[]rcpt{r(local("abuse"), 250), r(local("pipe"), 250), r(local("admin"), 250), r(local("info"), 250), r(local("legacy"), 250)},
			Message(partner("carol"), local("abuse"), `He said "hello" \ again`, "s2"), 250)},
		{"null sender", mailSession(lo(11), "bounce.partner.test", "",
			[]rcpt{r(local("alice"), 250)},
			Message("MAILER-DAEMON@"+PartnerDomain, local("alice"), "Undelivered Mail Returned to Sender", "s3"), 250)},
		{"null sender to a failing address (frozen bounce)", mailSession(lo(11), "bounce.partner.test", "",
			[]rcpt{r(local("bounceme"), 250)},
			Message("MAILER-DAEMON@"+PartnerDomain, local("bounceme"), "Delivery Status Notification", "s4"), 250)},
		{"accepted then bounced", mailSession(lo(12), "client.partner.test", partner("dave"),
			[]rcpt{r(local("bounceme"), 250), r(local("gone"), 550)},
			Message(partner("dave"), local("bounceme"), "Are you there?", "s5"), 250)},
		{"local deferral", mailSession(lo(12), "client.partner.test", partner("dave"),
			[]rcpt{r(local("deferme"), 250)},
			Message(partner("dave"), local("deferme"), "Deferred locally", "s6"), 250)},
		{"authenticated relay (PLAIN)", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, lo(13), "laptop.example.org")
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.AuthPlain("testuser", "secret"); err != nil {
				return err
			}
			if err := transaction(c, local("alice"), []rcpt{
				r(partner("ok"), 250), r(partner("ok2"), 250), r(partner("nobody"), 250), r(partner("busy"), 250),
				r("friend@gmail.example", 250),
			}, Message(local("alice"), partner("ok"), "Meeting notes", "s7"), 250); err != nil {
				return err
			}
			return c.Quit()
		}},
		{"cut-through delivery", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, lo(13), "laptop.example.org")
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.AuthPlain("testuser", "secret"); err != nil {
				return err
			}
			if err := transaction(c, local("alice"), []rcpt{r(partner("cut"), 250)},
				Message(local("alice"), partner("cut"), "straight through", "s17"), 250); err != nil {
				return err
			}
			return c.Quit()
		}},
		{"relay from a trusted host", mailSession(IPRelayAllowed, "app.example.org", local("info"),
			[]rcpt{r("customer@yahoo.example", 250)},
			Message(local("info"), "customer@yahoo.example", "Your order", "s8"), 250)},
		{"authentication failures", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, lo(14), "[127.0.0.14]")
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.AuthPlain("testuser", "wrong"); err != nil {
				return err
			}
			if _, err := c.AuthLogin("admin", "password123"); err != nil {
				return err
			}
			return c.Quit()
		}},
		{"relay attempts with forged local senders", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, lo(20), "ylmf-pc")
			if err != nil {
				return err
			}
			defer c.Close()
			if err := transaction(c, local("root"), []rcpt{r("victim1@gmail.example", 550), r("victim2@hotmail.example", 550)}, "", 0); err != nil {
				return err
			}
			if _, err := c.Cmd(250, "RSET"); err != nil {
				return err
			}
			if err := transaction(c, local("admin"), []rcpt{r("victim3@yahoo.example", 550)}, "", 0); err != nil {
				return err
			}
			if _, err := c.Cmd(250, "RSET"); err != nil {
				return err
			}
			if err := transaction(c, "", []rcpt{r("victim4@gmail.example", 550)}, "", 0); err != nil {
				return err
			}
			return c.Quit()
		}},
		{"relay attempt from IPv6", func(ctx context.Context, l *Lab) error {
			if !l.HasIPv6 {
				return nil
			}
			return mailSession("::1", "[::1]", local("info"), []rcpt{r("victim5@gmail.example", 550)}, "", 0)(ctx, l)
		}},
		{"IPv6 accepted mail", func(ctx context.Context, l *Lab) error {
			if !l.HasIPv6 {
				return nil
			}
			return mailSession("::1", "v6.partner.test", partner("erin"), []rcpt{r(local("alice"), 250)},
				Message(partner("erin"), local("alice"), "over IPv6", "s9"), 250)(ctx, l)
		}},
		{"unrouteable and odd recipients", mailSession(lo(21), "client.partner.test", partner("frank"),
			[]rcpt{r(local("nosuchuser"), 550), r(`"john smith"@`+LocalDomain, 550), r("caf\xe9@"+LocalDomain, 550),
				r(local("a/b"), 550), r(local("norecipmsg"), 550), r(local("greylist"), 451), r(local("alice"), 250)},
			Message(partner("frank"), local("alice"), "caf\xe9 menu", "s10"), 250)},
		{"sender verify failure", mailSession(lo(22), "client.partner.test", local("nosuchsender"),
			[]rcpt{r(local("alice"), 550)}, "", 0)},
		{"sender verify deferral", mailSession(lo(22), "client.partner.test", "someone@"+DeferDomain,
			[]rcpt{r(local("alice"), 451)}, "", 0)},
		{"rejected MAIL", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, lo(23), "spam.test")
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.Cmd(550, "MAIL FROM:<spammer@spam.test>"); err != nil {
				return err
			}
			return c.Quit()
		}},
		{"fake reject", mailSession(lo(24), "client.partner.test", partner("grace"),
			[]rcpt{r(local("alice"), 250)},
			Message(partner("grace"), local("alice"), "pretend rejection", "s11"), 550)},
		{"DATA ACL rejection (reject log header dump)", mailSession(lo(25), "client.partner.test", partner("heidi"),
			[]rcpt{r(local("alice"), 250), r(local("info"), 250)},
			Message(partner("heidi"), local("alice"), "Cheap SPAM offer", "s12", "X-Mailer: eximlab 1.0"), 550)},
		{"predata rejection", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, IPPredataDeny, "client.partner.test")
			if err != nil {
				return err
			}
			defer c.Close()
			if err := cmds(c, step{250, "MAIL FROM:<" + partner("ivan") + ">"}, step{250, "RCPT TO:<" + local("alice") + ">"},
				step{550, "DATA"}); err != nil {
				return err
			}
			return c.Quit()
		}},
		{"HELO rejected by ACL", func(ctx context.Context, l *Lab) error {
			c, err := greet(ctx, l, lo(26), 220)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := cmds(c, step{550, "EHLO bad.helo.test"}); err != nil {
				return err
			}
			return c.Quit()
		}},
		{"HELO syntax errors", func(ctx context.Context, l *Lab) error {
			c, err := greet(ctx, l, lo(27), 220)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := cmds(c, step{501, "EHLO bad_helo!"}, step{501, "HELO"}, step{250, "HELO 127.0.0.27"}); err != nil {
				return err
			}
			return c.Quit()
		}},
		{"connect ACL drop", connectRefused(IPConnectDrop, 550)},
		{"connect ACL deny", connectRefused(IPConnectDeny, 550)},
		{"connect ACL defer", connectRefused(IPConnectDefer, 451)},
		{"synchronization error before the greeting", func(ctx context.Context, l *Lab) error {
			c, err := l.Dial(ctx, IPEarlyTalker)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.Send("EHLO early.talker.test\r\n"); err != nil {
				return err
			}
			if _, err := c.Expect(554); err != nil { // the greeting is replaced by the error
				return err
			}
			return c.WaitClosed()
		}},
		{"synchronization error without PIPELINING", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, IPNoPipelining, "HELO nopipe.partner.test")
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.Send("MAIL FROM:<" + partner("judy") + ">\r\nRCPT TO:<" + local("alice") + ">\r\n"); err != nil {
				return err
			}
			_, _ = c.Read()
			return c.WaitClosed()
		}},
		{"protocol and syntax errors", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, lo(29), "client.partner.test")
			if err != nil {
				return err
			}
			defer c.Close()
			for _, cmd := range []string{"MAIL FROM:<bad", "RCPT TO:<alice@example.org>", "MAIL FROM:<x@y> BOGUS=1", "DATA", "MAIL FROM:<also bad"} {
				rep, err := c.Cmd(0, cmd)
				if err != nil || rep.Code == 421 {
					break // dropped
				}
			}
			return c.WaitClosed()
		}},
		{"unknown commands", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, lo(30), "client.partner.test")
			if err != nil {
				return err
			}
			defer c.Close()
			for _, cmd := range []string{"XYZZY", "GET / HTTP/1.0", "FOO bar", "BAR"} {
				if _, err := c.Cmd(0, cmd); err != nil {
					break // dropped
				}
			}
			return c.WaitClosed()
		}},
		{"too many non-mail commands", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, lo(31), "client.partner.test")
			if err != nil {
				return err
			}
			defer c.Close()
			for i := 0; i < 8; i++ {
				rep, err := c.Cmd(0, "VRFY postmaster")
				if err != nil || rep.Code == 421 {
					break
				}
			}
			return c.WaitClosed()
		}},
		{"too many connections from one address", func(ctx context.Context, l *Lab) error {
			var cs []*Client
			defer func() {
				for _, c := range cs {
					c.Close()
				}
			}()
			for i := 0; i < 2; i++ {
				c, err := open(ctx, l, IPMaxPerHost, "busy.partner.test")
				if err != nil {
					return err
				}
				cs = append(cs, c)
			}
			c, err := greet(ctx, l, IPMaxPerHost, 421)
			if err != nil {
				return err
			}
			cs = append(cs, c)
			for _, c := range cs[:2] {
				if err := c.Quit(); err != nil {
					return err
				}
			}
			return nil
		}},
		{"command timeout", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, lo(32), "slow.partner.test")
			if err != nil {
				return err
			}
			defer c.Close()
			_, _ = c.Expect(421) // after smtp_receive_timeout
			return c.WaitClosed()
		}},
		{"data timeout", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, lo(33), "slow.partner.test")
			if err != nil {
				return err
			}
			defer c.Close()
			if err := transaction(c, partner("kim"), []rcpt{r(local("alice"), 250)}, "", 0); err != nil {
				return err
			}
			if _, err := c.Cmd(354, "DATA"); err != nil {
				return err
			}
			if err := c.Send("Subject: never finished\r\n\r\nhalf a message\r\n"); err != nil {
				return err
			}
			_, _ = c.Expect(421)
			return c.WaitClosed()
		}},
		{"unexpected disconnection", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, lo(34), "flaky.partner.test")
			if err != nil {
				return err
			}
			return closeAndSettle(c)
		}},
		{"disconnection during DATA", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, lo(34), "flaky.partner.test")
			if err != nil {
				return err
			}
			if err := transaction(c, partner("leo"), []rcpt{r(local("alice"), 250)}, "", 0); err != nil {
				c.Close()
				return err
			}
			if _, err := c.Cmd(354, "DATA"); err != nil {
				c.Close()
				return err
			}
			if err := c.Send("Subject: cut\r\n\r\nhalf"); err != nil {
				c.Close()
				return err
			}
			return closeAndSettle(c)
		}},
		{"incomplete transaction", mailSession(lo(35), "client.partner.test", partner("mallory"),
			[]rcpt{r(local("alice"), 250)}, "", 0)},
		{"no MAIL", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, lo(36), "idle.partner.test")
			if err != nil {
				return err
			}
			defer c.Close()
			return c.Quit()
		}},
		{"TLS session", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, lo(37), "secure.partner.test")
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.StartTLS(); err != nil {
				return err
			}
			if _, err := c.Cmd(250, "EHLO secure.partner.test"); err != nil {
				return err
			}
			if err := transaction(c, partner("niaj"), []rcpt{r(local("alice"), 250)},
				Message(partner("niaj"), local("alice"), "sent over TLS", "s13"), 250); err != nil {
				return err
			}
			return c.Quit()
		}},
		{"TLS error", func(ctx context.Context, l *Lab) error {
			c, err := open(ctx, l, lo(38), "broken.partner.test")
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.Cmd(220, "STARTTLS"); err != nil {
				return err
			}
			if err := c.Send("this is not a TLS client hello\r\n\r\n"); err != nil {
				return err
			}
			return c.WaitClosed()
		}},
		{"DKIM signature that cannot be verified", mailSession(lo(39), "client.partner.test", partner("olivia"),
			[]rcpt{r(local("alice"), 250)},
			Message(partner("olivia"), local("alice"), "signed", "s14",
				"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d="+PartnerDomain+"; s=sel1;\n\th=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\n\tb=dGVzdA=="), 250)},
		{"no host name for the address", mailSession(IPHostLookup, "unknown.example", partner("peggy"),
			[]rcpt{r(local("alice"), 250)},
			Message(partner("peggy"), local("alice"), "reverse DNS", "s15"), 250)},
		{"panic log entry", mailSession(lo(40), "client.partner.test", partner("quentin"),
			[]rcpt{r(local("panicme"), 550)}, "", 0)},
		{"local submission", func(ctx context.Context, l *Lab) error {
			return l.Submit(ctx, local("info"), []byte(Message(local("info"), local("alice"), "cron output", "s16")), local("alice"), partner("ok"))
		}},
		{"local submission, deliveries suppressed (-N)", func(ctx context.Context, l *Lab) error {
			msg := Message(local("root"), local("alice"), "dry run", "s18")
			out, err := l.EximInput(ctx, strings.NewReader(msg), "-N", "-odi", "-f", local("root"), "--", local("alice"))
			if err != nil {
				return fmt.Errorf("%w: %s", err, out)
			}
			return nil
		}},
		{"daemon reload (SIGHUP)", func(ctx context.Context, l *Lab) error { return l.Reload(ctx) }},
		{"queue run", func(ctx context.Context, l *Lab) error { return l.RunQueue(ctx) }},
		{"second queue run (bounces, retries)", func(ctx context.Context, l *Lab) error { return l.RunQueue(ctx) }},
	}
}

func connectRefused(src string, want int) func(context.Context, *Lab) error {
	return func(ctx context.Context, l *Lab) error {
		c, err := greet(ctx, l, src, want)
		if err != nil {
			return err
		}
		defer c.Close()
		return c.WaitClosed()
	}
}

// closeAndSettle closes c abruptly and gives Exim a moment to log it, so
// that the next session's lines come after.
func closeAndSettle(c *Client) error {
	err := c.Close()
	time.Sleep(200 * time.Millisecond)
	return err
}

// RunScript runs sessions in order and stops at the first error.
func RunScript(ctx context.Context, l *Lab, sessions []Session) error {
	for _, s := range sessions {
		if err := s.Run(ctx, l); err != nil {
			return fmt.Errorf("session %q: %w", s.Name, err)
		}
		// Let the daemon's child finish logging the session.
		time.Sleep(30 * time.Millisecond)
	}
	return nil
}
