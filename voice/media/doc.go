// Package media is the little media the SIP edge has: it answers a
// caller's SDP offer for G.711 (PCMU or PCMA, 8 kHz), plays a generated
// beep and records what the caller sends over RTP, bounded, and writes a
// recording as a WAV file (16-bit PCM, what every browser plays). It is
// used for voicemail only: Tandem is otherwise a B2BUA in signalling,
// media flowing end to end between the phones.
//
// SDP is parsed and written with github.com/pion/sdp/v3, RTP packets with
// github.com/pion/rtp; the UDP receiver, the jitter handling (a packet
// goes where its timestamp says) and the G.711 tables are here.
package media
