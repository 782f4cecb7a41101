package voice

import (
	"encoding/json"
	"net"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/tandemcc/tandem/contactcenter"
)

// Releasing the callers of orphaned calls (issue 15.7). A caller's
// INVITE server transaction lives in the leader that took it; when that
// leader dies, the caller of a call still waiting or ringing would wait
// for a final response forever (after a provisional response an INVITE
// client transaction has no timer of its own). So the leader keeps with
// each call, in call.incoming's opaque Edge, what a final response needs
// — where the INVITE came from and the headers a response copies — and a
// node that becomes leader answers each such caller 480 (the engine
// counts the call abandoned, committed beside). Only UDP: a TCP caller's
// connection died with the former leader, which it notices itself.
// The caller of a call already answered (talking, held, parked: the
// caller's dialog is ours, B2BUA) is sent a BYE instead (bye.go).

// callerTx is a caller's INVITE transaction as a response needs it.
type callerTx struct {
	Src       string   `json:"src"` // host:port the INVITE came from
	Transport string   `json:"tr"`
	Via       []string `json:"via"`
	From      string   `json:"from"`
	To        string   `json:"to"` // with the tag of this node's responses
	CallID    string   `json:"cid"`
	CSeq      uint32   `json:"cseq"`
	// The caller's dialog as a BYE needs it (bye.go): its Contact's URI
	// (the remote target, without any password) and the Record-Route
	// entries of the INVITE, in order (the route set, RFC 3261 12.1.1).
	Contact string   `json:"ct,omitempty"`
	Routes  []string `json:"rr,omitempty"`
}

// callerEdge is the Edge of a call.incoming: the caller's transaction
// ("" when it does not fit contactcenter.MaxEdgeLen; that call's caller
// is not told after a failover).
func callerEdge(req *sip.Request) string {
	if req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil {
		return ""
	}
	// A password in a URI (deprecated by RFC 3261 §19.1.1, still sent by
	// some) is never kept: the edge data is replicated and shown with the call.
	from, to := *req.From(), *req.To()
	from.Address.Password, to.Address.Password = "", ""
	tx := callerTx{Src: req.Source(), Transport: strings.ToUpper(req.Transport()), From: from.Value(),
		To: to.Value(), CallID: req.CallID().Value(), CSeq: req.CSeq().SeqNo}
	for _, h := range req.GetHeaders("Via") {
		tx.Via = append(tx.Via, h.Value())
	}
	if c := req.Contact(); c != nil {
		u := c.Address
		u.Password = ""
		tx.Contact = u.String()
	}
	for _, h := range req.GetHeaders("Record-Route") {
		tx.Routes = append(tx.Routes, h.Value()) // sipgo splits a comma list
	}
	b, err := json.Marshal(tx)
	if err == nil && len(b) > contactcenter.MaxEdgeLen {
		// Too long with the dialog: the caller can still get its 480.
		tx.Contact, tx.Routes = "", nil
		b, err = json.Marshal(tx)
	}
	if err != nil || len(b) > contactcenter.MaxEdgeLen {
		return ""
	}
	return string(b)
}

// releaseResponse is the final response that tells a caller its call
// was released ("" when the edge data cannot give one).
func releaseResponse(edge string) (string, *net.UDPAddr) {
	var tx callerTx
	if edge == "" || json.Unmarshal([]byte(edge), &tx) != nil || tx.Transport != "UDP" || len(tx.Via) == 0 {
		return "", nil
	}
	addr, err := net.ResolveUDPAddr("udp", tx.Src)
	if err != nil || addr.IP == nil {
		return "", nil
	}
	for _, v := range append(append([]string{}, tx.Via...), tx.From, tx.To, tx.CallID) {
		if strings.ContainsAny(v, "\r\n") {
			return "", nil
		}
	}
	var b strings.Builder
	b.WriteString("SIP/2.0 480 Temporarily Unavailable\r\n")
	for _, v := range tx.Via {
		b.WriteString("Via: " + v + "\r\n")
	}
	b.WriteString("From: " + tx.From + "\r\nTo: " + tx.To + "\r\nCall-ID: " + tx.CallID + "\r\n")
	b.WriteString("CSeq: " + strconv.FormatUint(uint64(tx.CSeq), 10) + " INVITE\r\n")
	b.WriteString("Reason: SIP;cause=480;text=\"released after a leader failover\"\r\nServer: Tandem\r\nContent-Length: 0\r\n\r\n")
	return b.String(), addr
}

// releaseCaller answers a caller whose call this leader releases as an
// orphan, over this node's UDP socket. It reports whether it sent one.
func (s *Server) releaseCaller(edge string) bool {
	msg, addr := releaseResponse(edge)
	if msg == "" || s.udp == nil {
		return false
	}
	if _, err := s.udp.WriteTo([]byte(msg), addr); err != nil {
		s.log.Debug("SIP: releasing a caller", "err", err)
		return false
	}
	s.metrics.responses.WithLabelValues("4xx").Inc()
	return true
}

// inviteCSeq is the CSeq of the caller's INVITE kept in edge (0 if none).
func inviteCSeq(edge string) uint32 {
	var tx callerTx
	if json.Unmarshal([]byte(edge), &tx) != nil {
		return 0
	}
	return tx.CSeq
}
