package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/eximship/eximship/shipper/analysis"
	"github.com/eximship/eximship/shipper/esreport"
)

// startSources starts, when sources.enabled is set, the periodic rewrite
// of the entity index eximship-sources-<namespace> beside the pipeline:
// every sources.interval the latest sources.windows windows are
// recomputed from the indexed events (esreport.WriteSources). A failed
// rewrite is logged and retried at the next tick; it never stops run.
// The returned func stops it and waits.
func startSources(ctx context.Context, cfg *fileConfig, es esreport.Doer, log *slog.Logger) func() {
	s := cfg.Sources
	if !s.Enabled {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(s.interval())
		defer t.Stop()
		for {
			rewriteSources(ctx, cfg, es, log, time.Now())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	log.Info("entity index rewrite started", "index", analysis.SourcesIndex(cfg.namespace()),
		"interval", s.interval(), "window", s.window(), "windows", s.windows())
	return func() {
		cancel()
		wg.Wait()
	}
}

// rewriteSources recomputes the latest windows once.
func rewriteSources(ctx context.Context, cfg *fileConfig, es esreport.Doer, log *slog.Logger, now time.Time) {
	s := cfg.Sources
	w := s.window()
	start := time.UnixMilli(analysis.SlotFloor(now.UnixMilli(), w.Milliseconds())).Add(-time.Duration(s.windows()-1) * w)
	loc, err := cfg.Exim.location()
	if err != nil {
		loc = time.UTC
	}
	began := time.Now()
	n, st, err := esreport.WriteSources(ctx, es, esreport.SourcesConfig{
		Namespace: cfg.namespace(), Since: start, Until: now.Add(time.Millisecond), Window: w,
		Analysis: analysis.Config{LocalDomains: cfg.Exim.LocalDomains, Location: loc, Rules: s.rules()},
	}, now)
	switch {
	case ctx.Err() != nil:
	case err != nil:
		log.Warn("entity index rewrite failed; retrying at the next interval", "error", err)
	default:
		log.Info("entity index rewritten", "index", analysis.SourcesIndex(cfg.namespace()), "documents", n,
			"since", start, "requests", st.Requests, "took_ms", st.Took.Milliseconds(), "elapsed", time.Since(began).Round(time.Millisecond))
	}
}
