package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/frame"
	"github.com/eximship/eximship/shipper/process"
)

func init() {
	register(command{
		name:    "parse",
		summary: "parse Exim logs (files, gzip, stdin) and print the documents run would index",
		run:     runParse,
	})
}

const parseUsage = `usage: eximship parse [flags] [FILE...]

Reads Exim log files (gzip-compressed ones too, detected by content) or
standard input (no FILE, or "-") and writes to standard output the documents
that "eximship run" would index, one JSON object per line. Plain Exim logs,
syslog-carried lines and Filebeat/Vector JSON envelopes are detected line by
line; multi-line reject-log entries and Exim's split syslog lines are joined.

Problems in the input become documents with error.message and
event.original; the exit status is 1 only when an input could not be read
(the other inputs are still processed), 2 for bad flags.

Flags:
`

// parseOptions are the flags of eximship parse.
type parseOptions struct {
	namespace string
	timezone  string
	dataset   string
	withMeta  bool
	perLine   bool
	cpuprof   string
}

func runParse(ctx context.Context, e *env, args []string) error {
	var o parseOptions
	fs := flag.NewFlagSet("parse", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), parseUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.namespace, "namespace", process.DefaultNamespace, "data stream `namespace` (logs-exim.<dataset>-<namespace>)")
	fs.StringVar(&o.timezone, "timezone", "", "IANA time `zone` of timestamps written without an offset (default: local)")
	fs.StringVar(&o.dataset, "dataset", "", "force the `dataset` of every document: main, reject or panic (default: from the file name, the syslog severity or the entry)")
	fs.BoolVar(&o.withMeta, "with-meta", false, `wrap each document as {"_id":...,"_index":...,"_source":{...}}`)
	fs.BoolVar(&o.perLine, "per-line", false, "frame every line on its own, as run does with a topic fed one line per message (no multi-line reject entries, no reassembly of syslog pieces)")
	fs.StringVar(&o.cpuprof, "cpuprofile", "", "write a CPU profile to `file` (for performance work)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{code: 2, err: errors.New("invalid flags")}
	}
	loc := time.Local
	if o.timezone != "" {
		l, err := time.LoadLocation(o.timezone)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("-timezone: %w", err)}
		}
		loc = l
	}
	proc, err := process.New(process.Config{Namespace: o.namespace, Location: loc, Dataset: o.dataset})
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	asm, err := frame.NewAssembler(frame.Config{Location: loc, Independent: o.perLine})
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if o.cpuprof != "" {
		f, err := os.Create(o.cpuprof)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("-cpuprofile: %w", err)}
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return &exitError{code: 2, err: fmt.Errorf("-cpuprofile: %w", err)}
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}

	p := &parser{ctx: ctx, env: e, opts: o, proc: proc, asm: asm, out: bufio.NewWriterSize(e.stdout, 1<<20)}
	stop := p.startProgress()
	failed := 0
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		if err := p.parseFile(f); err != nil {
			if p.werr != nil || ctx.Err() != nil {
				break // stdout is gone, or interrupted
			}
			failed++
			e.log.Error("cannot read input", "file", f, "error", err)
		}
	}
	if err := p.out.Flush(); err != nil && p.werr == nil {
		p.werr = err
	}
	stop()
	switch {
	case p.werr != nil:
		return &exitError{code: 1, err: fmt.Errorf("write output: %w", p.werr)}
	case ctx.Err() != nil:
		return &exitError{code: 130, err: ctx.Err()}
	case failed > 0:
		return &exitError{code: 1, err: fmt.Errorf("%d of %d inputs could not be read", failed, len(files))}
	}
	return nil
}

// parser runs eximship parse over its inputs.
type parser struct {
	ctx  context.Context
	env  *env
	opts parseOptions
	proc *process.Exim
	asm  *frame.Assembler
	out  *bufio.Writer
	werr error // first write error

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
	return p.asm.ReadLines(&ctxReader{p: p, r: r}, p.emit)
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
		p.meta = append(p.meta[:0], `{"_id":`...)
		p.meta = strconv.AppendQuote(p.meta, shipper.DocID(shipper.Position{Topic: p.pos.Topic, Offset: e.Line}, e.Seq))
		p.meta = append(p.meta, `,"_index":`...)
		p.meta = strconv.AppendQuote(p.meta, stream)
		p.meta = append(p.meta, `,"_source":`...)
		p.write(p.meta)
		p.buf = append(p.buf, '}')
	}
	p.buf = append(p.buf, '\n')
	p.write(p.buf)
}

func (p *parser) write(b []byte) {
	if p.werr != nil {
		return
	}
	if _, err := p.out.Write(b); err != nil {
		p.werr = err
	}
}

// ctxReader stops reading when the command is interrupted or stdout fails.
type ctxReader struct {
	p *parser
	r io.Reader
}

func (c *ctxReader) Read(b []byte) (int, error) {
	if c.p.werr != nil {
		return 0, c.p.werr
	}
	if err := c.p.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// startProgress shows "N lines, R lines/s" on stderr every 500 ms when
// stderr is a terminal; the returned func stops it and clears the line.
func (p *parser) startProgress() func() {
	f, ok := p.env.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
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
				fmt.Fprint(f, "\r\033[K")
				return
			case now := <-t.C:
				n := p.asm.Lines()
				rate := float64(n) / now.Sub(start).Seconds()
				fmt.Fprintf(f, "\r\033[K%d lines, %.0f lines/s", n, rate)
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
