// Package kafka is eximship's Kafka adapter: a consumer-group Source built on
// kafka-go's Reader (FetchMessage only) that commits, per partition, only the
// highest contiguously acknowledged offset, and a DeadLetterWriter that
// stores dead letters in a Kafka topic.
//
// Memory bound of a Source: at most MaxUnackedMessages / MaxUnackedBytes in
// batches handed out and not yet acknowledged (one message may exceed the
// byte bound), plus kafka-go's own buffers: QueueCapacity messages in the
// Reader's queue and up to MaxBytes of fetch response per assigned partition.
// With the defaults and 6 partitions: 64 MiB + 1000 messages + 6 x 4 MiB.
//
// kafka-go traps handled here (v0.4.51):
//   - ReadMessage commits before processing: only FetchMessage is used.
//   - The Reader's CommitInterval > 0 hides commit errors and drops pending
//     commits on rebalance: it stays 0 and commits are batched here, logged
//     and retried on failure.
//   - Messages queued before a rebalance are handed out after it (#1398):
//     the offset tracker restarts a partition whose offsets go backwards and
//     ignores late acknowledgements of the old run; commits below the
//     group's committed offset are not sent.
//   - Reader.Close can hang (#428, #1006): Close runs it in a goroutine and
//     returns at its context's deadline.
//   - MaxWait is also the fetch read deadline, with 1s of slack only when
//     MaxWait >= 2s: the default is 3s.
package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// StartOffset values for a consumer group without a committed offset.
const (
	StartFirst = "first"
	StartLast  = "last"
)

// Config configures a Source.
type Config struct {
	// Brokers are the bootstrap addresses (host:port). Required.
	Brokers []string
	// Topics are the topics consumed. Required (one or more).
	Topics []string
	// GroupID is the consumer group. Default: "eximship".
	GroupID string
	// ClientID identifies the client to the brokers. Default: "eximship".
	ClientID string

	// MinBytes is the fetch request's minimum response size. Default: 1.
	MinBytes int
	// MaxBytes is the fetch request's maximum response size, per partition.
	// Default: 4 MiB.
	MaxBytes int
	// MaxWait is how long a fetch waits for MinBytes, and kafka-go's read
	// deadline for the fetch: kafka-go asks the broker to answer 1s before
	// it (a quarter of MaxWait before when MaxWait <= 1s; exactly 1s makes
	// the broker answer at once, a busy poll), so values under 2s give
	// i/o timeouts and reconnects on idle partitions of a loaded broker.
	// It also bounds how long kafka-go's Reader.Close takes on an idle
	// partition. Default: 3s.
	MaxWait time.Duration
	// QueueCapacity is the capacity of kafka-go's internal message queue
	// (fetched, not yet returned by FetchMessage). Default: 1000.
	QueueCapacity int

	// BatchSize is the maximum number of messages per Read. Default: 1000.
	BatchSize int
	// BatchBytes is the maximum value bytes per Read (a single larger message
	// is still returned alone). Default: 4 MiB.
	BatchBytes int
	// Linger is how long Read waits to fill a batch once it holds one
	// message. Default: 200ms. Must be > 0.
	Linger time.Duration

	// MaxUnackedMessages bounds the messages returned by Read and not yet
	// acknowledged: Read blocks until acknowledgements free room.
	// Default: 50000.
	MaxUnackedMessages int
	// MaxUnackedBytes bounds the value bytes returned by Read and not yet
	// acknowledged. Default: 64 MiB.
	MaxUnackedBytes int64

	// CommitInterval is the period of the background commit of the
	// acknowledged offsets. Default: 1s.
	CommitInterval time.Duration
	// CommitTimeout bounds one commit round trip; a failed or timed-out
	// commit is logged and retried on the next tick. Default: 10s.
	CommitTimeout time.Duration

	// StartOffset is where a consumer group without a committed offset for
	// a partition starts: "first" (oldest retained) or "last" (only new
	// messages). Default: "first".
	StartOffset string

	// SessionTimeout is the consumer group session timeout. Default: 30s
	// (kafka-go's default).
	SessionTimeout time.Duration
	// RebalanceTimeout is how long the coordinator waits for members to
	// rejoin during a rebalance. Default: 30s (kafka-go's default).
	RebalanceTimeout time.Duration
	// HeartbeatInterval is the consumer group heartbeat period. Default: 3s.
	HeartbeatInterval time.Duration

	// LagInterval is the period at which the group's lag is measured
	// (Source.Lag, PartitionLags): the partitions' high watermarks against
	// the group's committed offsets. Default: 2s. Negative: never.
	LagInterval time.Duration

	// TLS configures encryption. Default: plaintext.
	TLS TLSConfig
	// SASL configures authentication. Default: none.
	SASL SASLConfig

	// Logger receives structured logs. Default: slog.Default().
	Logger *slog.Logger
}

