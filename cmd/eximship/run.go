package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/kafka"
	"github.com/eximship/eximship/shipper/metrics"
)

func init() {
	register(command{
		name:     "run",
		summary:  "consume Exim logs from Kafka and index them into Elasticsearch",
		synopsis: "[flags]",
		help: `Joins the Kafka consumer group of the configuration file, parses every
Exim line of the topics and bulk-indexes the documents into the
logs-exim.<main|reject|panic>-<namespace> data streams, at least once and
without duplicates; documents Elasticsearch refuses go to the dead
letters. It installs the index templates first when they are missing
(elasticsearch.install_templates). It runs until SIGTERM or SIGINT, then
flushes, commits and exits within pipeline.shutdown_timeout.

The configuration file (YAML) is described key by key in docs/CONFIG.md;
secrets go in the file, in ${VAR} or in *_file keys, never on the command
line. 'eximship check --config FILE' tests it and the servers first.
EXIMSHIP_LOG_LEVEL sets the log level when -log-level is not given.

At start it checks Kafka first (brokers, TLS, SASL, the topics and the
dead-letter topic, the consumer group), then Elasticsearch (TLS, the
credentials, the privileges of docs/SECURITY.md), then the templates. A
mistake there fails at once with a message saying what to change; a server
that is starting or overloaded is waited for, up to a minute. With
monitoring.address set it serves /metrics, /healthz and /readyz
(docs/MONITORING.md).

Exit status: 0 after a clean shutdown, 1 on a failure at run time, 2 for
bad flags, 3 for an invalid or missing configuration file, 4 when Kafka or
Elasticsearch cannot be reached as configured at start (address, TLS), 5
when one refuses at start (credentials, privileges, a missing topic). A
service manager should not restart it on 3 or 5: the configuration or the
cluster must be fixed first.`,
		examples: `  eximship run --config /etc/eximship/eximship.yml
  ES_PASSWORD=... eximship run --config eximship.yml --progress never
  eximship run --config eximship.yml --log-format json --log-level debug`,
		run: runRun,
	})
}

