package esreport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/eximship/eximship/shipper/analysis"
)

// SourcesConfig configures WriteSources.
type SourcesConfig struct {
	// Namespace of the data streams read and of the entity index
	// eximship-sources-<namespace> written. Default: "default".
	Namespace string
	// Since and Until: every window overlapping [Since, Until) is
	// recomputed whole. Both are required.
	Since, Until time.Time
	// Window is the length of a window; windows are aligned on multiples
	// of it since the Unix epoch (UTC). Default: 24h.
	Window time.Duration
	// Analysis configures the figures (local domains, rules). Its window
	// and Top are set per window.
	Analysis analysis.Config
	// BulkBytes bounds one bulk request. Default: 5 MB.
	BulkBytes int
	// PageSize is Config.PageSize of the reads.
	PageSize int
}

// Validate reports configuration errors.
func (c SourcesConfig) Validate() error {
	if c.Since.IsZero() || c.Until.IsZero() || !c.Since.Before(c.Until) {
		return errors.New("esreport: sources: want since before until")
	}
	if c.Window < 0 || c.Window > 0 && c.Window < time.Minute {
		return fmt.Errorf("esreport: sources: window %s: want at least 1m", c.Window)
	}
	return c.Analysis.Validate()
}

// WriteSources recomputes, from the indexed events, the entity documents
// of every window of cfg and indexes them into eximship-sources-<ns> with
// op_type index and ids from namespace, window and source
// (analysis.EntityID): a rewrite replaces a document, so re-delivered
// events, which the data streams already de-duplicate, can never be
// counted twice. It returns the number of documents written.
func WriteSources(ctx context.Context, es Doer, cfg SourcesConfig, now time.Time) (int, Stats, error) {
	var total Stats
	if err := cfg.Validate(); err != nil {
		return 0, total, err
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.Window == 0 {
		cfg.Window = 24 * time.Hour
	}
	if cfg.BulkBytes == 0 {
		cfg.BulkBytes = 5_000_000
	}
	index := analysis.SourcesIndex(cfg.Namespace)
	written := 0
	for _, w := range analysis.Windows(cfg.Since, cfg.Until, cfg.Window) {
		facts, st, err := Collect(ctx, es, Config{Namespace: cfg.Namespace, Since: w[0], Until: w[1], LocalDomains: cfg.Analysis.LocalDomains, PageSize: cfg.PageSize})
		total.Requests += st.Requests
		total.Took += st.Took
		total.Buckets += st.Buckets
		if err != nil {
			return written, total, err
		}
		ac := cfg.Analysis
		ac.Since, ac.Until = w[0], w[1]
		rep, err := analysis.Compute(ac, facts)
		if err != nil {
			return written, total, err
		}
		docs, err := analysis.EntityDocs(rep, cfg.Namespace, w[0], w[1], now)
		if err != nil {
			return written, total, err
		}
		n, err := bulkIndex(ctx, es, index, docs, cfg.BulkBytes)
		total.Requests += n
		if err != nil {
			return written, total, fmt.Errorf("esreport: write %s: %w", index, err)
		}
		written += len(docs)
	}
	return written, total, nil
}

// bulkIndex indexes docs into index (op_type index, their ids) in bulk
// requests of at most max bytes; it returns the number of requests.
func bulkIndex(ctx context.Context, es Doer, index string, docs []analysis.EntityDoc, maxBytes int) (int, error) {
	requests := 0
	var body bytes.Buffer
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		requests++
		err := postBulk(ctx, es, body.Bytes(), n)
		body.Reset()
		n = 0
		return err
	}
	for _, d := range docs {
		meta, err := json.Marshal(map[string]any{"index": map[string]any{"_index": index, "_id": d.ID}})
		if err != nil {
			return requests, err
		}
		if n > 0 && body.Len()+len(meta)+len(d.Body)+2 > maxBytes {
			if err := flush(); err != nil {
				return requests, err
			}
		}
		body.Write(meta)
		body.WriteByte('\n')
		body.Write(d.Body)
		body.WriteByte('\n')
		n++
	}
	return requests, flush()
}

func postBulk(ctx context.Context, es Doer, body []byte, n int) error {
	data, err := post(ctx, es, "/_bulk?filter_path=errors,items.*.error,items.*.status", "application/x-ndjson", body)
	if err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	var r struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int             `json:"status"`
			Error  json.RawMessage `json:"error"`
		} `json:"items"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("decode bulk answer: %w", err)
	}
	if len(r.Items) != n {
		return fmt.Errorf("bulk answer has %d items for %d documents", len(r.Items), n)
	}
	if !r.Errors {
		return nil
	}
	failed := 0
	first := ""
	for _, it := range r.Items {
		for _, v := range it {
			if v.Status < 200 || v.Status > 299 {
				failed++
				if first == "" {
					first = fmt.Sprintf("HTTP %d %s", v.Status, errorText(append(append([]byte(`{"error":`), v.Error...), '}')))
				}
			}
		}
	}
	return fmt.Errorf("%d of %d entity documents refused, first: %s", failed, n, first)
}
