package bearer

import (
	"net/http"
	"testing"
)

func TestToken(t *testing.T) {
	tests := []struct {
		header string
		tok    string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER   abc  ", "abc", true},
		{"Basic YWJj", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"", "", false},
		{"Bearerabc", "", false},
	}
	for _, tc := range tests {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		tok, ok := Token(r)
		if tok != tc.tok || ok != tc.ok {
			t.Errorf("Token(%q) = %q, %v; want %q, %v", tc.header, tok, ok, tc.tok, tc.ok)
		}
		if Is(r, "abc") != (tc.tok == "abc") {
			t.Errorf("Is(%q, abc) = %v", tc.header, !(tc.tok == "abc"))
		}
		if Is(r, "") {
			t.Errorf("Is(%q, \"\") accepted an empty token", tc.header)
		}
	}
}
