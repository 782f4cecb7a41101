package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/jsonin"
)

// MaxBody bounds a request body (the largest valid callback request,
// 1000 characters of contact data each escaped as a surrogate pair, is
// well under it).
const MaxBody = 64 << 10

// Request fields of POST /api/v1/callbacks (interfaces.md, "Public API").
const (
	fieldQueue       = "queue"
	fieldName        = "customer_name"
	fieldPhone       = "phone"
	fieldDescription = "description"
	fieldContactData = "contact_data"
	fieldPriority    = "priority"
	fieldSchedule    = "schedule"
)

// DecodeCallback reads the body of POST /api/v1/callbacks into the
// engine's request (without its id) and makes every check that needs no
// state (contactcenter.CheckCallbackRequest), so that what it refuses
// never reaches the Raft log. In order:
//
//   - the body is one JSON object with each key once (1010), of the
//     fields of interfaces.md only (1011, field named);
//   - queue and phone are present strings (1010);
//   - customer_name and description are strings or null (1011);
//     contact_data an object whose values are strings, numbers or
//     booleans, kept as written (1011);
//   - priority a number or null (default 50; not a number: 1011; not a
//     whole number: 17035);
//   - schedule a list of {"start","end"} RFC 3339 times, or null (17028);
//   - then the engine's checks: lengths in Unicode characters (17030,
//     17032, 17033), priority 1-100 (17035), phone form (1010), windows
//     in order (17028).
func DecodeCallback(body []byte) (cc.CallbackCreateRequest, *Error) {
	var p cc.CallbackCreateRequest
	fields, err := objectFields(body)
	if err != nil {
		return p, err
	}
	for _, k := range fields.order {
		switch k {
		case fieldQueue, fieldName, fieldPhone, fieldDescription, fieldContactData, fieldPriority, fieldSchedule:
		default:
			return p, newErr(CodeBadParameter, jsonin.Clip(k), fmt.Sprintf("unknown parameter %s", jsonin.Quote(k)))
		}
	}
	var e *Error
	if p.Queue, e = mandatoryString(fields.v, fieldQueue); e != nil {
		return p, e
	}
	if p.Phone, e = mandatoryString(fields.v, fieldPhone); e != nil {
		return p, e
	}
	if p.CustomerName, e = optionalString(fields.v, fieldName); e != nil {
		return p, e
	}
	if p.Description, e = optionalString(fields.v, fieldDescription); e != nil {
		return p, e
	}
	if p.ContactData, e = contactData(fields.v[fieldContactData]); e != nil {
		return p, e
	}
	if p.Priority, e = priority(fields.v[fieldPriority]); e != nil {
		return p, e
	}
	if p.Schedule, e = schedule(fields.v[fieldSchedule]); e != nil {
		return p, e
	}
	p.Callback = "x" // checked by the engine's rule with a placeholder id
	if ce := cc.CheckCallbackRequest(&p); ce != nil {
		return p, newErr(ce.Code, ce.Field, ce.Msg)
	}
	p.Callback = ""
	return p, nil
}

type objFields struct {
	v     map[string]json.RawMessage
	order []string
}

// objectFields reads a JSON object's members, refusing anything else,
// duplicate keys and trailing data.
func objectFields(body []byte) (objFields, *Error) {
	bad := func(msg string) (objFields, *Error) {
		return objFields{}, newErr(CodeBadMandatory, "", msg)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return bad("the body must be a JSON object with the callback's parameters; it is empty")
	}
	if !utf8.Valid(body) {
		return bad("the body is not UTF-8")
	}
	if f, ok := flatObject(body); ok {
		return f, nil
	}
	return objectFieldsJSON(body)
}

