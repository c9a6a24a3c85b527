package frame

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// transport is what the carrier of a group of lines tells.
type transport struct {
	host    string
	file    string
	time    time.Time
	dataset Dataset
}

// piece is an incomplete sequence of Exim's numbered syslog pieces.
type piece struct {
	e       *Entry
	key     []byte
	next    int // the piece number expected next
	m       int // the number of pieces announced
	lastSep byte
}

// state is the framing state shared by Framer and Assembler.
type state struct {
	cfg Config
	ref time.Time

	cur    *Entry // open plain entry, waiting for continuation lines
	curRej bool   // cur has reject-log continuation lines
	pend   []*piece
	// freePieces keeps finished piece records for reuse.
	freePieces []*piece
	free       []*Entry
	lastLine   int64
	lastSeq    int

	host     strCache
	prog     strCache
	envHost  strCache
	envFile  strCache
	keyBuf   []byte
	sh       syslogHeader
	defaults transport
	forced   Dataset // Config.Dataset as given
}

func newState(c Config) state {
	forced := c.Dataset
	c = c.withDefaults()
	return state{
		forced:   forced,
		cfg:      c,
		defaults: transport{host: c.HostName, file: c.FilePath, dataset: c.Dataset},
		lastLine: -1,
	}
}

func (s *state) get() *Entry {
	if n := len(s.free); n > 0 {
		e := s.free[n-1]
		s.free = s.free[:n-1]
		return e
	}
	return &Entry{}
}

func (s *state) put(e *Entry) {
	if cap(e.Text) > 1<<20 || cap(e.Original) > 1<<20 {
		// Do not keep huge buffers around after an overlong entry.
		e.Text, e.Original = nil, nil
	}
	s.free = append(s.free, e)
}

// start begins an entry at input record no.
func (s *state) start(no int64, t *transport, f Format) *Entry {
	e := s.get()
	seq := 0
	if no == s.lastLine {
		s.lastSeq++
		seq = s.lastSeq
	} else {
		s.lastLine, s.lastSeq = no, 0
	}
	*e = Entry{
		Text:     e.Text[:0],
		Original: e.Original[:0],
		Lines:    append(e.Lines[:0], no),
		HostName: t.host,
		FilePath: t.file,
		Time:     t.time,
		Dataset:  t.dataset,
		Format:   f,
		Line:     no,
		Seq:      seq,
	}
	return e
}

func addLine(e *Entry, no int64) {
	if e.Lines[len(e.Lines)-1] != no {
		e.Lines = append(e.Lines, no)
	}
}

func (s *state) deliver(e *Entry, emit func(*Entry)) {
	emit(e)
	s.put(e)
}

func (s *state) flushCur(emit func(*Entry)) {
	if s.cur == nil {
		return
	}
	e := s.cur
	s.cur = nil
	if s.curRej && e.Dataset == DatasetUnknown {
		e.Dataset = DatasetReject
	}
	s.curRej = false
	s.deliver(e, emit)
}

// flush delivers every open entry and incomplete piece sequence.
func (s *state) flush(emit func(*Entry)) {
	s.flushCur(emit)
	for len(s.pend) > 0 {
		s.flushPiece(0, emit)
	}
}

func (s *state) flushPiece(k int, emit func(*Entry)) {
	p := s.pend[k]
	copy(s.pend[k:], s.pend[k+1:])
	s.pend[len(s.pend)-1] = nil
	s.pend = s.pend[:len(s.pend)-1]
	p.e.Err = fmt.Errorf("%w: got pieces 1 to %d of %d", ErrIncomplete, p.next-1, p.m)
	s.deliver(p.e, emit)
	p.e = nil
	s.freePieces = append(s.freePieces, p)
}

// line frames one input line (without its '\n').
func (s *state) line(line []byte, no int64, t *transport, emit func(*Entry)) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) == 0 {
		return
	}
	if (line[0] == '<' || line[0] >= 'A' || isDigit(line[0])) && parseSyslog(line, s.cfg.Location, s.ref, &s.sh) {
		s.flushCur(emit)
		s.syslogLine(line, no, t, emit)
		return
	}
	if IsContinuation(line) && s.cur != nil {
		if len(s.cur.Text)+1+len(line) <= s.cfg.MaxEntry {
			s.cur.Text = append(append(s.cur.Text, '\n'), line...)
			s.cur.Original = append(append(s.cur.Original, '\n'), line...)
			addLine(s.cur, no)
			if line[0] != ' ' && line[0] != '\t' {
				s.curRej = true
			}
			return
		}
		s.cur.Err = fmt.Errorf("%w: more than %d bytes", ErrEntrySplit, s.cfg.MaxEntry)
	}
	s.flushCur(emit)
	e := s.start(no, t, FormatPlain)
	e.Text = append(e.Text, line...)
	e.Original = append(e.Original, line...)
	if IsContinuation(line) {
		e.Orphan = true
		if line[0] != ' ' && line[0] != '\t' {
			s.curRej = true
		}
	}
	s.cur = e
}

