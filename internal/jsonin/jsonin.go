// Package jsonin decodes JSON input — request bodies, command payloads —
// strictly, and says what is wrong with a refused one in the sender's
// terms: the path of the field at fault ("agents[0].queues") and the kind
// of value wanted ("want a list of strings, not a string"). Its messages
// never name a Go type (encoding/json's do: "cannot unmarshal string into
// Go struct field Agent.queues of type []string") and quote at most a
// short prefix of what they refuse (Clip).
//
// Decode is the strict decoder; Explain turns an error of encoding/json
// into an *Error by walking the input against the target type, so a
// caller that decodes by other means (a fast path, json.Unmarshal) can
// still report the same way. Values bounds the size of the decoded value
// before decoding (an upper bound of the values the text holds), and
// Scrub rewrites a message that some other layer built from an
// encoding/json error.
package jsonin

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// QuoteRunes is how much of a refused value a message quotes.
const QuoteRunes = 32

// Clip is at most QuoteRunes runes of s, with "…" when it was longer.
// Invalid UTF-8 counts a byte a rune.
func Clip(s string) string { return ClipTo(s, QuoteRunes) }

// ClipTo is at most n runes of s, with "…" when it was longer.
func ClipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for r := 0; i < len(s); r++ {
		if r == n {
			return s[:i] + "…"
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s
}

// Quote is Clip(s) quoted as %q does.
func Quote(s string) string { return strconv.Quote(Clip(s)) }

// Error is a refused input: the path of the field at fault ("" for the
// input as a whole) and what is wrong with it.
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// FieldName is the path of the field at fault.
func (e *Error) FieldName() string { return e.Field }

// Decode decodes data, which must be exactly one JSON value, into v (a
// non-nil pointer). Object keys that v's type does not have are refused,
// as is anything but white space after the value. Errors are *Error.
func Decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Explain(data, v, err, true)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return &Error{Msg: "trailing data after the JSON value"}
	}
	return nil
}

// Explain describes err, an error of encoding/json decoding data into v
// (a pointer, or a reflect.Type), as an *Error. strict says whether
// unknown object keys were refused.
func Explain(data []byte, v any, err error, strict bool) *Error {
	var t reflect.Type
	switch v := v.(type) {
	case reflect.Type:
		t = v
	case nil:
	default:
		t = reflect.TypeOf(v)
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var syn *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF) || len(bytes.TrimSpace(data)) == 0:
		return &Error{Msg: "empty: want " + Want(t)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Msg: "the JSON ends too early"}
	case errors.As(err, &syn):
		return &Error{Msg: fmt.Sprintf("not valid JSON at byte %d: %s", syn.Offset, Scrub(strings.TrimPrefix(syn.Error(), "json: ")))}
	}
	if t != nil {
		w := walker{dec: json.NewDecoder(bytes.NewReader(data)), strict: strict}
		w.dec.UseNumber()
		if e := w.value(t, "", 0); e != nil && e != errDone {
			return e
		}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &Error{Field: te.Field, Msg: "want " + Want(te.Type) + ", not " + article(te.Value)}
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if k, ok := strings.CutPrefix(msg, "unknown field "); ok {
		k, _ = strconv.Unquote(k)
		return &Error{Field: Clip(k), Msg: "unknown field"}
	}
	return &Error{Msg: Scrub(msg)}
}

// errDone is a walk that stopped without finding a fault (malformed text
// the decoder already reported, a depth beyond what the walk follows).
var errDone = &Error{}

// maxWalkDepth bounds the walk's recursion; encoding/json refuses deeper
// nesting itself.
const maxWalkDepth = 10000

// walker reads the input's tokens against the target type and stops at
// the first value that does not fit, as encoding/json reports the first.
type walker struct {
	dec    *json.Decoder
	strict bool
}

