package flagenv

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

type vals struct {
	config  string
	dataDir string
	token   string
	port    int
	force   bool
	wait    time.Duration
	trapTo  list
}

func newFS(v *vals) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.StringVar(&v.config, "config", "", "")
	fs.StringVar(&v.dataDir, "data-dir", "./default", "")
	fs.StringVar(&v.token, "admin-token", "", "")
	fs.IntVar(&v.port, "port", 1, "")
	fs.BoolVar(&v.force, "force-quorum", false, "")
	fs.DurationVar(&v.wait, "wait", time.Second, "")
	fs.Var(&v.trapTo, "snmp-trap-to", "")
	return fs
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tandem.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{
		"data-dir":                "TANDEM_DATA_DIR",
		"node-id":                 "TANDEM_NODE_ID",
		"replication-buffer-size": "TANDEM_REPLICATION_BUFFER_SIZE",
		"o":                       "TANDEM_O",
	} {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrecedence(t *testing.T) {
	cfg := writeConfig(t, "data-dir: /from/file\nport: 30\nwait: 3s\nsnmp-trap-to: [f1:162, f2:162]\n")
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantDir string
		wantPt  int
		wantW   time.Duration
		wantTr  list
	}{
		{name: "defaults", args: nil, wantDir: "./default", wantPt: 1, wantW: time.Second},
		{name: "file only", args: []string{"--config", cfg}, wantDir: "/from/file", wantPt: 30, wantW: 3 * time.Second, wantTr: list{"f1:162", "f2:162"}},
		{name: "env beats file", args: []string{"--config", cfg},
			env:     map[string]string{"TANDEM_DATA_DIR": "/from/env", "TANDEM_SNMP_TRAP_TO": "e:162"},
			wantDir: "/from/env", wantPt: 30, wantW: 3 * time.Second, wantTr: list{"e:162"}},
		{name: "flag beats env and file", args: []string{"--config", cfg, "--data-dir", "/from/flag", "--snmp-trap-to", "a:1", "--snmp-trap-to", "b:2"},
			env:     map[string]string{"TANDEM_DATA_DIR": "/from/env", "TANDEM_PORT": "20"},
			wantDir: "/from/flag", wantPt: 20, wantW: 3 * time.Second, wantTr: list{"a:1", "b:2"}},
		{name: "config named by env", env: map[string]string{"TANDEM_CONFIG": cfg, "TANDEM_WAIT": "9s"},
			wantDir: "/from/file", wantPt: 30, wantW: 9 * time.Second, wantTr: list{"f1:162", "f2:162"}},
		{name: "empty env is unset", args: []string{"--config", cfg}, env: map[string]string{"TANDEM_DATA_DIR": ""},
			wantDir: "/from/file", wantPt: 30, wantW: 3 * time.Second, wantTr: list{"f1:162", "f2:162"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v vals
			if err := Parse(newFS(&v), tt.args, "config", envOf(tt.env)); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if v.dataDir != tt.wantDir || v.port != tt.wantPt || v.wait != tt.wantW || !reflect.DeepEqual(v.trapTo, tt.wantTr) {
				t.Errorf("got dir=%q port=%d wait=%v traps=%v; want %q %d %v %v",
					v.dataDir, v.port, v.wait, v.trapTo, tt.wantDir, tt.wantPt, tt.wantW, tt.wantTr)
			}
		})
	}
}

// Values reach the flag exactly as written in the file, whatever YAML
// would make of them as numbers, dates or booleans.
func TestConfigValuesAreLiteral(t *testing.T) {
	tests := []struct {
		yaml, want string
	}{
		{"admin-token: 0123456789012345678", "0123456789012345678"},
		{"admin-token: 12345678901234567890", "12345678901234567890"},
		{"admin-token: 0x1F", "0x1F"},
		{"admin-token: 007", "007"},
		{"admin-token: 1e3", "1e3"},
		{"admin-token: 1_000", "1_000"},
		{"admin-token: 2024-01-01", "2024-01-01"},
		{"admin-token: yes", "yes"},
		{`admin-token: "quoted: value"`, "quoted: value"},
		{`admin-token: ""`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			var v vals
			v.token = "unset"
			err := Parse(newFS(&v), []string{"--config", writeConfig(t, tt.yaml+"\n")}, "config", envOf(nil))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if v.token != tt.want {
				t.Fatalf("admin-token = %q, want %q", v.token, tt.want)
			}
		})
	}
}

func TestConfigTypedValues(t *testing.T) {
	var v vals
	cfg := writeConfig(t, "port: 8080\nforce-quorum: true\nwait: 1m30s\n")
	if err := Parse(newFS(&v), []string{"--config=" + cfg}, "config", envOf(nil)); err != nil {
		t.Fatal(err)
	}
	if v.port != 8080 || !v.force || v.wait != 90*time.Second {
		t.Fatalf("got %+v", v)
	}
}

