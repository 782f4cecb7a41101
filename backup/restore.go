package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
)

// RestoreRequest is an offline restore (`tandemctl backup restore`).
type RestoreRequest struct {
	// From is one backup's directory, or a backup directory holding
	// several (the newest full backup there is restored).
	From string
	// DataDir is the node's data directory to write: new or empty.
	DataDir string
	// Replace takes the identity of the node the backup is of, to rejoin
	// its cluster; otherwise the node starts a new one-node cluster.
	Replace bool
	// NoIncremental restores a full backup alone although incrementals
	// of it are beside it.
	NoIncremental bool
	// Key decrypts an encrypted backup.
	Key *Key
	// NodeID and RaftAddr, for a new cluster, override the backup's node
	// identity ("" keeps it).
	NodeID, RaftAddr string
	// Node is the node whose newest full backup From (a directory of
	// several) names; "" is any node's.
	Node string
	// Engine returns fresh machines, control machines and gate, those
	// tandemd runs: the backup is replayed through them.
	Engine func() (machines, control []cluster.Machine, gate cluster.Gate)
	// Progress, when set, hears what the restore is doing.
	Progress func(phase string, done, total int64)
}

// Plan is what a restore will do, checked before anything is read in
// full or written.
type Plan struct {
	Full        *Manifest
	FullDir     string
	Incremental *Manifest // nil: the full backup alone
	IncrDir     string
	// Skipped are incrementals of the full that are not restored (older
	// ones, or all with NoIncremental).
	Skipped  []string
	NodeID   string
	RaftAddr string
	Replace  bool
	DataDir  string
}

// Index is the index the restored node's state will be at.
func (p *Plan) Index() uint64 {
	if p.Incremental != nil {
		return p.Incremental.Index
	}
	return p.Full.Index
}

// Describe is the plan in one paragraph, for the confirmation.
func (p *Plan) Describe() string {
	s := fmt.Sprintf("restore full backup %s (node %s, index %d, %s)", p.Full.ID, p.Full.Node.ID, p.Full.Index, p.Full.Time.Format(time.RFC3339))
	if p.Incremental != nil {
		s += fmt.Sprintf(" + incremental %s (index %d, %s)", p.Incremental.ID, p.Incremental.Index, p.Incremental.Time.Format(time.RFC3339))
	}
	s += " into " + p.DataDir
	if p.Replace {
		s += fmt.Sprintf(", as node %s of its cluster (it rejoins at %s)", p.NodeID, p.RaftAddr)
	} else {
		s += fmt.Sprintf(", as node %s of a new one-node cluster (raft address %s)", p.NodeID, p.RaftAddr)
	}
	return s
}

// WithoutIncremental is p restoring the full backup alone.
func (p *Plan) WithoutIncremental() {
	if p.Incremental != nil {
		p.Skipped = append(p.Skipped, p.Incremental.ID)
		p.Incremental, p.IncrDir = nil, ""
	}
}

