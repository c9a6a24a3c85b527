package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/kafka"
)

func init() {
	register(command{
		name:     "replay",
		summary:  "index dead letters again once their cause is fixed",
		synopsis: "[flags]",
		help: `Reads the dead letters (documents Elasticsearch refused for good: a
mapping conflict, a field too large...) and indexes each document again
into the data stream it was meant for, under its own id. Run it once the
cause is fixed (the mapping corrected, the data stream rolled over).

Idempotent by id: a document indexed by an earlier replay, or from the
other source, is answered 409 and counted as already there, never
duplicated. Dead letters stay where they are (an audit trail); those that
fail again are reported with their error and stay dead letters.

Sources (-from): index, the dead-letter data stream (dead_letter.index,
default eximship-deadletter-<exim.namespace>), read over a point in time;
kafka, the dead-letter topic (dead_letter.kafka_topic), every record there
at the start, read without a consumer group. -error-type and -status
select some of them. -dry-run reads and counts, writing nothing.

The Elasticsearch user needs read on the dead-letter index (for -from
index) and create_doc on the logs-exim.*-* data streams: the role
eximship_replay of docs/SECURITY.md.

Exit status: 0 when every selected dead letter is in its data stream now,
1 when some failed again (or on a failure), 2 for bad flags, 3 for a
configuration problem, 4 or 5 when Elasticsearch or Kafka cannot be
reached or refuses (as for run).`,
		examples: `  eximship replay --config /etc/eximship/eximship.yml --dry-run
  eximship replay --config eximship.yml
  eximship replay --config eximship.yml -from kafka
  eximship replay --config eximship.yml -error-type document_parsing_exception -status 400`,
		run: runReplay,
	})
}

// replayStats counts a replay.
type replayStats struct {
	read, selected, written, failed, noDocument int
	already                                     int64 // of written: answered 409
	byStream, byError                           map[string]int
	failures                                    []string // first few
}

func runReplay(ctx context.Context, e *env, args []string) error {
	fs := e.flags("replay")
	configPath := fs.String("config", "eximship.yml", "configuration `file` (docs/CONFIG.md)")
	from := fs.String("from", "index", "`source` of the dead letters: index (the dead-letter data stream) or kafka (the dead-letter topic)")
	errorType := fs.String("error-type", "", "replay only dead letters with this Elasticsearch error `type` (e.g. document_parsing_exception)")
	status := fs.Int("status", 0, "replay only dead letters Elasticsearch answered with this HTTP `status`")
	dryRun := fs.Bool("dry-run", false, "read and count the dead letters, write nothing")
	batch := fs.Int("batch", 500, "dead letters per bulk request")
	if err := e.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("unexpected arguments %q (replay takes flags only; see 'eximship replay -h')", fs.Args())}
	}
	if *from != "index" && *from != "kafka" {
		return &exitError{code: exitUsage, err: fmt.Errorf("-from %q: want index or kafka", *from)}
	}
	if *batch < 1 {
		return &exitError{code: exitUsage, err: fmt.Errorf("-batch %d: want at least 1", *batch)}
	}
	cfg, err := loadConfigEnv(*configPath, e.getenv)
	if err != nil {
		return err
	}
	if *from == "kafka" {
		if err := cfg.require("replay -from kafka", "kafka"); err != nil {
			return err
		}
		if cfg.DeadLetter.KafkaTopic == "" {
			return &exitError{code: exitConfig, err: errors.New("replay -from kafka: dead_letter.kafka_topic is not set: there is no dead-letter topic to read")}
		}
	}
	log := e.log
	ec := cfg.elasticConfig()
	ec.Logger = log.With("component", "elasticsearch")
	sink, err := elastic.New(ec)
	if err != nil {
		return fmt.Errorf("elasticsearch: %w", err)
	}
	defer sink.Close(context.Background())

	need := elastic.Privileges{Indices: []elastic.IndexPrivileges{{
		Names: streamNames(cfg), Privileges: []string{"create_doc"}, Optional: []string{"auto_configure"},
	}}}
	if *from == "index" {
		need.Indices = append(need.Indices, elastic.IndexPrivileges{Names: []string{ec.DeadLetterIndex}, Privileges: []string{"read"}})
	}
	deadline := time.Now().Add(time.Minute)
	if err := retryStart(ctx, log, "elasticsearch", deadline, elastic.Temporary, func(ctx context.Context) error {
		_, warns, err := elastic.Preflight(ctx, sink.Client(), firstAddress(ec), need)
		for _, w := range warns {
			log.Warn("elasticsearch: " + w)
		}
		return err
	}); err != nil {
		return startError("elasticsearch", err)
	}

	st := &replayStats{byStream: map[string]int{}, byError: map[string]int{}}
	r := &replayer{sink: sink, log: log, st: st, dryRun: *dryRun}
	source := ec.DeadLetterIndex
	switch *from {
	case "index":
		err = sink.ScanDeadLetters(ctx, ec.DeadLetterIndex, elastic.DeadLetterFilter{ErrorType: *errorType, Status: *status}, *batch,
			func(page []elastic.StoredDeadLetter) error {
				docs := make([]shipper.Doc, 0, len(page))
				for _, d := range page {
					st.read++
					if doc, ok := r.doc(d.DocID, d.Stream, d.Document, d.Error.Type); ok {
						docs = append(docs, doc)
					}
				}
				return r.write(ctx, docs)
			})
	case "kafka":
		kc := cfg.kafkaConfig()
		kc.Logger = log
		source = "topic " + cfg.DeadLetter.KafkaTopic
		var docs []shipper.Doc
		err = kafka.ReadTopic(ctx, kc, cfg.DeadLetter.KafkaTopic, func(m shipper.Message) error {
			st.read++
			var rec kafka.DeadLetterRecord
			if err := json.Unmarshal(m.Value, &rec); err != nil {
				st.failed++
				r.fail(fmt.Sprintf("%s: not a dead-letter record: %v", m.Position, err))
				return nil
			}
			typ, _, _ := strings.Cut(rec.Error, ": ")
			if *errorType != "" && typ != *errorType || *status != 0 && rec.Status != *status {
				return nil
			}
			if doc, ok := r.doc(rec.DocID, rec.Stream, rec.Document, typ); ok {
				docs = append(docs, doc)
			}
			if len(docs) >= *batch {
				err := r.write(ctx, docs)
				docs = docs[:0]
				return err
			}
			return nil
		})
		if err == nil {
			err = r.write(ctx, docs)
		}
		var ce *kafka.CheckError
		if errors.As(err, &ce) && ce.Permanent {
			return startError("kafka", err)
		}
	}
	if err != nil {
		return fmt.Errorf("replay from %s: %w", source, err)
	}
	st.already = sink.Conflicts()
	r.report(e, source)
	if st.failed > 0 || st.noDocument > 0 {
		return &exitError{code: exitFailure}
	}
	return nil
}

