package main

import (
	"sync"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/process"
)

// processors makes the pipeline's processors (one per worker) and keeps
// them, so that the sessions they hold can be read at any time (the
// eximship_sessions_open gauge).
type processors struct {
	mu    sync.Mutex
	procs []*process.Exim
}

// factory returns the pipeline's processor constructor for c.
func (ps *processors) factory(c process.Config) func() (shipper.Processor, error) {
	return func() (shipper.Processor, error) {
		p, err := process.New(c)
		if err != nil {
			return nil, err
		}
		ps.mu.Lock()
		ps.procs = append(ps.procs, p)
		ps.mu.Unlock()
		return p, nil
	}
}

// sessions returns the SMTP sessions the processors' trackers hold (one
// tracker per Kafka partition; each bounded by sessions.max_open).
func (ps *processors) sessions() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	n := 0
	for _, p := range ps.procs {
		n += p.Sessions()
	}
	return n
}