// PlanRestore resolves what req restores and refuses, with one line and
// before anything is written, a target that is not empty, an incremental
// without its full backup, a format newer than this build reads, and a
// key that is not the backup's.
func PlanRestore(req RestoreRequest) (*Plan, error) {
	if req.DataDir == "" {
		return nil, errors.New("restore needs --data-dir")
	}
	if err := checkEmpty(req.DataDir); err != nil {
		return nil, err
	}
	p := &Plan{DataDir: req.DataDir, Replace: req.Replace}
	from := filepath.Clean(req.From)
	if exists(filepath.Join(from, manifestName)) {
		m, err := readManifest(from)
		if err != nil {
			return nil, err
		}
		if m.Level == Incremental {
			base, err := baseOf(filepath.Dir(from), m)
			if err != nil {
				return nil, err
			}
			p.Full, p.FullDir = base, filepath.Join(filepath.Dir(from), base.ID)
			p.Incremental, p.IncrDir = m, from
		} else {
			p.Full, p.FullDir = m, from
		}
	} else {
		l, err := List(from)
		if err != nil {
			return nil, err
		}
		for i := len(l.Chains) - 1; i >= 0; i-- {
			if req.Node == "" || l.Chains[i].Full.Node.ID == req.Node {
				m := l.Chains[i].Full.Manifest
				p.Full, p.FullDir = &m, l.Chains[i].Full.Dir
				break
			}
		}
		if p.Full == nil {
			what := "no full backup"
			if req.Node != "" {
				what += " of node " + req.Node
			}
			if len(l.Orphans) > 0 {
				return nil, fmt.Errorf("%s in %s (only incrementals without their full backup): restore refused", what, from)
			}
			return nil, fmt.Errorf("%s in %s", what, from)
		}
	}
	if p.Incremental == nil {
		// The latest incremental of the full beside it, unless refused.
		l, err := List(filepath.Dir(p.FullDir))
		if err == nil {
			for _, c := range l.Chains {
				if c.Full.ID != p.Full.ID {
					continue
				}
				for _, e := range c.Incrementals {
					p.Skipped = append(p.Skipped, e.ID)
				}
				if n := len(c.Incrementals); n > 0 && !req.NoIncremental {
					m := c.Incrementals[n-1].Manifest
					p.Incremental, p.IncrDir = &m, c.Incrementals[n-1].Dir
					p.Skipped = p.Skipped[:n-1]
				}
			}
		}
	}
	for _, m := range []*Manifest{p.Full, p.Incremental} {
		if m == nil {
			continue
		}
		if m.CommandVersion > command.CurrentVersion {
			return nil, fmt.Errorf("backup %s holds commands of version %d; this build reads up to %d: restore it with a newer tandemctl", m.ID, m.CommandVersion, command.CurrentVersion)
		}
		if err := req.Key.matches(m); err != nil {
			return nil, err
		}
		if m.Encryption != EncNone && !req.Key.CanDecrypt() {
			return nil, fmt.Errorf("backup %s is encrypted and key file %s holds only its public key: give the identity (AGE-SECRET-KEY-…)", m.ID, req.Key.path)
		}
	}
	p.NodeID, p.RaftAddr = p.Full.Node.ID, p.Full.Node.RaftAddr
	if req.Replace {
		if req.NodeID != "" && req.NodeID != p.NodeID {
			return nil, fmt.Errorf("--replace restores node %s of the backup; it cannot take another --node-id (%s)", p.NodeID, req.NodeID)
		}
		if req.RaftAddr != "" && req.RaftAddr != p.RaftAddr {
			return nil, fmt.Errorf("--replace keeps the raft address %s the cluster knows node %s by; it cannot take --raft-addr %s", p.RaftAddr, p.NodeID, req.RaftAddr)
		}
		member := false
		for _, mb := range p.last().Cluster.Members {
			member = member || mb.ID == p.NodeID
		}
		if !member {
			return nil, fmt.Errorf("--replace: node %s was not a member of its cluster at the backup's index; restore it as a new cluster, or join a fresh node", p.NodeID)
		}
	} else {
		if req.NodeID != "" {
			p.NodeID = req.NodeID
		}
		if req.RaftAddr != "" {
			p.RaftAddr = req.RaftAddr
		}
	}
	if p.RaftAddr == "" {
		return nil, fmt.Errorf("backup %s does not record node %s's raft address: give --raft-addr", p.Full.ID, p.NodeID)
	}
	return p, nil
}

func (p *Plan) last() *Manifest {
	if p.Incremental != nil {
		return p.Incremental
	}
	return p.Full
}

// checkEmpty refuses a data directory that exists and holds anything
// but the node's SNMP engine file (which a restore keeps:
// snmpengine.go).
func checkEmpty(dir string) error {
	des, err := os.ReadDir(dir)
	if len(des) == 1 && des[0].Name() == snmpEngineFile && des[0].Type().IsRegular() {
		des = nil
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("reading --data-dir %s: %w", dir, err)
	case len(des) > 0:
		return fmt.Errorf("--data-dir %s is not empty: a restore writes only into a new or empty directory (nothing changed)", dir)
	}
	return nil
}

// Restored is what a restore wrote.
type Restored struct {
	Index, Term uint64
	NodeID      string
	RaftAddr    string
	Members     []cluster.Member
	Hashes      map[string]string
	// Checked are the indexes where the replay reproduced the node's own
	// snapshot document (an incremental's checkpoint).
	Checked []uint64
	// SNMPEngine says which SNMP engine file the data dir holds ("":
	// none, tandemd makes one).
	SNMPEngine string
}

