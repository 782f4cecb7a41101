package snmp

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func parseFlags(t *testing.T, args ...string) (Flags, error) {
	t.Helper()
	var f Flags
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f, f.Validate()
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string // "" = valid
	}{
		{"defaults", nil, ""},
		{"public refused", []string{"--snmp-community", "public"}, `--snmp-community: "public" is a well-known default community`},
		{"private refused in a list", []string{"--snmp-community", "n0c-a,Private"}, `--snmp-community: "private"`},
		{"private refused when repeated", []string{"--snmp-community", "n0c-a", "--snmp-community", "PRIVATE"}, `"private"`},
		{"space in community", []string{"--snmp-community", "a b"}, "printable ASCII without spaces"},
		{"community too long", []string{"--snmp-community", strings.Repeat("x", 128)}, "at most 127"},
		{"communities", []string{"--snmp-community", "n0c-a, n0c-b", "--snmp-community", "n0c-c"}, ""},
		{"bad addr", []string{"--snmp-addr", "nonsense"}, "--snmp-addr:"},
		{"addr on every interface", []string{"--snmp-addr", ":1161"}, ""},
		{"disabled", []string{"--snmp-addr", ""}, ""},
		{"bad allow", []string{"--snmp-allow", "10.0.0.0/33"}, "--snmp-allow:"},
		{"allow bare IPs", []string{"--snmp-allow", "192.0.2.1,2001:db8::1"}, ""},
		{"trap-to without community", []string{"--snmp-trap-to", "127.0.0.1:162"}, "--snmp-trap-to: SNMPv2c notifications need a community"},
		{"trap-to without port", []string{"--snmp-community", "n0c", "--snmp-trap-to", "nms.example"}, "--snmp-trap-to:"},
		{"trap-to without host", []string{"--snmp-community", "n0c", "--snmp-trap-to", ":162"}, "names no host"},
		{"trap-to", []string{"--snmp-community", "n0c", "--snmp-trap-to", "127.0.0.1:162,nms.example:1162"}, ""},
		{"bad profile", []string{"--snmp-trap-profile", "some"}, "--snmp-trap-profile:"},
		{"noc profile", []string{"--snmp-trap-profile", "noc"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(t, tc.args...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatal("accepted")
			case err != nil && (!strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n")):
				t.Fatalf("error %q, want one line with %q", err, tc.wantErr)
			}
		})
	}
}

func TestFlagLists(t *testing.T) {
	f, err := parseFlags(t)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := f.config()
	if f.Addr.String() != DefaultAddr || len(c.Allow) != 2 || c.Allow[0].String() != "127.0.0.0/8" || c.Allow[1].String() != "::1/128" {
		t.Fatalf("defaults: addr %q allow %v", f.Addr.String(), c.Allow)
	}
	// A value replaces the default list; repeats and commas add.
	f, _ = parseFlags(t, "--snmp-allow", "10.1.2.3/8", "--snmp-allow", "192.0.2.1, ::ffff:198.51.100.0/120",
		"--snmp-community", "a,b", "--snmp-community", "c")
	c, _ = f.config()
	var allow []string
	for _, p := range c.Allow {
		allow = append(allow, p.String())
	}
	if got := strings.Join(allow, " "); got != "10.0.0.0/8 192.0.2.1/32 198.51.100.0/24" {
		t.Fatalf("allow %s", got)
	}
	if len(c.Communities) != 3 || f.Communities.String() != "a,b,c" {
		t.Fatalf("communities %q", f.Communities.String())
	}
}
