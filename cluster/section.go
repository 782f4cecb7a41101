package cluster

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Section names a machine's part of a snapshot, as Machine.Section tells
// it (plain values, so that engines need not import this package). A
// snapshot is refused,
// before anything is restored, when it lacks a section this build needs,
// holds one this build does not know, or holds one of a newer version:
// restoring an empty engine instead would silently lose the state.
type Section struct {
	// Name is the section's key in snapshots: stable for the life of the
	// machine, unique among the FSM's machines.
	Name string
	// Version is the version of the machine's snapshot encoding. A
	// snapshot holding a newer version was written by a newer build and is
	// refused; a machine that raises its version reads the older ones.
	Version int
	// Since is the snapshot format that first carried the section
	// (format 1 had no names: each machine's part was keyed by its first
	// family). A snapshot of an older format may lack it: the machine
	// then starts empty (Restore(nil)).
	Since int
}

// sectionOf is m's Section.
func sectionOf(m Machine) Section {
	name, version, since := m.Section()
	return Section{Name: name, Version: version, Since: since}
}

// sectionDoc is one machine's part of a snapshot (format 2 on).
type sectionDoc struct {
	Version int             `json:"version"`
	Data    json.RawMessage `json:"data"`
}

// checkSections validates the machines' sections: named, versioned,
// unique.
func checkSections(ms []Machine) error {
	seen := map[string]bool{}
	for _, m := range ms {
		s := sectionOf(m)
		switch {
		case s.Name == "":
			return fmt.Errorf("machine %v has no snapshot section name", m.Families())
		case s.Version < 1 || s.Since < 1:
			return fmt.Errorf("snapshot section %q: version and since must be at least 1", s.Name)
		case seen[s.Name]:
			return fmt.Errorf("two machines name snapshot section %q", s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}

// sectionsOf picks each machine's part of doc, or refuses doc with why.
// A nil part is a section an older format did not carry: the machine
// starts empty.
func sectionsOf(doc *snapshotDoc, ms []Machine) (map[Machine][]byte, error) {
	out := make(map[Machine][]byte, len(ms))
	if doc.Format == 1 {
		known := map[string]bool{}
		for _, m := range ms {
			key := machineKey(m)
			known[key] = true
			b, ok := doc.Machines[key]
			if !ok && sectionOf(m).Since <= 1 {
				return nil, fmt.Errorf("snapshot (format 1) lacks the %s section (keyed %q) this build needs; refusing to restore an empty %s",
					sectionOf(m).Name, key, sectionOf(m).Name)
			}
			out[m] = b
		}
		if unknown := unknownKeys(doc.Machines, known); len(unknown) > 0 {
			return nil, fmt.Errorf("snapshot (format 1) holds sections this build does not know (%s): written by another build?", strings.Join(unknown, ", "))
		}
		return out, nil
	}
	known := map[string]bool{}
	for _, m := range ms {
		s := sectionOf(m)
		known[s.Name] = true
		sd, ok := doc.Sections[s.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("snapshot lacks the %s section this build needs; refusing to restore an empty %s", s.Name, s.Name)
		case sd.Version > s.Version:
			return nil, fmt.Errorf("snapshot section %s is version %d, this build reads up to %d: written by a newer build", s.Name, sd.Version, s.Version)
		case len(sd.Data) == 0:
			return nil, fmt.Errorf("snapshot section %s is empty", s.Name)
		}
		out[m] = sd.Data
	}
	if unknown := unknownKeys(doc.Sections, known); len(unknown) > 0 {
		return nil, fmt.Errorf("snapshot holds sections this build does not know (%s): written by a newer build?", strings.Join(unknown, ", "))
	}
	return out, nil
}

func unknownKeys[V any](m map[string]V, known map[string]bool) []string {
	var out []string
	for k := range m {
		if !known[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
