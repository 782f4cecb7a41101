package cluster

import (
	"sort"
	"sync"
	"time"
)

// lagAfter is how long a member may take to apply what this node saw
// committed, and how long it must stay that far behind, before it is shown
// lagging. A healthy follower applies within milliseconds, and a restarted
// one replays its log in a second or two; one that answers but stays
// behind what was committed lagAfter before is not a full replica: it is
// catching up (from a snapshot install, a long outage), short of disk
// space, or no longer sent entries (hashicorp/raft#611; pipeline.go fixes
// one cause).
const lagAfter = 5 * time.Second

// lagWatch follows how far each member's applied index trails this node's
// commit index. Its clock is the monotonic time of the samples (status
// only: nothing here reaches the engine).
type lagWatch struct {
	mu      sync.Mutex
	commits []commitSample       // this node's commit index, oldest first
	applied map[string]appliedAt // each member's last reported applied index
	behind  map[string]time.Time // members behind, since the report that first found it
	since   map[string]time.Time // members lagging, and since when
}

type commitSample struct {
	at    time.Time
	index uint64
}

type appliedAt struct {
	at    time.Time
	index uint64
}

// keepCommits bounds the commit samples kept (one a second).
const keepCommits = 64

func newLagWatch() *lagWatch {
	return &lagWatch{applied: map[string]appliedAt{}, behind: map[string]time.Time{}, since: map[string]time.Time{}}
}

// noteCommit records this node's commit index at t.
func (l *lagWatch) noteCommit(t time.Time, index uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.commits = append(l.commits, commitSample{t, index})
	if n := len(l.commits); n > keepCommits {
		l.commits = append(l.commits[:0], l.commits[n-keepCommits:]...)
	}
}

// noteApplied records member id's applied index, read at t.
func (l *lagWatch) noteApplied(id string, t time.Time, index uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.applied[id] = appliedAt{t, index}
}

// committedBy is the latest commit sample taken at or before t.
func (l *lagWatch) committedBy(t time.Time) (commitSample, bool) {
	i := sort.Search(len(l.commits), func(i int) bool { return l.commits[i].at.After(t) })
	if i == 0 {
		return commitSample{}, false
	}
	return l.commits[i-1], true
}

// lagChange is a member that started or stopped lagging.
type lagChange struct {
	id      string
	lagging bool
	applied uint64
	commit  uint64 // what this node had committed lagAfter before
}

// judge decides, for the members in up (those that answered recently),
// which lag. A member is behind when the applied index it reported is below
// what this node had committed lagAfter before that report, and lags once
// its reports have found it behind for lagAfter without a break. A member
// not in up is forgotten (it shows as down, not lagging). It returns the
// members whose state changed.
func (l *lagWatch) judge(now time.Time, up map[string]bool) []lagChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []lagChange
	for id, a := range l.applied {
		c, known := l.committedBy(a.at.Add(-lagAfter))
		if !up[id] || !known || a.index >= c.index {
			delete(l.behind, id)
		} else if _, ok := l.behind[id]; !ok {
			l.behind[id] = a.at
		}
		first, behind := l.behind[id]
		lagging := behind && a.at.Sub(first) >= lagAfter
		_, was := l.since[id]
		switch {
		case lagging && !was:
			l.since[id] = now
			out = append(out, lagChange{id: id, lagging: true, applied: a.index, commit: c.index})
		case !lagging && was:
			delete(l.since, id)
			if up[id] { // one that went down did not catch up
				out = append(out, lagChange{id: id, applied: a.index})
			}
		}
		if !up[id] {
			delete(l.applied, id)
			delete(l.behind, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// member is what status shows of member id: the applied index it last
// reported (0: none) and, while it lags, since when.
func (l *lagWatch) member(id string) (applied uint64, lagSince time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.applied[id].index, l.since[id]
}

// lagging lists the members lagging now.
func (l *lagWatch) lagging() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.since))
	for id := range l.since {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
