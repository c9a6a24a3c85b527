package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/cmd/eximship/internal/yamlconf"
	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/kafka"
	"github.com/eximship/eximship/shipper/kibana"
	"github.com/eximship/eximship/shipper/redact"
)

func init() {
	register(command{
		name:     "check",
		summary:  "check the configuration file and reach Kafka, Elasticsearch and Kibana with it",
		synopsis: "[--config FILE] [--offline] [--timeout D] [--format text|json]",
		help: `Checks the configuration file: every problem is listed with its line and
key, not only the first. Unless -offline, it then reaches each configured
service with the file's addresses, TLS settings and credentials, as run
and setup would:

  kafka           the brokers answer (TLS, SASL), the topics (and the
                  dead-letter topic) exist, the group's coordinator answers
                  and who is in the group
  elasticsearch   the node answers as Elasticsearch (version), accepts the
                  credentials, grants the privileges run needs to write the
                  data streams and the dead letters (and to install the
                  templates, with elasticsearch.install_templates), which
                  optional features it has (ILM, match_only_text...) and
                  whether eximship's templates are installed
  kibana          (when the file has a kibana section) GET /api/status

One line per check: ok, warn or FAILED, what was found, and for a failure
what to do. Nothing is written to any service.

Exit status: 0 when nothing failed (warnings allowed), 2 for bad flags, 3
when the configuration file is missing or invalid, 4 when a service could
not be reached (connection refused, DNS, TLS, timeout, not that service),
5 when a service answered but refused (credentials, privileges, a missing
topic or template).`,
		examples: `  eximship check --config /etc/eximship/eximship.yml
  eximship check --config eximship.yml --offline      # the file only, e.g. in ExecStartPre
  eximship check --config eximship.yml --format json | jq -c 'select(.status != "ok")'`,
		run: runCheck,
	})
}

// check statuses.
const (
	checkOK     = "ok"
	checkWarn   = "warn"
	checkFailed = "FAILED"
)

// checkLine is one line of check's report.
type checkLine struct {
	Status  string `json:"status"`
	Service string `json:"service"`
	Check   string `json:"check"`
	Message string `json:"message"`
	// exit is the exit status a failure asks for (exitConfig,
	// exitUnreachable, exitRefused).
	exit int
}

type checkReport struct {
	w      io.Writer
	json   bool
	lines  []checkLine
	failed int
	warned int
}

func (r *checkReport) add(l checkLine) {
	l.Message = redact.URL(l.Message)
	r.lines = append(r.lines, l)
	switch l.Status {
	case checkFailed:
		r.failed++
	case checkWarn:
		r.warned++
	}
	if r.json {
		_ = json.NewEncoder(r.w).Encode(l)
		return
	}
	fmt.Fprintf(r.w, "%-6s  %-13s  %-12s  %s\n", l.Status, l.Service, l.Check, l.Message)
}

func (r *checkReport) ok(service, check, format string, args ...any) {
	r.add(checkLine{Status: checkOK, Service: service, Check: check, Message: fmt.Sprintf(format, args...)})
}

func (r *checkReport) warn(service, check, format string, args ...any) {
	r.add(checkLine{Status: checkWarn, Service: service, Check: check, Message: fmt.Sprintf(format, args...)})
}

func (r *checkReport) fail(exit int, service, check, format string, args ...any) {
	r.add(checkLine{Status: checkFailed, Service: service, Check: check, Message: fmt.Sprintf(format, args...), exit: exit})
}

// exitCode: the configuration first, then unreachable, then refused.
func (r *checkReport) exitCode() int {
	code := exitOK
	for _, want := range []int{exitConfig, exitUnreachable, exitRefused} {
		for _, l := range r.lines {
			if l.Status == checkFailed && l.exit == want && code == exitOK {
				code = want
			}
		}
	}
	if code == exitOK && r.failed > 0 {
		code = exitFailure
	}
	return code
}

