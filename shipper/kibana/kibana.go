// Package kibana is eximship's Kibana adapter: it reads Kibana's version
// and imports saved objects and detection rules, the way `filebeat setup`
// and elastic-package talk to Kibana.
//
//   - GET /api/status (with authentication: without it Kibana hides its
//     version). While Kibana starts it answers 503 ("Kibana server is not
//     ready yet"); Status waits and asks again until StartupTimeout.
//   - POST [/s/<space>]/api/saved_objects/_import?overwrite=true and
//     POST [/s/<space>]/api/detection_engine/rules/_import?overwrite=true:
//     multipart/form-data with the NDJSON in a part named "file", header
//     kbn-xsrf. Fixed ids plus overwrite make both idempotent.
//   - The answer is read whole: HTTP 200 can carry success:false, with one
//     error per object (missing references, conflicts, unsupported types);
//     each is reported with its object.
//   - 502, 503, 504 and transport errors are retried with backoff (the
//     requests are idempotent); 401/403 and other 4xx are not.
//
// It imports nothing of the pipeline.
package kibana

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/redact"
)

// Config configures a Client. Every field documents its default.
type Config struct {
	// URL is Kibana's base URL, including a base path if Kibana has one
	// (server.basePath), e.g. "https://kibana:5601" or
	// "https://proxy/kibana". Required.
	URL string
	// Space is the Kibana space to import into. Default: the default
	// space.
	Space string
	// Username and Password for HTTP basic authentication. Default: none.
	Username string
	Password string
	// PasswordFile, when set, is read at New (surrounding whitespace
	// trimmed) and used as Password. Default: none.
	PasswordFile string
	// APIKey is a Kibana/Elasticsearch API key, either "id:key" (encoded
	// here) or already base64-encoded as Kibana shows it; it is sent as
	// "Authorization: ApiKey ..." and wins over Username/Password.
	// Default: none.
	APIKey string
	// APIKeyFile, when set, is read at New and used as APIKey.
	APIKeyFile string
	// CAFile is a PEM file of certificate authorities trusted for HTTPS.
	// Default: the system pool.
	CAFile string
	// Timeout bounds each HTTP request. Default: 60s.
	Timeout time.Duration
	// MaxRetries is how often a request is retried after 502, 503, 504 or a
	// transport error. Default: 5.
	MaxRetries int
	// RetryBackoff is the first wait between retries; it doubles up to
	// 16 times that. Default: 1s.
	RetryBackoff time.Duration
	// StartupTimeout is how long Status waits for a Kibana that answers 503
	// while it starts. Default: 2m.
	StartupTimeout time.Duration
	// Logger gets progress and retries, never secrets. Default:
	// slog.Default().
	Logger *slog.Logger
	// Transport is the HTTP round tripper, a seam for tests. Default: an
	// http.Transport with CAFile's pool.
	Transport http.RoundTripper
}

// Defaults.
const (
	DefaultTimeout        = 60 * time.Second
	DefaultMaxRetries     = 5
	DefaultRetryBackoff   = time.Second
	DefaultStartupTimeout = 2 * time.Minute
)

var spaceID = regexp.MustCompile(`^[a-z0-9_-]+$`)

// Validate reports every configuration error.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url is required"))
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url %q: want http(s)://host[:port][/basepath]", redact.URL(c.URL)))
	} else if u.User != nil {
		errs = append(errs, errors.New("url: put credentials in username/password or api_key, not in the URL"))
	}
	if c.Space != "" && !spaceID.MatchString(c.Space) {
		errs = append(errs, fmt.Errorf("space %q: a space id is lower-case letters, digits, '_' and '-'", c.Space))
	}
	if c.Password != "" && c.PasswordFile != "" {
		errs = append(errs, errors.New("password and password_file are exclusive"))
	}
	if c.APIKey != "" && c.APIKeyFile != "" {
		errs = append(errs, errors.New("api_key and api_key_file are exclusive"))
	}
	if (c.Password != "" || c.PasswordFile != "") && c.Username == "" && c.APIKey == "" && c.APIKeyFile == "" {
		errs = append(errs, errors.New("a password needs a username"))
	}
	if c.Timeout < 0 || c.MaxRetries < 0 || c.RetryBackoff < 0 || c.StartupTimeout < 0 {
		errs = append(errs, errors.New("timeout, max_retries, retry_backoff and startup_timeout must not be negative"))
	}
	return errors.Join(errs...)
}

