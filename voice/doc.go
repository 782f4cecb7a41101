// Package voice is Tandem's SIP edge on github.com/emiago/sipgo: the
// registrar on --sip-addr (UDP and TCP) with digest authentication
// (icholy/digest; MD5 and SHA-256, nonces that expire, nonce counts that
// refuse replays), and later ringing, queues and ACD bridging as a B2BUA.
//
// It owns the SIP signalling and the leader's in-memory view of where
// phones are (bindings); the engine owns every decision. What the edge
// sees becomes a command committed through cluster.Store.Propose
// (phone.registration, …) before the network is answered; it acts on the
// engine's state and events. It imports the engine, never the reverse,
// and it must not hold replicated state of its own or reach into the
// cluster's internals. Only the leader handles SIP; a follower redirects
// (DESIGN.md).
package voice
