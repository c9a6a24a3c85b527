// Package session groups the parsed lines of Exim's logs into SMTP sessions:
// every line that one SMTP connection made Exim write (the connection's
// opening and closing lines, HELO/EHLO, MAIL, RCPT and DATA rejections,
// arrivals over SMTP, protocol and synchronization errors, timeouts) gets
// the same exim.session.id, and the line that closes a session whose lines
// were all seen carries its summary (transactions, rejected RCPTs, distinct
// MAIL FROMs, duration).
//
// A Tracker is fed exim.Records in log order. It identifies connections
// exactly from what the log has, in this order of preference: the client's
// address and port (log_selector +incoming_port), the pid of the process
// serving the connection (+pid, or the syslog tag), and the opening and
// closing lines (+smtp_connection) when at most one connection from an
// address is open at a time. Where the log has none of these it infers
// sessions with a heuristic (see README.md) and marks their records
// Inferred.
//
// Session ids are derived from the input only (host name, time and text of
// the session's first line), so the same log gives the same ids wherever it
// is processed. The package imports only the parser and the standard
// library.
package session

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eximship/eximship/shipper/exim"
)

// Config configures a Tracker.
type Config struct {
	// MaxOpen bounds the sessions a Tracker holds (open ones and closed
	// ones kept for their epilogue). When it is reached the session used
	// least recently is forgotten: its later lines start a new session and
	// it gets no summary. Default: 10000.
	MaxOpen int
	// IdleTimeout forgets a session after this long without a line, in
	// log time of its Exim host (Exim drops a silent client after
	// smtp_receive_timeout, 5 minutes by default). Default: 10m.
	IdleTimeout time.Duration
	// Linger is how long a closed session keeps its id for the lines Exim
	// writes after the closing one ("no MAIL in SMTP connection ..." comes
	// after "closed by QUIT", "closed by DROP in ACL" after the connect ACL
	// rejection). Default: 10s.
	Linger time.Duration
	// InferGap is the longest silence, in log time, inside an inferred
	// session: where the log has no pid, port or connection lines, a line
	// from the same client after a longer gap starts a new session.
	// Default: 2s.
	InferGap time.Duration
	// MaxTwins bounds the rejections remembered so that their reject-log
	// twin (the same rejection written to the reject log) gets the session
	// id of the main-log line. Default: 100000.
	MaxTwins int
}

// Defaults.
const (
	DefaultMaxOpen     = 10000
	DefaultIdleTimeout = 10 * time.Minute
	DefaultLinger      = 10 * time.Second
	DefaultInferGap    = 2 * time.Second
	DefaultMaxTwins    = 100000
)

func (c *Config) setDefaults() {
	if c.MaxOpen == 0 {
		c.MaxOpen = DefaultMaxOpen
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.InferGap == 0 {
		c.InferGap = DefaultInferGap
	}
	if c.MaxTwins == 0 {
		c.MaxTwins = DefaultMaxTwins
	}
}

// Validate reports configuration errors (zero values take the defaults).
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.MaxOpen < 1 {
		errs = append(errs, fmt.Errorf("session: max_open %d: want at least 1", c.MaxOpen))
	}
	if c.MaxTwins < 1 {
		errs = append(errs, fmt.Errorf("session: max_twins %d: want at least 1", c.MaxTwins))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"idle_timeout", c.IdleTimeout}, {"linger", c.Linger}, {"infer_gap", c.InferGap}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("session: %s %s: must be positive", d.name, d.v))
		}
	}
	if c.InferGap > c.IdleTimeout {
		errs = append(errs, fmt.Errorf("session: infer_gap %s is longer than idle_timeout %s", c.InferGap, c.IdleTimeout))
	}
	return errors.Join(errs...)
}

// Stats are a Tracker's counters.
type Stats struct {
	Open     int   // sessions held now (open or closed and lingering)
	Started  int64 // sessions started
	Closed   int64 // sessions closed by a closing line
	Evicted  int64 // sessions forgotten because MaxOpen was reached
	Expired  int64 // sessions forgotten after IdleTimeout
	Inferred int64 // records placed by the heuristic
	Twins    int64 // reject-log records that got their main-log twin's id
}

