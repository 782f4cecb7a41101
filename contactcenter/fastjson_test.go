package contactcenter

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tandemcc/tandem/command"
)

// strictDecode is decode without the fast path.
func strictDecode(p []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if len(bytes.TrimSpace(p[dec.InputOffset():])) > 0 {
		return &FieldError{Field: "payload"}
	}
	return nil
}

// fastTypes are the payload types with a fast path.
func fastTypes() []func() any {
	return []func() any{
		func() any { return new(AgentRequest) }, func() any { return new(AgentCallRequest) },
		func() any { return new(CallRequest) }, func() any { return new(PauseRequest) },
		func() any { return new(CloseRequest) }, func() any { return new(HangupRequest) },
		func() any { return new(IncomingRequest) }, func() any { return new(RemoteHangupRequest) },
		func() any { return new(DialRequest) }, func() any { return new(RetrieveRequest) },
		func() any { return new(TransferRequest) }, func() any { return new(ConsultRequest) },
		func() any { return new(CompleteRequest) }, func() any { return new(ParkRequest) },
		func() any { return new(NoteRequest) }, func() any { return new(CallbackCreateRequest) },
		func() any { return new(MailReceivedRequest) }, func() any { return new(MailReceivedBatchRequest) },
	}
}

// FuzzFastDecode: the fast path decodes exactly what encoding/json
// decodes, and refuses exactly what it refuses.
func FuzzFastDecode(f *testing.F) {
	for _, s := range []string{
		`{"agent":"a1"}`, ` { "agent" : "a1" , "line" : 2 } `, `{"call":"c","queue":"q","priority":-0,"number":"+44"}`,
		`{"agent":"a\u0031"}`, `{"Agent":"x"}`, `{"agent":"a","agent":"b"}`, `{"agent":null}`, `{"line":1.5}`,
		`{"line":01}`, `{"line":1e2}`, `{"line":99999999999}`, `{"confirm":true,"agent":"é"}`, `{"agent":"\xff"}`,
		`{"chain":false}`, `{}`, `{"skills":{"a":1}}`, `{"agent":"a"} x`, `{"agent":"a"}{}`, `[1]`, `"x"`, `{"agent":"a",}`,
		`{"agent" "a"}`, `{"line":-}`, `{"line":2147483648}`, `{"line":-2147483648}`, `{"note":"<&>"}`,
		`{"call":"c1","queue":"q","skills":{"s1":3,"s2":7}}`, ` {"skills" : { "s1" : 3 , "x" : -1 } , "call":"c"} `,
		`{"skills":{}}`, `{"skills":{ }}`, `{"skills":null}`, `{"skills":{"s1":1},"skills":{"s2":2}}`,
		`{"skills":{"s1":1,"s1":2}}`, `{"skills":{"s1":1.0}}`, `{"skills":{"s1":"1"}}`, `{"skills":{"s\u0031":1}}`,
		"{\"skills\":{\"\xff\":1,\"s1\":2}}", `{"skills":{"é":1}}`, `{"skills":{"s1":{"a":1}}}`, `{"skills":{"s1":1,}}`, `{"skills":{"s1":1}`,
		`{"skills":{"s1":99999999999}}`, `{"skills":{"s1":2147483647}}`, `{"skills":{s1:1}}`, `{"skills":[1]}`,
		`{"Skills":{"s1":1}}`, `{"skills":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17}}`,
		`{"skills":{"":1}}`, `{"skills":{"s1" 1}}`, `{"skills":{"s1":1}x}`, `{"agent":{"s1":1}}`, `{"line":{}}`,
		// mail.received and mail.received_batch (mailfast.go)
		`{"uid_validity":7,"uid":2,"after":1,"message_id":"\u003cm1@x\u003e","from":"c@x","from_name":"Café","to":["support@example.org"],"subject":"Caf\u00e9 1","thread":["<a@b>","\u003cc@d\u003e"],"skip":"bulk"}`,
		`{"uid":4294967295}`, `{"uid":4294967296}`, `{"uid":-1}`, `{"uid":-0}`, `{"uid":1.0}`, `{"uid":01}`, `{"uid":"1"}`, `{"uid":1,"uid":2}`,
		`{"to":[]}`, `{"to":null}`, `{"to":[null]}`, `{"to":["a",]}`, `{"to":["a" "b"]}`, `{"to":["a"],"to":["b"]}`, `{"to":"a"}`, `{"to":[1]}`,
		`{"subject":"\ud83d\ude00"}`, `{"subject":"\ud800"}`, `{"subject":"\u00"}`, `{"subject":"\x"}`, `{"subject":"a\/b\"c\\d\b\f\n\r\t"}`,
		`{"subject":"\u0000"}`, "{\"subject\":\"\xff\"}", "{\"subject\":\"\\n\xff\"}", "{\"subject\":\"é\\né\"}", `{"subject":"\uFFFD\uabcd"}`,
		`{"Subject":"x"}`, `{"uid_Validity":1}`, `{"skip":null}`, `{"thread":[["a"]]}`,
		`{"messages":[]}`, `{"messages":[{}]}`, `{"messages":null}`, `{"messages":[{"uid":1},{"uid":2,"after":1}]}`,
		`{"messages":[{"uid":1}],"messages":[{"after":3}]}`, `{"messages":[{"uid":1},]}`, `{"messages":[{"uid":1}]`, `{"messages":{}}`,
		` { "messages" : [ { "uid" : 1 , "to" : [ "a" , "b" ] } , { } ] } `, `{"messages":[{"uid":1}]} x`, `{"messages":[1]}`,
		`{"Messages":[]}`, `{}`, `{"messages":[{"uid":1,"x":2}]}`,
		`{"callback":"cb1","queue":"bench","customer_name":"Bench 1","phone":"+1 2 3","priority":100}`,
		`{"callback":"cb1","queue":"q","phone":"+1","description":"é\u00e9","priority":0}`,
		`{"callback":"cb1","queue":"q","phone":"+1","priority":5,"contact_data":[{"key":"k","value":"v"}]}`,
		`{"callback":"cb1","queue":"q","phone":"+1","schedule":[{"start":1,"end":2}]}`, `{"priority":"5","queue":"q"}`,
	} {
		for i := range fastTypes() {
			f.Add(uint8(i), []byte(s))
		}
	}
	used := MailBenchBatches(f, 1, 3)[0].Payload
	f.Fuzz(func(t *testing.T, which uint8, p []byte) {
		mk := fastTypes()[int(which)%len(fastTypes())]
		fast, strict := mk(), mk()
		in := &interns{
			agents: map[string]*AgentState{"a1": {ID: "a1"}},
			queues: map[string]*QueueState{"q": {ID: "q"}},
			ids:    map[string]string{"a1": "a1", "q": "q", "3001": "3001", "s1": "s1"},
		}
		// The mail scratch as an engine leaves it: a batch decoded
		// with it before, then released.
		if err := decodeWith(command.Envelope{Payload: used}, new(MailReceivedBatchRequest), in); err != nil {
			t.Fatal(err)
		}
		in.mail.release()
		errF := decodeWith(command.Envelope{Payload: p}, fast, in)
		errS := strictDecode(p, strict)
		if len(bytes.TrimSpace(p)) == 0 {
			return // decode refuses an empty payload before decoding
		}
		if (errF == nil) != (errS == nil) {
			t.Fatalf("%T %q: fast path error %v, encoding/json error %v", fast, p, errF, errS)
		}
		if errF == nil && !reflect.DeepEqual(fast, strict) {
			t.Fatalf("%T %q: fast path %+v, encoding/json %+v", fast, p, fast, strict)
		}
	})
}

