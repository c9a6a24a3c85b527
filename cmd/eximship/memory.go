package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/eximship/eximship/shipper"
	"github.com/eximship/eximship/shipper/elastic"
	"github.com/eximship/eximship/shipper/kafka"
)

// Memory bound of run (README, "Memory"): the live data at worst, for
// messages of at most m bytes, in P partitions:
//
//	min(max_in_flight_bytes, max_unacked_bytes)      input read, not yet indexed
//	+ P x max(kafka.max_bytes, m)                     one fetch per partition
//	+ workers x (10 x max(batch_bytes, m) + flush_bytes)
//	                                                  batches being parsed and written:
//	                                                  documents (6x the input for Exim
//	                                                  lines, 2x for one long line) with
//	                                                  their input, framing and encoding
//	                                                  copies, one bulk request
//	+ 32 MiB                                          code, runtime, connection buffers
//
// plus kafka-go's prefetch queue: up to queue_capacity messages (about a
// quarter MiB for 1000 Exim lines; queue_capacity x m for messages of m).
const (
	memoryPerBatch = 10
	memoryOverhead = 32 << 20
)

// memoryBound computes the bound for messages of at most m bytes.
func memoryBound(kc kafka.Config, ec elastic.Config, pc shipper.Config, partitions int, m int64) int64 {
	kc, ec, pc = kc.WithDefaults(), ec.WithDefaults(), pc.WithDefaults()
	b := min(pc.MaxInFlightBytes, kc.MaxUnackedBytes)
	b += int64(partitions) * max(int64(kc.MaxBytes), m)
	b += int64(pc.Workers) * (memoryPerBatch*max(int64(kc.BatchBytes), m) + int64(ec.FlushBytes))
	return b + memoryOverhead
}

// setMemoryLimit makes the bound (for messages up to batch_bytes) the Go
// runtime's soft memory limit, so that the garbage collector keeps the
// process within it instead of letting the heap grow to twice the live
// data; GOMEMLIMIT, when set, wins.
func setMemoryLimit(log *slog.Logger, bound int64) {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		log.Info("memory limit from GOMEMLIMIT", "limit", v)
		return
	}
	debug.SetMemoryLimit(bound)
	log.Info("memory limit set to the configuration's bound (README, Memory; GOMEMLIMIT overrides)", "limit", fmt.Sprintf("%d MiB", bound>>20))
}