// Tracker assigns sessions to records fed in log order. It is not safe for
// concurrent use.
type Tracker struct {
	cfg   Config
	hosts map[hostKey]*host
	ids   map[string]*session // live sessions by id: keeps ids unique
	lru   list                // every live session, least recently used first
	twins twinTable
	stats Stats
}

// New returns a Tracker for c.
func New(c Config) (*Tracker, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.setDefaults()
	t := &Tracker{cfg: c}
	t.Reset()
	return t, nil
}

// Reset forgets every session, as after a restart.
func (t *Tracker) Reset() {
	t.hosts = map[hostKey]*host{}
	t.ids = map[string]*session{}
	t.lru = list{}
	t.twins = newTwinTable(t.cfg.MaxTwins)
	t.stats.Open = 0
}

// Size returns the number of sessions held (open, or closed and kept for
// their epilogue): the figure MaxOpen bounds.
func (t *Tracker) Size() int { return t.lru.n }

// Stats returns the counters.
func (t *Tracker) Stats() Stats {
	s := t.stats
	s.Open = t.lru.n
	return s
}

// hostKey names the state of one Exim host. The reject log of a host whose
// main log this Tracker never saw gets sessions of its own (reject).
type hostKey struct {
	name   string
	reject bool
}

// host is what the Tracker knows about one Exim host.
type host struct {
	key  hostKey
	now  time.Time           // latest log time seen
	ips  map[string]*ipState // sessions by client address
	pids map[int]*session    // sessions by serving pid
	// connLines: the host logs connection openings (+smtp_connection).
	connLines bool
	// mainSeen: main-log lines of this host were seen (for reject-log
	// twins).
	mainSeen bool
}

// ipState holds the live sessions of one client address, oldest first.
type ipState struct {
	sessions []*session
}

// session is one SMTP connection.
type session struct {
	id       string
	h        *host
	ip       string
	port     int
	pid      int
	label    string // HELO name (inferred matching)
	msgPID   string // pid part of the message ids received (inferred matching)
	start    time.Time
	last     time.Time
	closedAt time.Time
	closed   bool
	opened   bool  // its opening line was seen
	complete bool  // all of its lines can have been seen (summary allowed)
	after    uint8 // once closed, the epilogue it may still get (after*)

	transactions int
	rcptRejected int
	inTx         bool
	txSender     uint64
	txKnown      bool // txSender is set
	froms        []uint64

	prev, next *session // lru
}

// Observe sets r.Session for r, the next record of the log. r.Meta must be
// set (host name, dataset); records of other hosts may be interleaved.
func (t *Tracker) Observe(r *exim.Record) {
	r.Session = exim.Session{}
	lk := classify(r)
	if lk.kind == kindNone {
		return
	}
	reject := r.Meta.Dataset == "exim.reject"
	// host.name is written lower-cased (no copy when it is already)
	name := strings.ToLower(r.Meta.HostName)
	if reject {
		if t.twin(r) {
			return
		}
		if h := t.hosts[hostKey{name: name}]; h != nil && h.mainSeen {
			return // the main log of this host is tracked: only twins join
		}
	}
	h := t.host(hostKey{name: name, reject: reject}, r.Time)
	if !reject {
		h.mainSeen = true
	}
	s, inferred := t.match(h, r, lk)
	if s == nil {
		return
	}
	t.lru.touch(s)
	if r.Time.After(s.last) {
		s.last = r.Time
	}
	if l := label(r); len(l) > 0 && s.label != string(l) {
		s.label = string(l)
	}
	if p := msgPID(r.MessageID); len(p) > 0 && s.msgPID != string(p) {
		s.msgPID = string(p)
	}
	if r.PID > 0 && s.pid == 0 && lk.kind != kindOpen && lk.kind != kindRefused {
		t.bindPID(s, r.PID)
	}
	s.count(r)
	r.Session.ID = s.id
	r.Session.Inferred = inferred
	if inferred {
		t.stats.Inferred++
	}
	if !reject {
		if k, ok := twinKey(r); ok {
			t.twins.put(k, s.id, inferred)
		}
	}
	switch {
	case (lk.kind == kindClose || lk.kind == kindRefused) && !s.closed:
		t.close(s, r)
	case s.closed:
		s.after = epilogueAfter(r.Action)
	}
}

