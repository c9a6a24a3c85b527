package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/kafka"
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

Exit status: 0 after a clean shutdown, 1 on a failure at run time, 2 for
bad flags, 3 for an invalid or missing configuration file (a service
manager should not restart it: the file must be fixed first).`,
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

	sink, err := elastic.New(ec)
	if err != nil {
		return fmt.Errorf("elasticsearch: %w", err)
	}
	if cfg.installTemplates() {
		if err := installTemplates(ctx, sink, log); err != nil {
			return err
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
	checkCtx, cancelCheck := context.WithTimeout(ctx, 30*time.Second)
	err = src.CheckTopics(checkCtx)
	cancelCheck()
	if err != nil {
		_ = src.Close(context.Background())
		return fmt.Errorf("kafka: %w", err)
	}

	plc := cfg.pipelineConfig()
	plc.Logger = log.With("component", "pipeline")
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
// (a plain index) or wrong mappings. Elasticsearch may be starting or
// briefly unreachable: it retries with backoff for about a minute, then
// gives up (the service manager restarts eximship).
func installTemplates(ctx context.Context, sink *elastic.Sink, log *slog.Logger) error {
	delay := 500 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for attempt := 1; ; attempt++ {
		res, err := mapping.Install(ctx, sink.Client(), mapping.Options{})
		if err == nil {
			if len(res.Installed) > 0 {
				log.Info("index templates installed", "installed", res.Installed, "ilm_policy", res.ILMPolicy, "storage", res.Storage.Storage)
			}
			if res.StorageError != nil {
				log.Warn("storage detection failed: data streams store _source as sent (portable storage)", "error", res.StorageError)
			} else if len(res.Storage.Refused) > 0 {
				log.Info("storage chosen", "storage", storageLine(res))
			}
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("install index templates: %w", err)
		}
		log.Warn("install index templates failed, retrying", "attempt", attempt, "backoff", delay, "error", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return fmt.Errorf("install index templates: %w", ctx.Err())
		}
		delay = min(2*delay, 8*time.Second)
	}
}
