package cluster

import (
	"sync"

	"github.com/hashicorp/raft"
)

// NewBenchFSM is, for the package's external tests (benchmarks with the
// real event sinks of other packages, which import this one), an FSM over
// machines and sinks and its ApplyBatch.
func NewBenchFSM(machines []Machine, sinks []EventSink) (func([]*raft.Log) []any, error) {
	f, err := newFSM(machines, nil, sinks, nil)
	if err != nil {
		return nil, err
	}
	return f.ApplyBatch, nil
}

// ResponseErr is the refusal or failure of an ApplyBatch response.
func ResponseErr(r any) error { return r.(*applyResponse).err }

// PackEntry is the log entry the leader writes for an encoded envelope
// when every member reads compressed entries.
func PackEntry(data []byte) []byte { return packEntry(data, true, &sync.Pool{}) }