// epilogueAfter returns what may follow a closing line of action a.
func epilogueAfter(a string) uint8 {
	switch a {
	case exim.ActionNoMail:
		return afterNothing
	case exim.ActionConnectionClosed, exim.ActionConnectionLost, exim.ActionConnDropped:
		return afterNoMail
	}
	return afterClose
}

// match finds or starts the session of r; inferred reports that the
// heuristic decided.
func (t *Tracker) match(h *host, r *exim.Record, lk lineKind) (s *session, inferred bool) {
	ip := r.Host.IP
	now := r.Time
	switch lk.kind {
	case kindOpen:
		h.connLines = true
		return t.start(h, r), false
	case kindRefused:
		return t.start(h, r), false
	}
	st := h.ips[string(ip)]
	// 1. address and port (+incoming_port)
	if r.Host.Port > 0 && len(ip) > 0 {
		if st != nil {
			for i := len(st.sessions) - 1; i >= 0; i-- {
				s := st.sessions[i]
				if s.port == r.Host.Port {
					if t.alive(s, r, lk) {
						return s, false
					}
					break
				}
			}
			// A session started by a line that logs no port ("no host
			// name found for IP address", before the client's HELO)
			// takes the port of the next line from its address.
			for i := len(st.sessions) - 1; i >= 0; i-- {
				s := st.sessions[i]
				if s.port != 0 || s.opened || s.closed {
					continue
				}
				if s.pid == 0 && now.Sub(s.last) <= t.cfg.InferGap || s.pid > 0 && s.pid == r.PID {
					s.port = r.Host.Port
					return s, false
				}
			}
		}
		return t.start(h, r), false
	}
	// 2. the pid of the serving process (+pid, syslog tag)
	if r.PID > 0 {
		if s := h.pids[r.PID]; s != nil {
			if (len(ip) == 0 || s.ip == string(ip)) && t.alive(s, r, lk) {
				return s, false
			}
			// closed, silent too long, or another client: the pid was reused
			t.unbindPID(s)
		}
		if lk.pidOnly {
			return nil, false
		}
		// The first line of this process: it serves the oldest connection
		// from its address whose opening line was seen and that no process
		// has claimed yet (Exim 4.96 writes the opening line from the
		// daemon's pid).
		if st != nil {
			for _, s := range st.sessions {
				if s.pid == 0 && s.opened && !s.closed && r.Time.Sub(s.last) <= t.cfg.IdleTimeout {
					return s, false
				}
			}
		}
		return t.start(h, r), false
	}
	if lk.pidOnly {
		return nil, false
	}
	// 3. the client's address alone. An epilogue line goes to a
	// connection closed just before that expects one, other lines to an
	// open connection.
	var open, closed []*session
	if st != nil {
		for _, s := range st.sessions {
			if !t.alive(s, r, lk) {
				continue
			}
			if s.closed {
				closed = append(closed, s)
			} else {
				open = append(open, s)
			}
		}
	}
	pick := open
	if len(closed) > 0 {
		pick = closed
	}
	if h.connLines {
		// The host logs every connection's opening: the one live
		// connection from this address is this line's.
		switch len(pick) {
		case 0:
			return t.start(h, r), false // opened before the log we have
		case 1:
			return pick[0], false
		}
	}
	if s := t.infer(pick, r); s != nil {
		return s, true
	}
	return t.start(h, r), true
}

