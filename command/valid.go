package command

// validJSON reports whether p is exactly one JSON value (white space
// around it allowed): json.Valid's answer, without encoding/json's
// byte-at-a-time state machine (FuzzValidJSON holds it to json.Valid).
// Like json.Valid it does not check UTF-8, and it refuses nesting deeper
// than encoding/json's 10,000 levels.
func validJSON(p []byte) bool {
	v := validator{p: p}
	v.space()
	if !v.value(0) {
		return false
	}
	v.space()
	return v.i == len(p)
}

// compactJSON reports whether p is exactly one JSON value with no white
// space outside its strings: a value encoding/json's compaction leaves as
// it is (FuzzValidJSON holds it to json.Compact).
func compactJSON(p []byte) bool {
	v := validator{p: p}
	return v.value(0) && v.i == len(p) && !v.spaced
}

// maxNesting is encoding/json's bound on nested arrays and objects.
const maxNesting = 10000

type validator struct {
	p      []byte
	i      int
	spaced bool // white space was skipped
}

func (v *validator) space() {
	start := v.i
	for v.i < len(v.p) && isSpace(v.p[v.i]) {
		v.i++
	}
	if v.i > start {
		v.spaced = true
	}
}

func (v *validator) value(depth int) bool {
	p := v.p
	if v.i >= len(p) {
		return false
	}
	switch c := p[v.i]; {
	case c == '{':
		if depth >= maxNesting {
			return false
		}
		v.i++
		v.space()
		if v.i < len(p) && p[v.i] == '}' {
			v.i++
			return true
		}
		for {
			if !v.str() {
				return false
			}
			v.space()
			if v.i >= len(p) || p[v.i] != ':' {
				return false
			}
			v.i++
			v.space()
			if !v.value(depth + 1) {
				return false
			}
			v.space()
			if v.i >= len(p) {
				return false
			}
			switch p[v.i] {
			case ',':
				v.i++
				v.space()
			case '}':
				v.i++
				return true
			default:
				return false
			}
		}
	case c == '[':
		if depth >= maxNesting {
			return false
		}
		v.i++
		v.space()
		if v.i < len(p) && p[v.i] == ']' {
			v.i++
			return true
		}
		for {
			if !v.value(depth + 1) {
				return false
			}
			v.space()
			if v.i >= len(p) {
				return false
			}
			switch p[v.i] {
			case ',':
				v.i++
				v.space()
			case ']':
				v.i++
				return true
			default:
				return false
			}
		}
	case c == '"':
		return v.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return v.number()
	case c == 't':
		return v.literal("true")
	case c == 'f':
		return v.literal("false")
	case c == 'n':
		return v.literal("null")
	}
	return false
}

func (v *validator) literal(s string) bool {
	if len(v.p)-v.i < len(s) || string(v.p[v.i:v.i+len(s)]) != s {
		return false
	}
	v.i += len(s)
	return true
}

// str reads a string: no control characters, only JSON's escapes.
func (v *validator) str() bool {
	p := v.p
	if v.i >= len(p) || p[v.i] != '"' {
		return false
	}
	for i := v.i + 1; i < len(p); i++ {
		switch c := p[i]; {
		case c == '"':
			v.i = i + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			i++
			if i >= len(p) {
				return false
			}
			switch p[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(p) {
					return false
				}
				for _, h := range p[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false
					}
				}
				i += 4
			default:
				return false
			}
		}
	}
	return false
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (v *validator) number() bool {
	p, i := v.p, v.i
	digits := func() bool {
		start := i
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		return i > start
	}
	if p[i] == '-' {
		i++
	}
	if i < len(p) && p[i] == '0' {
		i++
	} else if !digits() {
		return false
	}
	if i < len(p) && p[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(p) && (p[i] == 'e' || p[i] == 'E') {
		i++
		if i < len(p) && (p[i] == '+' || p[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	v.i = i
	return true
}
