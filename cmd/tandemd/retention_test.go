package main

import (
	"strings"
	"testing"
	"time"
)

func TestHistoryRetention(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		args []string
		env  map[string]string
		want time.Duration
		err  bool
	}{
		{nil, nil, 13 * month, false},
		{[]string{"--history-retention", "2y"}, nil, 24 * month, false},
		{[]string{"--history-retention", "400d"}, nil, 400 * day, false},
		{[]string{"--history-retention", "8w"}, nil, 56 * day, false},
		{[]string{"--history-retention", "9600h"}, nil, 400 * day, false},
		{nil, map[string]string{"TANDEM_HISTORY_RETENTION": "6mo"}, 6 * month, false},
		{[]string{"--history-retention", "3h"}, nil, 0, true},
		{[]string{"--history-retention", "0mo"}, nil, 0, true},
		{[]string{"--history-retention", "-2y"}, nil, 0, true},
		{[]string{"--history-retention", "13 months"}, nil, 0, true},
		{nil, map[string]string{"TANDEM_HISTORY_RETENTION": "forever"}, 0, true},
	}
	for _, tc := range tests {
		o, err := parseOptions(tc.args, func(k string) string { return tc.env[k] })
		if tc.err {
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "13mo, 400d") {
				t.Errorf("%v %v: error %v, want one line naming the accepted forms", tc.args, tc.env, err)
			}
			continue
		}
		if err != nil || time.Duration(o.HistoryRetention) != tc.want {
			t.Errorf("%v %v: %v (%v), want %v", tc.args, tc.env, time.Duration(o.HistoryRetention), err, tc.want)
		}
	}
	p := defaultHistoryRetention
	if p.String() != "13mo" {
		t.Errorf("default prints as %q", p.String())
	}
}