// infer picks the session of r among candidates from its address when
// nothing identifies the connection (README.md, "Inferred sessions"): the
// one closed last for an epilogue; otherwise the most recently active one
// that was not silent for longer than InferGap, did not receive messages
// in another process, and whose client did not call itself by another
// name.
func (t *Tracker) infer(cands []*session, r *exim.Record) *session {
	l := label(r)
	p := msgPID(r.MessageID)
	var best *session
	for _, s := range cands {
		if s.closed {
			if best == nil || !s.closedAt.Before(best.closedAt) {
				best = s
			}
			continue
		}
		if r.Time.Sub(s.last) > t.cfg.InferGap {
			continue
		}
		if len(p) > 0 && s.msgPID != "" && s.msgPID != string(p) {
			continue
		}
		if len(l) > 0 && s.label != "" && s.label != string(l) {
			continue
		}
		if best == nil || !s.last.Before(best.last) {
			best = s
		}
	}
	return best
}

// What may follow the line that closed a session.
const (
	afterNothing = iota
	afterNoMail  // "no MAIL in SMTP connection ..." (+smtp_no_mail)
	afterClose   // a closing line ("closed by EOF", "closed by DROP in ACL"), then "no MAIL"
)

// alive reports whether s can take r: open and not silent for longer than
// IdleTimeout, or closed and r an epilogue it expects within Linger.
func (t *Tracker) alive(s *session, r *exim.Record, lk lineKind) bool {
	if !s.closed {
		return r.Time.Sub(s.last) <= t.cfg.IdleTimeout
	}
	if !lk.epilogue || r.Time.Sub(s.closedAt) > t.cfg.Linger {
		return false
	}
	if r.Action == exim.ActionNoMail {
		return s.after >= afterNoMail
	}
	return s.after == afterClose
}

// host returns the state of host k, advancing its clock to now and
// forgetting what expired.
func (t *Tracker) host(k hostKey, now time.Time) *host {
	h := t.hosts[k]
	if h == nil {
		h = &host{key: k, ips: map[string]*ipState{}, pids: map[int]*session{}}
		t.hosts[k] = h
	}
	if now.After(h.now) {
		h.now = now
	}
	t.expire()
	return h
}

// expire forgets the least recently used sessions while they are past
// IdleTimeout (or Linger, once closed) in their host's log time.
func (t *Tracker) expire() {
	for s := t.lru.head; s != nil; s = t.lru.head {
		limit := t.cfg.IdleTimeout
		ref := s.last
		if s.closed {
			limit, ref = t.cfg.Linger, s.closedAt
		}
		if s.h.now.Sub(ref) <= limit {
			return
		}
		if !s.closed {
			t.stats.Expired++
		}
		t.forget(s)
	}
}

// start begins a session with r as its first line.
func (t *Tracker) start(h *host, r *exim.Record) *session {
	for t.lru.n >= t.cfg.MaxOpen {
		t.stats.Evicted++
		t.forget(t.lru.head)
	}
	s := &session{
		h:     h,
		ip:    string(r.Host.IP),
		port:  r.Host.Port,
		start: r.Time,
		last:  r.Time,
	}
	k := classifyAction(r).kind
	s.opened = k == kindOpen || k == kindRefused
	s.complete = s.opened || !h.connLines
	s.id = t.newID(h, r)
	t.ids[s.id] = s
	st := h.ips[s.ip]
	if st == nil {
		st = &ipState{}
		h.ips[s.ip] = st
	}
	st.sessions = append(st.sessions, s)
	t.lru.pushBack(s)
	t.stats.Started++
	return s
}

