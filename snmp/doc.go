// Package snmp is Tandem's SNMP agent for the network operations centre
// (snmp.md, interfaces.md "SNMP"): it answers GET, GETNEXT and GETBULK in
// SNMPv2c and SNMPv3 (the User-based Security Model: engine discovery,
// HMAC-SHA-96 and HMAC-SHA-256 authentication, AES privacy, the time
// window) on --snmp-addr (SET is answered notWritable) from TANDEM-MIB
// (TANDEM-MIB.txt beside this file), and the leader sends the MIB's
// notifications, in SNMPv2c or SNMPv3, to --snmp-trap-to.
//
// It owns the MIB, the UDP responder, the community, host and USM checks,
// the node's SNMP engine identity (engine ID and boots, in the data dir),
// the notification sender, the voice contact counter fed by the engine's
// events, and the agent's counters (served in the MIB, registered on
// /metrics, returned for tandemctl status). gosnmp is its codec, key
// localizer and decrypter only: it verifies every MAC itself.
//
// It reads the node at request time through small seams (Cluster,
// Engine, Replication; Contacts and Backups for the channels and the
// backup scheduler, which implement them) and must not change anything:
// it proposes no command, holds no replicated state, and never reaches
// into the engine, Raft or the replication buffer other than through
// those interfaces. The backup scheduler and the mail channel call its
// hooks (BackupFailed, MailServerUnreachable). DESIGN.md explains the
// request path and the invariants.
package snmp
