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
	"errors"
	"fmt"
	"hash/crc32"
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
	// id of the main-log line. A shipper tailing both logs delivers the
	// twin within seconds; a reader of whole files sees the reject log
	// after the main log and needs as many as the main log holds
	// rejections (eximship parse sets 1000000 when a reject log is among
	// its inputs). Default: 10000.
	MaxTwins int
	// RejectLog says that the input carries reject logs: main-log
	// rejections are remembered for their twins from the start. Otherwise
	// they are remembered from the first reject-log record the tracker
	// sees (a stream of main logs only costs nothing; the reject-log
	// entries that arrive first may miss their twins). Default: false.
	RejectLog bool
}

// Defaults.
const (
	DefaultMaxOpen     = 10000
	DefaultIdleTimeout = 10 * time.Minute
	DefaultLinger      = 10 * time.Second
	DefaultInferGap    = 2 * time.Second
	DefaultMaxTwins    = 10000
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
	ids   map[uint64]*session // live sessions by id (its first 64 bits): keeps ids unique
	lru   list                // every live session, least recently used first
	twins twinTable
	// twinsOn: main-log rejections are remembered (RejectLog, or a
	// reject-log record was seen)
	twinsOn bool
	stats   Stats
	// the Config durations in nanoseconds, and the log time of the record
	// being observed
	idle, linger, gap, now int64
	// scratch lists of match
	open, closed, dead []*session
	// forgotten structures kept for reuse
	freeS  []*session
	freeIP []*ipState
	last   *host // the host of the previous record (most often the next one's)
	// the previous record's host.name and its lower-case form
	lastRaw, lastName string
}

// New returns a Tracker for c.
func New(c Config) (*Tracker, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.setDefaults()
	t := &Tracker{cfg: c, idle: int64(c.IdleTimeout), linger: int64(c.Linger), gap: int64(c.InferGap)}
	t.Reset()
	return t, nil
}

// Reset forgets every session, as after a restart.
func (t *Tracker) Reset() {
	t.hosts = map[hostKey]*host{}
	t.last = nil
	t.ids = map[uint64]*session{}
	t.lru = list{}
	t.twins = newTwinTable(t.cfg.MaxTwins)
	t.twinsOn = t.cfg.RejectLog
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
	key      hostKey
	nameHash uint64              // of key (session ids)
	now      int64               // latest log time seen (Unix ns)
	ips      map[string]*ipState // sessions by client address
	pids     map[int]*session    // sessions by serving pid
	lastIP   *ipState            // the address of the host's previous line (most often the next one's)
	// connLines: the host logs connection openings (+smtp_connection).
	connLines bool
	// mainSeen: main-log lines of this host were seen (for reject-log
	// twins).
	mainSeen bool
}

// ipState holds the live sessions of one client address, oldest first,
// and the latest of each client port.
type ipState struct {
	ip       string
	sessions []*session
	ports    map[int]*session
}

func (st *ipState) setPort(s *session, port int) {
	s.port = port
	if port == 0 {
		return
	}
	if st.ports == nil {
		st.ports = map[int]*session{}
	}
	st.ports[port] = s
}

// adoptScan bounds how many of an address's latest sessions a line with a
// port looks at for one started by a line without it.
const adoptScan = 4