// newID derives a session id from the host and the session's first line:
// the same log gives the same ids. Two sessions that start with the very
// same line at the same time (two connections of one client in the same
// second, in a log without pids or ports) are told apart by a counter.
func (t *Tracker) newID(h *host, r *exim.Record) string {
	var b [8]byte
	for n := uint64(0); ; n++ {
		d := sha256.New()
		d.Write([]byte(h.key.name))
		if h.key.reject {
			d.Write([]byte{0, 'r'})
		}
		binary.BigEndian.PutUint64(b[:], uint64(r.Time.UnixNano()))
		d.Write([]byte{0})
		d.Write(b[:])
		binary.BigEndian.PutUint64(b[:], uint64(r.PID))
		d.Write(b[:])
		d.Write(r.Body)
		if n > 0 {
			binary.BigEndian.PutUint64(b[:], n)
			d.Write(b[:])
		}
		var sum [sha256.Size]byte
		id := hex.EncodeToString(d.Sum(sum[:0])[:idBytes])
		if t.ids[id] == nil {
			return id
		}
	}
}

// idBytes is the length of a session id in bytes (20 hex digits).
const idBytes = 10

func (t *Tracker) bindPID(s *session, pid int) {
	if old := s.h.pids[pid]; old != nil && old != s {
		t.unbindPID(old)
	}
	s.pid = pid
	s.h.pids[pid] = s
}

func (t *Tracker) unbindPID(s *session) {
	if s.pid != 0 && s.h.pids[s.pid] == s {
		delete(s.h.pids, s.pid)
	}
}

// close ends s with r, its closing line, which gets the summary when all of
// the session's lines can have been seen.
func (t *Tracker) close(s *session, r *exim.Record) {
	s.closed = true
	s.closedAt = r.Time
	s.after = epilogueAfter(r.Action)
	t.stats.Closed++
	if !s.complete {
		return
	}
	r.Session.Summary = true
	r.Session.Transactions = s.transactions
	r.Session.RcptRejected = s.rcptRejected
	r.Session.MailFroms = len(s.froms)
	if d := r.Time.Sub(s.start); d > 0 {
		r.Session.Duration = d
	}
}

// forget drops s from every index.
func (t *Tracker) forget(s *session) {
	t.lru.remove(s)
	delete(t.ids, s.id)
	t.unbindPID(s)
	h := s.h
	if st := h.ips[s.ip]; st != nil {
		for i, x := range st.sessions {
			if x == s {
				st.sessions = append(st.sessions[:i], st.sessions[i+1:]...)
				break
			}
		}
		if len(st.sessions) == 0 {
			delete(h.ips, s.ip)
		}
	}
	if len(h.ips) == 0 && len(h.pids) == 0 && h.key.reject {
		delete(t.hosts, h.key)
	}
}

// count adds what r tells about the session's transactions.
func (s *session) count(r *exim.Record) {
	ef := effectOf(r)
	if ef.rcptRejected {
		s.rcptRejected++
	}
	var from uint64
	known := hasSender(r)
	if known {
		from = senderHash(r)
		s.addFrom(from)
	}
	if ef.tx {
		switch {
		case !s.inTx:
			s.transactions++
			s.inTx, s.txSender, s.txKnown = true, from, known
		case known && !s.txKnown:
			s.txSender, s.txKnown = from, true
		case known && from != s.txSender:
			// a new MAIL FROM without a line ending the previous
			// transaction (RSET is logged only with
			// +smtp_incomplete_transaction)
			s.transactions++
			s.txSender = from
		}
		if ef.endsTx {
			s.inTx = false
		}
	}
}

func (s *session) addFrom(h uint64) {
	for _, f := range s.froms {
		if f == h {
			return
		}
	}
	s.froms = append(s.froms, h)
}

// senderHash hashes the envelope sender as logged ("<>" for the null
// sender).
func senderHash(r *exim.Record) uint64 {
	if r.Has(exim.FlagNullSender) {
		return fnvString(fnvOffset, "<>")
	}
	return fnvBytes(fnvOffset, r.Sender)
}

// twin gives a reject-log record the session of its main-log twin, and
// reports whether there was one.
func (t *Tracker) twin(r *exim.Record) bool {
	k, ok := twinKey(r)
	if !ok {
		return false
	}
	e, ok := t.twins.get(k)
	if !ok {
		return false
	}
	r.Session.ID = e.id
	r.Session.Inferred = e.inferred
	t.stats.Twins++
	return true
}
