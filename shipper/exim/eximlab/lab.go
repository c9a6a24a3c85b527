// Package eximlab runs a private, real Exim daemon on loopback with a
// generated test configuration, drives SMTP sessions against it with a raw
// client, and collects the logs it writes. It produces the real-Exim
// fixtures of shipper/exim, the logs its integration tests parse, and the
// traffic of the demo. Nothing here talks to a non-loopback address.
//
// What running Debian's exim4 (4.96) this way needs, found by trying:
//
//   - `exim4 -C conf` as root: the file must be owned by root and not
//     group/world writable. It is not in /etc/exim4/trusted_configs, so
//     Exim drops privilege: the daemon (-bdf), queue runners and deliveries
//     run as exim_user (Debian-exim), and every re-exec logs "exim user
//     lost privilege for using -C option" to the main AND panic logs. The
//     lab directory is chowned to that user, its ancestors must be
//     searchable by others (t.TempDir()'s 0700 parent is not), and local
//     transports set user/group explicitly. Nothing system-wide is changed.
//     As non-root, Exim runs as the caller (untested here: CI runs as root).
//   - 4.94+ taint checks: $local_part in a file name is refused at delivery
//     ("Tainted ... not permitted", deferral + panic log); the lab uses
//     $local_part_data, except for one "legacy" user kept on purpose.
//   - 4.96 advertises PIPECONNECT to every host by default, which disables
//     the "input sent without waiting for greeting" check: the early-talker
//     address is excluded from pipelining_connect_advertise_hosts and its
//     connect ACL waits 1s (an ACL delay of "300ms" is a syntax error in
//     4.96, logged as a temporary rejection).
//   - queue_only + queue_run_in_order make deliveries happen only in the
//     explicit `exim -qff` runs, in arrival order, so logs are reproducible.
//   - DNS: host_lookup is limited to one address (reverse lookups fail fast
//     here, giving "no host name found"); all routing is by IP literal
//     (manualroute with self = send), so no DNS query is ever needed.
package eximlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config configures a Lab.
type Config struct {
	// Dir is the lab directory (configuration, spool, logs, mailboxes). It
	// must not exist yet or be empty. Default: a new directory under
	// os.TempDir(), removed by Close unless Keep is set.
	Dir string
	// Keep leaves a generated Dir in place after Close. Default: false.
	Keep bool
	// LogSelector is Exim's log_selector, e.g. "+all". Default: "" (Exim's
	// default selection).
	LogSelector string
	// LogTimezone sets Exim's log_timezone (a +HHMM offset on every
	// timestamp). Default: false.
	LogTimezone bool
	// TimeZone is Exim's timezone option. Default: "UTC".
	TimeZone string
	// Exim is the path of the Exim binary. Default: FindExim().
	Exim string
	// Stderr receives the daemon's standard error. Default: discarded.
	Stderr io.Writer
}

// Validate checks c.
func (c *Config) Validate() error {
	if strings.ContainsAny(c.LogSelector, "\n\r") {
		return errors.New("eximlab: LogSelector must be one line")
	}
	if strings.ContainsAny(c.TimeZone, "\n\r ") {
		return errors.New("eximlab: TimeZone must be a zone name")
	}
	return nil
}

// FindExim returns the path of the Exim binary (exim4 on Debian, exim
// elsewhere), or an error when Exim is not installed.
func FindExim() (string, error) {
	for _, name := range []string{"exim4", "exim"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/exim/bin"} {
			p := filepath.Join(dir, name)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
	}
	return "", errors.New("eximlab: exim not found (apt-get install exim4-daemon-light)")
}

// Lab is a running private Exim daemon and its SMTP sink.
type Lab struct {
	cfg     Config
	Dir     string // lab directory
	Conf    string // configuration file
	Port    int    // SMTP port of the daemon on 127.0.0.1 and ::1
	HasIPv6 bool   // the daemon listens on ::1 too
	sink    *Sink
	daemon  *exec.Cmd
	done    chan struct{}
	waitErr error
	uid     int
	gid     int
	tmpDir  bool
	mu      sync.Mutex
}

