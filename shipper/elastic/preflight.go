package elastic

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/redact"
)

// Privileges are Elasticsearch security privileges a command needs.
type Privileges struct {
	// Cluster privileges, e.g. "monitor", "manage_index_templates".
	Cluster []string
	// Indices are index privileges on index names or patterns.
	Indices []IndexPrivileges
}

// IndexPrivileges are privileges on some index names.
type IndexPrivileges struct {
	Names      []string
	Privileges []string
	// Optional privileges are only reported as warnings when missing (for
	// example auto_configure, needed only to create a data stream that does
	// not exist yet).
	Optional []string
}

// Identity is who Elasticsearch says we are (GET /_security/_authenticate).
type Identity struct {
	// Security is false when the cluster has security disabled (then the
	// other fields are empty and every request is allowed).
	Security bool
	Username string
	Roles    []string
	Realm    string
	// AuthType is "realm", "api_key", "token"...
	AuthType string
}

// PreflightError is a failed start-up check of Elasticsearch. Permanent
// errors (wrong URL scheme, TLS trust or name, refused credentials,
// missing privileges, not Elasticsearch, nothing listening) will not pass
// by retrying; the others (timeouts, 429, 5xx) may. Refused ones are
// answers (credentials, missing privileges); the others mean it could not
// be reached or did not answer as Elasticsearch (eximship check's exit
// statuses 5 and 4).
type PreflightError = shipper.StartError

// Performer sends one request (*elasticsearch.Client does).
type Performer interface {
	Perform(*http.Request) (*http.Response, error)
}

