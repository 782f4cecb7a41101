package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tandemcc/tandem/backup"
	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/cmd/internal/flagenv"
	"github.com/tandemcc/tandem/replication/buffer"
	"github.com/tandemcc/tandem/replication/reporting"
	"github.com/tandemcc/tandem/snmp"
	"github.com/tandemcc/tandem/voice"
)

// options are tandemd's validated flags.
type options struct {
	DataDir     string
	NodeID      string
	RaftAddr    string
	AdminAddr   string
	HTTPAddr    string  // public web server (consoles, callback, chat); "" = off
	WebPagesDir string  // customised and translated public pages over the bundled ones
	WebCORS     string  // origins allowed to call the public API from a browser, comma-separated
	WebRate     float64 // public API requests a second per client address (0: no limit)
	HTTPSAddr   string  // the public web server over TLS; "" = off
	TLSCert     string  // its certificate and key (PEM)
	TLSKey      string
	WebHost     string // the host name web sites use, checked against the certificate
	WebTLSOnly  string // features served over TLS only, comma-separated
	SIPAddr     string // SIP edge, UDP and TCP; "" = off
	SIPDigest   string // digest algorithms challenged, in order
	SIPTrusted  string // gateways (addresses, CIDR) whose INVITEs need no credentials
	Join        string // admin base URL, normalized
	AdminToken  string
	ForceQuorum bool
	ClockOffset time.Duration
	BenchAPI    bool // serve POST /v1/bench/commit (bench/raft.sh)

	SnapshotThreshold  uint64        // log entries between Raft snapshots
	SnapshotInterval   time.Duration // how often Raft checks whether to snapshot
	StateCheckInterval time.Duration // how often the leader names a checkpoint for the state check

	StandbyOf    string // primary admin URL: this cluster is its standby
	StandbyAddr  string // standby admin URLs this cluster ships to, comma-separated
	StandbyToken string // the standby's admin token ("" = ours)

	ReportingDSN          string
	ReportingCluster      string
	ReplicationBufferSize byteSize
	HistoryRetention      period // how long the event archive keeps history

	SNMP snmp.Flags // --snmp-*: the SNMP agent and its notifications

	Backup backup.Flags // --backup-*: this node's backups and their schedules
}

// byteSize is a flag of bytes that also reads KiB, MiB and GiB suffixes.
type byteSize int64

func (b *byteSize) String() string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n := int64(*b); n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(*b), 10)
}