// session is one SMTP connection.
type session struct {
	id     string
	idKey  uint64 // the id's 48 bits of hash
	h      *host
	st     *ipState // its client address
	port   int
	pid    int
	label  uint64 // hash of the HELO name, 0 if none (inferred matching)
	msgPID uint64 // hash of the pid part of the message ids received, 0 if none
	// log times, Unix nanoseconds
	start    int64
	last     int64
	closedAt int64
	closed   bool
	opened   bool  // its opening line was seen
	complete bool  // all of its lines can have been seen (summary allowed)
	after    uint8 // once closed, the epilogue it may still get (after*)

	transactions int
	rcptRejected int
	inTx         bool
	txSender     uint64
	txKnown      bool     // txSender is set
	froms        []uint64 // distinct senders (hashes); fromsBuf holds the first ones
	fromsBuf     [2]uint64

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
	// host.name is written lower-cased (no copy when it is already; the
	// previous record's name is reused: most often the same)
	name := t.lastName
	if r.Meta.HostName != t.lastRaw {
		name = strings.ToLower(r.Meta.HostName)
		t.lastRaw, t.lastName = r.Meta.HostName, name
	}
	if reject {
		t.twinsOn = true
		if t.twin(r) {
			return
		}
		if h := t.hosts[hostKey{name: name}]; h != nil && h.mainSeen {
			return // the main log of this host is tracked: only twins join
		}
	}
	t.now = r.Time.UnixNano()
	h := t.host(hostKey{name: name, reject: reject}, t.now)
	if !reject {
		h.mainSeen = true
	}
	s, inferred := t.match(h, r, lk)
	if s == nil {
		return
	}
	t.lru.touch(s)
	if t.now > s.last {
		s.last = t.now
	}
	if s.pid == 0 && s.port == 0 {
		// (only the heuristic compares them)
		if l := label(r); len(l) > 0 {
			s.label = nonZero(fnvBytes(fnvOffset, l))
		}
		if p := msgPID(r.MessageID); len(p) > 0 {
			s.msgPID = nonZero(fnvBytes(fnvOffset, p))
		}
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
	if !reject && t.twinsOn {
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
	now := t.now
	switch lk.kind {
	case kindOpen:
		h.connLines = true
		return t.start(h, r), false
	case kindRefused:
		return t.start(h, r), false
	}
	st := h.lastIP
	if st == nil || st.ip != string(ip) {
		st = h.ips[string(ip)]
		h.lastIP = st
	}
	// 1. address and port (+incoming_port)
	if r.Host.Port > 0 && len(ip) > 0 {
		if st != nil {
			if s := st.ports[r.Host.Port]; s != nil && t.alive(s, r, lk) {
				return s, false
			}
			// A session started by a line that logs no port ("no host
			// name found for IP address", before the client's HELO)
			// takes the port of the next line from its address.
			for i := len(st.sessions) - 1; i >= 0 && i >= len(st.sessions)-adoptScan; i-- {
				s := st.sessions[i]
				if s.port != 0 || s.opened || s.closed {
					continue
				}
				if s.pid == 0 && now-s.last <= t.gap || s.pid > 0 && s.pid == r.PID {
					st.setPort(s, r.Host.Port)
					return s, false
				}
			}
		}
		return t.start(h, r), false
	}
	// 2. the pid of the serving process (+pid, syslog tag)
	if r.PID > 0 {
		if s := h.pids[r.PID]; s != nil {
			if (len(ip) == 0 || s.st.ip == string(ip)) && t.alive(s, r, lk) {
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
				if s.pid == 0 && s.opened && !s.closed && now-s.last <= t.idle {
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
	open, closed := t.open[:0], t.closed[:0]
	if st != nil {
		dead := t.dead[:0]
		for _, s := range st.sessions {
			if t.unreachable(s, now) {
				dead = append(dead, s)
				continue
			}
			if !t.alive(s, r, lk) {
				continue
			}
			if s.closed {
				closed = append(closed, s)
			} else {
				open = append(open, s)
			}
		}
		for _, s := range dead {
			t.forget(s)
		}
		t.dead = dead[:0]
	}
	t.open, t.closed = open[:0], closed[:0]
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
	var l, p uint64
	if b := label(r); len(b) > 0 {
		l = nonZero(fnvBytes(fnvOffset, b))
	}
	if b := msgPID(r.MessageID); len(b) > 0 {
		p = nonZero(fnvBytes(fnvOffset, b))
	}
	var best *session
	for _, s := range cands {
		if s.closed {
			if best == nil || s.closedAt >= best.closedAt {
				best = s
			}
			continue
		}
		if t.now-s.last > t.gap {
			continue
		}
		if p != 0 && s.msgPID != 0 && s.msgPID != p {
			continue
		}
		if l != 0 && s.label != 0 && s.label != l {
			continue
		}
		if best == nil || s.last >= best.last {
			best = s
		}
	}
	return best
}

// unreachable reports whether no later line can join s: closed and past
// Linger, silent past IdleTimeout, or, on a host that logs no connection
// lines, a session known by its address only and silent past InferGap.
// Such sessions are forgotten when their address is looked at, so that the
// lists of one address stay short.
func (t *Tracker) unreachable(s *session, now int64) bool {
	switch {
	case s.closed:
		return now-s.closedAt > t.linger
	case now-s.last > t.idle:
		return true
	}
	return !s.h.connLines && s.pid == 0 && s.port == 0 && now-s.last > t.gap
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
		return t.now-s.last <= t.idle
	}
	if !lk.epilogue || t.now-s.closedAt > t.linger {
		return false
	}
	if r.Action == exim.ActionNoMail {
		return s.after >= afterNoMail
	}
	return s.after == afterClose
}

// host returns the state of host k, advancing its clock to now and
// forgetting what expired.
func (t *Tracker) host(k hostKey, now int64) *host {
	h := t.last
	if h == nil || h.key != k {
		h = t.hosts[k]
	}
	if h == nil {
		h = &host{key: k, ips: map[string]*ipState{}, pids: map[int]*session{}}
		h.nameHash = fnvString(fnvOffset, k.name)
		if k.reject {
			h.nameHash = mix64(h.nameHash)
		}
		t.hosts[k] = h
	}
	if now > h.now {
		h.now = now
	}
	t.last = h
	t.expire()
	return h
}

// expire forgets the least recently used sessions while no later line can
// join them (unreachable, in their host's log time).
func (t *Tracker) expire() {
	for s := t.lru.head; s != nil && t.unreachable(s, s.h.now); s = t.lru.head {
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
	s := t.newSession()
	s.h, s.start, s.last = h, t.now, t.now
	k := classifyAction(r).kind
	s.opened = k == kindOpen || k == kindRefused
	s.complete = s.opened || !h.connLines
	s.id, s.idKey = t.newID(h, r)
	t.ids[s.idKey] = s
	st := h.ips[string(r.Host.IP)]
	if st == nil {
		st = t.newIPState(r.Host.IP)
		h.ips[st.ip] = st
	}
	s.st = st
	st.sessions = append(st.sessions, s)
	st.setPort(s, r.Host.Port)
	t.lru.pushBack(s)
	t.stats.Started++
	return s
}

// newID derives a session id from the host and the session's first line
// (its time, pid and text): the same log gives the same ids. The id is the
// Unix second of the first line in 8 hex digits (00000000 without a time),
// then 12 hex digits (48 bits) of a hash: the ids of an index then sort in
// time order and neighbouring ones share their first digits, which the
// terms dictionary and doc values store once (issue 12: 2 bytes per log
// line less than 20 digits of hash). The hash's inputs (the host name's
// hash, time, pid, the line's CRC-32C and length) go through a chain of the
// SplitMix64 finalizer. Two sessions can only get the same id when they
// start in the same second, and a tracker then tells them apart by a
// counter (a new id never has the 48 hash bits of a held session, and the
// first is still held: closed sessions linger, Linger, unless MaxOpen
// evicted it). Only sessions of different trackers (a host's lines in two
// Kafka partitions) can collide, with a chance of about 1 in 3*10^14 per
// pair that starts in the same second.
func (t *Tracker) newID(h *host, r *exim.Record) (string, uint64) {
	body := uint64(crc32.Checksum(r.Body, castagnoli))<<32 | uint64(uint32(len(r.Body)))
	words := [4]uint64{h.nameHash, uint64(t.now), uint64(r.PID), body}
	var sec uint32
	if !r.Time.IsZero() {
		sec = uint32(r.Time.Unix())
	}
	for n := uint64(0); ; n++ {
		a := uint64(idSeed)
		for _, w := range words {
			a = mix64(a ^ w)
		}
		if n > 0 {
			a = mix64(a ^ n)
		}
		if k := a >> 16; t.ids[k] == nil {
			var x [idDigits]byte
			for i := 0; i < 8; i++ {
				x[i] = hexDigits[sec>>(28-4*i)&0xF]
			}
			for i := 0; i < idDigits-8; i++ {
				x[8+i] = hexDigits[k>>(44-4*i)&0xF]
			}
			return string(x[:]), k
		}
	}
}

// idSeed seeds the id chain (the fractional digits of pi).
const idSeed = 0x243f6a8885a308d3

const hexDigits = "0123456789abcdef"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// mix64 is SplitMix64's finalizer (Steele, Lea, Flood 2014; constants by
// Vigna): a bijection of 64-bit words whose every output bit depends on
// every input bit.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// idDigits is the length of a session id: 20 hex digits.
const idDigits = 20

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
	s.closedAt = t.now
	s.after = epilogueAfter(r.Action)
	t.stats.Closed++
	if !s.complete {
		return
	}
	r.Session.Summary = true
	r.Session.Transactions = s.transactions
	r.Session.RcptRejected = s.rcptRejected
	r.Session.MailFroms = len(s.froms)
	if d := t.now - s.start; d > 0 {
		r.Session.Duration = time.Duration(d)
	}
}

// forget drops s from every index.
func (t *Tracker) forget(s *session) {
	t.lru.remove(s)
	delete(t.ids, s.idKey)
	t.unbindPID(s)
	h := s.h
	if st := s.st; st != nil {
		for i, x := range st.sessions {
			if x == s {
				st.sessions = append(st.sessions[:i], st.sessions[i+1:]...)
				break
			}
		}
		if s.port != 0 && st.ports[s.port] == s {
			delete(st.ports, s.port)
		}
		if len(st.sessions) == 0 && h.ips[st.ip] == st {
			delete(h.ips, st.ip)
			if h.lastIP == st {
				h.lastIP = nil
			}
			t.freeIPState(st)
		}
	}
	t.freeSession(s)
	if len(h.ips) == 0 && len(h.pids) == 0 && h.key.reject {
		delete(t.hosts, h.key)
		if t.last == h {
			t.last = nil
		}
	}
}

// Forgotten sessions and address states are kept for reuse (at most
// poolMax of each): relay-heavy logs start and forget a session every few
// lines.
const poolMax = 256

func (t *Tracker) newSession() *session {
	if n := len(t.freeS); n > 0 {
		s := t.freeS[n-1]
		t.freeS = t.freeS[:n-1]
		return s
	}
	s := &session{}
	s.froms = s.fromsBuf[:0]
	return s
}

func (t *Tracker) freeSession(s *session) {
	froms := s.froms[:0] // its own fromsBuf, or a small slice to reuse
	if cap(froms) > 16 {
		froms = nil
	}
	*s = session{}
	if froms == nil {
		froms = s.fromsBuf[:0]
	}
	s.froms = froms
	if len(t.freeS) < poolMax {
		t.freeS = append(t.freeS, s)
	}
}

func (t *Tracker) newIPState(ip []byte) *ipState {
	if n := len(t.freeIP); n > 0 {
		st := t.freeIP[n-1]
		t.freeIP = t.freeIP[:n-1]
		st.ip = string(ip)
		return st
	}
	return &ipState{ip: string(ip)}
}

func (t *Tracker) freeIPState(st *ipState) {
	clear(st.sessions)
	st.sessions = st.sessions[:0]
	st.ports = nil
	if len(t.freeIP) < poolMax {
		t.freeIP = append(t.freeIP, st)
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

// nonZero maps a hash to a non-zero value (0 means "none").
func nonZero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
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
