package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestClockSkewAlarm: a follower whose wall clock runs 5 s ahead of the
// others raises the skew alarm in its status, its /metrics and its log;
// the other nodes do not alarm about themselves.
func TestClockSkewAlarm(t *testing.T) {
	nodes := startCluster(t, "c", 3, map[int][]nodeOpt{2: {withArgs("--clock-offset", "5s")}})
	skewed := nodes[2]
	leader := waitLeader(t, nodes, 3)
	if leader == skewed {
		// Keep the skewed node a follower: hand leadership to another.
		nodes[0].ctl("cluster", "transfer-leader", nodes[0].id).ok(t)
		leader = waitLeader(t, nodes, 3)
	}

	waitFor(t, waitShort, skewed.name()+" to raise the clock alarm", func() (bool, string) {
		st, err := skewed.status()
		if err != nil {
			return false, err.Error()
		}
		ms := st.Clock.SkewVsLeaderMS
		if ms < 0 {
			ms = -ms
		}
		return st.Clock.Alarm && ms > 4000 && ms < 6000, fmt.Sprintf("%+v", st.Clock)
	})
	st := skewed.ctlStatus()
	if !st.Clock.Alarm || st.LeaderID == "" || st.LeaderID == skewed.id {
		t.Errorf("tandemctl status on %s: clock %+v, leader %q (want another node, %s)", skewed.name(), st.Clock, st.LeaderID, leader.id)
	}
	if r := skewed.ctl("status").ok(t); !strings.Contains(r.stdout, "ALARM") {
		t.Errorf("tandemctl status (text) on %s does not show the alarm:\n%s", skewed.name(), r.stdout)
	}
	code, body, err := skewed.get("/metrics", false)
	if err != nil || code != http.StatusOK {
		t.Fatalf("/metrics on %s: HTTP %d %v", skewed.name(), code, err)
	}
	if v, ok := metric(string(body), "tandem_clock_skew_alarm"); !ok || v != 1 {
		t.Errorf("/metrics on %s: tandem_clock_skew_alarm = %v (present %v), want 1", skewed.name(), v, ok)
	}
	if v, ok := metric(string(body), "tandem_clock_skew_vs_leader_seconds"); !ok || v > -4 && v < 4 {
		t.Errorf("/metrics on %s: tandem_clock_skew_vs_leader_seconds = %v (present %v), want about ±5", skewed.name(), v, ok)
	}
	waitFor(t, waitShort, "the alarm in "+skewed.name()+"'s log", func() (bool, string) {
		return strings.Contains(skewed.log(), "clock skew against the leader exceeds 2s"), ""
	})

	// The others see the skewed peer but are not themselves skewed against
	// the leader.
	for _, n := range nodes[:2] {
		waitFor(t, waitShort, n.name()+" to measure "+skewed.name()+"'s clock", func() (bool, string) {
			st, err := n.status()
			if err != nil {
				return false, err.Error()
			}
			ms := st.Clock.PeersMS[skewed.id]
			return ms > 4000 && ms < 6000, fmt.Sprintf("%+v", st.Clock)
		})
		st := n.ctlStatus()
		if st.Clock.Alarm || st.Clock.SkewVsLeaderMS > 500 || st.Clock.SkewVsLeaderMS < -500 {
			t.Errorf("%s alarms about itself: clock %+v", n.name(), st.Clock)
		}
		_, body, _ := n.get("/metrics", false)
		if v, ok := metric(string(body), "tandem_clock_skew_alarm"); !ok || v != 0 {
			t.Errorf("/metrics on %s: tandem_clock_skew_alarm = %v (present %v), want 0", n.name(), v, ok)
		}
		if strings.Contains(n.log(), "clock skew against the leader exceeds 2s") {
			t.Errorf("%s logged a skew alarm about itself", n.name())
		}
	}
}