// objectFieldsJSON is objectFields through encoding/json, for the bodies
// flatObject leaves to it (and every refusal).
func objectFieldsJSON(body []byte) (objFields, *Error) {
	bad := func(msg string) (objFields, *Error) {
		return objFields{}, newErr(CodeBadMandatory, "", msg)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return bad("the body must be a JSON object with the callback's parameters")
	}
	f := objFields{v: map[string]json.RawMessage{}}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return bad("the body is not valid JSON")
		}
		k, _ := kt.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return bad("the body is not valid JSON")
		}
		if _, dup := f.v[k]; dup {
			return objFields{}, newErr(CodeBadParameter, jsonin.Clip(k), fmt.Sprintf("parameter %s is given twice", jsonin.Quote(k)))
		}
		f.v[k] = raw
		f.order = append(f.order, k)
	}
	if _, err := dec.Token(); err != nil {
		return bad("the body is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bad("the body must hold one JSON object and nothing after it")
	}
	return f, nil
}

func isNull(raw json.RawMessage) bool { return raw == nil || string(raw) == "null" }

// flatObject is objectFields's fast path for the usual body (valid UTF-8
// already): one JSON object whose members are strings without escapes,
// numbers, true, false or null, each key once, nothing after it but
// white space. The members are what encoding/json's reading gives
// (FuzzFlatObject holds it to that); anything else — nesting, escapes,
// a repeated key, invalid JSON — is left to objectFieldsJSON (false).
func flatObject(b []byte) (objFields, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return objFields{}, false
	}
	f := objFields{v: make(map[string]json.RawMessage, 8), order: make([]string, 0, 8)}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return f, skipSpace(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return objFields{}, false
		}
		end, ok := plainString(b, i)
		if !ok {
			return objFields{}, false
		}
		key := string(b[i+1 : end-1])
		if i = skipSpace(b, end); i >= len(b) || b[i] != ':' {
			return objFields{}, false
		}
		i = skipSpace(b, i+1)
		if end, ok = plainValue(b, i); !ok {
			return objFields{}, false
		}
		if _, dup := f.v[key]; dup {
			return objFields{}, false
		}
		f.v[key] = json.RawMessage(b[i:end])
		f.order = append(f.order, key)
		if i = skipSpace(b, end); i >= len(b) {
			return objFields{}, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return f, skipSpace(b, i+1) == len(b)
		default:
			return objFields{}, false
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString: the string starting at b[i] ('"') has no escape and no
// control character; end is past its closing quote.
func plainString(b []byte, i int) (end int, ok bool) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, true
		case c == '\\' || c < 0x20:
			return 0, false
		}
	}
	return 0, false
}

// plainValue: a plain string, a JSON number, true, false or null starts
// at b[i]; end is past it.
func plainValue(b []byte, i int) (end int, ok bool) {
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		return plainString(b, i)
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(b[i:], []byte(lit)) {
				return i + len(lit), true
			}
		}
		return 0, false
	case c == '-' || (c >= '0' && c <= '9'):
		return jsonNumber(b, i)
	}
	return 0, false
}

