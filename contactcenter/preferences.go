package contactcenter

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/apierr"
)

// Preferences are an operator's console preferences, kept per user in the
// replicated state (spec "Per-operator preferences, kept across sessions
// and nodes"): after a console fails over to another member it reads the
// same preferences there. The engine checks their form and bounds; the
// console edge also checks the names only the console knows (shortcut
// actions, list columns) before it proposes them.
type Preferences struct {
	// Language of the interface ("en", "es", …: two lower-case letters).
	Language string `json:"language,omitempty"`
	// TimeFormat of line 1's event history: "clock" (time of day),
	// "cumulative" (in the call) or "previous" (since the previous event).
	TimeFormat string `json:"time_format,omitempty"`
	// OnIncoming: "none", "focus" (bring the window to the front) or
	// "notify".
	OnIncoming string `json:"on_incoming,omitempty"`
	// RingTone: ring in the browser while a call is offered.
	RingTone bool `json:"ring_tone,omitempty"`
	// TextSize: "small", "normal" or "large".
	TextSize string `json:"text_size,omitempty"`
	// AutoLogin logs the operator in when the console starts.
	AutoLogin bool `json:"auto_login,omitempty"`
	// AutoFailover switches to the secondary without a click after
	// FailoverGraceSeconds (0..MaxFailoverGrace).
	AutoFailover         bool `json:"auto_failover,omitempty"`
	FailoverGraceSeconds int  `json:"failover_grace_seconds"`
	// SupervisionGeneral also lists the calls waiting in the general
	// queues the operator serves in its supervision list.
	SupervisionGeneral bool `json:"supervision_general,omitempty"`
	// HiddenColumns are the console list columns not shown, each
	// "list.column" (e.g. "supervision.note").
	HiddenColumns []string `json:"hidden_columns,omitempty"`
	// Shortcuts are the key bindings: per console state (disconnected,
	// paused, connected) over the predefined set, and global ones
	// (state "global") that override them.
	Shortcuts []Shortcut `json:"shortcuts,omitempty"`
	// SpeedDialLineState shows the line state of internal numbers on the
	// speed-dial keys.
	SpeedDialLineState bool `json:"speed_dial_line_state,omitempty"`
	// OwnSpeedDials: the operator set up its speed dials, SpeedDials
	// (possibly none), which then replace the configuration's
	// (User.SpeedDials, the defaults until the operator saves its own).
	// Each key has a page and a position, distinct per page.
	OwnSpeedDials bool        `json:"own_speed_dials,omitempty"`
	SpeedDials    []SpeedDial `json:"speed_dials,omitempty"`
}

// Shortcut binds a key (a KeyboardEvent.key name, optionally with
// "Ctrl+", "Alt+", "Shift+") to a console action in one console state
// or globally.
type Shortcut struct {
	State  string `json:"state"`
	Key    string `json:"key"`
	Action string `json:"action"`
}

// Bounds and enumerations of Preferences.
const (
	MaxFailoverGrace = 600
	MaxHiddenColumns = 64
	MaxShortcuts     = 100
	// SpeedDialPages is how many pages of speed-dial keys the console
	// has, MaxSpeedDialsPerPage how many keys one page holds.
	SpeedDialPages       = 2
	MaxSpeedDialsPerPage = 50
)

// SpeedDialColours is the speed-dial keys' palette (the console's
// --sd-<colour> backgrounds, each checked for contrast with the text by
// TestUIContrast).
var SpeedDialColours = []string{"grey", "blue", "green", "yellow", "orange", "red", "purple", "teal"}

var (
	prefTimeFormats = []string{"clock", "cumulative", "previous"}
	prefOnIncoming  = []string{"none", "focus", "notify"}
	prefTextSizes   = []string{"small", "normal", "large"}
	ShortcutStates  = []string{"disconnected", "paused", "connected", "global"}
	prefLanguageRe  = regexp.MustCompile(`^[a-z]{2}$`)
	prefColumnRe    = regexp.MustCompile(`^[a-z][a-z_]{0,15}\.[a-z][a-z_]{0,15}$`)
	prefKeyRe       = regexp.MustCompile(`^((Ctrl|Alt|Shift|Meta)\+){0,4}([A-Za-z0-9]|F[1-9]|F1[0-2]|Enter|Escape|Insert|Delete|Home|End|PageUp|PageDown|Pause)$`)
	prefActionRe    = regexp.MustCompile(`^[a-z][a-z_]{0,31}$`)
)