func runCheck(ctx context.Context, e *env, args []string) error {
	fs := e.flags("check")
	configPath := fs.String("config", "eximship.yml", "configuration `file` (docs/CONFIG.md)")
	offline := fs.Bool("offline", false, "check the file only; reach no service")
	timeout := fs.Duration("timeout", 15*time.Second, "bound of each service's checks")
	format := fs.String("format", "text", "output `format`: text (one line per check) or json (one object per line)")
	if err := e.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("unexpected arguments %q (see 'eximship check -h')", fs.Args())}
	}
	if *format != "text" && *format != "json" {
		return &exitError{code: exitUsage, err: fmt.Errorf("-format %q: want text or json", *format)}
	}
	if *timeout <= 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("-timeout %s: want a positive duration such as 15s", *timeout)}
	}
	r := &checkReport{w: e.stdout, json: *format == "json"}
	cfg := checkConfig(r, *configPath, e.getenv)
	if cfg != nil && !*offline {
		if cfg.doc.Has("kafka") {
			checkKafka(ctx, r, cfg, *timeout)
		}
		checkElasticsearch(ctx, r, cfg, *timeout)
		if cfg.doc.Has("kibana") {
			checkKibana(ctx, r, cfg, *timeout)
		}
	}
	if !r.json {
		fmt.Fprintf(e.stdout, "\n%d ok, %d warnings, %d failed\n", len(r.lines)-r.failed-r.warned, r.warned, r.failed)
	}
	if code := r.exitCode(); code != exitOK {
		return &exitError{code: code}
	}
	return nil
}

// checkConfig reports the file's problems and warnings; it returns the
// configuration when it is valid.
func checkConfig(r *checkReport, path string, lookup func(string) (string, bool)) *fileConfig {
	cfg, err := loadConfigEnv(path, lookup)
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			err = ee.err
		}
		if ce, ok := yamlconf.AsError(err); ok {
			for _, p := range ce.Problems {
				r.fail(exitConfig, "config", "file", "%s", p.String())
			}
		} else {
			r.fail(exitConfig, "config", "file", "%v", err)
		}
		return nil
	}
	sections := []string{}
	for _, s := range []string{"kafka", "elasticsearch", "kibana"} {
		if cfg.doc.Has(s) {
			sections = append(sections, s)
		}
	}
	r.ok("config", "file", "%s is valid (services: %s)", path, strings.Join(append(sections, defaultElastic(cfg)...), ", "))
	for _, w := range cfg.warnings {
		r.warn("config", "file", "%s", w.String())
	}
	return cfg
}

// defaultElastic names the Elasticsearch checked when the file has no
// elasticsearch section (the default address).
func defaultElastic(cfg *fileConfig) []string {
	if cfg.doc.Has("elasticsearch") {
		return nil
	}
	return []string{"elasticsearch (default " + elastic.DefaultAddress + ")"}
}

