package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/voice"
)

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

// newVoice builds the SIP edge (nil without --sip-addr) and binds its
// sockets, before anything else is created, so that a port in use fails
// with one line naming the flag. It reaches the store through ref once
// the store is open (it is an event sink of the store it commits to).
func newVoice(o options, ref *atomic.Pointer[cluster.Store], engine *contactcenter.Engine, now func() time.Time, logger *slog.Logger) (*voice.Server, error) {
	if o.SIPAddr == "" {
		return nil, nil
	}
	algs, err := voice.ParseAlgorithms(o.SIPDigest)
	if err != nil {
		return nil, fmt.Errorf("--sip-digest-algorithms: %w", err)
	}
	trusted, err := parseTrusted(o.SIPTrusted)
	if err != nil {
		return nil, fmt.Errorf("--sip-trusted: %w", err)
	}
	v, err := voice.New(voice.Config{Addr: o.SIPAddr, Store: voiceStore{ref}, Engine: engine, Now: now, Algorithms: algs,
		Trusted: trusted, Advertise: advertisedSIP(o), Logger: logger.With("component", "voice")})
	if err != nil {
		return nil, err
	}
	if err := v.Listen(); err != nil {
		v.Close()
		return nil, fmt.Errorf("--sip-addr: %w", err)
	}
	return v, nil
}

// parseTrusted reads a comma-separated list of addresses or CIDR
// prefixes.
func parseTrusted(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR prefix", f)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR prefix", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// voiceStore is the node's store for the SIP edge, built before it.
type voiceStore struct {
	ref *atomic.Pointer[cluster.Store]
}

func (v voiceStore) Propose(ctx context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error) {
	st := v.ref.Load()
	if st == nil {
		return cluster.Result{}, errors.New("the node is still starting")
	}
	return st.Propose(ctx, typ, payload, opts...)
}

func (v voiceStore) Ready() bool {
	st := v.ref.Load()
	return st != nil && st.Ready()
}

func (v voiceStore) IsLeader() bool {
	st := v.ref.Load()
	return st != nil && st.IsLeader()
}

func (v voiceStore) LeaderID() string {
	if st := v.ref.Load(); st != nil {
		return st.LeaderID()
	}
	return ""
}

func (v voiceStore) Nodes() map[string]cluster.NodeMeta {
	if st := v.ref.Load(); st != nil {
		return st.Nodes()
	}
	return nil
}
