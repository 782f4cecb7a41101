package voice

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
)

func TestRegisterDigest(t *testing.T) {
	for _, alg := range []string{"MD5", "SHA-256"} {
		t.Run(alg, func(t *testing.T) {
			r := newRig(t)
			// Without credentials: one challenge per algorithm, MD5 first
			// (DefaultAlgorithms).
			res := r.send(r.build(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}}))
			if res.StatusCode != 401 {
				t.Fatalf("no credentials: %d", res.StatusCode)
			}
			hs := res.GetHeaders("WWW-Authenticate")
			if len(hs) != 2 || !strings.Contains(hs[0].Value(), "algorithm=MD5") || !strings.Contains(hs[1].Value(), "algorithm=SHA-256") ||
				!strings.Contains(hs[0].Value(), `qop="auth"`) {
				t.Fatalf("challenges = %v", hs)
			}
			if r.registered("2001", "desk") {
				t.Fatal("registered without credentials")
			}
			res = r.register(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}, expires: "600"}, "2001-desk", "desk-password-2001", alg)
			if res.StatusCode != 200 {
				t.Fatalf("right password: %d %s", res.StatusCode, res.Reason)
			}
			if c := res.GetHeaders("Contact"); len(c) != 1 || !strings.Contains(c[0].Value(), "expires=600") {
				t.Fatalf("200's contacts = %v", c)
			}
			if !r.registered("2001", "desk") {
				t.Fatal("the engine does not show the phone registered")
			}
			regs := r.e.Registrations()
			if len(regs) != 1 || regs[0].Contact != "sip:2001@127.0.0.1:5070" || regs[0].ExpiresSeconds != 600 {
				t.Fatalf("replicated binding = %+v", regs)
			}
		})
	}
}

// A site may offer SHA-256 first, or alone; an algorithm not offered is
// challenged again.
func TestAlgorithmsConfigured(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Algorithms = []string{"SHA-256"} })
	res := r.send(r.build(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}}))
	if hs := res.GetHeaders("WWW-Authenticate"); len(hs) != 1 || !strings.Contains(hs[0].Value(), "SHA-256") {
		t.Fatalf("challenges %v", hs)
	}
	md5 := *challengeOf(t, res, "SHA-256")
	md5.Algorithm = "MD5"
	res = r.send(r.build(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}, authz: authz(t, &md5, "2001-desk", "desk-password-2001", 1)}))
	if res.StatusCode != 401 || r.registered("2001", "desk") {
		t.Fatalf("MD5 not offered: %d", res.StatusCode)
	}
	if res := r.register(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}}, "2001-desk", "desk-password-2001", "SHA-256"); res.StatusCode != 200 {
		t.Fatalf("SHA-256: %d", res.StatusCode)
	}
	for _, bad := range []string{"", "MD5,MD5", "SHA-1", "MD5,,SHA-256"} {
		if _, err := ParseAlgorithms(bad); err == nil {
			t.Errorf("ParseAlgorithms(%q) accepted", bad)
		}
	}
	if a, err := ParseAlgorithms(" sha-256 , md5"); err != nil || strings.Join(a, ",") != "SHA-256,MD5" {
		t.Errorf("ParseAlgorithms: %v %v", a, err)
	}
}

func TestRegisterRefusals(t *testing.T) {
	r := newRig(t)
	contact := []string{"<sip:2001@127.0.0.1:5070>"}
	cases := []struct {
		name     string
		to       string
		user, pw string
		want     int
	}{
		{"wrong password", "2001", "2001-desk", "not-the-password", 403},
		{"unknown phone", "2001", "2001-nope", "whatever", 403},
		{"user names no phone", "2001", "alice", "whatever", 403},
		{"another extension's phone", "2001", "2002-desk", "desk-password-2002", 403},
		{"to no extension", "alice", "2001-desk", "desk-password-2001", 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := reqOpts{to: c.to, contacts: contact, callID: "refusal-" + c.name}
			if c.want == 404 {
				if res := r.send(r.build(o)); res.StatusCode != 404 {
					t.Fatalf("got %d, want 404", res.StatusCode)
				}
				return
			}
			if res := r.register(o, c.user, c.pw, "MD5"); res.StatusCode != c.want {
				t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, c.want)
			}
		})
	}
	if r.registered("2001", "desk") || r.registered("2002", "desk") {
		t.Fatal("a refused REGISTER registered a phone")
	}
	if p := r.store.taken(); len(p) != 0 {
		t.Fatalf("refusals proposed %v", p)
	}
}

