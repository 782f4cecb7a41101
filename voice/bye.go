package voice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Ending the dialogs of answered callers after a failover. A caller whose
// call was answered (talking, on hold, parked: B2BUA, its dialog is ours
// whatever happened to the agent's leg) would hear silence until it hung
// up itself; a new leader sends it a BYE built from the dialog kept in
// call.incoming's edge data (release.go): Call-ID, the caller's From as
// our To, the To we answered with (its tag is the one of our 1xx and 2xx)
// as our From, the caller's Contact as remote target and the INVITE's
// Record-Route entries as route set — in order, as a UAS takes them (RFC
// 3261 12.1.1). Only UDP, like the 480: a TCP caller's connection died
// with the former leader (it notices; nothing can reach it).

// byeReason tells the caller why (RFC 3326).
const byeReason = `SIP;cause=503;text="Tandem leader failover"`

// byeCSeqMargin keeps the BYE's CSeq above the requests of the former
// leader in that dialog (see byeCSeq).
const byeCSeqMargin = 1000

// byeCSeq is our CSeq for a BYE in a dialog the former leader held. Our
// side of the dialog started at the INVITE's CSeq (sipgo numbers a UAS's
// requests from there) and each request of the former leader (re-INVITE
// for hold, retrieve, park, transfer: one transaction at a time, each
// following a committed operation) took one more, so it cannot have used
// more than one per millisecond of the call's life: the INVITE's CSeq +
// the call's age in ms at the latest command the new leader applied
// (elapsedNS: a command time minus the call's created time, both from the
// replicated state, so every node computes the same) + a margin, capped
// at 2^31-1 (RFC 3261 8.1.1.5).
func byeCSeq(invite uint32, elapsedNS int64) uint32 {
	ms := elapsedNS / int64(time.Millisecond)
	if ms < 0 {
		ms = 0
	}
	v := int64(invite) + byeCSeqMargin + ms
	if v > 1<<31-1 {
		v = 1<<31 - 1
	}
	return uint32(v)
}

// byeRequest is the BYE that ends the caller's dialog kept in edge, and
// where it goes (host:port). Without a Via: the client that sends it adds
// ours. An error when the edge data cannot give one (no dialog kept, TCP,
// malformed).
func byeRequest(edge string, cseq uint32) (string, string, error) {
	var tx callerTx
	if edge == "" {
		return "", "", errors.New("no edge data")
	}
	if err := json.Unmarshal([]byte(edge), &tx); err != nil {
		return "", "", fmt.Errorf("edge data: %w", err)
	}
	if tx.Transport != "UDP" {
		return "", "", fmt.Errorf("transport %q: only UDP callers are reached", tx.Transport)
	}
	if tx.Contact == "" || tx.From == "" || tx.To == "" || tx.CallID == "" {
		return "", "", errors.New("no dialog in the edge data")
	}
	for _, v := range append(append([]string{}, tx.Routes...), tx.Contact, tx.From, tx.To, tx.CallID) {
		if strings.ContainsAny(v, "\r\n") {
			return "", "", errors.New("line break in the edge data")
		}
	}
	target, ok := dialogURI(tx.Contact)
	if !ok {
		return "", "", errors.New("remote target: not a sip URI")
	}
	var set []sip.Uri
	for _, r := range tx.Routes {
		u, ok := dialogURI(r)
		if !ok {
			return "", "", errors.New("route set: not a sip URI")
		}
		set = append(set, u)
	}
	// RFC 3261 12.2.1.1: with a loose first route the Request-URI is the
	// remote target and the route set goes in Route; with a strict one
	// the Request-URI is that route and the remote target ends the Route.
	ruri, next := target, target
	if len(set) > 0 {
		next = set[0]
		if !set[0].UriParams.Has("lr") {
			ruri = set[0]
			ruri.UriParams, ruri.Headers = nil, nil
			set = append(set[1:len(set):len(set)], target)
		}
	}
	routes := make([]string, len(set))
	for i, u := range set {
		routes[i] = "<" + u.String() + ">"
	}
	var b strings.Builder
	b.WriteString("BYE " + ruri.String() + " SIP/2.0\r\n")
	for _, r := range routes {
		b.WriteString("Route: " + r + "\r\n")
	}
	b.WriteString("Max-Forwards: 70\r\n")
	b.WriteString("From: " + tx.To + "\r\nTo: " + tx.From + "\r\nCall-ID: " + tx.CallID + "\r\n")
	b.WriteString("CSeq: " + strconv.FormatUint(uint64(cseq), 10) + " BYE\r\n")
	b.WriteString("Reason: " + byeReason + "\r\nUser-Agent: Tandem\r\nContent-Length: 0\r\n\r\n")
	return b.String(), hopAddr(next, tx.Src), nil
}

// dialogURI parses a URI kept in the edge data (a Contact's or a
// Record-Route entry, in angle brackets or not): a sip: URI with a host
// and nothing a request line or header could not carry.
func dialogURI(s string) (sip.Uri, bool) {
	var u sip.Uri
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '<' || r == '>' }) >= 0 {
		return u, false
	}
	if sip.ParseUri(s, &u) != nil || u.Scheme != "sip" || u.Host == "" {
		return u, false
	}
	str := u.String()
	if strings.IndexFunc(str, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '<' || r == '>' }) >= 0 {
		return u, false
	}
	return u, true
}

// hopAddr is the address a request to u goes to: its host when that is
// an IP address (port 5060 by default); otherwise (a name, which would
// need DNS) where the INVITE came from, the previous hop.
func hopAddr(u sip.Uri, fallback string) string {
	ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	if err != nil {
		return fallback
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	return netip.AddrPortFrom(ip, uint16(port)).String()
}

// byeCaller ends the dialog of an answered caller whose call this leader
// releases as an orphan; the transaction (retransmissions, the caller's
// 200) runs in the background, bounded by 64*T1. It reports whether a BYE
// went out.
func (s *Server) byeCaller(id, edge string, cseq uint32) bool {
	if s.dua == nil {
		return false
	}
	raw, dest, err := byeRequest(edge, cseq)
	if err != nil {
		s.log.Debug("SIP: no BYE for a released caller", "call", id, "err", err)
		return false
	}
	msg, err := sip.ParseMessage([]byte(raw))
	req, ok := msg.(*sip.Request)
	if err != nil || !ok {
		s.log.Debug("SIP: no BYE for a released caller", "call", id, "err", err)
		return false
	}
	if _, _, err := net.SplitHostPort(dest); err != nil {
		return false
	}
	req.SetTransport("UDP")
	req.SetDestination(dest)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 64*sip.T1)
		defer cancel()
		tx, err := s.dua.Client.TransactionRequest(ctx, req, sipgo.ClientRequestAddVia)
		if err != nil {
			s.log.Debug("SIP: BYE to a released caller", "call", id, "err", err)
			return
		}
		defer tx.Terminate()
		for {
			select {
			case res := <-tx.Responses():
				if res.StatusCode < 200 {
					continue
				}
				s.log.Debug("SIP: BYE to a released caller answered", "call", id, "status", res.StatusCode)
			case <-tx.Done():
				s.log.Debug("SIP: BYE to a released caller unanswered", "call", id, "err", tx.Err())
			case <-ctx.Done():
			}
			return
		}
	}()
	return true
}
