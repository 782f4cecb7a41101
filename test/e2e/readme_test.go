package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadmeTour runs the README's "A five-minute tour" as a user pastes
// it (issue 12.7), so that the README cannot drift from the code. The
// blocks come from README.md itself, found by the HTML comment before each
// fence (invisible on the rendered page):
//
//	<!-- tour: make-run -->   the `make run` block (see below)
//	<!-- tour: NAME -->       a ```sh block run in bash session NAME (single,
//	                          cluster): one bash per session, its blocks in
//	                          README order, sharing variables as one terminal
//	<!-- tour: output -->     a ```text block: lines the run block before it
//	                          must print, in this order (… = anything,
//	                          runs of blanks = any blanks)
//	<!-- tour: reference -->  a ```sh block that needs what the tour lacks
//	                          (PostgreSQL, a second site, an old data dir):
//	                          not run, but each bin/tandemctl line must
//	                          answer --help with its usage, exit 0 (the
//	                          command, subcommand and flags exist) and
//	                          each bin/tandemd flag must exist
//
// Every ```sh block of the tour must carry one of these. Each command of a
// run block runs verbatim, in a temporary directory laid out as a clone
// (bin/ holds the binaries under test), with these deviations only:
//
//   - `make run` (build, then ./bin/tandemd with no flags) is replaced by
//     the test starting bin/tandemd with no flags in that directory, in the
//     background, because the build is the harness's and the process must
//     outlive the block; its ports come from TANDEM_ADMIN_ADDR,
//     TANDEM_RAFT_ADDR and TANDEM_HTTP_ADDR (flags' environment form), and
//     TANDEM_SNMP_ADDR / TANDEM_SIP_ADDR when the build has those.
//   - Every 127.0.0.1:PORT of the tour's blocks (and expected output) is
//     rewritten by tourPorts to a free port, so the tour cannot collide
//     with a service of the machine or another test; a port not in the
//     table fails the test. tandemctl's default address is TANDEM_ADDR in
//     each session: the make-run node in "single", a port nobody listens
//     on in the others (a forgotten --addr fails there).
//   - Each block is followed by an echo of a marker, and an ERR trap
//     reports any command that fails, so that output and failures are
//     attributed to their block and README line.
//
// Each block has tourStepTimeout; every process the tour starts (in its
// sessions' process groups) is killed at the end, also on failure.
func TestReadmeTour(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			// Not a skip: a machine without them would leave the README
			// unchecked. bench/raft.sh, run by `make test`, needs curl too.
			t.Fatalf("the README tour needs %s (apt-get install %s): %v", tool, tool, err)
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := parseTour(t, string(readme))

	clone := t.TempDir()
	if err := os.Mkdir(filepath.Join(clone, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{tandemdBin, tandemctlBin} {
		if err := os.Symlink(b, filepath.Join(clone, "bin", filepath.Base(b))); err != nil {
			t.Fatal(err)
		}
	}

	checkReferenceBlocks(t, clone, blocks)

	ports := map[string]string{}
	for _, p := range tourPorts {
		ports[p] = strconv.Itoa(freePort(t))
	}
	addr := func(port string) string { return "127.0.0.1:" + ports[port] }

	// Sessions in the order of their first block; all checks (the
	// make-run block, ports) before anything starts.
	var sessions []string
	bySession := map[string][]*tourBlock{}
	makeRun := 0
	for _, b := range blocks {
		switch b.kind {
		case "make-run":
			if strings.TrimSpace(b.text) != "make run" || makeRun > 0 {
				t.Fatalf("README.md:%d: the make-run block must be `make run`, once; it is %q", b.line, b.text)
			}
			makeRun = b.line
		case "output", "reference":
		default:
			if makeRun == 0 {
				t.Fatalf("README.md:%d: a run block before `make run`", b.line)
			}
			if bySession[b.kind] == nil {
				sessions = append(sessions, b.kind)
			}
			bySession[b.kind] = append(bySession[b.kind], b)
			b.text = substitutePorts(t, b.line, b.text, ports)
			if b.output != nil {
				b.output.text = substitutePorts(t, b.output.line, b.output.text, ports)
			}
		}
	}
	if !slices.Contains(sessions, "single") || !slices.Contains(sessions, "cluster") {
		t.Fatalf("the tour should have blocks of sessions single and cluster; it has %v", sessions)
	}

	// `make run`: the one-node system of the single session.
	startMakeRun(t, clone, addr)
	for _, s := range sessions {
		// The one-node session reaches the make-run node by tandemctl's
		// default address, which is TANDEM_ADDR here; every other session
		// gets an address nobody listens on, so that a command that
		// forgot --addr fails instead of quietly using that node.
		def := "http://" + addr("7070")
		if s != "single" {
			def = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		}
		runTourSession(t, clone, s, bySession[s], def)
	}
}

// tourPorts are the loopback ports the tour uses: the defaults of the
// make-run node (admin, raft, http) and the three nodes' ports.
var tourPorts = []string{
	"7070", "7000", "6021",
	"7001", "7002", "7003", "7071", "7072", "7073", "6031", "6032", "6033",
}

// tourStepTimeout bounds each block (the tour's own waits are a minute).
const tourStepTimeout = 3 * time.Minute

type tourBlock struct {
	kind   string // make-run, output, reference, or the session's name
	line   int    // README line of the opening fence
	text   string
	output *tourBlock // the expected output of a run block
}

var (
	tourMarker = regexp.MustCompile(`^<!--\s*tour:\s*([a-z-]+)\s*-->$`)
	tourPort   = regexp.MustCompile(`\b(127\.0\.0\.1|localhost):([0-9]{2,5})\b`)
)

// parseTour returns the marked blocks of the section "## A five-minute
// tour" (to the next "## " heading), checking that each ```sh block is
// marked and each output block follows a run block.
func parseTour(t *testing.T, readme string) []*tourBlock {
	t.Helper()
	lines := strings.Split(readme, "\n")
	start := slices.Index(lines, "## A five-minute tour")
	if start < 0 {
		t.Fatal(`README.md has no "## A five-minute tour"`)
	}
	var blocks []*tourBlock
	var lastRun *tourBlock
	marker := ""
	for i := start + 1; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "## ") {
			break
		}
		if m := tourMarker.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			marker = m[1]
			continue
		}
		if !strings.HasPrefix(l, "```") {
			if strings.TrimSpace(l) != "" {
				marker = "" // a marker belongs to the fence right after it
			}
			continue
		}
		lang := strings.TrimPrefix(l, "```")
		open := i
		var body []string
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			body = append(body, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("README.md:%d: fence never closed", open+1)
		}
		b := &tourBlock{kind: marker, line: open + 1, text: strings.Join(body, "\n") + "\n"}
		marker = ""
		switch {
		case lang == "sh" && b.kind == "":
			t.Fatalf("README.md:%d: a ```sh block of the tour without <!-- tour: … --> before it; "+
				"mark it (a session to run it, or reference)", b.line)
		case lang == "sh" && b.kind == "output":
			t.Fatalf("README.md:%d: an output block must be ```text", b.line)
		case lang == "text" && b.kind == "output":
			if lastRun == nil || lastRun.output != nil {
				t.Fatalf("README.md:%d: an output block must follow a run block (one each)", b.line)
			}
			lastRun.output = b
		case b.kind == "":
			continue // ```yaml and other illustrations
		case lang != "sh":
			t.Fatalf("README.md:%d: <!-- tour: %s --> marks a ```%s block, want ```sh", b.line, b.kind, lang)
		default:
			checkTourShell(t, b)
			if b.kind != "reference" && b.kind != "make-run" {
				lastRun = b
			}
		}
		blocks = append(blocks, b)
	}
	return blocks
}

