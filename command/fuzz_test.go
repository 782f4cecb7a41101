package command

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes and
// decodes to the same envelope, with a stable encoding.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"type":"config.apply","v":1,"time":1772366400000000123,"id":"c1","payload":{"document":{"queues":[{"id":"q1"}]}}}`,
		`{"type":"cluster.noop","v":1,"time":1,"id":"x"}`,
		`{"type":"cluster.node_upsert","v":1,"time":5,"id":"n","payload":{"id":"a","raft_addr":"127.0.0.1:7000","admin_addr":"http://127.0.0.1:7070"}}`,
		`{"type":"a.b","v":1,"time":1,"id":"x","payload":null}`,
		`{"type":"a.b","v":1,"time":1,"id":"x","payload":  { "s" : "<&>\u2028" , "n":[1, 2.5e3, true, null] } }`,
		`{"TYPE":"a.b","V":1,"Time":1,"ID":"x","payload":"s","payload":7}`,
		`{"type":"a.b","v":2,"time":1,"id":"x"}`,
		`{"type":"a.b","v":0,"time":1,"id":"x"}`,
		`{"type":"ab","v":1,"time":1,"id":"x"}`,
		`{"type":"a.b","v":1,"time":-1,"id":"x"}`,
		`{"type":"a.\xff","v":1,"time":1,"id":"\xfe","payload":"\xff"}`,
		`{"type":"a.b","v":1e0,"time":1,"id":"x"}`,
		`null`, `[]`, `{}`, ``, `{"type":`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(data)
		if err != nil {
			if e.Type != "" || e.ID != "" || e.Time != 0 || e.Version != 0 || e.Payload != nil {
				t.Fatalf("Decode refused (%v) but returned %+v", err, e)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid envelope: %v", err)
		}
		b, err := Encode(e)
		if err != nil {
			t.Fatalf("Encode of decoded %+v: %v", e, err)
		}
		e2, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(x))) = %v; encoded %q", err, b)
		}
		if !sameEnvelope(e, e2) {
			t.Fatalf("round trip changed the envelope:\n%+v\n%+v", e, e2)
		}
		b2, err := Encode(e2)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("encoding not stable:\n%q\n%q (%v)", b, b2, err)
		}
	})
}

// FuzzDecodeFast: whatever Decode's fast path reads, json.Unmarshal reads
// the same (it takes encoded envelopes, large payloads included).
func FuzzDecodeFast(f *testing.F) {
	for _, s := range []string{
		`{"type":"mail.received_batch","v":1,"time":1772366400000000123,"id":"mail.received_batch/7/1-500","payload":{"messages":[{"uid_validity":7,"uid":1,"message_id":"\u003cm1@x\u003e","subject":"Café"}]}}`,
		`{"type":"a.b","v":1,"time":1,"id":"x"}`, ` { "type" : "a.b" , "v" : 1 , "time" : 1 , "id" : "x" , "payload" : { } } `,
		`{"type":"a.b","v":1,"time":1,"id":"x","payload":{"a":1}}x`, `{"type":"a.b","v":1,"time":1,"id":"x","payload":{"a":1},"payload":{}}`,
		`{"type":"a.b","v":1,"time":1,"id":"x","payload":{"a":1}}}`, `{"type":"a.b","v":1,"time":1,"id":"x","payload":{"a":}}`,
		`{"type":"a.b","v":1,"time":1,"id":"x","payload":{"a":1},"z":{}}`, `{"type":"a.b","v":1,"time":1,"id":"x","payload":{"a":"}"}}`,
		`{"type":"a.b","v":-0,"time":-9,"id":"x"}`, `{"type":"a.b","v":01,"time":1,"id":"x"}`, `{"type":"a.b","v":1,"time":999999999999999999,"id":"x"}`,
		`{"type":"a.b","v":1,"time":9999999999999999999,"id":"x"}`, `{"type":"a.b","v":1,"time":9223372036854775807,"id":"x"}`,
		`{"type":"a.b","v":1,"time":9223372036854775808,"id":"x"}`, `{"type":"a.b","v":1,"time":-9223372036854775808,"id":"x"}`, `{"type":"a.b","v":1,"time":-9223372036854775809,"id":"x"}`, `{"type":"a\u002eb","v":1,"time":1,"id":"x"}`, `{"Type":"a.b","v":1,"time":1,"id":"x"}`,
		"{\"type\":\"a.\xff\",\"v\":1,\"time\":1,\"id\":\"x\"}", `{"type":"a.b","v":1,"time":1,"id":"x","payload":{"s":"\xff"}}`,
		`{"type":"a.b","v":1,"time":1,"id":"x","payload":{}` + "\n}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeFast(data, false)
		if !ok {
			return
		}
		var ref Envelope
		if err := json.Unmarshal(data, &ref); err != nil {
			t.Fatalf("%q: fast path read %+v, json.Unmarshal refused: %v", data, fast, err)
		}
		if !sameEnvelope(fast, ref) || !bytes.Equal(fast.Payload, ref.Payload) || (fast.Payload == nil) != (ref.Payload == nil) {
			t.Fatalf("%q: fast path %+v, json.Unmarshal %+v", data, fast, ref)
		}
		// Decoding a buffer handed over reads the same, without a copy.
		owned, ok := decodeFast(data, true)
		if !ok || !sameEnvelope(owned, fast) || !bytes.Equal(owned.Payload, fast.Payload) || (owned.Payload == nil) != (fast.Payload == nil) {
			t.Fatalf("%q: owned %+v (%v), copied %+v", data, owned, ok, fast)
		}
	})
}

