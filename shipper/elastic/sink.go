package elastic

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/eximship/eximship/shipper"
)

// Sink writes documents to Elasticsearch with the bulk API. It implements
// shipper.Sink and shipper.DeadLetterSink and is safe for concurrent use.
type Sink struct {
	cfg       Config
	client    *elasticsearch.Client
	log       *slog.Logger
	bufs      sync.Pool // *bytes.Buffer
	conflicts atomic.Int64
}

var status409 = []byte(`"status":409`)

// Conflicts counts the documents Elasticsearch answered 409 since New: a
// create of an id that exists, a document indexed before (by an earlier
// attempt, a re-delivery, a replay). WriteBatch counts them as written.
func (s *Sink) Conflicts() int64 { return s.conflicts.Load() }

var (
	_ shipper.Sink           = (*Sink)(nil)
	_ shipper.DeadLetterSink = (*Sink)(nil)
)

// New validates cfg, reads the secret files it names and builds the client.
// It sends no request: the first bulk request performs go-elasticsearch's
// product check.
func New(cfg Config) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("elastic: invalid config: %w", err)
	}
	cfg = cfg.withDefaults()
	client, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Sink{cfg: cfg, client: client, log: cfg.Logger}, nil
}

// NewClient builds the go-elasticsearch client New uses, for the other
// users of the same configuration (template installation, setup, checks).
// Its transport never retries by itself.
func NewClient(cfg Config) (*elasticsearch.Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("elastic: invalid config: %w", err)
	}
	cfg = cfg.withDefaults()
	ecfg := elasticsearch.Config{
		Addresses: cfg.Addresses,
		Username:  cfg.Username,
		Password:  cfg.Password,
		APIKey:    cfg.APIKey,
		// One attempt per request: the pipeline retries with backoff and
		// counts every retry; transport retries would hide and multiply them.
		DisableRetry: true,
		// Node sniffing is off (the default): behind load balancers and in
		// containers the published addresses are often unreachable.
	}
	if cfg.PasswordFile != "" {
		pw, err := readSecret(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("elastic: reading password file: %w", err)
		}
		ecfg.Password = pw
	}
	if cfg.APIKeyFile != "" {
		k, err := readSecret(cfg.APIKeyFile)
		if err != nil {
			return nil, fmt.Errorf("elastic: reading API key file: %w", err)
		}
		ecfg.APIKey = k
	}
	if cfg.CompressRequestBody {
		ecfg.CompressRequestBody = true
		ecfg.CompressRequestBodyLevel = cfg.CompressionLevel
		ecfg.PoolCompressor = true
	}
	ecfg.Transport = cfg.Transport
	if ecfg.Transport == nil {
		tr, err := httpTransport(cfg)
		if err != nil {
			return nil, err
		}
		ecfg.Transport = tr
	}
	c, err := elasticsearch.NewClient(ecfg)
	if err != nil {
		return nil, fmt.Errorf("elastic: creating client: %w", err)
	}
	return c, nil
}

