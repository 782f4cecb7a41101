package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/tandemcc/tandem/cluster"
)

// Format is the backup format this build writes; it reads 1 to Format.
const Format = 1

// Levels.
const (
	Full        = 0
	Incremental = 1
)

// Names of the files in a backup directory.
const (
	manifestName = "manifest.json"
	sumsName     = "SHA256SUMS" // sha256sum -c reads it
	stateName    = "state.zst"  // full: the Raft snapshot's FSM document
	tailName     = "tail.zst"   // full: the log entries after the snapshot
	nodeName     = "node.zst"   // full: the node's identity
	logName      = "log.zst"    // incremental: the log entries
	ageSuffix    = ".age"
	tmpPrefix    = ".tmp-" // a backup being written
	delPrefix    = ".del-" // a backup being deleted (retention)
)

// Manifest describes one backup; manifest.json in its directory.
type Manifest struct {
	Format int    `json:"format"`
	ID     string `json:"id"`
	Level  int    `json:"level"`
	// Base is the full backup an incremental applies to, at BaseIndex
	// and BaseTerm.
	Base      string `json:"base,omitempty"`
	BaseIndex uint64 `json:"base_index,omitempty"`
	BaseTerm  uint64 `json:"base_term,omitempty"`
	// Index and Term are the Raft index the backup's state is at.
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// Entries is how many log entries an incremental holds
	// (BaseIndex+1 to Index).
	Entries uint64 `json:"entries,omitempty"`
	// A full backup is the node's latest Raft snapshot, at SnapshotIndex
	// and SnapshotTerm with the configuration SnapshotMembers, and the
	// Tail log entries after it up to Index.
	SnapshotIndex   uint64           `json:"snapshot_index,omitempty"`
	SnapshotTerm    uint64           `json:"snapshot_term,omitempty"`
	SnapshotMembers []cluster.Member `json:"snapshot_members,omitempty"`
	Tail            uint64           `json:"tail,omitempty"`
	Node            NodeInfo         `json:"node"`
	Cluster         ClusterInfo      `json:"cluster"`
	Time            time.Time        `json:"time"` // when the state was cut
	// DurationMS is how long writing the backup took.
	DurationMS int64 `json:"duration_ms"`
	// Sections are the snapshot sections' encoding versions and
	// CommandVersion the command envelope version of the writing build:
	// a restore refuses versions newer than its own.
	Sections       map[string]int `json:"sections,omitempty"`
	CommandVersion int            `json:"command_version"`
	// StateHashes are the SHA-256 of each section's encoding at Index
	// (contactcenter: the engine's state hash), recorded by incrementals;
	// a restore reproduces them.
	StateHashes map[string]string `json:"state_hashes,omitempty"`
	Compression string            `json:"compression"`
	Encryption  string            `json:"encryption"`
	Recipient   string            `json:"recipient,omitempty"`
	Files       []File            `json:"files"`
	Size        int64             `json:"size"`     // the files on disk
	RawSize     int64             `json:"raw_size"` // before compression
	// Source is where an incremental's entries were read: the node's
	// journal, or its Raft log (Note then says why not the journal).
	Source string `json:"source,omitempty"`
	// Checkpoint is the hash of a snapshot document the node persisted
	// between the full backup and this incremental (the last one): a
	// restore must reproduce it when its replay passes that index.
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
	// Note says why this full backup was taken when an incremental was
	// asked for, or why an incremental was read from the Raft log.
	Note string `json:"note,omitempty"`
}

// Sources of an incremental's entries.
const (
	SourceJournal = "journal"
	SourceLog     = "raft-log"
)

// NodeInfo is the node a backup was taken on.
type NodeInfo struct {
	ID        string `json:"id"`
	RaftAddr  string `json:"raft_addr"`
	AdminAddr string `json:"admin_addr,omitempty"`
}

// ClusterInfo is the cluster as the node knew it at the backup.
type ClusterInfo struct {
	Members []cluster.Member `json:"members"`
}

// File is one data file of a backup.
type File struct {
	Name    string `json:"name"`
	Size    int64  `json:"size"`     // on disk
	RawSize int64  `json:"raw_size"` // before compression
	SHA256  string `json:"sha256"`   // of the bytes on disk
}

// Kind is "full" or "incremental".
func (m *Manifest) Kind() string {
	if m.Level == Full {
		return "full"
	}
	return "incremental"
}

// file is the manifest's entry for the file whose name starts with base.
func (m *Manifest) file(base string) (File, bool) {
	for _, f := range m.Files {
		if f.Name == base || f.Name == base+ageSuffix {
			return f, true
		}
	}
	return File{}, false
}

var idPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9][A-Za-z0-9._-]{0,62}-(full|incr)(-[0-9]{1,4})?$`)

// ValidID reports whether id names a backup (so it is safe as a path).
func ValidID(id string) bool { return idPattern.MatchString(id) && !strings.Contains(id, "..") }

func newID(t time.Time, node string, level int) string {
	kind := "full"
	if level == Incremental {
		kind = "incr"
	}
	return t.UTC().Format("20060102T150405Z") + "-" + node + "-" + kind
}

// check validates a manifest read from dir (named id).
func (m *Manifest) check(id string) error {
	switch {
	case m.Format < 1:
		return fmt.Errorf("backup %s: manifest has no format", id)
	case m.Format > Format:
		return fmt.Errorf("backup %s is format %d; this build reads formats 1 to %d: restore it with a newer tandemctl", id, m.Format, Format)
	case m.ID != id:
		return fmt.Errorf("backup %s: its manifest names %q (a renamed directory?)", id, m.ID)
	case m.Level != Full && m.Level != Incremental:
		return fmt.Errorf("backup %s: unknown level %d", id, m.Level)
	case m.Level == Incremental && (m.Base == "" || m.Index < m.BaseIndex || m.Entries != m.Index-m.BaseIndex):
		return fmt.Errorf("backup %s: an incremental without a valid base", id)
	case m.Level == Full && (m.SnapshotIndex == 0 || m.SnapshotIndex > m.Index || m.Tail != m.Index-m.SnapshotIndex):
		return fmt.Errorf("backup %s: a full backup without a valid snapshot", id)
	case m.Node.ID == "":
		return fmt.Errorf("backup %s: manifest names no node", id)
	case m.Compression != "zstd":
		return fmt.Errorf("backup %s: unknown compression %q", id, m.Compression)
	}
	switch m.Encryption {
	case EncNone, EncX25519, EncHybrid, EncPassphrase:
	default:
		return fmt.Errorf("backup %s: unknown encryption %q", id, m.Encryption)
	}
	need := []string{logName}
	if m.Level == Full {
		need = []string{stateName, tailName, nodeName}
	}
	for _, n := range need {
		f, ok := m.file(n)
		if !ok {
			return fmt.Errorf("backup %s: manifest lists no %s file", id, n)
		}
		if f.Name != filepath.Base(f.Name) || len(f.SHA256) != 64 {
			return fmt.Errorf("backup %s: manifest entry %q is malformed", id, f.Name)
		}
	}
	return nil
}

// readManifest reads and checks the manifest of the backup in dir: its
// bytes against SHA256SUMS, then its content.
func readManifest(dir string) (*Manifest, error) {
	id := filepath.Base(dir)
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s holds no backup (no %s)", dir, manifestName)
	}
	if err != nil {
		return nil, fmt.Errorf("reading backup %s: %w", id, err)
	}
	sums, err := readSums(dir)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", id, err)
	}
	sum := sha256.Sum256(b)
	if want, ok := sums[manifestName]; !ok || want != hex.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("backup %s: %s does not match its checksum in %s (damaged)", id, manifestName, sumsName)
	}
	var probe struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("backup %s: reading %s: %v", id, manifestName, err)
	}
	if probe.Format > Format {
		return nil, fmt.Errorf("backup %s is format %d; this build reads formats 1 to %d: restore it with a newer tandemctl", id, probe.Format, Format)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("backup %s: reading %s: %v", id, manifestName, err)
	}
	if err := m.check(id); err != nil {
		return nil, err
	}
	for _, f := range m.Files {
		if sums[f.Name] != f.SHA256 {
			return nil, fmt.Errorf("backup %s: %s and %s disagree on %s (damaged)", id, manifestName, sumsName, f.Name)
		}
	}
	return &m, nil
}

// readSums reads SHA256SUMS ("<hex>  <name>" lines, as sha256sum writes).
func readSums(dir string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, sumsName))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", sumsName, err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 || name == "" {
			return nil, fmt.Errorf("%s is malformed (damaged)", sumsName)
		}
		out[name] = sum
	}
	return out, nil
}

// writeManifest writes manifest.json and SHA256SUMS into dir (synced).
func writeManifest(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding manifest: %w", err)
	}
	b = append(b, '\n')
	if err := writeSynced(filepath.Join(dir, manifestName), b); err != nil {
		return err
	}
	sums := map[string]string{}
	for _, f := range m.Files {
		sums[f.Name] = f.SHA256
	}
	sum := sha256.Sum256(b)
	sums[manifestName] = hex.EncodeToString(sum[:])
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&buf, "%s  %s\n", sums[n], n)
	}
	return writeSynced(filepath.Join(dir, sumsName), buf.Bytes())
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", path, err)
	}
	return nil
}

// syncDir makes a directory's entries (a rename into it) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
