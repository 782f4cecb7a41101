package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const subUsage = `usage:
  benchload [-target etcd|tandem ...]   one measured load run (see -h)
  benchload ports N                     print N free loopback TCP ports
  benchload merge FILE...               merge the JSON reports of several runs into one
  benchload setup -addr A,B,C -token-file F [-agents 256]
                                        prepare a fresh cluster for the tandem load: a queue, the agents,
                                        each logged in and talking on a call (call.note needs that)
  benchload wait-cluster -addr A,B,C -token-file F [-voters 3] [-timeout 60s]
                                        wait until every member agrees on a leader; print its id
  benchload failover -addr A,B,C -pids P1,P2,P3 -token-file F [-timeout 30s]
                                        SIGKILL the leader, time the first commit through a survivor
  benchload catchup -addr A -index N -token-file F [-cluster A,B,C] [-timeout 60s]
                                        wait until member A knows a leader and applied index N
                                        (and, with -cluster, a command committed through the leader now)
`

// killPID is how failover stops a member; tests replace it.
var killPID = func(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// runSub runs the helper subcommands bench/raft.sh uses.
func runSub(name string, args []string, stdout, stderr io.Writer) int {
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "benchload %s: "+format+"\n", append([]any{name}, a...)...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fs := flag.NewFlagSet("benchload "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		addrs     = fs.String("addr", "", "comma-separated admin addresses")
		tokenFile = fs.String("token-file", "", "file holding the admin token (default: env TANDEM_ADMIN_TOKEN)")
		timeout   = fs.Duration("timeout", 60*time.Second, "bound on the whole wait")
		pids      = fs.String("pids", "", "failover: comma-separated pids, in -addr order")
		voters    = fs.Int("voters", 3, "wait-cluster: expected voters")
		index     = fs.Uint64("index", 0, "catchup: index the member must have applied")
		probe     = fs.Duration("probe-every", 10*time.Millisecond, "failover: start a commit attempt this often")
		cluster   = fs.String("cluster", "", "catchup: admin addresses of every member; commit one fresh command through the leader and wait for it too")
		agents    = fs.Int("agents", 256, "setup: agents to prepare")
	)
	out := func(v any) int {
		b, _ := json.Marshal(v)
		fmt.Fprintln(stdout, string(b))
		return 0
	}

	switch name {
	case "ports":
		if len(args) != 1 {
			logf("want one argument, the number of ports")
			return 2
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 1 || n > 1000 {
			logf("bad count %q", args[0])
			return 2
		}
		ports, err := FreePorts(n)
		if err != nil {
			logf("%v", err)
			return 1
		}
		s := make([]string, len(ports))
		for i, p := range ports {
			s[i] = strconv.Itoa(p)
		}
		fmt.Fprintln(stdout, strings.Join(s, " "))
		return 0
	case "merge":
		if len(args) == 0 {
			logf("want the report files to merge")
			return 2
		}
		var rs []Report
		for _, f := range args {
			b, err := os.ReadFile(f)
			if err != nil {
				logf("%v", err)
				return 1
			}
			var r Report
			if err := json.Unmarshal(b, &r); err != nil {
				logf("%s: %v", f, err)
				return 1
			}
			rs = append(rs, r)
		}
		m, err := mergeReports(rs)
		if err != nil {
			logf("%v", err)
			return 1
		}
		return out(m)
	case "wait-cluster", "failover", "catchup", "setup":
	case "help", "-h", "--help":
		fmt.Fprint(stdout, subUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "benchload: unknown command %q\n%s", name, subUsage)
		return 2
	}

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		logf("unexpected argument %q", fs.Arg(0))
		return 2
	}
	list := splitList(*addrs)
	if len(list) == 0 {
		logf("-addr: no address given")
		return 2
	}
	tok, err := readToken(*tokenFile, os.Getenv)
	if err != nil {
		logf("%v", err)
		return 2
	}
	if *timeout <= 0 {
		logf("-timeout: must be > 0")
		return 2
	}
	client := newHTTPClient(64)
	defer client.CloseIdleConnections()

	switch name {
	case "setup":
		r, err := Setup(ctx, client, list, tok, *agents, *timeout)
		if err != nil {
			logf("%v", err)
			return 1
		}
		return out(r)
	case "wait-cluster":
		id, err := WaitCluster(ctx, client, ClusterConfig{Addrs: list, Token: tok, Voters: *voters, Timeout: *timeout})
		if err != nil {
			logf("%v", err)
			return 1
		}
		return out(map[string]string{"leader_id": id})
	case "catchup":
		if len(list) != 1 {
			logf("-addr: give exactly one address")
			return 2
		}
		r, err := Catchup(ctx, client, CatchupConfig{Addr: list[0], Token: tok, Index: *index,
			Cluster: splitList(*cluster), Timeout: *timeout})
		if err != nil {
			logf("%v", err)
			return 1
		}
		return out(r)
	default: // failover
		var pl []int
		for _, p := range splitList(*pids) {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 1 {
				logf("-pids: bad pid %q", p)
				return 2
			}
			pl = append(pl, n)
		}
		if len(pl) != len(list) {
			logf("-pids: %d pids for %d addresses", len(pl), len(list))
			return 2
		}
		r, err := Failover(ctx, client, FailoverConfig{
			Addrs: list, Token: tok, Timeout: *timeout, ProbeEvery: *probe,
			Kill: func(i int) error { return killPID(pl[i]) },
		})
		if err != nil {
			logf("%v", err)
			if r.Killed != "" {
				// Tell the caller which member is gone even on failure.
				out(r)
			}
			return 1
		}
		return out(r)
	}
}