func checkKafka(ctx context.Context, r *checkReport, cfg *fileConfig, timeout time.Duration) {
	const svc = "kafka"
	kc := cfg.kafkaConfig()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var extra []string
	if t := cfg.DeadLetter.KafkaTopic; t != "" {
		extra = append(extra, t)
	}
	res, err := kafka.Preflight(ctx, kc, extra...)
	// A group's coordinator may be moving or loading (a new cluster's first
	// group, a broker restart): Kafka's retriable codes are asked again.
	for attempt := 1; err != nil && attempt < 5 && kafkaTemporary(err) && ctx.Err() == nil; attempt++ {
		select {
		case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
		case <-ctx.Done():
		}
		res, err = kafka.Preflight(ctx, kc, extra...)
	}
	security := "plaintext"
	switch {
	case kc.SASL.Mechanism != "" && kafkaUsesTLS(kc):
		security = fmt.Sprintf("TLS, SASL %s as %s", kc.SASL.Mechanism, kc.SASL.Username)
	case kc.SASL.Mechanism != "":
		security = fmt.Sprintf("SASL %s as %s, no TLS", kc.SASL.Mechanism, kc.SASL.Username)
	case kafkaUsesTLS(kc):
		security = "TLS"
	}
	brokers := strings.Join(kc.Brokers, ", ")
	if err != nil {
		var ce *kafka.CheckError
		exit := exitUnreachable
		check := "brokers"
		if errors.As(err, &ce) {
			if ce.Refused {
				exit = exitRefused
			}
			switch {
			case ce.Msg == "kafka topics":
				r.ok(svc, "brokers", "%s answered (%s)", brokers, security)
				check = "topics"
			case strings.HasPrefix(ce.Msg, "describe consumer group"):
				r.ok(svc, "brokers", "%s answered (%s)", brokers, security)
				r.ok(svc, "topics", "%s exist", strings.Join(append(kc.Topics, extra...), ", "))
				check = "group"
			}
		}
		r.fail(exit, svc, check, "%v", err)
		return
	}
	r.ok(svc, "brokers", "%s answered (%s)", brokers, security)
	r.ok(svc, "topics", "%s exist", strings.Join(append(kc.Topics, extra...), ", "))
	group := kc.GroupID
	if group == "" {
		group = kafka.DefaultGroupID
	}
	state := res.GroupState
	if state == "" || state == "Dead" {
		state = "new (no committed offsets yet: starts at " + startOffset(kc) + ")"
	}
	switch n := len(res.Members); n {
	case 0:
		r.ok(svc, "group", "%s: the coordinator answered; %s, no members", group, state)
	default:
		var who []string
		for _, m := range res.Members {
			who = append(who, m.ClientID+"@"+m.ClientHost)
		}
		r.warn(svc, "group", "%s: the coordinator answered; %s, %d member(s) already: %s (other eximship instances share the partitions; a killed one leaves after kafka.session_timeout)",
			group, state, n, strings.Join(who, ", "))
	}
}

// kafkaTemporary reports a Kafka error code that says "ask again"
// (NotCoordinator, CoordinatorLoadInProgress, LeaderNotAvailable...).
func kafkaTemporary(err error) bool {
	var ke kafkago.Error
	return errors.As(err, &ke) && ke.Temporary()
}

func kafkaUsesTLS(kc kafka.Config) bool {
	t := kc.TLS
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.ServerName != "" || t.InsecureSkipVerify
}

func startOffset(kc kafka.Config) string {
	if kc.StartOffset == "" {
		return kafka.StartFirst
	}
	return kc.StartOffset
}

