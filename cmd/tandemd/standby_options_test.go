package main

import (
	"strings"
	"testing"
)

func TestStandbyOptions(t *testing.T) {
	base := []string{"--node-id", "n1"}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(options) bool
		want  string // refusal; "" = accepted
	}{
		{"standby-of host:port", []string{"--standby-of", "10.0.0.9:7070"}, nil,
			func(o options) bool { return o.StandbyOf == "http://10.0.0.9:7070" }, ""},
		{"standby-of from env", nil, map[string]string{"TANDEM_STANDBY_OF": "https://primary.example:7070/"},
			func(o options) bool { return o.StandbyOf == "https://primary.example:7070" }, ""},
		{"standby-addr list", []string{"--standby-addr", "10.1.0.1:7070, http://10.1.0.2:7070,"}, nil,
			func(o options) bool { return o.StandbyAddr == "http://10.1.0.1:7070,http://10.1.0.2:7070" }, ""},
		{"standby token", []string{"--standby-addr", "10.1.0.1:7070", "--standby-token", strings.Repeat("s", 16)}, nil,
			func(o options) bool { return o.StandbyToken == strings.Repeat("s", 16) }, ""},
		{"both roles", []string{"--standby-of", "10.0.0.9:7070", "--standby-addr", "10.1.0.1:7070"}, nil,
			func(o options) bool { return o.StandbyOf != "" && o.StandbyAddr != "" }, ""},
		{"bad standby-of", []string{"--standby-of", "not a url"}, nil, nil, "--standby-of:"},
		{"standby-of with join", []string{"--standby-of", "10.0.0.9:7070", "--join", "10.0.0.2:7070"}, nil, nil, "--standby-of: a node joining"},
		{"bad standby-addr", []string{"--standby-addr", "http://h:99999"}, nil, nil, "--standby-addr:"},
		{"standby-addr with a path", []string{"--standby-addr", "http://h:7070/v1"}, nil, nil, "--standby-addr:"},
		{"short standby token", []string{"--standby-addr", "h:7070", "--standby-token", "short"}, nil, nil, "--standby-token: too short"},
		{"token without target", []string{"--standby-token", strings.Repeat("s", 20)}, nil, nil, "--standby-token: needs --standby-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(append(append([]string(nil), base...), tt.args...), envOf(tt.env))
			if tt.want != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want one line starting %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseOptions: %v", err)
			}
			if !tt.check(o) {
				t.Fatalf("options = %+v", o)
			}
		})
	}
}
