// Package voice is Tandem's SIP edge on github.com/emiago/sipgo: the
// registrar on --sip-addr (UDP and TCP) with digest authentication
// (icholy/digest; MD5 and SHA-256, nonces that expire, nonce counts that
// refuse replays), queue calls into the ACD and out to the agents'
// phones, direct calls to an extension, both by the engine's ring plan
// with Tandem as a B2BUA in signalling (SDP passed through, media end to
// end), and the operator operations (transfers, park, camp-on, couple,
// calls back to the operator) by re-bridging those dialogs.
//
// It owns the SIP signalling, the dialogs of the calls in progress and
// the leader's in-memory view of where phones are (bindings); the engine
// owns every decision. What the edge sees becomes a command committed
// through cluster.Store.Propose (phone.registration, call.incoming,
// call.answer, call.remote_hangup, …) before the network is answered; it
// acts on the engine's events (call.offered, call.ringing, …) as a
// cluster.EventSink. It imports the engine, never the reverse, and it
// must not hold replicated state of its own or reach into the cluster's
// internals. Only the leader handles SIP; a follower redirects
// (DESIGN.md).
package voice
