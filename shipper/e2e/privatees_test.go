package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/stacktest"
)

// privateNode is an Elasticsearch node of its own (scripts/stack es-up with
// a separate state directory and ports) that a test may stop and start.
type privateNode struct {
	bg  background // the first es-up
	out bytes.Buffer
}

// background runs a start-up step once, in the background, for the tests
// to wait on.
type background struct {
	mu      sync.Mutex
	started bool
	done    chan struct{} // closed when the step returned
	err     error
}

// start runs step in the background unless it was started already.
func (b *background) start(step func() error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return
	}
	b.started = true
	b.done = make(chan struct{})
	go func() {
		defer close(b.done)
		b.err = step()
	}()
}

// wait returns the step's error once it returned.
func (b *background) wait() error {
	<-b.done
	return b.err
}

// ran reports whether the step was started, and waits for it then.
func (b *background) ran() bool {
	b.mu.Lock()
	started := b.started
	b.mu.Unlock()
	if started {
		<-b.done
	}
	return started
}

var privateES privateNode

// Defaults of the private node; EXIMSHIP_E2E_ES_PORT and
// EXIMSHIP_E2E_ES_TRANSPORT_PORT override the ports.
const (
	defaultPrivatePort          = 9210
	defaultPrivateTransportPort = 9310
)

func privatePort(env string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(env)); err == nil && v > 0 {
		return v
	}
	return def
}

// stateDir is the node's scripts/stack state directory, next to the shared
// stack's.
func (n *privateNode) stateDir() string {
	return filepath.Join(filepath.Dir(stacktest.StateDir()), "e2e-es")
}

func (n *privateNode) port() int {
	return privatePort("EXIMSHIP_E2E_ES_PORT", defaultPrivatePort)
}

// URL is the node's HTTP address.
func (n *privateNode) URL() string { return "http://127.0.0.1:" + strconv.Itoa(n.port()) }

// stack runs scripts/stack with the private node's environment.
func (n *privateNode) stack(args ...string) ([]byte, error) {
	return runStack(args, "EXIMSHIP_STATE_DIR="+n.stateDir(),
		"EXIMSHIP_ES_PORT="+strconv.Itoa(n.port()),
		"EXIMSHIP_ES_TRANSPORT_PORT="+strconv.Itoa(privatePort("EXIMSHIP_E2E_ES_TRANSPORT_PORT", defaultPrivateTransportPort)))
}

// runStack runs scripts/stack args for a private stack: env (its state
// directory and ports) on top of ours, a small heap, a long health timeout.
func runStack(args []string, env ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "stack"), args...)
	cmd.Env = append(append(os.Environ(), "EXIMSHIP_ES_HEAP=512m", "EXIMSHIP_STACK_TIMEOUT=600"), env...)
	cmd.Stdin = nil
	return cmd.CombinedOutput()
}

// start launches `scripts/stack es-up` in the background.
func (n *privateNode) start() {
	n.bg.start(func() error {
		t0 := time.Now()
		out, err := n.stack("es-up")
		n.out.Write(out)
		if err != nil {
			return fmt.Errorf("scripts/stack es-up (private node): %v\n%s", err, out)
		}
		fmt.Fprintf(os.Stderr, "e2e: private Elasticsearch up on %s after %v\n", n.URL(), time.Since(t0).Round(time.Second))
		return nil
	})
}

// wait returns the node's URL once it is up, or fails t.
func (n *privateNode) wait(t *testing.T) string {
	t.Helper()
	n.start()
	if err := n.bg.wait(); err != nil {
		t.Fatal(err)
	}
	return n.URL()
}

// pid is the Elasticsearch server JVM's pid (from the state directory).
func (n *privateNode) pid() (int, error) {
	b, err := os.ReadFile(filepath.Join(n.stateDir(), "elasticsearch.pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// kill stops the node the hard way: SIGKILL to its server JVM.
func (n *privateNode) kill(t *testing.T) {
	t.Helper()
	pid, err := n.pid()
	if err != nil {
		t.Fatalf("private Elasticsearch pid: %v", err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("org.elasticsearch")) {
		t.Fatalf("pid %d is not the private Elasticsearch (%v)", pid, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	for i := 0; i < 100; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("private Elasticsearch (pid %d) still alive 10s after SIGKILL", pid)
}

// up starts the node again (scripts/stack es-up) and waits until healthy.
func (n *privateNode) up(t *testing.T) {
	t.Helper()
	if out, err := n.stack("es-up"); err != nil {
		t.Fatalf("scripts/stack es-up (private node): %v\n%s", err, out)
	}
}

// stop stops the node if this process started it.
func (n *privateNode) stop() {
	if !n.bg.ran() {
		return
	}
	if out, err := n.stack("es-down"); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: scripts/stack es-down (private node): %v\n%s", err, out)
	}
}
