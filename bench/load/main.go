// Command benchload is Tandem's side-by-side Raft write benchmark load
// generator. It drives either a 3-member etcd cluster (Put of a fixed-size
// value over N keys) or a Tandem cluster (POST /v1/bench/commit of one
// engine command, call.note, as large in the Raft log as the etcd value)
// with the same size and concurrency, and prints one JSON line:
//
//	{"target","ops","duration_s","ops_per_s","p50_ms","p99_ms","errors","payload","concurrency",...}
//
// Helper commands for bench/raft.sh (benchload help): ports, setup (the
// configuration, agents and calls the call.note load needs), wait-cluster,
// failover (SIGKILL the leader and time the first commit through a
// survivor), catchup and merge (combine the reports of several rounds).
//
// It lives in its own Go module so the etcd client never enters Tandem's
// dependencies.
package main

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Config is the parsed command line.
type Config struct {
	Target      string
	Endpoints   []string // etcd
	Addrs       []string // tandem
	TokenFile   string
	Token       string
	Payload     int
	Concurrency int
	Duration    time.Duration
	Ops         uint64
	Warmup      time.Duration
	MaxTime     time.Duration
	OpTimeout   time.Duration
	Keys        int
	KeyPrefix   string
	LeaderOnly  bool
	LeaderWait  time.Duration
	Agents      int    // tandem: agents set up by `benchload setup`
	Queue       string // webcallback: the callback queue
	// webchat: console users (agents of the chat queue) UserPrefix +
	// UserOffset … + Concurrency-1, all with the password in PasswordFile.
	UserPrefix   string
	UserOffset   int
	PasswordFile string
	Password     string
	ChatLanguage string
	SetupWait    time.Duration
	ChatRotate   int
}