func runRun(ctx context.Context, e *env, args []string) error {
	fs := e.flags("run")
	configPath := fs.String("config", "eximship.yml", "configuration `file` (docs/CONFIG.md)")
	progress := fs.String("progress", "auto", "live progress line on stderr: auto (when stderr is a terminal), always, never")
	logLevel := fs.String("log-level", "", "log `level`: debug, info, warn or error (default: EXIMSHIP_LOG_LEVEL, else info)")
	logFormat := fs.String("log-format", "text", "log `format`: text (logfmt) or json")
	if err := e.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("unexpected arguments %q (run takes flags only; see 'eximship run -h')", fs.Args())}
	}
	switch *progress {
	case "auto", "always", "never":
	default:
		return &exitError{code: exitUsage, err: fmt.Errorf("-progress %q: want auto, always or never", *progress)}
	}
	switch *logFormat {
	case "text", "json":
	default:
		return &exitError{code: exitUsage, err: fmt.Errorf("-log-format %q: want text or json", *logFormat)}
	}
	log := e.log
	if *logLevel != "" || *logFormat != "text" {
		lv := *logLevel
		if lv == "" {
			lv, _ = e.getenv("EXIMSHIP_LOG_LEVEL")
		}
		log = newLogger(e.stderr, lv, *logFormat)
	}
	cfg, err := loadConfigEnv(*configPath, e.getenv)
	if err != nil {
		return err
	}
	if err := cfg.require("run", "kafka"); err != nil {
		return err
	}
	for _, w := range cfg.warnings {
		log.Warn("configuration: "+w.Msg, "key", w.Key, "line", w.Line)
	}

	kc := cfg.kafkaConfig()
	kc.Logger = log
	ec := cfg.elasticConfig()
	ec.Logger = log.With("component", "elasticsearch")
	pc, err := cfg.processConfig()
	if err != nil {
		return err
	}
	geo, err := openGeoIP(cfg.GeoIP.config(), log)
	if err != nil {
		return &exitError{code: exitConfig, err: err}
	}
	defer geo.Close()
	if geo != nil {
		pc.Enrich.GeoIP = geo
	}

	// The monitoring listener starts first: /healthz answers and /readyz
	// says 503 while the start-up checks below wait for the servers.
	m := metrics.New(metrics.BuildInfo{Version: build().Version, Commit: build().Commit, Date: build().Date})
	var ready readiness
	if cfg.Monitoring.enabled() {
		mc := cfg.Monitoring.config()
		mc.Logger = log.With("component", "monitoring")
		srv, err := metrics.NewServer(mc, m,
			metrics.Check{Name: "elasticsearch", Run: ready.elasticsearch},
			metrics.Check{Name: "kafka", Run: ready.kafka})
		if err != nil {
			return &exitError{code: exitConfig, err: fmt.Errorf("monitoring: %w", err)}
		}
		if err := srv.Start(); err != nil {
			return fmt.Errorf("monitoring.address %s: %w", mc.Address, err)
		}
		stopDraining := context.AfterFunc(ctx, srv.SetDraining)
		defer stopDraining()
		defer srv.Close(context.Background())
	}

	// Start-up checks, Kafka first: a wrong broker address, credential,
	// certificate, topic name or privilege fails here at once, with a
	// message saying what to change; a server that is starting or
	// overloaded (timeouts, 429, 5xx) is waited for, up to a minute.
	deadline := time.Now().Add(time.Minute)
	var dlTopics []string
	if t := cfg.DeadLetter.KafkaTopic; t != "" {
		dlTopics = append(dlTopics, t)
	}
	var kres kafka.PreflightResult
	if err := retryStart(ctx, log, "kafka", deadline, kafka.Temporary, func(ctx context.Context) (err error) {
		kres, err = kafka.Preflight(ctx, kc, dlTopics...)
		return err
	}); err != nil {
		return startError("kafka", err)
	}
	setMemoryLimit(log, memoryBound(kc, ec, cfg.pipelineConfig(), kres.Partitions, 0))
	if len(kres.Members) > 0 {
		var who []string
		for _, mb := range kres.Members {
			who = append(who, mb.ClientID+"@"+mb.ClientHost)
		}
		log.Warn("kafka: the consumer group still has members, probably of an eximship that was killed (kill -9, crash) without leaving it; "+
			"the broker assigns the partitions only when they leave or their session times out, so consuming may start after up to kafka.session_timeout",
			"group", groupID(kc), "members", who, "state", kres.GroupState, "session_timeout", sessionTimeout(kc))
	}

	ec.OnBulk = m.ObserveBulk
	sink, err := elastic.New(ec)
	if err != nil {
		return fmt.Errorf("elasticsearch: %w", err)
	}
	ready.setSink(sink)
	need := runPrivileges(cfg)
	if err := retryStart(ctx, log, "elasticsearch", deadline, elastic.Temporary, func(ctx context.Context) error {
		id, warns, err := elastic.Preflight(ctx, sink.Client(), firstAddress(ec), need)
		for _, w := range warns {
			log.Warn("elasticsearch: " + w)
		}
		if err == nil && id.Security {
			log.Info("elasticsearch: authenticated", "user", id.Username, "realm", id.Realm, "roles", id.Roles, "type", id.AuthType)
		}
		return err
	}); err != nil {
		return startError("elasticsearch", certHint(ec, err))
	}
	if cfg.installTemplates() {
		if err := retryStart(ctx, log, "index templates", deadline, templatesTemporary, func(ctx context.Context) error {
			return installTemplates(ctx, sink, log)
		}); err != nil {
			return fmt.Errorf("install index templates: %w", err)
		}
		go checkStorage(ctx, sink.Client(), "logs-exim.*-"+pc.Namespace, log)
	} else {
		log.Info("index templates not installed by run (elasticsearch.install_templates: false): they must exist already")
	}

	var dead shipper.DeadLetterSink = sink
	if t := cfg.DeadLetter.KafkaTopic; t != "" {
		kdl, err := newKafkaDeadLetters(kc, t)
		if err != nil {
			return fmt.Errorf("dead-letter topic: %w", err)
		}
		defer kdl.Close()
		dead = shipper.AllDeadLetters{sink, kdl}
	}
	src, err := kafka.New(kc)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	ready.setSource(src)

	plc := cfg.pipelineConfig()
	plc.Logger = log.With("component", "pipeline")
	plc.Observer = m
	var live *liveLine
	if *progress == "always" || *progress == "auto" && isTerminal(e.stderr) {
		live = &liveLine{con: consoleOf(e.stderr), start: time.Now()}
		plc.OnProgress = live.show
		if plc.ProgressInterval == 0 {
			plc.ProgressInterval = time.Second
		}
	}
	var procs processors
	p, err := shipper.New(plc, src, procs.factory(pc), sink, dead)
	if err != nil {
		_ = src.Close(context.Background())
		return err
	}
	m.SetInFlight(func() int64 { return p.Stats().InFlight })
	if !cfg.Sessions.Disabled {
		m.SetSessions(procs.sessions)
	}
	m.SetLag(func() []metrics.PartitionLag {
		lags, _, _ := src.PartitionLags()
		out := make([]metrics.PartitionLag, len(lags))
		for i, l := range lags {
			out[i] = metrics.PartitionLag{Topic: l.Topic, Partition: l.Partition, Lag: l.Lag}
		}
		return out
	})
	log.Info("eximship run started", "brokers", kc.Brokers, "topics", kc.Topics, "group", groupID(kc), "elasticsearch", ec,
		"sessions", !cfg.Sessions.Disabled, "partition_order", plc.PartitionOrder)
	stopSources := startSources(ctx, cfg, sink.Client(), log.With("component", "sources"))
	err = p.Run(ctx)
	log.Info("SMTP sessions held at stop", "sessions", procs.sessions())
	stopSources()
	live.done()
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return nil
}

