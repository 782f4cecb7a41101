package backup

import (
	"errors"
	"flag"
	"fmt"
	"time"
	_ "time/tzdata" // --backup-timezone works where the system has no zoneinfo
)

// Flags are tandemd's --backup-* flags.
type Flags struct {
	Dir         string
	Full        string
	Incremental string
	KeepFull    int
	KeyFile     string
	Timezone    string
	OnApply     bool
}

// Register adds the flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Dir, "backup-dir", "", "write this node's backups into `DIR` (local or network); needed by the schedules and tandemctl backup")
	fs.StringVar(&f.Full, "backup-full", "", "cron `SCHEDULE` of full backups, e.g. '0 2 * * *' (daily at 02:00); every node of a cluster should have the same")
	fs.StringVar(&f.Incremental, "backup-incremental", "", "cron `SCHEDULE` of incremental backups (the commands since the last full), e.g. '0 8-20 * * *'")
	fs.IntVar(&f.KeepFull, "backup-keep-full", 0, "keep this node's newest `N` full backups and their incrementals, delete older ones (0 keeps all)")
	fs.StringVar(&f.KeyFile, "backup-key-file", "", "encrypt backups with the age identity (AGE-SECRET-KEY-…) or the passphrase in `FILE` (mode 0600)")
	fs.StringVar(&f.Timezone, "backup-timezone", "", "time `ZONE` of the schedules, e.g. Europe/Berlin (default: the machine's local time)")
	fs.BoolVar(&f.OnApply, "backup-on-apply", false, "also take an incremental backup after every configuration apply (read from the journal: the commands since the last full)")
}

// Settings are the validated flags.
type Settings struct {
	Dir               string
	Full, Incremental *Schedule // nil: none
	KeepFull          int
	Key               *Key // nil: backups are not encrypted
	Location          *time.Location
	// OnApply takes an incremental after every configuration apply
	// (Config.ApplyTypes name the commands).
	OnApply bool
}

// Validate checks the flags (the key file is read).
func (f *Flags) Validate() error {
	_, err := f.Settings()
	return err
}

// Settings checks the flags and returns their values; the error is one
// line naming the flag.
func (f *Flags) Settings() (Settings, error) {
	s := Settings{Dir: f.Dir, KeepFull: f.KeepFull, Location: time.Local, OnApply: f.OnApply}
	if f.Timezone != "" {
		loc, err := time.LoadLocation(f.Timezone)
		if err != nil || f.Timezone == "Local" {
			return s, fmt.Errorf("--backup-timezone: %q is not a time zone name such as Europe/Berlin or UTC", f.Timezone)
		}
		s.Location = loc
	}
	if f.KeepFull < 0 {
		return s, errors.New("--backup-keep-full: must be 0 (keep all) or more")
	}
	needDir := func(name string) error {
		if f.Dir == "" {
			return fmt.Errorf("--%s: needs --backup-dir", name)
		}
		return nil
	}
	var err error
	if f.Full != "" {
		if err := needDir("backup-full"); err != nil {
			return s, err
		}
		if s.Full, err = ParseSchedule(f.Full, s.Location); err != nil {
			return s, fmt.Errorf("--backup-full: %v", err)
		}
	}
	if f.Incremental != "" {
		if err := needDir("backup-incremental"); err != nil {
			return s, err
		}
		if s.Incremental, err = ParseSchedule(f.Incremental, s.Location); err != nil {
			return s, fmt.Errorf("--backup-incremental: %v", err)
		}
	}
	if f.KeyFile != "" {
		if err := needDir("backup-key-file"); err != nil {
			return s, err
		}
		if s.Key, err = LoadKey(f.KeyFile); err != nil {
			return s, fmt.Errorf("--backup-key-file: %v", err)
		}
	}
	if f.KeepFull > 0 {
		if err := needDir("backup-keep-full"); err != nil {
			return s, err
		}
	}
	if f.OnApply {
		if err := needDir("backup-on-apply"); err != nil {
			return s, err
		}
	}
	return s, nil
}
