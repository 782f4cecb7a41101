package contactcenter

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

// fuzzBase is a snapshot of an engine with calls in many places, built
// once; every fuzz input starts from it.
func fuzzBase(t testing.TB) ([]byte, time.Time) {
	h := newHarness(t, baseDoc)
	h.check = false
	h.connect("a1", "a2", "a3")
	h.ok(TypeAgentLogin, AgentRequest{Agent: "a4"})
	h.incoming("q1", "sales") // → a1 or a2
	h.incoming("q2", "sales")
	h.incoming("q3", "sales") // waits
	h.incoming("s1", "support")
	h.answer("a1")
	h.ok(TypeCallConsult, ConsultRequest{Agent: "a1", Call: "k1", Target: "3001"})
	h.answer("a3")
	h.ok(TypeCallPark, ParkRequest{Agent: "a3", Note: "parked"})
	h.ok(TypeCallIncoming, IncomingRequest{Call: "x1", Extension: "3002"})
	// One command away from the ways a call could be stranded with a
	// logged-out operator: a4 (paused) holds a call and may log out; a3
	// logged out while its blind transfer t1 rings (the target may be
	// busy or decline).
	h.ok(TypeCallIncoming, IncomingRequest{Call: "p1", Agent: "a4"})
	h.answer("a4")
	h.ok(TypeCallHold, AgentCallRequest{Agent: "a4"})
	h.ok(TypeCallIncoming, IncomingRequest{Call: "t1", Agent: "a3"})
	h.answer("a3")
	h.ok(TypeCallTransfer, TransferRequest{Agent: "a3", Target: "3002"})
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a3"})
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a3"})
	h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "2001", Phone: "desk", Registered: true})
	// Web chat: sessions waiting in support (c1, with a customer's
	// message) and in sales (c2): nobody is free for them, and the
	// commands a fuzz input may be (a log-in, a hang-up, a tick) offer
	// them.
	h.config(chatDoc)
	h.ok(TypeChatCreate, baseChat("c1"))
	h.ok(TypeChatMessage, ChatMessageRequest{Session: "c1", From: ChatFromCustomer, Text: "hello?"})
	c2 := baseChat("c2")
	c2.Destination = "sales"
	h.ok(TypeChatCreate, c2)
	h.wantPlace("c1", PlaceQueue)
	h.wantPlace("c2", PlaceQueue)
	snap, err := h.e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return snap, h.now
}

