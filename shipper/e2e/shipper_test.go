package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/metrics/metricstest"
	"github.com/eximship/eximship/shipper/stacktest"
)

// testEnv is one test's private slice of the stack: topic, group, data
// stream namespace, Elasticsearch node.
type testEnv struct {
	t     *testing.T
	kafka *kafkaEnv
	es    *esNode
	group string
	ns    string
	dir   string // configs and shipper logs
}

// newTestEnv creates a 6-partition topic, a group name and a namespace,
// and registers the cleanup of the namespace's data streams on esURL.
func newTestEnv(t *testing.T, esURL string) *testEnv {
	t.Helper()
	brokers, topic := stacktest.NewTopic(t, partitions)
	name := stacktest.UniqueName("e2e")
	ns := strings.ReplaceAll(name, "-", "")
	env := &testEnv{
		t:     t,
		kafka: newKafkaEnv(brokers, topic),
		es:    newESNode(esURL),
		group: topic + "-group",
		ns:    ns,
		dir:   t.TempDir(),
	}
	t.Cleanup(func() {
		env.es.cleanup(t, env.logsPattern(), env.deadLetterIndex())
	})
	return env
}

// logsPattern matches the namespace's data streams.
func (e *testEnv) logsPattern() string { return "logs-exim.*-" + e.ns }

func (e *testEnv) deadLetterIndex() string { return "eximship-deadletter-" + e.ns }

// config is the part of the run configuration a test varies.
type config struct {
	esURL           string // default: the env's node
	clientID        string
	deadLetterTopic string
	shutdownTimeout time.Duration
	retryMax        time.Duration
	esTimeout       time.Duration
	keepOriginal    bool     // exim.keep_original
	brokers         []string // default: the env's
	kafkaExtra      string   // YAML lines appended to the kafka section (indented by 2)
	esExtra         string   // YAML lines appended to the elasticsearch section (indented by 2)
	extra           string   // appended YAML (top-level sections must not repeat)
}

// writeConfig writes a run configuration file and returns its path.
func (e *testEnv) writeConfig(c config) string {
	e.t.Helper()
	if c.esURL == "" {
		c.esURL = e.es.url
	}
	if c.shutdownTimeout == 0 {
		c.shutdownTimeout = 20 * time.Second
	}
	if c.retryMax == 0 {
		c.retryMax = 2 * time.Second
	}
	if c.brokers == nil {
		c.brokers = e.kafka.brokers
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kafka:\n  brokers: [%s]\n  topics: [%q]\n  group_id: %q\n", strings.Join(c.brokers, ", "), e.kafka.topic, e.group)
	if c.clientID != "" {
		fmt.Fprintf(&b, "  client_id: %q\n", c.clientID)
	}
	// A killed member stays in the group until its session times out: the
	// broker's minimum (6 s) keeps restarts quick.
	b.WriteString("  session_timeout: 6s\n  heartbeat_interval: 1s\n  rebalance_timeout: 10s\n  commit_interval: 500ms\n")
	b.WriteString(c.kafkaExtra)
	fmt.Fprintf(&b, "elasticsearch:\n  addresses: [%q]\n", c.esURL)
	b.WriteString(c.esExtra)
	if c.esTimeout != 0 {
		fmt.Fprintf(&b, "  timeout: %s\n", c.esTimeout)
	}
	fmt.Fprintf(&b, "dead_letter:\n  index: %q\n", e.deadLetterIndex())
	if c.deadLetterTopic != "" {
		fmt.Fprintf(&b, "  kafka_topic: %q\n", c.deadLetterTopic)
	}
	fmt.Fprintf(&b, "pipeline:\n  progress_interval: 200ms\n  retry_initial: 100ms\n  retry_max: %s\n  shutdown_timeout: %s\n", c.retryMax, c.shutdownTimeout)
	fmt.Fprintf(&b, "exim:\n  namespace: %q\n  timezone: UTC\n", e.ns)
	if c.keepOriginal {
		b.WriteString("  keep_original: true\n")
	}
	b.WriteString(c.extra)
	path := filepath.Join(e.dir, fmt.Sprintf("eximship-%d.yml", time.Now().UnixNano()))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// stats are the counters of the pipeline's progress and final log lines.
type stats struct {
	Consumed, Docs, Indexed, Retried, DeadLettered, Lag int64
}

// shipperProc is a running `eximship run`.
type shipperProc struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time

	done    chan struct{} // closed when the process exited
	exitErr error
	exited  time.Time

	mu       sync.Mutex
	progress stats // last progress line
	final    *stats
	msgs     map[string]int // log message -> count
	tail     []string       // last log lines
	monitor  string         // address of the monitoring listener, once logged
}

// startShipper runs `eximship run --config cfg`; its log goes to a file in
// the test's directory (and its tail into the test log on failure).
func (e *testEnv) startShipper(name, cfg string) *shipperProc {
	e.t.Helper()
	return e.startShipperEnv(name, cfg)
}

// startShipperEnv is startShipper with more environment variables.
func (e *testEnv) startShipperEnv(name, cfg string, env ...string) *shipperProc {
	e.t.Helper()
	bin := eximshipBinary(e.t)
	p := &shipperProc{
		t: e.t, name: name,
		logPath: filepath.Join(e.dir, name+".log"),
		done:    make(chan struct{}),
		msgs:    map[string]int{},
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "run", "--config", cfg, "--progress", "never")
	p.cmd.Env = append(append(os.Environ(), "EXIMSHIP_LOG_LEVEL=info"), env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	p.cmd.Stdout = logf
	if err := p.cmd.Start(); err != nil {
		e.t.Fatalf("start %s: %v", bin, err)
	}
	p.started = time.Now()
	var readDone sync.WaitGroup
	readDone.Add(1)
	go func() {
		defer readDone.Done()
		p.readLog(stderr, logf)
	}()
	go func() {
		readDone.Wait()
		err := p.cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.exitErr, p.exited = err, time.Now()
		p.mu.Unlock()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		if p.alive() {
			p.cmd.Process.Kill()
			<-p.done
		}
		if e.t.Failed() {
			p.mu.Lock()
			e.t.Logf("--- last log lines of %s (%s):\n%s", p.name, p.logPath, strings.Join(p.tail, "\n"))
			p.mu.Unlock()
		}
	})
	return p
}

func (p *shipperProc) readLog(r io.Reader, w io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(w, line)
		kv := logfmt(line)
		p.mu.Lock()
		p.msgs[kv["msg"]]++
		if len(line) > 2000 {
			line = line[:2000] + "..."
		}
		p.tail = append(p.tail, line)
		if len(p.tail) > 60 {
			p.tail = p.tail[len(p.tail)-40:]
		}
		switch kv["msg"] {
		case "progress":
			p.progress = statsOf(kv)
		case "pipeline stopped":
			s := statsOf(kv)
			p.final = &s
		case "monitoring listener started":
			p.monitor = kv["address"]
		}
		p.mu.Unlock()
	}
}

