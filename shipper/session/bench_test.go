package session

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/eximship/eximship/shipper/exim"
)

// benchRecords parses the real-Exim main logs of two variants (default:
// inferred sessions; all: pid, port and connection lines) into records.
func benchRecords(b *testing.B, variant string) []exim.Record {
	b.Helper()
	p := exim.NewParser(exim.Options{Location: time.UTC})
	var data []byte
	if variant == "bench" {
		// the first 100,000 lines of scripts/bench/parse-vs-eximstats's log
		// (a real Exim's relay-heavy traffic, replicated), when present
		path := os.Getenv("EXIMSHIP_BENCH_LOG")
		if path == "" {
			home, _ := os.UserHomeDir()
			path = filepath.Join(home, ".cache", "eximship", "bench", "mainlog-1000000")
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			b.Skipf("no benchmark log (%v): scripts/bench/parse-vs-eximstats makes it", err)
		}
		lines := bytes.SplitAfterN(raw, []byte("\n"), 100001)
		data = bytes.Join(lines[:min(len(lines), 100000)], nil)
	} else {
		data = readFile(b, "../exim/testdata/real/"+variant+"/mainlog")
	}
	var recs []exim.Record
	for _, e := range entries(data) {
		var r exim.Record
		r.Meta = exim.Meta{HostName: "mx.example.org", Dataset: "exim.main"}
		p.Parse(e, &r)
		recs = append(recs, r)
	}
	return recs
}

// BenchmarkTracker is the tracker's CPU per log line (ns/op is per line),
// over real Exim logs replayed with their times shifted by an hour each
// round, so that every round makes new sessions.
func BenchmarkTracker(b *testing.B) {
	for _, v := range []string{"default", "all", "bench"} {
		b.Run(v, func(b *testing.B) {
			recs := benchRecords(b, v)
			base := make([]time.Time, len(recs))
			for i := range recs {
				base[i] = recs[i].Time
			}
			tr := newTracker(b, Config{})
			b.ReportAllocs()
			b.ResetTimer()
			round := 0
			for i := 0; i < b.N; i++ {
				j := i % len(recs)
				if j == 0 {
					round++
				}
				r := &recs[j]
				r.Time = base[j].Add(time.Duration(round) * time.Hour)
				tr.Observe(r)
			}
		})
	}
}

// BenchmarkTrackerMemory reports the heap bytes per session held: one
// connection per client address, each with a rejected RCPT, none closed.
func BenchmarkTrackerMemory(b *testing.B) {
	const n = 20000
	p := exim.NewParser(exim.Options{Location: time.UTC})
	recs := make([]exim.Record, n)
	for i := range recs {
		line := fmt.Sprintf("2026-11-25 10:00:00 [%d] H=(helo%d.example.net) [10.%d.%d.%d]:%d F=<sender%d@example.net> rejected RCPT <v@gmail.example>: relay not permitted",
			1000+i, i, i>>16&255, i>>8&255, i&255, 1024+i%60000, i)
		recs[i].Meta = exim.Meta{HostName: "mx.example.org", Dataset: "exim.main"}
		p.Parse([]byte(line), &recs[i])
	}
	b.ResetTimer()
	var perSession float64
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		tr := newTracker(b, Config{MaxOpen: n, MaxTwins: n})
		for j := range recs {
			tr.Observe(&recs[j])
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if tr.Size() != n {
			b.Fatalf("tracker holds %d sessions, want %d", tr.Size(), n)
		}
		perSession = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(tr)
	}
	b.ReportMetric(perSession, "B/session")
}
