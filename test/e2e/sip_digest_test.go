package e2e

import (
	"strings"
	"testing"
)

// The digest uri must name the request-URI (RFC 7616 §3.4.6): sipp with
// the right password but its response computed for another URI
// (-auth_uri) is refused 400 over UDP and TCP and the phone stays not
// connected; the same phone without -auth_uri registers. An INVITE to
// one queue with credentials computed for another is refused 400 too,
// and nothing reaches the engine.
func TestSIPDigestURIMismatchWithSipp(t *testing.T) {
	n := newNode(t, "sipu")
	startSIPNode(t, n)
	n.apply(sipConfig).ok(t)
	for _, tr := range []string{"u1", "t1"} {
		r := sipp(t, n.sipAddr, "register_uri_refused.xml", tr, "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001",
			"-auth_uri", "127.0.0.9:5060") // sipp writes uri="sip:127.0.0.9:5060"
		if r.code != 0 || !strings.Contains(r.trace("messages"), `uri="sip:127.0.0.9:5060"`) {
			t.Fatalf("%s: credentials for another URI not refused with 400: %v\n%s", tr, r, r.trace("messages"))
		}
		if st := n.lineStatus(t, "2001"); st != "not_connected" {
			t.Fatalf("%s: after a refused REGISTER 2001 is %s", tr, st)
		}
	}
	if r := sipp(t, n.sipAddr, "register.xml", "u1", "-key", "ext", "2001", "-au", "2001-desk", "-ap", "desk-password-2001"); r.code != 0 {
		t.Fatalf("REGISTER with the request's own URI: %v", r)
	}
	// An INVITE whose credentials name another queue than it calls.
	n.apply(strings.Replace(queueConfig, `queues:
  - {id: sales, strategy: longest-idle}`, `queues:
  - {id: sales, strategy: longest-idle}
  - {id: vip, strategy: longest-idle}`, 1)).ok(t)
	if r := sipp(t, n.sipAddr, "caller_auth.xml", "u1", "-key", "queue", "sales", "-au", "2001-desk", "-ap", "desk-password-2001",
		"-auth_uri", "vip@"+n.sipAddr); r.code == 0 || !strings.Contains(r.trace("messages"), "SIP/2.0 400 ") {
		t.Fatalf("an INVITE with credentials for another queue was not refused with 400: %v\n%s", r, r.trace("messages"))
	}
	if v := nodeMetric(t, n, `tandem_events_total{type="call.queued"}`); v != 0 {
		t.Fatalf("call.queued events: %v, want none", v)
	}
	if v := nodeMetric(t, n, `tandem_sip_auth_failures_total{reason="uri"}`); v != 3 {
		t.Fatalf("uri failures counted %v, want 3", v)
	}
}
