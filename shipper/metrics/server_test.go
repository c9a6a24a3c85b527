package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// waitStatus polls url until it answers want, or fails after 5s.
func waitStatus(t *testing.T, url string, want int) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := get(t, url)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d %q, want %d", url, code, body, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServerEndpoints(t *testing.T) {
	m := New(BuildInfo{Version: "v"})
	m.Consumed(1, 1)
	var esErr atomic.Value
	esErr.Store(errors.New("connection refused"))
	started := make(chan struct{})
	gate := make(chan struct{})
	s, err := NewServer(ServerConfig{Address: "127.0.0.1:0", CheckInterval: 20 * time.Millisecond, Logger: discard()}, m,
		Check{Name: "elasticsearch", Run: func(context.Context) error {
			select {
			case <-started:
			default:
				close(started)
				<-gate // the first round waits: /readyz must say "starting"
			}
			if e, _ := esErr.Load().(error); e != nil && e.Error() != "" {
				return e
			}
			return nil
		}},
		Check{Name: "kafka", Run: func(context.Context) error { return nil }},
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	base := "http://" + s.Addr()

	<-started
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "starting") {
		t.Errorf("readyz before any check: %d %q", code, body)
	}
	close(gate)
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	body := waitStatus(t, base+"/readyz", 503)
	for {
		if strings.Contains(body, "elasticsearch: failed: connection refused") && strings.Contains(body, "kafka: ok") {
			break
		}
		body = waitStatus(t, base+"/readyz", 503)
	}
	esErr.Store(errors.New(""))
	if body := waitStatus(t, base+"/readyz", 200); body != "elasticsearch: ok\nkafka: ok\n" {
		t.Errorf("readyz when ready: %q", body)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "eximship_messages_consumed_total 1") {
		t.Errorf("metrics: %d %.200q", code, body)
	}
	if code, _ := get(t, base+"/debug/pprof/"); code != 404 {
		t.Errorf("pprof without the flag: %d, want 404", code)
	}
	s.SetDraining()
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "draining") {
		t.Errorf("readyz while draining: %d %q", code, body)
	}
}

func TestServerPprofAndAddressInUse(t *testing.T) {
	s, err := NewServer(ServerConfig{Address: "127.0.0.1:0", Pprof: true, Logger: discard()}, New(BuildInfo{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if code, body := get(t, "http://"+s.Addr()+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof: %d %.100q", code, body)
	}
	// No checks: ready once the (empty) first round ran.
	waitStatus(t, "http://"+s.Addr()+"/readyz", 200)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s2, err := NewServer(ServerConfig{Address: ln.Addr().String(), Logger: discard()}, New(BuildInfo{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Start on a used address: %v", err)
	}
}

func TestServerConfigValidate(t *testing.T) {
	for _, a := range []string{"", "9464", "localhost"} {
		if err := (ServerConfig{Address: a}).Validate(); err == nil {
			t.Errorf("address %q accepted", a)
		}
	}
	for _, a := range []string{":9464", "127.0.0.1:9464", "[::1]:0"} {
		if err := (ServerConfig{Address: a}).Validate(); err != nil {
			t.Errorf("address %q: %v", a, err)
		}
	}
}
