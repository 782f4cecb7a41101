package backup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Listing is the backups of a directory as chains: each full backup and
// the incrementals that apply to it.
type Listing struct {
	Dir    string  `json:"dir"`
	Chains []Chain `json:"chains"`
	// Orphans are incrementals whose full backup is not in the directory
	// (they cannot be restored).
	Orphans []Entry `json:"orphans,omitempty"`
	// Damaged are directories whose manifest cannot be read.
	Damaged []Damaged `json:"damaged,omitempty"`
}

// Chain is a full backup and its incrementals, oldest first.
type Chain struct {
	Full         Entry   `json:"full"`
	Incrementals []Entry `json:"incrementals"`
}

// Entry is one backup in a listing.
type Entry struct {
	Manifest
	Dir string `json:"-"`
}

// Damaged is a backup directory that does not read as one.
type Damaged struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// scan reads every backup of dir (all nodes), oldest first.
func scan(dir string) ([]Entry, []Damaged, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the backup directory: %w", err)
	}
	var out []Entry
	var bad []Damaged
	for _, de := range des {
		name := de.Name()
		if !de.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		m, err := readManifest(filepath.Join(dir, name))
		if err != nil {
			bad = append(bad, Damaged{ID: name, Error: err.Error()})
			continue
		}
		out = append(out, Entry{Manifest: *m, Dir: filepath.Join(dir, name)})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].ID < out[j].ID
	})
	return out, bad, nil
}

// List returns the backups of dir as chains, oldest first.
func List(dir string) (Listing, error) {
	all, bad, err := scan(dir)
	if err != nil {
		return Listing{}, err
	}
	l := Listing{Dir: dir, Chains: []Chain{}, Damaged: bad}
	at := map[string]int{}
	for _, e := range all {
		if e.Level == Full {
			at[e.ID] = len(l.Chains)
			l.Chains = append(l.Chains, Chain{Full: e, Incrementals: []Entry{}})
		}
	}
	for _, e := range all {
		if e.Level != Incremental {
			continue
		}
		if i, ok := at[e.Base]; ok && l.Chains[i].Full.Node.ID == e.Node.ID {
			l.Chains[i].Incrementals = append(l.Chains[i].Incrementals, e)
		} else {
			l.Orphans = append(l.Orphans, e)
		}
	}
	return l, nil
}

// latestFull is node's newest full backup in dir whose manifest reads
// (nil when there is none).
func latestFull(dir, node string) (*Manifest, error) {
	all, _, err := scan(dir)
	if err != nil {
		return nil, err
	}
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Level == Full && all[i].Node.ID == node {
			m := all[i].Manifest
			return &m, nil
		}
	}
	return nil, nil
}