func TestFastPathTaken(t *testing.T) {
	// mail.received_batch as the channel encodes it (HTML characters
	// escaped).
	batch := MailBenchBatches(t, 1, 3)[0].Payload
	var mb MailReceivedBatchRequest
	if !decodeFast(batch, &mb, nil) || len(mb.Messages) != 3 || mb.Messages[2].MessageID != "<m3.1764870000000000000@example.com>" || mb.Messages[0].Subject != "Café 1" {
		t.Fatalf("fast path not taken for %s: %+v", batch, mb)
	}
	for _, p := range []string{`{"agent":"a1"}`, `{"agent":"a1","line":2}`} {
		var h HangupRequest
		if !decodeFast([]byte(p), &h, &interns{ids: map[string]string{"a1": "a1"}}) || h.Agent != "a1" {
			t.Fatalf("fast path not taken for %s", p)
		}
	}
	var h HangupRequest
	if decodeFast([]byte(`{"agent":"a1","line":"2"}`), &h, nil) || h != (HangupRequest{}) {
		t.Fatalf("fast path took a string for an int, or left %+v", h)
	}
	// call.incoming with skills, as the routing benchmark sends it.
	for p, want := range map[string]map[string]int{
		`{"call":"c1","queue":"q1","number":"+4416155","priority":2,"skills":{"s4":7,"s9":3}}`: {"s4": 7, "s9": 3},
		`{"call":"c1","queue":"q1","skills":{}}`:                                               {},
		`{"call":"c1","skills":{"s4":1,"s4":2}}`:                                               {"s4": 2},
	} {
		var in IncomingRequest
		if !decodeFast([]byte(p), &in, nil) || !reflect.DeepEqual(in.Skills, want) {
			t.Fatalf("%s: fast path not taken, or skills %v (want %v)", p, in.Skills, want)
		}
	}
	for _, p := range []string{`{"skills":{"s4":1},"skills":{"s5":1}}`, `{"skills":null}`, `{"skills":{"s\u0034":1}}`} {
		var in IncomingRequest
		if decodeFast([]byte(p), &in, nil) || !reflect.DeepEqual(in, IncomingRequest{}) {
			t.Fatalf("%s: fast path taken, or left %+v", p, in)
		}
	}
}

