package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The SNMP tests drive tandemd with net-snmp's own tools (Debian snmp,
// snmptrapd) and libsmi's smilint (smitools). Debian ships no IETF base
// MIBs (SNMPv2-SMI, -TC, -CONF, SNMPv2-MIB): TANDEM_SNMP_MIBS names a
// directory holding them (make test points it at the npm package
// net-snmp's lib/mibs); without it the tests fetch that package once with
// `npm pack` into the user's cache directory.

// snmpMIBPackage is the npm package whose lib/mibs holds the base MIBs.
const snmpMIBPackage = "net-snmp@3.29.2"

// snmpCommunity is the community of every SNMP test cluster.
const snmpCommunity = "e2e-n0c-community"

// snmpTool returns the path of a net-snmp or smitools program, skipping
// the test when it is not installed.
func snmpTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (Debian packages snmp, snmptrapd and smitools; make test installs them): %v", name, err)
	}
	return p
}

var baseMIBs struct {
	sync.Mutex
	dir string
}

// snmpBaseMIBs is the directory of the IETF base MIBs.
func snmpBaseMIBs(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("TANDEM_SNMP_MIBS"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "SNMPv2-SMI.mib")); err != nil {
			t.Fatalf("TANDEM_SNMP_MIBS=%s: %v", d, err)
		}
		return d
	}
	baseMIBs.Lock()
	defer baseMIBs.Unlock()
	if baseMIBs.dir != "" {
		return baseMIBs.dir
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	root := filepath.Join(cache, "tandem-e2e", strings.ReplaceAll(snmpMIBPackage, "@", "-"))
	dir := filepath.Join(root, "package", "lib", "mibs")
	if _, err := os.Stat(filepath.Join(dir, "SNMPv2-SMI.mib")); err == nil {
		baseMIBs.dir = dir
		return dir
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skipf("TANDEM_SNMP_MIBS is not set and npm is not installed to fetch %s's base MIBs: %v", snmpMIBPackage, err)
	}
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(root), "fetch-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pack := exec.CommandContext(ctx, npm, "pack", "--silent", snmpMIBPackage)
	pack.Dir = tmp
	out, err := pack.CombinedOutput()
	if err != nil {
		t.Fatalf("npm pack %s: %v\n%s", snmpMIBPackage, err, out)
	}
	tgz := strings.TrimSpace(string(out))
	if i := strings.LastIndex(tgz, "\n"); i >= 0 {
		tgz = tgz[i+1:]
	}
	if out, err := exec.CommandContext(ctx, "tar", "-xzf", filepath.Join(tmp, tgz), "-C", tmp).CombinedOutput(); err != nil {
		t.Fatalf("unpacking %s: %v\n%s", tgz, err, out)
	}
	os.RemoveAll(root)
	if err := os.Rename(tmp, root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "SNMPv2-SMI.mib")); err != nil {
		t.Fatalf("%s has no SNMPv2-SMI: %v", snmpMIBPackage, err)
	}
	baseMIBs.dir = dir
	return dir
}

