package eximlab

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// GenerateConfig configures Generate.
type GenerateConfig struct {
	// Dir is the lab directory; it is kept afterwards with the logs in
	// Dir/log. A directory left by an earlier run (it holds exim.conf) is
	// wiped first; any other non-empty directory is refused. Required.
	Dir string
	// Relay is the number of rejected relay attempts (RCPT commands).
	// Default: 0.
	Relay int
	// Normal is the number of accepted mails. Default: 0.
	Normal int
	// Seed seeds the random choices; the same seed gives the same traffic
	// (up to the interleaving of concurrent sessions). Default: 0.
	Seed int64
	// LogSelector is Exim's log_selector. Default: "" (Exim's default).
	LogSelector string
	// Workers is the number of concurrent SMTP sessions. Default: 4.
	Workers int
}

// Validate checks c.
func (c *GenerateConfig) Validate() error {
	if c.Dir == "" {
		return errors.New("eximlab: generate: Dir is required")
	}
	if c.Relay < 0 || c.Normal < 0 {
		return errors.New("eximlab: generate: Relay and Normal must be >= 0")
	}
	return nil
}

// External domains of relay attempts. They only ever appear in RCPT
// commands that Exim rejects: nothing is sent to them.
var relayDomains = []string{
	"gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "mail.ru",
	"qq.com", "163.com", "gmx.de", "web.de", "yandex.ru", "icloud.com",
	"comcast.net", "orange.fr", "libero.it", "naver.com", "rediffmail.com", "t-online.de",
}

var relayLocalParts = []string{
	"john", "info", "sales", "admin", "support", "contact", "mike.smith", "anna",
	"office", "billing", "jobs", "noreply", "test", "marketing", "webmaster", "kevin",
}

var botHelos = []string{
	"ylmf-pc", "User", "WIN-3KL9F2PQ1M", "localhost", "mail.example.com", "[127.0.0.1]",
	"smtp.gmail.com", "ADMIN-PC", "unknown", "host.localdomain",
}

// forgedSenders are senders relay attempts forge in our own domain.
var forgedSenders = []string{"root", "info", "admin", "postmaster", "webmaster"}

// Generate runs a lab, drives a realistic mix of relay attempts and
// accepted mail, runs the queue once, stops the lab and returns the path of
// the main log.
//
// Relay attempts come from a pool of 127.1.x.y source addresses, some of
// which return for several sessions; one address cycles through about 20
// different MAIL FROMs; sessions carry 1-5 RCPTs and sometimes several
// transactions; senders are forged local admin addresses, random external
// ones or the null sender. Accepted mail comes from 127.2.x.y: local
// deliveries (maildir, mbox, pipe, :blackhole:), authenticated relays to
// the sink and to undeliverable domains (deferred), and a few bounces.
func Generate(ctx context.Context, c GenerateConfig) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if err := prepareDir(c.Dir); err != nil {
		return "", err
	}
	l, err := Start(ctx, Config{Dir: c.Dir, LogSelector: c.LogSelector})
	if err != nil {
		return "", err
	}
	defer l.Close()
	rng := rand.New(rand.NewPCG(uint64(c.Seed), 0x9e3779b97f4a7c15))
	sessions := append(relaySessions(rng, c.Relay), normalSessions(rng, c.Normal)...)
	rng.Shuffle(len(sessions), func(i, j int) { sessions[i], sessions[j] = sessions[j], sessions[i] })
	if err := runConcurrently(ctx, l, sessions, c.Workers); err != nil {
		return "", err
	}
	if err := l.RunQueue(ctx); err != nil {
		return "", err
	}
	if err := l.Close(); err != nil {
		return "", err
	}
	return l.LogPath("mainlog"), nil
}

func prepareDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("eximlab: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "exim.conf")); err != nil {
		return fmt.Errorf("eximlab: %s is not empty and not an eximlab directory", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("eximlab: wipe %s: %w", dir, err)
	}
	return nil
}

func runConcurrently(ctx context.Context, l *Lab, sessions []Session, workers int) error {
	ch := make(chan Session)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range ch {
				if err := s.Run(ctx, l); err != nil {
					errs <- fmt.Errorf("session %q: %w", s.Name, err)
					return
				}
			}
		}()
	}
	var err error
