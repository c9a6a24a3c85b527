package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

type answerFunc func(*http.Request) (int, string)

func (f answerFunc) Perform(r *http.Request) (*http.Response, error) {
	status, body := f(r)
	return &http.Response{StatusCode: status, Header: http.Header{"X-Elastic-Product": {"Elasticsearch"}}, Body: io.NopCloser(strings.NewReader(body))}, nil
}

// TestCheckStorageWarnsOnFallback: the storage component asks for logsdb,
// the stream's index got stored _source (a licence fallback): run warns;
// when they agree it only informs.
func TestCheckStorageWarnsOnFallback(t *testing.T) {
	storageCheckDelay = 0
	for _, tc := range []struct {
		mode, want string
	}{
		{`"mapping":{"source":{"mode":"stored"}}`, `level=WARN msg="data stream stores documents other than the templates ask`},
		{`"mapping":{"source":{"mode":"SYNTHETIC"}}`, `level=INFO msg="data stream storage"`},
	} {
		es := answerFunc(func(r *http.Request) (int, string) {
			switch {
			case strings.HasPrefix(r.URL.Path, "/_component_template/"):
				return 200, `{"component_templates":[{"name":"eximship-logs-exim-storage","component_template":{"version":1,"_meta":{"storage":"logsdb"}}}]}`
			case strings.HasSuffix(r.URL.Path, "/_settings"):
				return 200, `{".ds-logs-exim.main-prod-2026.12.01-000001":{"settings":{"index":{"mode":"logsdb","codec":"best_compression",` + tc.mode + `}}}}`
			}
			return 404, `{}`
		})
		var buf bytes.Buffer
		checkStorage(context.Background(), es, "logs-exim.*-prod", slog.New(slog.NewTextHandler(&buf, nil)))
		if !strings.Contains(buf.String(), tc.want) || !strings.Contains(buf.String(), "logs-exim.main-prod") {
			t.Errorf("%s: logged %q, want %q", tc.mode, buf.String(), tc.want)
		}
	}
}
