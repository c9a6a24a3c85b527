package elastic

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper"
)

// Items of a bulk answer a real node gave (8.19, the secured node of
// scripts/stack, user eximship-run): a write block on the data stream's
// backing index (PUT <index>/_settings {"index.blocks.write":true}), and an
// index outside the user's privileges.
const (
	blockedItem   = `{"create":{"status":403,"error":{"type":"cluster_block_exception","reason":"index [.ds-logs-exim.sectest-a-2026.12.01-000001] blocked by: [FORBIDDEN/8/index write (api)];"}}}`
	forbiddenItem = `{"create":{"status":403,"error":{"type":"security_exception","reason":"action [indices:admin/auto_create] is unauthorized for user [eximship-run] with effective roles [eximship_run] on indices [other-index], this action is granted by the index privileges [auto_configure,create_index,manage,all]"}}}`
)

// TestRefusedItemsAreRetried: 403 items (a write block, a missing
// privilege) are the operator's to fix, not the document's fault: they are
// retryable (never dead letters), with a cause that raises the alarm.
func TestRefusedItemsAreRetried(t *testing.T) {
	f := &fakeES{handler: func(int, *http.Request, []byte) (int, string, error) {
		return 200, `{"errors":true,"items":[{"create":{"status":201}},` + blockedItem + `,` + forbiddenItem + `]}`, nil
	}}
	s := newTestSink(t, f, nil)
	be := batchError(t, s.WriteBatch(context.Background(), testDocs(3)))
	if len(be.Items) != 2 {
		t.Fatalf("items %+v", be.Items)
	}
	want := []struct {
		cause, reason string
	}{
		{shipper.CauseBlocked, "cluster_block_exception: index [.ds-logs-exim.sectest-a-2026.12.01-000001] blocked by: [FORBIDDEN/8/index write (api)]"},
		{shipper.CauseForbidden, "security_exception: action [indices:admin/auto_create] is unauthorized for user [eximship-run]"},
	}
	for i, w := range want {
		it := be.Items[i]
		if it.Index != i+1 || it.Status != 403 || !it.Retry || it.Cause != w.cause || !strings.HasPrefix(it.Reason, w.reason) {
			t.Errorf("item %+v, want index %d, 403, retry, cause %s, reason %q", it, i+1, w.cause, w.reason)
		}
	}
	if !strings.Contains(be.Items[1].Reason, "auto_configure") {
		t.Errorf("the missing privilege is not named: %q", be.Items[1].Reason)
	}
}

func TestItemCauses(t *testing.T) {
	f := &fakeES{handler: func(int, *http.Request, []byte) (int, string, error) {
		return 200, respond(429, 503, 400), nil
	}}
	s := newTestSink(t, f, nil)
	be := batchError(t, s.WriteBatch(context.Background(), testDocs(3)))
	got := []string{be.Items[0].Cause, be.Items[1].Cause, be.Items[2].Cause}
	if got[0] != shipper.CauseRejected || got[1] != shipper.CauseServerError || got[2] != "" || be.Items[2].Retry {
		t.Errorf("causes %q (items %+v)", got, be.Items)
	}
}

func TestRequestErrorCauses(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		cause  string
	}{
		{429, `{"error":{"type":"es_rejected_execution_exception"}}`, shipper.CauseRejected},
		{502, `bad gateway`, shipper.CauseServerError},
		{401, `{"error":{"type":"security_exception","reason":"unable to authenticate user [x]"}}`, shipper.CauseUnauthorized},
		{403, `{"error":{"type":"security_exception","reason":"action [indices:data/write/bulk] is unauthorized"}}`, shipper.CauseForbidden},
		{403, `{"error":{"type":"cluster_block_exception","reason":"blocked by: [FORBIDDEN/12/index read-only / allow delete (api)]"}}`, shipper.CauseBlocked},
		{400, `{"error":"bad"}`, shipper.CauseOther},
	} {
		f := &fakeES{handler: func(int, *http.Request, []byte) (int, string, error) { return tc.status, tc.body, nil }}
		s := newTestSink(t, f, nil)
		err := s.WriteBatch(context.Background(), testDocs(1))
		var rc shipper.RetryCauser
		if !errors.As(err, &rc) || rc.RetryCause() != tc.cause {
			t.Errorf("%d %s: error %v, want cause %s", tc.status, tc.body, err, tc.cause)
		}
	}
}

func TestOnBulk(t *testing.T) {
	var mu sync.Mutex
	var statuses []int
	var errs []error
	f := &fakeES{handler: func(n int, _ *http.Request, _ []byte) (int, string, error) {
		if n == 1 {
			return 0, "", errors.New("connection refused")
		}
		return 200, respond(201), nil
	}}
	s := newTestSink(t, f, func(c *Config) {
		c.OnBulk = func(took time.Duration, status int, err error) {
			mu.Lock()
			defer mu.Unlock()
			if took <= 0 {
				t.Errorf("duration %v", took)
			}
			statuses = append(statuses, status)
			errs = append(errs, err)
		}
	})
	ctx := context.Background()
	if err := s.WriteBatch(ctx, testDocs(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteBatch(ctx, testDocs(1)); err == nil {
		t.Fatal("no error for a refused connection")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) != 2 || statuses[0] != 200 || errs[0] != nil || statuses[1] != 0 || errs[1] == nil {
		t.Errorf("OnBulk saw statuses %v errors %v", statuses, errs)
	}
}

func TestConflictsCounted(t *testing.T) {
	f := &fakeES{handler: func(int, *http.Request, []byte) (int, string, error) {
		return 200, respond(201, 409, 409, 400), nil
	}}
	s := newTestSink(t, f, nil)
	_ = s.WriteBatch(context.Background(), testDocs(4))
	if s.Conflicts() != 2 {
		t.Errorf("Conflicts() = %d, want 2", s.Conflicts())
	}
}
