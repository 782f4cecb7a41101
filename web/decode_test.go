package web

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	cc "github.com/tandemcc/tandem/contactcenter"
)

// Every code the edge decides, at its boundary, from the raw body.
func TestDecodeCallbackCodes(t *testing.T) {
	body := func(extra string) string {
		return `{"queue":"sales","phone":"+34 91 555 0101"` + extra + `}`
	}
	rep := strings.Repeat
	tests := []struct {
		name, body string
		code       int
		field      string
	}{
		{"minimal", body(``), 0, ""},
		{"everything", body(`,"customer_name":"Ana","description":"Bill","contact_data":{"order":"A-1","n":42,"vip":true},"priority":7,"schedule":[{"start":"2025-03-04T10:00:00+01:00","end":"2025-03-04T11:00:00+01:00"}]`), 0, ""},
		{"nulls", body(`,"customer_name":null,"description":null,"contact_data":null,"priority":null,"schedule":null`), 0, ""},
		{"empty", ``, CodeBadMandatory, ""},
		{"not an object", `[1]`, CodeBadMandatory, ""},
		{"not JSON", `{"queue":`, CodeBadMandatory, ""},
		{"trailing data", body(``) + `{}`, CodeBadMandatory, ""},
		{"not UTF-8", "{\"queue\":\"s\xff\"}", CodeBadMandatory, ""},
		{"queue missing", `{"phone":"123"}`, CodeBadMandatory, "queue"},
		{"queue a number", `{"queue":5,"phone":"123"}`, CodeBadMandatory, "queue"},
		{"queue empty", `{"queue":" ","phone":"123"}`, CodeBadMandatory, "queue"},
		{"queue malformed", `{"queue":"sa les","phone":"123"}`, CodeBadMandatory, "queue"},
		{"phone missing", `{"queue":"sales"}`, CodeBadMandatory, "phone"},
		{"phone null", `{"queue":"sales","phone":null}`, CodeBadMandatory, "phone"},
		{"phone malformed", `{"queue":"sales","phone":"call me"}`, CodeBadMandatory, "phone"},
		{"unknown parameter", body(`,"colour":"red"`), CodeBadParameter, "colour"},
		{"parameter twice", body(`,"priority":5,"priority":6`), CodeBadParameter, "priority"},
		{"name not a string", body(`,"customer_name":7`), CodeBadParameter, "customer_name"},
		{"name with a newline", body(`,"customer_name":"A\nB"`), CodeBadParameter, "customer_name"},
		{"name 75", body(`,"customer_name":"` + rep("ñ", 75) + `"`), 0, ""},
		{"name 76", body(`,"customer_name":"` + rep("ñ", 76) + `"`), CodeNameTooLong, "customer_name"},
		{"name 76 escaped", body(`,"customer_name":"` + rep(`\u00f1`, 76) + `"`), CodeNameTooLong, "customer_name"},
		{"description 100", body(`,"description":"` + rep("語", 100) + `"`), 0, ""},
		{"description 101", body(`,"description":"` + rep("語", 101) + `"`), CodeDescTooLong, "description"},
		{"contact data a list", body(`,"contact_data":["a"]`), CodeBadParameter, "contact_data"},
		{"contact data nested", body(`,"contact_data":{"a":{"b":1}}`), CodeBadParameter, "contact_data.a"},
		{"contact data key twice", body(`,"contact_data":{"a":"1","a":"2"}`), CodeBadParameter, "contact_data.a"},
		{"contact data 1000", body(`,"contact_data":{"k":"` + rep("ü", 998) + `"}`), 0, ""},
		{"contact data 1001", body(`,"contact_data":{"k":"` + rep("ü", 999) + `"}`), CodeContactDataLong, "contact_data"},
		{"priority 0", body(`,"priority":0`), CodeInvalidPriority, "priority"},
		{"priority 1", body(`,"priority":1`), 0, ""},
		{"priority 100", body(`,"priority":100`), 0, ""},
		{"priority 101", body(`,"priority":101`), CodeInvalidPriority, "priority"},
		{"priority 1.5", body(`,"priority":1.5`), CodeInvalidPriority, "priority"},
		{"priority 1e300", body(`,"priority":1e300`), CodeInvalidPriority, "priority"},
		{"priority -1", body(`,"priority":-1`), CodeInvalidPriority, "priority"},
		{"priority a string", body(`,"priority":"5"`), CodeBadParameter, "priority"},
		{"schedule a string", body(`,"schedule":"tomorrow"`), CodeInvalidSchedule, "schedule"},
		{"schedule bad time", body(`,"schedule":[{"start":"tomorrow","end":"2025-03-04T11:00:00Z"}]`), CodeInvalidSchedule, "schedule[0].start"},
		{"schedule no end", body(`,"schedule":[{"start":"2025-03-04T11:00:00Z"}]`), CodeInvalidSchedule, "schedule[0]"},
		{"schedule extra key", body(`,"schedule":[{"start":"2025-03-04T10:00:00Z","end":"2025-03-04T11:00:00Z","tz":"x"}]`), CodeInvalidSchedule, "schedule[0].tz"},
		{"schedule reversed", body(`,"schedule":[{"start":"2025-03-04T11:00:00Z","end":"2025-03-04T10:00:00Z"}]`), CodeInvalidSchedule, "schedule[0]"},
		{"schedule overlapping", body(`,"schedule":[{"start":"2025-03-04T10:00:00Z","end":"2025-03-04T12:00:00Z"},{"start":"2025-03-04T11:00:00Z","end":"2025-03-04T13:00:00Z"}]`), CodeInvalidSchedule, "schedule[1]"},
		{"schedule out of order is sorted", body(`,"schedule":[{"start":"2025-03-05T10:00:00Z","end":"2025-03-05T12:00:00Z"},{"start":"2025-03-04T11:00:00Z","end":"2025-03-04T13:00:00Z"}]`), 0, ""},
		{"schedule 11 windows", body(`,"schedule":[` + strings.TrimSuffix(rep(`{"start":"2025-03-04T10:00:00Z","end":"2025-03-04T11:00:00Z"},`, 11), ",") + `]`), CodeInvalidSchedule, "schedule"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, e := DecodeCallback([]byte(tc.body))
			if tc.code == 0 {
				if e != nil {
					t.Fatalf("refused: %+v", e)
				}
				p.Callback = "cb-test"
				b, _ := json.Marshal(p)
				if err := cc.CheckPayload(cc.TypeCallbackCreate, b); err != nil {
					t.Fatalf("accepted request fails the engine's payload check: %v", err)
				}
				return
			}
			if e == nil || e.Code != tc.code || e.Field != tc.field {
				t.Fatalf("got %+v, want code %d field %q", e, tc.code, tc.field)
			}
			if e.Message == "" || utf8.RuneCountInString(e.Message) > 512 {
				t.Fatalf("message %q", e.Message)
			}
		})
	}
}