// LogValue hides secrets when a Config is logged.
func (c Config) LogValue() slog.Value {
	hide := func(s string) string {
		if s == "" {
			return ""
		}
		return "REDACTED"
	}
	return slog.GroupValue(slog.String("url", redact.URL(c.URL)), slog.String("space", c.Space),
		slog.String("username", c.Username), slog.String("password", hide(c.Password)),
		slog.String("api_key", hide(c.APIKey)), slog.String("ca_file", c.CAFile))
}

// Client talks to one Kibana.
type Client struct {
	c    Config
	base *url.URL
	http *http.Client
	auth string
	log  *slog.Logger
}

// New checks c, reads the secret files and the CA file, and returns a
// client. It sends nothing.
func New(c Config) (*Client, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("kibana: %w", err)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.StartupTimeout == 0 {
		c.StartupTimeout = DefaultStartupTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	for _, f := range []struct {
		path string
		dst  *string
		what string
	}{{c.PasswordFile, &c.Password, "password_file"}, {c.APIKeyFile, &c.APIKey, "api_key_file"}} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			return nil, fmt.Errorf("kibana: %s: %w", f.what, err)
		}
		*f.dst = strings.TrimSpace(string(b))
		if *f.dst == "" {
			return nil, fmt.Errorf("kibana: %s %s is empty", f.what, f.path)
		}
	}
	base, _ := url.Parse(strings.TrimRight(c.URL, "/"))
	tr := c.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if c.CAFile != "" {
			pool, err := shipper.CertPool(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("kibana: ca_file: %w", err)
			}
			t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		tr = t
	}
	cl := &Client{c: c, base: base, http: &http.Client{Transport: tr, Timeout: c.Timeout}, log: c.Logger}
	switch {
	case c.APIKey != "":
		key := c.APIKey
		if strings.Contains(key, ":") {
			key = base64.StdEncoding.EncodeToString([]byte(key))
		}
		cl.auth = "ApiKey " + key
	case c.Username != "":
		cl.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password))
	}
	return cl, nil
}

// Status is what GET /api/status says.
type Status struct {
	Version     string // e.g. "8.18.1"
	BuildFlavor string // "traditional" or "serverless" ("" before 8.10)
	Level       string // overall status: available, degraded, unavailable, critical
}

// HTTPError is an answer Kibana gave that is not a success.
type HTTPError struct {
	Method, Path string
	StatusCode   int
	// Message is Kibana's message ({"statusCode","error","message"}) or
	// the start of the body.
	Message string
}

func (e *HTTPError) Error() string {
	hint := ""
	switch e.StatusCode {
	case http.StatusUnauthorized:
		hint = " (authentication failed: check kibana.username/password or kibana.api_key)"
	case http.StatusForbidden:
		hint = " (the user lacks the privilege: saved objects need the Kibana privilege 'All' on Management > Saved objects; rules need 'All' on Security)"
	case http.StatusNotFound:
		hint = " (not found: is kibana.url right, including a base path, and does the space exist?)"
	case http.StatusUnprocessableEntity:
		hint = " (objects from a newer Kibana than this one)"
	}
	return fmt.Sprintf("kibana: %s %s answered %d: %s%s", e.Method, e.Path, e.StatusCode, e.Message, hint)
}

// Status reads Kibana's version. A Kibana that is starting (503, or a
// status body without a version) is asked again until StartupTimeout.
func (c *Client) Status(ctx context.Context) (Status, error) {
	deadline := time.Now().Add(c.c.StartupTimeout)
	wait := c.c.RetryBackoff
	for attempt := 1; ; attempt++ {
		st, err := c.status(ctx)
		if err == nil {
			return st, nil
		}
		var he *HTTPError
		starting := errors.As(err, &he) && (he.StatusCode == http.StatusServiceUnavailable || he.StatusCode == http.StatusBadGateway || he.StatusCode == http.StatusGatewayTimeout)
		if errors.Is(err, errNotReady) {
			starting = true
		}
		var te *transportError
		if errors.As(err, &te) {
			starting = true
		}
		if !starting || time.Now().Add(wait).After(deadline) {
			if starting {
				return Status{}, fmt.Errorf("kibana: not ready after %v: %w", c.c.StartupTimeout, err)
			}
			return Status{}, err
		}
		c.log.Info("Kibana is not ready yet, waiting", "attempt", attempt, "retry_in", wait, "reason", err)
		if err := shipper.Sleep(ctx, wait); err != nil {
			return Status{}, err
		}
		wait = min(2*wait, 16*c.c.RetryBackoff)
	}
}

