package elastic

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// DeadLetterFilter selects dead letters. The zero value selects all.
type DeadLetterFilter struct {
	// ErrorType keeps those whose error.type is this (e.g.
	// document_parsing_exception).
	ErrorType string
	// Status keeps those Elasticsearch answered with this status.
	Status int
}

// StoredDeadLetter is a dead letter read back from the dead-letter index.
type StoredDeadLetter struct {
	DeadLetterDoc
	// Index is the backing index holding it, ID its _id.
	Index, ID string
}

// ScanDeadLetters reads the dead letters of index matching f, in pages of
// size (default 500), over a point in time (a consistent view: dead letters
// written meanwhile are not seen), and calls fn with each page. It returns
// without error when the index does not exist.
func (s *Sink) ScanDeadLetters(ctx context.Context, index string, f DeadLetterFilter, size int, fn func([]StoredDeadLetter) error) error {
	if size <= 0 {
		size = 500
	}
	status, _, body, err := call(ctx, s.client, http.MethodPost, "/"+url.PathEscape(index)+"/_pit?keep_alive=5m", nil)
	if err != nil {
		return fmt.Errorf("open a point in time on %s: %w", index, err)
	}
	if status == http.StatusNotFound {
		return nil
	}
	if status != http.StatusOK {
		return fmt.Errorf("open a point in time on %s: answered %d: %s", index, status, esReason(body))
	}
	var pit struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &pit); err != nil {
		return fmt.Errorf("decoding the point in time: %w", err)
	}
	defer func() {
		b, _ := json.Marshal(map[string]string{"id": pit.ID})
		_, _, _, _ = call(context.WithoutCancel(ctx), s.client, http.MethodDelete, "/_pit", b)
	}()
	var filters []any
	if f.ErrorType != "" {
		filters = append(filters, map[string]any{"term": map[string]any{"error.type": f.ErrorType}})
	}
	if f.Status != 0 {
		filters = append(filters, map[string]any{"term": map[string]any{"error.status": f.Status}})
	}
	var after []any
	for {
		req := map[string]any{
			"size":  size,
			"pit":   map[string]any{"id": pit.ID, "keep_alive": "5m"},
			"sort":  []any{map[string]any{"_shard_doc": "asc"}},
			"query": map[string]any{"bool": map[string]any{"filter": filters}},
		}
		if after != nil {
			req["search_after"] = after
		}
		b, err := json.Marshal(req)
		if err != nil {
			return err
		}
		status, _, body, err := call(ctx, s.client, http.MethodPost, "/_search", b)
		if err != nil {
			return fmt.Errorf("search the dead letters: %w", err)
		}
		if status != http.StatusOK {
			return fmt.Errorf("search the dead letters: answered %d: %s", status, esReason(body))
		}
		var res struct {
			PitID string `json:"pit_id"`
			Hits  struct {
				Hits []struct {
					Index  string          `json:"_index"`
					ID     string          `json:"_id"`
					Source json.RawMessage `json:"_source"`
					Sort   []any           `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := json.Unmarshal(body, &res); err != nil {
			return fmt.Errorf("decoding the dead letters: %w", err)
		}
		if res.PitID != "" {
			pit.ID = res.PitID
		}
		if len(res.Hits.Hits) == 0 {
			return nil
		}
		page := make([]StoredDeadLetter, 0, len(res.Hits.Hits))
		for _, h := range res.Hits.Hits {
			d := StoredDeadLetter{Index: h.Index, ID: h.ID}
			if err := json.Unmarshal(h.Source, &d.DeadLetterDoc); err != nil {
				return fmt.Errorf("dead letter %s: %w", h.ID, err)
			}
			page = append(page, d)
			after = h.Sort
		}
		if err := fn(page); err != nil {
			return err
		}
		if len(res.Hits.Hits) < size {
			return nil
		}
	}
}
