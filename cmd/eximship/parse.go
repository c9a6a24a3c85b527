package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/enrich"
	"github.com/eximship/eximship/shipper/enrich/geoip"
	"github.com/eximship/eximship/shipper/exim"
	"github.com/eximship/eximship/shipper/frame"
	"github.com/eximship/eximship/shipper/process"
)

func init() {
	register(command{
		name:     "parse",
		summary:  "parse Exim logs (files, gzip, stdin) and print the documents run would index",
		synopsis: "[flags] [FILE...]",
		help:     parseHelp,
		examples: parseExamples,
		run:      runParse,
	})
}

const parseHelp = `Reads Exim log files (gzip-compressed ones too, detected by content) or
standard input (no FILE, or "-") and writes to standard output the documents
that "eximship run" would index, one JSON object per line. Plain Exim logs,
syslog-carried lines and Filebeat/Vector JSON envelopes are detected line by
line; multi-line reject-log entries and Exim's split syslog lines are joined.

The lines of one SMTP connection share exim.session.id, across all inputs
in the order given (give the main log before its reject log, older files
first: a reject-log entry gets its main-log twin's session when that twin
is among the last 1,000,000 rejections read); the line that closes a
session carries its summary (exim.session.transactions, rcpt_rejected,
mail_froms, event.duration).

Lines that name no host (plain log files) get host.name from -host, by
default this machine's name. The documents depend on the input alone: they
carry no event.created and event.ingested (run adds them: the Kafka
record's time and its own clock).

Problems in the input become documents with error.message and
event.original; the exit status is 1 only when an input could not be read
(the other inputs are still processed), 2 for bad flags.`

const parseExamples = `  eximship parse /var/log/exim4/mainlog | jq -c 'select(.event.action == "rcpt-rejected")'
  eximship parse -timezone Europe/Berlin /var/log/exim4/mainlog.*.gz > docs.ndjson
  zcat rejectlog.1.gz | eximship parse -dataset reject -host mx2.example.org -
  kcat -C -b kafka1:9092 -t exim-logs -e | eximship parse -per-line -with-meta
  eximship parse --local-domain example.org --local-domain example.net mainlog   # marks local and forged senders
  eximship parse --geoip-city GeoLite2-City.mmdb --geoip-asn GeoLite2-ASN.mmdb mainlog   # adds source.geo.*, source.as.*
  eximship parse mainlog.1 mainlog | jq -c 'select(.exim.session.rcpt_rejected > 3) | .exim.session'   # sessions with many rejected RCPTs`

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// parseOptions are the flags of eximship parse.
type parseOptions struct {
	namespace string
	timezone  string
	dataset   string
	host      string
	withMeta  bool
	perLine   bool
	keepOrig  bool
	cpuprof   string
	workers   int
	sessions  bool
}

