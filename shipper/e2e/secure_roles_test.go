package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/eximship/eximship/mapping"
	"github.com/eximship/eximship/shipper/elastic"
)

// TestSecureRolesIntegration: the eximship_setup role of docs/SECURITY.md
// is enough to install (and overwrite) every template; the run role is
// not, and the node's answer names the privilege. (The run role's
// sufficiency for run, and the replay role's for replay, are proven by
// TestSecureKafkaIntegration and TestSecureReplayIntegration.)
func TestSecureRolesIntegration(t *testing.T) {
	secure.wait(t)
	s := &secure
	client := func(user string) *elastic.Sink {
		t.Helper()
		sink, err := elastic.New(elastic.Config{Addresses: []string{s.esURL()}, Username: user,
			PasswordFile: s.path("es-" + user + ".password"), CAFile: s.path("ca.pem")})
		if err != nil {
			t.Fatal(err)
		}
		return sink
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	res, err := mapping.Install(ctx, client("eximship-setup").Client(), mapping.Options{Overwrite: true})
	if err != nil || res.DetectError != nil {
		t.Fatalf("install as eximship-setup: %v (detect: %v)", err, res.DetectError)
	}
	if len(res.Installed) == 0 {
		t.Fatalf("nothing installed with overwrite: %+v", res)
	}
	t.Logf("eximship-setup installed %v", res.Installed)

	_, err = mapping.Install(ctx, client("eximship-run").Client(), mapping.Options{Overwrite: true})
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "manage_index_templates") {
		t.Fatalf("install as eximship-run: %v, want a 403 naming manage_index_templates", err)
	}
	t.Logf("eximship-run: %v", err)
}