func TestNonceChecks(t *testing.T) {
	r := newRig(t)
	contact := []string{"<sip:2001@127.0.0.1:5070>"}
	ch := challengeOf(t, r.send(r.build(reqOpts{contacts: contact})), "MD5")
	ok := r.send(r.build(reqOpts{contacts: contact, authz: authz(t, ch, "2001-desk", "desk-password-2001", 1)}))
	if ok.StatusCode != 200 {
		t.Fatalf("first use: %d", ok.StatusCode)
	}
	// The same nonce count again (a replay, new CSeq): refused.
	res := r.send(r.build(reqOpts{contacts: contact, authz: authz(t, ch, "2001-desk", "desk-password-2001", 1)}))
	if res.StatusCode != 403 {
		t.Fatalf("replayed nc: %d", res.StatusCode)
	}
	// A higher count on the same nonce: accepted.
	if res := r.send(r.build(reqOpts{contacts: contact, authz: authz(t, ch, "2001-desk", "desk-password-2001", 2)})); res.StatusCode != 200 {
		t.Fatalf("nc 2: %d", res.StatusCode)
	}
	// An expired nonce: a new challenge with stale=true, never 403.
	r.clk.advance(6 * time.Minute)
	res = r.send(r.build(reqOpts{contacts: contact, authz: authz(t, ch, "2001-desk", "desk-password-2001", 3)}))
	if res.StatusCode != 401 || !strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale=true") {
		t.Fatalf("expired nonce: %d %v", res.StatusCode, res.GetHeaders("WWW-Authenticate"))
	}
	// A forged nonce (not ours): challenged again.
	forged := *ch
	forged.Nonce = strings.Repeat("A", len(ch.Nonce))
	res = r.send(r.build(reqOpts{contacts: contact, authz: authz(t, &forged, "2001-desk", "desk-password-2001", 1)}))
	if res.StatusCode != 401 {
		t.Fatalf("forged nonce: %d", res.StatusCode)
	}
	// Without qop (RFC 2069): no nonce count, so refused with a challenge.
	noQop := *challengeOf(t, r.send(r.build(reqOpts{contacts: contact})), "MD5")
	noQop.QOP = nil
	res = r.send(r.build(reqOpts{contacts: contact, authz: authz(t, &noQop, "2001-desk", "desk-password-2001", 1)}))
	if res.StatusCode != 401 {
		t.Fatalf("no qop: %d", res.StatusCode)
	}
}

// The nonce-count table is bounded; dropping an entry makes every nonce
// up to it stale, so it can never be replayed.
func TestNonceTableBounded(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxNonces = 4 })
	contact := []string{"<sip:2001@127.0.0.1:5070>"}
	var first string
	for i := 0; i < 10; i++ {
		ch := challengeOf(t, r.send(r.build(reqOpts{contacts: contact})), "MD5")
		a := authz(t, ch, "2001-desk", "desk-password-2001", 1)
		if i == 0 {
			first = a
		}
		if res := r.send(r.build(reqOpts{contacts: contact, authz: a})); res.StatusCode != 200 {
			t.Fatalf("REGISTER %d: %d", i, res.StatusCode)
		}
		r.clk.advance(time.Millisecond)
	}
	if n := len(r.s.auth.nc); n > 4 {
		t.Fatalf("nonce table holds %d, bound 4", n)
	}
	res := r.send(r.build(reqOpts{contacts: contact, authz: first}))
	if res.StatusCode == 200 {
		t.Fatal("a replay of a dropped nonce was accepted")
	}
}

