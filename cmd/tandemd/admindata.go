package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/replication/reporting"
)

// engineAdmin returns what the reporting target's administration-data
// sync reads: the engine's configuration after a linearizable read (a
// sync from a follower sends what the leader has), in one view of the
// engine, taken from its redacted document (Config.Document, as GET
// /v1/config shows it) so no password hash can reach reporting; phone
// secrets are not part of the configuration at all.
func engineAdmin(engine *contactcenter.Engine, storeRef *atomic.Pointer[cluster.Store]) func(context.Context) (reporting.AdminData, error) {
	return func(ctx context.Context) (reporting.AdminData, error) {
		st := storeRef.Load()
		if st == nil {
			return reporting.AdminData{}, errors.New("the node is still starting")
		}
		if err := st.Read(ctx, cluster.Linearizable); err != nil {
			return reporting.AdminData{}, fmt.Errorf("reading the configuration: %w", err)
		}
		index := st.AppliedIndex() // the view below is at least this recent
		var doc contactcenter.Document
		engine.View(func(s *contactcenter.State) { doc = s.Config.Document() })
		d := adminData(doc)
		d.Index = index
		return d, nil
	}
}

// adminData picks from a configuration document what reports need. An
// agent without a name of its own is named after its user.
func adminData(doc contactcenter.Document) reporting.AdminData {
	var d reporting.AdminData
	users := map[string]contactcenter.User{}
	for _, u := range doc.Users {
		users[u.ID] = u
		d.Users = append(d.Users, reporting.AdminUser{ID: u.ID, Name: u.Name, FirstName: u.FirstName,
			LastName: u.LastName, Company: u.Company, Extension: u.Extension, BusinessUnit: u.BusinessUnit,
			CallCategory: u.CallCategory, ForwardingCategory: u.ForwardingCategory})
	}
	for _, a := range doc.Agents {
		name := a.Name
		if name == "" {
			name = users[a.User].Name
		}
		d.Agents = append(d.Agents, reporting.AdminAgent{ID: a.ID, Name: name, User: a.User, Extension: a.Extension,
			Queues: a.Queues, Skills: a.Skills, WrapUpSeconds: a.WrapUpSeconds})
	}
	for _, q := range doc.Queues {
		d.Queues = append(d.Queues, reporting.AdminQueue{ID: q.ID, Name: q.Name, BusinessUnit: q.BusinessUnit,
			Strategy: q.Strategy, ServiceLevelSeconds: q.ServiceLevelSeconds, Skills: q.Skills})
	}
	for _, b := range doc.BusinessUnits {
		d.BusinessUnits = append(d.BusinessUnits, reporting.AdminBusinessUnit{ID: b.ID, Name: b.Name})
	}
	return d
}