func (b *byteSize) Set(v string) error {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 || n > (1<<50)/mult {
		return errors.New("want a positive number of bytes (suffixes KiB, MiB, GiB, TiB allowed)")
	}
	*b = byteSize(n * mult)
	return nil
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
	fs.StringVar(&o.HTTPAddr, "http-addr", "127.0.0.1:6021", "public web interaction server: consoles' operations API, callback, chat (empty disables)")
	fs.StringVar(&o.WebPagesDir, "web-pages-dir", "", "folder of customised and translated public pages (<lang>/strings.json, page.css) used over the bundled ones; kept across upgrades")
	fs.StringVar(&o.WebCORS, "web-cors-origins", "", "origins of the web sites allowed to call the public API from a browser, comma-separated (https://www.example.com; * for any)")
	fs.Float64Var(&o.WebRate, "web-rate-limit", 20, "public API requests a second each client address may make, in bursts of twice as many (0: no limit)")
	fs.StringVar(&o.HTTPSAddr, "https-addr", "", "the public web interaction server over TLS (needs --tls-cert and --tls-key; empty: off)")
	fs.StringVar(&o.TLSCert, "tls-cert", "", "certificate (PEM, with its chain) of --https-addr")
	fs.StringVar(&o.TLSKey, "tls-key", "", "private key (PEM) of --tls-cert")
	fs.StringVar(&o.WebHost, "web-host", "", "the host name customers' web sites use (in a cluster, the cluster's name); tandemd says at start when the certificate does not name it")
	fs.StringVar(&o.WebTLSOnly, "web-tls-only", "", "features served over TLS only (callback, chat), comma-separated; the plain --http-addr refuses them")
	fs.StringVar(&o.SIPAddr, "sip-addr", "127.0.0.1:5060", "SIP (UDP and TCP): registrar and calls, handled by the leader; followers redirect to it (empty disables)")
	fs.StringVar(&o.SIPDigest, "sip-digest-algorithms", "MD5,SHA-256", "digest algorithms the registrar challenges with, in order (MD5 first suits phones that read only the first challenge)")
	fs.StringVar(&o.SIPTrusted, "sip-trusted", "", "trusted SIP gateways, comma-separated addresses or CIDR prefixes: their INVITEs need no credentials (give every node the same list)")
	fs.StringVar(&o.Join, "join", "", "admin address of any member of the cluster to join")
	fs.StringVar(&o.AdminToken, "admin-token", "", "admin bearer token (default: <data-dir>/admin.token, generated if missing)")
	fs.BoolVar(&o.ForceQuorum, "force-quorum", false, "start this node alone from its data, as the only voter (cluster.md)")
	o.ReplicationBufferSize = byteSize(buffer.DefaultMaxBytes)
	fs.StringVar(&o.ReportingDSN, "reporting-dsn", "", "PostgreSQL DSN of the central reporting server (enables reporting replication)")
	fs.StringVar(&o.ReportingCluster, "reporting-cluster", reporting.DefaultCluster, "this cluster's name in the reporting database (one database may serve several clusters)")
	fs.Var(&o.ReplicationBufferSize, "replication-buffer-size", "replication buffer capacity, e.g. 2GiB; the default holds about two days of a busy center")
	o.HistoryRetention = defaultHistoryRetention
	fs.Var(&o.HistoryRetention, "history-retention", "how long this node's event archive keeps history for replication sync until the cluster's daily maintenance applies settings.retention.events_days, e.g. 13mo, 400d or 2y")
	fs.StringVar(&o.StandbyOf, "standby-of", "", "make this cluster a read-only standby of the primary at this admin address until tandemctl standby promote (first node only)")
	fs.StringVar(&o.StandbyAddr, "standby-addr", "", "admin address of the standby cluster to ship to (enables standby replication; comma-separated for several members)")
	fs.StringVar(&o.StandbyToken, "standby-token", "", "the standby's admin token (default: this node's admin token)")
	fs.DurationVar(&o.ClockOffset, "clock-offset", 0, "diagnostics: shift this node's wall clock (to rehearse the clock-skew alarm)")
	fs.Uint64Var(&o.SnapshotThreshold, "snapshot-threshold", cluster.LANDefaults.SnapshotThreshold, "Raft log entries between snapshots")
	fs.DurationVar(&o.SnapshotInterval, "snapshot-interval", cluster.LANDefaults.SnapshotInterval, "how often Raft checks whether a snapshot is due")
	fs.DurationVar(&o.StateCheckInterval, "state-check-interval", cluster.LANDefaults.CheckpointInterval, "how often the leader has every member digest its state to compare (0: never)")
	fs.BoolVar(&o.BenchAPI, "bench-api", false, "benchmarks only: serve POST /v1/bench/commit, which commits any engine command it is given (bench/raft.sh)")
	o.SNMP.Register(fs)
	o.Backup.Register(fs)
	return fs
}

func usage() string {
	var o options
	var cf string
	fs := newFlagSet(&o, &cf)
	var b strings.Builder
	b.WriteString("usage: tandemd [flags]\n\nEvery flag also reads TANDEM_<FLAG> from the environment and may come from --config FILE.\n\n")
	printFlags(&b, fs)
	return b.String()
}

