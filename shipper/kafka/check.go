package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper"
)

// CheckError is a failed start-up check of the brokers. Permanent errors
// (refused credentials, TLS trust or name, missing topics, nothing
// listening) will not pass by retrying; Refused ones are answers of the
// brokers (SASL credentials, ACLs, missing topics), the others mean they
// could not be reached as configured (eximship check's exit statuses 5
// and 4).
type CheckError = shipper.StartError

// GroupMember is a member of the consumer group seen at start.
type GroupMember struct {
	MemberID, ClientID, ClientHost string
}

// PreflightResult is what Preflight learnt.
type PreflightResult struct {
	// GroupState is the group's state ("Empty", "Stable",
	// "PreparingRebalance", "Dead" for a new group...).
	GroupState string
	// Members are the group's members before this process joins: members of
	// a process killed without leaving the group (kill -9) stay until their
	// session times out, and the group's partitions are only assigned
	// after that.
	Members []GroupMember
	// Partitions is the number of partitions of the consumed topics.
	Partitions int
}

// Preflight checks, before consuming, that the brokers answer with the
// configured TLS and SASL settings, that every configured topic and each of
// extraTopics (the dead-letter topic) exists, and describes the consumer
// group. Its errors are *CheckError with a message naming the cause.
func Preflight(ctx context.Context, cfg Config, extraTopics ...string) (PreflightResult, error) {
	cfg.setDefaults()
	var res PreflightResult
	tr, err := newTransport(cfg.ClientID, cfg.TLS, cfg.SASL)
	if err != nil {
		return res, &CheckError{Permanent: true, Msg: "kafka security settings", Err: err}
	}
	defer tr.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: tr}
	topics := append(append([]string(nil), cfg.Topics...), extraTopics...)
	parts, err := checkTopics(ctx, client, cfg, topics)
	if err != nil {
		return res, err
	}
	for _, t := range cfg.Topics {
		res.Partitions += parts[t]
	}
	d, err := client.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: []string{cfg.GroupID}})
	if err != nil {
		return res, &CheckError{Msg: fmt.Sprintf("describe consumer group %q", cfg.GroupID), Err: explain(cfg, err)}
	}
	for _, g := range d.Groups {
		if g.GroupID != cfg.GroupID {
			continue
		}
		if g.Error != nil {
			return res, &CheckError{Msg: fmt.Sprintf("describe consumer group %q", cfg.GroupID), Err: g.Error,
				Refused: errors.Is(g.Error, kafkago.GroupAuthorizationFailed)}
		}
		res.GroupState = g.GroupState
		for _, m := range g.Members {
			res.Members = append(res.Members, GroupMember{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost})
		}
	}
	return res, nil
}

// checkTopics asks the brokers for topics and fails naming each one that
// does not exist or cannot be described; it returns the number of
// partitions of each.
func checkTopics(ctx context.Context, client *kafkago.Client, cfg Config, topics []string) (map[string]int, error) {
	resp, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, explainCheck(cfg, err)
	}
	found := make(map[string]error, len(resp.Topics))
	parts := make(map[string]int, len(resp.Topics))
	for _, t := range resp.Topics {
		found[t.Name] = t.Error
		parts[t.Name] = len(t.Partitions)
	}
	var errs []error
	for _, name := range topics {
		terr, ok := found[name]
		switch {
		case !ok || errors.Is(terr, kafkago.UnknownTopicOrPartition):
			errs = append(errs, fmt.Errorf("topic %q does not exist (create it, or fix the topic name)", name))
		case errors.Is(terr, kafkago.TopicAuthorizationFailed):
			errs = append(errs, fmt.Errorf("topic %q: not authorized (grant the user Describe and Read, or Write for the dead-letter topic)", name))
		case terr != nil:
			errs = append(errs, fmt.Errorf("topic %q: %w", name, terr))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, &CheckError{Permanent: true, Refused: true, Msg: "kafka topics", Err: err}
	}
	return parts, nil
}

// explainCheck wraps an error of a request to the brokers in a CheckError.
func explainCheck(cfg Config, err error) *CheckError {
	var ce *CheckError
	if errors.As(explain(cfg, err), &ce) {
		return ce
	}
	return &CheckError{Msg: fmt.Sprintf("cannot reach the Kafka brokers %s", strings.Join(cfg.Brokers, ", ")), Err: err}
}

