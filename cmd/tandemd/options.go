package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/tandemcc/tandem/cmd/internal/flagenv"
)

// options are tandemd's validated flags.
type options struct {
	DataDir     string
	NodeID      string
	RaftAddr    string
	AdminAddr   string
	Join        string // admin base URL, normalized
	AdminToken  string
	ForceQuorum bool
	ClockOffset time.Duration
}

var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func newFlagSet(o *options, configFile *string) *flag.FlagSet {
	host, _ := os.Hostname()
	fs := flag.NewFlagSet("tandemd", flag.ContinueOnError)
	fs.StringVar(configFile, "config", "", "YAML file with flag values (flag names as keys)")
	fs.StringVar(&o.DataDir, "data-dir", "./tandem-data", "all state of this node")
	fs.StringVar(&o.NodeID, "node-id", host, "stable node identity")
	fs.StringVar(&o.RaftAddr, "raft-addr", "127.0.0.1:7000", "Raft transport address (bind and advertise)")
	fs.StringVar(&o.AdminAddr, "admin-addr", "127.0.0.1:7070", "admin HTTP API address (token required)")
	fs.StringVar(&o.Join, "join", "", "admin address of any member of the cluster to join")
	fs.StringVar(&o.AdminToken, "admin-token", "", "admin bearer token (default: <data-dir>/admin.token, generated if missing)")
	fs.BoolVar(&o.ForceQuorum, "force-quorum", false, "start this node alone from its data, as the only voter (cluster.md)")
	fs.DurationVar(&o.ClockOffset, "clock-offset", 0, "diagnostics: shift this node's wall clock (to rehearse the clock-skew alarm)")
	return fs
}

func usage() string {
	var o options
	var cf string
	fs := newFlagSet(&o, &cf)
	var b strings.Builder
	b.WriteString("usage: tandemd [flags]\n\nEvery flag also reads TANDEM_<FLAG> from the environment and may come from --config FILE.\n\n")
	fs.SetOutput(&b)
	fs.PrintDefaults()
	return b.String()
}

// parseOptions reads flags, environment and config file and validates them;
// the error is one line naming the field and the problem.
func parseOptions(args []string, getenv func(string) string) (options, error) {
	var o options
	var cf string
	fs := newFlagSet(&o, &cf)
	if err := flagenv.Parse(fs, args, "config", getenv); err != nil {
		return o, err
	}
	if o.DataDir == "" {
		return o, errors.New("--data-dir: must not be empty")
	}
	if !nodeIDPattern.MatchString(o.NodeID) {
		return o, fmt.Errorf("--node-id: %q is not a valid node id (letters, digits, '.', '_', '-'; at most 63)", o.NodeID)
	}
	if err := checkHostPort("--raft-addr", o.RaftAddr, true); err != nil {
		return o, err
	}
	if err := checkHostPort("--admin-addr", o.AdminAddr, false); err != nil {
		return o, err
	}
	if o.Join != "" {
		u, err := adminURL(o.Join)
		if err != nil {
			return o, fmt.Errorf("--join: %v", err)
		}
		o.Join = u
	}
	if o.AdminToken != "" && len(o.AdminToken) < 16 {
		return o, errors.New("--admin-token: too short (at least 16 characters)")
	}
	if o.ForceQuorum && o.Join != "" {
		return o, errors.New("--force-quorum: cannot be combined with --join")
	}
	return o, nil
}

// checkHostPort validates host:port. Raft advertises its bind address, so
// it must be a concrete IP, not a wildcard.
func checkHostPort(name, v string, concrete bool) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%s: %q is not host:port", name, v)
	}
	if port == "" || port == "0" {
		return fmt.Errorf("%s: %q needs a fixed port", name, v)
	}
	if concrete {
		ip := net.ParseIP(host)
		if ip == nil {
			return fmt.Errorf("%s: %q must be an IP address other nodes can reach", name, v)
		}
		if ip.IsUnspecified() {
			return fmt.Errorf("%s: %q is a wildcard; Raft advertises this address, give the node's own IP", name, v)
		}
	}
	return nil
}

// adminURL turns "host:port" or "http://host:port" into a base URL.
func adminURL(v string) (string, error) {
	v = strings.TrimRight(v, "/")
	if strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
		hp := v[strings.Index(v, "://")+3:]
		if _, _, err := net.SplitHostPort(hp); err != nil {
			return "", fmt.Errorf("%q is not a URL of the form http://host:port", v)
		}
		return v, nil
	}
	if _, _, err := net.SplitHostPort(v); err != nil {
		return "", fmt.Errorf("%q is not host:port", v)
	}
	return "http://" + v, nil
}