func TestExpiresRules(t *testing.T) {
	r := newRig(t)
	user, pw := "2001-desk", "desk-password-2001"
	// Too brief: 423 with Min-Expires, nothing committed.
	res := r.register(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}, expires: "30"}, user, pw, "MD5")
	if res.StatusCode != 423 || res.GetHeader("Min-Expires") == nil || res.GetHeader("Min-Expires").Value() != "60" {
		t.Fatalf("30 s: %d %v", res.StatusCode, res.GetHeader("Min-Expires"))
	}
	if r.registered("2001", "desk") {
		t.Fatal("registered after 423")
	}
	// Too long: shortened to the maximum; the contact's own parameter wins
	// over the Expires header.
	res = r.register(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>;expires=99999"}, expires: "120"}, user, pw, "MD5")
	if res.StatusCode != 200 || !strings.Contains(res.GetHeader("Contact").Value(), "expires=3600") {
		t.Fatalf("99999 s: %d %v", res.StatusCode, res.GetHeaders("Contact"))
	}
	if p := r.store.taken(); len(p) != 1 || !strings.Contains(p[0], `"expires_seconds":3600`) {
		t.Fatalf("proposals = %v", p)
	}
	// A refresh commits its new expiry (now + interval on the leader's
	// clock), replicated exactly.
	for i := 0; i < 3; i++ {
		r.clk.advance(30 * time.Minute)
		res = r.register(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}, expires: "3600"}, user, pw, "SHA-256")
		if res.StatusCode != 200 {
			t.Fatalf("refresh %d: %d", i, res.StatusCode)
		}
		want := fmt.Sprintf(`"expires_at":%d`, r.clk.now().Add(time.Hour).UnixNano())
		if p := r.store.taken(); len(p) != 1 || !strings.Contains(p[0], want) {
			t.Fatalf("refresh %d proposed %v, want one with %s", i, p, want)
		}
		if regs := r.e.Registrations(); len(regs) != 1 || regs[0].ExpiresAt != r.clk.now().Add(time.Hour).UnixNano() {
			t.Fatalf("replicated expiry %+v", regs)
		}
	}
	// A new contact (the phone moved) is committed.
	res = r.register(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5080>"}, expires: "3600"}, user, pw, "MD5")
	if res.StatusCode != 200 || len(r.store.taken()) != 1 || r.e.Registrations()[0].Contact != "sip:2001@127.0.0.1:5080" {
		t.Fatalf("moved: %d %+v", res.StatusCode, r.e.Registrations())
	}
	// Two contacts for one phone: 400.
	res = r.register(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>", "<sip:2001@127.0.0.1:5071>"}}, user, pw, "MD5")
	if res.StatusCode != 400 {
		t.Fatalf("two contacts: %d", res.StatusCode)
	}
	// A query (no Contact) lists the bindings and changes nothing.
	res = r.register(reqOpts{}, user, pw, "MD5")
	if res.StatusCode != 200 || len(res.GetHeaders("Contact")) != 1 || len(r.store.taken()) != 0 {
		t.Fatalf("query: %d %v", res.StatusCode, res.GetHeaders("Contact"))
	}
}

func TestUnregister(t *testing.T) {
	for _, how := range []string{"expires 0", "star"} {
		t.Run(how, func(t *testing.T) {
			r := newRig(t)
			if res := r.register(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}}, "2001-desk", "desk-password-2001", "MD5"); res.StatusCode != 200 {
				t.Fatal(res.StatusCode)
			}
			if res := r.register(reqOpts{to: "2001", callID: "soft", contacts: []string{"<sip:2001@127.0.0.1:5072>"}}, "2001-soft", "soft-password-2001", "MD5"); res.StatusCode != 200 {
				t.Fatal(res.StatusCode)
			}
			o := reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}, expires: "0"}
			if how == "star" {
				o.contacts = []string{"*"}
			}
			res := r.register(o, "2001-desk", "desk-password-2001", "MD5")
			if res.StatusCode != 200 {
				t.Fatalf("un-REGISTER: %d %s", res.StatusCode, res.Reason)
			}
			if r.registered("2001", "desk") {
				t.Fatal("still registered")
			}
			// The other phone of the extension keeps its binding.
			if !r.registered("2001", "soft") || r.s.reg.Contact("2001", "soft") == "" {
				t.Fatal("the other phone lost its registration")
			}
			if line, _ := r.e.LineStatus("2002"); line != contactcenter.LineNotConnected {
				t.Fatalf("2002 line %s", line)
			}
		})
	}
	r := newRig(t)
	// "*" with a non-zero expiry is a 400.
	if res := r.register(reqOpts{contacts: []string{"*"}, expires: "60"}, "2001-desk", "desk-password-2001", "MD5"); res.StatusCode != 400 {
		t.Fatalf("* with expiry: %d", res.StatusCode)
	}
}

