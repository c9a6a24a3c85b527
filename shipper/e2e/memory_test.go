package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper/stacktest"
)

// peakRSS is the process's peak resident set (VmHWM of /proc/PID/status).
func (p *shipperProc) peakRSS() int64 {
	p.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		p.t.Fatalf("status of %s: %v", p.name, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				p.t.Fatal(err)
			}
			return kb << 10
		}
	}
	p.t.Fatalf("no VmHWM in /proc/%d/status", p.cmd.Process.Pid)
	return 0
}

// TestLargeMessagesMemoryIntegration: three messages of 5 MB arrive at
// once (on a topic allowing them): messages holding 5 MB of Exim lines
// each, and messages of one 5 MB line. eximship indexes them all, and its
// peak RSS stays within the bound the README documents for the
// configuration and that message size. (The README's earlier bound, about
// 200 MiB whatever the messages, was exceeded: 231 MB for three one-line
// messages.)
func TestLargeMessagesMemoryIntegration(t *testing.T) {
	brokers := stacktest.KafkaBrokers(t)
	esURL := stacktest.ElasticURL(t)
	seed := readLines(t, seedLog(t))
	const size = 5 << 20
	for _, tc := range []struct {
		name  string
		count int
		value func(i int) []byte
	}{
		{"lines", 3, func(i int) []byte {
			var b bytes.Buffer
			for j := 0; b.Len() < size; j++ {
				b.Write(seed[(i*7919+j)%len(seed)])
				b.WriteByte('\n')
			}
			return b.Bytes()[:size]
		}},
		{"one-line", 3, func(i int) []byte {
			b := bytes.Repeat([]byte("relay attempt from a very chatty client "), size/40+1)
			return append([]byte(fmt.Sprintf("2024-06-29 16:04:19 1rABCD-%06d-AB H=(x) [1.2.3.4] rejected: ", i)), b...)[:size]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, esURL)
			env.es.installTemplates(t)
			env.kafka = newKafkaEnv(brokers, largeTopic(t, brokers))
			env.group = env.kafka.topic + "-group"
			w := env.kafka.writer()
			w.BatchBytes = 64 << 20
			msgs := make([]kafka.Message, tc.count)
			for i := range msgs {
				msgs[i] = kafka.Message{Key: lineKey(i + 1), Value: tc.value(i)}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("produce %d messages of %d bytes: %v", len(msgs), size, err)
			}
			w.Close()
			end := env.kafka.endOffsets(t)
			sp := env.startShipper("run", env.writeConfig(config{}))
			env.kafka.waitCommitted(t, env.group, end, 10*time.Minute, sp.checkAlive)
			peak := sp.peakRSS()
			sp.stop(30 * time.Second)
			fs := sp.finalStats()
			if fs == nil || fs.Consumed != int64(tc.count) || fs.Docs == 0 || fs.Indexed+fs.DeadLettered != fs.Docs {
				t.Fatalf("final stats %+v", fs)
			}
			bound := readmeMemoryBound(size, tc.count)
			t.Logf("%d messages of %d MiB (%d documents): peak RSS %d MiB, documented bound %d MiB", tc.count, size>>20, fs.Docs, peak>>20, bound>>20)
			if peak > bound {
				t.Errorf("peak RSS %d MiB above the README's bound of %d MiB for messages of %d MiB", peak>>20, bound>>20, size>>20)
			}
		})
	}
}

// readmeMemoryBound is the README's bound ("Memory") for the default
// configuration (in-flight 64 MiB, max_bytes 4 MiB, 6 partitions, 4
// workers, batch_bytes 4 MiB, flush_bytes 5 MB), messages of at most m
// bytes, n of them in kafka-go's prefetch queue:
//
//	min(in-flight, unacked) + partitions x max(max_bytes, m)
//	+ workers x (10 x max(batch_bytes, m) + flush_bytes) + 32 MiB + n x m
func readmeMemoryBound(m int64, n int) int64 {
	const mib = 1 << 20
	b := int64(64 * mib)
	b += partitions * max(4*mib, m)
	b += 4 * (10*max(4*mib, m) + 5_000_000)
	return b + 32*mib + int64(n)*m
}

// largeTopic creates a 6-partition topic that accepts 16 MiB messages.
func largeTopic(t *testing.T, brokers []string) string {
	t.Helper()
	topic := stacktest.UniqueName("eximship-large-")
	stacktest.CreateTopic(t, brokers, topic, partitions, kafka.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(16 << 20)})
	return topic
}