var (
	bareBinary = regexp.MustCompile(`(^|[\s;&|(])(tandemctl|tandemd)(\s|$)`)
	tokenFlag  = regexp.MustCompile(`(^|\s)--(admin-token|standby-token|token)(\s|=|$)`)
)

// checkTourShell refuses what cannot be pasted as is or leaks a secret:
// a tandemctl or tandemd not under bin/ (a clone has no other), and a
// token on a command line (ps and the shell's history show it).
func checkTourShell(t *testing.T, b *tourBlock) {
	t.Helper()
	for i, l := range strings.Split(b.text, "\n") {
		code := stripComment(l)
		if bareBinary.MatchString(code) {
			t.Errorf("README.md:%d: run the binaries as bin/tandemctl and bin/tandemd: %s", b.line+1+i, l)
		}
		if tokenFlag.MatchString(code) {
			t.Errorf("README.md:%d: a token on the command line (use a token file): %s", b.line+1+i, l)
		}
	}
}

// stripComment cuts a shell comment (a # at the start of a word, outside
// quotes) off a line.
func stripComment(l string) string {
	var quote rune
	for i, c := range l {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			return l[:i]
		}
	}
	return l
}

func substitutePorts(t *testing.T, line int, text string, ports map[string]string) string {
	t.Helper()
	return tourPort.ReplaceAllStringFunc(text, func(m string) string {
		sub := tourPort.FindStringSubmatch(m)
		p, ok := ports[sub[2]]
		if !ok {
			t.Fatalf("README.md:%d: port %s is not in tourPorts (add it there)", line, sub[2])
		}
		return "127.0.0.1:" + p
	})
}