// jsonNumber: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
func jsonNumber(b []byte, i int) (end int, ok bool) {
	digits := func(j int) int {
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i + 1)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

// stringValue is a JSON string's value: without escapes, the bytes
// between the quotes (the body is valid UTF-8 and valid JSON, as
// objectFields read it); else through encoding/json.
func stringValue(raw json.RawMessage) (string, bool) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func mandatoryString(v map[string]json.RawMessage, name string) (string, *Error) {
	raw := v[name]
	if isNull(raw) {
		return "", newErr(CodeBadMandatory, name, name+" is missing")
	}
	s, ok := stringValue(raw)
	if !ok {
		return "", newErr(CodeBadMandatory, name, name+" must be a string")
	}
	if strings.TrimSpace(s) == "" {
		return "", newErr(CodeBadMandatory, name, name+" is empty")
	}
	return s, nil
}

func optionalString(v map[string]json.RawMessage, name string) (string, *Error) {
	raw := v[name]
	if isNull(raw) {
		return "", nil
	}
	s, ok := stringValue(raw)
	if !ok {
		return "", newErr(CodeBadParameter, name, name+" must be a string")
	}
	return s, nil
}

// contactData reads the key/value pairs, sorted by key. Numbers keep
// their JSON spelling, booleans become true/false.
func contactData(raw json.RawMessage) ([]cc.CallbackDatum, *Error) {
	if isNull(raw) {
		return nil, nil
	}
	f, err := objectFields(raw)
	if err != nil {
		if err.Code == CodeBadParameter { // a key given twice
			err.Field = fieldContactData + "." + err.Field
			return nil, err
		}
		return nil, newErr(CodeBadParameter, fieldContactData, "contact_data must be an object of key/value pairs")
	}
	out := make([]cc.CallbackDatum, 0, len(f.order))
	for _, k := range f.order {
		raw := f.v[k]
		var val string
		switch {
		case len(raw) > 0 && raw[0] == '"':
			if json.Unmarshal(raw, &val) != nil {
				return nil, newErr(CodeBadParameter, fieldContactData+"."+jsonin.Clip(k), "not a valid string")
			}
		case string(raw) == "true" || string(raw) == "false":
			val = string(raw)
		case len(raw) > 0 && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')):
			val = string(raw)
		default:
			return nil, newErr(CodeBadParameter, fieldContactData+"."+jsonin.Clip(k), "a contact data value is a string, a number or a boolean")
		}
		out = append(out, cc.CallbackDatum{Key: k, Value: val})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func priority(raw json.RawMessage) (int, *Error) {
	if isNull(raw) {
		return cc.DefaultCallbackPrio, nil
	}
	if n, ok := smallInt(raw); ok {
		return n, nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if raw[0] == '"' || dec.Decode(&n) != nil {
		return 0, newErr(CodeBadParameter, fieldPriority, "priority must be a number from 1 to 100")
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, newErr(CodeInvalidPriority, fieldPriority, fmt.Sprintf("invalid priority %s: must be a whole number from 1 to 100", jsonin.Clip(string(n))))
	}
	return int(f), nil
}

// smallInt reads a JSON integer of at most 9 digits (what priority
// makes of it through float64, exactly).
func smallInt(raw json.RawMessage) (int, bool) {
	d := raw
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 9 || (d[0] == '0' && len(d) > 1) {
		return 0, false
	}
	n := 0
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if raw[0] == '-' {
		n = -n
	}
	return n, true
}

// schedule reads the windows and sorts them by start (order is not the
// customer's concern; overlaps are refused after sorting).
func schedule(raw json.RawMessage) ([]cc.CallbackWindow, *Error) {
	if isNull(raw) {
		return nil, nil
	}
	var ws []json.RawMessage
	if json.Unmarshal(raw, &ws) != nil {
		return nil, newErr(CodeInvalidSchedule, fieldSchedule, "schedule must be a list of {\"start\",\"end\"} windows")
	}
	if len(ws) > cc.MaxCallbackWindows {
		return nil, newErr(CodeInvalidSchedule, fieldSchedule, fmt.Sprintf("%d windows, at most %d", len(ws), cc.MaxCallbackWindows))
	}
	out := make([]cc.CallbackWindow, 0, len(ws))
	for i, w := range ws {
		field := fmt.Sprintf("%s[%d]", fieldSchedule, i)
		f, err := objectFields(w)
		if err != nil {
			return nil, newErr(CodeInvalidSchedule, field, "a window is an object {\"start\",\"end\"}")
		}
		var win cc.CallbackWindow
		for _, k := range f.order {
			var s string
			if (k != "start" && k != "end") || json.Unmarshal(f.v[k], &s) != nil {
				return nil, newErr(CodeInvalidSchedule, field+"."+jsonin.Clip(k), "a window has start and end, RFC 3339 times")
			}
			t, err := time.Parse(time.RFC3339, s)
			if err != nil || t.Year() < 1970 || t.Year() > 2200 {
				return nil, newErr(CodeInvalidSchedule, field+"."+k, fmt.Sprintf("%s is not an RFC 3339 time", jsonin.Quote(s)))
			}
			if k == "start" {
				win.Start = t.UnixNano()
			} else {
				win.End = t.UnixNano()
			}
		}
		if win.Start == 0 || win.End == 0 {
			return nil, newErr(CodeInvalidSchedule, field, "a window needs both start and end")
		}
		out = append(out, win)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out, nil
}