// readiness holds what the /readyz checks ask; until the start-up checks
// passed and the sink and source exist, they fail with "starting".
type readiness struct {
	sink atomic.Pointer[elastic.Sink]
	src  atomic.Pointer[kafka.Source]
}

func (r *readiness) setSink(s *elastic.Sink)   { r.sink.Store(s) }
func (r *readiness) setSource(s *kafka.Source) { r.src.Store(s) }

func (r *readiness) elasticsearch(ctx context.Context) error {
	s := r.sink.Load()
	if s == nil || r.src.Load() == nil {
		return metrics.ErrStarting
	}
	return s.Ping(ctx)
}

func (r *readiness) kafka(ctx context.Context) error {
	s := r.src.Load()
	if s == nil {
		return metrics.ErrStarting
	}
	return s.Ping(ctx)
}

// runPrivileges are what run needs of Elasticsearch (docs/SECURITY.md):
// create_doc on the data streams and the dead letters (auto_configure
// creates them on first write: only warned about, they may exist), and
// for the template installation monitor (feature detection) and
// manage_index_templates.
func runPrivileges(cfg *fileConfig) elastic.Privileges {
	names := append(streamNames(cfg), cfg.elasticConfig().DeadLetterIndex)
	p := elastic.Privileges{Indices: []elastic.IndexPrivileges{{
		Names: names, Privileges: []string{"create_doc"}, Optional: []string{"auto_configure"},
	}}}
	if cfg.installTemplates() {
		p.Cluster = []string{"monitor", "manage_index_templates"}
	}
	return p
}

// streamNames are the data streams the configuration writes to.
func streamNames(cfg *fileConfig) []string {
	var names []string
	for _, ds := range []string{"main", "reject", "panic"} {
		if cfg.Exim.Dataset == "" || cfg.Exim.Dataset == ds {
			names = append(names, "logs-exim."+ds+"-"+cfg.namespace())
		}
	}
	return names
}

func firstAddress(c elastic.Config) string {
	if len(c.Addresses) > 0 {
		return c.Addresses[0]
	}
	return elastic.DefaultAddress
}

func sessionTimeout(c kafka.Config) time.Duration {
	if c.SessionTimeout == 0 {
		return 30 * time.Second
	}
	return c.SessionTimeout
}