func (s *state) syslogLine(line []byte, no int64, t *transport, emit func(*Entry)) {
	h := &s.sh
	tt := *t
	if len(h.host) > 0 {
		tt.host = s.host.get(h.host)
	}
	if !h.time.IsZero() {
		tt.time = h.time
	}
	if tt.dataset == DatasetUnknown {
		switch {
		case h.sev == 6:
			tt.dataset = DatasetMain
		case h.sev == 5:
			tt.dataset = DatasetReject
		case h.sev >= 0 && h.sev <= 2:
			tt.dataset = DatasetPanic
		}
	}
	prog := s.prog.get(h.program)
	i, m, sep, text, ok := parsePiece(h.content)
	if !ok {
		e := s.start(no, &tt, h.format)
		e.Program, e.PID = prog, h.pid
		e.Text = append(e.Text, h.content...)
		e.Original = append(e.Original, line...)
		s.deliver(e, emit)
		return
	}
	s.keyBuf = append(append(append(s.keyBuf[:0], tt.host...), 0), h.program...)
	s.keyBuf = append(s.keyBuf, byte(h.pid>>24), byte(h.pid>>16), byte(h.pid>>8), byte(h.pid))
	k := -1
	for j, p := range s.pend {
		if bytes.Equal(p.key, s.keyBuf) {
			k = j
			break
		}
	}
	if k >= 0 {
		p := s.pend[k]
		if i == p.next && m == p.m && len(p.e.Text)+1+len(text) <= s.cfg.MaxEntry {
			if p.lastSep == '\\' {
				p.e.Text = append(p.e.Text, '\n')
			}
			p.e.Text = append(p.e.Text, text...)
			p.e.Original = append(append(p.e.Original, '\n'), line...)
			addLine(p.e, no)
			p.next++
			p.lastSep = sep
			if i == m {
				copy(s.pend[k:], s.pend[k+1:])
				s.pend[len(s.pend)-1] = nil
				s.pend = s.pend[:len(s.pend)-1]
				s.deliver(p.e, emit)
				p.e = nil
				s.freePieces = append(s.freePieces, p)
			}
			return
		}
		s.flushPiece(k, emit)
	}
	e := s.start(no, &tt, h.format)
	e.Program, e.PID = prog, h.pid
	e.Text = append(e.Text, text...)
	e.Original = append(e.Original, line...)
	if i != 1 {
		e.Err = fmt.Errorf("%w: piece %d of %d without its predecessors", ErrIncomplete, i, m)
		s.deliver(e, emit)
		return
	}
	if m == 1 {
		s.deliver(e, emit)
		return
	}
	if len(s.pend) >= s.cfg.MaxPending {
		s.flushPiece(0, emit)
	}
	var pc *piece
	if n := len(s.freePieces); n > 0 {
		pc, s.freePieces = s.freePieces[n-1], s.freePieces[:n-1]
	} else {
		pc = &piece{}
	}
	*pc = piece{e: e, key: append(pc.key[:0], s.keyBuf...), next: 2, m: m, lastSep: sep}
	s.pend = append(s.pend, pc)
}

// record frames one input record that may be a JSON envelope holding
// several lines. Entries from an envelope all carry record number no.
func (s *state) record(rec []byte, no int64, emit func(*Entry)) {
	if len(rec) == 0 || rec[0] != '{' {
		s.line(rec, no, &s.defaults, emit)
		return
	}
	s.flushCur(emit)
	env, err := parseEnvelope(rec)
	if err != nil {
		if n := len(rec); n > 0 && rec[n-1] == '\r' {
			rec = rec[:n-1]
		}
		e := s.start(no, &s.defaults, FormatPlain)
		e.Text = append(e.Text, rec...)
		e.Original = append(e.Original, rec...)
		e.Err = err
		s.deliver(e, emit)
		return
	}
	t := s.defaults
	if len(env.host) > 0 {
		t.host = s.envHost.get(env.host)
	}
	if len(env.file) > 0 {
		t.file = s.envFile.get(env.file)
		if d := DatasetFromPath(t.file); d != DatasetUnknown {
			t.dataset = d
		}
	}
	t.time = env.time
	// The lines of one envelope are framed together, apart from the
	// surrounding input: open entries and pieces do not cross envelopes.
	saveCur, savePend := s.cur, s.pend
	s.cur, s.pend = nil, nil
	for msg := env.message; len(msg) > 0; {
		ln := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			ln, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		s.line(ln, no, &t, emit)
	}
	s.flush(emit)
	s.cur, s.pend = saveCur, savePend
}