var errNotReady = errors.New("Kibana's status has no version yet")

func (c *Client) status(ctx context.Context) (Status, error) {
	code, body, err := c.once(ctx, http.MethodGet, "/api/status", nil, "")
	if err != nil {
		return Status{}, err
	}
	var r struct {
		Version struct {
			Number      string `json:"number"`
			BuildFlavor string `json:"build_flavor"`
		} `json:"version"`
		Status struct {
			Overall struct {
				Level string `json:"level"`
				State string `json:"state"` // 7.x
			} `json:"overall"`
		} `json:"status"`
	}
	jerr := json.Unmarshal(body, &r)
	if code != http.StatusOK {
		return Status{}, &HTTPError{Method: "GET", Path: "/api/status", StatusCode: code, Message: message(body)}
	}
	if jerr != nil {
		return Status{}, fmt.Errorf("kibana: GET /api/status: not a status answer (is kibana.url Kibana?): %s", snippet(body))
	}
	if r.Version.Number == "" {
		return Status{}, errNotReady
	}
	lvl := r.Status.Overall.Level
	if lvl == "" {
		lvl = r.Status.Overall.State
	}
	return Status{Version: r.Version.Number, BuildFlavor: r.Version.BuildFlavor, Level: lvl}, nil
}

// CheckVersion returns Status and an error when Kibana is older than min
// (e.g. "8.9.0").
func (c *Client) CheckVersion(ctx context.Context, min string) (Status, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return st, err
	}
	cmp, err := compareVersions(st.Version, min)
	if err != nil {
		return st, fmt.Errorf("kibana: %w", err)
	}
	if cmp < 0 {
		return st, fmt.Errorf("kibana: Kibana %s is too old: eximship's dashboards and rules need Kibana %s or later (8.x or 9.x)", st.Version, min)
	}
	if st.Level != "" && st.Level != "available" {
		c.log.Warn("Kibana reports a degraded status; importing anyway", "level", st.Level, "version", st.Version)
	}
	return st, nil
}

// compareVersions compares "major.minor.patch[-suffix]" versions.
func compareVersions(a, b string) (int, error) {
	pa, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	pb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	for i := range pa {
		if pa[i] != pb[i] {
			if pa[i] < pb[i] {
				return -1, nil
			}
			return 1, nil
		}
	}
	return 0, nil
}

func parseVersion(v string) ([3]int, error) {
	var out [3]int
	core, _, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return out, fmt.Errorf("version %q is not major.minor.patch", v)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, fmt.Errorf("version %q is not major.minor.patch", v)
		}
		out[i] = n
	}
	return out, nil
}

// path prefixes p with the space.
func (c *Client) path(p string) string {
	if c.c.Space != "" && c.c.Space != "default" {
		return "/s/" + c.c.Space + p
	}
	return p
}

// ObjectError is one object Kibana did not import.
type ObjectError struct {
	Type, ID, Title string
	// Kind is Kibana's error type: missing_references, conflict,
	// ambiguous_conflict, unsupported_type, unknown, ... (for rules: the
	// status code).
	Kind string
	// Detail: the missing references, the message...
	Detail string
}