// flagValues names the value each flag takes in --help.
var flagValues = map[string]string{
	"config": "FILE", "data-dir": "DIR", "node-id": "ID", "raft-addr": "HOST:PORT", "admin-addr": "HOST:PORT",
	"http-addr": "HOST:PORT", "web-pages-dir": "DIR", "https-addr": "HOST:PORT", "tls-cert": "FILE", "tls-key": "FILE",
	"web-host": "NAME", "web-tls-only": "FEATURE[,FEATURE…]", "web-cors-origins": "ORIGIN[,ORIGIN…]", "web-rate-limit": "PER_SECOND", "sip-addr": "HOST:PORT", "snmp-addr": "HOST:PORT", "join": "ADMIN_ADDR",
	"admin-token": "TOKEN", "reporting-dsn": "DSN", "reporting-cluster": "NAME", "replication-buffer-size": "SIZE",
	"history-retention": "AGE", "standby-of": "PRIMARY_ADMIN_URL", "standby-addr": "ADMIN_URL[,ADMIN_URL…]",
	"standby-token": "TOKEN", "sip-digest-algorithms": "ALG[,ALG]", "sip-trusted": "CIDR[,CIDR…]", "clock-offset": "DURATION", "snapshot-threshold": "ENTRIES", "snapshot-interval": "DURATION", "state-check-interval": "DURATION",
}

