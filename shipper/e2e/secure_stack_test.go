package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/stacktest"
)

// secureStack is a private Kafka + Elasticsearch with security on
// (scripts/stack with EXIMSHIP_STACK_SECURITY=on): TLS and SASL listeners,
// HTTPS, users, roles and certificates made for the test (docs/STACK.md).
// TestMain starts it in the background when a TestSecure* test is
// selected; it is stopped at the end by the last test process using it
// (a shared lock on its state directory tells), unless it was running
// before.
type secureStack struct {
	bg    background // scripts/stack up
	env   map[string]string
	lock  *os.File
	ranUp bool // this process found it stopped and started it
}

var secure secureStack

// The ports of the secured stack: EXIMSHIP_E2E_SECURE_PORT_BASE (default
// 23040) for Kafka's PLAINTEXT listener, then its controller, SASL_PLAINTEXT,
// SSL and SASL_SSL listeners, Elasticsearch's HTTPS and transport ports.
func (s *secureStack) ports() (kafka, ctrl, sasl, ssl, saslSSL, es, esTransport int) {
	b := privatePort("EXIMSHIP_E2E_SECURE_PORT_BASE", 23040)
	return b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6
}

func (s *secureStack) stateDir() string {
	if d := os.Getenv("EXIMSHIP_E2E_SECURE_STATE_DIR"); d != "" {
		return d
	}
	return filepath.Join(filepath.Dir(stacktest.StateDir()), "e2e-secure")
}

func (s *secureStack) stack(args ...string) ([]byte, error) {
	k, c, sa, ss, sss, es, est := s.ports()
	return runStack(args, "EXIMSHIP_STACK_SECURITY=on",
		"EXIMSHIP_STATE_DIR="+s.stateDir(),
		"EXIMSHIP_KAFKA_PORT="+strconv.Itoa(k),
		"EXIMSHIP_KAFKA_CONTROLLER_PORT="+strconv.Itoa(c),
		"EXIMSHIP_KAFKA_SASL_PORT="+strconv.Itoa(sa),
		"EXIMSHIP_KAFKA_SSL_PORT="+strconv.Itoa(ss),
		"EXIMSHIP_KAFKA_SASL_SSL_PORT="+strconv.Itoa(sss),
		"EXIMSHIP_ES_PORT="+strconv.Itoa(es),
		"EXIMSHIP_ES_TRANSPORT_PORT="+strconv.Itoa(est),
		"EXIMSHIP_KAFKA_PARTITIONS=1")
}

// start runs scripts/stack up in the background (idempotent: a running
// secured stack is reused).
func (s *secureStack) start() { s.bg.start(s.up) }

func (s *secureStack) up() error {
	if err := os.MkdirAll(s.stateDir(), 0o755); err != nil {
		return err
	}
	// A shared lock for as long as this process may use the stack.
	f, err := os.OpenFile(filepath.Join(s.stateDir(), ".e2e-users"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		return err
	}
	s.lock = f
	if _, err := s.stack("status"); err != nil {
		s.ranUp = true
	}
	t0 := time.Now()
	out, err := s.stack("up")
	if err != nil {
		return fmt.Errorf("scripts/stack up (secured stack in %s): %v\n%s", s.stateDir(), err, out)
	}
	if s.ranUp {
		_ = os.WriteFile(filepath.Join(s.stateDir(), ".started-by-e2e"), nil, 0o644)
	}
	if s.env, err = readEnvFile(filepath.Join(s.stateDir(), "stack.env")); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "e2e: secured stack up (Kafka %s, Elasticsearch %s) after %v\n",
		s.env["EXIMSHIP_KAFKA_SASL_SSL_BROKERS"], s.env["EXIMSHIP_ES_URL"], time.Since(t0).Round(time.Second))
	return nil
}

// wait returns once the stack is up, or fails t; it skips t like the
// other integration tests without Java.
func (s *secureStack) wait(t *testing.T) {
	t.Helper()
	stacktest.ElasticURL(t) // skip (or fail in CI) like the others without a stack
	s.start()
	if err := s.bg.wait(); err != nil {
		t.Fatal(err)
	}
}

// stop stops the stack when this process started it (or found the marker
// of an earlier test run) and no other test process still holds the lock.
func (s *secureStack) stop() {
	if !s.bg.ran() || s.lock == nil {
		return
	}
	defer s.lock.Close()
	marker := filepath.Join(s.stateDir(), ".started-by-e2e")
	if _, err := os.Stat(marker); err != nil {
		return // running before the tests: leave it
	}
	if err := syscall.Flock(int(s.lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return // another test process uses it: it stops it
	}
	if out, err := s.stack("down"); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: scripts/stack down (secured stack): %v\n%s", err, out)
		return
	}
	os.Remove(marker)
}

// path is a file of the stack's secure directory (certificates, passwords).
func (s *secureStack) path(name string) string {
	return filepath.Join(s.env["EXIMSHIP_SECURE_DIR"], name)
}

// secret reads a password file of the secure directory.
func (s *secureStack) secret(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(s.path(name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func (s *secureStack) esURL() string { return s.env["EXIMSHIP_ES_URL"] }

// admin is a client of the node as its superuser.
func (s *secureStack) admin(t testing.TB) *esNode {
	return newSecureESNode(t, s.esURL(), s.path("ca.pem"), "eximship-admin", s.secret(t, "es-eximship-admin.password"))
}

// secureEnv waits for the secured stack and returns it with a new testEnv
// on it.
func secureEnv(t *testing.T) (*secureStack, *testEnv) {
	t.Helper()
	secure.wait(t)
	return &secure, secure.newEnv(t)
}

// newEnv is a testEnv on the secured stack: a topic on its broker
// (created over the PLAINTEXT listener), the node's admin for the checks,
// and eximship's templates installed.
func (s *secureStack) newEnv(t *testing.T) *testEnv {
	t.Helper()
	brokers := []string{s.env["EXIMSHIP_KAFKA_BROKERS"]}
	topic := stacktest.UniqueName("eximship-secure-")
	stacktest.CreateTopic(t, brokers, topic, partitions)
	name := stacktest.UniqueName("sec")
	env := &testEnv{
		t:     t,
		kafka: newKafkaEnv(brokers, topic),
		es:    s.admin(t),
		group: topic + "-group",
		ns:    strings.ReplaceAll(name, "-", ""),
		dir:   t.TempDir(),
	}
	t.Cleanup(func() { env.es.cleanup(t, env.logsPattern(), env.deadLetterIndex()) })
	env.es.installTemplates(t)
	return env
}

func readEnvFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	return env, sc.Err()
}

// runToExit runs `eximship run --config cfg` and waits for it to exit by
// itself (a start-up failure), at most limit; it returns the exit status,
// the output and how long it ran.
func runToExit(t *testing.T, cfg string, limit time.Duration, env ...string) (int, string, time.Duration) {
	t.Helper()
	return runEximship(t, limit, env, "run", "--config", cfg, "--progress", "never")
}

// runEximship runs the eximship binary with args and the extra environment
// and waits for it to exit, at most limit (else t fails); it returns the
// exit status, stdout and stderr together, and how long it ran.
func runEximship(t *testing.T, limit time.Duration, env []string, args ...string) (int, string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, eximshipBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	took := time.Since(t0)
	if ctx.Err() != nil {
		t.Fatalf("eximship %s did not exit within %v (a start-up mistake must fail, not wait):\n%s", args[0], limit, out.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), took
}