func (e ObjectError) String() string {
	s := e.Type + " " + e.ID
	if e.Title != "" {
		s += fmt.Sprintf(" (%q)", e.Title)
	}
	s += ": " + e.Kind
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// ImportResult is the outcome of an import.
type ImportResult struct {
	Success      bool
	SuccessCount int
	// Imported lists "type/id" of the objects created or overwritten
	// (with " -> destinationId" when Kibana gave the object a new id).
	Imported []string
	Errors   []ObjectError
	Warnings []string
}

// ImportError is an import that did not fully succeed.
type ImportError struct {
	What   string
	Result *ImportResult
}

func (e *ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kibana: %s import failed: %d imported, %d failed", e.What, e.Result.SuccessCount, len(e.Result.Errors))
	for _, oe := range e.Result.Errors {
		b.WriteString("\n  ")
		b.WriteString(oe.String())
	}
	if len(e.Result.Errors) == 0 {
		b.WriteString(" (Kibana said success:false without errors)")
	}
	return b.String()
}

// ImportSavedObjects imports an NDJSON file of saved objects, overwriting
// objects with the same ids. A partial failure returns the result and an
// *ImportError listing every failed object.
func (c *Client) ImportSavedObjects(ctx context.Context, ndjson []byte) (*ImportResult, error) {
	p := c.path("/api/saved_objects/_import") + "?overwrite=true"
	body, err := c.importFile(ctx, p, ndjson)
	if err != nil {
		return nil, err
	}
	var r struct {
		Success        *bool `json:"success"`
		SuccessCount   int   `json:"successCount"`
		SuccessResults []struct {
			Type          string `json:"type"`
			ID            string `json:"id"`
			DestinationID string `json:"destinationId"`
		} `json:"successResults"`
		Errors []struct {
			Type string `json:"type"`
			ID   string `json:"id"`
			Meta struct {
				Title string `json:"title"`
			} `json:"meta"`
			Title string `json:"title"`
			Error struct {
				Type       string `json:"type"`
				Message    string `json:"message"`
				StatusCode int    `json:"statusCode"`
				References []struct {
					Type string `json:"type"`
					ID   string `json:"id"`
				} `json:"references"`
				DestinationID string `json:"destinationId"`
				Destinations  []struct {
					ID string `json:"id"`
				} `json:"destinations"`
			} `json:"error"`
		} `json:"errors"`
		Warnings []struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"warnings"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Success == nil {
		return nil, fmt.Errorf("kibana: POST %s: not an import answer: %s", p, snippet(body))
	}
	res := &ImportResult{Success: *r.Success, SuccessCount: r.SuccessCount}
	for _, s := range r.SuccessResults {
		x := s.Type + "/" + s.ID
		if s.DestinationID != "" && s.DestinationID != s.ID {
			x += " -> " + s.DestinationID
		}
		res.Imported = append(res.Imported, x)
	}
	for _, e := range r.Errors {
		oe := ObjectError{Type: e.Type, ID: e.ID, Title: e.Meta.Title, Kind: e.Error.Type}
		if oe.Title == "" {
			oe.Title = e.Title
		}
		var refs []string
		for _, ref := range e.Error.References {
			refs = append(refs, ref.Type+"/"+ref.ID)
		}
		switch {
		case len(refs) > 0:
			oe.Detail = "missing " + strings.Join(refs, ", ")
		case e.Error.Message != "":
			oe.Detail = e.Error.Message
		case e.Error.DestinationID != "":
			oe.Detail = "conflicts with " + e.Error.DestinationID
		case len(e.Error.Destinations) > 0:
			var ids []string
			for _, d := range e.Error.Destinations {
				ids = append(ids, d.ID)
			}
			oe.Detail = "matches several existing objects: " + strings.Join(ids, ", ")
		}
		res.Errors = append(res.Errors, oe)
	}
	for _, w := range r.Warnings {
		res.Warnings = append(res.Warnings, w.Message)
	}
	if !res.Success || len(res.Errors) > 0 {
		return res, &ImportError{What: "saved objects", Result: res}
	}
	return res, nil
}

// ImportRules imports an NDJSON file of detection rules through Elastic
// Security's rules import API, overwriting rules with the same rule_id.
func (c *Client) ImportRules(ctx context.Context, ndjson []byte) (*ImportResult, error) {
	p := c.path("/api/detection_engine/rules/_import") + "?overwrite=true"
	body, err := c.importFile(ctx, p, ndjson)
	if err != nil {
		return nil, err
	}
	var r struct {
		Success      *bool `json:"success"`
		SuccessCount int   `json:"success_count"`
		RulesCount   int   `json:"rules_count"`
		Errors       []struct {
			RuleID string `json:"rule_id"`
			ID     string `json:"id"`
			Error  struct {
				StatusCode int    `json:"status_code"`
				Message    string `json:"message"`
			} `json:"error"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Success == nil {
		return nil, fmt.Errorf("kibana: POST %s: not a rules import answer: %s", p, snippet(body))
	}
	res := &ImportResult{Success: *r.Success, SuccessCount: r.SuccessCount}
	for _, e := range r.Errors {
		id := e.RuleID
		if id == "" {
			id = e.ID
		}
		res.Errors = append(res.Errors, ObjectError{Type: "rule", ID: id, Kind: strconv.Itoa(e.Error.StatusCode), Detail: e.Error.Message})
	}
	if !res.Success || len(res.Errors) > 0 {
		return res, &ImportError{What: "detection rules", Result: res}
	}
	return res, nil
}

// importFile posts ndjson as the multipart "file" part and returns the
// body of a 200 answer.
func (c *Client) importFile(ctx context.Context, p string, ndjson []byte) ([]byte, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", `form-data; name="file"; filename="eximship.ndjson"`)
	h.Set("Content-Type", "application/ndjson")
	part, err := mw.CreatePart(h)
	if err != nil {
		return nil, err
	}
	if _, err := part.Write(ndjson); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	code, body, err := c.do(ctx, http.MethodPost, p, buf.Bytes(), mw.FormDataContentType())
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, &HTTPError{Method: "POST", Path: p, StatusCode: code, Message: message(body)}
	}
	return body, nil
}

type transportError struct{ err error }

// Unreachable reports whether err is a failure to reach Kibana at all
// (connection refused, DNS, TLS, timeout) rather than an answer.
func Unreachable(err error) bool {
	var te *transportError
	return errors.As(err, &te)
}

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// do sends a request, retrying 502/503/504 and transport errors.
func (c *Client) do(ctx context.Context, method, p string, body []byte, ctype string) (int, []byte, error) {
	wait := c.c.RetryBackoff
	for attempt := 0; ; attempt++ {
		code, b, err := c.once(ctx, method, p, body, ctype)
		retry := err != nil || code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		if !retry || attempt >= c.c.MaxRetries {
			if err != nil {
				return 0, nil, fmt.Errorf("kibana: %s %s: %w", method, p, err)
			}
			return code, b, nil
		}
		reason := fmt.Sprintf("HTTP %d", code)
		if err != nil {
			reason = err.Error()
		}
		c.log.Warn("Kibana request failed, retrying", "method", method, "path", p, "reason", reason, "attempt", attempt+1, "retry_in", wait)
		if err := shipper.Sleep(ctx, wait); err != nil {
			return 0, nil, err
		}
		wait = min(2*wait, 16*c.c.RetryBackoff)
	}
}

// once sends one request and reads the whole answer.
func (c *Client) once(ctx context.Context, method, p string, body []byte, ctype string) (int, []byte, error) {
	u := *c.base
	pth, q, _ := strings.Cut(p, "?")
	u.Path = strings.TrimRight(u.Path, "/") + pth
	u.RawQuery = q
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("kbn-xsrf", "eximship")
	req.Header.Set("Accept", "application/json")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, &transportError{err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return 0, nil, &transportError{fmt.Errorf("reading the answer: %w", err)}
	}
	return res.StatusCode, b, nil
}

// message extracts Kibana's error message from a body.
func message(b []byte) string {
	var e struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && (e.Message != "" || e.Error != "") {
		if e.Message == "" {
			return e.Error
		}
		return e.Message
	}
	return snippet(b)
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

// Bundle is what Setup imports; an empty member is skipped.
type Bundle struct {
	SavedObjects []byte // NDJSON for the saved-objects import
	Rules        []byte // NDJSON for the rules import
}

// Report says what Setup did.
type Report struct {
	Status       Status
	SavedObjects *ImportResult
	Rules        *ImportResult
}

// Setup checks Kibana's version against min, then imports the saved
// objects and the rules, stopping at the first failure.
func (c *Client) Setup(ctx context.Context, min string, b Bundle) (Report, error) {
	var rep Report
	st, err := c.CheckVersion(ctx, min)
	rep.Status = st
	if err != nil {
		return rep, err
	}
	if len(b.SavedObjects) > 0 {
		rep.SavedObjects, err = c.ImportSavedObjects(ctx, b.SavedObjects)
		if err != nil {
			return rep, err
		}
	}
	if len(b.Rules) > 0 {
		rep.Rules, err = c.ImportRules(ctx, b.Rules)
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}