// explain returns err as a *CheckError saying what it likely means, or err
// itself when it means nothing in particular.
func explain(cfg Config, err error) error {
	brokers := strings.Join(cfg.Brokers, ", ")
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		recHdr    tls.RecordHeaderError
		dnsErr    *net.DNSError
		opErr     *net.OpError
	)
	msg := err.Error()
	perm := func(m string) error { return &CheckError{Permanent: true, Msg: m, Err: err} }
	refused := func(m string) error { return &CheckError{Permanent: true, Refused: true, Msg: m, Err: err} }
	switch {
	case errors.Is(err, kafkago.SASLAuthenticationFailed):
		return refused(fmt.Sprintf("Kafka refused the SASL credentials of user %q (%s): check kafka.sasl.username and the password", cfg.SASL.Username, cfg.SASL.Mechanism))
	case errors.Is(err, kafkago.UnsupportedSASLMechanism):
		return perm(fmt.Sprintf("the Kafka listener at %s does not accept SASL mechanism %s: set kafka.sasl.mechanism to one it enables (sasl.enabled.mechanisms), or remove kafka.sasl for a listener without SASL", brokers, cfg.SASL.Mechanism))
	case errors.Is(err, kafkago.IllegalSASLState):
		return perm(fmt.Sprintf("the Kafka listener at %s does not use SASL: remove kafka.sasl, or use the broker's SASL listener", brokers))
	case errors.As(err, &unknownCA):
		return perm(fmt.Sprintf("TLS: the certificate of the Kafka broker (%s) is not signed by a trusted CA: set kafka.tls.ca_file to the CA that signed it", brokers))
	case errors.As(err, &hostErr):
		return perm(fmt.Sprintf("TLS: the certificate of the Kafka broker is not valid for the name %q: set kafka.tls.server_name to a name in the certificate, or use such a name in kafka.brokers", hostErr.Host))
	case errors.As(err, &invalid):
		return perm(fmt.Sprintf("TLS: the certificate of the Kafka broker (%s) is invalid", brokers))
	case errors.As(err, &recHdr):
		return perm(fmt.Sprintf("the Kafka listener at %s does not speak TLS: remove kafka.tls, or use the broker's SSL/SASL_SSL listener", brokers))
	case strings.Contains(msg, "certificate required") || strings.Contains(msg, "bad certificate") || strings.Contains(msg, "unknown certificate authority") || strings.Contains(msg, "handshake failure"):
		return perm(fmt.Sprintf("TLS: the Kafka broker (%s) refused the handshake (it wants a client certificate it trusts): set kafka.tls.cert_file and key_file to a certificate signed by a CA the broker trusts", brokers))
	case errors.Is(err, syscall.ECONNREFUSED):
		return perm(fmt.Sprintf("nothing listens at %s (connection refused): is Kafka running, and are kafka.brokers right?", brokers))
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return perm(fmt.Sprintf("unknown broker host in %s (DNS): check kafka.brokers", brokers))
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(msg, "connection reset"):
		hint := "if the listener uses TLS, set kafka.tls; if it uses SASL, set kafka.sasl; or the address is not a Kafka broker"
		switch {
		case cfg.SASL.Mechanism != "":
			hint = "check the SASL credentials, and that the listener's security protocol matches kafka.tls and kafka.sasl (SASL_SSL needs both, SSL only tls, SASL_PLAINTEXT only sasl)"
		case cfg.TLS.enabled():
			hint = "check that the listener's security protocol matches kafka.tls and kafka.sasl (SASL_SSL needs both, SSL only tls, SASL_PLAINTEXT only sasl)"
		}
		return perm(fmt.Sprintf("the Kafka broker at %s closed the connection: %s", brokers, hint))
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &opErr) && opErr.Timeout()):
		return &CheckError{Msg: fmt.Sprintf("no answer from the Kafka brokers %s in time: are they reachable, and Kafka listeners? (a server that is not Kafka, such as an HTTP port, or a TLS listener reached without kafka.tls, stays silent to Kafka's requests)", brokers), Err: err}
	}
	return err
}

// Temporary reports whether a start-up error may pass by retrying.
func Temporary(err error) bool { return shipper.TemporaryStart(err) }

// CheckTopics asks the brokers for the configured topics and fails naming
// each one that does not exist or cannot be described: with topic
// auto-creation off (the usual production setting), a missing topic would
// otherwise leave the consumer waiting forever with no partition assigned.
func (s *Source) CheckTopics(ctx context.Context) error {
	_, err := checkTopics(ctx, s.client, s.cfg, s.cfg.Topics)
	return err
}

// Ping checks that the brokers answer (for /readyz): a metadata request for
// the consumed topics.
func (s *Source) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: s.cfg.Topics}); err != nil {
		return explain(s.cfg, err)
	}
	return nil
}
