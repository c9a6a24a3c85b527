package elastic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/eximship/eximship/shipper"
)

// bulkPath is the bulk endpoint with the response trimmed to what the
// classification needs: a successful item costs ~25 bytes of response.
const bulkPath = "/_bulk?filter_path=errors,items.*.error,items.*.status"

// appendCreate appends the bulk action line and the document line of one
// document to dst.
func appendCreate(dst []byte, stream, id string, body []byte) []byte {
	dst = append(dst, `{"create":{"_index":`...)
	dst = appendJSONString(dst, stream)
	dst = append(dst, `,"_id":`...)
	dst = appendJSONString(dst, id)
	dst = append(dst, "}}\n"...)
	dst = append(dst, body...)
	return append(dst, '\n')
}

// appendJSONString appends s as a JSON string. Ids and stream names are
// plain ASCII in practice, so the common path copies bytes; anything else
// goes through encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			b, _ := json.Marshal(s) // cannot fail for a string
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// checkBody returns the document body to put on one bulk line, or an error
// when the body cannot be sent without corrupting the bulk request (a bulk
// request is line-oriented: an empty body or one spanning lines would shift
// every following action). Valid JSON spanning lines is compacted; other
// JSON errors are left for Elasticsearch to report on the item.
func checkBody(body []byte, scratch *bytes.Buffer) ([]byte, error) {
	t := bytes.TrimSpace(body)
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return nil, errors.New("document body is not a JSON object")
	}
	if bytes.IndexByte(t, '\n') < 0 {
		return t, nil
	}
	scratch.Reset()
	if err := json.Compact(scratch, t); err != nil {
		return nil, fmt.Errorf("document body spans lines and is not valid JSON: %w", err)
	}
	return scratch.Bytes(), nil
}

// itemResult is one item of a bulk response.
type itemResult struct {
	Status int        `json:"status"`
	Error  *itemError `json:"error"`
}

type itemError struct {
	Type     string     `json:"type"`
	Reason   string     `json:"reason"`
	CausedBy *itemError `json:"caused_by"`
}

// String renders the error as "type: reason (caused by: type: reason)",
// the format ItemError.Reason uses throughout eximship.
func (e *itemError) String() string {
	if e == nil {
		return ""
	}
	s := e.Type + ": " + e.Reason
	if e.CausedBy != nil && (e.CausedBy.Type != "" || e.CausedBy.Reason != "") {
		s += " (caused by: " + e.CausedBy.Type + ": " + e.CausedBy.Reason + ")"
	}
	return truncate(s, maxReasonLen)
}

// bulkResponse is a bulk response trimmed by bulkPath. Items are keyed by
// the operation; eximship sends only create, index is accepted too.
type bulkResponse struct {
	Errors *bool `json:"errors"`
	Items  []struct {
		Create *itemResult `json:"create"`
		Index  *itemResult `json:"index"`
	} `json:"items"`
}

var (
	errorsFalse = []byte(`{"errors":false,"items":[`)
	errorsTrue  = []byte(`{"errors":true,"items":[`)
	fastSuffix  = []byte(`]}`)
	statusKey   = []byte(`"status":`)
)

// allOK reports, without decoding, whether body is a complete bulk
// response for n items that all succeeded (2xx or 409). It covers the
// common cases: errors:false, and errors:true from 409s only (a batch sent
// again after a restart or rebalance). Anything else is decoded in full by
// parseBulk. A "status" key can only appear as a key (inside strings its
// quotes are escaped); a nested one makes the count differ, which also
// falls back to full decoding.
func allOK(body []byte, n int) bool {
	b := bytes.TrimSpace(body)
	if !bytes.HasSuffix(b, fastSuffix) {
		return false
	}
	if !bytes.HasPrefix(b, errorsFalse) && !bytes.HasPrefix(b, errorsTrue) {
		return false
	}
	count := 0
	for rest := b; ; {
		i := bytes.Index(rest, statusKey)
		if i < 0 {
			break
		}
		rest = rest[i+len(statusKey):]
		st, j := 0, 0
		for j < len(rest) && j < 4 && rest[j] >= '0' && rest[j] <= '9' {
			st = st*10 + int(rest[j]-'0')
			j++
		}
		if j == 0 || !statusOK(st) {
			return false
		}
		count++
	}
	// No json.Valid for errors:true bodies: it would cost 20x the scan for
	// the 409 replay case, and a body whose prefix, suffix, item count and
	// every status are right has told us everything we use from it.
	return count == n
}

// parseBulk decodes a bulk response for n items and calls fail for each
// item that was not written (2xx and 409 count as written). It returns an
// error when the body is not a bulk response for n items.
func parseBulk(body []byte, n int, fail func(i, status int, reason string)) error {
	if allOK(body, n) {
		return nil
	}
	var r bulkResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("decoding bulk response: %w", err)
	}
	if r.Errors == nil {
		return errors.New("bulk response has no \"errors\" field")
	}
	if len(r.Items) != n {
		return fmt.Errorf("bulk response has %d items for %d documents", len(r.Items), n)
	}
	// The statuses are checked even when errors is false: trusting the flag
	// over a failed item would lose the document.
	for i, it := range r.Items {
		res := it.Create
		if res == nil {
			res = it.Index
		}
		if res == nil || res.Status == 0 {
			return fmt.Errorf("bulk response item %d has no status", i)
		}
		if statusOK(res.Status) {
			continue
		}
		reason := res.Error.String()
		if reason == "" {
			reason = "status " + strconv.Itoa(res.Status)
		}
		fail(i, res.Status, reason)
	}
	return nil
}

// statusOK reports whether an item status means the document is in
// Elasticsearch: 2xx, or 409 (a create of an id that exists: the document
// was indexed by an earlier attempt).
func statusOK(status int) bool {
	return status >= 200 && status < 300 || status == 409
}

// statusRetry reports whether a failed item may succeed when sent again:
// 429 (queue full, circuit breaker), 5xx, and the refusals that are the
// operator's to fix, not the document's fault: 403 (a write block such as
// index.blocks.write, cluster_block_exception; or a missing privilege,
// security_exception) and 401. Every other status (400 mapping and parsing
// errors, 404 ...) is final: a dead letter.
func statusRetry(status int) bool {
	return status == 429 || status >= 500 || status == 403 || status == 401
}

// retryCause classifies a failed item or request (shipper.Cause*) from its
// status and its reason ("<es error type>: ..." or a response body).
func retryCause(status int, reason string) string {
	switch {
	case status == 429:
		return shipper.CauseRejected
	case status >= 500:
		return shipper.CauseServerError
	case status == 401:
		return shipper.CauseUnauthorized
	case status == 403:
		if strings.Contains(reason, "cluster_block_exception") {
			return shipper.CauseBlocked
		}
		return shipper.CauseForbidden
	case status == 0:
		return shipper.CauseUnavailable
	}
	return shipper.CauseOther
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
