package contactcenter

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The edge's half of time zones: Apply never reads the zone database
// (it would be I/O, and two nodes with different releases of it could
// judge a schedule differently). The edge that proposes a configuration
// (the admin API's config.apply) reads the rules of the zone the
// document names (ResolveZones) and the command carries them
// (CallbackSettings.ZoneData), which Apply loads with
// time.LoadLocationFromTZData.

// ZoneDirs are where ZoneData looks for the zone database after
// $ZONEINFO (a directory or Go's zoneinfo.zip): the system's (Debian's
// tzdata package).
var ZoneDirs = []string{"/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ", "/etc/zoneinfo"}

// ErrUnknownZone is ZoneData's answer for a zone no database has.
var ErrUnknownZone = errors.New("unknown time zone")

// ZoneData reads the TZif rules of the IANA zone name from $ZONEINFO or
// ZoneDirs; the data is checked with time.LoadLocationFromTZData.
func ZoneData(name string) ([]byte, error) {
	if err := checkZoneName(name); err != nil {
		return nil, err
	}
	var sources []string
	if z := os.Getenv("ZONEINFO"); z != "" {
		sources = append(sources, z)
	}
	sources = append(sources, ZoneDirs...)
	for _, src := range sources {
		b, err := readZone(src, name)
		if err != nil {
			continue
		}
		if _, err := time.LoadLocationFromTZData(name, b); err != nil {
			return nil, fmt.Errorf("the zone database's %s: %w", name, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w %q (looked in $ZONEINFO and %s; Debian's tzdata package has the database)", ErrUnknownZone, name, strings.Join(ZoneDirs, ", "))
}

// readZone reads name from a zone directory or a zip of one (Go's
// lib/time/zoneinfo.zip).
func readZone(src, name string) ([]byte, error) {
	if strings.HasSuffix(src, ".zip") {
		z, err := zip.OpenReader(src)
		if err != nil {
			return nil, err
		}
		defer z.Close()
		f, err := z.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readBounded(f)
	}
	f, err := os.Open(filepath.Join(src, filepath.FromSlash(name)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fs.ErrNotExist
	}
	return readBounded(f)
}

func readBounded(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxZoneDataBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxZoneDataBytes {
		return nil, fmt.Errorf("over %d bytes", MaxZoneDataBytes)
	}
	return b, nil
}

// ResolveZones fills the zone rules of the time zones d names, for an
// edge about to propose d: what it carries is what every node applies.
// An unknown zone is a *FieldError naming the document's field.
func ResolveZones(d *Document) error {
	if d.Callbacks == nil {
		return nil
	}
	cb := *d.Callbacks
	cb.ZoneData = nil
	if cb.TimeZone != "" && cb.TimeZone != "UTC" {
		b, err := ZoneData(cb.TimeZone)
		if err != nil {
			return fieldErr("callbacks.time_zone", "unknown time zone %q", cb.TimeZone)
		}
		cb.ZoneData = b
	}
	d.Callbacks = &cb
	return nil
}
