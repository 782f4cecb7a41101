package snmp

import "encoding/hex"

// Status is the agent's section of tandemctl status (GET /v1/status):
// its counters since the node started, as /metrics has them.
type Status struct {
	// Addr is the agent's UDP address; empty when it is disabled.
	Addr    string `json:"addr"`
	Packets uint64 `json:"packets"`
	// Requests answered, by PDU type (get, getnext, getbulk, set).
	Requests map[string]uint64 `json:"requests"`
	// Dropped packets, by cause (tandem_snmp_dropped_total's).
	Dropped map[string]uint64 `json:"dropped"`
	// Reports sent for SNMPv3 messages refused.
	Reports uint64 `json:"reports"`
	// TrapsSent and TrapsFailed by notification, once per destination.
	TrapsSent   map[string]uint64 `json:"traps_sent"`
	TrapsFailed map[string]uint64 `json:"traps_failed"`
	TrapProfile string            `json:"trap_profile"`
	// EngineID and EngineBoots are the SNMPv3 engine's (absent without
	// SNMPv3 users).
	EngineID    string `json:"engine_id,omitempty"`
	EngineBoots uint32 `json:"engine_boots,omitempty"`
}

// Status returns the agent's counters.
func (a *Agent) Status() Status {
	c := a.cnt
	st := Status{Packets: c.packets.Load(), Reports: c.reports.Load(), TrapProfile: a.cfg.TrapProfile,
		Requests: map[string]uint64{}, Dropped: map[string]uint64{},
		TrapsSent: map[string]uint64{}, TrapsFailed: map[string]uint64{}}
	if a.conn != nil {
		st.Addr = a.conn.LocalAddr().String()
	}
	for i := range c.requests {
		st.Requests[pduNames[i]] = c.requests[i].Load()
	}
	for i := range c.drops {
		st.Dropped[dropNames[i]] = c.drops[i].Load()
	}
	for _, n := range notificationNames {
		st.TrapsSent[n] = c.trapsSent[n].Load()
		st.TrapsFailed[n] = c.trapsFailed[n].Load()
	}
	if a.usm != nil {
		st.EngineID, st.EngineBoots = hex.EncodeToString(a.usm.engineID), a.usm.boots
	}
	return st
}