// Start writes the configuration and starts the daemon in the foreground
// (exim -bdf) and the SMTP sink that plays the partner's mail server. It
// returns when the daemon has logged that it started.
func Start(ctx context.Context, cfg Config) (*Lab, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TimeZone == "" {
		cfg.TimeZone = "UTC"
	}
	if cfg.Exim == "" {
		p, err := FindExim()
		if err != nil {
			return nil, err
		}
		cfg.Exim = p
	}
	l := &Lab{cfg: cfg, done: make(chan struct{})}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "eximlab-")
		if err != nil {
			return nil, fmt.Errorf("eximlab: temp dir: %w", err)
		}
		l.Dir, l.tmpDir = d, true
	} else {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("eximlab: lab dir: %w", err)
		}
		d, err := filepath.Abs(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("eximlab: lab dir: %w", err)
		}
		l.Dir = d
	}
	ok := false
	defer func() {
		if !ok {
			l.Close()
		}
	}()
	userName, groupName, err := l.eximUser()
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(l.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("eximlab: %w", err)
	}
	if err := checkSearchable(l.Dir, l.uid); err != nil {
		return nil, err
	}
	for _, sub := range []string{"spool", "log", "mail", "tls"} {
		p := filepath.Join(l.Dir, sub)
		if err := os.MkdirAll(p, 0o750); err != nil {
			return nil, fmt.Errorf("eximlab: %w", err)
		}
		if err := os.Chown(p, l.uid, l.gid); err != nil {
			return nil, fmt.Errorf("eximlab: chown %s to the exim user: %w", p, err)
		}
	}
	if err := writeSelfSigned(filepath.Join(l.Dir, "tls"), PrimaryHost, l.uid, l.gid); err != nil {
		return nil, err
	}
	l.sink, err = StartSink("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l.Port, l.HasIPv6, err = freePort()
	if err != nil {
		return nil, err
	}
	data := confData{
		Dir: l.Dir, User: userName, Group: groupName, LogSelector: cfg.LogSelector,
		TimeZone: cfg.TimeZone, Port: l.Port, SinkPort: l.sink.Port(), LogTimezone: cfg.LogTimezone,
		PrimaryHost: PrimaryHost, LocalDomain: LocalDomain, PartnerDomain: PartnerDomain, DeferDomain: DeferDomain,
		IPConnectDrop: IPConnectDrop, IPConnectDeny: IPConnectDeny, IPConnectDefer: IPConnectDefer,
		IPPredataDeny: IPPredataDeny, IPNoPipelining: IPNoPipelining, IPMaxPerHost: IPMaxPerHost,
		IPHostLookup: IPHostLookup, IPEarlyTalker: IPEarlyTalker, IPRelayAllowed: IPRelayAllowed, DeadRemoteIP: deadRemoteIP,
		DeadRemotePort: deadRemotePort,
	}
	l.Conf = filepath.Join(l.Dir, "exim.conf")
	if err := writeTemplate(l.Conf, confTemplate, data, 0o644); err != nil {
		return nil, err
	}
	if err := writeTemplate(filepath.Join(l.Dir, "aliases"), aliasesTemplate, data, 0o644); err != nil {
		return nil, err
	}
	if out, err := l.Exim(ctx, "-bV"); err != nil {
		return nil, fmt.Errorf("eximlab: configuration check: %w\n%s", err, out)
	}
	if err := l.startDaemon(ctx); err != nil {
		return nil, err
	}
	ok = true
	return l, nil
}