// httpTransport builds the HTTP transport from the TLS settings, with
// enough idle connections per host for concurrent bulk workers (Go's
// default of 2 would open and close a connection per request).
func httpTransport(cfg Config) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.MaxIdleConns = 256
	if cfg.CAFile == "" && cfg.CertFile == "" && !cfg.InsecureSkipVerify {
		return tr, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // opt-in, documented as tests only
	if cfg.CAFile != "" {
		pool, err := shipper.CertPool(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("elastic: %w", err)
		}
		tc.RootCAs = pool
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("elastic: loading client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	tr.TLSClientConfig = tc
	return tr, nil
}

// Client returns the underlying client (for template installation).
func (s *Sink) Client() *elasticsearch.Client { return s.client }

// Close releases idle connections. Requests in flight finish.
func (s *Sink) Close(ctx context.Context) error {
	if err := s.client.Close(ctx); err != nil && !errors.Is(err, elasticsearch.ErrAlreadyClosed) {
		return fmt.Errorf("elastic: closing client: %w", err)
	}
	return nil
}

// RequestError is a bulk request that failed as a whole with an HTTP
// status: every document of it is retryable.
type RequestError struct {
	Status int
	// Body is the start of the response body.
	Body string
}

func (e *RequestError) Error() string {
	return "elasticsearch answered " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status) + ": " + e.Body
}

// Temporary reports whether the failure is expected to pass by itself (429,
// 5xx); other statuses (401, 403, 404 ...) need an operator, but retrying
// them loses nothing either.
func (e *RequestError) Temporary() bool { return e.Status == 429 || e.Status >= 500 }

// RetryCause implements shipper.RetryCauser.
func (e *RequestError) RetryCause() string { return retryCause(e.Status, e.Body) }

// WriteBatch indexes docs with op_type create, in bulk requests of at most
// FlushBytes. It makes one attempt per document; a request answered 413 is
// split in halves down to single documents. The result:
//   - nil: every document is in Elasticsearch (2xx, or 409 already there);
//   - *shipper.BatchError: the listed documents were not written; Retry
//     tells whether sending them again may work (429, 5xx, request failures
//     after some requests of the batch succeeded) or not (other 4xx: dead
//     letter). Unlisted documents were written;
//   - any other error: no request was answered (connection error, timeout,
//     whole-request 429/5xx/4xx, unparseable response); all are retryable.
func (s *Sink) WriteBatch(ctx context.Context, docs []shipper.Doc) error {
	if len(docs) == 0 {
		return nil
	}
	w := writer{s: s, docs: docs}
	return w.run(ctx)
}

// writer is the state of one WriteBatch call.
type writer struct {
	s     *Sink
	docs  []shipper.Doc
	items []shipper.ItemError
	// answered counts requests answered with a bulk response.
	answered int
	// failed is the first whole-request failure; it stops the batch.
	failed error
	// settled marks the documents whose fate is known (written or listed).
	settled []bool
	// inUse is set when the transport had not released a request body
	// when its response was read, so the array must not be reused.
	inUse bool
}

func (w *writer) run(ctx context.Context) error {
	s := w.s
	w.settled = make([]bool, len(w.docs))
	buf := s.getBuf()
	scratch := s.getBuf()
	defer s.putBuf(scratch)

	body := buf.Bytes()[:0]
	var idx, offs []int
	flush := func() {
		if len(idx) > 0 && w.failed == nil {
			w.send(ctx, body, idx, offs)
		}
		if w.inUse {
			// The transport may still read the old array: leave it to it.
			body = make([]byte, 0, cap(body))
			w.inUse = false
		}
		body, idx, offs = body[:0], idx[:0], offs[:0]
	}
	for i := range w.docs {
		if w.failed != nil {
			break
		}
		d := &w.docs[i]
		b, err := checkBody(d.Body, scratch)
		if err != nil {
			w.fail(i, 400, "invalid_document_body: "+err.Error(), false)
			continue
		}
		start := len(body)
		body = appendCreate(body, d.Stream, d.ID, b)
		if len(body) > s.cfg.FlushBytes && len(idx) > 0 {
			// Send what came before; this document starts the next request.
			body = body[:start]
			flush()
			body = appendCreate(body, d.Stream, d.ID, b)
			start = 0
		}
		idx = append(idx, i)
		offs = append(offs, start)
	}
	flush()
	*buf = *bytes.NewBuffer(body[:0]) // keep the grown array for the next batch
	s.putBuf(buf)

	if w.failed != nil {
		if w.answered == 0 {
			return fmt.Errorf("elastic: bulk request: %w", w.failed)
		}
		reason := truncate(w.failed.Error(), maxReasonLen)
		for i, done := range w.settled {
			if !done {
				w.fail(i, 0, "request_failed: "+reason, true)
			}
		}
	}
	if len(w.items) == 0 {
		return nil
	}
	return &shipper.BatchError{Items: w.items}
}

func (w *writer) fail(i, status int, reason string, retry bool) {
	cause := ""
	if retry {
		cause = retryCause(status, reason)
	}
	w.failCause(i, status, reason, retry, cause)
}

func (w *writer) failCause(i, status int, reason string, retry bool, cause string) {
	w.settled[i] = true
	if !retry {
		cause = ""
	}
	w.items = append(w.items, shipper.ItemError{Index: i, Status: status, Reason: reason, Retry: retry, Cause: cause})
}

// send posts one bulk body holding the documents idx (offs: where each
// document's action line starts in body) and records the outcome. A 413
// splits the request in halves.
func (w *writer) send(ctx context.Context, body []byte, idx, offs []int) {
	if w.failed != nil {
		return
	}
	status, resp, released, err := w.s.post(ctx, body)
	if !released {
		w.inUse = true
	}
	if err != nil {
		w.failed = err
		return
	}
	defer w.s.putBuf(resp)
	switch {
	case status == http.StatusRequestEntityTooLarge:
		if len(idx) == 1 {
			w.answered++
			w.fail(idx[0], status, fmt.Sprintf("request_entity_too_large: a bulk request holding only this document (%d bytes) was answered 413", len(body)), false)
			return
		}
		w.s.log.Debug("elastic: bulk request too large, splitting", "docs", len(idx), "bytes", len(body))
		m := len(idx) / 2
		first, second := body[:offs[m]], body[offs[m]:]
		offs2 := make([]int, len(idx)-m)
		for j := range offs2 {
			offs2[j] = offs[m+j] - offs[m]
		}
		w.send(ctx, first, idx[:m], offs[:m])
		w.send(ctx, second, idx[m:], offs2)
		return
	case status < 200 || status > 299:
		w.failed = &RequestError{Status: status, Body: truncate(string(bytes.TrimSpace(resp.Bytes())), 512)}
		return
	}
	ok := true
	err = parseBulk(resp.Bytes(), len(idx), func(j, st int, reason string) {
		w.failCause(idx[j], st, reason, statusRetry(st), retryCause(st, reason))
	})
	if err != nil {
		// The fate of these documents is unknown: retry them (ids make
		// that safe). Items recorded before the decoding error stand.
		w.failed = err
		ok = false
	}
	if ok {
		w.answered++
		for _, i := range idx {
			w.settled[i] = true
		}
		// A 409 item has no "status" inside its error object, and a
		// reason cannot hold the unescaped quotes: one per conflict.
		w.s.conflicts.Add(int64(bytes.Count(resp.Bytes(), status409)))
	}
}

// post sends one bulk request and returns the status and the response body
// (a pooled buffer the caller returns with putBuf). The error is set only
// when no HTTP response arrived. released reports whether the transport is
// done with body (an http.Transport may still be writing a request body
// after the response arrived, e.g. an early 413).
func (s *Sink) post(ctx context.Context, body []byte) (status int, resp *bytes.Buffer, released bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var rb reqBodies
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, bulkPath, rb.open(body))
	if err != nil {
		return 0, nil, true, fmt.Errorf("building bulk request: %w", err)
	}
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return rb.open(body), nil }
	req.Header.Set("Content-Type", "application/x-ndjson")
	t0 := time.Now()
	res, err := s.client.Perform(req)
	if s.cfg.OnBulk != nil {
		st := 0
		if err == nil {
			st = res.StatusCode
		}
		defer func() { s.cfg.OnBulk(time.Since(t0), st, err) }()
	}
	// With compression the transport reads the body completely before
	// sending and never closes it.
	done := func() bool { return s.cfg.CompressRequestBody || rb.released() }
	if err != nil {
		return 0, nil, done(), fmt.Errorf("sending bulk request of %d bytes: %w", len(body), err)
	}
	defer res.Body.Close()
	buf := s.getBuf()
	if _, err := buf.ReadFrom(res.Body); err != nil {
		s.putBuf(buf)
		return 0, nil, done(), fmt.Errorf("reading bulk response (status %d): %w", res.StatusCode, err)
	}
	return res.StatusCode, buf, done(), nil
}

// reqBodies hands out readers over one request body and tells when the
// transport has closed every one of them.
type reqBodies struct {
	opened, closed atomic.Int32
}

func (r *reqBodies) open(b []byte) io.ReadCloser {
	r.opened.Add(1)
	return &reqBody{Reader: bytes.NewReader(b), r: r}
}

func (r *reqBodies) released() bool { return r.closed.Load() == r.opened.Load() }

type reqBody struct {
	*bytes.Reader
	r    *reqBodies
	once sync.Once
}

func (b *reqBody) Close() error {
	b.once.Do(func() { b.r.closed.Add(1) })
	return nil
}

func (s *Sink) getBuf() *bytes.Buffer {
	if b, ok := s.bufs.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

// putBuf returns b to the pool unless it grew beyond what is worth keeping.
func (s *Sink) putBuf(b *bytes.Buffer) {
	if b == nil || b.Cap() > 4*s.cfg.FlushBytes+(1<<20) {
		return
	}
	s.bufs.Put(b)
}