// retryStart runs a start-up step until it succeeds, fails for good
// (!temporary), ctx ends or deadline passes, with a backoff of 0.5 s
// doubling to 8 s between attempts.
func retryStart(ctx context.Context, log *slog.Logger, what string, deadline time.Time, temporary func(error) bool, step func(context.Context) error) error {
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := step(sctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !temporary(err) || time.Now().Add(delay).After(deadline) {
			return err
		}
		log.Warn(what+": not ready, retrying", "attempt", attempt, "backoff", delay, "error", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
		delay = min(2*delay, 8*time.Second)
	}
}

// startError gives a failed start-up check its exit status: 5 when the
// service answered and refused (credentials, privileges, topics), 4 when
// it could not be reached as configured (address, TLS, timeouts).
func startError(service string, err error) error {
	var ke *kafka.CheckError
	var ee *elastic.PreflightError
	code := exitUnreachable
	if errors.As(err, &ke) && ke.Refused || errors.As(err, &ee) && ee.Refused {
		code = exitRefused
	}
	return &exitError{code: code, err: fmt.Errorf("%s: %w", service, err)}
}

// certHint explains a 401 when a client certificate is configured: Go
// sends the certificate only when it is signed by a CA the node names in
// its handshake, so an untrusted certificate arrives as no credentials.
func certHint(ec elastic.Config, err error) error {
	var pe *elastic.PreflightError
	if ec.CertFile == "" || ec.Username != "" || ec.APIKey != "" || ec.APIKeyFile != "" || !errors.As(err, &pe) || !pe.Refused ||
		!strings.Contains(pe.Msg, "(401 ") {
		return err
	}
	return fmt.Errorf("%w; the client certificate (elasticsearch.cert_file) was not accepted: it must be signed by a CA the node trusts (xpack.security.http.ssl.certificate_authorities) and map to roles in a PKI realm", err)
}

func templatesTemporary(err error) bool {
	var se *mapping.StatusError
	if errors.As(err, &se) {
		return se.Temporary()
	}
	return true
}

func groupID(c kafka.Config) string {
	if c.GroupID == "" {
		return kafka.DefaultGroupID
	}
	return c.GroupID
}

// liveLine draws a one-line progress display on a terminal, below the log
// records (see console).
type liveLine struct {
	mu    sync.Mutex
	con   *console
	start time.Time
	last  shipper.Stats
	lastT time.Time
}

func (l *liveLine) show(s shipper.Stats) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	rate := 0.0
	if !l.lastT.IsZero() {
		if dt := now.Sub(l.lastT).Seconds(); dt > 0 {
			rate = float64(s.Indexed-l.last.Indexed) / dt
		}
	}
	l.last, l.lastT = s, now
	lag := "?"
	if s.Lag >= 0 {
		lag = fmt.Sprint(s.Lag)
	}
	l.con.setLine(fmt.Sprintf("consumed %d  indexed %d (%.0f/s)  retried %d  dead-lettered %d  lag %s  %s",
		s.Messages, s.Indexed, rate, s.Retried, s.DeadLettered, lag, now.Sub(l.start).Truncate(time.Second)))
}

func (l *liveLine) done() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.con.setLine("")
}

func newKafkaDeadLetters(kc kafka.Config, topic string) (*kafka.DeadLetterWriter, error) {
	return kafka.NewDeadLetterWriter(kafka.DeadLetterConfig{
		Brokers: kc.Brokers, Topic: topic, ClientID: kc.ClientID, TLS: kc.TLS, SASL: kc.SASL, Logger: kc.Logger,
	})
}

// installTemplates installs eximship's index templates when they are missing
// or older (never overwriting newer ones), before anything is indexed: a
// data stream auto-created without them would get no data stream at all
// (a plain index) or wrong mappings. One attempt (retryStart retries).
func installTemplates(ctx context.Context, sink *elastic.Sink, log *slog.Logger) error {
	res, err := mapping.Install(ctx, sink.Client(), mapping.Options{})
	if err != nil {
		return err
	}
	if len(res.Installed) > 0 {
		log.Info("index templates installed", "installed", res.Installed, "ilm_policy", res.ILMPolicy, "storage", res.Storage.Storage, "native_types", mapping.NativeNames(res.Native))
	}
	if res.StorageError != nil {
		log.Warn("storage detection failed: data streams store _source as sent (portable storage)", "error", res.StorageError)
	} else if len(res.Storage.Refused) > 0 {
		log.Info("storage chosen", "storage", storageLine(res))
	}
	return nil
}
