package eximlab

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sink is a minimal SMTP server on loopback that plays the mail server of
// PartnerDomain: it accepts every recipient except local parts "nobody"
// (550, a permanent failure) and "busy" (451, a temporary one), and
// discards the messages. Its replies are deterministic ("id=sink-N").
type Sink struct {
	ln       net.Listener
	wg       sync.WaitGroup
	messages atomic.Int64
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

// StartSink listens on addr (e.g. "127.0.0.1:0") and serves until Close.
func StartSink(addr string) (*Sink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("eximlab: sink: %w", err)
	}
	s := &Sink{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Port is the port the sink listens on.
func (s *Sink) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Messages is the number of messages the sink accepted.
func (s *Sink) Messages() int64 { return s.messages.Load() }

// Close stops the sink and waits for its connections to end.
func (s *Sink) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (s *Sink) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

func (s *Sink) session(c net.Conn) {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	reply := func(lines ...string) bool {
		for _, l := range lines {
			w.WriteString(l)
			w.WriteString("\r\n")
		}
		return w.Flush() == nil
	}
	if !reply("220 mx." + PartnerDomain + " ESMTP eximlab sink") {
		return
	}
	for {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		switch verb {
		case "EHLO":
			if !reply("250-mx."+PartnerDomain+" hello "+arg, "250 SIZE 10485760") {
				return
			}
		case "HELO":
			if !reply("250 mx." + PartnerDomain) {
				return
			}
		case "MAIL", "RSET", "NOOP":
			if !reply("250 2.0.0 OK") {
				return
			}
		case "RCPT":
			addr := strings.ToLower(arg)
			var ok bool
			switch {
			case strings.Contains(addr, "<nobody@"):
				ok = reply("550 5.1.1 " + strings.TrimPrefix(arg, "TO:") + ": user unknown")
			case strings.Contains(addr, "<busy@"):
				ok = reply("451 4.2.1 mailbox busy, try again later")
			default:
				ok = reply("250 2.1.5 OK")
			}
			if !ok {
				return
			}
		case "DATA":
			if !reply("354 go ahead") {
				return
			}
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
			}
			n := s.messages.Add(1)
			if !reply(fmt.Sprintf("250 2.0.0 OK id=sink-%d", n)) {
				return
			}
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			if !reply("500 5.5.1 unrecognized command") {
				return
			}
		}
	}
}
