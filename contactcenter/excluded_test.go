package contactcenter

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestExcludedNumbersApply(t *testing.T) {
	const doc = `
settings: {default_country_code: "44", default_area_code: "161", outside_line_prefix: "9"}
excluded_numbers: ["+44 (161) 5527789", "0800 123 456", "999", "9 0161 555 0000"]
`
	h := newHarness(t, baseDoc)
	r := h.config(doc)
	if r.Created != 4 {
		t.Fatalf("first apply %+v", r)
	}
	var got []string
	h.e.View(func(s *State) { got = s.Config.Document().ExcludedNumbers })
	want := []string{"+441615527789", "+441615550000", "+44800123456", "999"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	// Applying twice changes nothing.
	if r := h.config(doc); r.Changed() {
		t.Fatalf("second apply %+v", r)
	}
	for in, want := range map[string]bool{
		"01615527789": true, "5527789": true, "+441615527789": true, "9 5527789": true, "tel: 0800-123-456": true,
		"999": true, "0161 5527780": false, "": false, "+44161552778": false, "15527789": false,
	} {
		if got := h.e.IsExcluded(in); got != want {
			t.Errorf("IsExcluded(%q) = %v, want %v", in, got, want)
		}
	}
	// Without prune entries add up; with prune the list is the
	// document's.
	h.config(`excluded_numbers: ["0161 555 1111"]`)
	if !h.e.IsExcluded("5551111") || !h.e.IsExcluded("5527789") {
		t.Fatal("upsert lost an entry")
	}
	var back Document
	h.e.View(func(s *State) { back = s.Config.Document() })
	back.ExcludedNumbers = []string{"+44 161 5527789"}
	h.ok(TypeConfigApply, ApplyRequest{Document: back, Prune: true})
	if h.e.IsExcluded("5551111") || !h.e.IsExcluded("5527789") {
		t.Fatal("prune did not make the list the document's")
	}
	var ev map[string]string
	h.event("config.excluded_number.removed", &ev)
	if ev["id"] == "" {
		t.Fatalf("removed event %v", ev)
	}
}

func TestExcludedNumbersRefused(t *testing.T) {
	cases := []struct {
		list  string
		field string
	}{
		{`["0161 5527789", "ask reception"]`, "excluded_numbers[1]"},
		{`["0161 5527789", ""]`, "excluded_numbers[1]"},
		{`["+44 161 5527789", "0161 5527789"]`, "excluded_numbers[1]"}, // the same number twice
		{`["44+161"]`, "excluded_numbers[0]"},
		{`["0161#5527789"]`, "excluded_numbers[0]"},
		{`["123456789012345678901234567890123"]`, "excluded_numbers[0]"},
		{`["` + strings.Repeat("1 ", 40) + `"]`, "excluded_numbers[0]"},
	}
	for _, tc := range cases {
		t.Run(tc.list, func(t *testing.T) {
			h := newHarness(t, baseDoc+"\nexcluded_numbers: [\"0800 1\"]\n")
			d, err := ParseDocument([]byte("settings: {default_country_code: \"44\", default_area_code: \"161\"}\nexcluded_numbers: " + tc.list))
			if err != nil {
				t.Fatal(err)
			}
			err = h.fail(TypeConfigApply, ApplyRequest{Document: d}, nil)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want field %s", err, tc.field)
			}
			if d.Validate() == nil {
				t.Fatal("Validate accepted it")
			}
		})
	}
}

// A change of the CTI settings renormalises the stored list, so numbers
// stored before a country code was known match afterwards.
func TestExcludedNumbersFollowSettings(t *testing.T) {
	h := newHarness(t, baseDoc+"\nexcluded_numbers: [\"0161 5527789\"]\n")
	if !h.e.IsExcluded("0161 5527789") || h.e.IsExcluded("+441615527789") {
		t.Fatal("without a country code the national form matches only itself")
	}
	h.config(`settings: {default_country_code: "44"}`)
	if !h.e.IsExcluded("+441615527789") || !h.e.IsExcluded("0161 5527789") {
		t.Fatal("not renormalised after the country code was set")
	}
	var got []string
	h.e.View(func(s *State) { got = s.Config.Document().ExcludedNumbers })
	if !reflect.DeepEqual(got, []string{"+441615527789"}) {
		t.Fatalf("stored %v", got)
	}
}

func TestCTISettingsValidation(t *testing.T) {
	cases := []struct {
		settings string
		field    string
	}{
		{`{outside_line_prefix: "9a"}`, "settings.outside_line_prefix"},
		{`{outside_line_prefix: "99999"}`, "settings.outside_line_prefix"},
		{`{default_country_code: "044"}`, "settings.default_country_code"},
		{`{default_country_code: "4444"}`, "settings.default_country_code"},
		{`{default_area_code: "161"}`, "settings.default_area_code"}, // needs a country code
		{`{default_country_code: "44", default_area_code: "1-61"}`, "settings.default_area_code"},
	}
	for _, tc := range cases {
		t.Run(tc.settings, func(t *testing.T) {
			d, err := ParseDocument([]byte("settings: " + tc.settings))
			if err != nil {
				t.Fatal(err)
			}
			var fe *FieldError
			if err := d.Validate(); !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Validate: %v, want field %s", err, tc.field)
			}
		})
	}
	h := newHarness(t, baseDoc)
	h.config(`settings: {outside_line_prefix: "0", default_country_code: "39", default_area_code: "06"}`)
	var st Settings
	h.e.View(func(s *State) { st = s.Config.Settings })
	if st.InternalNumberLength != 4 || st.DefaultAreaCode != "06" {
		t.Fatalf("settings %+v", st)
	}
}
