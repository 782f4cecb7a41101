package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSNMPBufferTraps: with a real PostgreSQL reporting target down and a
// 1 MiB replication buffer filling, snmptrapd receives
// tandemReplBufferThreshold at 50, 75 and 95 % (each with the level and
// the percentage), then tandemReplAutoStopped for reporting; the buffer
// percentage and the target's state are in the MIB.
func TestSNMPBufferTraps(t *testing.T) {
	besideTheBurst(t)
	snmpTool(t, "snmpget")
	recv := startTrapReceiver(t)
	db := startReplDB(t, "snmptraps")
	n := newNode(t, "bt", replReportingArgs(db, "--replication-buffer-size", "1MiB"))
	addr := loopback(t)
	n.extra = append(n.extra, snmpFlags(addr, "--snmp-trap-to", recv.addr, "--snmp-trap-profile", "noc")...)
	n.start()
	waitLeader(t, []*node{n}, 1)
	l := newReplLedger()
	l.applyDoc(t, n, replDoc("warm", 1, 5, 20))
	l.waitReported(t, db, waitReplDrain, []string{n.id})
	st := n.waitRepl(waitShort, "empty buffer", func(s replStatus) bool {
		return s.reporting().BacklogEvents == 0 && s.Level == "normal"
	})

	db.srv.Stop(t)
	// Fill in steps sized to land a little past each threshold, so that
	// every level is its own.
	perContact := 0.0
	for step := 0; st.reporting().State != "auto-stopped"; step++ {
		if step > 40 {
			t.Fatalf("buffer never reached 95 %% after %d applies; last status %v", step, st)
		}
		p := st.BufferPercent
		count := 100
		if perContact > 0 {
			next := 50.0
			switch {
			case p >= 75:
				next = 95
			case p >= 50:
				next = 75
			}
			count = max(int(min(next-p+1.5, 15)/perContact), 1)
		}
		l.applyDoc(t, n, replDoc(fmt.Sprintf("f%02d", step), 0, count, 128))
		st = n.waitRepl(waitShort, "the fill judged", func(s replStatus) bool {
			return s.reporting().State == "auto-stopped" || s.BufferPercent > p && s.Level == bufferLevel(s.BufferPercent)
		})
		if perContact == 0 {
			perContact = (st.BufferPercent - p) / float64(count)
		}
	}

	levels := map[string]trap{}
	waitFor(t, waitCluster, "tandemReplBufferThreshold at 50, 75, 95 % and tandemReplAutoStopped", func() (bool, string) {
		for _, tr := range named(recv.traps(t), "TANDEM-MIB::tandemReplBufferThreshold") {
			levels[tr.vars["TANDEM-MIB::tandemReplAlarmLevel.0"]] = tr
		}
		stopped := named(recv.traps(t), "TANDEM-MIB::tandemReplAutoStopped")
		return len(levels) >= 3 && len(stopped) == 1, fmt.Sprintf("levels %d, auto-stops %d", len(levels), len(stopped))
	})
	for lv, min := range map[string]float64{"INTEGER: level50(2)": 50, "INTEGER: level75(3)": 75, "INTEGER: level95(4)": 95} {
		tr, ok := levels[lv]
		if !ok {
			t.Errorf("no tandemReplBufferThreshold with %s: %v", lv, levels)
			continue
		}
		var pct float64
		if _, err := fmt.Sscanf(tr.vars["TANDEM-MIB::tandemReplBufferPercent.0"], "Gauge32: %g", &pct); err != nil || pct < min || pct > 100 {
			t.Errorf("%s: tandemReplBufferPercent %q\n%s", lv, tr.vars["TANDEM-MIB::tandemReplBufferPercent.0"], tr.line)
		}
		if !strings.Contains(tr.vars["TANDEM-MIB::tandemNotifyMessage.0"], "%") {
			t.Errorf("%s: message %q", lv, tr.vars["TANDEM-MIB::tandemNotifyMessage.0"])
		}
	}
	stop := named(recv.traps(t), "TANDEM-MIB::tandemReplAutoStopped")[0]
	if stop.vars["TANDEM-MIB::tandemReplTargetState.reporting"] != "INTEGER: autoStopped(5)" {
		t.Errorf("tandemReplAutoStopped: %s", stop.line)
	}
	time.Sleep(2 * time.Second) // room for a duplicate
	if n := len(named(recv.traps(t), "TANDEM-MIB::tandemReplAutoStopped")); n != 1 {
		t.Errorf("%d tandemReplAutoStopped, want 1", n)
	}
	vals, _ := snmpLines(t, snmp(t, "snmpget", snmpCommunity, addr, "TANDEM-MIB::tandemReplTargetState.reporting",
		"TANDEM-MIB::tandemReplAlarmLevel.0"))
	if vals["tandemReplTargetState.reporting"] != "INTEGER: autoStopped(5)" || vals["tandemReplAlarmLevel.0"] != "INTEGER: level95(4)" {
		t.Errorf("MIB after the auto-stop: %v", vals)
	}
}

// bufferLevel is the alarm level of a fill percentage.
func bufferLevel(p float64) string {
	switch {
	case p >= 95:
		return "95"
	case p >= 75:
		return "75"
	case p >= 50:
		return "50"
	}
	return "normal"
}