func statsOf(kv map[string]string) stats {
	n := func(k string) int64 {
		v, _ := strconv.ParseInt(kv[k], 10, 64)
		return v
	}
	return stats{Consumed: n("consumed"), Docs: n("docs"), Indexed: n("indexed"), Retried: n("retried"), DeadLettered: n("dead_lettered"), Lag: n("lag")}
}

// logfmt decodes a slog text line (key=value, values possibly quoted).
func logfmt(line string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(line); {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		eq := strings.IndexByte(line[i:], '=')
		if eq < 0 {
			break
		}
		key := line[i : i+eq]
		i += eq + 1
		var val string
		if i < len(line) && line[i] == '"' {
			j := i + 1
			for j < len(line) && line[j] != '"' {
				if line[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(line) {
				j = len(line) - 1
			}
			if v, err := strconv.Unquote(line[i : j+1]); err == nil {
				val = v
			} else {
				val = line[i+1 : j]
			}
			i = j + 1
		} else {
			j := strings.IndexByte(line[i:], ' ')
			if j < 0 {
				j = len(line) - i
			}
			val = line[i : i+j]
			i += j
		}
		out[key] = val
	}
	return out
}

func (p *shipperProc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// checkAlive returns an error when the process has exited.
func (p *shipperProc) checkAlive() error {
	if p.alive() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Errorf("%s exited: %v", p.name, p.exitErr)
}

func (p *shipperProc) stats() stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.progress
}

// finalStats are the counters of the "pipeline stopped" line (nil if the
// process did not log it).
func (p *shipperProc) finalStats() *stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.final
}

// monitorURL waits for the monitoring listener's address in the log and
// returns http://address.
func (p *shipperProc) monitorURL() string {
	p.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		p.mu.Lock()
		a := p.monitor
		p.mu.Unlock()
		if a != "" {
			return "http://" + a
		}
		if err := p.checkAlive(); err != nil || time.Now().After(deadline) {
			p.t.Fatalf("no monitoring listener logged: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scrape reads the process's /metrics.
func (p *shipperProc) scrape() map[string]float64 {
	p.t.Helper()
	m, err := metricstest.Scrape(p.monitorURL() + "/metrics")
	if err != nil {
		p.t.Fatalf("scrape %s: %v", p.name, err)
	}
	return m
}

// readyz returns the status and body of the process's /readyz.
func (p *shipperProc) readyz() (int, string) {
	p.t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Get(p.monitorURL() + "/readyz")
	if err != nil {
		p.t.Fatalf("readyz of %s: %v", p.name, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// monitoring is the config section of a monitoring listener on a free
// port (the address is read back from the log).
const monitoring = "monitoring:\n  address: 127.0.0.1:0\n  check_interval: 200ms\n"

// requireNoSecret fails the test when the process's log holds one of the
// secrets.
func (p *shipperProc) requireNoSecret(secrets ...string) {
	p.t.Helper()
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(string(b), s) {
			p.t.Errorf("the log of %s (%s) holds a secret", p.name, p.logPath)
		}
	}
}

// logHas reports whether one line of the process's log holds every part.
func (p *shipperProc) logHas(parts ...string) bool {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		all := true
		for _, part := range parts {
			all = all && strings.Contains(line, part)
		}
		if all {
			return true
		}
	}
	return false
}

// count returns how many log lines had the message msg.
func (p *shipperProc) count(msg string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.msgs[msg]
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *shipperProc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("kill -9 %s: %v", p.name, err)
	}
	<-p.done
}

// stop sends SIGTERM and returns how long the process took to exit, failing
// t if it does not exit cleanly within limit.
func (p *shipperProc) stop(limit time.Duration) time.Duration {
	p.t.Helper()
	t0 := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(limit):
		p.t.Fatalf("%s did not exit within %v of SIGTERM", p.name, limit)
	}
	took := time.Since(t0)
	p.mu.Lock()
	err := p.exitErr
	p.mu.Unlock()
	if err != nil {
		p.t.Fatalf("%s exited with %v after SIGTERM", p.name, err)
	}
	return took
}

// waitFor polls cond until it holds, failing t on timeout or when the
// process exits.
func (p *shipperProc) waitFor(what string, timeout time.Duration, cond func(stats) bool) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond(p.stats()) {
			return
		}
		if err := p.checkAlive(); err != nil {
			p.t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("%s: no %s after %v (last progress %+v)", p.name, what, timeout, p.stats())
}
