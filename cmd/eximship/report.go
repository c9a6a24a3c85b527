package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/eximship/eximship/shipper/analysis"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/enrich"
	"github.com/eximship/eximship/shipper/esreport"
	"github.com/eximship/eximship/shipper/process"
	"github.com/eximship/eximship/shipper/report"
)

func init() {
	register(command{
		name:     "report",
		summary:  "the postmaster's report on relay attempts, from log files or from Elasticsearch",
		synopsis: "[flags] [FILE...]",
		help:     reportHelp,
		examples: reportExamples,
		run:      runReport,
	})
}

const reportHelp = `Answers the postmaster's questions about rejected relay attempts, exactly:
how many, from how many IPs (and how many seen once), the top recipient and
sender domains, the IP with the most different MAIL FROMs, null and forged
local senders, SMTP sessions and RCPTs per session, each source's
behaviour (relay probe, spam run, repeat pair, one-shot) and campaigns (one
recipient or sender pattern tried from several IPs).

With FILEs (Exim main/reject logs, gzip too, "-" for standard input) it
parses them itself, exactly as "eximship parse" does, and needs no server.
Without FILEs it asks Elasticsearch, with the configuration file of
"eximship run" (--config), for the data streams of --namespace.

A relay attempt is a rejected RCPT whose recipient is outside the local
domains (--local-domain, default exim.local_domains of the configuration),
or, when there are none, one Exim rejected with "relay not permitted".
Each rejection counts once: in the main log, or in the reject log when the
input has no main-log entry in the window. docs/REPORT.md defines every
figure, the classification and the campaign rules.

Exit status: 0 on success, 1 when an input cannot be read or Elasticsearch
fails, 2 for bad flags, 3 for a missing or invalid configuration file, 4
when Elasticsearch cannot be reached, 5 when it refuses the credentials.`

const reportExamples = `  eximship report /var/log/exim4/mainlog /var/log/exim4/mainlog.*.gz
  eximship report --local-domain example.org --format json mainlog rejectlog
  eximship report --config /etc/eximship/eximship.yml --since 7d
  eximship report --since 2026-11-01 --until 2026-12-01 --format html -o report.html
  eximship report --since now-30d --write-sources    # recompute eximship-sources-<namespace>
  eximship report --since 90d --stats --format json | jq .campaigns`

type reportOptions struct {
	config       string
	configSet    bool
	namespace    string
	since, until string
	locals       stringList
	top          int
	format       string
	output       string
	timezone     string
	workers      int
	writeSources bool
	window       time.Duration
	stats        bool
	pageSize     int
	cpuprof      string
}

func runReport(ctx context.Context, e *env, args []string) error {
	var o reportOptions
	fs := e.flags("report")
	fs.StringVar(&o.config, "config", "eximship.yml", "configuration `file` of eximship run (Elasticsearch, exim.namespace, exim.local_domains, exim.timezone); with FILEs read only when given")
	fs.StringVar(&o.namespace, "namespace", "", "data stream `namespace` to report on (default: exim.namespace of the configuration, else \"default\")")
	fs.StringVar(&o.since, "since", "", "start of the window, inclusive: now-90d, 90d, 12h, 2026-11-01, \"2026-11-01 08:00\", RFC 3339 (default: 90d from Elasticsearch, everything from files)")
	fs.StringVar(&o.until, "until", "", "end of the window, exclusive, same forms (default: now from Elasticsearch, everything from files)")
	fs.Var(&o.locals, "local-domain", "a local `domain` (repeatable; default: exim.local_domains of the configuration)")
	fs.IntVar(&o.top, "top", analysis.DefaultTop, "length of every top list")
	fs.StringVar(&o.format, "format", "table", "output `format`: table, json or html")
	fs.StringVar(&o.output, "o", "", "write the report to `file` instead of standard output")
	fs.StringVar(&o.timezone, "timezone", "", "IANA time `zone` of log timestamps without an offset, of dates given without one, of the days and of the times shown (default: exim.timezone, else local)")
	fs.IntVar(&o.workers, "workers", runtime.GOMAXPROCS(0), "parse files on `n` goroutines")
	fs.BoolVar(&o.writeSources, "write-sources", false, "Elasticsearch only: recompute the per-source entity index eximship-sources-<namespace> for every window overlapping --since/--until (replacing its documents), then report")
	fs.DurationVar(&o.window, "window", 24*time.Hour, "with --write-sources: length of a window (aligned on the Unix epoch, UTC)")
	fs.IntVar(&o.pageSize, "page-size", esreport.DefaultPageSize, "Elasticsearch: buckets per composite aggregation page (at most the cluster's search.max_buckets)")
	fs.StringVar(&o.cpuprof, "cpuprofile", "", "write a CPU profile to `file` (for performance work)")
	fs.BoolVar(&o.stats, "stats", false, "print what Elasticsearch did (requests, buckets, its took) to standard error")
	if err := e.parseFlags(fs, args); err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" {
			o.configSet = true
		}
	})
	if o.cpuprof != "" {
		stop, err := startCPUProfile(o.cpuprof)
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--cpuprofile: %w", err)}
		}
		defer stop()
	}
	files := fs.Args()
	fromES := len(files) == 0
	switch o.format {
	case "table", "json", "html":
	default:
		return &exitError{code: exitUsage, err: fmt.Errorf("--format %q: want table, json or html", o.format)}
	}
	if o.top < 1 {
		return &exitError{code: exitUsage, err: fmt.Errorf("--top %d: want at least 1", o.top)}
	}
	if o.writeSources && !fromES {
		return &exitError{code: exitUsage, err: errors.New("--write-sources recomputes the entity index from the indexed events: give no FILEs")}
	}
	if o.writeSources && o.window < time.Minute {
		return &exitError{code: exitUsage, err: fmt.Errorf("--window %s: want at least 1m", o.window)}
	}

	var cfg *fileConfig
	if fromES || o.configSet {
		c, err := loadConfig(o.config)
		if err != nil {
			return &exitError{code: exitConfig, err: err}
		}
		if fromES {
			if err := c.require("report", "elasticsearch"); err != nil {
				return &exitError{code: exitConfig, err: err}
			}
		}
		cfg = c
	} else {
		cfg = &fileConfig{}
	}
	loc := time.Local
	if o.timezone != "" {
		l, err := time.LoadLocation(o.timezone)
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--timezone: %w", err)}
		}
		loc = l
	} else if l, err := cfg.Exim.location(); err != nil {
		return &exitError{code: exitUsage, err: err}
	} else {
		loc = l
	}
	local := []string(o.locals)
	if local == nil {
		local = cfg.Exim.LocalDomains
	}
	now := time.Now()
	var since, until time.Time
	if fromES {
		since, until = now.Add(-90*24*time.Hour), now
	}
	var err error
	if o.since != "" {
		if since, err = analysis.ParseTime(o.since, now, loc); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--since: %w", err)}
		}
	}
	if o.until != "" {
		if until, err = analysis.ParseTime(o.until, now, loc); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--until: %w", err)}
		}
	}
	acfg := analysis.Config{LocalDomains: local, Top: o.top, Location: loc, Since: since, Until: until, Rules: cfg.Sources.rules()}
	if err := acfg.Validate(); err != nil {
		return &exitError{code: exitUsage, err: err}
	}

	var facts analysis.Facts
	if fromES {
		ns := o.namespace
		if ns == "" {
			ns = cfg.namespace()
		}
		ec := cfg.elasticConfig()
		ec.Logger = e.log.With("component", "elasticsearch")
		client, err := elastic.NewClient(ec)
		if err != nil {
			return fmt.Errorf("elasticsearch: %w", err)
		}
		if o.writeSources {
			n, st, err := esreport.WriteSources(ctx, client, esreport.SourcesConfig{
				Namespace: ns, Since: since, Until: until, Window: o.window, Analysis: acfg, PageSize: o.pageSize,
			}, now)
			if o.stats {
				printStats(e.stderr, "write-sources", st)
			}
			if err != nil {
				return esExit(err)
			}
			e.log.Info("entity index rewritten", "index", analysis.SourcesIndex(ns), "documents", n,
				"windows", len(analysis.Windows(since, until, o.window)))
		}
		f, st, err := esreport.Collect(ctx, client, esreport.Config{Namespace: ns, Since: since, Until: until, LocalDomains: local, PageSize: o.pageSize})
		if o.stats {
			printStats(e.stderr, "report", st)
		}
		if err != nil {
			return esExit(err)
		}
		facts = f
	} else {
		f, err := collectFiles(ctx, e, files, o, loc, local, since, until)
		if err != nil {
			return err
		}
		facts = f
	}
	rep, err := analysis.Compute(acfg, facts)
	if err != nil {
		return err
	}
	return writeReport(e, o, rep, loc)
}