const maxPayload = 1 << 20 // etcd's default request limit is 1.5 MiB

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseConfig parses args (without the program name). getenv supplies
// TANDEM_ADMIN_TOKEN when no -token-file is given.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("benchload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var endpoints, addrs string
	var ops int64
	fs.StringVar(&c.Target, "target", "", "etcd, tandem, webcallback or webchat (required)")
	fs.StringVar(&endpoints, "endpoints", "127.0.0.1:2379", "etcd: comma-separated client endpoints")
	fs.StringVar(&addrs, "addr", "http://127.0.0.1:7070", "tandem: comma-separated admin addresses; webcallback: public (--http-addr) addresses, worker i posting to address i mod N")
	fs.StringVar(&c.Queue, "queue", "bench", "webcallback: the callback queue")
	fs.StringVar(&c.UserPrefix, "chat-users", "chat", "webchat: console users are this prefix and a number, one per worker (agents of the chat queue)")
	fs.IntVar(&c.UserOffset, "user-offset", 0, "webchat: the first user's number")
	fs.StringVar(&c.PasswordFile, "password-file", "", "webchat: file holding the users' password")
	fs.StringVar(&c.ChatLanguage, "chat-language", "en", "webchat: the chats' chat_language")
	fs.DurationVar(&c.SetupWait, "setup-wait", 3*time.Minute, "webchat: bound on logging the agents in and answering the chats")
	fs.IntVar(&c.ChatRotate, "chat-rotate", MaxChatMessages-50, "webchat: messages after which a worker ends its chat and opens another (a session holds at most 1000)")
	fs.StringVar(&c.TokenFile, "token-file", "", "tandem: file holding the admin bearer token (default: env TANDEM_ADMIN_TOKEN)")
	fs.IntVar(&c.Payload, "payload", 256, "bytes per write: etcd, the value; tandem, the call.note command as written in the Raft log")
	fs.IntVar(&c.Concurrency, "concurrency", 64, "concurrent in-flight operations")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "length of the measured phase")
	fs.Int64Var(&ops, "ops", 0, "stop the measured phase after this many operations (then -duration, if given, or -max-time bounds it in time)")
	fs.DurationVar(&c.Warmup, "warmup", 0, "unrecorded warmup before the measured phase")
	fs.DurationVar(&c.MaxTime, "max-time", 5*time.Minute, "time bound of the measured phase in -ops mode when -duration is not given")
	fs.DurationVar(&c.OpTimeout, "op-timeout", 10*time.Second, "timeout of one operation")
	fs.IntVar(&c.Keys, "keys", 1000, "etcd: number of distinct keys written")
	fs.StringVar(&c.KeyPrefix, "key-prefix", "bench/", "etcd: key prefix")
	fs.BoolVar(&c.LeaderOnly, "leader-only", true, "with several endpoints/addresses, find the leader and send every operation to it")
	fs.DurationVar(&c.LeaderWait, "leader-wait", 15*time.Second, "how long to look for the leader")
	fs.IntVar(&c.Agents, "agents", 256, "tandem: agents `benchload setup` prepared (worker i notes the call of agent i mod N)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	switch c.Target {
	case "etcd":
		c.Endpoints = splitList(endpoints)
		if len(c.Endpoints) == 0 {
			return c, errors.New("-endpoints: no endpoint given")
		}
		if c.Keys < 1 {
			return c, fmt.Errorf("-keys: must be >= 1, got %d", c.Keys)
		}
	case "tandem":
		c.Addrs = splitList(addrs)
		if len(c.Addrs) == 0 {
			return c, errors.New("-addr: no address given")
		}
		tok, err := readToken(c.TokenFile, getenv)
		if err != nil {
			return c, err
		}
		c.Token = tok
		if c.Agents < 1 || c.Agents > maxAgents {
			return c, fmt.Errorf("-agents: must be in [1, %d], got %d", maxAgents, c.Agents)
		}
	case "webcallback":
		c.Addrs = splitList(addrs)
		if len(c.Addrs) == 0 {
			return c, errors.New("-addr: no address given")
		}
	case "webchat":
		c.Addrs = splitList(addrs)
		if len(c.Addrs) == 0 {
			return c, errors.New("-addr: no address given")
		}
		if c.UserPrefix == "" {
			return c, errNoUsers
		}
		if c.UserOffset < 0 {
			return c, fmt.Errorf("-user-offset: must be >= 0, got %d", c.UserOffset)
		}
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return c, fmt.Errorf("-password-file: %v", err)
		}
		if c.Password = strings.TrimSpace(string(b)); c.Password == "" {
			return c, errors.New("-password-file: empty")
		}
		if c.SetupWait <= 0 {
			return c, fmt.Errorf("-setup-wait: must be > 0, got %s", c.SetupWait)
		}
		if c.ChatRotate < 1 || c.ChatRotate > MaxChatMessages-1 {
			return c, fmt.Errorf("-chat-rotate: must be in [1, %d], got %d", MaxChatMessages-1, c.ChatRotate)
		}
	case "":
		return c, errors.New("-target: required (etcd, tandem, webcallback or webchat)")
	default:
		return c, fmt.Errorf("-target: must be etcd, tandem, webcallback or webchat, got %q", c.Target)
	}
	if c.Payload < 0 || c.Payload > maxPayload {
		return c, fmt.Errorf("-payload: must be in [0, %d], got %d", maxPayload, c.Payload)
	}
	if c.Concurrency < 1 || c.Concurrency > 10000 {
		return c, fmt.Errorf("-concurrency: must be in [1, 10000], got %d", c.Concurrency)
	}
	if ops < 0 {
		return c, fmt.Errorf("-ops: must be >= 0, got %d", ops)
	}
	c.Ops = uint64(ops)
	if c.Ops > 0 && !set["duration"] {
		c.Duration = c.MaxTime
	}
	if c.Duration <= 0 {
		return c, fmt.Errorf("-duration: must be > 0, got %s", c.Duration)
	}
	if c.Warmup < 0 {
		return c, fmt.Errorf("-warmup: must be >= 0, got %s", c.Warmup)
	}
	if c.OpTimeout <= 0 {
		return c, fmt.Errorf("-op-timeout: must be > 0, got %s", c.OpTimeout)
	}
	return c, nil
}

// readToken reads the admin token from file, or TANDEM_ADMIN_TOKEN.
func readToken(file string, getenv func(string) string) (string, error) {
	var tok string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("-token-file: %v", err)
		}
		tok = strings.TrimSpace(string(b))
	} else {
		tok = strings.TrimSpace(getenv("TANDEM_ADMIN_TOKEN"))
	}
	if tok == "" {
		return "", errors.New("-token-file: no admin token (give -token-file or set TANDEM_ADMIN_TOKEN)")
	}
	return tok, nil
}

