// Command consume measures eximship's Kafka consumption alone: it reads a
// topic from the beginning with shipper/kafka.Source (the consumer group
// Source `eximship run` uses, with its defaults) in a fresh consumer group,
// acknowledges every batch at once (no processing, no Elasticsearch), and
// stops when it consumed -messages messages. It reports messages/s, MB/s,
// its CPU seconds and peak RSS as one JSON object, to compare with kcat on
// the same topic (issue 4: goal >= 80% of kcat's rate).
//
//	go run ./scripts/bench/consume -topic T -messages 1000000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper/kafka"
)

type result struct {
	Messages    int64   `json:"messages"`
	Bytes       int64   `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	MsgsPerSec  float64 `json:"messages_per_sec"`
	MBPerSec    float64 `json:"mb_per_sec"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	PeakRSSKB   int64   `json:"peak_rss_kb"`
	Group       string  `json:"group"`
	FirstFetchS float64 `json:"first_message_after_seconds"`
}

func main() {
	log.SetFlags(0)
	brokers := flag.String("brokers", envOr("EXIMSHIP_KAFKA_BROKERS", "127.0.0.1:9092"), "comma-separated bootstrap `addresses`")
	topic := flag.String("topic", "", "topic to consume (required)")
	want := flag.Int64("messages", 0, "stop after this many messages (required: the topic's size)")
	group := flag.String("group", fmt.Sprintf("bench-consume-%d", time.Now().UnixNano()), "consumer group (fresh by default)")
	timeout := flag.Duration("timeout", 30*time.Minute, "give up after")
	del := flag.Bool("delete-topic", false, "only delete -topic (cleanup) and exit")
	flag.Parse()
	if *del && *topic != "" {
		c := &kafkago.Client{Addr: kafkago.TCP(strings.Split(*brokers, ",")...), Timeout: 30 * time.Second}
		res, err := c.DeleteTopics(context.Background(), &kafkago.DeleteTopicsRequest{Topics: []string{*topic}})
		if err == nil {
			err = res.Errors[*topic]
		}
		if err != nil {
			log.Fatalf("consume: delete topic %s: %v", *topic, err)
		}
		return
	}
	if *topic == "" || *want <= 0 {
		log.Fatal("consume: -topic and -messages are required")
	}
	src, err := kafka.New(kafka.Config{
		Brokers: strings.Split(*brokers, ","), Topics: []string{*topic}, GroupID: *group,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		log.Fatalf("consume: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var r result
	r.Group = *group
	start := time.Now()
	var first time.Time
	for r.Messages < *want {
		msgs, ack, err := src.Read(ctx)
		if err != nil {
			log.Fatalf("consume: read after %d messages: %v", r.Messages, err)
		}
		if first.IsZero() {
			first = time.Now()
		}
		for i := range msgs {
			r.Bytes += int64(len(msgs[i].Value))
		}
		r.Messages += int64(len(msgs))
		if err := ack(ctx, nil); err != nil {
			log.Fatalf("consume: ack: %v", err)
		}
	}
	// The rate counts from the first message: joining the group is not
	// consumption (kcat, without a group, does not join one either).
	el := time.Since(first).Seconds()
	r.Seconds = el
	r.FirstFetchS = first.Sub(start).Seconds()
	r.MsgsPerSec = float64(r.Messages) / el
	r.MBPerSec = float64(r.Bytes) / el / 1e6
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		r.CPUSeconds = float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
		r.PeakRSSKB = ru.Maxrss
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	if err := src.Close(cctx); err != nil {
		log.Printf("consume: close: %v", err)
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
