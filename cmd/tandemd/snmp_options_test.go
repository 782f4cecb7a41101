package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSNMPv3UserSources: --snmp-v3-user takes @FILE passphrases on the
// command line and refuses literal ones there (without quoting them);
// --config (a YAML list, one user an item) and TANDEM_SNMP_V3_USER may
// hold literal ones.
func TestSNMPv3UserSources(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth")
	os.WriteFile(auth, []byte("auth-pass-1234\n"), 0o600)
	base := []string{"--data-dir", dir}
	literal := "noc:SHA256:auth-pass-1234:AES:priv-pass-5678"

	if _, err := parseOptions(append(base, "--snmp-v3-user", "noc:SHA256:@"+auth+":AES:@"+auth), noEnv); err != nil {
		t.Fatalf("@FILE passphrases: %v", err)
	}
	for _, args := range [][]string{
		{"--snmp-v3-user", literal},
		{"--snmp-v3-user=" + literal},
		{"-snmp-v3-user", "ro:SHA:auth-pass-1234"},
	} {
		_, err := parseOptions(append(base, args...), noEnv)
		if err == nil || !strings.HasPrefix(err.Error(), "--snmp-v3-user: ") || strings.Contains(err.Error(), "pass-") {
			t.Errorf("%q: %v", args, err)
		}
	}
	cfg := filepath.Join(dir, "tandemd.yaml")
	os.WriteFile(cfg, []byte("snmp-v3-user:\n  - "+literal+"\n  - open\nsnmp-trap-v3-user: noc\nsnmp-trap-to: 127.0.0.1:162\n"), 0o600)
	o, err := parseOptions(append(base, "--config", cfg), noEnv)
	if err != nil {
		t.Fatalf("--config: %v", err)
	}
	if got := o.SNMP.V3Users.String(); got != "noc:SHA256:…:AES:…,open" || strings.Contains(got, "pass") {
		t.Fatalf("users from --config: %q", got)
	}
	if _, err := parseOptions(base, envOf(map[string]string{"TANDEM_SNMP_V3_USER": literal})); err != nil {
		t.Fatalf("TANDEM_SNMP_V3_USER: %v", err)
	}
}
