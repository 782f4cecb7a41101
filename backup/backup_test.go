package backup

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

func restoreReq(from, dataDir string, key *Key) RestoreRequest {
	return RestoreRequest{From: from, DataDir: dataDir, Key: key, Engine: testEngine}
}

func restore(t *testing.T, req RestoreRequest) (*Plan, *Restored) {
	t.Helper()
	p, err := PlanRestore(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Restore(ctx, p, req)
	if err != nil {
		t.Fatal(err)
	}
	return p, r
}

// A full backup, more commands, an incremental; the node is gone; the
// restore of full + incremental into a new directory starts as a
// one-node cluster whose engine hashes exactly as at the incremental's
// index — the running engine's hash there. Restoring the full alone
// gives the state at its index.
func TestFullIncrementalRestore(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "age"}[encrypted], func(t *testing.T) {
			var key *Key
			if encrypted {
				key = newX25519Key(t)
			}
			n := startNode(t, t.TempDir(), freeAddr(t), "n1", quietTiming)
			bdir := t.TempDir()
			m := n.manager(bdir, key, 0, &steppingClock{t: time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)})
			n.configure(0, 5)
			atFull := n.eng.Hash()
			full := take(t, m, Full)
			n.configure(5, 12)
			n.noops(20)
			atIncr := n.eng.Hash()
			incr := take(t, m, Incremental)
			if incr.Level != Incremental || incr.Index <= full.Index {
				t.Fatalf("incremental %+v after full %+v", incr, full)
			}
			fm, _ := readManifest(filepath.Join(bdir, full.ID))
			im, _ := readManifest(filepath.Join(bdir, incr.ID))
			if im.Source != SourceJournal || len(im.StateHashes) != 0 {
				t.Fatalf("incremental from %q with hashes %v: want the journal's, nothing encoded", im.Source, im.StateHashes)
			}
			if fm.SnapshotIndex == 0 || fm.Tail != fm.Index-fm.SnapshotIndex {
				t.Fatalf("full manifest: snapshot at %d, %d entries after it, index %d", fm.SnapshotIndex, fm.Tail, fm.Index)
			}
			if im.Base != full.ID || im.Entries != im.Index-fm.Index || im.Size >= fm.Size {
				t.Errorf("incremental manifest %+v (full size %d)", im, fm.Size)
			}
			if encrypted && (fm.Encryption != EncX25519 || fm.Recipient != key.Recipient()) {
				t.Errorf("encryption %s to %s", fm.Encryption, fm.Recipient)
			}
			for _, id := range []string{full.ID, incr.ID} {
				if _, err := m.Verify(context.Background(), id); err != nil {
					t.Fatalf("verify %s: %v", id, err)
				}
			}
			n.close()

			// Full + incremental, found beside the full.
			target := filepath.Join(t.TempDir(), "restored")
			p, r := restore(t, restoreReq(filepath.Join(bdir, full.ID), target, key))
			if p.Incremental == nil || p.Incremental.ID != incr.ID || r.Index != incr.Index {
				t.Fatalf("plan %s, restored at %d", p.Describe(), r.Index)
			}
			back := startNode(t, target, r.RaftAddr, "n1", quietTiming)
			if got := back.eng.Hash(); got != atIncr {
				t.Fatalf("restored engine hash %s, want %s", got, atIncr)
			}
			if got := back.st.AppliedIndex(); got < incr.Index {
				t.Fatalf("restored node applied %d, want ≥ %d", got, incr.Index)
			}
			if st := back.st.Status(); len(st.Nodes) != 1 || st.Nodes[0].ID != "n1" {
				t.Fatalf("restored cluster members %+v", st.Nodes)
			}
			back.noops(1) // it serves writes
			back.close()

			// The full alone.
			target2 := filepath.Join(t.TempDir(), "full-only")
			req := restoreReq(filepath.Join(bdir, full.ID), target2, key)
			req.NoIncremental = true
			_, r2 := restore(t, req)
			if r2.Index != full.Index || r2.Hashes["contactcenter"] != atFull {
				t.Fatalf("full only: index %d hash %s, want %d %s", r2.Index, r2.Hashes["contactcenter"], full.Index, atFull)
			}
		})
	}
}

