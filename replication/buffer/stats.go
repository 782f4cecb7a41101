package buffer

import "github.com/tandemcc/tandem/command"

// Stats is a snapshot of the buffer's fill.
type Stats struct {
	// UsedBytes counts the framed bytes of records not yet acknowledged
	// by every active consumer (exact, not rounded to segments).
	UsedBytes int64 `json:"used_bytes"`
	MaxBytes  int64 `json:"max_bytes"`
	// Percent is 100 × UsedBytes / MaxBytes.
	Percent float64 `json:"percent"`
	// DiskBytes is the size of the segment files; it exceeds UsedBytes by
	// records already acknowledged in partly released segments.
	DiskBytes int64 `json:"disk_bytes"`
	Segments  int   `json:"segments"`
	// Last is the last appended position (zero when nothing ever was).
	Last command.Position `json:"last"`
	// Oldest names the active consumer holding the oldest data, i.e. with
	// the largest backlog, when exactly one has it; "" when no active
	// consumer has a backlog or several tie for it.
	Oldest string `json:"oldest,omitempty"`
	// RepairedBytes is what Open cut from a torn tail.
	RepairedBytes int64           `json:"repaired_bytes,omitempty"`
	Consumers     []ConsumerStats `json:"consumers"`
}

// ConsumerStats is one consumer's part of Stats.
type ConsumerStats struct {
	Name   string           `json:"name"`
	Active bool             `json:"active"`
	Cursor command.Position `json:"cursor"`
	// BacklogBytes and BacklogRecords measure what it has not acknowledged.
	BacklogBytes   int64 `json:"backlog_bytes"`
	BacklogRecords int64 `json:"backlog_records"`
	// Gap reports that records were dropped before it acknowledged them
	// (while it was detached): its target needs a sync. Reset clears it.
	Gap bool `json:"gap,omitempty"`
}

// Stats reports the buffer's fill, per consumer in name order.
func (b *Buffer) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Stats{
		UsedBytes: b.usedLocked(), MaxBytes: b.opts.MaxBytes,
		Segments: len(b.segs), Last: b.last, RepairedBytes: b.repaired,
	}
	s.Percent = 100 * float64(s.UsedBytes) / float64(s.MaxBytes)
	if len(b.segs) > 0 {
		s.DiskBytes = b.end - b.segs[0].base
	}
	var most int64
	ties := 0
	for _, n := range b.names {
		c := b.consumers[n]
		cs := ConsumerStats{
			Name: n, Active: c.active, Cursor: c.pos, Gap: c.gap,
			BacklogBytes: b.end - c.loc.off, BacklogRecords: b.endNum - c.loc.num,
		}
		s.Consumers = append(s.Consumers, cs)
		switch {
		case !c.active || cs.BacklogBytes == 0 || cs.BacklogBytes < most:
		case cs.BacklogBytes == most:
			ties++
		default:
			most, ties, s.Oldest = cs.BacklogBytes, 1, n
		}
	}
	if ties > 1 {
		s.Oldest = ""
	}
	return s
}