// printFlags writes each flag as `--name VALUE`, its description and one
// default: the description's own "(default: …)" when it has one, else
// the flag's default value when it is not empty or zero.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		_, text := flag.UnquoteUsage(f)
		head := "  --" + f.Name
		if v, ok := flagValues[f.Name]; ok {
			head += " " + v
		} else if name, _ := flag.UnquoteUsage(f); name != "" {
			head += " " + strings.ToUpper(name)
		}
		def := ""
		switch f.DefValue {
		case "", "0", "false", "0s":
		default:
			if !strings.Contains(text, "(default") {
				def = " (default " + f.DefValue + ")"
			}
		}
		fmt.Fprintf(w, "%s\n      %s%s\n", head, text, def)
	})
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
	if err := snmpArgSecrets(args); err != nil {
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
	if o.HTTPAddr != "" {
		if err := checkHostPort("--http-addr", o.HTTPAddr, false); err != nil {
			return o, err
		}
	}
	if o.HTTPSAddr != "" {
		if err := checkHostPort("--https-addr", o.HTTPSAddr, false); err != nil {
			return o, err
		}
		if o.TLSCert == "" || o.TLSKey == "" {
			return o, fmt.Errorf("--https-addr needs --tls-cert and --tls-key")
		}
	}
	for _, f := range strings.Split(o.WebTLSOnly, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if f != "callback" && f != "chat" {
			return o, fmt.Errorf("--web-tls-only: unknown feature %q (callback, chat)", f)
		}
		if o.HTTPSAddr == "" {
			return o, fmt.Errorf("--web-tls-only needs --https-addr")
		}
	}
	if o.WebRate < 0 || o.WebRate > 1e6 {
		return o, fmt.Errorf("--web-rate-limit: %g is out of range 0..1000000", o.WebRate)
	}
	for _, origin := range strings.Split(o.WebCORS, ",") {
		if origin = strings.TrimSpace(origin); origin != "" && origin != "*" &&
			!(strings.HasPrefix(origin, "https://") || strings.HasPrefix(origin, "http://")) {
			return o, fmt.Errorf("--web-cors-origins: %q is not an origin (scheme://host[:port])", origin)
		}
	}
	if o.WebPagesDir != "" {
		if fi, err := os.Stat(o.WebPagesDir); err != nil || !fi.IsDir() {
			return o, fmt.Errorf("--web-pages-dir: %s is not a readable directory", o.WebPagesDir)
		}
	}
	if o.SIPAddr != "" {
		if err := checkHostPort("--sip-addr", o.SIPAddr, false); err != nil {
			return o, err
		}
	}
	if _, err := parseTrusted(o.SIPTrusted); err != nil {
		return o, fmt.Errorf("--sip-trusted: %v", err)
	}
	if _, err := voice.ParseAlgorithms(o.SIPDigest); err != nil {
		return o, fmt.Errorf("--sip-digest-algorithms: %v", err)
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
	if o.ReportingDSN != "" {
		if _, err := pgx.ParseConfig(o.ReportingDSN); err != nil {
			// The parser's message may quote the DSN, password included.
			return o, errors.New("--reporting-dsn: not a valid PostgreSQL URL or key=value DSN")
		}
	}
	if !nodeIDPattern.MatchString(o.ReportingCluster) {
		return o, fmt.Errorf("--reporting-cluster: %q is not a valid name (letters, digits, '.', '_', '-')", o.ReportingCluster)
	}
	if o.SnapshotThreshold < 16 {
		return o, errors.New("--snapshot-threshold: at least 16 log entries")
	}
	if o.SnapshotInterval < time.Second {
		return o, errors.New("--snapshot-interval: at least 1s")
	}
	if o.StateCheckInterval != 0 && o.StateCheckInterval < time.Second {
		return o, errors.New("--state-check-interval: 0 (never) or at least 1s")
	}
	if o.ReplicationBufferSize < 1<<20 {
		return o, errors.New("--replication-buffer-size: at least 1MiB")
	}
	if err := checkStandby(&o); err != nil {
		return o, err
	}
	if o.ForceQuorum && o.Join != "" {
		return o, errors.New("--force-quorum: cannot be combined with --join")
	}
	if err := o.SNMP.Validate(); err != nil {
		return o, err
	}
	if err := o.Backup.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

// snmpArgSecrets refuses SNMPv3 passphrases written in tandemd's
// arguments, where every local user reads them (snmp.Users.
// CheckCommandLine): the arguments are parsed alone, without the
// environment and --config, which may hold them.
func snmpArgSecrets(args []string) error {
	var o options
	var cf string
	fs := newFlagSet(&o, &cf)
	fs.SetOutput(io.Discard)
	if fs.Parse(args) != nil {
		return nil // flagenv.Parse has reported it
	}
	return o.SNMP.V3Users.CheckCommandLine()
}

// checkDiskSpace refuses, before anything is created, a replication
// buffer (--replication-buffer-size) that cannot fit on the filesystem of
// --data-dir: free space plus what the buffer already occupies must hold
// its worst-case footprint and a margin (buffer.CheckSpace). The buffer
// exists only when a replication target is configured. free measures a
// filesystem (nil: statfs).
func checkDiskSpace(o options, free func(string) (int64, error)) error {
	if o.ReportingDSN == "" && o.StandbyAddr == "" {
		return nil
	}
	err := buffer.CheckSpace(filepath.Join(o.DataDir, "replication", "buffer"), int64(o.ReplicationBufferSize), free)
	var se *buffer.SpaceError
	if errors.As(err, &se) {
		return fmt.Errorf("--replication-buffer-size: %w", err)
	}
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	return nil
}

// checkHostPort validates host:port. Raft advertises its bind address, so
// it must be a concrete IP, not a wildcard.
func checkHostPort(name, v string, concrete bool) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%s: %q is not host:port", name, v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%s: %q needs a fixed port from 1 to 65535", name, v)
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

// adminURL turns "host:port" or "http(s)://host:port" into a base URL. It
// refuses anything that does not name one node: a missing host, a bad
// port, a path, a query or user information.
func adminURL(v string) (string, error) {
	raw := strings.TrimRight(v, "/")
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not host:port or http://host:port", v)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("%q names no host", v)
	}
	if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q is not host:port or http://host:port (port 1 to 65535)", v)
	}
	return u.Scheme + "://" + u.Host, nil
}

// checkStandby validates and normalizes the standby flags.
func checkStandby(o *options) error {
	if o.StandbyOf != "" {
		u, err := adminURL(o.StandbyOf)
		if err != nil {
			return fmt.Errorf("--standby-of: %v", err)
		}
		o.StandbyOf = u
		if o.Join != "" {
			return errors.New("--standby-of: a node joining a cluster takes the cluster's mode; give --standby-of to the first node only, not with --join")
		}
	}
	var addrs []string
	for _, a := range strings.Split(o.StandbyAddr, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		u, err := adminURL(a)
		if err != nil {
			return fmt.Errorf("--standby-addr: %v", err)
		}
		addrs = append(addrs, u)
	}
	o.StandbyAddr = strings.Join(addrs, ",")
	if o.StandbyToken != "" && o.StandbyAddr == "" {
		return errors.New("--standby-token: needs --standby-addr")
	}
	if o.StandbyToken != "" && len(o.StandbyToken) < 16 {
		return errors.New("--standby-token: too short (at least 16 characters)")
	}
	return nil
}