func runParse(ctx context.Context, e *env, args []string) error {
	var o parseOptions
	fs := e.flags("parse")
	fs.StringVar(&o.namespace, "namespace", process.DefaultNamespace, "data stream `namespace` (logs-exim.<dataset>-<namespace>)")
	fs.StringVar(&o.timezone, "timezone", "", "IANA time `zone` of timestamps written without an offset (default: local)")
	fs.StringVar(&o.dataset, "dataset", "", "force the `dataset` of every document: main, reject or panic (default: from the file name, the syslog severity or the entry)")
	fs.StringVar(&o.host, "host", defaultParseHost(), "host.name of entries whose transport names none (plain log lines); \"\" leaves it out (default: this machine's host name)")
	fs.BoolVar(&o.withMeta, "with-meta", false, `wrap each document as {"_id":...,"_index":...,"_source":{...}}`)
	fs.BoolVar(&o.keepOrig, "keep-original", false, "keep event.original on every document, as exim.keep_original: true does (default: only on documents that do not hold every word of their line, and on error documents)")
	fs.BoolVar(&o.perLine, "per-line", false, "frame every line on its own, as run does with a topic fed one line per message (no multi-line reject entries, no reassembly of syslog pieces)")
	fs.IntVar(&o.workers, "workers", runtime.GOMAXPROCS(0), "parse and encode on `n` goroutines (1: all on one; the output is the same)")
	fs.BoolVar(&o.sessions, "sessions", true, "group the lines of each SMTP connection (exim.session.*); -sessions=false leaves them out")
	fs.StringVar(&o.cpuprof, "cpuprofile", "", "write a CPU profile to `file` (for performance work)")
	var locals, owns stringList
	fs.Var(&locals, "local-domain", "a local `domain` (repeatable; marks local and forged senders and recipients; default: exim.local_domains of -config)")
	fs.Var(&owns, "own-hostname", "a `name` of our own mail servers (repeatable; a HELO naming one, or a name under one, is helo_class own_name; default: exim.own_hostnames of -config, else the local domains)")
	geoCity := fs.String("geoip-city", "", "GeoIP City or Country database `file` (.mmdb: GeoLite2, DB-IP lite) for source.geo.* (default: geoip.city_database of -config)")
	geoASN := fs.String("geoip-asn", "", "GeoIP ASN database `file` (.mmdb) for source.as.* (default: geoip.asn_database of -config)")
	noEnrich := fs.Bool("no-enrich", false, "leave out the enrichment (domain metadata, HELO class, address range, GeoIP): the parser's fields only, for comparison; run always enriches")
	configPath := fs.String("config", "", "read exim.local_domains, exim.own_hostnames, exim.admin_local_parts, exim.host and geoip from this configuration `file` (the one of run)")
	if err := e.parseFlags(fs, args); err != nil {
		return err
	}
	localDomains, ownHostnames := []string(locals), []string(owns)
	var adminLocalParts []string
	gc := geoip.Config{CityDatabase: *geoCity, ASNDatabase: *geoASN}
	geoFrom := "-geoip-city/-geoip-asn"
	if *configPath != "" {
		cfg, err := loadConfig(*configPath)
		if err != nil {
			return &exitError{code: exitConfig, err: err}
		}
		if localDomains == nil {
			localDomains = cfg.Exim.LocalDomains
		}
		if ownHostnames == nil {
			ownHostnames = cfg.Exim.OwnHostnames
		}
		adminLocalParts = cfg.Exim.AdminLocalParts
		hostSet := false
		fs.Visit(func(f *flag.Flag) { hostSet = hostSet || f.Name == "host" })
		if !hostSet && cfg.Exim.Host != "" {
			o.host = cfg.Exim.Host
		}
		if !gc.Enabled() {
			gc, geoFrom = cfg.GeoIP.config(), "geoip in "+*configPath
		}
	}
	loc := time.Local
	if o.timezone != "" {
		l, err := time.LoadLocation(o.timezone)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("-timezone: %w", err)}
		}
		loc = l
	}
	pcfg := process.Config{Namespace: o.namespace, Location: loc, Dataset: o.dataset, NoEnrich: *noEnrich, Host: o.host, NoSessions: !o.sessions, KeepOriginal: o.keepOrig, Deterministic: true,
		Enrich: enrich.Config{LocalDomains: localDomains, OwnHostnames: ownHostnames, AdminLocalParts: adminLocalParts}}
	if err := pcfg.Validate(); err != nil {
		return &exitError{code: 2, err: err}
	}
	if !*noEnrich {
		geo, err := openGeoIP(gc, e.log)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("%s: %w", geoFrom, err)}
		}
		defer geo.Close()
		if geo != nil {
			pcfg.Enrich.GeoIP = geo
		}
	}
	if o.cpuprof != "" {
		stop, err := startCPUProfile(o.cpuprof)
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("-cpuprofile: %w", err)}
		}
		defer stop()
	}
	return parseInputs(ctx, e, o, pcfg, fs.Args(), e.stdout)
}