// FuzzMailBatchResult: MailBatchResult's UnmarshalJSON reads what
// encoding/json reads (without the method), and refuses what it refuses;
// AppendJSON's output reads back as the result it encoded.
// TestMailScratchReuse: batches decoded one after the other with the
// engine's scratch (released between them, as cmdMailReceivedBatch does)
// decode as encoding/json decodes them, shorter and longer ones alike,
// and the strings of one stay intact when the next reuses the memory.
func TestMailScratchReuse(t *testing.T) {
	in := &interns{}
	var kept, want []string
	for i, n := range []int{3, 40, 2, 40, 500, 1} {
		env := MailBenchBatches(t, i+1, n)[i] // UIDs from i·n+1: other texts each time
		var fast, strict MailReceivedBatchRequest
		if !decodeFast(env.Payload, &fast, in) {
			t.Fatalf("%d messages: fast path not taken", n)
		}
		if err := strictDecode(env.Payload, &strict); err != nil || !reflect.DeepEqual(fast, strict) {
			t.Fatalf("%d messages: fast %+v, encoding/json %+v (%v)", n, fast.Messages[0], strict.Messages[0], err)
		}
		kept = append(kept, fast.Messages[0].From, fast.Messages[n-1].Subject)
		want = append(want, strict.Messages[0].From, strict.Messages[n-1].Subject)
		in.mail.release()
	}
	if !reflect.DeepEqual(kept, want) {
		t.Fatalf("the strings kept from each batch: %q, want %q", kept, want)
	}
}

func FuzzMailBatchResult(f *testing.F) {
	type plain MailBatchResult
	for _, r := range []MailBatchResult{{}, {Results: []MailResult{}}, {Results: []MailResult{{Contact: "mail-7-1", Queue: "support"},
		{Contact: "mail-7-2", Duplicate: true}, {Skipped: "own"}, {Contact: "mail-7-1", Queue: "q", Threaded: true}, {}}}} {
		f.Add(r.AppendJSON(nil))
	}
	for _, s := range []string{`{"results":null}`, `{"results":[]}`, `{"results":[{}]}`, ` { "results" : [ { "contact" : "c" , "duplicate" : true } ] } `,
		`{"results":[{"duplicate":false}]}`, `{"results":[{"contact":"a","contact":"b"}]}`, `{"Results":[]}`, `{"results":[{"Contact":"c"}]}`,
		`{"results":[{"contact":"\u00e9"}]}`, "{\"results\":[{\"contact\":\"\xff\"}]}", `{"results":[{"contact":null}]}`, `{"results":[],"results":[{}]}`,
		`{}`, `null`, `[]`, `{"results":[{}]} x`, `{"results":[{},]}`, `{"results":[{"x":1}]}`, `{"results":[{"threaded":truex}]}`, `{"results":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got MailBatchResult
		errGot := json.Unmarshal(b, &got)
		var want plain
		errWant := json.Unmarshal(b, &want)
		if (errGot == nil) != (errWant == nil) {
			t.Fatalf("%q: UnmarshalJSON error %v, encoding/json %v", b, errGot, errWant)
		}
		if errGot == nil && !reflect.DeepEqual(got, MailBatchResult(want)) {
			t.Fatalf("%q: UnmarshalJSON %+v, encoding/json %+v", b, got, want)
		}
		var again MailBatchResult
		if errGot == nil && (json.Unmarshal(got.AppendJSON(nil), &again) != nil || !reflect.DeepEqual(again, got)) {
			t.Fatalf("%q: %+v encoded reads back as %+v", b, got, again)
		}
	})
}

// TestMailBatchResultFast: what AppendJSON writes takes the fast path.
func TestMailBatchResultFast(t *testing.T) {
	for _, r := range []MailBatchResult{{}, {Results: []MailResult{}}, {Results: []MailResult{{Contact: "mail-7-1", Queue: "support"},
		{Contact: "mail-7-2", Duplicate: true}, {Skipped: "own"}, {Contact: "mail-7-1", Queue: "q", Threaded: true}}}} {
		var got MailBatchResult
		if b := r.AppendJSON(nil); !got.decodeFast(b) || !reflect.DeepEqual(got, r) {
			t.Errorf("%s: fast path read %+v", b, got)
		}
	}
}
