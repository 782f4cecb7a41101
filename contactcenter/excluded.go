package contactcenter

import (
	"fmt"
	"strings"
)

// ExcludedNumber is one entry of the excluded-numbers list: a number the
// contact center must not call back (the web callback edge refuses it
// with error 17031; incoming calls from it are flagged in call.identified).
// Number is normalised (Settings.CanonicalNumber); matching is exact on
// the normalised form — no prefixes or ranges, so an entry can never
// exclude more than the one number it names.
type ExcludedNumber struct {
	Number string `json:"number"`
}

// excludedChars are the characters an excluded-numbers entry may hold
// besides digits: separators people write numbers with. A '+' may only
// lead.
const excludedChars = " ()-./"

// checkExcludedEntry checks one configured excluded number as written.
func checkExcludedEntry(field, raw string) error {
	if err := checkText(field, raw, MaxNumberLen); err != nil {
		return err
	}
	digits := 0
	lead := len(raw) - len(strings.TrimLeft(raw, " ")) // index of the first non-space
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' && i == lead:
		case strings.IndexByte(excludedChars, c) >= 0:
		default:
			return fieldErr(field, "%q: a phone number holds digits, a leading +, spaces and ( ) - . / only", raw)
		}
	}
	if digits == 0 {
		return fieldErr(field, "%q has no digits", raw)
	}
	if digits > MaxDigits {
		return fieldErr(field, "%q has more than %d digits", raw, MaxDigits)
	}
	return nil
}

// mergeExcluded applies a document's excluded_numbers to next (whose
// settings and extensions are final): entries kept from before are
// normalised again with the final settings, the document's entries are
// checked and added. Two entries of the document that normalise to the
// same number are refused as duplicates.
func mergeExcluded(next *Config, entries []string) error {
	if len(entries) > MaxExcludedNumbers {
		return fieldErr("excluded_numbers", "%d numbers, at most %d", len(entries), MaxExcludedNumbers)
	}
	exts := next.Extensions
	isExt := func(d string) bool { _, ok := exts[d]; return ok }
	canon := func(raw string) string { return next.Settings.CanonicalNumber(raw, isExt) }
	out := make(map[string]ExcludedNumber, len(next.ExcludedNumbers)+len(entries))
	for _, k := range sortedKeys(next.ExcludedNumbers) {
		if n := canon(k); n != "" {
			out[n] = ExcludedNumber{Number: n}
		}
	}
	seen := make(map[string]int, len(entries))
	for i, raw := range entries {
		f := fmt.Sprintf("excluded_numbers[%d]", i)
		if err := checkExcludedEntry(f, raw); err != nil {
			return err
		}
		n := canon(raw)
		if j, dup := seen[n]; dup {
			return fieldErr(f, "%q is the same number as excluded_numbers[%d] (%s)", raw, j, n)
		}
		seen[n] = i
		out[n] = ExcludedNumber{Number: n}
	}
	next.ExcludedNumbers = out
	return nil
}

// IsExcluded reports whether number (any characters; normalised like the
// configured entries) is on the excluded-numbers list.
func (e *Engine) IsExcluded(number string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.isExcluded(e.canonical(number))
}

func (e *Engine) isExcluded(canonical string) bool {
	if canonical == "" {
		return false
	}
	_, ok := e.st.Config.ExcludedNumbers[canonical]
	return ok
}
