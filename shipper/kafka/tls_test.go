package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 to dir and
// returns it with the path of its PEM file.
func selfSigned(t *testing.T, dir string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "eximship test broker"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
}

// TestSourceTLS consumes over TLS verified against a CA file, and fails to
// write without that CA.
func TestSourceTLS(t *testing.T) {
	const topic = "exim"
	cert, caFile := selfSigned(t, t.TempDir())
	brokers := fakeCluster(t, topic, 1, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	good := TLSConfig{CAFile: caFile}

	dl, err := NewDeadLetterWriter(DeadLetterConfig{Brokers: brokers, Topic: topic, TLS: good, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dl.WriteDeadLetters(ctx, testDeadLetters()); err != nil {
		t.Fatalf("write over TLS: %v", err)
	}
	dl.Close()

	cfg := fastConfig(t, brokers, topic, "g1")
	cfg.TLS = good
	src := newSource(t, cfg)
	ackAll(t, readN(t, src, len(testDeadLetters()), 30*time.Second))
	closeSource(t, src)

	bad, err := NewDeadLetterWriter(DeadLetterConfig{Brokers: brokers, Topic: topic, TLS: TLSConfig{Enabled: true}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := bad.WriteDeadLetters(ctx2, testDeadLetters()); err == nil {
		t.Fatal("write to a broker with an unknown CA succeeded")
	} else {
		t.Logf("without the CA: %v", err)
	}
}
