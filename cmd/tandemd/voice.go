package main

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/voice"
)

// claimSIP checks, before anything is created, that --sip-addr is free
// for UDP and TCP, so that a port in use fails with one line naming the
// flag. The voice server binds it again once the store is open.
func claimSIP(o options) error {
	if o.SIPAddr == "" {
		return nil
	}
	u, err := net.ListenPacket("udp", o.SIPAddr)
	if err != nil {
		return fmt.Errorf("--sip-addr: %w", err)
	}
	defer u.Close()
	t, err := net.Listen("tcp", o.SIPAddr)
	if err != nil {
		return fmt.Errorf("--sip-addr: %w", err)
	}
	return t.Close()
}

// advertisedSIP is the SIP address a follower redirects to when this node
// leads ("" without SIP): --sip-addr, with a wildcard host replaced by the
// Raft host as for the admin address.
func advertisedSIP(o options) string {
	if o.SIPAddr == "" {
		return ""
	}
	host, port, _ := net.SplitHostPort(o.SIPAddr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host, _, _ = net.SplitHostPort(o.RaftAddr)
	}
	return net.JoinHostPort(host, port)
}

// newVoice builds the SIP edge on the node's store and engine (nil
// without --sip-addr) and binds its sockets.
func newVoice(o options, store *cluster.Store, engine *contactcenter.Engine, now func() time.Time, logger *slog.Logger) (*voice.Server, error) {
	if o.SIPAddr == "" {
		return nil, nil
	}
	algs, err := voice.ParseAlgorithms(o.SIPDigest)
	if err != nil {
		return nil, fmt.Errorf("--sip-digest-algorithms: %w", err)
	}
	v, err := voice.New(voice.Config{Addr: o.SIPAddr, Store: store, Engine: engine, Now: now, Algorithms: algs,
		Logger: logger.With("component", "voice")})
	if err != nil {
		return nil, err
	}
	if err := v.Listen(); err != nil {
		return nil, fmt.Errorf("--sip-addr: %w", err)
	}
	return v, nil
}