// Preflight checks, before anything else is sent, that the node at address
// answers as Elasticsearch over the configured scheme and TLS, accepts the
// credentials, and grants need. It sends GET /_security/_authenticate and,
// when security is on and need is not empty, POST
// /_security/user/_has_privileges (neither needs a privilege). It returns
// the identity and warnings (missing optional privileges); its errors are
// *PreflightError. address is only used in messages (the client knows the
// URLs); pass the first configured address.
func Preflight(ctx context.Context, es Performer, address string, need Privileges) (Identity, []string, error) {
	var id Identity
	status, hdr, body, err := call(ctx, es, http.MethodGet, "/_security/_authenticate", nil)
	if err != nil {
		return id, nil, explainTransport(address, err)
	}
	product := hdr.Get("X-Elastic-Product") == "Elasticsearch"
	switch {
	case status == http.StatusUnauthorized:
		return id, nil, &PreflightError{Permanent: true, Refused: true,
			Msg: fmt.Sprintf("Elasticsearch at %s refused the credentials (401 Unauthorized: %s): check elasticsearch.username and password (or password_file), or api_key; with no credentials configured, the cluster requires some", redact.URL(address), esReason(body))}
	case status == http.StatusOK && product:
		var a struct {
			Username string   `json:"username"`
			Roles    []string `json:"roles"`
			Realm    struct {
				Name string `json:"name"`
			} `json:"authentication_realm"`
			AuthType string `json:"authentication_type"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return id, nil, &PreflightError{Msg: "decoding the answer of GET /_security/_authenticate", Err: err}
		}
		id = Identity{Security: true, Username: a.Username, Roles: a.Roles, Realm: a.Realm.Name, AuthType: a.AuthType}
	case product && status < 500 && status != http.StatusTooManyRequests:
		// Security disabled: the _security endpoints are not there (the
		// node answers 400, 404 or 405), every request is allowed.
		return Identity{}, nil, nil
	case bytes.Contains(body, []byte("HTTP request to an HTTPS server")):
		return id, nil, &PreflightError{Permanent: true,
			Msg: fmt.Sprintf("%s serves HTTPS: use https:// in elasticsearch.addresses", redact.URL(address))}
	case status == http.StatusTooManyRequests || status >= 500:
		return id, nil, &PreflightError{Msg: fmt.Sprintf("Elasticsearch at %s is not ready: %d %s: %s", redact.URL(address), status, http.StatusText(status), snippetOf(body))}
	default:
		return id, nil, &PreflightError{Permanent: true,
			Msg: fmt.Sprintf("%s does not answer as Elasticsearch (status %d, no X-Elastic-Product header: %s): check elasticsearch.addresses (the HTTP port, 9200 by default, with any path prefix of a proxy)", redact.URL(address), status, snippetOf(body))}
	}
	if len(need.Cluster) == 0 && len(need.Indices) == 0 {
		return id, nil, nil
	}
	warnings, err := checkPrivileges(ctx, es, id, need)
	return id, warnings, err
}

func checkPrivileges(ctx context.Context, es Performer, id Identity, need Privileges) ([]string, error) {
	type indexReq struct {
		Names      []string `json:"names"`
		Privileges []string `json:"privileges"`
	}
	req := struct {
		Cluster []string   `json:"cluster,omitempty"`
		Index   []indexReq `json:"index,omitempty"`
	}{Cluster: need.Cluster}
	for _, ip := range need.Indices {
		req.Index = append(req.Index, indexReq{Names: ip.Names, Privileges: append(append([]string(nil), ip.Privileges...), ip.Optional...)})
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding the privileges request: %w", err)
	}
	status, _, body, err := call(ctx, es, http.MethodPost, "/_security/user/_has_privileges", b)
	if err != nil {
		return nil, &PreflightError{Msg: "checking privileges", Err: err}
	}
	if status != http.StatusOK {
		return nil, &PreflightError{Permanent: status != 429 && status < 500, Refused: status == 401 || status == 403,
			Msg: fmt.Sprintf("checking privileges: POST /_security/user/_has_privileges answered %d: %s", status, esReason(body))}
	}
	var res struct {
		All     bool                       `json:"has_all_requested"`
		Cluster map[string]bool            `json:"cluster"`
		Index   map[string]map[string]bool `json:"index"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, &PreflightError{Msg: "decoding the answer of _has_privileges", Err: err}
	}
	var missing, warnings []string
	for _, c := range need.Cluster {
		if !res.Cluster[c] {
			missing = append(missing, "cluster privilege "+c)
		}
	}
	for _, ip := range need.Indices {
		for _, group := range []struct {
			privs []string
			out   *[]string
		}{{ip.Privileges, &missing}, {ip.Optional, &warnings}} {
			for _, pr := range group.privs {
				var on []string
				for _, n := range ip.Names {
					if !res.Index[n][pr] {
						on = append(on, n)
					}
				}
				if len(on) > 0 {
					*group.out = append(*group.out, fmt.Sprintf("index privilege %s on %s", pr, strings.Join(on, ", ")))
				}
			}
		}
	}
	for i, w := range warnings {
		warnings[i] = fmt.Sprintf("user %s lacks %s: it cannot create these data streams if they do not exist yet", id.Username, w)
	}
	if len(missing) == 0 {
		return warnings, nil
	}
	roles := append([]string(nil), id.Roles...)
	sort.Strings(roles)
	return warnings, &PreflightError{Permanent: true, Refused: true,
		Msg: fmt.Sprintf("Elasticsearch user %s (roles: %s) lacks %s: grant the roles of docs/SECURITY.md", id.Username, strings.Join(roles, ", "), strings.Join(missing, "; "))}
}

// call sends one request and reads the whole answer.
func call(ctx context.Context, es Performer, method, path string, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := es.Perform(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return res.StatusCode, res.Header, nil, fmt.Errorf("reading the answer of %s %s: %w", method, path, err)
	}
	return res.StatusCode, res.Header, b, nil
}

// esReason extracts error.reason from an Elasticsearch error body.
func esReason(body []byte) string {
	var e struct {
		Error struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Reason != "" {
		return e.Error.Type + ": " + e.Error.Reason
	}
	return snippetOf(body)
}

func snippetOf(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "empty body"
	}
	return truncate(strings.ToValidUTF8(s, "?"), 300)
}

// Temporary reports whether a start-up error may pass by retrying.
func Temporary(err error) bool { return shipper.TemporaryStart(err) }

// explainTransport turns an error of a request that got no HTTP answer into
// a PreflightError saying what is likely wrong.
func explainTransport(address string, err error) *PreflightError {
	addr := redact.URL(address)
	scheme, host := "", addr
	if u, perr := url.Parse(address); perr == nil {
		scheme, host = u.Scheme, u.Host
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		recHdr    tls.RecordHeaderError
		opErr     *net.OpError
		dnsErr    *net.DNSError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &unknownCA):
		return &PreflightError{Permanent: true, Err: err,
			Msg: fmt.Sprintf("TLS: the certificate of %s is not signed by a trusted CA: set elasticsearch.ca_file to the CA that signed it", host)}
	case errors.As(err, &hostErr):
		return &PreflightError{Permanent: true, Err: err,
			Msg: fmt.Sprintf("TLS: the certificate of %s is not valid for that name: use an address matching the certificate", host)}
	case errors.As(err, &invalid):
		return &PreflightError{Permanent: true, Err: err, Msg: fmt.Sprintf("TLS: the certificate of %s is invalid", host)}
	case errors.As(err, &recHdr) || strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return &PreflightError{Permanent: true, Err: err,
			Msg: fmt.Sprintf("%s speaks plain HTTP, not TLS: use http:// in elasticsearch.addresses, or enable TLS on the node", host)}
	case strings.Contains(msg, "certificate required") || strings.Contains(msg, "bad certificate") || strings.Contains(msg, "unknown certificate authority") || strings.Contains(msg, "handshake failure"):
		return &PreflightError{Permanent: true, Err: err,
			Msg: fmt.Sprintf("TLS: %s refused the handshake (it wants a client certificate it trusts): set elasticsearch.cert_file and key_file to a certificate signed by a CA the node trusts", host)}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &PreflightError{Permanent: true, Err: err,
			Msg: fmt.Sprintf("nothing listens at %s (connection refused): is Elasticsearch running, and is elasticsearch.addresses right?", host)}
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return &PreflightError{Permanent: true, Err: err, Msg: fmt.Sprintf("the host of %s is unknown (DNS): check elasticsearch.addresses", addr)}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(msg, "malformed HTTP") || strings.Contains(msg, "connection reset"):
		hint := "is it the node's HTTP port (9200 by default), not its transport port (9300) or another service?"
		if scheme == "http" {
			hint = "if the node serves HTTPS, use https:// in elasticsearch.addresses; otherwise check it is the node's HTTP port (9200 by default), not its transport port (9300) or another service"
		}
		return &PreflightError{Permanent: true, Err: err,
			Msg: fmt.Sprintf("%s closed the connection without an HTTP answer: %s", host, hint)}
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &opErr) && opErr.Timeout()):
		return &PreflightError{Err: err, Msg: fmt.Sprintf("no answer from %s in time", host)}
	case strings.Contains(msg, "the client noticed that the server is not Elasticsearch"):
		return &PreflightError{Permanent: true, Err: err,
			Msg: fmt.Sprintf("%s does not answer as Elasticsearch (no X-Elastic-Product header): check elasticsearch.addresses", addr)}
	}
	return &PreflightError{Err: err, Msg: fmt.Sprintf("cannot reach Elasticsearch at %s", addr)}
}

// Ping checks that Elasticsearch answers and accepts the credentials (for
// /readyz): GET /_cluster/health. A 403 (no monitor privilege) still
// proves both; 401, 429, 5xx and transport errors do not.
func (s *Sink) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	status, _, body, err := call(ctx, s.client, http.MethodGet, "/_cluster/health?filter_path=status", nil)
	if err != nil {
		return explainTransport(s.cfg.Addresses[0], err)
	}
	if status == http.StatusOK || status == http.StatusForbidden {
		return nil
	}
	return fmt.Errorf("elasticsearch answered %d %s: %s", status, http.StatusText(status), esReason(body))
}