// startCPUProfile writes a CPU profile to path until the returned func
// is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// parseInputs parses files (none, or "-": standard input) as eximship
// parse does and writes the documents, one per line, to out. eximship
// report reads them the same way, so its figures are those of parse's
// documents.
func parseInputs(ctx context.Context, e *env, o parseOptions, pcfg process.Config, files []string, out io.Writer) error {
	loc := pcfg.Location
	switch {
	case readsRejectLog(files, pcfg.Dataset):
		// A reject log is read after its main log: remember the main
		// log's rejections for their twins from the start, that many
		// (about 50 bytes each).
		pcfg.Sessions.RejectLog = true
		if pcfg.Sessions.MaxTwins == 0 {
			pcfg.Sessions.MaxTwins = parseMaxTwins
		}
	case !onlyMainLogs(files, pcfg.Dataset):
		// stdin, envelopes, syslog files: reject-log entries may come
		// in between
		pcfg.Sessions.RejectLog = true
	}
	proc, err := process.New(pcfg)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	asm, err := frame.NewAssembler(frame.Config{Location: loc, Independent: o.perLine})
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if len(files) == 0 {
		files = []string{"-"}
	}

	if o.workers < 1 {
		return &exitError{code: 2, err: fmt.Errorf("-workers %d: want at least 1", o.workers)}
	}
	p := &parser{ctx: ctx, env: e, opts: o, proc: proc, asm: asm, out: bufio.NewWriterSize(out, 1<<20)}
	p.emitFn = p.emit
	if o.workers > 1 {
		procs := make([]*process.Exim, o.workers)
		for i := range procs {
			if procs[i], err = process.New(pcfg); err != nil {
				return &exitError{code: 2, err: err}
			}
		}
		p.startPipeline(procs)
	}
	stop := p.startProgress()
	failed := 0
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		if err := p.parseFile(f); err != nil {
			if p.writeErr() != nil || ctx.Err() != nil {
				break // stdout is gone, or interrupted
			}
			failed++
			e.log.Error("cannot read input", "file", f, "error", err)
		}
	}
	p.stopPipeline()
	if err := p.out.Flush(); err != nil {
		p.setWriteErr(err)
	}
	stop()
	switch werr := p.writeErr(); {
	case werr != nil:
		return &exitError{code: 1, err: fmt.Errorf("write output: %w", werr)}
	case ctx.Err() != nil:
		return &exitError{code: 130, err: ctx.Err()}
	case failed > 0:
		return &exitError{code: 1, err: fmt.Errorf("%d of %d inputs could not be read", failed, len(files))}
	}
	return nil
}

// parseMaxTwins is how many main-log rejections parse remembers for
// their reject-log twins when a reject log is among its inputs.
const parseMaxTwins = 1000000

// onlyMainLogs reports whether every input is a main log (by its name, or
// -dataset main): no reject-log twins can come.
func onlyMainLogs(files []string, dataset string) bool {
	if dataset == "main" {
		return true
	}
	if dataset != "" || len(files) == 0 {
		return false
	}
	for _, f := range files {
		if f == "-" || frame.DatasetFromPath(f) != frame.DatasetMain {
			return false
		}
	}
	return true
}

// readsRejectLog reports whether one of the inputs is a reject log (by its
// name, or -dataset reject).
func readsRejectLog(files []string, dataset string) bool {
	if dataset == "reject" {
		return true
	}
	for _, f := range files {
		if frame.DatasetFromPath(f) == frame.DatasetReject {
			return true
		}
	}
	return false
}

// parser runs eximship parse over its inputs.
type parser struct {
	ctx  context.Context
	env  *env
	opts parseOptions
	proc *process.Exim
	asm  *frame.Assembler
	out  *bufio.Writer
	// werr is the first write error; set by the goroutine that writes,
	// read by the reader to stop.
	werr   atomic.Pointer[error]
	emitFn func(*frame.Entry)

	// the parallel pipeline (see startPipeline); nil with one worker
	free, work, order chan *parseJob
	wg                sync.WaitGroup
	cur               *parseJob
	lastTracked       chan struct{} // closed when the last job sent was tracked

	// per file
	pos  shipper.Position
	ref  time.Time
	buf  []byte
	meta []byte
}

func (p *parser) parseFile(name string) error {
	var r io.Reader
	p.pos = shipper.Position{Topic: "stdin"}
	p.ref = time.Now()
	path := ""
	if name == "-" {
		r = p.env.stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			if st.IsDir() {
				return fmt.Errorf("%s is a directory", name)
			}
			// Deterministic output for files: lines without any time of
			// their own get the file's modification time, and RFC 3164
			// years are inferred from it.
			p.ref = st.ModTime()
		}
		r = f
		path = name
		p.pos.Topic = "file:" + name
	}
	r, err := decompress(r)
	if err != nil {
		return err
	}
	p.asm.SetFile(path)
	p.asm.SetReference(p.ref)
	err = p.asm.ReadLines(&ctxReader{p: p, r: r}, p.emitFn)
	p.sendJob() // a job never spans two files (each has its own ref and topic)
	return err
}

