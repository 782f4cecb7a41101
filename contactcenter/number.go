package contactcenter

import (
	"errors"
	"strings"
)

// MaxDigits bounds a dialled number.
const MaxDigits = 32

// NormalizeNumber checks a number typed for dialling and returns what to
// dial. Accepted: plain digits with spaces ("44 161 5527789"), the
// canonical form "+44 (161) 5527789" (a leading +, digits, spaces, one
// pair of parentheses), and feature codes "*<digits>" (e.g. *552001).
// Any other symbol is refused. The result keeps only the digits, with the
// leading + or * where there was one.
func NormalizeNumber(s string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", errors.New("empty number")
	}
	prefix := ""
	switch t[0] {
	case '+', '*':
		prefix, t = t[:1], t[1:]
	}
	var b strings.Builder
	b.WriteString(prefix)
	open, closed := false, false
	for _, r := range t {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' && prefix != "*":
		case r == '(' && prefix == "+" && !open && !closed:
			open = true
		case r == ')' && open && !closed:
			closed = true
		default:
			return "", errors.New("only digits and spaces, or the form +44 (161) 5527789, may be dialled")
		}
	}
	if open && !closed {
		return "", errors.New("unbalanced parenthesis")
	}
	out := b.String()
	n := len(out) - len(prefix)
	if n == 0 {
		return "", errors.New("no digits")
	}
	if n > MaxDigits {
		return "", errors.New("more than 32 digits")
	}
	return out, nil
}

// DigitsOf keeps only the digits of a stored phone field (CTI: stored
// fields may hold any characters; dialling ignores all but digits).
func DigitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isInternal: a configured extension, or a number of exactly the
// internal number length.
func (e *Engine) isInternal(number string) bool {
	if _, ok := e.st.Config.Extensions[number]; ok {
		return true
	}
	if len(number) != e.st.Config.Settings.InternalNumberLength {
		return false
	}
	for _, r := range number {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