// snmpMIBPath is the -M path of the net-snmp tools: the base MIBs and
// the repository's snmp/ (TANDEM-MIB.txt).
func snmpMIBPath(t *testing.T) string {
	t.Helper()
	own, err := filepath.Abs(filepath.Join("..", "..", "snmp"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(own, "TANDEM-MIB.txt")); err != nil {
		t.Fatal(err)
	}
	return snmpBaseMIBs(t) + ":" + own
}

type toolResult struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r toolResult) String() string {
	return fmt.Sprintf("%s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// runTool runs a program with env added, bounded to a minute.
func runTool(env []string, name string, args ...string) toolResult {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cleanEnv(), env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := toolResult{args: append([]string{filepath.Base(name)}, args...), stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		r.code = -1
		r.stderr += "\n(run error: " + err.Error() + ")"
	}
	return r
}

// snmp runs a net-snmp command-line tool (snmpwalk, snmpget, …) against
// addr with TANDEM-MIB loaded (-m +TANDEM-MIB) and the given community.
func snmp(t *testing.T, tool, community, addr string, args ...string) toolResult {
	t.Helper()
	all := append([]string{"-v2c", "-c", community, "-M", snmpMIBPath(t), "-m", "+TANDEM-MIB", "-t", "2", "-r", "1", addr}, args...)
	return runTool(nil, snmpTool(t, tool), all...)
}

// snmpLines parses net-snmp's output, "NAME = TYPE: VALUE", into NAME →
// "TYPE: VALUE" (and fails on any line it cannot read or whose name is
// not resolved to TANDEM-MIB). The end-of-view line of a walk is left out.
func snmpLines(t *testing.T, r toolResult) (map[string]string, []string) {
	t.Helper()
	vals := map[string]string{}
	var order []string
	for _, line := range nonEmptyLines(r.stdout) {
		name, val, ok := strings.Cut(line, " = ")
		if !ok {
			t.Fatalf("unreadable line %q in\n%v", line, r)
		}
		if strings.Contains(val, "No more variables left in this MIB View") {
			continue
		}
		if !strings.HasPrefix(name, "TANDEM-MIB::") {
			t.Fatalf("name not resolved to TANDEM-MIB: %q", line)
		}
		vals[strings.TrimPrefix(name, "TANDEM-MIB::")] = val
		order = append(order, strings.TrimPrefix(name, "TANDEM-MIB::"))
	}
	return vals, order
}

// snmpNode is a test node's SNMP address, with the flags that enable it.
func snmpFlags(addr string, more ...string) []string {
	return append([]string{"--snmp-addr", addr, "--snmp-community", snmpCommunity}, more...)
}

// startSNMPCluster is startCluster with SNMP enabled on every node:
// agent addresses and more flags per node (after the harness's
// --snmp-addr= that disables it, so they win).
func startSNMPCluster(t *testing.T, prefix string, size int, more func(i int) []string) ([]*node, []string) {
	t.Helper()
	nodes := make([]*node, size)
	addrs := make([]string, size)
	for i := range nodes {
		nodes[i] = newNode(t, fmt.Sprintf("%s%d", prefix, i+1))
		addrs[i] = loopback(t)
		var extra []string
		if more != nil {
			extra = more(i)
		}
		nodes[i].extra = append(nodes[i].extra, snmpFlags(addrs[i], extra...)...)
	}
	nodes[0].start()
	waitLeader(t, nodes[:1], 1)
	for _, n := range nodes[1:] {
		n.start("--join", nodes[0].adminAddr)
	}
	waitLeader(t, nodes, size)
	return nodes, addrs
}

// trapReceiver is snmptrapd on a loopback port, logging one line per
// notification ("TRAP <transport> <varbinds, tab-separated>").
type trapReceiver struct {
	addr, log string
	cmd       *exec.Cmd
}

func startTrapReceiver(t *testing.T) *trapReceiver {
	t.Helper()
	return startTrapReceiverConf(t, "")
}

// startTrapReceiverConf is startTrapReceiver with more snmptrapd.conf
// lines (createUser for SNMPv3); each line shows the security of the
// notification (%P: the community, or the SNMPv3 user) after the
// transport.
func startTrapReceiverConf(t *testing.T, more string) *trapReceiver {
	t.Helper()
	bin := snmpTool(t, "snmptrapd")
	dir := t.TempDir()
	conf := filepath.Join(dir, "snmptrapd.conf")
	if err := os.WriteFile(conf, []byte("disableAuthorization yes\n"+more), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &trapReceiver{addr: loopback(t), log: filepath.Join(dir, "traps.log")}
	r.cmd = exec.Command(bin, "-f", "-C", "-c", conf, "-Lf", r.log, "-M", snmpMIBPath(t), "-m", "TANDEM-MIB:SNMPv2-MIB",
		"-F", "TRAP %b %P\t%v\n", "udp:"+r.addr)
	// snmptrapd keeps its engine's state there: not in /var/lib/snmp.
	r.cmd.Env = cleanEnv("SNMP_PERSISTENT_DIR=" + filepath.Join(dir, "persist"))
	out, err := os.Create(filepath.Join(dir, "snmptrapd.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	r.cmd.Stdout, r.cmd.Stderr = out, out
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting snmptrapd: %v", err)
	}
	done := make(chan struct{})
	go func() { r.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(r.log)
			o, _ := os.ReadFile(filepath.Join(dir, "snmptrapd.out"))
			t.Logf("snmptrapd log:\n%s\nsnmptrapd output:\n%s", b, o)
		}
	})
	waitFor(t, waitShort, "snmptrapd to start", func() (bool, string) {
		select {
		case <-done:
			o, _ := os.ReadFile(filepath.Join(dir, "snmptrapd.out"))
			t.Fatalf("snmptrapd exited: %s\n%s", r.cmd.ProcessState, o)
		default:
		}
		b, _ := os.ReadFile(r.log)
		return strings.Contains(string(b), "NET-SNMP version"), string(b)
	})
	return r
}

// trap is one received notification: its name and varbinds by name.
type trap struct {
	name string
	vars map[string]string
	line string
}

// traps returns the notifications logged so far.
func (r *trapReceiver) traps(t *testing.T) []trap {
	t.Helper()
	b, err := os.ReadFile(r.log)
	if err != nil {
		t.Fatal(err)
	}
	var out []trap
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "TRAP ") {
			continue
		}
		tr := trap{vars: map[string]string{}, line: line}
		for _, vb := range strings.Split(line, "\t")[1:] {
			name, val, _ := strings.Cut(vb, " = ")
			tr.vars[name] = val
		}
		tr.name = strings.TrimPrefix(tr.vars["SNMPv2-MIB::snmpTrapOID.0"], "OID: ")
		out = append(out, tr)
	}
	return out
}

// named filters traps by notification name.
func named(ts []trap, name string) []trap {
	var out []trap
	for _, tr := range ts {
		if tr.name == name {
			out = append(out, tr)
		}
	}
	return out
}
