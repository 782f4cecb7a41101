package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/cluster"
)

func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseOptionsDefaults(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || !nodeIDPattern.MatchString(host) {
		t.Skipf("hostname %q is not a valid node id on this machine", host)
	}
	o, err := parseOptions(nil, noEnv)
	if err != nil {
		t.Fatalf("parseOptions(defaults): %v", err)
	}
	want := options{DataDir: "./tandem-data", NodeID: host, RaftAddr: "127.0.0.1:7000", AdminAddr: "127.0.0.1:7070",
		HTTPAddr: "127.0.0.1:6021", WebRate: 20, SIPAddr: "127.0.0.1:5060", SIPDigest: "MD5,SHA-256", ReportingCluster: "tandem", ReplicationBufferSize: 512 << 20,
		HistoryRetention:  defaultHistoryRetention,
		SnapshotThreshold: cluster.LANDefaults.SnapshotThreshold, SnapshotInterval: cluster.LANDefaults.SnapshotInterval,
		StateCheckInterval: cluster.LANDefaults.CheckpointInterval}
	if o != want {
		t.Fatalf("defaults = %+v, want %+v", o, want)
	}
}

func TestParseOptionsAccepts(t *testing.T) {
	base := []string{"--node-id", "n1"}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(options) bool
	}{
		{"join host:port", []string{"--join", "10.0.0.2:7070"}, nil, func(o options) bool { return o.Join == "http://10.0.0.2:7070" }},
		{"join URL with slash", []string{"--join", "https://10.0.0.2:7070/"}, nil, func(o options) bool { return o.Join == "https://10.0.0.2:7070" }},
		{"IPv6 raft address", []string{"--raft-addr", "[fd00::1]:7000"}, nil, func(o options) bool { return o.RaftAddr == "[fd00::1]:7000" }},
		{"admin on all interfaces", []string{"--admin-addr", "0.0.0.0:7070"}, nil, func(o options) bool { return o.AdminAddr == "0.0.0.0:7070" }},
		{"web server off", []string{"--http-addr="}, nil, func(o options) bool { return o.HTTPAddr == "" }},
		{"SIP off", []string{"--sip-addr="}, nil, func(o options) bool { return o.SIPAddr == "" }},
		{"SIP from env", nil, map[string]string{"TANDEM_SIP_ADDR": "0.0.0.0:5070"}, func(o options) bool { return o.SIPAddr == "0.0.0.0:5070" }},
		{"web server from env", nil, map[string]string{"TANDEM_HTTP_ADDR": "0.0.0.0:6021"}, func(o options) bool { return o.HTTPAddr == "0.0.0.0:6021" }},
		{"token of 16", []string{"--admin-token", strings.Repeat("t", 16)}, nil, func(o options) bool { return len(o.AdminToken) == 16 }},
		{"force quorum alone", []string{"--force-quorum"}, nil, func(o options) bool { return o.ForceQuorum }},
		{"node id of 63", []string{"--node-id", "a" + strings.Repeat("b", 62)}, nil, func(o options) bool { return len(o.NodeID) == 63 }},
		{"env fills flags", nil, map[string]string{"TANDEM_DATA_DIR": "/var/lib/tandem", "TANDEM_RAFT_ADDR": "10.1.1.1:7100"},
			func(o options) bool { return o.DataDir == "/var/lib/tandem" && o.RaftAddr == "10.1.1.1:7100" }},
		{"flag beats env", []string{"--data-dir", "/flag"}, map[string]string{"TANDEM_DATA_DIR": "/env"}, func(o options) bool { return o.DataDir == "/flag" }},
		{"snapshots", []string{"--snapshot-threshold", "100000", "--snapshot-interval", "2m"}, nil,
			func(o options) bool { return o.SnapshotThreshold == 100000 && o.SnapshotInterval == 2*time.Minute }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(append(append([]string(nil), base...), tt.args...), envOf(tt.env))
			if err != nil {
				t.Fatalf("parseOptions: %v", err)
			}
			if !tt.check(o) {
				t.Fatalf("options = %+v", o)
			}
		})
	}
}