// startMakeRun does what `make run` does after its build: ./bin/tandemd
// with no flags in the clone (ports by environment, see TestReadmeTour),
// and waits until it is ready, as a user would before the next block.
func startMakeRun(t *testing.T, clone string, addr func(string) string) {
	t.Helper()
	n := newNode(t, "", withID(""), withToken(""), withDefaultDataDir())
	n.cwd = clone
	n.rawArgs = []string{} // no flags at all
	n.extra = nil
	n.adminAddr = addr("7070")
	n.env = []string{"TANDEM_ADMIN_ADDR=" + addr("7070"), "TANDEM_RAFT_ADDR=" + addr("7000"), "TANDEM_HTTP_ADDR=" + addr("6021")}
	// Listeners whose defaults the tour does not name get free ports too
	// (an empty variable counts as unset, so they cannot be disabled).
	for _, f := range []string{"sip-addr", "snmp-addr"} {
		if daemonFlags[f] {
			n.env = append(n.env, fmt.Sprintf("TANDEM_%s=127.0.0.1:%d", strings.ToUpper(strings.ReplaceAll(f, "-", "_")), freePort(t)))
		}
	}
	n.start()
	waitFor(t, waitCluster, "the make-run node to be ready", func() (bool, string) {
		code, body, err := n.get("/readyz", false)
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusOK, fmt.Sprintf("HTTP %d %s", code, body)
	})
}

