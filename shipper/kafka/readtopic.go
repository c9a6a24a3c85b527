package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/eximship/eximship/shipper"
)

// ReadTopic reads every message of topic that exists when it is called:
// each partition from its oldest retained offset up to its high watermark
// at the start, in offset order per partition, without a consumer group
// (nothing is committed). It calls fn for each message and stops at the
// first error fn returns. It uses cfg's brokers, client id, TLS and SASL.
func ReadTopic(ctx context.Context, cfg Config, topic string, fn func(shipper.Message) error) error {
	cfg.setDefaults()
	tr, err := newTransport(cfg.ClientID, cfg.TLS, cfg.SASL)
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Timeout: 30 * time.Second, Transport: tr}
	if _, err := checkTopics(ctx, client, cfg, []string{topic}); err != nil {
		return err
	}
	md, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return fmt.Errorf("metadata of %s: %w", topic, explain(cfg, err))
	}
	req := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}}
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			req.Topics[topic] = append(req.Topics[topic], kafkago.FirstOffsetOf(p.ID), kafkago.LastOffsetOf(p.ID))
		}
	}
	offs, err := client.ListOffsets(ctx, req)
	if err != nil {
		return fmt.Errorf("offsets of %s: %w", topic, err)
	}
	dialer, err := cfg.dialer()
	if err != nil {
		return err
	}
	for _, p := range offs.Topics[topic] {
		if p.Error != nil {
			return fmt.Errorf("offsets of %s/%d: %w", topic, p.Partition, p.Error)
		}
		if p.LastOffset <= p.FirstOffset {
			continue
		}
		if err := readPartition(ctx, cfg, dialer, topic, p, fn); err != nil {
			return err
		}
	}
	return nil
}

func readPartition(ctx context.Context, cfg Config, dialer *kafkago.Dialer, topic string, p kafkago.PartitionOffsets, fn func(shipper.Message) error) error {
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: cfg.Brokers, Topic: topic, Partition: p.Partition, Dialer: dialer,
		MinBytes: 1, MaxBytes: cfg.MaxBytes, MaxWait: cfg.MaxWait,
	})
	defer r.Close()
	if err := r.SetOffset(p.FirstOffset); err != nil {
		return fmt.Errorf("%s/%d: %w", topic, p.Partition, err)
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return fmt.Errorf("read %s/%d: %w", topic, p.Partition, explain(cfg, err))
		}
		if err := fn(shipper.Message{
			Position: shipper.Position{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset},
			Key:      m.Key, Value: m.Value, Time: m.Time,
		}); err != nil {
			return err
		}
		if m.Offset >= p.LastOffset-1 {
			return nil
		}
	}
}