// Refusals change nothing: each is one line, and the target directory
// is left as it was (absent, or holding what it held).
func TestRestoreRefusals(t *testing.T) {
	key := newX25519Key(t)
	n := startNode(t, t.TempDir(), freeAddr(t), "n1", quietTiming)
	clean := t.TempDir()
	m := n.manager(clean, key, 0, &steppingClock{t: time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)})
	n.configure(0, 3)
	full := take(t, m, Full)
	n.configure(3, 6)
	incr := take(t, m, Incremental)
	n.close()

	tests := []struct {
		name    string
		damage  func(dir string) // on a copy of the backup directory
		from    string           // backup ID (default: the incremental)
		key     func() *Key
		target  func(t *testing.T) string
		verify  string // the ID Verify must refuse ("" = none)
		wantErr string
	}{
		{name: "flipped byte in the state", damage: func(d string) { flip(t, filepath.Join(d, full.ID, stateName+ageSuffix), 100) },
			verify: full.ID, wantErr: "does not match its checksum"},
		{name: "flipped byte in the manifest", damage: func(d string) { flip(t, filepath.Join(d, incr.ID, manifestName), 30) },
			verify: incr.ID, wantErr: "does not match its checksum"},
		{name: "truncated tail of the full", damage: func(d string) { truncate(t, filepath.Join(d, full.ID, tailName+ageSuffix)) },
			verify: full.ID, wantErr: "does not match its checksum"},
		{name: "truncated log", damage: func(d string) { truncate(t, filepath.Join(d, incr.ID, logName+ageSuffix)) },
			verify: incr.ID, wantErr: "does not match its checksum"},
		{name: "removed full", damage: func(d string) { os.RemoveAll(filepath.Join(d, full.ID)) },
			verify: incr.ID, wantErr: "needs full backup " + full.ID + ", which is not in"},
		{name: "wrong key", key: func() *Key { return newX25519Key(t) }, verify: incr.ID, wantErr: "wrong key"},
		{name: "no key", key: func() *Key { return nil }, verify: full.ID, wantErr: "is encrypted (age-x25519): give its key file"},
		{name: "passphrase for an X25519 backup", key: func() *Key { return passphraseKey(t, "correct horse battery staple") },
			wantErr: "wrong key"},
		{name: "future format", damage: func(d string) {
			rewriteManifest(t, filepath.Join(d, incr.ID), func(m *Manifest) { m.Format = Format + 1 })
		},
			verify: incr.ID, wantErr: "is format 2; this build reads formats 1 to 1"},
		{name: "newer section", damage: func(d string) {
			rewriteManifest(t, filepath.Join(d, full.ID), func(m *Manifest) { m.Sections["contactcenter"] = 99 })
		}, wantErr: "holds section contactcenter version 99"},
		{name: "non-empty target", target: func(t *testing.T) string {
			d := t.TempDir()
			os.WriteFile(filepath.Join(d, "keep.txt"), []byte("mine"), 0o600)
			return d
		}, wantErr: "is not empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, clean, dir)
			if tt.damage != nil {
				tt.damage(dir)
			}
			k := key
			if tt.key != nil {
				k = tt.key()
			}
			target := filepath.Join(t.TempDir(), "data")
			if tt.target != nil {
				target = tt.target(t)
			}
			before := listTree(t, target)
			from := incr.ID
			if tt.from != "" {
				from = tt.from
			}
			req := restoreReq(filepath.Join(dir, from), target, k)
			p, err := PlanRestore(req)
			if err == nil {
				_, err = Restore(context.Background(), p, req)
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("restore: %v, want an error with %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if after := listTree(t, target); after != before {
				t.Errorf("target changed: before %q, after %q", before, after)
			}
			if left, _ := filepath.Glob(target + ".restoring-*"); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
			if tt.verify != "" {
				if _, err := Verify(context.Background(), dir, tt.verify, k); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("verify %s: %v, want an error with %q", tt.verify, err, tt.wantErr)
				}
			}
		})
	}
}