// Report is the one JSON line benchload prints. The first nine fields are
// the contract bench/raft.sh reads; the rest are extra detail.
type Report struct {
	Target      string  `json:"target"`
	Ops         uint64  `json:"ops"`
	DurationS   float64 `json:"duration_s"`
	OpsPerS     float64 `json:"ops_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	Errors      uint64  `json:"errors"`
	Payload     int     `json:"payload"`
	Concurrency int     `json:"concurrency"`
	P999Ms      float64 `json:"p999_ms"`
	MeanMs      float64 `json:"mean_ms"`
	MaxMs       float64 `json:"max_ms"`
	WarmupOps   uint64  `json:"warmup_ops"`
	Endpoint    string  `json:"endpoint"`
	// Op says what one operation is (the same in every merged report).
	Op   string `json:"op,omitempty"`
	Runs int    `json:"runs,omitempty"` // > 1 for a merged report
	// Hist is the latency histogram of the measured phase, so that
	// reports of several runs can be merged exactly (benchload merge).
	Hist *HistData `json:"hist,omitempty"`
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func makeReport(c Config, endpoint, op string, warm, m PhaseResult) Report {
	secs := m.Elapsed.Seconds()
	var rate float64
	if secs > 0 {
		rate = float64(m.OK) / secs
	}
	return Report{
		Target:      c.Target,
		Ops:         m.OK,
		DurationS:   round(secs, 3),
		OpsPerS:     round(rate, 2),
		P50Ms:       ms(m.Hist.Quantile(0.50)),
		P99Ms:       ms(m.Hist.Quantile(0.99)),
		Errors:      m.Errors,
		Payload:     c.Payload,
		Concurrency: c.Concurrency,
		P999Ms:      ms(m.Hist.Quantile(0.999)),
		MeanMs:      ms(m.Hist.Mean()),
		MaxMs:       ms(m.Hist.Max()),
		WarmupOps:   warm.OK,
		Endpoint:    endpoint,
		Op:          op,
		Hist:        m.Hist.Export(),
	}
}

// mergeReports combines the reports of several runs against one target
// with the same payload and concurrency: operations, errors and time add
// up, latency quantiles come from the merged histograms.
func mergeReports(rs []Report) (Report, error) {
	if len(rs) == 0 {
		return Report{}, errors.New("no report to merge")
	}
	out := Report{Target: rs[0].Target, Payload: rs[0].Payload, Concurrency: rs[0].Concurrency, Op: rs[0].Op}
	h := NewHistogram()
	var secs float64
	var eps []string
	seen := map[string]bool{}
	for i, r := range rs {
		if r.Target != out.Target || r.Payload != out.Payload || r.Concurrency != out.Concurrency || r.Op != out.Op {
			return Report{}, fmt.Errorf("report %d is %s/%d B/%d, the first %s/%d B/%d: not comparable",
				i+1, r.Target, r.Payload, r.Concurrency, out.Target, out.Payload, out.Concurrency)
		}
		if r.Ops > 0 && r.Hist == nil {
			return Report{}, fmt.Errorf("report %d has no histogram", i+1)
		}
		if err := h.Import(r.Hist); err != nil {
			return Report{}, fmt.Errorf("report %d: %w", i+1, err)
		}
		out.Ops += r.Ops
		out.Errors += r.Errors
		out.WarmupOps += r.WarmupOps
		secs += r.DurationS
		if !seen[r.Endpoint] {
			seen[r.Endpoint] = true
			eps = append(eps, r.Endpoint)
		}
		n := r.Runs
		if n < 1 {
			n = 1
		}
		out.Runs += n
	}
	if h.Count() != out.Ops {
		return Report{}, fmt.Errorf("histograms hold %d operations, reports %d", h.Count(), out.Ops)
	}
	out.DurationS = round(secs, 3)
	if secs > 0 {
		out.OpsPerS = round(float64(out.Ops)/secs, 2)
	}
	out.P50Ms = ms(h.Quantile(0.50))
	out.P99Ms = ms(h.Quantile(0.99))
	out.P999Ms = ms(h.Quantile(0.999))
	out.MeanMs = ms(h.Mean())
	out.MaxMs = ms(h.Max())
	out.Endpoint = strings.Join(eps, " ")
	out.Hist = h.Export()
	return out, nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return runSub(args[0], args[1:], stdout, stderr)
	}
	return runLoad(args, stdout, stderr)
}

// runLoad is the default command: one measured load run.
func runLoad(args []string, stdout, stderr io.Writer) int {
	c, err := parseConfig(args, os.Getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "benchload: %v\n", err)
		return 2
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "benchload: "+format+"\n", a...) }

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Hard bound on the whole process, whatever a target does.
	limit := c.LeaderWait + c.SetupWait + 10*time.Second + c.Warmup + c.Duration + 2*c.OpTimeout + 30*time.Second
	watchdog := time.AfterFunc(limit, func() {
		logf("still running after %s; giving up", limit)
		os.Exit(3)
	})
	defer watchdog.Stop()

	var (
		op       Op
		opDesc   string
		endpoint string
		cleanup  = func() {}
	)
	switch c.Target {
	case "etcd":
		eps := c.Endpoints
		if c.LeaderOnly && len(eps) > 1 {
			probe, err := newEtcdClient(eps, c.Payload)
			if err != nil {
				logf("connecting to etcd %v: %v", eps, err)
				return 1
			}
			leader, err := findEtcdLeader(ctx, probe, eps, c.LeaderWait)
			probe.Close()
			if err != nil {
				logf("%v", err)
				return 1
			}
			logf("etcd leader is %s", leader)
			eps = []string{leader}
		}
		cli, err := newEtcdClient(eps, c.Payload)
		if err != nil {
			logf("connecting to etcd %v: %v", eps, err)
			return 1
		}
		cleanup = func() { cli.Close() }
		endpoint = strings.Join(eps, ",")
		payload := make([]byte, c.Payload)
		_, _ = crand.Read(payload)
		op = newEtcdTarget(cli, c.KeyPrefix, c.Keys, payload).Do
		opDesc = fmt.Sprintf("etcd Put of a %d-byte value, keys %s0..%d", c.Payload, c.KeyPrefix, c.Keys-1)
	case "tandem":
		client := newHTTPClient(c.Concurrency)
		addrs := c.Addrs
		if c.LeaderOnly && len(addrs) > 1 {
			leader, id, err := findTandemLeader(ctx, client, addrs, c.Token, c.LeaderWait)
			if err != nil {
				logf("%v", err)
				return 1
			}
			logf("tandem leader is %s (node %s)", leader, id)
			addrs = []string{leader}
		}
		for i := range addrs {
			addrs[i] = normalizeAddr(addrs[i])
		}
		endpoint = strings.Join(addrs, ",")
		cleanup = func() { client.CloseIdleConnections() }
		noteLen, err := calibrateNote(ctx, client, addrs[0], c.Token, c.Payload)
		if err != nil {
			logf("%v", err)
			return 1
		}
		tt := newTandemTarget(client, addrs, c.Token, noteBodies(c.Agents, noteLen)...)
		tt.entryBytes = c.Payload
		op = tt.Do
		opDesc = fmt.Sprintf("tandem call.note of a %d-character note on the call of agent i mod %d, %d bytes in the Raft log", noteLen, c.Agents, c.Payload)
	case "webcallback":
		client := newHTTPClient(c.Concurrency)
		addrs := c.Addrs
		for i := range addrs {
			addrs[i] = normalizeAddr(addrs[i])
		}
		endpoint = strings.Join(addrs, ",")
		cleanup = func() { client.CloseIdleConnections() }
		op = newWebCallbackTarget(client, addrs, c.Queue).Do
		opDesc = fmt.Sprintf("POST /api/v1/callbacks into queue %s, a new phone number each, worker i to address i mod %d", c.Queue, len(addrs))
	case "webchat":
		client := newHTTPClient(c.Concurrency)
		addrs := c.Addrs
		for i := range addrs {
			addrs[i] = normalizeAddr(addrs[i])
		}
		endpoint = strings.Join(addrs, ",")
		wt, err := newWebChatTarget(ctx, client, addrs, chatSetup{
			users: chatUsers(c.UserPrefix, c.UserOffset, c.Concurrency), password: c.Password,
			language: c.ChatLanguage, setupWait: c.SetupWait, rotateAt: c.ChatRotate,
		}, logf)
		if err != nil {
			logf("%v", err)
			return 1
		}
		cleanup = func() { wt.Close(); client.CloseIdleConnections() }
		op = wt.Do
		opDesc = fmt.Sprintf("a customer's chat message on the chat WebSocket (worker i's session on address i mod %d), done when acknowledged and shown on its agent's console stream (agents on address i+1 mod %d)", len(addrs), len(addrs))
	}
	defer cleanup()

	mode := fmt.Sprintf("duration %s", c.Duration)
	if c.Ops > 0 {
		mode = fmt.Sprintf("%d ops (bounded by %s)", c.Ops, c.Duration)
	}
	logf("%s at %s: %s; concurrency %d, warmup %s, %s", c.Target, endpoint, opDesc, c.Concurrency, c.Warmup, mode)

	warm, m := Run(ctx, RunConfig{
		Concurrency:  c.Concurrency,
		Duration:     c.Duration,
		Ops:          c.Ops,
		Warmup:       c.Warmup,
		OpTimeout:    c.OpTimeout,
		ErrorBackoff: 10 * time.Millisecond,
	}, op)
	for _, s := range append(warm.ErrorSamples, m.ErrorSamples...) {
		logf("error: %s", s)
	}
	if warm.Errors > 0 {
		logf("%d errors during warmup", warm.Errors)
	}

	line, _ := json.Marshal(makeReport(c, endpoint, opDesc, warm, m))
	fmt.Fprintln(stdout, string(line))
	if ctx.Err() != nil {
		logf("interrupted")
		return 130
	}
	if m.OK == 0 {
		logf("no operation succeeded")
		return 1
	}
	return 0
}
