package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/eximship/eximship/mapping"
)

// storageLine says which storage Install chose and why the better ones
// were not.
func storageLine(res mapping.Result) string {
	var b strings.Builder
	b.WriteString(string(res.Storage.Storage))
	if e := res.Storage.Effective; e.Mode != "" {
		b.WriteString(" (" + e.String() + ")")
	}
	for _, r := range res.Storage.Refused {
		b.WriteString("; " + string(r.Storage) + " not applied: " + r.Reason)
	}
	if res.StorageError != nil {
		b.WriteString("; detection failed: " + res.StorageError.Error())
	}
	return b.String()
}

// storageCheckDelay is when checkStorage looks at the streams: after the
// first documents have created them.
var storageCheckDelay = time.Minute

// checkStorage reads, once the first batches are in, what the cluster
// applied to the newest backing index of every stream of the namespace and
// warns when it differs from what the storage component asks (a licence
// fallback to stored _source is silent otherwise).
func checkStorage(ctx context.Context, es mapping.Performer, pattern string, log *slog.Logger) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(storageCheckDelay):
	}
	got, err := mapping.StreamStorage(ctx, es, pattern)
	if err != nil {
		if ctx.Err() == nil {
			log.Info("cannot read the storage the data streams got (needs view_index_metadata)", "error", err)
		}
		return
	}
	want, err := mapping.InstalledStorage(ctx, es)
	if err != nil || want == "" {
		return
	}
	for _, s := range got {
		if s.Effective.Storage() != want {
			log.Warn("data stream stores documents other than the templates ask (licence fallback? settings changed?)",
				"stream", s.Stream, "index", s.Index, "asked", want, "got", s.Effective.String())
		} else {
			log.Info("data stream storage", "stream", s.Stream, "index", s.Index, "storage", s.Effective.String())
		}
	}
}
