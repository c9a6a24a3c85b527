package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// PartitionLag is the consumer group's lag on one partition.
type PartitionLag struct {
	Topic     string
	Partition int
	// HighWaterMark is the offset after the last message in the partition.
	HighWaterMark int64
	// Committed is the group's committed offset, -1 when it has none.
	Committed int64
	// Lag is HighWaterMark - Committed: messages not yet committed. For a
	// partition without a committed offset it counts from the oldest
	// retained message with StartOffset "first", and is 0 with "last".
	Lag int64
}

// Lag returns the consumer group's lag: over every partition of the
// consumed topics, the messages between the group's committed offset and
// the partition's high watermark, as measured every LagInterval (the same
// number kafka-consumer-groups.sh --describe sums). It grows while
// Elasticsearch is down and nothing is committed, whatever this process
// has fetched. It is -1 before the first measurement succeeded. Being the
// group's, it is the same on every member: aggregate members with max, not
// sum. It implements shipper.Lagger.
func (s *Source) Lag() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.groupLagLocked()
}

func (s *Source) groupLagLocked() int64 {
	if s.lagAt.IsZero() {
		return -1
	}
	var sum int64
	for _, p := range s.lags {
		sum += p.Lag
	}
	return sum
}

// PartitionLags returns the last measurement of the group's lag per
// partition (sorted by topic and partition), when it was taken, and the
// error of the last attempt (nil when it succeeded).
func (s *Source) PartitionLags() ([]PartitionLag, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]PartitionLag(nil), s.lags...), s.lagAt, s.lagErr
}

func (s *Source) lagLoop(ctx context.Context) {
	defer close(s.lagDone)
	t := time.NewTicker(s.cfg.LagInterval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, max(s.cfg.LagInterval, 5*time.Second))
		lags, err := s.measureLag(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		if err == nil {
			s.lags, s.lagAt = lags, time.Now()
		}
		first := err != nil && s.lagErr == nil
		s.lagErr = err
		s.mu.Unlock()
		if first {
			s.log.Warn("kafka lag measurement failed; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// measureLag asks the brokers for the partitions of the topics, their
// first and last offsets, and the group's committed offsets.
func (s *Source) measureLag(ctx context.Context) ([]PartitionLag, error) {
	md, err := s.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: s.cfg.Topics})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", explain(s.cfg, err))
	}
	offReq := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}}
	fetchReq := &kafkago.OffsetFetchRequest{GroupID: s.cfg.GroupID, Topics: map[string][]int{}}
	for _, t := range md.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of topic %q: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			offReq.Topics[t.Name] = append(offReq.Topics[t.Name], kafkago.FirstOffsetOf(p.ID), kafkago.LastOffsetOf(p.ID))
			fetchReq.Topics[t.Name] = append(fetchReq.Topics[t.Name], p.ID)
		}
	}
	offs, err := s.client.ListOffsets(ctx, offReq)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	committed, err := s.client.OffsetFetch(ctx, fetchReq)
	if err == nil && committed.Error != nil {
		err = committed.Error
	}
	if err != nil {
		return nil, fmt.Errorf("group offsets: %w", err)
	}
	group := map[topicPartition]int64{}
	for topic, ps := range committed.Topics {
		for _, p := range ps {
			if p.Error == nil {
				group[topicPartition{topic, p.Partition}] = p.CommittedOffset
			}
		}
	}
	var out []PartitionLag
	var errs []error
	for topic, ps := range offs.Topics {
		for _, p := range ps {
			if p.Error != nil {
				errs = append(errs, fmt.Errorf("offsets of %s/%d: %w", topic, p.Partition, p.Error))
				continue
			}
			pl := PartitionLag{Topic: topic, Partition: p.Partition, HighWaterMark: p.LastOffset, Committed: -1}
			c, ok := group[topicPartition{topic, p.Partition}]
			switch {
			case ok && c >= 0:
				pl.Committed = c
				pl.Lag = max(0, p.LastOffset-c)
			case s.cfg.StartOffset == StartFirst:
				pl.Lag = max(0, p.LastOffset-p.FirstOffset)
			}
			out = append(out, pl)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, nil
}