// Eight phones at most per extension: one binding per phone, so an
// extension's bindings are bounded by its phones.
func TestOneBindingPerPhone(t *testing.T) {
	r := newRig(t)
	for i, port := range []string{"5070", "5071", "5072"} {
		if res := r.register(reqOpts{callID: "c" + port, contacts: []string{"<sip:2001@127.0.0.1:" + port + ">"}}, "2001-desk", "desk-password-2001", "MD5"); res.StatusCode != 200 {
			t.Fatalf("register %d: %d", i, res.StatusCode)
		}
	}
	if res := r.register(reqOpts{callID: "soft", contacts: []string{"<sip:2001@127.0.0.1:6000>"}}, "2001-soft", "soft-password-2001", "MD5"); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	} else if n := len(res.GetHeaders("Contact")); n != 2 {
		t.Fatalf("the extension's bindings: %d, want 2", n)
	}
}

func TestExpiryCommittedByLeader(t *testing.T) {
	r := newRig(t)
	if res := r.register(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}, expires: "120"}, "2001-desk", "desk-password-2001", "MD5"); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	r.store.taken()
	ctx := context.Background()
	r.clk.advance(119 * time.Second)
	if n := r.s.reg.expire(ctx, r.clk.now()); n != 0 || !r.registered("2001", "desk") {
		t.Fatalf("expired early (%d)", n)
	}
	r.clk.advance(time.Second)
	if n := r.s.reg.expire(ctx, r.clk.now()); n != 1 || r.registered("2001", "desk") {
		t.Fatalf("not expired at its time (%d)", n)
	}
	if p := r.store.taken(); len(p) != 1 || !strings.Contains(p[0], `"registered":false`) {
		t.Fatalf("proposals %v", p)
	}
	if r.s.reg.count() != 0 {
		t.Fatal("binding kept")
	}
}

// A new leader starts from the replicated bindings: each phone keeps its
// contact and the expiry the former leader granted, exactly.
func TestFailoverSeedsBindings(t *testing.T) {
	r := newRig(t)
	if res := r.register(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}, expires: "300"}, "2001-desk", "desk-password-2001", "MD5"); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	// This node loses leadership: it forgets and redirects.
	r.store.mu.Lock()
	r.store.leader, r.store.leaderID = false, "n2"
	r.store.nodes = map[string]cluster.NodeMeta{"n2": {ID: "n2", SIPAddr: "127.0.0.2:5060"}}
	r.store.mu.Unlock()
	r.s.checkLeader()
	if r.s.reg.count() != 0 {
		t.Fatal("a follower kept bindings")
	}
	// Leading again 200 s later (as a new leader would): seeded from the
	// engine, the binding expires 300 s after it was granted, not after
	// a whole new interval.
	granted := r.clk.now()
	r.clk.advance(200 * time.Second)
	r.store.mu.Lock()
	r.store.leader = true
	r.store.mu.Unlock()
	r.s.checkLeader()
	if c := r.s.reg.Contact("2001", "desk"); c != "sip:2001@127.0.0.1:5070" {
		t.Fatalf("seeded contact %q", c)
	}
	if n := r.s.reg.expire(context.Background(), granted.Add(299*time.Second)); n != 0 {
		t.Fatal("a seeded binding expired before its time")
	}
	if n := r.s.reg.expire(context.Background(), granted.Add(300*time.Second)); n != 1 {
		t.Fatal("a seeded binding does not expire when its leader granted")
	}
}

func TestCommitFailureAnswers503(t *testing.T) {
	r := newRig(t)
	ch := challengeOf(t, r.send(r.build(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}})), "MD5")
	r.store.mu.Lock()
	r.store.fail = errors.New("no leader")
	r.store.mu.Unlock()
	res := r.send(r.build(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}, authz: authz(t, ch, "2001-desk", "desk-password-2001", 1)}))
	if res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("got %d", res.StatusCode)
	}
	if r.s.reg.count() != 0 {
		t.Fatal("an uncommitted registration was kept")
	}
}

