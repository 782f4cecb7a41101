package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// amplifiedConfig is the document of issue 12.2: an anchored 1 MiB
// string and 999 aliases of it. About 1 MiB of text; expanded (decoded,
// then encoded as the config.apply command) it would be about 1 GiB, and
// the node used about 3 GiB for it before aliases were refused.
func amplifiedConfig() string {
	var b strings.Builder
	b.WriteString("queues:\n  - id: q1\n    name: &big ")
	b.WriteString(strings.Repeat("x", 1<<20))
	b.WriteString("\nagents:\n")
	for i := 0; i < 999; i++ {
		fmt.Fprintf(&b, "  - {id: a%d, name: *big}\n", i)
	}
	return b.String()
}

// vmHWM is the peak resident set of process pid, in bytes (the VmHWM
// line of /proc/<pid>/status).
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("reading the peak memory of tandemd (pid %d): %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v) // "123456 kB"
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil || len(f) != 2 || f[1] != "kB" {
				t.Fatalf("VmHWM line %q", line)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// TestHostileConfig: a real tandemd answers the amplified document of
// issue 12.2 at once with a 400 and one line (YAML aliases are refused
// before anything is decoded), its peak resident set stays small, it
// keeps answering /healthz and applying good documents; tandemctl refuses
// the file the same way before sending it; a name with a bidirectional
// override is refused naming its field.
func TestHostileConfig(t *testing.T) {
	besideTheBurst(t)
	n := newNode(t, "hc1")
	n.start()
	waitLeader(t, []*node{n}, 1)
	pid := n.current().cmd.Process.Pid
	before := vmHWM(t, pid)

	doc := amplifiedConfig()
	start := time.Now()
	code, body, err := n.do(http.MethodPost, "/v1/config", true, []byte(doc), "application/yaml")
	took := time.Since(start)
	var e struct{ Code, Message, Field string }
	if err != nil {
		t.Errorf("POST /v1/config of the amplified document: %v after %v (the node: %s)", err, took.Round(time.Millisecond), n.exitText())
	} else if code != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Code != "bad_request" ||
		!strings.Contains(e.Message, "YAML aliases (*name) are not accepted") || strings.ContainsAny(e.Message, "\r\n") || len(e.Message) > 200 {
		t.Errorf("POST of the amplified document (%d KiB): HTTP %d %.300s; want 400 bad_request, one short line refusing the aliases", len(doc)>>10, code, body)
	}
	peak := vmHWM(t, pid)
	t.Logf("amplified document of %d KiB: HTTP %d in %v, %q; tandemd VmHWM %d MiB before, %d MiB after",
		len(doc)>>10, code, took.Round(time.Millisecond), e.Message, before>>20, peak>>20)
	if took > 5*time.Second {
		t.Errorf("the refusal took %v", took)
	}
	if peak > 200<<20 {
		t.Errorf("tandemd's peak resident set is %d MiB after the document (%d MiB before); want under 200 MiB", peak>>20, before>>20)
	}
	if code, _, err := n.get("/healthz", false); err != nil || code != http.StatusOK {
		t.Fatalf("/healthz after the document: %d %v (the node: %s)", code, err, n.exitText())
	}

	// tandemctl checks the file itself first: the same one line, nothing
	// sent.
	r := n.apply(doc)
	if lines := nonEmptyLines(r.stderr); r.code == 0 || len(lines) != 1 || !strings.Contains(lines[0], "YAML aliases (*name) are not accepted") {
		t.Errorf("tandemctl apply of the amplified document: %v; want a non-zero exit and one line refusing the aliases", r)
	}

	// A bidirectional override in a name is refused naming the field.
	code, body, err = n.do(http.MethodPost, "/v1/config", true, []byte("queues:\n  - {id: q1, name: \"Sales\\u202eexe.pdf\"}\n"), "application/yaml")
	if err != nil || code != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Field != "queues[0].name" || !strings.Contains(e.Message, "U+202E") {
		t.Errorf("bidi override in a queue name: HTTP %d %s %v; want 400 naming queues[0].name", code, body, err)
	}

	// The node still works.
	n.apply("queues:\n  - {id: q1, name: Sales, strategy: ring-all}\nagents:\n  - {id: a1, name: Ann, queues: [q1]}\n").ok(t)
	if got := n.mustConfig("linearizable"); !strings.Contains(got, `"Sales"`) || !strings.Contains(got, `"Ann"`) {
		t.Errorf("configuration after the good apply: %s", got)
	}
	if final := vmHWM(t, pid); final > 200<<20 {
		t.Errorf("tandemd's peak resident set reached %d MiB", final>>20)
	}
}