// PreferencesRequest is the payload of user.preferences: the user's whole
// preferences (they replace the previous ones).
//
// Revision is the revision of the preferences the save was made from
// (UserState.PreferencesRevision as read: 0 when the user never saved
// any). When given, the engine refuses the save with
// ErrPreferencesChanged unless it is still the current revision, so a
// console that saves preferences another console of the same user has
// changed since it read them loses nothing of that other save (the
// operator reloads and applies again). Absent, the save is unconditional:
// only for log entries written before revisions existed; the console API
// requires it (console/DESIGN.md, "Preferences and lost updates").
type PreferencesRequest struct {
	User        string      `json:"user"`
	Preferences Preferences `json:"preferences"`
	Revision    *uint64     `json:"revision,omitempty"`
}

// PreferencesEvent is user.preferences: the user's new preferences and
// their revision (shown only to that user's consoles).
type PreferencesEvent struct {
	User        string      `json:"user"`
	Preferences Preferences `json:"preferences"`
	Revision    uint64      `json:"revision"`
}

// ErrPreferencesChanged refuses a preferences save made from a revision
// that is no longer the current one: another console saved since. Its
// refusal is answered 412 precondition_failed (ErrorCode), and nothing
// changes.
var ErrPreferencesChanged = errors.New("preferences changed since they were read")

// staleError is the refusal of a save made from an old revision: an
// *OpError (errors.Is ErrPreferencesChanged) whose kind on every HTTP
// surface is apierr.PreconditionFailed.
type staleError struct{ *OpError }

func (e staleError) Unwrap() error          { return e.OpError }
func (e staleError) ErrorCode() apierr.Code { return apierr.PreconditionFailed }

// CheckPreferences checks the form and bounds of p, naming the field
// under "preferences.".
func CheckPreferences(p Preferences) error {
	oneOf := func(field, v string, set []string) error {
		if v != "" && !slices.Contains(set, v) {
			return fieldErr("preferences."+field, "%q is not one of %v", v, set)
		}
		return nil
	}
	if p.Language != "" && !prefLanguageRe.MatchString(p.Language) {
		return fieldErr("preferences.language", "want a two-letter language code, not %q", p.Language)
	}
	if err := oneOf("time_format", p.TimeFormat, prefTimeFormats); err != nil {
		return err
	}
	if err := oneOf("on_incoming", p.OnIncoming, prefOnIncoming); err != nil {
		return err
	}
	if err := oneOf("text_size", p.TextSize, prefTextSizes); err != nil {
		return err
	}
	if p.FailoverGraceSeconds < 0 || p.FailoverGraceSeconds > MaxFailoverGrace {
		return fieldErr("preferences.failover_grace_seconds", "%d is out of range 0..%d", p.FailoverGraceSeconds, MaxFailoverGrace)
	}
	if len(p.HiddenColumns) > MaxHiddenColumns {
		return fieldErr("preferences.hidden_columns", "%d columns, at most %d", len(p.HiddenColumns), MaxHiddenColumns)
	}
	seen := map[string]bool{}
	for i, c := range p.HiddenColumns {
		f := fmt.Sprintf("preferences.hidden_columns[%d]", i)
		if !prefColumnRe.MatchString(c) {
			return fieldErr(f, "want list.column, not %q", c)
		}
		if seen[c] {
			return fieldErr(f, "duplicate column %q", c)
		}
		seen[c] = true
	}
	if len(p.Shortcuts) > MaxShortcuts {
		return fieldErr("preferences.shortcuts", "%d shortcuts, at most %d", len(p.Shortcuts), MaxShortcuts)
	}
	keys := map[string]bool{}
	for i, s := range p.Shortcuts {
		f := fmt.Sprintf("preferences.shortcuts[%d]", i)
		if !slices.Contains(ShortcutStates, s.State) {
			return fieldErr(f+".state", "%q is not one of %v", s.State, ShortcutStates)
		}
		if !prefKeyRe.MatchString(s.Key) {
			return fieldErr(f+".key", "%q is not a key name (F1..F12, Enter, a letter or digit, with Ctrl+, Alt+, Shift+)", s.Key)
		}
		if !prefActionRe.MatchString(s.Action) {
			return fieldErr(f+".action", "%q is not an action name", s.Action)
		}
		if keys[s.State+"\x00"+s.Key] {
			return fieldErr(f+".key", "%s is bound twice in state %s", s.Key, s.State)
		}
		keys[s.State+"\x00"+s.Key] = true
	}
	if len(p.SpeedDials) > 0 && !p.OwnSpeedDials {
		return fieldErr("preferences.speed_dials", "speed dials need own_speed_dials (without it the configuration's apply)")
	}
	return checkSpeedDials("preferences.speed_dials", p.SpeedDials, true)
}