// FuzzValidJSON: validJSON is json.Valid.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, ` [ ] `, `{"a":[1,-0.5e+3,1E9,true,false,null,"\u00e9\"\\\/\b\f\n\r\t"]}`, `{"a":1,}`, `[1,]`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`,
		`"\u12"`, `"\uZZZZ"`, `"\x"`, "\"\x01\"", "\"\xff\"", `tru`, `nul`, `{"a" 1}`, `{1:2}`, `[1 2]`, `{"a":1}}`, `[[[]]]`, `"`, ``, ` `,
		`-01`, `-0`, `1.5E-07`, `{"":""}`, "\t\n\r {\"a\"\t:\n1}\r\n", `[` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `]`,
		strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000), strings.Repeat(`{"a":`, 10001) + `1` + strings.Repeat(`}`, 10001),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		if got, want := validJSON(p), json.Valid(p); got != want {
			t.Fatalf("%.200q: validJSON %v, json.Valid %v", p, got, want)
		}
		var compacted bytes.Buffer
		want := json.Compact(&compacted, p) == nil && bytes.Equal(compacted.Bytes(), p)
		if got := compactJSON(p); got != want {
			t.Fatalf("%.200q: compactJSON %v, want %v (json.Compact leaves it unchanged: %v)", p, got, want, want)
		}
	})
}

// FuzzEncodeFast holds New and Encode to encoding/json: whatever the
// type, ID, time and payload, they answer as json.Marshal and a
// json.Encoder without HTML escaping do (the reference code below is
// what they were before their fast paths), byte for byte.
func FuzzEncodeFast(f *testing.F) {
	for _, s := range []string{
		`{"messages":[{"uid":1,"message_id":"\u003ca@b\u003e","subject":"Help with my order"}]}`,
		`{"a":"<&>"}`, "{\"a\":\"\u2028\"}", `{ "a":1}`, `[1, 2]`, `null`, `"s"`, `{"a":"\u00e9"}`, "{\"a\":\"\xff\"}",
		`{"a":1}x`, ``, `{"a":[1,-0.5e+3,true,false,null]}`, ` {}`, "{}\n",
	} {
		f.Add("mail.received_batch", "0123456789abcdef", int64(1764900000000000000), []byte(s))
	}
	f.Add("a.b", "id\"with\\quotes", int64(1), []byte(`{}`))
	f.Add("a.<b>&", "é", int64(7), []byte(`{}`))
	f.Add("a.b", "x\u2028", int64(7), []byte(`{}`))
	f.Fuzz(func(t *testing.T, typ, id string, nanos int64, payload []byte) {
		now := time.Unix(0, nanos)
		got, gotErr := New(typ, id, now, json.RawMessage(payload))
		want, wantErr := referenceNew(typ, id, now, json.RawMessage(payload))
		if (gotErr == nil) != (wantErr == nil) || !bytes.Equal(got.Payload, want.Payload) {
			t.Fatalf("New: %q %v, want %q %v", got.Payload, gotErr, want.Payload, wantErr)
		}
		owned, ownedErr := New(typ, id, now, Owned(bytes.Clone(payload)))
		if (ownedErr == nil) != (wantErr == nil) || !bytes.Equal(owned.Payload, want.Payload) {
			t.Fatalf("New of an owned payload: %q %v, want %q %v", owned.Payload, ownedErr, want.Payload, wantErr)
		}
		for _, e := range []Envelope{got, {Type: typ, Version: CurrentVersion, Time: nanos, ID: id, Payload: payload}} {
			b, err := Encode(e)
			wb, werr := referenceEncode(e)
			if (err == nil) != (werr == nil) || !bytes.Equal(b, wb) {
				t.Fatalf("Encode(%+v):\n%q %v\nwant\n%q %v", e, b, err, wb, werr)
			}
		}
	})
}

func referenceNew(typ, id string, now time.Time, payload any) (Envelope, error) {
	e := Envelope{Type: typ, Version: CurrentVersion, Time: now.UnixNano(), ID: id}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return Envelope{}, err
		}
		e.Payload = b
	}
	return e, e.Validate()
}

func referenceEncode(e Envelope) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