var (
	timeType        = reflect.TypeFor[time.Time]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// Join is the path of field name under path.
func Join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// Index is the path of element i under path.
func Index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func (w *walker) value(t reflect.Type, path string, depth int) *Error {
	if depth > maxWalkDepth {
		return errDone
	}
	tok, err := w.dec.Token()
	if err != nil {
		return errDone
	}
	if tok == nil {
		return nil // null fits everything: it leaves the value alone
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	wrong := func() *Error {
		return &Error{Field: path, Msg: "want " + Want(t) + ", not " + tokenKind(tok)}
	}
	if t == timeType {
		s, ok := tok.(string)
		if !ok {
			return wrong()
		}
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return &Error{Field: path, Msg: "want " + Want(t) + ", not " + Quote(s)}
		}
		return nil
	}
	if t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerType) {
		return w.skip(tok)
	}
	if reflect.PointerTo(t).Implements(textType) && t.Kind() != reflect.Slice && t.Kind() != reflect.Map {
		if _, ok := tok.(string); !ok {
			return wrong()
		}
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := tok.(string); !ok {
			return wrong()
		}
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return wrong()
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := tok.(json.Number)
		if !ok {
			return wrong()
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			return &Error{Field: path, Msg: "want " + Want(t) + ", not " + Clip(string(n))}
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, ok := tok.(json.Number)
		if !ok {
			return wrong()
		}
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			return &Error{Field: path, Msg: "want " + Want(t) + ", not " + Clip(string(n))}
		}
	case reflect.Float32, reflect.Float64:
		n, ok := tok.(json.Number)
		if !ok {
			return wrong()
		}
		if _, err := strconv.ParseFloat(string(n), t.Bits()); err != nil {
			return &Error{Field: path, Msg: "want " + Want(t) + ", not " + Clip(string(n))}
		}
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			s, ok := tok.(string)
			if !ok {
				return wrong()
			}
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				return &Error{Field: path, Msg: "want " + Want(t) + ", not text that is not base64"}
			}
			return nil
		}
		if tok != json.Delim('[') {
			return wrong()
		}
		for i := 0; w.dec.More(); i++ {
			if e := w.value(t.Elem(), Index(path, i), depth+1); e != nil {
				return e
			}
		}
		return w.end()
	case reflect.Map:
		if tok != json.Delim('{') {
			return wrong()
		}
		for w.dec.More() {
			k, err := w.dec.Token()
			if err != nil {
				return errDone
			}
			key, _ := k.(string)
			kp := Join(path, Clip(key))
			switch t.Key().Kind() {
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				if _, err := strconv.ParseInt(key, 10, t.Key().Bits()); err != nil {
					return &Error{Field: kp, Msg: "want an integer key"}
				}
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				if _, err := strconv.ParseUint(key, 10, t.Key().Bits()); err != nil {
					return &Error{Field: kp, Msg: "want a non-negative integer key"}
				}
			}
			if e := w.value(t.Elem(), kp, depth+1); e != nil {
				return e
			}
		}
		return w.end()
	case reflect.Struct:
		if tok != json.Delim('{') {
			return wrong()
		}
		fields := structFields(t)
		for w.dec.More() {
			k, err := w.dec.Token()
			if err != nil {
				return errDone
			}
			key, _ := k.(string)
			f, ok := fields.lookup(key)
			if !ok {
				if w.strict {
					return &Error{Field: Join(path, Clip(key)), Msg: "unknown field"}
				}
				if e := w.skipValue(); e != nil {
					return e
				}
				continue
			}
			if e := w.value(f.typ, Join(path, f.name), depth+1); e != nil {
				return e
			}
		}
		return w.end()
	default:
		return w.skip(tok)
	}
	return nil
}

// end reads the closing delimiter of an array or object.
func (w *walker) end() *Error {
	if _, err := w.dec.Token(); err != nil {
		return errDone
	}
	return nil
}

// skip consumes the rest of the value that starts with tok.
func (w *walker) skip(tok json.Token) *Error {
	if d, ok := tok.(json.Delim); ok && (d == '[' || d == '{') {
		depth := 1
		for depth > 0 {
			t, err := w.dec.Token()
			if err != nil {
				return errDone
			}
			switch t {
			case json.Delim('['), json.Delim('{'):
				depth++
			case json.Delim(']'), json.Delim('}'):
				depth--
			}
		}
	}
	return nil
}

func (w *walker) skipValue() *Error {
	tok, err := w.dec.Token()
	if err != nil {
		return errDone
	}
	return w.skip(tok)
}

// field is a struct field as encoding/json sees it.
type field struct {
	name string
	typ  reflect.Type
}

type fieldSet []field