func checkElasticsearch(ctx context.Context, r *checkReport, cfg *fileConfig, timeout time.Duration) {
	const svc = "elasticsearch"
	ec := cfg.elasticConfig()
	ec.Timeout = timeout
	client, err := elastic.NewClient(ec)
	if err != nil {
		r.fail(exitConfig, svc, "client", "%v", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := elastic.DefaultAddress
	if len(ec.Addresses) > 0 {
		addr = ec.Addresses[0]
	}
	id, warnings, err := elastic.Preflight(ctx, client, addr, runPrivileges(cfg))
	var pe *elastic.PreflightError
	lacking := err != nil && errors.As(err, &pe) && pe.Refused && id.Username != ""
	if err != nil && !lacking {
		exit, check := exitUnreachable, "connect"
		if pe != nil && pe.Refused {
			exit, check = exitRefused, "auth"
		}
		r.fail(exit, svc, check, "%v", err)
		return
	}
	// authenticated: the features and templates are checked even when
	// privileges lack, so that every problem shows at once
	f, ferr := mapping.Detect(ctx, client)
	if ferr != nil {
		r.ok(svc, "connect", "%s answered as Elasticsearch", redact.URL(addr))
	} else {
		r.ok(svc, "connect", "%s answered: Elasticsearch %s", redact.URL(addr), f.Version)
	}
	r.ok(svc, "auth", "%s", identity(id))
	switch {
	case lacking:
		r.fail(exitRefused, svc, "privileges", "%v", err)
	case id.Security:
		need := runPrivileges(cfg)
		cluster := "no cluster privilege needed (install_templates: false)"
		if len(need.Cluster) > 0 {
			cluster = "cluster " + strings.Join(need.Cluster, ", ")
		}
		r.ok(svc, "privileges", "create_doc on %s; %s", strings.Join(need.Indices[0].Names, ", "), cluster)
	default:
		r.ok(svc, "privileges", "not checked: security is off on this cluster, every request is allowed")
	}
	for _, w := range warnings {
		r.warn(svc, "privileges", "%s", w)
	}
	switch {
	case ferr != nil && !strings.Contains(ferr.Error(), "answered 403"):
		r.warn(svc, "features", "cannot read the nodes' modules: %v", ferr)
	case ferr != nil:
		// run's role needs no monitor privilege: setup detects the features
		r.ok(svc, "features", "not read by this user (GET _nodes/plugins needs the monitor privilege, which run does not): eximship setup detects them when it installs the templates")
	default:
		r.ok(svc, "features", "%s", describeFeatures(f))
	}
	missing, err := mapping.Missing(ctx, client, f)
	switch {
	case err != nil && strings.Contains(err.Error(), "answered 403") && !cfg.installTemplates():
		// the least-privilege run role may not read templates either
		r.ok(svc, "templates", "not readable by this user (GET _index_template needs monitor or manage_index_templates); with install_templates: false, run relies on 'eximship setup --index-management' having installed them")
	case err != nil:
		r.warn(svc, "templates", "cannot read the index templates: %v", err)
	case len(missing) == 0:
		r.ok(svc, "templates", "eximship's index templates are installed and current")
	case cfg.installTemplates():
		r.ok(svc, "templates", "missing or older: %s; run installs them at start (elasticsearch.install_templates)", strings.Join(missing, ", "))
	default:
		r.fail(exitRefused, svc, "templates", "missing or older: %s, and elasticsearch.install_templates is false: run 'eximship setup --index-management' with a user that may manage templates", strings.Join(missing, ", "))
	}
}

func identity(id elastic.Identity) string {
	if !id.Security {
		return "security is off on this cluster: no authentication"
	}
	roles := "none"
	if len(id.Roles) > 0 {
		roles = strings.Join(id.Roles, ", ")
	}
	how := id.AuthType
	if how == "" {
		how = "realm"
	}
	return fmt.Sprintf("authenticated as %s (%s %s; roles: %s)", id.Username, how, id.Realm, roles)
}

func describeFeatures(f mapping.Features) string {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	s := fmt.Sprintf("ILM %s, _data_stream API %s", yes(f.ILM), yes(f.DataStreamAPI))
	if len(f.Missing) > 0 {
		s += "; absent (eximship does without them): " + strings.Join(f.Missing, ", ")
	}
	return s
}

func checkKibana(ctx context.Context, r *checkReport, cfg *fileConfig, timeout time.Duration) {
	const svc = "kibana"
	kc := cfg.kibanaConfig()
	kc.Timeout = timeout
	kc.MaxRetries = 0
	kc.StartupTimeout = time.Nanosecond // one attempt: check reports, it does not wait
	client, err := kibana.New(kc)
	if err != nil {
		r.fail(exitConfig, svc, "client", "%v", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := client.Status(ctx)
	if err != nil {
		exit := kibanaExit(err)
		if exit == exitFailure {
			exit = exitUnreachable // it answered, but not as a working Kibana
		}
		r.fail(exit, svc, "status", "%v", err)
		return
	}
	flavor := ""
	if st.BuildFlavor != "" {
		flavor = " (" + st.BuildFlavor + ")"
	}
	switch st.Level {
	case "available":
		r.ok(svc, "status", "%s answered: Kibana %s%s, available", redact.URL(kc.URL), st.Version, flavor)
	default:
		r.warn(svc, "status", "%s answered: Kibana %s%s, status %s: setup may fail until it is available", redact.URL(kc.URL), st.Version, flavor, st.Level)
	}
}