// checkSpeedDials checks a list of speed dials, naming the field under
// field: at most MaxSpeedDials, numbers that normalise, colours of the
// palette, pages and positions in range and distinct per page. own: the
// operator's (page and position required); else the configuration's (0
// for either leaves the key unplaced).
func checkSpeedDials(field string, sds []SpeedDial, own bool) error {
	if len(sds) > MaxSpeedDials {
		return fieldErr(field, "%d speed dials, at most %d", len(sds), MaxSpeedDials)
	}
	min := 0
	if own {
		min = 1
	}
	placed := map[[2]int]bool{}
	for i, sd := range sds {
		f := fmt.Sprintf("%s[%d]", field, i)
		if _, err := NormalizeNumber(sd.Number); err != nil {
			return fieldErr(f+".number", "%v", err)
		}
		if sd.Colour != "" && !slices.Contains(SpeedDialColours, sd.Colour) {
			return fieldErr(f+".colour", "%q is not one of %v", shortText(sd.Colour), SpeedDialColours)
		}
		if sd.Page < min || sd.Page > SpeedDialPages {
			return fieldErr(f+".page", "%d is out of range %d..%d", sd.Page, min, SpeedDialPages)
		}
		if sd.Position < min || sd.Position > MaxSpeedDialsPerPage {
			return fieldErr(f+".position", "%d is out of range %d..%d", sd.Position, min, MaxSpeedDialsPerPage)
		}
		if sd.Position == 0 {
			continue
		}
		at := [2]int{max(sd.Page, 1), sd.Position}
		if placed[at] {
			return fieldErr(f+".position", "page %d already has a key at position %d", at[0], at[1])
		}
		placed[at] = true
	}
	return nil
}

// cmdUserPreferences replaces a user's console preferences.
func (e *Engine) cmdUserPreferences(env command.Envelope) (any, error) {
	var p PreferencesRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if err := checkID("user", p.User); err != nil {
		return nil, err
	}
	if _, ok := e.st.Config.Users[p.User]; !ok {
		return nil, opErr(ErrUnknownUser, "preferences", "unknown user %q", p.User)
	}
	if err := CheckPreferences(p.Preferences); err != nil {
		return nil, err
	}
	u := e.st.Users[p.User]
	var current uint64
	if u != nil {
		current = u.PreferencesRevision
	}
	if p.Revision != nil && *p.Revision != current {
		return nil, staleError{&OpError{Op: "preferences", Err: ErrPreferencesChanged,
			Msg: fmt.Sprintf("saved from revision %d, but the current revision is %d (another console saved since): reload the preferences and apply your changes again", *p.Revision, current)}}
	}
	pr := p.Preferences
	pr.HiddenColumns = slices.Clone(pr.HiddenColumns)
	pr.Shortcuts = slices.Clone(pr.Shortcuts)
	pr.SpeedDials = slices.Clone(pr.SpeedDials)
	if len(pr.SpeedDials) == 0 {
		pr.SpeedDials = nil
	}
	if len(pr.HiddenColumns) == 0 {
		pr.HiddenColumns = nil
	}
	if len(pr.Shortcuts) == 0 {
		pr.Shortcuts = nil
	}
	u = e.userState(p.User)
	u.Preferences = &pr
	u.PreferencesRevision = current + 1
	ev := PreferencesEvent{User: p.User, Preferences: pr, Revision: u.PreferencesRevision}
	e.emit(EvUserPreferences, ev)
	return ev, nil
}

// UserPreferences returns a user's console preferences and their
// revision (what a save must name: 0 when the user never saved any), and
// false when the user never saved any (the console then uses its
// defaults).
func (e *Engine) UserPreferences(user string) (Preferences, uint64, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	u := e.st.Users[user]
	if u == nil {
		return Preferences{}, 0, false
	}
	if u.Preferences != nil {
		p := *u.Preferences
		p.HiddenColumns = slices.Clone(p.HiddenColumns)
		p.Shortcuts = slices.Clone(p.Shortcuts)
		p.SpeedDials = slices.Clone(p.SpeedDials)
		return p, u.PreferencesRevision, true
	}
	return Preferences{}, u.PreferencesRevision, false
}
