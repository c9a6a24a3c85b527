package kafka

// The offset tracker decides, per partition, which offset may be committed.
//
// Read hands out batches; each batch holds, per partition, one or more
// segments: runs of consecutively fetched offsets. The pipeline acknowledges
// batches out of order. A partition's commit point is the offset after the
// longest prefix of its fetched segments that is entirely acknowledged; only
// that point is ever committed (Kafka semantics: the committed offset is the
// next offset to consume). Contiguity is over *fetched* records, not over
// integers: compaction and transaction markers leave holes in the offset space
// that are never fetched and must not block the commit.
//
// A negatively acknowledged (failed) segment blocks its partition's commit
// point for good: nothing after it is committed by this process, so it is
// delivered again after a restart or rebalance. The pipeline retries writes
// forever, so failures only happen at shutdown.
//
// Rebalances. kafka-go's Reader can hand out messages fetched in a previous
// consumer group generation after a rebalance (kafka-go #1398), and a
// partition assigned again starts at the group's committed offset, which is
// at or below what this process fetched last. The tracker therefore starts a
// new epoch for a partition whenever a fetched offset goes backwards: the old
// segments are dropped and late acknowledgements for them are ignored. That is
// safe because the new epoch starts at the group's committed offset, which
// only ever covers durable records, and because document ids derive from the
// input position, so re-delivered records duplicate nothing. A new epoch is
// never started on anything but a backwards offset: a stale message handed
// out after a rebalance continues its old run of offsets (kafka-go's queue is
// FIFO and the old partition readers stop before new ones start), so treating
// it as the start of a new epoch could skip unacknowledged records.
//
// A partition that is re-assigned at an offset beyond what this process
// fetched (another member consumed and committed the records in between)
// simply continues: the skipped range was committed by that member, so it is
// durable.

type topicPartition struct {
	topic     string
	partition int
}

type segState uint8

const (
	segPending segState = iota
	segDone
	segFailed
)

// segment is a run of fetched offsets of one partition ending at last.
type segment struct {
	last  int64
	state segState
}

// partState is the tracker's view of one partition.
type partState struct {
	epoch uint64
	// next is the offset after the last fetched one (-1 before any fetch).
	next int64
	// point is the commit point: every fetched offset below it is acked.
	point int64
	// committed is the last offset committed by this process in this
	// epoch (the epoch's start counts as committed: it came from the group).
	committed int64
	// segs are the segments after point, in fetch order; segs[0] has
	// sequence number head.
	segs []segment
	head uint64
	// blocked is set when a segment failed: point never passes it.
	blocked bool
	// hwm is the partition's high watermark at the last fetch.
	hwm int64
	// resets counts the epochs started after the first.
	resets int64
	// gen is the Source's rebalance generation at the last fetch (for lag).
	gen uint64
}

// segRef identifies a segment registered with the tracker.
type segRef struct {
	p     *partState
	epoch uint64
	seq   uint64
}

// tracker holds the state of every partition fetched from. It is not safe for
// concurrent use; Source guards it with its mutex.
type tracker struct {
	parts  map[topicPartition]*partState
	epochs uint64
}

func newTracker() *tracker {
	return &tracker{parts: make(map[topicPartition]*partState)}
}

// fetched registers the segment [first, last] of a partition (first <= last,
// offsets fetched consecutively) and returns its reference. hwm is the
// partition's high watermark reported with the last message.
func (t *tracker) fetched(topic string, partition int, first, last, hwm int64) segRef {
	key := topicPartition{topic, partition}
	p := t.parts[key]
	if p == nil {
		p = &partState{next: -1}
		t.parts[key] = p
		t.reset(p, first)
	} else if first < p.next {
		// Offsets went backwards: the partition was assigned again and
		// restarted at the group's committed offset.
		t.reset(p, first)
		p.resets++
	}
	p.segs = append(p.segs, segment{last: last})
	p.next = last + 1
	if hwm > 0 {
		p.hwm = hwm
	}
	return segRef{p: p, epoch: p.epoch, seq: p.head + uint64(len(p.segs)-1)}
}

// reset starts a new epoch for p at offset start.
func (t *tracker) reset(p *partState, start int64) {
	t.epochs++
	p.epoch = t.epochs
	p.point = start
	p.committed = start
	p.head = 0
	p.segs = p.segs[:0]
	p.blocked = false
}

// ack records the fate of a segment. Acknowledgements of a previous epoch are
// ignored (their records are delivered again in the new epoch). It reports
// whether the segment was current.
func (t *tracker) ack(r segRef, ok bool) bool {
	p := r.p
	if r.epoch != p.epoch || r.seq < p.head {
		return false
	}
	i := int(r.seq - p.head)
	if i >= len(p.segs) || p.segs[i].state != segPending {
		return false
	}
	if !ok {
		p.segs[i].state = segFailed
		p.blocked = true
		return true
	}
	p.segs[i].state = segDone
	n := 0
	for n < len(p.segs) && p.segs[n].state == segDone {
		p.point = p.segs[n].last + 1
		n++
	}
	if n > 0 {
		// Shift the rest down: a partition has few segments in flight, and
		// this keeps the backing array for reuse.
		p.segs = p.segs[:copy(p.segs, p.segs[n:])]
		p.head += uint64(n)
	}
	return true
}

// commitOffset is an offset to commit: the next offset to consume.
type commitOffset struct {
	Topic     string
	Partition int
	Offset    int64
	epoch     uint64
}

// pending appends to dst the partitions whose commit point moved past what
// was committed.
func (t *tracker) pending(dst []commitOffset) []commitOffset {
	for k, p := range t.parts {
		if p.point > p.committed {
			dst = append(dst, commitOffset{Topic: k.topic, Partition: k.partition, Offset: p.point, epoch: p.epoch})
		}
	}
	return dst
}

// markCommitted records that the offsets were committed.
func (t *tracker) markCommitted(cs []commitOffset) {
	for _, c := range cs {
		p := t.parts[topicPartition{c.Topic, c.Partition}]
		if p != nil && p.epoch == c.epoch && c.Offset > p.committed {
			p.committed = c.Offset
		}
	}
}