// Without the journal, an incremental whose base the log no longer holds
// (a snapshot compacted it) is taken as a full backup instead, and says
// so (journal_test.go has the journal's side).
func TestIncrementalFallsBackWhenCompacted(t *testing.T) {
	timing := quietTiming
	timing.SnapshotThreshold = 16 // 16 trailing entries kept
	n := startNodeJournal(t, t.TempDir(), freeAddr(t), "n1", timing, false)
	bdir := t.TempDir()
	m := n.manager(bdir, nil, 0, &steppingClock{t: time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)})
	n.configure(0, 2)
	take(t, m, Full)
	n.noops(60)
	if _, err := n.st.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := take(t, m, Incremental)
	if r.Level != Full || !strings.Contains(r.Note, "the log was compacted past index") {
		t.Fatalf("result %+v, want a full backup noting the compaction", r)
	}
	man, err := readManifest(filepath.Join(bdir, r.ID))
	if err != nil || man.Note != r.Note {
		t.Fatalf("manifest note %q, %v", man.Note, err)
	}
	// And the next incremental applies to that full.
	n.noops(3)
	r2 := take(t, m, Incremental)
	if r2.Level != Incremental {
		t.Fatalf("after the fall-back full: %+v", r2)
	}
	// Without any full, an incremental is a full too.
	m2 := n.manager(t.TempDir(), nil, 0, &steppingClock{t: time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)})
	if r := take(t, m2, Incremental); r.Level != Full || !strings.Contains(r.Note, "no full backup of node n1") {
		t.Fatalf("first incremental: %+v", r)
	}
}

// --backup-keep-full N keeps the newest N full backups of this node and
// every incremental applying to them; older chains go, incrementals
// first; other nodes' backups in the same directory stay.
func TestRetention(t *testing.T) {
	n := startNode(t, t.TempDir(), freeAddr(t), "n1", quietTiming)
	bdir := t.TempDir()
	clock := &steppingClock{t: time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)}
	all := n.manager(bdir, nil, 0, clock)
	n.configure(0, 1)
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, take(t, all, Full).ID)
		n.noops(2)
		ids = append(ids, take(t, all, Incremental).ID)
	}
	// Another node's backup beside them.
	other := filepath.Join(bdir, "20260101T000000Z-n2-full")
	copyDir(t, filepath.Join(bdir, ids[0]), other)
	rewriteManifest(t, other, func(m *Manifest) { m.ID, m.Node.ID = filepath.Base(other), "n2" })

	kept := n.manager(bdir, nil, 2, clock)
	n.noops(1)
	last := take(t, kept, Full).ID // 4 fulls: keep the newest 2
	l, err := List(bdir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range l.Chains {
		got = append(got, c.Full.ID)
		for _, e := range c.Incrementals {
			got = append(got, e.ID)
		}
	}
	want := []string{filepath.Base(other), ids[4], ids[5], last}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("kept %v, want %v", got, want)
	}
	if left, _ := filepath.Glob(filepath.Join(bdir, ".*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// An incomplete backup (a crash while writing) keeps its temporary name:
// it is not listed, not taken as a base, and cleared at the next start.
func TestIncompleteBackupIsNotABackup(t *testing.T) {
	n := startNode(t, t.TempDir(), freeAddr(t), "n1", quietTiming)
	bdir := t.TempDir()
	m := n.manager(bdir, nil, 0, &steppingClock{t: time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)})
	n.configure(0, 1)
	full := take(t, m, Full)
	half := filepath.Join(bdir, tmpPrefix+"20260501T030000Z-n1-full")
	copyDir(t, filepath.Join(bdir, full.ID), half)
	os.Remove(filepath.Join(half, manifestName))
	l, _ := List(bdir)
	if len(l.Chains) != 1 || len(l.Damaged) != 0 {
		t.Fatalf("listing %+v", l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m.Run(ctx) // clears, and returns (no schedules)
	if exists(half) {
		t.Fatal("the incomplete backup is still there")
	}
}

// ------------------------------------------------------------ helpers

func newX25519Key(t *testing.T) *Key {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.key")
	if err := os.WriteFile(path, []byte("# test key\n"+id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func passphraseKey(t *testing.T, pass string) *Key {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pass.key")
	if err := os.WriteFile(path, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	// age's default (2^18) costs seconds per file on a shared machine;
	// the tests need the code path, not the strength.
	k.recipient.(*age.ScryptRecipient).SetWorkFactor(12)
	return k
}

func flip(t *testing.T, path string, at int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at%int64(len(b))] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// rewriteManifest edits a backup's manifest and writes it back with
// matching checksums (as a newer build, or another node, would have).
func rewriteManifest(t *testing.T, dir string, edit func(*Manifest)) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		t.Fatal(err)
	}
	m := &Manifest{}
	if err := json.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	os.Remove(filepath.Join(dir, manifestName))
	os.Remove(filepath.Join(dir, sumsName))
	if err := writeManifest(dir, m); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// listTree is the names and sizes under dir ("absent" when it is not).
func listTree(t *testing.T, dir string) string {
	t.Helper()
	if !exists(dir) {
		return "absent"
	}
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil {
			out = append(out, p+":"+info.Mode().String())
		}
		return nil
	})
	return strings.Join(out, ",")
}