// decompress returns r, gunzipped when it starts with gzip's magic bytes.
func decompress(r io.Reader) (io.Reader, error) {
	var head [2]byte
	n, err := io.ReadFull(r, head[:])
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	r = io.MultiReader(bytes.NewReader(head[:n]), r)
	if n == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(bufio.NewReaderSize(r, 256<<10))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	}
	return r, nil
}

func (p *parser) emit(e *frame.Entry) {
	var stream string
	p.buf, stream = p.proc.AppendEntry(p.buf[:0], e, p.ref)
	if p.opts.withMeta {
		p.meta = appendMeta(p.meta[:0], p.pos.Topic, e, stream)
		p.write(p.meta)
		p.buf = append(p.buf, '}')
	}
	p.buf = append(p.buf, '\n')
	p.write(p.buf)
}

func (p *parser) write(b []byte) {
	if p.writeErr() != nil {
		return
	}
	if _, err := p.out.Write(b); err != nil {
		p.setWriteErr(err)
	}
}

func (p *parser) setWriteErr(err error) { p.werr.CompareAndSwap(nil, &err) }

func (p *parser) writeErr() error {
	if e := p.werr.Load(); e != nil {
		return *e
	}
	return nil
}

// The parallel pipeline. Framing is sequential (it carries state from line
// to line: reject-log continuations, syslog pieces); the reader copies each
// framed entry into a job of up to jobEntries entries, workers parse whole
// jobs, then track their sessions in input order (job after job, with the
// one tracker of p.proc, as the sequential path does), then encode them
// into the job's own output buffer, and one writer writes the jobs in input
// order. Every entry is encoded exactly as the sequential path does (same
// process.Exim code, same reference time and topic, the same tracker fed
// the same records in the same order), so the output is byte for byte the
// same (TestParseParallelSameOutput).
// Job bounds (variables so that tests can make jobs tiny).
var (
	jobEntries    = 1024      // entries per job
	jobBytes      = 512 << 10 // arena bytes (Text + Original) before a job is sent
	jobsPerWorker = 4         // jobs in flight per worker: bounds memory
)

type parseJob struct {
	ref     time.Time
	topic   string
	entries []jobEntry
	recs    []exim.Record // the parsed entries
	arena   []byte        // Text and Original of every entry
	out     []byte
	done    chan struct{}
	// the session pass: wait for the previous job's (tracked), then
	// signal this one's
	tracked, trackDone chan struct{}
}

// jobEntry is a framed entry whose Text and Original live in the job's
// arena at the given offsets (the arena may move while the job fills).
type jobEntry struct {
	e              frame.Entry
	t0, t1, o0, o1 int
}

func (p *parser) startPipeline(procs []*process.Exim) {
	n := len(procs) * jobsPerWorker
	p.free = make(chan *parseJob, n)
	p.work = make(chan *parseJob, n)
	p.order = make(chan *parseJob, n)
	p.lastTracked = make(chan struct{})
	close(p.lastTracked)
	for range n {
		p.free <- &parseJob{done: make(chan struct{}, 1)}
	}
	p.emitFn = p.emitParallel
	for _, proc := range procs {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range p.work {
				p.encodeJob(proc, j)
				j.done <- struct{}{}
			}
		}()
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for j := range p.order {
			<-j.done
			p.write(j.out)
			j.entries, j.arena, j.out = j.entries[:0], j.arena[:0], j.out[:0]
			p.free <- j
		}
	}()
}

// stopPipeline waits until every job is written.
func (p *parser) stopPipeline() {
	if p.work == nil {
		return
	}
	p.sendJob()
	close(p.work)
	close(p.order)
	p.wg.Wait()
	p.work = nil
}