// runTourSession runs the session's blocks in one bash, in order, each
// bounded by tourStepTimeout, and checks each block's expected output.
func runTourSession(t *testing.T, clone, session string, blocks []*tourBlock, defaultAddr string) {
	t.Helper()
	// The script: an ERR trap naming the failed command and its script
	// line, then each block between markers.
	var script strings.Builder
	script.WriteString("trap 'echo \"@@tour-failed status=$? line=$LINENO: $BASH_COMMAND\"' ERR\n")
	lineOf := map[int]int{} // script line of each block's first line
	scriptLine := 1         // lines written so far
	for i, b := range blocks {
		fmt.Fprintf(&script, "echo '@@tour-start %d'\n", i)
		scriptLine++
		lineOf[i] = scriptLine + 1
		script.WriteString(b.text)
		scriptLine += strings.Count(b.text, "\n")
		fmt.Fprintf(&script, "echo '@@tour-end %d'\n", i)
		scriptLine++
	}
	path := filepath.Join(t.TempDir(), session+".sh")
	if err := os.WriteFile(path, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	readmeLine := func(sl int) string {
		for i := len(blocks) - 1; i >= 0; i-- {
			if sl >= lineOf[i] {
				return fmt.Sprintf("README.md:%d", blocks[i].line+1+sl-lineOf[i])
			}
		}
		return fmt.Sprintf("script line %d", sl)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(len(blocks)+1)*tourStepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", path)
	cmd.Dir = clone
	cmd.Env = cleanEnv("TANDEM_ADDR=" + defaultAddr)
	// Its own process group: the background tandemds the tour starts stay
	// in it after bash exits, and are killed with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w // one pipe: the order of both is kept
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var transcript []string
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		r.Close()
		if t.Failed() {
			t.Logf("----- session %s -----\n%s\n----- end of session %s -----", session, strings.Join(transcript, "\n"), session)
			logs, _ := filepath.Glob(filepath.Join(clone, "*.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				if len(b) > 32<<10 {
					b = b[len(b)-32<<10:]
				}
				t.Logf("----- %s (tail) -----\n%s", filepath.Base(l), b)
			}
		}
	})
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	for i, b := range blocks {
		var out []string
		timeout := time.NewTimer(tourStepTimeout)
		done := false
		for !done {
			select {
			case l, ok := <-lines:
				if !ok {
					timeout.Stop()
					cmd.Wait()
					t.Fatalf("session %s: bash ended (%v) in the block at README.md:%d", session, cmd.ProcessState, b.line)
				}
				transcript = append(transcript, l)
				switch {
				case l == fmt.Sprintf("@@tour-start %d", i):
				case l == fmt.Sprintf("@@tour-end %d", i):
					done = true
				case strings.HasPrefix(l, "@@tour-failed "):
					where := l
					if m := regexp.MustCompile(`line=(\d+): `).FindStringSubmatch(l); m != nil {
						n, _ := strconv.Atoi(m[1])
						where = readmeLine(n) + ": " + l
					}
					t.Errorf("session %s: a command failed: %s", session, where)
				default:
					out = append(out, l)
				}
			case <-timeout.C:
				t.Fatalf("session %s: the block at README.md:%d did not finish within %v", session, b.line, tourStepTimeout)
			}
		}
		timeout.Stop()
		if b.output != nil {
			if err := matchOutput(b.output.text, out); err != nil {
				t.Errorf("session %s: the block at README.md:%d does not print what README.md:%d shows: %v\noutput:\n%s",
					session, b.line, b.output.line, err, strings.Join(out, "\n"))
			}
		}
		if t.Failed() {
			t.FailNow() // later blocks build on this one
		}
	}
	// The rest, until bash exits. A process the tour left in the
	// background with its output on the terminal would hold the pipe.
	rest := time.NewTimer(waitShort)
	defer rest.Stop()
	for open := true; open; {
		select {
		case l, ok := <-lines:
			open = ok
			if ok {
				transcript = append(transcript, l)
			}
		case <-rest.C:
			t.Fatalf("session %s: its output was still open %v after the last block (a background process writing to the terminal?)", session, waitShort)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("session %s: bash: %v", session, err)
	}
}

// matchOutput checks that each line of want matches a line of got, in
// order: … matches anything and runs of blanks match any blanks.
func matchOutput(want string, got []string) error {
	j := 0
	for _, w := range strings.Split(strings.TrimRight(want, "\n"), "\n") {
		re := outputLine(w)
		for j < len(got) && !re.MatchString(got[j]) {
			j++
		}
		if j == len(got) {
			return fmt.Errorf("no line (after the previous match) is %q", w)
		}
		j++
	}
	return nil
}

func outputLine(w string) *regexp.Regexp {
	blanks := regexp.MustCompile(`[ \t]+`)
	parts := strings.Split(strings.TrimSpace(w), "…")
	for i, p := range parts {
		parts[i] = blanks.ReplaceAllString(regexp.QuoteMeta(p), `[ \t]+`)
	}
	return regexp.MustCompile(`^\s*` + strings.Join(parts, ".*") + `\s*$`)
}

// checkReferenceBlocks checks the blocks the tour cannot run: each
// bin/tandemctl line, with --help added, must print its usage (an unknown
// command or flag is a usage error), and each flag of a bin/tandemd line
// must be one tandemd --help lists.
func checkReferenceBlocks(t *testing.T, clone string, blocks []*tourBlock) {
	t.Helper()
	assign := regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`)
	for _, b := range blocks {
		if b.kind != "reference" {
			continue
		}
		for i, raw := range strings.Split(strings.TrimRight(b.text, "\n"), "\n") {
			line := strings.TrimSpace(stripComment(raw))
			fields := strings.Fields(line)
			for len(fields) > 0 && assign.MatchString(fields[0]) {
				fields = fields[1:] // VAR=value before the command
			}
			if len(fields) == 0 {
				continue
			}
			where := fmt.Sprintf("README.md:%d", b.line+1+i)
			switch fields[0] {
			case "bin/tandemctl":
				ctx, cancel := context.WithTimeout(context.Background(), waitShort)
				cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-c", strings.Join(fields, " ")+" --help")
				cmd.Dir = clone
				cmd.Env = cleanEnv()
				out, err := cmd.CombinedOutput()
				cancel()
				if err != nil || !strings.Contains(string(out), "\nUsage:\n  tandemctl ") {
					t.Errorf("%s: %q with --help: %v\n%s", where, line, err, out)
				}
			case "bin/tandemd":
				for _, f := range fields[1:] {
					name, isFlag := strings.CutPrefix(f, "--")
					name, _, _ = strings.Cut(name, "=")
					if isFlag && !daemonFlags[name] {
						t.Errorf("%s: tandemd has no flag --%s (tandemd --help)", where, name)
					}
				}
			}
		}
	}
}
