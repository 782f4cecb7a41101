package main

import (
	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/replication/standby"
)

// mailStore is the store as the e-mail channel sees it: a standby
// cluster's leader (which refuses its own writes until promoted) does
// not watch the mailbox; the primary's does.
type mailStore struct {
	*cluster.Store
	receiver *standby.Receiver
}

func (m mailStore) IsLeader() bool { return m.Store.IsLeader() && !m.receiver.RefusesWrites() }