type replayer struct {
	sink   *elastic.Sink
	log    *slog.Logger
	st     *replayStats
	dryRun bool
}

// doc turns a dead letter into the document to index again; a dead letter
// without a document (too large for the Kafka record) is counted apart.
func (r *replayer) doc(id, stream, body, errType string) (shipper.Doc, bool) {
	r.st.selected++
	if errType == "" {
		errType = "(none)"
	}
	r.st.byError[errType]++
	r.st.byStream[stream]++
	if body == "" || id == "" || stream == "" {
		r.st.noDocument++
		r.fail(fmt.Sprintf("%s: the dead letter holds no document to index (too large for the Kafka record: replay it from the index)", id))
		return shipper.Doc{}, false
	}
	return shipper.Doc{ID: id, Stream: stream, Body: []byte(body)}, true
}

func (r *replayer) fail(msg string) {
	if len(r.st.failures) < 20 {
		r.st.failures = append(r.st.failures, msg)
	}
}

// write indexes docs with op_type create (409 = already there), retrying
// what may pass (429, 5xx, refusals, no answer) up to 6 times in about 30 s;
// what fails for good, or still fails then, is counted as failed again.
func (r *replayer) write(ctx context.Context, docs []shipper.Doc) error {
	if len(docs) == 0 || r.dryRun {
		return nil
	}
	pending := docs
	delay := 500 * time.Millisecond
	for attempt := 1; len(pending) > 0; attempt++ {
		err := r.sink.WriteBatch(ctx, pending)
		if err == nil {
			r.st.written += len(pending)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		last := attempt == 6
		var be *shipper.BatchError
		if !errors.As(err, &be) {
			if last {
				return fmt.Errorf("bulk request failed %d times: %w", attempt, err)
			}
			r.log.Warn("replay: bulk request failed, retrying", "docs", len(pending), "attempt", attempt, "error", err)
		} else {
			r.st.written += len(pending) - len(be.Items)
			var retry []shipper.Doc
			for _, it := range be.Items {
				d := pending[it.Index]
				if it.Retry && !last {
					retry = append(retry, d)
					continue
				}
				r.st.failed++
				r.fail(fmt.Sprintf("%s -> %s: %d %s", d.ID, d.Stream, it.Status, it.Reason))
			}
			if len(retry) > 0 {
				r.log.Warn("replay: documents refused, retrying", "docs", len(retry), "attempt", attempt, "first", be.Items[0].Reason)
			}
			pending = retry
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
		delay *= 2
	}
	return nil
}

func (r *replayer) report(e *env, source string) {
	st := r.st
	w := e.stdout
	fmt.Fprintf(w, "replay from %s: %d dead letters read, %d selected\n", source, st.read, st.selected)
	for _, k := range sortedKeys(st.byStream) {
		fmt.Fprintf(w, "  to %-40s %d\n", k, st.byStream[k])
	}
	for _, k := range sortedKeys(st.byError) {
		fmt.Fprintf(w, "  error %-37s %d\n", k, st.byError[k])
	}
	if r.dryRun {
		fmt.Fprintln(w, "dry run: nothing written")
		return
	}
	fmt.Fprintf(w, "written: %d (%d indexed now, %d already there)\n", st.written, int64(st.written)-st.already, st.already)
	fmt.Fprintf(w, "failed again: %d (they stay dead letters)\n", st.failed+st.noDocument)
	for _, f := range st.failures {
		fmt.Fprintf(w, "  %s\n", f)
	}
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
