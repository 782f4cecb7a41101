package contactcenter

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

// Every command type the engine applies has its payload type registered,
// and the registered type is the one the handler decodes: a payload made
// of the registered type's fields is never refused by the handler for its
// shape (only, perhaps, for the state).
func TestPayloadRegistry(t *testing.T) {
	for typ := range handlers {
		if typ == TypeConfigApply {
			continue
		}
		if _, ok := payloadOf[typ]; !ok {
			t.Errorf("%s: no payload type registered for CheckPayload", typ)
		}
	}
	for typ, mk := range payloadOf {
		if _, ok := handlers[typ]; !ok {
			t.Errorf("%s: registered but not applied by the engine", typ)
			continue
		}
		full := fillFields(t, mk())
		if err := CheckPayload(typ, full); err != nil {
			t.Errorf("%s: CheckPayload(%s) = %v", typ, full, err)
		}
		env := command.Envelope{Type: typ, Version: command.CurrentVersion, Time: time.Unix(1_800_000_000, 0).UnixNano(), ID: "x", Payload: full}
		_, err := New().Apply(env, command.NewEmitter(1, env))
		var fe *FieldError
		if errors.As(err, &fe) && (strings.Contains(fe.Msg, "unknown field") || strings.HasPrefix(fe.Msg, "want ") || fe.Field == "payload") {
			t.Errorf("%s: the handler refuses the registered payload's shape %s: %v (registered type differs from the handler's)", typ, full, err)
		}
	}
}

// fillFields encodes v with every top-level field set (strings "x", or
// "2001" where an extension number is wanted, numbers 1, booleans true,
// one element in slices and maps), so that a handler decoding another
// type would meet an unknown field.
func fillFields(t *testing.T, v any) []byte {
	t.Helper()
	rv := reflect.ValueOf(v).Elem()
	for i := 0; i < rv.NumField(); i++ {
		if f := rv.Field(i); f.CanSet() {
			fillValue(f, textFields[rv.Type()][jsonName(rv.Type().Field(i))])
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fillValue(f reflect.Value, kind textKind) {
	switch f.Kind() {
	case reflect.String:
		f.SetString("x")
		if kind == kindExtension {
			f.SetString("2001")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f.SetUint(1)
	case reflect.Float32, reflect.Float64:
		f.SetFloat(1)
	case reflect.Bool:
		f.SetBool(true)
	case reflect.Slice:
		s := reflect.MakeSlice(f.Type(), 1, 1)
		fillValue(s.Index(0), kind)
		f.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(f.Type())
		k, v := reflect.New(f.Type().Key()).Elem(), reflect.New(f.Type().Elem()).Elem()
		fillValue(k, kind)
		fillValue(v, kindNone)
		m.SetMapIndex(k, v)
		f.Set(m)
	case reflect.Pointer:
		p := reflect.New(f.Type().Elem())
		fillValue(p.Elem(), kind)
		f.Set(p)
	}
}

func TestCheckPayloadRefusesBadShapes(t *testing.T) {
	tests := []struct {
		name, typ, payload, field string
	}{
		{"unknown field", TypeAgentLogin, `{"agent":"a1","agnet":"a2"}`, "agnet"},
		{"wrong type", TypeAgentLogin, `{"agent":5}`, "agent"},
		{"trailing data", TypeCallNote, `{"agent":"a1","call":"c1","note":"n"} {}`, "payload"},
		{"not an object", TypeCallAnswer, `[1]`, ""},
		{"missing payload", TypeCallAnswer, ``, "payload"},
		{"bad document", TypeConfigApply, `{"document":{"queues":[{"id":"bad id!"}]}}`, "queues[0].id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPayload(tt.typ, []byte(tt.payload))
			if err == nil {
				t.Fatalf("CheckPayload(%s, %s) accepted it", tt.typ, tt.payload)
			}
			var fe *FieldError
			if tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field) {
				t.Errorf("error %v: want field %q", err, tt.field)
			}
		})
	}
	if err := CheckPayload("call.frobnicate", []byte(`{}`)); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("unknown type: %v", err)
	}
	if err := CheckPayload(TypeClockTick, nil); err != nil {
		t.Errorf("empty tick: %v", err)
	}
	if err := CheckPayload(TypeAgentPause, []byte(`{"agent":"a1","reason":"lunch"}`)); err != nil {
		t.Errorf("good pause: %v", err)
	}
}

// TestMailBatchChecker: one MailBatchChecker, its memory reused from one
// payload to the next, answers each exactly as CheckPayload does.
func TestMailBatchChecker(t *testing.T) {
	long := strings.Repeat("x", MaxNoteLen*8)
	payloads := []string{
		string(MailBenchBatches(t, 1, 200)[0].Payload),
		`{"messages":[{"uid_validity":7,"uid":1,"subject":"` + long + `"}]}`,
		`{"messages":[{"uid_validity":7,"uid":1,"from_name":"a\u0007b"}]}`,
		`{"messages":[{"uid_validity":7,"uid":1,"to":["a@x"],"tо":["b@x"]}]}`,
		`{"messages":[{"uid_validity":7,"uid":1}`,
		string(MailBenchBatches(t, 2, 3)[1].Payload),
		`{"messages":[{"uid_validity":7,"uid":2,"thread":["<a@b>","` + long + `"]}]}`,
		string(MailBenchBatches(t, 1, 500)[0].Payload),
	}
	var c MailBatchChecker
	for i, p := range payloads {
		got, want := c.Check([]byte(p)), CheckPayload(TypeMailReceivedBatch, []byte(p))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("payload %d: Check %v, CheckPayload %v", i, got, want)
		}
		if (i == 0 || i == 5 || i == 7) != (got == nil) {
			t.Errorf("payload %d: %v", i, got)
		}
	}
}
