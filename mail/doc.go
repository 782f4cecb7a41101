// Package mail is Tandem's e-mail channel (mail.md): the IMAP/SMTP edge
// around the engine. On the leader it watches the one mailbox over IMAP4
// (IDLE when the server has it, polling otherwise) with
// emersion/go-imap/v2, reads each new message's header (plain headers
// by hand, the others with go-message; RFC 2047 words and non-UTF-8
// charsets decoded), and commits each
// fetch's messages as one mail.received_batch command — their
// UIDVALIDITY/UIDs and Message-IDs and, in the same step, their contacts
// in the queues of the aliases they were written to — through
// cluster.Store.Propose, keyed by the UIDs, before it proposes the next
// (fetched meanwhile). Auto-replies, bulk and list mail and the channel's own messages
// are recorded without a contact. A server that fails is retried with
// back-off; the first failure of an outage raises the alarm (status,
// /metrics, the SNMP "mail server unreachable" trap through a hook).
//
// It owns the IMAP sessions (Pool: the account's ceiling), MIME reading
// (ParseHeaders, ParseContent) and the channel's status and metrics. It
// imports the engine (contactcenter) and the cluster's Propose; it must
// not be imported by them, hold replicated state of its own, or read the
// clock into a command (the leader stamps time). DESIGN.md explains the
// request path and its invariants.
package mail