// TLSConfig configures TLS to the brokers.
type TLSConfig struct {
	// Enabled turns TLS on. It is implied by any other field.
	Enabled bool
	// CAFile is a PEM bundle of CAs to trust. Default: system roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key (mutual TLS).
	CertFile, KeyFile string
	// ServerName overrides the name verified in the broker's certificate.
	ServerName string
	// InsecureSkipVerify disables certificate verification (tests only).
	InsecureSkipVerify bool
}

func (c TLSConfig) enabled() bool {
	return c.Enabled || c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != "" || c.InsecureSkipVerify
}

// SASL mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASLConfig configures SASL authentication. The password comes from
// exactly one of Password, PasswordEnv and PasswordFile, and is never
// logged.
type SASLConfig struct {
	// Mechanism is "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512". Empty: no SASL.
	Mechanism string
	// Username is the SASL user.
	Username string
	// Password is the password itself (eximship's config file takes it
	// from the file, ${VAR} or a *_file key; never from the command line).
	Password string
	// PasswordEnv names the environment variable holding the password.
	PasswordEnv string
	// PasswordFile is a file holding the password (trailing newline removed).
	PasswordFile string
}

// DefaultGroupID is the consumer group used when Config.GroupID is empty.
const DefaultGroupID = "eximship"

// WithDefaults returns c with every unset field set to its default.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.GroupID == "" {
		c.GroupID = DefaultGroupID
	}
	if c.ClientID == "" {
		c.ClientID = "eximship"
	}
	if c.MinBytes == 0 {
		c.MinBytes = 1
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 4 << 20
	}
	if c.MaxWait == 0 {
		c.MaxWait = 3 * time.Second
	}
	if c.QueueCapacity == 0 {
		c.QueueCapacity = 1000
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1000
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 4 << 20
	}
	if c.Linger == 0 {
		c.Linger = 200 * time.Millisecond
	}
	if c.MaxUnackedMessages == 0 {
		c.MaxUnackedMessages = 50000
	}
	if c.MaxUnackedBytes == 0 {
		c.MaxUnackedBytes = 64 << 20
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = time.Second
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = 10 * time.Second
	}
	if c.StartOffset == "" {
		c.StartOffset = StartFirst
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 3 * time.Second
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 30 * time.Second
	}
	if c.RebalanceTimeout == 0 {
		c.RebalanceTimeout = 30 * time.Second
	}
	if c.LagInterval == 0 {
		c.LagInterval = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports configuration errors (after defaults are applied). It
// does not contact the brokers, but it does read the TLS and password files.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	for _, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			errs = append(errs, errors.New("empty broker address"))
		}
	}
	if len(c.Topics) == 0 {
		errs = append(errs, errors.New("no topics"))
	}
	for _, t := range c.Topics {
		if t == "" {
			errs = append(errs, errors.New("empty topic name"))
		}
	}
	if c.MinBytes < 1 || c.MaxBytes < c.MinBytes {
		errs = append(errs, fmt.Errorf("fetch bytes must satisfy 1 <= min (%d) <= max (%d)", c.MinBytes, c.MaxBytes))
	}
	if c.MaxWait < 0 {
		errs = append(errs, fmt.Errorf("max wait must be >= 0, got %s", c.MaxWait))
	}
	if c.QueueCapacity < 1 {
		errs = append(errs, fmt.Errorf("queue capacity must be >= 1, got %d", c.QueueCapacity))
	}
	if c.BatchSize < 1 || c.BatchBytes < 1 {
		errs = append(errs, fmt.Errorf("batch size (%d) and batch bytes (%d) must be >= 1", c.BatchSize, c.BatchBytes))
	}
	if c.Linger <= 0 {
		errs = append(errs, fmt.Errorf("linger must be > 0, got %s", c.Linger))
	}
	if c.MaxUnackedMessages < 1 || c.MaxUnackedBytes < 1 {
		errs = append(errs, fmt.Errorf("max unacked messages (%d) and bytes (%d) must be >= 1", c.MaxUnackedMessages, c.MaxUnackedBytes))
	}
	if c.CommitInterval < 0 || c.CommitTimeout < 0 {
		errs = append(errs, fmt.Errorf("commit interval (%s) and timeout (%s) must be >= 0", c.CommitInterval, c.CommitTimeout))
	}
	if c.StartOffset != StartFirst && c.StartOffset != StartLast {
		errs = append(errs, fmt.Errorf("start offset must be %q or %q, got %q", StartFirst, StartLast, c.StartOffset))
	}
	if _, err := c.TLS.config(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.SASL.mechanism(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kafka config: %w", err)
	}
	return nil
}