// Restore carries out p: it reads and checks every file (checksums,
// decryption, decoding), replays the full backup and the incremental
// through fresh machines, checks that the state reached hashes as the
// backup recorded at its index, and only then writes the data directory
// (into a temporary directory beside it, renamed into place). On any
// error nothing is left behind.
func Restore(ctx context.Context, p *Plan, req RestoreRequest) (*Restored, error) {
	say := func(phase string, done, total int64) {
		if req.Progress != nil {
			req.Progress(phase, done, total)
		}
	}
	if err := checkEmpty(p.DataDir); err != nil {
		return nil, err
	}
	machines, control, gate := req.Engine()
	have := cluster.SectionVersions(append(append([]cluster.Machine(nil), machines...), control...))
	for name, v := range p.Full.Sections {
		if mine, ok := have[name]; !ok || v > mine {
			return nil, fmt.Errorf("backup %s holds section %s version %d; this build reads %s: restore it with a newer tandemctl", p.Full.ID, name, v, versionText(mine, ok))
		}
	}
	id, err := readIdentity(p.FullDir, p.Full, req.Key)
	if err != nil {
		return nil, err
	}
	f, _ := p.Full.file(stateName)
	say("reading full backup "+p.Full.ID, 0, f.RawSize)
	var state bytes.Buffer
	state.Grow(int(min(f.RawSize, 1<<30))) // a hint: the manifest is not trusted with memory
	err = readFile(p.FullDir, p.Full.ID, f, req.Key, func(r io.Reader) error {
		_, err := io.Copy(&state, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	say("reading full backup "+p.Full.ID, f.RawSize, f.RawSize)
	in := cluster.RebuildInput{State: state.Bytes(), Index: p.Full.SnapshotIndex, Term: p.Full.SnapshotTerm,
		Members: p.Full.SnapshotMembers, Machines: machines, Control: control, Gate: gate}
	want := p.Full
	tail, _ := p.Full.file(tailName)
	total := int64(p.Full.Tail)
	if p.Incremental != nil {
		want = p.Incremental
		total += int64(p.Incremental.Entries)
	}
	in.Entries = func(fn func(cluster.LogEntry) error) error {
		var done int64
		count := func(e cluster.LogEntry) error {
			if done++; done%1024 == 0 {
				say("replaying the log", done, total)
			}
			return fn(e)
		}
		err := readFile(p.FullDir, p.Full.ID, tail, req.Key, func(r io.Reader) error {
			return checkEntries(ctx, r, p.Full.SnapshotIndex, p.Full.Index, count)
		})
		if err != nil || p.Incremental == nil {
			return err
		}
		inc := p.Incremental
		lf, _ := inc.file(logName)
		return readFile(p.IncrDir, inc.ID, lf, req.Key, func(r io.Reader) error {
			return checkEntries(ctx, r, inc.BaseIndex, inc.Index, count)
		})
	}
	if !p.Replace {
		in.KeepOnly, in.KeepOnlyAddr = p.NodeID, p.RaftAddr
	}
	var cp *Checkpoint
	if p.Incremental != nil && p.Incremental.Checkpoint != nil {
		cp = p.Incremental.Checkpoint
		in.Checkpoints = map[uint64]string{cp.Index: cp.SHA256}
	}
	say("replaying", 0, 0)
	rb, err := cluster.Rebuild(ctx, in)
	if errors.Is(err, cluster.ErrReplayDiffers) {
		return nil, fmt.Errorf("backup %s: %v: restore refused (damaged, or replayed by a build that applies differently)", want.ID, err)
	}
	if err != nil {
		return nil, err
	}
	if cp != nil && (len(rb.Checked) != 1 || rb.Checked[0] != cp.Index) {
		return nil, fmt.Errorf("backup %s: the replay never reached its checkpoint at index %d: restore refused", want.ID, cp.Index)
	}
	if rb.Index != want.Index || rb.Term != want.Term {
		return nil, fmt.Errorf("the restored state is at index %d term %d, backup %s at index %d term %d", rb.Index, rb.Term, want.ID, want.Index, want.Term)
	}
	for name, h := range want.StateHashes {
		if rb.Hashes[name] != h {
			return nil, fmt.Errorf("the restored %s state differs from the one backup %s recorded at index %d: restore refused", name, want.ID, want.Index)
		}
	}
	node := cluster.RestoredNode{ID: p.NodeID, Members: rb.Members, Files: map[string][]byte{}}
	if !p.Replace {
		node.Members = []cluster.Member{{ID: p.NodeID, Address: p.RaftAddr, Suffrage: "voter"}}
	}
	if id.AdminToken != "" {
		node.Files["admin.token"] = []byte(id.AdminToken + "\n")
	}
	eng, engSay, err := restoredSNMPEngine(p.DataDir, id.SNMPEngine, p.Replace)
	if err != nil {
		return nil, err
	}
	if eng != nil {
		node.Files[snmpEngineFile] = eng
	}
	say("writing "+p.DataDir, 0, 0)
	tmp := filepath.Clean(p.DataDir) + ".restoring-" + strconv.Itoa(os.Getpid())
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("clearing %s: %w", tmp, err)
	}
	if err := cluster.WriteDataDir(tmp, rb, node); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("writing the restored data directory: %w", err)
	}
	if err := moveInto(tmp, p.DataDir); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	return &Restored{Index: rb.Index, Term: rb.Term, NodeID: p.NodeID, RaftAddr: p.RaftAddr, Members: node.Members, Hashes: rb.Hashes,
		Checked: rb.Checked, SNMPEngine: engSay}, nil
}

func versionText(v int, ok bool) string {
	if !ok {
		return "no such section"
	}
	return "up to version " + strconv.Itoa(v)
}

// moveInto makes tmp the directory dir: a rename when dir does not
// exist or is empty (rename(2) replaces an empty directory), else its
// entries one by one (dir may be a mount point).
func moveInto(tmp, dir string) error {
	if err := os.Rename(tmp, dir); err == nil {
		return syncDir(filepath.Dir(filepath.Clean(dir)))
	}
	if err := checkEmpty(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	des, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, de := range des {
		if err := os.Rename(filepath.Join(tmp, de.Name()), filepath.Join(dir, de.Name())); err != nil {
			return fmt.Errorf("moving the restored %s into %s: %w", de.Name(), dir, err)
		}
	}
	if err := os.Remove(tmp); err != nil {
		return err
	}
	return syncDir(dir)
}