// FuzzDecodeCallback: any body is either refused with a web.md code and
// a short message, or accepted as a request the engine's payload check
// accepts too.
func FuzzDecodeCallback(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"queue":"q","phone":"1"}`,
		`{"queue":"sales","phone":"+34 91 555 0101","customer_name":"Ana","contact_data":{"a":1,"b":true,"c":"x"},"priority":100}`,
		`{"queue":"q","phone":"1","schedule":[{"start":"2025-03-04T10:00:00Z","end":"2025-03-04T11:00:00Z"}]}`,
		`{"queue":"q","phone":"1","priority":1e400}`, `{"queue":"q","phone":"1","contact_data":{"a=b":"c"}}`,
		"{\"queue\":\"q\",\"phone\":\"1\",\"customer_name\":\"\\u202e\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, e := DecodeCallback(body)
		if e != nil {
			if _, known := Messages[e.Code]; !known {
				t.Fatalf("unknown code %d", e.Code)
			}
			if e.Message == "" || utf8.RuneCountInString(e.Message) > 600 || strings.ContainsAny(e.Message, "\n\r") {
				t.Fatalf("message %q", e.Message)
			}
			return
		}
		p.Callback = "cb-fuzz"
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := cc.CheckPayload(cc.TypeCallbackCreate, b); err != nil {
			t.Fatalf("accepted %q but the payload check refuses it: %v", body, err)
		}
		if ce := cc.CheckCallbackRequest(&p); ce != nil {
			t.Fatalf("accepted %q but the engine's rule refuses it: %v", body, ce)
		}
	})
}

// FuzzFlatObject: the fast path of objectFields reads exactly the members
// encoding/json reads (objectFieldsJSON), and its string and integer
// shortcuts give encoding/json's values; what it does not take, the
// slow path decides.
func FuzzFlatObject(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { } `, `{"queue":"q","phone":"1"}`, `{"a":1,"a":2}`, `{"a":-0,"b":0.5e-3,"c":1E+2,"d":true,"e":false,"f":null}`,
		`{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":.5}`, `{"a":"x\"y"}`, "{\"a\":\"\x01\"}", `{"a":"é"}`, `{"a":tru}`,
		`{"a":truex}`, `{"a":1}x`, `{"a":1}{}`, `{"a":[1]}`, `{"a":{"b":1}}`, `{"a" 1}`, `{"a":1,}`, `{,}`, `[]`, `"x"`,
		`{"queue":"sales","phone":"+1 123 000000000001","customer_name":"Bench 0a1b2c3d","priority":100}`,
		`{"priority":123456789}`, `{"priority":-123456789}`, `{"priority":1234567890}`, "{\"a\":1\t,\n\"b\":2\r}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) {
			return
		}
		fast, ok := flatObject(body)
		if !ok {
			return
		}
		slow, e := objectFieldsJSON(body)
		if e != nil {
			t.Fatalf("flatObject took %q, encoding/json refuses it: %v", body, e)
		}
		if !slices.Equal(fast.order, slow.order) || len(fast.v) != len(slow.v) {
			t.Fatalf("%q: fields %q, encoding/json %q", body, fast.order, slow.order)
		}
		for k, raw := range fast.v {
			if !bytes.Equal(raw, slow.v[k]) {
				t.Fatalf("%q: %s is %s, encoding/json %s", body, k, raw, slow.v[k])
			}
			var want string
			wantErr := json.Unmarshal(raw, &want)
			if got, ok := stringValue(raw); ok != (wantErr == nil) || got != want {
				t.Fatalf("%q: stringValue(%s) = %q, %v; encoding/json %q, %v", body, raw, got, ok, want, wantErr)
			}
			if n, ok := smallInt(raw); ok {
				var num json.Number
				dec := json.NewDecoder(bytes.NewReader(raw))
				dec.UseNumber()
				if err := dec.Decode(&num); err != nil {
					t.Fatalf("smallInt(%s) = %d, encoding/json: %v", raw, n, err)
				}
				if x, err := num.Float64(); err != nil || x != float64(n) {
					t.Fatalf("smallInt(%s) = %d, encoding/json %v, %v", raw, n, x, err)
				}
			}
		}
	})
}