func TestEmptyConfigFile(t *testing.T) {
	for _, body := range []string{"", "# only a comment\n"} {
		var v vals
		if err := Parse(newFS(&v), []string{"--config", writeConfig(t, body)}, "config", envOf(nil)); err != nil {
			t.Errorf("empty config %q: %v", body, err)
		}
		if v.dataDir != "./default" {
			t.Errorf("empty config changed data-dir to %q", v.dataDir)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		config  string // written to a file and passed by --config
		wantIn  []string
		wantNot string
	}{
		{name: "unknown flag", args: []string{"--bogus"}, wantIn: []string{"-bogus"}},
		{name: "bad flag value", args: []string{"--port", "x"}, wantIn: []string{"-port", `"x"`}},
		{name: "positional argument", args: []string{"extra"}, wantIn: []string{`unexpected argument "extra"`}},
		{name: "bad env value", env: map[string]string{"TANDEM_WAIT": "soon"}, wantIn: []string{"TANDEM_WAIT", "soon"}},
		{name: "bad env bool", env: map[string]string{"TANDEM_FORCE_QUORUM": "maybe"}, wantIn: []string{"TANDEM_FORCE_QUORUM"}},
		{name: "unknown config field", config: "data-dir: x\nnode-name: y\n", wantIn: []string{`unknown field "node-name"`}},
		{name: "config names config", config: "config: other.yaml\n", wantIn: []string{`unknown field "config"`}},
		{name: "bad config value", config: "port: eighty\n", wantIn: []string{`field "port"`, "eighty"}},
		{name: "bad value in list", config: "port: [1, x]\n", wantIn: []string{`field "port"`}},
		{name: "null config value", config: "data-dir:\n", wantIn: []string{`field "data-dir"`, "no value"}},
		{name: "mapping value", config: "data-dir: {a: b}\n", wantIn: []string{`field "data-dir"`, "want a value"}},
		{name: "nested list", config: "snmp-trap-to: [[a]]\n", wantIn: []string{`field "snmp-trap-to"`, "only plain values"}},
		{name: "self-referencing alias", config: "snmp-trap-to: &x [a, *x]\n", wantIn: []string{`field "snmp-trap-to"`, "only plain values"}},
		{name: "duplicate field", config: "port: 1\nport: 2\n", wantIn: []string{`"port"`}},
		{name: "not a mapping", config: "- data-dir\n- x\n", wantIn: []string{"want a mapping"}},
		{name: "yaml syntax", config: "data-dir: [unclosed\n", wantIn: []string{"config "}},
		{name: "missing file", args: []string{"--config", "/nonexistent/tandem.yaml"}, wantIn: []string{"--config", "/nonexistent/tandem.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.config != "" {
				args = append(args, "--config", writeConfig(t, tt.config))
			}
			var v vals
			err := Parse(newFS(&v), args, "config", envOf(tt.env))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// A field the command line already set is not read from the file, even if
// its value there is bad; unknown fields are refused regardless.
func TestConfigSkipsFlagsAlreadySet(t *testing.T) {
	cfg := writeConfig(t, "port: bad\n")
	var v vals
	if err := Parse(newFS(&v), []string{"--config", cfg, "--port", "5"}, "config", envOf(nil)); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if v.port != 5 {
		t.Fatalf("port = %d", v.port)
	}
	v = vals{}
	if err := Parse(newFS(&v), []string{"--config", cfg}, "config", envOf(map[string]string{"TANDEM_PORT": "6"})); err != nil || v.port != 6 {
		t.Fatalf("env over bad file: port %d, %v", v.port, err)
	}
}

func TestHelp(t *testing.T) {
	var v vals
	if err := Parse(newFS(&v), []string{"-h"}, "config", envOf(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestNoConfigFlag(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	s := fs.String("name", "d", "")
	if err := Parse(fs, nil, "config", envOf(map[string]string{"TANDEM_NAME": "e"})); err != nil || *s != "e" {
		t.Fatalf("Parse without a config flag: %q, %v", *s, err)
	}
}

// FuzzConfigFile: any config file either fills flags or fails with one line
// naming the file; it never panics.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"data-dir: /x\nport: 3\nsnmp-trap-to: [a, b]\n",
		"admin-token: 0x1F\nwait: 2s\nforce-quorum: true\n",
		"data-dir:\n", "- a\n", "port: {a: 1}\n", "a: &x 1\nport: *x\n", "port: &x [*x]\n", "&x port: *x\n",
		"port: [[1]]\n", "!!binary aGk=: 1\n", "? [a]\n: 1\n", "", "---\n...\n", "port: 1\nport: 2\n",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		var v vals
		err := Parse(newFS(&v), []string{"--config", p}, "config", envOf(nil))
		if err == nil {
			return
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "config "+p+": ") {
			t.Fatalf("error is not one line naming the file: %q", msg)
		}
	})
}
