// Package elastic is eximship's Elasticsearch sink: it bulk-indexes
// shipper.Doc values into data streams with op_type create, classifies every
// item of the bulk response (ok, already indexed, retryable, dead letter), and
// stores dead letters in a failure data stream.
//
// WriteBatch makes exactly one attempt per document (apart from splitting a
// request answered 413). The go-elasticsearch transport's own retries are
// disabled, so retries, their backoff and their counting live in one place:
// the pipeline (package shipper).
package elastic

import (
	"compress/gzip"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/eximship/eximship/shipper/redact"
)

// Defaults of Config.
const (
	DefaultAddress          = "http://127.0.0.1:9200"
	DefaultFlushBytes       = 5_000_000
	DefaultTimeout          = 90 * time.Second
	DefaultCompressionLevel = gzip.BestSpeed
	// DefaultDeadLetterIndex is the data stream dead letters go to. Its name
	// matches the "eximship-deadletter-*" template of package mapping and
	// deliberately not "logs-*-*", so dead letters neither take the logs
	// mappings nor show up in a logs-exim.* data view.
	DefaultDeadLetterIndex = "eximship-deadletter-default"
	// maxReasonLen caps the error text kept per failed item.
	maxReasonLen = 2048
)

// Config configures a Sink. The zero value plus Addresses is usable; every
// field documents its default.
type Config struct {
	// Addresses are the Elasticsearch URLs, e.g. "https://es1:9200".
	// Default: [DefaultAddress].
	Addresses []string

	// Username and Password for HTTP basic authentication. Default: none.
	Username string
	Password string
	// PasswordFile, when set, is read at New and its content (trailing
	// newline trimmed) used as Password. Default: none.
	PasswordFile string
	// APIKey is a base64 API key ("id:key" encoded); it takes precedence
	// over Username/Password. Default: none.
	APIKey string
	// APIKeyFile, when set, is read at New and used as APIKey. Default: none.
	APIKeyFile string

	// CAFile is a PEM file of certificate authorities trusted for HTTPS.
	// Default: the system pool.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key for TLS
	// client authentication. Default: none.
	CertFile string
	KeyFile  string
	// InsecureSkipVerify disables server certificate verification. For
	// tests only. Default: false.
	InsecureSkipVerify bool

	// CompressRequestBody gzips bulk request bodies (worth it over slow
	// links; costs CPU). Default: false.
	CompressRequestBody bool
	// CompressionLevel is the gzip level when CompressRequestBody is set.
	// Default: DefaultCompressionLevel (1, fastest).
	CompressionLevel int

	// FlushBytes is the largest bulk request body built by WriteBatch; a
	// batch whose encoding is larger is sent as several requests. A single
	// document larger than FlushBytes is sent alone. Default: 5,000,000.
	FlushBytes int

	// Timeout bounds each HTTP request (one bulk request, not a whole
	// batch). Default: 90s.
	Timeout time.Duration

	// DeadLetterIndex is the data stream (or index) dead letters are
	// written to. Default: DefaultDeadLetterIndex.
	DeadLetterIndex string

	// Logger receives debug and warning records; it never gets secrets.
	// Default: slog.Default().
	Logger *slog.Logger

	// OnBulk, when set, is called after each bulk request with its duration
	// (until the response body is read), the HTTP status (0 when no
	// response arrived) and the transport error, if any (metrics).
	// Default: none.
	OnBulk func(took time.Duration, status int, err error)

	// Transport is the HTTP round tripper, a seam for tests. When set, the
	// TLS fields are ignored. Default: an http.Transport built from the TLS
	// fields.
	Transport http.RoundTripper

	// now returns the current time (tests override it).
	now func() time.Time
}

// LogValue hides secrets when a Config is logged with slog.
func (c Config) LogValue() slog.Value {
	redact := func(s string) string {
		if s == "" {
			return ""
		}
		return "REDACTED"
	}
	return slog.GroupValue(
		slog.Any("addresses", redactURLs(c.Addresses)),
		slog.String("username", c.Username),
		slog.String("password", redact(c.Password)),
		slog.String("password_file", c.PasswordFile),
		slog.String("api_key", redact(c.APIKey)),
		slog.String("api_key_file", c.APIKeyFile),
		slog.String("ca_file", c.CAFile),
		slog.Bool("compress_request_body", c.CompressRequestBody),
		slog.Int("flush_bytes", c.FlushBytes),
		slog.Duration("timeout", c.Timeout),
		slog.String("dead_letter_index", c.DeadLetterIndex),
	)
}

// WithDefaults returns c with every unset field set to its default.
func (c Config) WithDefaults() Config { return c.withDefaults() }

// withDefaults returns c with every unset field set to its default.
func (c Config) withDefaults() Config {
	if len(c.Addresses) == 0 {
		c.Addresses = []string{DefaultAddress}
	}
	if c.CompressionLevel == 0 {
		c.CompressionLevel = DefaultCompressionLevel
	}
	if c.FlushBytes == 0 {
		c.FlushBytes = DefaultFlushBytes
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.DeadLetterIndex == "" {
		c.DeadLetterIndex = DefaultDeadLetterIndex
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Validate reports configuration errors. Unset fields are valid (they take
// their defaults).
func (c Config) Validate() error {
	var errs []error
	for i, a := range c.Addresses {
		u, err := url.Parse(a)
		if err != nil {
			// The parse error quotes the URL, which may hold a password:
			// only its reason is kept.
			reason := "malformed"
			var ue *url.Error
			if errors.As(err, &ue) && !strings.Contains(ue.Err.Error(), `"`) {
				reason = ue.Err.Error()
			}
			errs = append(errs, fmt.Errorf("address #%d %q is not a valid URL: %s", i+1, redact.URL(a), reason))
			continue
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			errs = append(errs, fmt.Errorf("address %q: scheme must be http or https", redact.URL(a)))
		}
		if u.Host == "" {
			errs = append(errs, fmt.Errorf("address %q: no host", redact.URL(a)))
		}
	}
	if c.Password != "" && c.PasswordFile != "" {
		errs = append(errs, errors.New("password and password_file are both set"))
	}
	if c.APIKey != "" && c.APIKeyFile != "" {
		errs = append(errs, errors.New("api_key and api_key_file are both set"))
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("cert_file and key_file must be set together"))
	}
	if c.CompressionLevel != 0 && (c.CompressionLevel < gzip.HuffmanOnly || c.CompressionLevel > gzip.BestCompression) {
		errs = append(errs, fmt.Errorf("compression_level %d out of range [%d, %d]", c.CompressionLevel, gzip.HuffmanOnly, gzip.BestCompression))
	}
	if c.FlushBytes < 0 {
		errs = append(errs, fmt.Errorf("flush_bytes %d is negative", c.FlushBytes))
	} else if c.FlushBytes != 0 && c.FlushBytes < 1024 {
		errs = append(errs, fmt.Errorf("flush_bytes %d is below 1024", c.FlushBytes))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s is negative", c.Timeout))
	}
	if d := c.DeadLetterIndex; d != "" {
		if d != strings.ToLower(d) || strings.ContainsAny(d, ` "*\<|,>/?#:`) || strings.HasPrefix(d, "_") || strings.HasPrefix(d, "-") {
			errs = append(errs, fmt.Errorf("dead_letter_index %q is not a valid index name", d))
		}
	}
	return errors.Join(errs...)
}

// readSecret reads a secret file, trimming surrounding whitespace.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func redactURLs(us []string) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = redact.URL(u)
	}
	return out
}
