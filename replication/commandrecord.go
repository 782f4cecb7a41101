package replication

import (
	"encoding/json"
	"fmt"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
)

// CommandRecordType is the type of the buffer records that carry a
// committed engine command for the standby target (replication/standby
// DESIGN.md). Such a record sits in the stream right after the events of
// its command, at (raft index, number of those events), so positions stay
// strictly increasing. Every other target skips these records.
const CommandRecordType = "replication.command"

// CommandRecord is the data of a CommandRecordType record.
type CommandRecord struct {
	// N is the primary's count of applied engine commands, this one
	// included: the standby notices a missing command by the jump.
	N uint64 `json:"n"`
	// Env is the envelope as it was committed.
	Env json.RawMessage `json:"env"`
}

// IsCommandRecord reports whether ev is a command record.
func IsCommandRecord(ev *command.Event) bool { return ev.Type == CommandRecordType }

// DecodeCommandRecord reads the data of a command record.
func DecodeCommandRecord(ev *command.Event) (CommandRecord, error) {
	var r CommandRecord
	if !IsCommandRecord(ev) {
		return r, fmt.Errorf("record %d.%d is a %s, not a command record", ev.Index, ev.Seq, ev.Type)
	}
	if err := json.Unmarshal(ev.Data, &r); err != nil {
		return r, fmt.Errorf("decoding command record %d.%d: %w", ev.Index, ev.Seq, err)
	}
	if len(r.Env) == 0 {
		return r, fmt.Errorf("command record %d.%d carries no envelope", ev.Index, ev.Seq)
	}
	return r, nil
}

// commandRecord builds the record of one committed command.
func commandRecord(c cluster.Committed) (command.Event, error) {
	env, err := command.Encode(c.Env)
	if err != nil {
		return command.Event{}, err
	}
	data, err := json.Marshal(CommandRecord{N: c.N, Env: env})
	if err != nil {
		return command.Event{}, fmt.Errorf("encoding command record %d: %w", c.Index, err)
	}
	return command.Event{Index: c.Index, Seq: c.Events, Type: CommandRecordType,
		Time: c.Env.Time, CommandID: c.Env.ID, Data: data}, nil
}

// PublishCommitted implements cluster.CommandSink. With a standby target
// configured, each committed engine command is appended as a command
// record after its events; the engine's events themselves are kept only
// when a reporting target needs them. Without a standby target it is
// Publish.
func (m *Manager) PublishCommitted(events []command.Event, cmds []cluster.Committed) {
	_, reporting := m.cons[Reporting]
	if _, ok := m.cons[Standby]; !ok {
		m.Publish(events)
		return
	}
	control := controlEvents(events)
	if len(cmds) == 0 {
		if reporting {
			m.publish(events, control)
		} else {
			m.publish(nil, control)
		}
		return
	}
	out := make([]command.Event, 0, len(events)+len(cmds))
	i := 0
	for _, c := range cmds {
		for ; i < len(events) && events[i].Index <= c.Index; i++ {
			if reporting {
				out = append(out, events[i])
			}
		}
		rec, err := commandRecord(c)
		if err != nil {
			// Encode only fails on an envelope that could not have been
			// committed; the standby will report the missing number.
			m.log.Error("replication: building a command record", "index", c.Index, "err", err)
			continue
		}
		out = append(out, rec)
	}
	if reporting {
		out = append(out, events[i:]...)
	}
	m.publish(out, control)
}

// withoutCommandRecords returns events without the command records, and
// the position of the batch's last record.
func withoutCommandRecords(events []command.Event) ([]command.Event, command.Position) {
	if len(events) == 0 {
		return events, command.Position{}
	}
	last := events[len(events)-1].Pos()
	n := 0
	for i := range events {
		if IsCommandRecord(&events[i]) {
			continue
		}
		n++
	}
	if n == len(events) {
		return events, last
	}
	out := make([]command.Event, 0, n)
	for i := range events {
		if !IsCommandRecord(&events[i]) {
			out = append(out, events[i])
		}
	}
	return out, last
}
