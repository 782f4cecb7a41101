package command

import (
	"encoding/json"
	"math"
	"unicode/utf8"
)

// decodeFast decodes an envelope as Encode writes it — its members in
// order (type, v, time, id, then an object payload last), strings without
// escapes — as json.Unmarshal does, without scanning the payload twice:
// every node decodes every entry, and a batch command's payload is large
// (a mail.received_batch of 500 messages is ~120 KB), so encoding/json's
// two passes over it (validation, then skipping it into the RawMessage)
// were a quarter of applying it. The payload is checked with validJSON,
// the rest read here; anything else (other order or spelling, escapes,
// a repeated member, a payload that is not an object) is left to
// json.Unmarshal (ok false). FuzzDecodeFast holds it to json.Unmarshal.
// With own the payload is b's bytes (DecodeOwned), else a copy.
func decodeFast(b []byte, own bool) (e Envelope, ok bool) {
	d := fastDec{p: b}
	d.space()
	if !d.byte('{') {
		return Envelope{}, false
	}
	var ver int64
	if !d.key("type") || !d.str(&e.Type) || !d.next() ||
		!d.key("v") || !d.int(&ver) || !d.next() ||
		!d.key("time") || !d.int(&e.Time) || !d.next() ||
		!d.key("id") || !d.str(&e.ID) {
		return Envelope{}, false
	}
	e.Version = int(ver)
	if int64(e.Version) != ver {
		return Envelope{}, false
	}
	d.space()
	if d.byte('}') {
		d.space()
		return e, d.i == len(b)
	}
	if !d.byte(',') {
		return Envelope{}, false
	}
	d.space()
	if !d.key("payload") || d.i >= len(b) || b[d.i] != '{' {
		return Envelope{}, false
	}
	// The payload runs to the envelope's last '}'.
	end := len(b) - 1
	for end > d.i && isSpace(b[end]) {
		end--
	}
	if end <= d.i || b[end] != '}' {
		return Envelope{}, false
	}
	p := b[d.i:end]
	for len(p) > 0 && isSpace(p[len(p)-1]) {
		p = p[:len(p)-1]
	}
	if len(p) == 0 || p[len(p)-1] != '}' || !validJSON(p) {
		return Envelope{}, false
	}
	if own {
		e.Payload = json.RawMessage(p[:len(p):len(p)])
	} else {
		e.Payload = append(json.RawMessage(nil), p...)
	}
	return e, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

type fastDec struct {
	p []byte
	i int
}

func (d *fastDec) space() {
	for d.i < len(d.p) && isSpace(d.p[d.i]) {
		d.i++
	}
}

func (d *fastDec) byte(c byte) bool {
	if d.i < len(d.p) && d.p[d.i] == c {
		d.i++
		return true
	}
	return false
}

// key reads `"name"` and the colon after it (with white space around).
func (d *fastDec) key(name string) bool {
	p := d.p
	if d.i+len(name)+2 > len(p) || p[d.i] != '"' || string(p[d.i+1:d.i+1+len(name)]) != name || p[d.i+1+len(name)] != '"' {
		return false
	}
	d.i += len(name) + 2
	d.space()
	if !d.byte(':') {
		return false
	}
	d.space()
	return true
}

// next reads the comma between members.
func (d *fastDec) next() bool {
	d.space()
	if !d.byte(',') {
		return false
	}
	d.space()
	return true
}

// str reads a string of valid UTF-8 without escapes or control
// characters.
func (d *fastDec) str(dst *string) bool {
	p := d.p
	if d.i >= len(p) || p[d.i] != '"' {
		return false
	}
	start := d.i + 1
	ascii := true
	for j := start; j < len(p); j++ {
		c := p[j]
		if c == '"' {
			if !ascii && !utf8.Valid(p[start:j]) {
				return false
			}
			*dst = string(p[start:j])
			d.i = j + 1
			return true
		}
		if c == '\\' || c < 0x20 {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	return false
}

// int reads an integer (no fraction or exponent) that fits an int64.
func (d *fastDec) int(dst *int64) bool {
	p, i := d.p, d.i
	neg := i < len(p) && p[i] == '-'
	if neg {
		i++
	}
	if i >= len(p) || p[i] < '0' || p[i] > '9' || (p[i] == '0' && i+1 < len(p) && p[i+1] >= '0' && p[i+1] <= '9') {
		return false
	}
	var x uint64
	n := 0
	for ; i < len(p) && p[i] >= '0' && p[i] <= '9'; i++ {
		if n++; n > 19 { // 19 digits fit a uint64
			return false
		}
		x = x*10 + uint64(p[i]-'0')
	}
	if i < len(p) && (p[i] == '.' || p[i] == 'e' || p[i] == 'E') {
		return false
	}
	switch {
	case !neg && x > math.MaxInt64, neg && x > 1<<63:
		return false
	case neg:
		*dst = -int64(x) // -(1<<63) as well
	default:
		*dst = int64(x)
	}
	d.i = i
	return true
}
