package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ServerConfig configures the monitoring listener.
type ServerConfig struct {
	// Address is the host:port to listen on, e.g. "127.0.0.1:9464".
	// Required. The endpoints have no authentication: keep it on loopback
	// or a management network.
	Address string
	// Pprof mounts net/http/pprof under /debug/pprof/. Default: false.
	Pprof bool
	// CheckInterval is the period of the readiness checks. Default: 5s.
	CheckInterval time.Duration
	// CheckTimeout bounds one round of checks. Default: 5s.
	CheckTimeout time.Duration
	// Logger receives the listener's logs. Default: slog.Default().
	Logger *slog.Logger
}

func (c *ServerConfig) setDefaults() {
	if c.CheckInterval == 0 {
		c.CheckInterval = 5 * time.Second
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports configuration errors (after defaults are applied).
func (c ServerConfig) Validate() error {
	c.setDefaults()
	var errs []error
	if _, port, err := net.SplitHostPort(c.Address); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("monitoring address %q: want host:port (e.g. 127.0.0.1:9464)", c.Address))
	}
	if c.CheckInterval < 0 || c.CheckTimeout < 0 {
		errs = append(errs, fmt.Errorf("check interval (%s) and timeout (%s) must be >= 0", c.CheckInterval, c.CheckTimeout))
	}
	return errors.Join(errs...)
}

// ErrStarting is what a check returns while the service it checks is not
// set up yet: /readyz reports it, the log does not.
var ErrStarting = errors.New("starting: the start-up checks have not passed yet")

// Check is one readiness check: Run returns nil when the service answers.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Server is the monitoring listener:
//
//	/metrics         Prometheus metrics
//	/healthz         200 while the process runs
//	/readyz          200 when every check passed at its last run, 503
//	                 before the first run, while one fails, or while
//	                 draining (one line per check in the body)
//	/debug/pprof/    with ServerConfig.Pprof
type Server struct {
	cfg    ServerConfig
	m      *Metrics
	checks []Check
	srv    *http.Server
	ln     net.Listener

	draining atomic.Bool
	mu       sync.Mutex
	results  []error // by check; nil = ok
	checked  bool

	stop context.CancelFunc
	done chan struct{}
}

// NewServer validates cfg and returns a server for m and checks. Start it
// with Start.
func NewServer(cfg ServerConfig, m *Metrics, checks ...Check) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Server{cfg: cfg, m: m, checks: checks, results: make([]error, len(checks))}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// Start listens (an address in use fails here, at start) and serves in the
// background; the checks start running at once.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("monitoring listener: %w", err)
	}
	s.ln = ln
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.done = make(chan struct{})
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("monitoring listener stopped", "error", err)
		}
	}()
	go s.checkLoop(ctx)
	s.cfg.Logger.Info("monitoring listener started", "address", ln.Addr().String(), "pprof", s.cfg.Pprof)
	return nil
}

// Addr is the address listened on (after Start).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// SetDraining makes /readyz answer 503 from now on (shutdown).
func (s *Server) SetDraining() { s.draining.Store(true) }

// Close stops the checks and the listener, letting requests in flight
// finish within ctx.
func (s *Server) Close(ctx context.Context) error {
	if s.stop == nil {
		return nil
	}
	s.stop()
	<-s.done
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("monitoring listener: %w", err)
	}
	return nil
}

func (s *Server) checkLoop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.CheckInterval)
	defer t.Stop()
	for {
		s.runChecks(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) runChecks(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CheckTimeout)
	defer cancel()
	res := make([]error, len(s.checks))
	var wg sync.WaitGroup
	for i, c := range s.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = c.Run(ctx)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) {
		return // stopping
	}
	s.mu.Lock()
	prev, was := s.results, s.checked
	s.results, s.checked = res, true
	s.mu.Unlock()
	for i, err := range res {
		switch {
		case errors.Is(err, ErrStarting):
		case err != nil && (!was || prev[i] == nil || errors.Is(prev[i], ErrStarting)):
			s.cfg.Logger.Warn("readiness check failed", "check", s.checks[i].Name, "error", err)
		case err == nil && was && prev[i] != nil && !errors.Is(prev[i], ErrStarting):
			s.cfg.Logger.Info("readiness check passes again", "check", s.checks[i].Name)
		}
	}
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	ready := true
	s.mu.Lock()
	if !s.checked {
		ready = false
		b.WriteString("starting: no check has run yet\n")
	}
	for i, c := range s.checks {
		if !s.checked {
			break
		}
		if err := s.results[i]; err != nil {
			ready = false
			fmt.Fprintf(&b, "%s: failed: %v\n", c.Name, err)
		} else {
			fmt.Fprintf(&b, "%s: ok\n", c.Name)
		}
	}
	s.mu.Unlock()
	if s.draining.Load() {
		ready = false
		b.WriteString("draining: shutting down\n")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprint(w, b.String())
}
