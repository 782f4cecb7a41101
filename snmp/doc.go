// Package snmp is Tandem's SNMP agent for the network operations centre
// (snmp.md, interfaces.md "SNMP"): it answers GET, GETNEXT and GETBULK in
// SNMPv2c on --snmp-addr (SET is answered notWritable) from TANDEM-MIB
// (TANDEM-MIB.txt beside this file), and the leader sends the MIB's
// notifications to --snmp-trap-to.
//
// It owns the MIB, the UDP responder, the community and host checks,
// the notification sender and the agent's counters (served in the MIB
// and registered on /metrics). gosnmp is its codec and trap sender only.
//
// It reads the node at request time through three seams (Cluster, Engine,
// Replication) and must not change anything: it proposes no command,
// holds no replicated state, and never reaches into the engine, Raft or
// the replication buffer other than through those interfaces. DESIGN.md
// explains the request path and the invariants.
package snmp
