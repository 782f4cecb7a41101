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

// MaxE164Digits is the longest E.164 number (country code included).
const MaxE164Digits = 15

// dialPrefixes returns the international and national (trunk) prefixes
// of the numbering plan of country code cc: "00" and "0" (ITU
// recommendation, most countries), "011" and "1" in the North American
// plan (country code 1).
func dialPrefixes(cc string) (intl, trunk string) {
	if cc == "1" {
		return "011", "1"
	}
	return "00", "0"
}

// storedDigits splits a stored phone field (any characters) into whether
// it is written internationally (a '+' before the first digit) and its
// digits (dialling ignores everything else).
func storedDigits(raw string) (plus bool, digits string) {
	n, seenPlus := 0, false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c >= '0' && c <= '9':
			n++
		case c == '+' && n == 0:
			seenPlus = true
		}
	}
	if n == 0 {
		return false, ""
	}
	b := make([]byte, 0, n)
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c >= '0' && c <= '9' {
			b = append(b, c)
		}
	}
	return seenPlus, string(b)
}

// CanonicalNumber normalises a stored phone number (any characters; only
// digits and a leading '+' count) to the form numbers are matched on:
// E.164 ("+441615527789") where the CTI settings make it possible, else
// the digits. The rules, in order:
//
//  1. written with a leading '+': "+" and the digits, as they are;
//  2. at most internal_number_length digits, or a configured extension
//     (isExtension, may be nil): internal or short (e.g. 112) — the
//     digits, as they are;
//  3. starting with the outside-line prefix: the prefix is dropped when
//     what follows is a whole external number that becomes E.164 (when
//     the prefix itself begins with the national prefix, e.g. "0", only
//     if what follows begins with the national or international prefix:
//     "0 030 1234567" is outside line + national, "030 1234567" national);
//  4. international prefix (00; 011 in country code 1): "+" and the rest;
//  5. national prefix (0; 1 in country code 1): "+", the default country
//     code and the rest; in country code 1 also any 10-digit number;
//  6. otherwise a local number: "+", country code, default area code and
//     the number.
//
// Rules 5 and 6 need default_country_code; a result longer than 15 digits
// is not E.164, and then the digits are returned as they are. The result
// is "" when raw has no digit. CanonicalNumber is idempotent.
func (s Settings) CanonicalNumber(raw string, isExtension func(string) bool) string {
	plus, d := storedDigits(raw)
	switch {
	case d == "":
		return ""
	case plus:
		return "+" + d
	case len(d) <= s.InternalNumberLength || (isExtension != nil && isExtension(d)):
		return d
	}
	intl, trunk := dialPrefixes(s.DefaultCountryCode)
	if p := s.OutsideLinePrefix; p != "" && len(d) > len(p) && strings.HasPrefix(d, p) {
		rest := d[len(p):]
		if len(rest) > s.InternalNumberLength && (!strings.HasPrefix(p, trunk) || strings.HasPrefix(rest, trunk)) {
			if n, ok := s.external(rest, intl, trunk); ok {
				return n
			}
		}
	}
	if n, ok := s.external(d, intl, trunk); ok {
		return n
	}
	return d
}

// external writes an external number d (digits, no outside-line prefix)
// as E.164, if the settings allow it and it fits 15 digits.
func (s Settings) external(d, intl, trunk string) (string, bool) {
	cc := s.DefaultCountryCode
	var n string
	switch {
	case len(d) > len(intl) && strings.HasPrefix(d, intl):
		n = "+" + d[len(intl):]
	case cc == "":
		return "", false
	case len(d) > len(trunk) && strings.HasPrefix(d, trunk):
		n = "+" + cc + d[len(trunk):]
	case cc == "1" && len(d) == 10:
		n = "+1" + d
	default:
		n = "+" + cc + s.DefaultAreaCode + d
	}
	if len(n)-1 > MaxE164Digits {
		return "", false
	}
	return n, true
}

// IsE164 reports whether n is in E.164 form: '+', a country code not
// starting with 0, at most 15 digits in all.
func IsE164(n string) bool {
	if len(n) < 2 || len(n)-1 > MaxE164Digits || n[0] != '+' || n[1] == '0' {
		return false
	}
	for i := 1; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}

// canonical is CanonicalNumber with the engine's settings and configured
// extensions.
func (e *Engine) canonical(raw string) string {
	exts := e.st.Config.Extensions
	return e.st.Config.Settings.CanonicalNumber(raw, func(d string) bool {
		_, ok := exts[d]
		return ok
	})
}