// esExit gives an Elasticsearch failure its exit status: 4 when it did not
// answer, 5 when it refused the credentials, else 1.
func esExit(err error) error {
	var un *esreport.UnreachableError
	var he *esreport.HTTPError
	switch {
	case errors.As(err, &un):
		return &exitError{code: exitUnreachable, err: err}
	case errors.As(err, &he) && he.Refused():
		return &exitError{code: exitRefused, err: err}
	}
	return err
}

func printStats(w io.Writer, what string, st esreport.Stats) {
	fmt.Fprintf(w, "eximship report: %s: %d Elasticsearch requests, %d buckets, took %d ms\n",
		what, st.Requests, st.Buckets, st.Took.Milliseconds())
}

// collectFiles parses files as eximship parse does and collects the facts
// of its documents.
func collectFiles(ctx context.Context, e *env, files []string, o reportOptions, loc *time.Location, local []string,
	since, until time.Time) (analysis.Facts, error) {
	col := analysis.NewCollector(analysis.CollectorConfig{LocalDomains: local, Since: since, Until: until})
	pcfg := process.Config{Location: loc, Enrich: enrich.Config{LocalDomains: local}}
	if err := pcfg.Validate(); err != nil {
		return analysis.Facts{}, &exitError{code: exitUsage, err: err}
	}
	sink := &docSink{col: col}
	popts := parseOptions{workers: max(1, o.workers)}
	if err := parseInputs(ctx, e, popts, pcfg, files, sink); err != nil {
		return analysis.Facts{}, err
	}
	return col.Facts(), nil
}

// docSink feeds the document lines that parseInputs writes to a
// Collector.
type docSink struct {
	col  *analysis.Collector
	part []byte // an incomplete last line
}

func (s *docSink) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			s.part = append(s.part, b...)
			break
		}
		line := b[:i]
		if len(s.part) > 0 {
			s.part = append(s.part, line...)
			line = s.part
		}
		if err := s.col.Add(line); err != nil {
			return 0, fmt.Errorf("report: %w", err)
		}
		s.part = s.part[:0]
		b = b[i+1:]
	}
	return n, nil
}

func writeReport(e *env, o reportOptions, rep *analysis.Report, loc *time.Location) error {
	w := e.stdout
	var f *os.File
	if o.output != "" && o.output != "-" {
		var err error
		if f, err = os.Create(o.output); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		w = f
	}
	ropts := report.Options{Location: loc}
	var err error
	switch o.format {
	case "json":
		err = report.JSON(w, rep)
	case "html":
		err = report.HTML(w, rep, ropts)
	default:
		err = report.Table(w, rep, ropts)
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			e.log.Info("report written", "file", o.output, "format", o.format)
		}
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