// Framer frames single messages (e.g. Kafka record values) independently of
// each other: nothing is carried from one message to the next, so the
// entries of a message depend on that message alone. It is not safe for
// concurrent use.
type Framer struct {
	s state
}

// NewFramer returns a Framer for c.
func NewFramer(c Config) (*Framer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Framer{s: newState(c)}, nil
}

// Message frames one message value: a JSON envelope (when it starts with
// '{') or one or more lines. Entries are passed to emit in a deterministic
// order; Entry.Line is the line number inside the message (for an envelope,
// always 1) and Seq the index among entries beginning on that line. ref is
// the reference time for RFC 3164 years (zero: now).
func (f *Framer) Message(value []byte, ref time.Time, emit func(*Entry)) {
	s := &f.s
	s.ref = ref
	s.lastLine = -1
	if len(value) > 0 && value[0] == '{' {
		s.record(value, 1, emit)
		return
	}
	no := int64(0)
	for len(value) > 0 {
		no++
		ln := value
		if i := bytes.IndexByte(value, '\n'); i >= 0 {
			ln, value = value[:i], value[i+1:]
		} else {
			value = nil
		}
		s.line(ln, no, &s.defaults, emit)
	}
	s.flush(emit)
}

// Assembler frames a stream of lines (a log file, stdin): multi-line
// reject-log entries are joined, and syslog piece sequences are reassembled
// per host, program and pid, across other lines. Each line that starts with
// '{' is treated as a JSON envelope and framed on its own. Call Flush at the
// end of the input. It is not safe for concurrent use.
type Assembler struct {
	s     state
	lines atomic.Int64
	br    *bufio.Reader
}

// NewAssembler returns an Assembler for c.
func NewAssembler(c Config) (*Assembler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Assembler{s: newState(c)}, nil
}

// SetReference sets the reference time for RFC 3164 years. Default: the
// time of each line's framing (time.Now).
func (a *Assembler) SetReference(t time.Time) { a.s.ref = t }

// SetFile sets the default file path (and dataset hint, from the path
// unless the Config set one) for the lines that follow. Call Flush before
// switching files.
func (a *Assembler) SetFile(path string) {
	a.s.defaults.file = path
	a.s.defaults.dataset = a.s.forced
	if a.s.forced == DatasetUnknown {
		a.s.defaults.dataset = DatasetFromPath(path)
	}
	a.s.lastLine = -1
}

// Lines returns the number of lines read so far; it may be called from any
// goroutine.
func (a *Assembler) Lines() int64 { return a.lines.Load() }

// Line frames one input line (without its newline); no is its number.
func (a *Assembler) Line(line []byte, no int64, emit func(*Entry)) {
	a.lines.Add(1)
	a.s.record(line, no, emit)
	if a.s.cfg.Independent {
		a.s.flush(emit)
	}
}

// Flush delivers every entry still open and every incomplete piece
// sequence (with ErrIncomplete).
func (a *Assembler) Flush(emit func(*Entry)) { a.s.flush(emit) }

// ReadLines frames every line of r, numbering lines from 1, and flushes at
// the end. Lines longer than Config.MaxLine are cut into pieces, each its
// own entry carrying ErrLineSplit. It returns the read error, if any (the
// entries read before it are delivered).
func (a *Assembler) ReadLines(r io.Reader, emit func(*Entry)) error {
	if a.br == nil {
		a.br = bufio.NewReaderSize(r, max(a.s.cfg.MaxLine, 16))
	} else {
		a.br.Reset(r)
	}
	var no int64
	split := false
	for {
		b, err := a.br.ReadSlice('\n')
		if len(b) > 0 {
			full := errors.Is(err, bufio.ErrBufferFull)
			if !split {
				no++
				a.lines.Add(1)
			}
			if full || split {
				// A piece of an overlong line: never joined, never parsed
				// as syslog or envelope.
				a.s.flushCur(emit)
				ln := bytes.TrimSuffix(b, []byte{'\n'})
				if len(ln) == 0 { // the newline right after a full buffer
					split = false
					continue
				}
				e := a.s.start(no, &a.s.defaults, FormatPlain)
				e.Text = append(e.Text, ln...)
				e.Original = append(e.Original, ln...)
				e.Err = fmt.Errorf("%w: longer than %d bytes", ErrLineSplit, a.s.cfg.MaxLine)
				a.s.deliver(e, emit)
				split = full
			} else {
				a.s.record(b[:len(b)-boolInt(b[len(b)-1] == '\n')], no, emit)
				if a.s.cfg.Independent {
					a.s.flush(emit)
				}
			}
		}
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			a.s.flush(emit)
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// strCache turns bytes into a string, allocating only when they differ
// from the previous call's (host names and programs repeat).
type strCache struct {
	s string
}

func (c *strCache) get(b []byte) string {
	if string(b) != c.s {
		c.s = string(b)
	}
	return c.s
}