func (c Config) startOffset() int64 {
	if c.StartOffset == StartLast {
		return kafkago.LastOffset
	}
	return kafkago.FirstOffset
}

// config builds the tls.Config, or nil when TLS is off.
func (c TLSConfig) config() (*tls.Config, error) {
	if !c.enabled() {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // explicit opt-in
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca file %s: no PEM certificate found", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("tls: cert file and key file must be given together")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// password reads the SASL password from the environment or a file.
func (c SASLConfig) password() (string, error) {
	n := 0
	for _, set := range []bool{c.Password != "", c.PasswordEnv != "", c.PasswordFile != ""} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return "", errors.New("sasl: give the password one way only: a password, a password env variable or a password file")
	case c.Password != "":
		return c.Password, nil
	case c.PasswordEnv != "":
		v, ok := os.LookupEnv(c.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("sasl: environment variable %s is not set", c.PasswordEnv)
		}
		return v, nil
	case c.PasswordFile != "":
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("sasl password file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", errors.New("sasl: no password, password env variable or password file")
}

// mechanism builds the SASL mechanism, or nil when SASL is off.
func (c SASLConfig) mechanism() (sasl.Mechanism, error) {
	if c.Mechanism == "" {
		return nil, nil
	}
	if c.Username == "" {
		return nil, errors.New("sasl: username is required")
	}
	pw, err := c.password()
	if err != nil {
		return nil, err
	}
	switch strings.ToUpper(c.Mechanism) {
	case SASLPlain:
		return plain.Mechanism{Username: c.Username, Password: pw}, nil
	case SASLScramSHA256:
		m, err := scram.Mechanism(scram.SHA256, c.Username, pw)
		if err != nil {
			return nil, fmt.Errorf("sasl scram: %w", err)
		}
		return m, nil
	case SASLScramSHA512:
		m, err := scram.Mechanism(scram.SHA512, c.Username, pw)
		if err != nil {
			return nil, fmt.Errorf("sasl scram: %w", err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("sasl: unknown mechanism %q (want %s, %s or %s)", c.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
}

// dialer builds the kafka-go Dialer for readers and admin connections.
func (c Config) dialer() (*kafkago.Dialer, error) {
	return newDialer(c.ClientID, c.TLS, c.SASL)
}

// security resolves the TLS configuration and SASL mechanism shared by
// dialers and transports.
func security(t TLSConfig, s SASLConfig) (*tls.Config, sasl.Mechanism, error) {
	tc, err := t.config()
	if err != nil {
		return nil, nil, err
	}
	mech, err := s.mechanism()
	if err != nil {
		return nil, nil, err
	}
	return tc, mech, nil
}

func newDialer(clientID string, t TLSConfig, s SASLConfig) (*kafkago.Dialer, error) {
	tc, mech, err := security(t, s)
	if err != nil {
		return nil, err
	}
	return &kafkago.Dialer{
		ClientID:      clientID,
		Timeout:       10 * time.Second,
		DualStack:     true,
		TLS:           tc,
		SASLMechanism: mech,
	}, nil
}

func newTransport(clientID string, t TLSConfig, s SASLConfig) (*kafkago.Transport, error) {
	tc, mech, err := security(t, s)
	if err != nil {
		return nil, err
	}
	return &kafkago.Transport{
		ClientID:    clientID,
		DialTimeout: 10 * time.Second,
		TLS:         tc,
		SASL:        mech,
	}, nil
}