// A secure phone registers with the secret the system gave it, and not
// without one.
func TestSecurePhone(t *testing.T) {
	r := newRig(t)
	o := reqOpts{to: "2003", callID: "sec", contacts: []string{"<sip:2003@127.0.0.1:5070>"}}
	if res := r.register(o, "2003-sec", "secure-secret-2003-abcdef", "MD5"); res.StatusCode != 403 {
		t.Fatalf("without a secret: %d", res.StatusCode)
	}
	if _, err := r.store.Propose(context.Background(), contactcenter.TypePhoneSetSecret, contactcenter.SetSecretRequest{
		Extension: "2003", Phone: "sec", Secret: "secure-secret-2003-abcdef", ExpiresAt: r.clk.now().Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if res := r.register(o, "2003-sec", "secure-secret-2003-abcdef", "SHA-256"); res.StatusCode != 200 {
		t.Fatalf("with its secret: %d", res.StatusCode)
	}
	if !r.registered("2003", "sec") {
		t.Fatal("not registered")
	}
}

func TestFollowerRedirects(t *testing.T) {
	r := newRig(t)
	r.store.mu.Lock()
	r.store.leader, r.store.leaderID = false, "n2"
	r.store.nodes = map[string]cluster.NodeMeta{"n2": {ID: "n2", SIPAddr: "127.0.0.2:5062"}}
	r.store.mu.Unlock()
	r.s.checkLeader()
	res := r.send(r.build(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}}))
	if res.StatusCode != 302 || res.GetHeader("Contact") == nil || !strings.Contains(res.GetHeader("Contact").Value(), "sip:127.0.0.2:5062") {
		t.Fatalf("follower: %d %v", res.StatusCode, res.GetHeader("Contact"))
	}
	inv := r.build(reqOpts{method: "INVITE", ruri: "sip:2001@127.0.0.1", callID: "inv"})
	inv.SetTransport("TCP")
	res = r.send(inv)
	if res.StatusCode != 302 || !strings.Contains(res.GetHeader("Contact").Value(), "sip:2001@127.0.0.2:5062;transport=tcp") {
		t.Fatalf("INVITE on a follower: %d %v", res.StatusCode, res.GetHeader("Contact"))
	}
	// No leader known: 503 with Retry-After.
	r.store.mu.Lock()
	r.store.leaderID = ""
	r.store.mu.Unlock()
	res = r.send(r.build(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}}))
	if res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("no leader: %d", res.StatusCode)
	}
	if len(r.store.taken()) != 0 {
		t.Fatal("a follower proposed")
	}
}

func TestOtherMethods(t *testing.T) {
	r := newRig(t)
	for _, c := range []struct {
		method string
		want   int
	}{{"OPTIONS", 200}, {"BYE", 481}, {"SUBSCRIBE", 405}, {"FOO", 501}} {
		res := r.send(r.build(reqOpts{method: c.method, ruri: "sip:2001@127.0.0.1", callID: "m-" + c.method}))
		if res.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.method, res.StatusCode, c.want)
		}
		if tag, _ := res.To().Params.Get("tag"); tag == "" {
			t.Errorf("%s: response without a To tag", c.method)
		}
	}
	_ = sip.StatusOK
}

// At most MaxInFlight requests are handled at once; the rest get 503
// with Retry-After, and are counted.
func TestOverload(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxInFlight = 1 })
	ch := challengeOf(t, r.send(r.build(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}})), "MD5")
	hold := make(chan struct{})
	r.store.mu.Lock()
	r.store.hold = hold
	r.store.mu.Unlock()
	slow := r.build(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}, authz: authz(t, ch, "2001-desk", "desk-password-2001", 1)})
	done := make(chan *sip.Response)
	go func() {
		tx := newFakeTx()
		r.s.handle(slow, tx)
		done <- tx.last()
	}()
	// Wait until the slow REGISTER holds the slot, then one more request.
	deadline := time.Now().Add(10 * time.Second)
	for len(r.s.inFlight) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	res := r.send(r.build(reqOpts{method: "OPTIONS", callID: "extra"}))
	if res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("second request while the first is in progress: %d", res.StatusCode)
	}
	if counter(r.s.metrics.overload) != 1 {
		t.Fatal("overload not counted")
	}
	close(hold)
	if res := <-done; res == nil || res.StatusCode != 200 {
		t.Fatalf("the slow REGISTER: %v", res)
	}
}