func TestParseOptionsConfigFile(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "tandemd.yaml")
	if err := os.WriteFile(cfg, []byte("node-id: n7\nraft-addr: 10.0.0.7:7000\nadmin-token: \"0123456789012345\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := parseOptions([]string{"--config", cfg}, noEnv)
	if err != nil {
		t.Fatalf("parseOptions: %v", err)
	}
	if o.NodeID != "n7" || o.RaftAddr != "10.0.0.7:7000" || o.AdminToken != "0123456789012345" {
		t.Fatalf("options from file = %+v", o)
	}
	if err := os.WriteFile(cfg, []byte("node_id: n7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := parseOptions([]string{"--config", cfg}, noEnv); err == nil || !strings.Contains(err.Error(), `"node_id"`) {
		t.Fatalf("unknown config field: %v", err)
	}
}

func TestParseOptionsRefuses(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantFlag string // the error must start with it
		wantIn   string
	}{
		{"empty node id", []string{"--node-id", ""}, nil, "--node-id", "not a valid node id"},
		{"node id with space", []string{"--node-id", "node 1"}, nil, "--node-id", `"node 1"`},
		{"node id starting with dash", []string{"--node-id=-n1"}, nil, "--node-id", "not a valid node id"},
		{"node id with slash", []string{"--node-id", "../n1"}, nil, "--node-id", "not a valid node id"},
		{"node id of 64", []string{"--node-id", strings.Repeat("n", 64)}, nil, "--node-id", "at most 63"},
		{"bad node id from env", nil, map[string]string{"TANDEM_NODE_ID": "bad id"}, "--node-id", `"bad id"`},
		{"empty data dir", []string{"--data-dir", ""}, nil, "--data-dir", "empty"},
		{"tiny snapshot threshold", []string{"--snapshot-threshold", "3"}, nil, "--snapshot-threshold", "at least 16"},
		{"snapshot interval in ms", []string{"--snapshot-interval", "10ms"}, nil, "--snapshot-interval", "at least 1s"},
		{"wildcard raft v4", []string{"--raft-addr", "0.0.0.0:7000"}, nil, "--raft-addr", "wildcard"},
		{"wildcard raft v6", []string{"--raft-addr", "[::]:7000"}, nil, "--raft-addr", "wildcard"},
		{"raft without host", []string{"--raft-addr", ":7000"}, nil, "--raft-addr", "IP address"},
		{"raft host name", []string{"--raft-addr", "localhost:7000"}, nil, "--raft-addr", "IP address"},
		{"raft missing port", []string{"--raft-addr", "127.0.0.1"}, nil, "--raft-addr", "not host:port"},
		{"raft empty port", []string{"--raft-addr", "127.0.0.1:"}, nil, "--raft-addr", "fixed port"},
		{"raft port zero", []string{"--raft-addr", "127.0.0.1:0"}, nil, "--raft-addr", "fixed port"},
		{"admin missing port", []string{"--admin-addr", "127.0.0.1"}, nil, "--admin-addr", "not host:port"},
		{"web missing port", []string{"--http-addr", "127.0.0.1"}, nil, "--http-addr", "not host:port"},
		{"SIP missing port", []string{"--sip-addr", "127.0.0.1"}, nil, "--sip-addr", "not host:port"},
		{"SIP digest unknown", []string{"--sip-digest-algorithms", "SHA-1"}, nil, "--sip-digest-algorithms", "not a digest algorithm"},
		{"admin port zero", []string{"--admin-addr", "localhost:0"}, nil, "--admin-addr", "fixed port"},
		{"join without port", []string{"--join", "10.0.0.2"}, nil, "--join", "not host:port"},
		{"join URL without port", []string{"--join", "http://10.0.0.2"}, nil, "--join", "http://host:port"},
		{"join other scheme", []string{"--join", "ftp://10.0.0.2:21"}, nil, "--join", "ftp://10.0.0.2:21"},
		{"short token", []string{"--admin-token", "short"}, nil, "--admin-token", "too short"},
		{"short token from env", nil, map[string]string{"TANDEM_ADMIN_TOKEN": "123456789012345"}, "--admin-token", "too short"},
		{"force quorum with join", []string{"--force-quorum", "--join", "10.0.0.2:7070"}, nil, "--force-quorum", "--join"},
		{"bad duration", []string{"--clock-offset", "soon"}, nil, "invalid value", "-clock-offset"},
		{"unknown flag", []string{"--bogus"}, nil, "flag provided but not defined", "-bogus"},
		{"positional", []string{"serve"}, nil, "unexpected argument", `"serve"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--node-id", "n1"}, tt.args...)
			if tt.env["TANDEM_NODE_ID"] != "" {
				args = tt.args
			}
			_, err := parseOptions(args, envOf(tt.env))
			if err == nil {
				t.Fatal("parseOptions accepted")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.wantFlag) || !strings.Contains(msg, tt.wantIn) {
				t.Errorf("error %q: want prefix %q and %q", msg, tt.wantFlag, tt.wantIn)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
		})
	}
}

func TestRunRefusesBadFlagsWithOneLine(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		wantIn string
	}{
		{"unknown flag", []string{"--bogus"}, "-bogus"},
		{"bad option", []string{"--node-id", "n1", "--raft-addr", "0.0.0.0:7000"}, "--raft-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), tt.args, noEnv, &stderr)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			out := stderr.String()
			if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
				t.Errorf("stderr is not one line: %q", out)
			}
			if !strings.HasPrefix(out, "tandemd: ") || !strings.Contains(out, tt.wantIn) {
				t.Errorf("stderr %q: want \"tandemd: ...%s...\"", out, tt.wantIn)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, noEnv, &stderr); code != 0 {
		t.Fatalf("-h exit code %d", code)
	}
	for _, w := range []string{"usage: tandemd", "-data-dir", "-force-quorum", "TANDEM_"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("usage lacks %q:\n%s", w, stderr.String())
		}
	}
}

// FuzzParseOptions: parseOptions never panics; what it refuses it refuses
// with one line naming a flag; what it accepts is usable.
func FuzzParseOptions(f *testing.F) {
	f.Add("n1", "127.0.0.1:7000", "127.0.0.1:7070", "", "", false)
	f.Add("node-2.example", "[fd00::2]:7000", ":7070", "10.0.0.1:7070", "0123456789abcdef", false)
	f.Add("n3", "10.0.0.3:7000", "0.0.0.0:7070", "https://10.0.0.1:7070/", "", true)
	f.Add("-x", "0.0.0.0:7000", "x", "http://", "short", true)
	f.Add("n4", "127.0.0.1:http", "h:0", "h:", "", false)
	f.Fuzz(func(t *testing.T, nodeID, raftAddr, adminAddr, join, token string, force bool) {
		args := []string{"--node-id=" + nodeID, "--raft-addr=" + raftAddr, "--admin-addr=" + adminAddr,
			"--join=" + join, "--admin-token=" + token, fmt.Sprintf("--force-quorum=%v", force)}
		o, err := parseOptions(args, noEnv)
		if err != nil {
			msg := err.Error()
			if strings.Contains(msg, "\n") || !(strings.HasPrefix(msg, "--") || strings.HasPrefix(msg, "invalid value")) {
				t.Fatalf("error %q is not one line naming a flag", msg)
			}
			return
		}
		if !nodeIDPattern.MatchString(o.NodeID) {
			t.Fatalf("accepted node id %q", o.NodeID)
		}
		host, port, err := net.SplitHostPort(o.RaftAddr)
		ip := net.ParseIP(host)
		if err != nil || ip == nil || ip.IsUnspecified() || port == "" || port == "0" {
			t.Fatalf("accepted raft address %q", o.RaftAddr)
		}
		if len(o.AdminToken) != 0 && len(o.AdminToken) < 16 {
			t.Fatalf("accepted token of %d characters", len(o.AdminToken))
		}
		if o.Join != "" {
			if o.ForceQuorum {
				t.Fatal("accepted --force-quorum with --join")
			}
			u, err := url.Parse(o.Join)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" ||
				u.Port() == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
				t.Fatalf("accepted join %q as %q (%v)", join, o.Join, err)
			}
		}
	})
}

// The public web API's flags: origins must be origins, the rate in range,
// the pages folder a directory.
func TestWebOptions(t *testing.T) {
	base := []string{"--node-id", "n1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--web-cors-origins", "www.example.com"}, "--web-cors-origins"},
		{[]string{"--web-rate-limit", "-1"}, "--web-rate-limit"},
		{[]string{"--web-pages-dir", "/nonexistent/pages"}, "--web-pages-dir"},
	} {
		if _, err := parseOptions(append(base, tc.args...), noEnv); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v", tc.args, err)
		}
	}
	o, err := parseOptions(append(base, "--web-cors-origins", "https://a.example, *", "--web-rate-limit", "0", "--web-pages-dir", t.TempDir()), noEnv)
	if err != nil || o.WebRate != 0 || strings.Join(webOrigins(o.WebCORS), " ") != "https://a.example *" {
		t.Fatalf("%+v %v", o, err)
	}
}

func TestTLSOptions(t *testing.T) {
	base := []string{"--node-id", "n1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--https-addr", "127.0.0.1:6443"}, "--tls-cert"},
		{[]string{"--https-addr", "nowhere"}, "--https-addr"},
		{[]string{"--web-tls-only", "callback"}, "needs --https-addr"},
		{[]string{"--https-addr", "127.0.0.1:6443", "--tls-cert", "c", "--tls-key", "k", "--web-tls-only", "mail"}, "unknown feature"},
	} {
		if _, err := parseOptions(append(base, tc.args...), noEnv); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if _, err := parseOptions(append(base, "--https-addr", "127.0.0.1:6443", "--tls-cert", "c", "--tls-key", "k", "--web-tls-only", "callback"), noEnv); err != nil {
		t.Fatal(err)
	}
}