// eximUser picks the user Exim runs as: Debian-exim (or exim) for root,
// the caller otherwise.
func (l *Lab) eximUser() (string, string, error) {
	if os.Geteuid() == 0 {
		for _, name := range []string{"Debian-exim", "exim", "mail"} {
			u, err := user.Lookup(name)
			if err != nil {
				continue
			}
			g, err := user.LookupGroupId(u.Gid)
			if err != nil {
				return "", "", fmt.Errorf("eximlab: group of %s: %w", name, err)
			}
			l.uid, _ = strconv.Atoi(u.Uid)
			l.gid, _ = strconv.Atoi(u.Gid)
			return u.Username, g.Name, nil
		}
		return "", "", errors.New("eximlab: no exim user (Debian-exim, exim, mail) on this system")
	}
	u, err := user.Current()
	if err != nil {
		return "", "", fmt.Errorf("eximlab: current user: %w", err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return "", "", fmt.Errorf("eximlab: current group: %w", err)
	}
	l.uid, _ = strconv.Atoi(u.Uid)
	l.gid, _ = strconv.Atoi(u.Gid)
	return u.Username, g.Name, nil
}

// freePort finds a port free on 127.0.0.1 and, when IPv6 loopback exists,
// on ::1 too.
func freePort() (int, bool, error) {
	for i := 0; i < 20; i++ {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, false, fmt.Errorf("eximlab: free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln6, err6 := net.Listen("tcp6", net.JoinHostPort("::1", strconv.Itoa(port)))
		ln.Close()
		if err6 == nil {
			ln6.Close()
			return port, true, nil
		}
		if !hasIPv6Loopback() {
			return port, false, nil
		}
	}
	return 0, false, errors.New("eximlab: no port free on both 127.0.0.1 and ::1")
}

func hasIPv6Loopback() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func (l *Lab) startDaemon(ctx context.Context) error {
	cmd := exec.Command(l.cfg.Exim, "-C", l.Conf, "-bdf")
	cmd.Dir = l.Dir
	var stderr bytes.Buffer
	if l.cfg.Stderr != nil {
		cmd.Stderr = io.MultiWriter(&stderr, l.cfg.Stderr)
	} else {
		cmd.Stderr = &stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("eximlab: start daemon: %w", err)
	}
	l.daemon = cmd
	go func() {
		l.waitErr = cmd.Wait()
		close(l.done)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(l.LogPath("mainlog"))
		if bytes.Contains(b, []byte("daemon started")) {
			return nil
		}
		select {
		case <-l.done:
			return fmt.Errorf("eximlab: daemon exited: %v: %s", l.waitErr, stderr.String())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("eximlab: daemon did not log its start within 15s: %s", stderr.String())
		}
	}
}

// LogPath returns the path of one of Exim's logs: "mainlog", "rejectlog"
// or "paniclog".
func (l *Lab) LogPath(name string) string { return filepath.Join(l.Dir, "log", name) }

// Sink returns the SMTP sink that plays the partner domain's server.
func (l *Lab) Sink() *Sink { return l.sink }

// Exim runs the Exim binary with the lab configuration and args, and
// returns its combined output.
func (l *Lab) Exim(ctx context.Context, args ...string) ([]byte, error) {
	return l.EximInput(ctx, nil, args...)
}

// EximInput is Exim with stdin as standard input.
func (l *Lab) EximInput(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, l.cfg.Exim, append([]string{"-C", l.Conf}, args...)...)
	cmd.Dir = l.Dir
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("exim %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// RunQueue runs the whole queue once in the foreground, frozen messages
// included (exim -qff), and waits for it.
func (l *Lab) RunQueue(ctx context.Context) error {
	out, err := l.Exim(ctx, "-qff")
	if err != nil {
		return fmt.Errorf("eximlab: queue run: %w: %s", err, out)
	}
	return nil
}

// Submit submits a message on the command line (exim -f from -odq to...),
// as a local user would.
func (l *Lab) Submit(ctx context.Context, from string, msg []byte, to ...string) error {
	args := append([]string{"-f", from, "-odq", "--"}, to...)
	out, err := l.EximInput(ctx, bytes.NewReader(msg), args...)
	if err != nil {
		return fmt.Errorf("eximlab: submit: %w: %s", err, out)
	}
	return nil
}

// Reload sends SIGHUP to the daemon, which re-executes itself, and waits
// until it logged its restart.
func (l *Lab) Reload(ctx context.Context) error {
	before, _ := os.ReadFile(l.LogPath("mainlog"))
	n := bytes.Count(before, []byte("daemon started"))
	if err := l.daemon.Process.Signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("eximlab: SIGHUP: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(l.LogPath("mainlog"))
		if bytes.Count(b, []byte("daemon started")) > n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("eximlab: daemon did not restart after SIGHUP")
}

// Close stops the daemon and the sink, and removes a generated lab
// directory unless Config.Keep is set.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	if l.daemon != nil && l.daemon.Process != nil {
		// The daemon re-executes itself on SIGHUP but keeps its pid; its
		// children are in its process group.
		_ = syscall.Kill(-l.daemon.Process.Pid, syscall.SIGTERM)
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-l.daemon.Process.Pid, syscall.SIGKILL)
			<-l.done
		}
		l.daemon = nil
	}
	if l.sink != nil {
		errs = append(errs, l.sink.Close())
		l.sink = nil
	}
	if l.tmpDir && !l.cfg.Keep {
		errs = append(errs, os.RemoveAll(l.Dir))
	}
	return errors.Join(errs...)
}

// checkSearchable fails when the exim user (uid) cannot reach dir because
// an ancestor is not searchable by others (t.TempDir() makes 0700 ones).
func checkSearchable(dir string, uid int) error {
	if uid == os.Geteuid() {
		return nil
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("eximlab: %w", err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("eximlab: the exim user cannot reach %s: %s is not searchable by others (use a directory under os.TempDir())", dir, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
