package main

import (
	"encoding/json"
	"time"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/replication"
)

// maintenanceSink carries the engine's daily data maintenance
// (contactcenter.EvMaintenance, at the same log position on every node)
// out to what this node holds beyond the engine: its event archive. It
// is a cluster.EventSink.
type maintenanceSink struct{ repl *replication.Manager }

func (s maintenanceSink) Publish(events []command.Event) {
	for _, ev := range events {
		if ev.Type != contactcenter.EvMaintenance {
			continue
		}
		var m contactcenter.MaintenanceEvent
		if err := json.Unmarshal(ev.Data, &m); err != nil || m.EventsDays <= 0 {
			continue // an event this build cannot read changes nothing here
		}
		s.repl.Maintain(time.Unix(0, m.At), time.Duration(m.EventsDays)*24*time.Hour)
	}
}

func (maintenanceSink) Sync() error { return nil }

// engineRetention is the cluster's configured event retention.
func engineRetention(engine *contactcenter.Engine) func() time.Duration {
	return func() time.Duration {
		var d time.Duration
		engine.View(func(st *contactcenter.State) { d = st.Config.Settings.Retention.Events() })
		return d
	}
}