// The digest uri must name the request-URI's resource (RFC 7616 §3.4.6,
// RFC 3261 §19.1.4 comparison).
func TestSameResource(t *testing.T) {
	for _, c := range []struct {
		uri, ruri string
		want      bool
	}{
		{"sip:127.0.0.1", "sip:127.0.0.1", true},
		{"SIP:127.0.0.1", "sip:127.0.0.1", true},
		{"sip:2001@Tandem.Example", "sip:2001@tandem.example", true},
		{"sip:sales@127.0.0.1:5060", "sip:sales@127.0.0.1:5060;transport=udp", true}, // one-sided parameter
		{"sip:sales@127.0.0.1;transport=tcp", "sip:sales@127.0.0.1;transport=udp", false},
		{"sip:sales@127.0.0.1", "sip:sales@127.0.0.1:5060", false}, // absent port is not 5060
		{"sip:sales@127.0.0.1", "sip:support@127.0.0.1", false},
		{"sip:SALES@127.0.0.1", "sip:sales@127.0.0.1", false}, // user is case-sensitive
		{"sip:127.0.0.2", "sip:127.0.0.1", false},
		{"sips:127.0.0.1", "sip:127.0.0.1", false},
		{"sip:127.0.0.1:5061", "sip:127.0.0.1:5060", false},
		{"", "sip:127.0.0.1", false},
		{"not a uri", "sip:127.0.0.1", false},
		{"*", "sip:127.0.0.1", false},
	} {
		var ruri sip.Uri
		if err := sip.ParseUri(c.ruri, &ruri); err != nil {
			t.Fatal(err)
		}
		if got := sameResource(c.uri, ruri); got != c.want {
			t.Errorf("sameResource(%q, %q) = %v, want %v", c.uri, c.ruri, got, c.want)
		}
	}
}

// Credentials computed for another request-URI, with the right password,
// are refused with 400 (RFC 7616 §3.4.6) and change nothing; the INVITE
// likewise.
func TestDigestURIMismatch(t *testing.T) {
	r := newRig(t)
	contact := []string{"<sip:2001@127.0.0.1:5070>"}
	ch := challengeOf(t, r.send(r.build(reqOpts{contacts: contact})), "MD5")
	for _, uri := range []string{"sip:127.0.0.2", "sip:2002@127.0.0.1", "sip:127.0.0.1:5070"} {
		a := authzFor(t, ch, "REGISTER", uri, "2001-desk", "desk-password-2001", 1)
		if res := r.send(r.build(reqOpts{contacts: contact, authz: a})); res.StatusCode != 400 {
			t.Fatalf("digest uri %s for request-URI sip:127.0.0.1: %d %s", uri, res.StatusCode, res.Reason)
		}
	}
	if r.registered("2001", "desk") || len(r.store.taken()) != 0 {
		t.Fatal("a REGISTER with another URI's credentials changed something")
	}
	if v := counter(r.s.metrics.authFailures.WithLabelValues("uri")); v != 3 {
		t.Fatalf("uri failures counted %v", v)
	}
	// The same nonce, nc 1, with the right uri: accepted (the refusals did
	// not burn the count).
	a := authz(t, ch, "2001-desk", "desk-password-2001", 1)
	if res := r.send(r.build(reqOpts{contacts: contact, authz: a})); res.StatusCode != 200 {
		t.Fatalf("right uri: %d", res.StatusCode)
	}
	r.store.taken()
	// An INVITE whose credentials name another queue.
	if err := r.s.Listen(); err != nil {
		t.Fatal(err)
	}
	res := r.send(r.build(reqOpts{method: "INVITE", ruri: "sip:sales@127.0.0.1", callID: "inv-uri", extra: []string{"Contact: <sip:c@127.0.0.1:5070>"}}))
	ch = challengeOf(t, res, "MD5")
	a = authzFor(t, ch, "INVITE", "sip:support@127.0.0.1", "2001-desk", "desk-password-2001", 1)
	if res := r.send(r.build(reqOpts{method: "INVITE", ruri: "sip:sales@127.0.0.1", callID: "inv-uri2", authz: a,
		extra: []string{"Contact: <sip:c@127.0.0.1:5070>"}})); res.StatusCode != 400 {
		t.Fatalf("INVITE with another URI's credentials: %d", res.StatusCode)
	}
	if got := r.store.taken(); len(got) != 0 {
		t.Fatalf("refused INVITE proposed %v", got)
	}
}
