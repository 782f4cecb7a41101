package buffer

import "github.com/tandemcc/tandem/command"

// Stats is a snapshot of the buffer's fill and health.
type Stats struct {
	// MaxBytes is the capacity (Options.MaxBytes).
	MaxBytes int64 `json:"max_bytes"`
	// UsedBytes is the largest backlog of an attached consumer: the
	// framed bytes the buffer must keep for it (exact, not rounded to
	// segments). Detached consumers hold nothing.
	UsedBytes int64 `json:"used_bytes"`
	// Percent is 100 × UsedBytes / MaxBytes: the overall fill the alarms
	// read. It can pass 100 only by gap records.
	Percent float64 `json:"percent"`
	// DiskBytes is the size of the segment files; it exceeds UsedBytes by
	// acknowledged records in segments not yet reclaimed (less than
	// SegmentBytes plus the last segment).
	DiskBytes int64 `json:"disk_bytes"`
	Segments  int   `json:"segments"`
	// SegmentBytes is the size at which segments are sealed.
	SegmentBytes int64 `json:"segment_bytes"`
	// Last is the last position appended or recorded as dropped.
	Last command.Position `json:"last"`
	// Floor: records up to here have been reclaimed.
	Floor command.Position `json:"floor"`
	// DroppedEvents counts events Append refused since Open (ErrFull,
	// ErrTooLarge); LostUpTo is the newest gap record still stored.
	DroppedEvents int64            `json:"dropped_events,omitempty"`
	LostUpTo      command.Position `json:"lost_up_to"`
	// Failed is the disk error that made the buffer refuse appends
	// (ErrFailed), empty when healthy.
	Failed string `json:"failed,omitempty"`
	// NoSpace is the last write that failed for lack of disk space
	// (ENOSPC, EDQUOT); empty once a write succeeds again.
	NoSpace string `json:"no_space,omitempty"`
	// NoSpaceEvents counts the events lost for lack of space since Open
	// (also in DroppedEvents).
	NoSpaceEvents int64 `json:"no_space_events,omitempty"`
	// PendingGap is set while the gap record of events lost for lack of
	// space is not yet on disk (even it did not fit): Sync fails until it
	// is written, so Raft keeps the log that a restart would replay.
	PendingGap bool `json:"pending_gap,omitempty"`
	// RepairedBytes is what Open cut from a torn tail.
	RepairedBytes int64 `json:"repaired_bytes,omitempty"`
	// Consumers, in name order.
	Consumers []ConsumerStats `json:"consumers"`
}

// ConsumerStats is one consumer's share of the buffer.
type ConsumerStats struct {
	Name     string `json:"name"`
	Attached bool   `json:"attached"`
	// Cursor is the last acknowledged position.
	Cursor command.Position `json:"cursor"`
	// BacklogBytes and BacklogEvents measure what is stored after the
	// cursor (for a detached consumer: what is still there of it).
	BacklogBytes  int64 `json:"backlog_bytes"`
	BacklogEvents int64 `json:"backlog_events"`
	// Percent is the consumer's fill: 100 × the bytes the buffer still
	// keeps for it ÷ capacity; 0 when detached, as it keeps nothing.
	Percent float64 `json:"percent"`
	// Gap reports that records after its cursor were dropped (overflow)
	// or reclaimed while it was detached: its target needs a sync.
	// Reset clears it.
	Gap bool `json:"gap,omitempty"`
}

// Stats reports the buffer's fill, overall and per consumer.
func (b *Buffer) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Stats{
		MaxBytes: b.opts.MaxBytes, UsedBytes: b.end - b.keepLocked(),
		Segments: len(b.segs), SegmentBytes: b.opts.SegmentBytes,
		Last: b.last, Floor: b.floor, DroppedEvents: b.dropped, LostUpTo: b.lostUpTo,
		RepairedBytes: b.repaired,
	}
	s.Percent = percent(s.UsedBytes, s.MaxBytes)
	if len(b.segs) > 0 {
		s.DiskBytes = b.end - b.segs[0].base
	}
	if b.failed != nil {
		s.Failed = b.failed.Error()
	}
	if b.noSpace != nil {
		s.NoSpace = b.noSpace.Error()
	}
	s.NoSpaceEvents, s.PendingGap = b.noSpaceN, b.pend.count > 0
	for _, n := range b.names {
		s.Consumers = append(s.Consumers, b.consumerStatsLocked(b.consumers[n]))
	}
	return s
}

func (b *Buffer) consumerStatsLocked(c *consumer) ConsumerStats {
	cs := ConsumerStats{
		Name: c.name, Attached: c.attached, Cursor: c.pos, Gap: c.gap,
		BacklogBytes: b.end - c.loc.off, BacklogEvents: b.endNum - c.loc.num,
	}
	if c.attached {
		cs.Percent = percent(cs.BacklogBytes, b.opts.MaxBytes)
	}
	return cs
}

func percent(n, of int64) float64 { return 100 * float64(n) / float64(of) }
