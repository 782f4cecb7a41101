package voice

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The BYE that ends an answered caller's dialog after a failover, built
// from call.incoming's edge data: the dialog's identifiers swapped to our
// side (From: the To we answered with; To: the caller's From), the
// remote target or the route set as Request-URI (RFC 3261 12.2.1.1), the
// route set in the INVITE's Record-Route order (12.1.1: a UAS does not
// reverse it), where it goes, and no BYE when the edge cannot give one.
func TestByeRequest(t *testing.T) {
	invite := func(extra ...string) *sip.Request {
		raw := "INVITE sip:sales@10.0.0.1 SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK-1\r\n" +
			"Max-Forwards: 70\r\nFrom: \"Ann\" <sip:+441615550100:secret@192.0.2.7>;tag=caller1\r\n" +
			"To: <sip:sales@10.0.0.1>\r\nCall-ID: dlg-1@192.0.2.7\r\nCSeq: 7 INVITE\r\n" +
			"Contact: <sip:ann:secret@192.0.2.7:5070;transport=udp>\r\n" + strings.Join(extra, "") + "Content-Length: 0\r\n\r\n"
		m, err := sip.ParseMessage([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		req := m.(*sip.Request)
		req.SetSource("192.0.2.9:5999")
		req.SetTransport("UDP")
		req.To().Params.Add("tag", "ourtag")
		return req
	}
	tcp := invite()
	tcp.SetTransport("TCP")
	for _, tc := range []struct {
		name, edge string
		ruri, dest string
		routes     []string
		wantErr    bool
	}{
		{name: "no record-route", edge: callerEdge(invite()),
			ruri: "sip:ann@192.0.2.7:5070;transport=udp", dest: "192.0.2.7:5070"},
		{name: "loose routes, in order", edge: callerEdge(invite("Record-Route: <sip:198.51.100.1;lr>, <sip:198.51.100.2:5080;lr>\r\n", "Record-Route: <sip:198.51.100.3;lr>\r\n")),
			ruri: "sip:ann@192.0.2.7:5070;transport=udp", dest: "198.51.100.1:5060",
			routes: []string{"<sip:198.51.100.1;lr>", "<sip:198.51.100.2:5080;lr>", "<sip:198.51.100.3;lr>"}},
		{name: "strict first route", edge: callerEdge(invite("Record-Route: <sip:198.51.100.1:5062;maddr=x>\r\n", "Record-Route: <sip:198.51.100.2;lr>\r\n")),
			ruri: "sip:198.51.100.1:5062", dest: "198.51.100.1:5062",
			routes: []string{"<sip:198.51.100.2;lr>", "<sip:ann@192.0.2.7:5070;transport=udp>"}},
		{name: "a route by name goes to the previous hop", edge: callerEdge(invite("Record-Route: <sip:proxy.example.com;lr>\r\n")),
			ruri: "sip:ann@192.0.2.7:5070;transport=udp", dest: "192.0.2.9:5999", routes: []string{"<sip:proxy.example.com;lr>"}},
		{name: "TCP", edge: callerEdge(tcp), wantErr: true},
		{name: "no edge", edge: "", wantErr: true},
		{name: "not JSON", edge: "{", wantErr: true},
		{name: "no dialog (an edge of an older leader)", edge: `{"src":"127.0.0.1:1","tr":"UDP","via":["SIP/2.0/UDP x"],"from":"<sip:a@x>;tag=1","to":"<sip:b@y>;tag=2","cid":"c","cseq":1}`, wantErr: true},
		{name: "line break", edge: `{"src":"127.0.0.1:1","tr":"UDP","from":"<sip:a@x>;tag=1","to":"<sip:b@y>;tag=2\r\nEvil: 1","cid":"c","cseq":1,"ct":"<sip:a@127.0.0.1>"}`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.edge, "secret") {
				t.Fatalf("the edge data keeps the Contact's password: %s", tc.edge)
			}
			raw, dest, err := byeRequest(tc.edge, 4242)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("a BYE from %q:\n%s", tc.edge, raw)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m, err := sip.ParseMessage([]byte(raw))
			if err != nil {
				t.Fatalf("not SIP: %v\n%s", err, raw)
			}
			req, ok := m.(*sip.Request)
			if !ok || req.Method != sip.BYE {
				t.Fatalf("not a BYE:\n%s", raw)
			}
			if req.Recipient.String() != tc.ruri || dest != tc.dest {
				t.Fatalf("Request-URI %s to %s, want %s to %s", req.Recipient.String(), dest, tc.ruri, tc.dest)
			}
			var routes []string
			for _, h := range req.GetHeaders("Route") {
				routes = append(routes, h.Value())
			}
			if strings.Join(routes, "|") != strings.Join(tc.routes, "|") {
				t.Fatalf("Route %q, want %q", routes, tc.routes)
			}
			fromTag, _ := req.From().Params.Get("tag")
			toTag, _ := req.To().Params.Get("tag")
			if fromTag != "ourtag" || toTag != "caller1" || req.To().Address.User != "+441615550100" ||
				req.CallID().Value() != "dlg-1@192.0.2.7" || req.CSeq().SeqNo != 4242 || req.CSeq().MethodName != sip.BYE {
				t.Fatalf("not the caller's dialog from our side:\n%s", raw)
			}
			if h := req.GetHeader("Reason"); h == nil || h.Value() != byeReason || req.Via() != nil || req.MaxForwards() == nil {
				t.Fatalf("headers:\n%s", raw)
			}
		})
	}
}

// Our CSeq in a dialog the former leader held stays above the INVITE's
// (where sipgo starts our side) by the call's age in ms and a margin;
// never above 2^31-1.
func TestByeCSeq(t *testing.T) {
	for _, tc := range []struct {
		invite  uint32
		elapsed time.Duration
		want    uint32
	}{
		{1, 0, 1 + byeCSeqMargin},
		{7, 90 * time.Second, 7 + byeCSeqMargin + 90000},
		{7, -time.Second, 7 + byeCSeqMargin},
		{1<<31 - 10, time.Hour, 1<<31 - 1},
		{20, 30 * 24 * time.Hour, 1<<31 - 1},
	} {
		if got := byeCSeq(tc.invite, int64(tc.elapsed)); got != tc.want {
			t.Errorf("byeCSeq(%d, %v) = %d, want %d", tc.invite, tc.elapsed, got, tc.want)
		}
	}
}
