package kafka

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestPreflightTopicsAndGroup: the dead-letter topic is checked with the
// consumed ones, and the members a killed process left in the group are
// reported.
func TestPreflightTopicsAndGroup(t *testing.T) {
	const topic = "exim"
	brokers := fakeCluster(t, topic, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := fastConfig(t, brokers, topic, "g-pre")

	res, err := Preflight(ctx, cfg)
	if err != nil {
		t.Fatalf("preflight: %v", err)
	}
	if len(res.Members) != 0 || res.Partitions != 2 {
		t.Errorf("preflight of a new group on a 2-partition topic: %+v", res)
	}
	_, err = Preflight(ctx, cfg, "exim-deadletter")
	if err == nil || !strings.Contains(err.Error(), `topic "exim-deadletter" does not exist`) || strings.Contains(err.Error(), `"exim"`) || Temporary(err) {
		t.Errorf("missing dead-letter topic: %v", err)
	}

	// A member that does not leave (as after kill -9).
	cfg.ClientID = "the-old-one"
	src := newSource(t, cfg)
	readN(t, src, 0, time.Second)
	produce(t, brokers, topic, 4)
	ackAll(t, readN(t, src, 4, 20*time.Second))
	cfg.ClientID = ""
	res, err = Preflight(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Members) != 1 || res.Members[0].ClientID != "the-old-one" || res.GroupState == "" {
		t.Errorf("preflight %+v, want the member of the other source", res)
	}
	closeSource(t, src)
}

func TestPreflightExplains(t *testing.T) {
	const topic = "exim"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("wrong-password", func(t *testing.T) {
		brokers := fakeCluster(t, topic, 1, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "shipper", "right-pw"))
		t.Setenv("EXIMSHIP_TEST_KAFKA_PW", "wrong-pw")
		cfg := fastConfig(t, brokers, topic, "g")
		cfg.SASL = SASLConfig{Mechanism: SASLScramSHA512, Username: "shipper", PasswordEnv: "EXIMSHIP_TEST_KAFKA_PW"}
		t0 := time.Now()
		_, err := Preflight(ctx, cfg)
		// kfake closes the connection where a real broker answers
		// SASL_AUTHENTICATION_FAILED (the secured-stack tests see that).
		if err == nil || !strings.Contains(err.Error(), "check the SASL credentials") || Temporary(err) {
			t.Fatalf("error %v", err)
		}
		if strings.Contains(err.Error(), "wrong-pw") {
			t.Errorf("the password leaks: %v", err)
		}
		if d := time.Since(t0); d > 10*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		cert, _ := selfSigned(t, t.TempDir())
		brokers := fakeCluster(t, topic, 1, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
		cfg := fastConfig(t, brokers, topic, "g")
		cfg.TLS = TLSConfig{Enabled: true}
		_, err := Preflight(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "not signed by a trusted CA: set kafka.tls.ca_file") || Temporary(err) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("wrong-server-name", func(t *testing.T) {
		cert, caFile := selfSigned(t, t.TempDir())
		brokers := fakeCluster(t, topic, 1, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
		cfg := fastConfig(t, brokers, topic, "g")
		cfg.TLS = TLSConfig{CAFile: caFile, ServerName: "kafka.example"}
		_, err := Preflight(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), `not valid for the name "kafka.example": set kafka.tls.server_name`) || Temporary(err) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cfg := fastConfig(t, []string{addr}, topic, "g")
		_, err = Preflight(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "nothing listens at "+addr) || Temporary(err) {
			t.Fatalf("error %v", err)
		}
	})
}
