package kibana

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// answer is a RoundTripper that gives every request the same answer.
type answer struct {
	code int
	body []byte
}

func (a answer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body) //nolint:errcheck // the request is not looked at
		r.Body.Close()
	}
	return &http.Response{StatusCode: a.code, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(a.body)), Request: r}, nil
}

// fuzzCodes are the statuses a fuzzed answer may have (the byte picks
// one): Kibana's and proxies' usual ones, 502-504 retried.
var fuzzCodes = []int{200, 200, 200, 200, 400, 401, 403, 404, 409, 413, 422, 500, 502, 503, 504}

const fuzzSecret = "fuzz-Secret-Pw-5d1e"

// FuzzAnswers: whatever Kibana (or a proxy in front of it) answers, the
// client neither panics nor reports success for a failed import, every
// non-200 answer is an error, and no error repeats the password unless
// the answer itself held it. Seeds: the recorded answers in testdata.
func FuzzAnswers(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.json")
	for _, p := range files {
		if b := filepath.Base(p); b == "exchanges.json" || b == "case.json" {
			continue
		}
		body, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(0), body)
	}
	f.Add(uint8(13), []byte(`{"statusCode":503,"error":"Service Unavailable","message":"Kibana server is not ready yet"}`))
	f.Add(uint8(0), []byte(`{"success":false,"successCount":0,"errors":[{"type":"lens","id":"x","error":{"type":"missing_references","references":[{"type":"index-pattern","id":"y"}]}}]}`))
	f.Add(uint8(0), []byte(`{"version":{"number":"8.18.1"},"status":{"overall":{"level":"available"}}}`))
	// a proxy's error status over a body that reads as success
	f.Add(uint8(4), []byte(`{"success":true,"successCount":1,"success_count":1,"version":{"number":"8.18.1"},"status":{"overall":{"level":"available"}}}`))
	f.Fuzz(func(t *testing.T, pick uint8, body []byte) {
		code := fuzzCodes[int(pick)%len(fuzzCodes)]
		c, err := New(Config{URL: "http://kibana.invalid:5601", Username: "eximship", Password: fuzzSecret,
			Transport: answer{code, body}, MaxRetries: 1, RetryBackoff: time.Microsecond, StartupTimeout: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		check := func(what string, err error) {
			if err == nil {
				if code != http.StatusOK {
					t.Fatalf("%s: HTTP %d taken for success", what, code)
				}
				return
			}
			msg := err.Error()
			if !bytes.Contains(body, []byte(fuzzSecret)) && strings.Contains(msg, fuzzSecret) {
				t.Fatalf("%s: the error shows the password: %s", what, msg)
			}
			if utf8.Valid(body) && !utf8.ValidString(msg) {
				t.Fatalf("%s: error not valid UTF-8: %q", what, msg)
			}
		}
		_, err = c.Status(ctx)
		check("status", err)
		for what, imp := range map[string]func(context.Context, []byte) (*ImportResult, error){
			"saved objects": c.ImportSavedObjects, "rules": c.ImportRules,
		} {
			res, err := imp(ctx, []byte(`{"id":"a"}`+"\n"))
			check(what, err)
			if err == nil && (res == nil || !res.Success || len(res.Errors) > 0) {
				t.Fatalf("%s: no error for %+v", what, res)
			}
		}
	})
}
