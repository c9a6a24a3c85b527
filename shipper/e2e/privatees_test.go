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
	mu      sync.Mutex
	started bool
	done    chan struct{} // closed when the first es-up returned
	err     error
	out     bytes.Buffer
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
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "stack"), args...)
	cmd.Env = append(os.Environ(),
		"EXIMSHIP_STATE_DIR="+n.stateDir(),
		"EXIMSHIP_ES_PORT="+strconv.Itoa(n.port()),
		"EXIMSHIP_ES_TRANSPORT_PORT="+strconv.Itoa(privatePort("EXIMSHIP_E2E_ES_TRANSPORT_PORT", defaultPrivateTransportPort)),
		"EXIMSHIP_ES_HEAP=512m",
		"EXIMSHIP_STACK_TIMEOUT=600",
	)
	cmd.Stdin = nil
	return cmd.CombinedOutput()
}

// start launches `scripts/stack es-up` in the background.
func (n *privateNode) start() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started {
		return
	}
	n.started = true
	n.done = make(chan struct{})
	go func() {
		defer close(n.done)
		t0 := time.Now()
		out, err := n.stack("es-up")
		n.out.Write(out)
		if err != nil {
			n.err = fmt.Errorf("scripts/stack es-up (private node): %v\n%s", err, out)
			return
		}
		fmt.Fprintf(os.Stderr, "e2e: private Elasticsearch up on %s after %v\n", n.URL(), time.Since(t0).Round(time.Second))
	}()
}

// wait returns the node's URL once it is up, or fails t.
func (n *privateNode) wait(t *testing.T) string {
	t.Helper()
	n.start()
	<-n.done
	if n.err != nil {
		t.Fatal(n.err)
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
	n.mu.Lock()
	started := n.started
	n.mu.Unlock()
	if !started {
		return
	}
	<-n.done
	if out, err := n.stack("es-down"); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: scripts/stack es-down (private node): %v\n%s", err, out)
	}
}