// FuzzApply applies one arbitrary payload under every command type to an
// engine in a busy state: it must never panic; a refusal must change
// nothing and emit nothing; after an accepted command the invariants
// hold.
func FuzzApply(f *testing.F) {
	types := CommandTypes()
	seeds := map[string][]string{
		TypeCallIncoming:       {`{"call":"n1","queue":"sales","priority":3}`, `{"call":"n2","agent":"a4"}`, `{"call":"n3","extension":"3001","skills":{"english":2}}`, `{"call":"q1","queue":"sales"}`},
		TypeCallAnswer:         {`{"agent":"a2"}`, `{"agent":"a1"}`},
		TypeCallReject:         {`{"agent":"a2"}`},
		TypeCallHangup:         {`{"agent":"a1"}`, `{"agent":"a1","line":1}`, `{"agent":"a4"}`, `{"agent":"a1","line":2}`},
		TypeCallDial:           {`{"agent":"a4","call":"d1","number":"+44 (161) 555"}`, `{"agent":"a4","number":"*553001"}`},
		TypeCallHold:           {`{"agent":"a3"}`},
		TypeCallRetrieve:       {`{"agent":"a4","call":"q1"}`, `{"agent":"a3"}`, `{"agent":"a2","call":"s1"}`, `{"agent":"a4"}`},
		TypeCallTransfer:       {`{"agent":"a1","target":"3001"}`, `{"agent":"a3","target":"3002","chain":true}`},
		TypeCallConsult:        {`{"agent":"a3","call":"k2","target":"3002"}`},
		TypeCallComplete:       {`{"agent":"a1","chain":true}`},
		TypeCallCancelConsult:  {`{"agent":"a1"}`},
		TypeCallCampOn:         {`{"agent":"a1"}`},
		TypeCallPark:           {`{"agent":"a1","note":"n"}`},
		TypeCallParkOn:         {`{"agent":"a1","extension":"3001"}`},
		TypeCallParkPickup:     {`{"extension":"3001","by":"2001"}`},
		TypeCallCouple:         {`{"agent":"a1","call":"s1"}`},
		TypeCallNote:           {`{"agent":"a1","call":"q1","note":"hi"}`},
		TypeCallRemoteAnswer:   {`{"call":"k1"}`, `{"call":"x1"}`},
		TypeCallRemoteBusy:     {`{"call":"k1"}`, `{"call":"t1"}`},
		TypeCallRemoteHangup:   {`{"call":"q3"}`, `{"call":"q1","side":"target"}`, `{"call":"t1","side":"target"}`, `{"call":"k1"}`},
		TypeAgentLogin:         {`{"agent":"a4"}`},
		TypeAgentLogout:        {`{"agent":"a2"}`, `{"agent":"a4"}`},
		TypeAgentPause:         {`{"agent":"a2","reason":"lunch"}`},
		TypeAgentClose:         {`{"agent":"a2","confirm":true}`, `{"agent":"a4","confirm":true}`},
		TypeAgentWrapUpEnd:     {`{"agent":"a4"}`},
		TypeAgentReportProblem: {`{"agent":"a1","report":"r","call":"q1","description":"d","reset":true,"confirm":true}`},
		TypeClockTick:          {``, `{}`},
		TypePhoneRegistration:  {`{"extension":"2002","phone":"desk","registered":true}`},
		TypePhoneSetSecret:     {`{"extension":"3001","phone":"desk","secret":"0123456789abcdefg","expires_at":"2030-01-01T00:00:00Z"}`},
		TypePhoneSetOrder:      {`{"extension":"3001","phone":"mob","order":0}`},
		TypePhoneSetRinging:    {`{"extension":"3001","phone":"desk","enabled":false}`},
		TypeUserPresence:       {`{"user":"bob","presence":"absent"}`},
		TypeUserForwarding:     {`{"user":"bob","forwarding":{"busy":{"number":"3002"},"calendar":[{"id":"c","weekdays":[1],"from":"09:00","to":"10:00","voicemail":true}]}}`},
		TypeVoicemailSetPIN:    {`{"user":"u1","pin_hash":"pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`},
		TypeVoicemailMonitor:   {`{"user":"u1","mailbox":"3001","monitor":true}`},
		TypeUserPreferences:    {`{"user":"u1","preferences":{"language":"es","auto_failover":true,"failover_grace_seconds":3,"hidden_columns":["supervision.note"],"shortcuts":[{"state":"connected","key":"F4","action":"hangup"}],"own_speed_dials":true,"speed_dials":[{"label":"a","label2":"b","number":"2002","colour":"red","page":2,"position":3}]}}`},
		TypeChatCreate:         {`{"session":"c9","chat_language":"en","priority":50,"destination":"support"}`, `{"session":"c8","chat_language":"es","priority":1}`},
		TypeChatMessage:        {`{"session":"c1","from":"customer","text":"still there?"}`, `{"session":"c2","agent":"a2","text":"hi"}`},
		TypeChatTyping:         {`{"session":"c2","from":"customer"}`},
		TypeChatEnd:            {`{"session":"c1","by":"customer"}`, `{"session":"c2","agent":"a1"}`},
		TypeChatTranscript:     {`{"session":"c1","reply":"t1","to":"ana@example.com"}`},
		TypeConfigApply:        {`{"document":{"queues":[{"id":"new","strategy":"ring-all"}]}}`, `{"document":{},"prune":true}`},
	}
	for i, typ := range types {
		for _, p := range seeds[typ] {
			f.Add(uint8(i), uint16(3), []byte(p))
		}
		f.Add(uint8(i), uint16(0), []byte(`{"agent":"a1","call":"q1"}`))
		f.Add(uint8(i), uint16(20), []byte(`{"agent":7}`))
		f.Add(uint8(i), uint16(0), []byte(`not json`))
	}
	snap, now := fuzzBase(f)
	f.Fuzz(func(t *testing.T, typ uint8, advance uint16, payload []byte) {
		e := New()
		if err := e.Restore(snap); err != nil {
			t.Fatal(err)
		}
		at := now.Add(time.Duration(advance) * time.Second)
		env := command.Envelope{Type: types[int(typ)%len(types)], Version: command.CurrentVersion, Time: at.UnixNano(), ID: "fuzz", Payload: json.RawMessage(payload)}
		before := e.Hash()
		em := command.NewEmitter(1, env)
		res, err := e.Apply(env, em)
		if err != nil {
			if len(em.Events()) != 0 || e.Hash() != before {
				t.Fatalf("%s %q refused (%v) but changed something", env.Type, payload, err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if _, mErr := json.Marshal(res); mErr != nil {
			t.Fatalf("result of %s does not encode: %v", env.Type, mErr)
		}
		if cErr := e.Check(); cErr != nil {
			t.Fatalf("%s %q: %v", env.Type, payload, cErr)
		}
		// A tick afterwards (timers firing on the new state) keeps them.
		tick := command.Envelope{Type: TypeClockTick, Version: command.CurrentVersion, Time: at.Add(time.Minute).UnixNano(), ID: "tick"}
		if _, err := e.Apply(tick, command.NewEmitter(2, tick)); err != nil {
			t.Fatal(err)
		}
		if cErr := e.Check(); cErr != nil {
			t.Fatalf("after %s %q and a tick: %v", env.Type, payload, cErr)
		}
	})
}