loop:
	for _, s := range sessions {
		select {
		case ch <- s:
		case err = <-errs:
			break loop
		case <-ctx.Done():
			err = ctx.Err()
			break loop
		}
	}
	close(ch)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	} else {
		// Drain the other workers' errors.
		for len(errs) > 0 {
			<-errs
		}
	}
	return err
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// relaySessions splits n rejected RCPTs into sessions.
func relaySessions(rng *rand.Rand, n int) []Session {
	// 40 addresses; the first ones are "heavy hitters" that come back.
	ips := make([]string, 40)
	for i := range ips {
		ips[i] = fmt.Sprintf("127.1.%d.%d", 1+i/10, 10+i*6)
	}
	const cycler = "127.1.9.99" // one address trying ~20 different senders
	cyclerSenders := make([]string, 20)
	for i := range cyclerSenders {
		cyclerSenders[i] = fmt.Sprintf("%s%d@%s", pick(rng, relayLocalParts), i, pick(rng, relayDomains))
	}
	var out []Session
	cyc := 0
	for n > 0 {
		var ip string
		switch r := rng.IntN(10); {
		case r < 2:
			ip = cycler
		case r < 6:
			ip = ips[rng.IntN(5)] // repeat offenders
		default:
			ip = pick(rng, ips)
		}
		helo := pick(rng, botHelos)
		var txs []relayTx
		for t := 0; t < 1+rng.IntN(2) && n > 0; t++ {
			var from string
			switch r := rng.IntN(10); {
			case ip == cycler:
				from = cyclerSenders[cyc%len(cyclerSenders)]
				cyc++
			case r < 4:
				from = pick(rng, forgedSenders) + "@" + LocalDomain
			case r < 5:
				from = "" // null sender
			default:
				from = pick(rng, relayLocalParts) + "@" + pick(rng, relayDomains)
			}
			k := 1 + rng.IntN(5)
			if k > n {
				k = n
			}
			var rcpts []string
			for i := 0; i < k; i++ {
				rcpts = append(rcpts, pick(rng, relayLocalParts)+"@"+pick(rng, relayDomains))
			}
			n -= k
			txs = append(txs, relayTx{from, rcpts})
		}
		out = append(out, Session{Name: "relay from " + ip, Run: relaySession(ip, helo, txs)})
	}
	return out
}

type relayTx struct {
	from  string
	rcpts []string
}

func relaySession(ip, helo string, txs []relayTx) func(context.Context, *Lab) error {
	return func(ctx context.Context, l *Lab) error {
		c, err := open(ctx, l, ip, helo)
		if err != nil {
			return err
		}
		defer c.Close()
		for i, tx := range txs {
			if i > 0 {
				if _, err := c.Cmd(250, "RSET"); err != nil {
					return err
				}
			}
			var rc []rcpt
			for _, a := range tx.rcpts {
				rc = append(rc, r(a, 550))
			}
			if err := transaction(c, tx.from, rc, "", 0); err != nil {
				return err
			}
		}
		return c.Quit()
	}
}

var normalSubjects = []string{
	"Invoice 2026-1187", "Re: lunch on friday?", "Weekly report", "Your order has shipped",
	"Meeting minutes", "Password reset", "Newsletter: November", "Fwd: contract draft",
}

// normalSessions makes m accepted mails.
func normalSessions(rng *rand.Rand, m int) []Session {
	locals := []string{"alice", "info", "admin", "postmaster", "root", "devnull", "abuse", "pipe"}
	var out []Session
	for i := 0; i < m; i++ {
		ip := fmt.Sprintf("127.2.0.%d", 10+rng.IntN(20))
		subject := pick(rng, normalSubjects)
		id := fmt.Sprintf("gen%d", i)
		switch k := rng.IntN(10); {
		case k < 6: // inbound local mail, 1-3 recipients
			from := fmt.Sprintf("%s@%s", pick(rng, []string{"bob", "carol", "news", "billing", "dave"}), PartnerDomain)
			if rng.IntN(10) == 0 {
				from = "" // a bounce from elsewhere
			}
			var rc []rcpt
			for k := 0; k < 1+rng.IntN(3); k++ {
				rc = append(rc, r(pick(rng, locals)+"@"+LocalDomain, 250))
			}
			msgFrom := from
			if msgFrom == "" {
				msgFrom = "MAILER-DAEMON@" + PartnerDomain
			}
			out = append(out, Session{Name: "inbound " + id, Run: mailSession(ip, "mx."+PartnerDomain, from, rc,
				Message(msgFrom, rc[0].addr, subject, id), 250)})
		case k < 9: // authenticated outbound: to the partner sink, sometimes elsewhere (deferred)
			to := []string{pick(rng, []string{"ok", "sales", "team", "busy", "nobody"}) + "@" + PartnerDomain}
			if rng.IntN(3) == 0 {
				to = append(to, pick(rng, relayLocalParts)+"@unreachable.example")
			}
			from := pick(rng, []string{"alice", "info", "admin"}) + "@" + LocalDomain
			out = append(out, Session{Name: "outbound " + id, Run: authSession(ip, from, to, Message(from, to[0], subject, id))})
		default: // to an address that bounces after acceptance
			from := "carol@" + PartnerDomain
			out = append(out, Session{Name: "bounce " + id, Run: mailSession(ip, "mx."+PartnerDomain, from,
				[]rcpt{r("bounceme@"+LocalDomain, 250)}, Message(from, "bounceme@"+LocalDomain, subject, id), 250)})
		}
	}
	return out
}

func authSession(ip, from string, to []string, msg string) func(context.Context, *Lab) error {
	return func(ctx context.Context, l *Lab) error {
		c, err := open(ctx, l, ip, "laptop-"+strings.ReplaceAll(ip, ".", "-")+"."+LocalDomain)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.AuthPlain("testuser", "secret"); err != nil {
			return err
		}
		var rc []rcpt
		for _, a := range to {
			rc = append(rc, r(a, 250))
		}
		if err := transaction(c, from, rc, msg, 250); err != nil {
			return err
		}
		return c.Quit()
	}
}