// lookup finds key as encoding/json does: the exact name, else the first
// name equal under case folding.
func (fs fieldSet) lookup(key string) (field, bool) {
	for _, f := range fs {
		if f.name == key {
			return f, true
		}
	}
	for _, f := range fs {
		if strings.EqualFold(f.name, key) {
			return f, true
		}
	}
	return field{}, false
}

// structFields lists t's JSON fields, embedded structs' fields promoted.
func structFields(t reflect.Type) fieldSet {
	var fs fieldSet
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				fs = append(fs, structFields(et)...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fs = append(fs, field{name: name, typ: sf.Type})
	}
	return fs
}

// Want says in words what kind of JSON value t takes: "a string", "an
// integer", "a list of objects", … — never a Go type.
func Want(t reflect.Type) string {
	if t == nil {
		return "a JSON value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return "a time (RFC 3339, e.g. 2026-01-02T15:04:05Z)"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return "a string (base64)"
		}
		return "a list of " + plural(t.Elem())
	case reflect.Map, reflect.Struct:
		if reflect.PointerTo(t).Implements(textType) {
			return "a string"
		}
		return "an object"
	}
	return "a JSON value"
}

func plural(t reflect.Type) string {
	w := Want(t)
	switch {
	case strings.HasPrefix(w, "a list"):
		return "lists"
	case w == "true or false":
		return "true or false values"
	case strings.HasPrefix(w, "an "):
		w = w[3:]
	case strings.HasPrefix(w, "a "):
		w = w[2:]
	}
	if i := strings.Index(w, " ("); i >= 0 {
		return w[:i] + "s" + w[i:]
	}
	return w + "s"
}

// tokenKind names the kind of JSON value tok starts.
func tokenKind(tok json.Token) string {
	switch tok := tok.(type) {
	case json.Delim:
		if tok == '[' {
			return "a list"
		}
		return "an object"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "true or false"
	}
	return "null"
}

// article turns encoding/json's name of a JSON value ("string", "number
// 1.5", "array") into words ("a string", "a number", "a list").
func article(v string) string {
	kind, _, _ := strings.Cut(v, " ")
	switch kind {
	case "string":
		return "a string"
	case "number":
		return "a number"
	case "bool":
		return "true or false"
	case "array":
		return "a list"
	case "object":
		return "an object"
	}
	return "another kind of value"
}

// goTypeError matches encoding/json's type error text.
var goTypeError = regexp.MustCompile(`(?:json: )?cannot unmarshal (\w+)(?: [^ ]*)? into Go (?:struct field (\S+)|value) of type (\S+(?: \{[^}]*\})?)`)

// Scrub rewrites, in a message built from an encoding/json error, what
// names Go types: "json: cannot unmarshal string into Go struct field
// Envelope.v of type int" becomes "v: want an integer, not a string". A
// message without such text is returned as it is.
func Scrub(msg string) string {
	if !strings.Contains(msg, "into Go ") {
		return msg
	}
	return goTypeError.ReplaceAllStringFunc(msg, func(m string) string {
		sm := goTypeError.FindStringSubmatch(m)
		field := sm[2]
		if _, rest, ok := strings.Cut(field, "."); ok {
			field = rest // drop the Go struct's name
		}
		want := goTypeWords(sm[3])
		if field == "" {
			return "want " + want + ", not " + article(sm[1])
		}
		return field + ": want " + want + ", not " + article(sm[1])
	})
}

// goTypeWords says what a Go type, given by its name only, takes.
func goTypeWords(name string) string {
	name = strings.TrimLeft(name, "*")
	switch {
	case name == "string":
		return "a string"
	case name == "bool":
		return "true or false"
	case strings.HasPrefix(name, "int"):
		return "an integer"
	case strings.HasPrefix(name, "uint"):
		return "a non-negative integer"
	case strings.HasPrefix(name, "float"):
		return "a number"
	case name == "time.Time":
		return "a time (RFC 3339)"
	case strings.HasPrefix(name, "[]"):
		return "a list"
	case strings.HasPrefix(name, "map["):
		return "an object"
	}
	return "another kind of value"
}

// Values is an upper bound of the number of JSON values in data (every
// value but the first follows a ',' or opens an array or object), read
// without decoding: a caller refuses input whose decoded form would be
// too large before building it.
func Values(data []byte) int {
	n, inString := 1, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ',', '[', '{':
			n++
		}
	}
	return n
}