func (p *parser) emitParallel(e *frame.Entry) {
	j := p.cur
	if j == nil {
		j = <-p.free
		j.ref, j.topic = p.ref, p.pos.Topic
		p.cur = j
	}
	je := jobEntry{e: *e}
	je.e.Text, je.e.Original, je.e.Lines = nil, nil, nil
	je.t0 = len(j.arena)
	j.arena = append(j.arena, e.Text...)
	je.t1 = len(j.arena)
	je.o0 = je.t1
	j.arena = append(j.arena, e.Original...)
	je.o1 = len(j.arena)
	j.entries = append(j.entries, je)
	if len(j.entries) >= jobEntries || len(j.arena) >= jobBytes {
		p.sendJob()
	}
}

// sendJob hands the job being filled, if any, to the workers and the writer.
func (p *parser) sendJob() {
	if p.cur == nil {
		return
	}
	p.cur.tracked, p.cur.trackDone = p.lastTracked, make(chan struct{})
	p.lastTracked = p.cur.trackDone
	p.order <- p.cur
	p.work <- p.cur
	p.cur = nil
}

func (p *parser) encodeJob(proc *process.Exim, j *parseJob) {
	if cap(j.recs) < len(j.entries) {
		j.recs = make([]exim.Record, len(j.entries))
	}
	j.recs = j.recs[:len(j.entries)]
	for i := range j.entries {
		je := &j.entries[i]
		e := &je.e
		e.Text = j.arena[je.t0:je.t1:je.t1]
		e.Original = j.arena[je.o0:je.o1:je.o1]
		proc.ParseEntry(e, j.ref, &j.recs[i])
	}
	// sessions: in input order, after the job before this one
	<-j.tracked
	for i := range j.recs {
		p.proc.Track(&j.recs[i])
	}
	close(j.trackDone)
	for i := range j.entries {
		j.out = p.appendDoc(j.out, proc, &j.entries[i].e, &j.recs[i], j.topic)
	}
}

// appendDoc appends the output line of one parsed entry.
func (p *parser) appendDoc(dst []byte, proc *process.Exim, e *frame.Entry, r *exim.Record, topic string) []byte {
	if !p.opts.withMeta {
		dst, _ = proc.EncodeEntry(dst, e, r)
		return append(dst, '\n')
	}
	// The stream is known only after encoding: encode, then move the
	// document behind its metadata.
	start := len(dst)
	dst, stream := proc.EncodeEntry(dst, e, r)
	doc := len(dst) - start
	meta := appendMeta(nil, topic, e, stream) // rare path (-with-meta): one small allocation
	dst = append(dst, meta...)
	copy(dst[start+len(meta):], dst[start:start+doc])
	copy(dst[start:], meta)
	return append(dst, '}', '\n')
}

func appendMeta(b []byte, topic string, e *frame.Entry, stream string) []byte {
	b = append(b, `{"_id":`...)
	b = exim.AppendJSONString(b, shipper.DocID(shipper.Position{Topic: topic, Offset: e.Line}, e.Seq))
	b = append(b, `,"_index":`...)
	b = exim.AppendJSONString(b, stream)
	return append(b, `,"_source":`...)
}

// ctxReader stops reading when the command is interrupted or stdout fails.
type ctxReader struct {
	p *parser
	r io.Reader
}

func (c *ctxReader) Read(b []byte) (int, error) {
	if err := c.p.writeErr(); err != nil {
		return 0, err
	}
	if err := c.p.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// startProgress shows "N lines, R lines/s" on stderr every 500 ms when
// stderr is a terminal; the returned func stops it and clears the line.
func (p *parser) startProgress() func() {
	con := consoleOf(p.env.stderr)
	if !con.tty {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				con.setLine("")
				return
			case now := <-t.C:
				n := p.asm.Lines()
				rate := float64(n) / now.Sub(start).Seconds()
				con.setLine(fmt.Sprintf("%d lines, %.0f lines/s", n, rate))
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// defaultParseHost is the default of parse -host: the name of this machine
// (parse mostly reads the logs of the machine it runs on), "" if unknown.
func defaultParseHost() string {
	h, err := os.Hostname()
	if err != nil || process.HostFromKey([]byte(h)) == "" {
		return ""
	}
	return h
}
