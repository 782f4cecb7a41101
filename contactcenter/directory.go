package contactcenter

import (
	"container/heap"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tandemcc/tandem/command"
)

// Line statuses of internal extensions.
const (
	LineFree         = "free"
	LineNotConnected = "not_connected"
	LineBusyExternal = "busy_external"
	LineBusyInternal = "busy_internal"
)

// Presences a user may set.
var Presences = []string{"office", "absent", "busy", "queue", "service", "meeting", "lunch", "holiday"}

// UserState is a user's runtime settings (set by the user, not by the
// configuration document).
type UserState struct {
	Presence   string     `json:"presence,omitempty"`
	Forwarding Forwarding `json:"forwarding"`
	// Preferences are the user's console preferences (preferences.go).
	Preferences *Preferences `json:"preferences,omitempty"`
	// PreferencesRevision counts the user's preferences saves (0: none
	// since revisions exist); a save naming another revision is refused
	// (PreferencesRequest.Revision). Absent from snapshots made before
	// it existed: they restore with 0, which a save then names.
	PreferencesRevision uint64 `json:"preferences_revision,omitempty"`
	// Monitored are the mailboxes the user picked to monitor (its PIN
	// was right), beside the configuration's monitored_mailboxes.
	Monitored []string `json:"monitored,omitempty"`
}

func (e *Engine) userState(id string) *UserState {
	u := e.st.Users[id]
	if u == nil {
		u = &UserState{}
		e.st.Users[id] = u
	}
	return u
}

// PresenceRequest is the payload of user.presence.
type PresenceRequest struct {
	User     string `json:"user"`
	Presence string `json:"presence"`
}

func (e *Engine) cmdUserPresence(env command.Envelope) (any, error) {
	var p PresenceRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if !contains(Presences, p.Presence) {
		return nil, fieldErr("presence", "unknown presence %q (one of %s)", p.Presence, strings.Join(Presences, ", "))
	}
	if _, ok := e.st.Config.Users[p.User]; !ok {
		return nil, opErr(ErrUnknownUser, "presence", "unknown user %q", p.User)
	}
	e.userState(p.User).Presence = p.Presence
	ev := PresenceEvent(p)
	e.emit(EvUserPresence, ev)
	return ev, nil
}

// lineStatuses computes the line status of every extension.
func (e *Engine) lineStatuses() map[string]string { return e.lineStatusesOf(e.busyCandidates) }

// busyCandidates calls fn for each call that may make an extension busy:
// those on an agent's line, at an extension and in supervision, found
// there, not among every call (the e-mails waiting may be tens of
// thousands); and for no other call that would.
func (e *Engine) busyCandidates(fn func(c *Call)) {
	for _, a := range e.st.Agents {
		for _, id := range [2]string{a.Line1, a.Line2} {
			if c := e.st.Calls[id]; id != "" && c != nil {
				fn(c)
			}
		}
	}
	for id := range e.extCalls {
		if c := e.st.Calls[id]; c != nil {
			fn(c)
		}
	}
	e.supervisedCalls(fn)
}

// lineStatusesOf is lineStatuses over the calls each gives (the
// invariant check gives every call).
func (e *Engine) lineStatusesOf(each func(fn func(c *Call))) map[string]string {
	out := make(map[string]string, len(e.st.Config.Extensions))
	for ext, x := range e.st.Config.Extensions {
		st := LineNotConnected
		for _, p := range x.Phones {
			if p.Kind == "mobile" {
				st = LineFree
				break
			}
			if ps := e.st.Phones[phoneKey(ext, p.ID)]; ps != nil && ps.Registered {
				st = LineFree
				break
			}
		}
		out[ext] = st
	}
	busy := func(ext string, c *Call) {
		if _, ok := out[ext]; !ok || ext == "" {
			return
		}
		if c.Direction == DirInternal {
			if out[ext] != LineBusyExternal {
				out[ext] = LineBusyInternal
			}
			return
		}
		out[ext] = LineBusyExternal
	}
	each(func(c *Call) {
		switch {
		case c.Place == PlaceLine:
			busy(e.st.Agents[c.Agent].conf.Extension, c)
		case c.Place == PlaceExtension && c.State == CallTalking,
			c.Place == PlaceSupervised && c.Kind == KindChain && c.State == CallTalking:
			busy(c.Target, c)
		}
	})
	return out
}

// LineStatus returns an extension's line status.
func (e *Engine) LineStatus(ext string) (string, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st, ok := e.lineStatuses()[ext]
	return st, ok
}

// DirectoryEntry is one contact of the directory: a user or an external
// contact, with line status and presence for internal extensions.
type DirectoryEntry struct {
	Kind       string `json:"kind"` // user or contact
	ID         string `json:"id"`
	FirstName  string `json:"first_name,omitempty"`
	LastName   string `json:"last_name,omitempty"`
	Name       string `json:"name,omitempty"`
	Company    string `json:"company,omitempty"`
	Extension  string `json:"extension,omitempty"`
	Mobile     string `json:"mobile,omitempty"`
	Phone      string `json:"phone,omitempty"`
	LineStatus string `json:"line_status,omitempty"`
	Presence   string `json:"presence,omitempty"`
}

func (d DirectoryEntry) field(name string) string {
	switch name {
	case "first_name":
		return d.FirstName
	case "last_name":
		return d.LastName
	case "name":
		return d.Name
	case "company":
		return d.Company
	case "extension":
		return d.Extension
	case "mobile":
		return d.Mobile
	case "phone":
		return d.Phone
	}
	return ""
}

// Directory searches contacts as the operator types: every word of query
// must occur (case-insensitively) in one of the fields searched — fields,
// or the configured "search all" fields when empty. An empty query lists
// everything. Results are sorted by last name, first name, name, kind, id;
// with limit > 0 only the first limit of them are returned. total is the
// number of matches.
func (e *Engine) Directory(query string, fields []string, limit int) (entries []DirectoryEntry, total int) {
	if len(fields) == 0 {
		return e.DirectoryByField(map[string]string{DirectorySearchAll: query}, limit)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.directory([]directoryTerm{{fields, strings.Fields(strings.ToLower(query))}}, limit)
}

// DirectoryByField searches contacts by the console's search fields
// (Settings.DirectorySearch): terms maps a field (one of
// DirectoryFieldNames, or DirectorySearchAll for the "search all"
// fields) to what the operator typed in it; every word of every term
// must occur in its field. Unknown fields match nothing; no term lists
// everything. limit and total are Directory's.
func (e *Engine) DirectoryByField(terms map[string]string, limit int) (entries []DirectoryEntry, total int) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var ts []directoryTerm
	for _, f := range sortedKeys(terms) {
		fields := []string{f}
		if f == DirectorySearchAll {
			fields = e.st.Config.Settings.DirectoryFields
		}
		ts = append(ts, directoryTerm{fields, strings.Fields(strings.ToLower(terms[f]))})
	}
	return e.directory(ts, limit)
}

// directoryTerm: each word must occur in one of fields.
type directoryTerm struct {
	fields, words []string
}

// directory scans users and contacts once (a keystroke at a million
// contacts must not sort them all) and keeps the first limit matches in
// a bounded heap: O(n log limit). The order is total (kind and id break
// ties), so the map's iteration order does not show.
func (e *Engine) directory(terms []directoryTerm, limit int) ([]DirectoryEntry, int) {
	lines := e.lineStatuses()
	match := func(d *DirectoryEntry) bool {
		for _, t := range terms {
			for _, w := range t.words {
				found := false
				for _, f := range t.fields {
					if containsFold(d.field(f), w) {
						found = true
						break
					}
				}
				if !found {
					return false
				}
			}
		}
		return true
	}
	var top dirHeap
	total := 0
	keep := func(d DirectoryEntry) {
		total++
		switch {
		case limit <= 0:
			top = append(top, d) // sorted at the end
		case len(top) < limit:
			heap.Push(&top, d)
		case dirLess(&d, &top[0]):
			top[0] = d
			heap.Fix(&top, 0)
		}
	}
	for id, u := range e.st.Config.Users {
		d := DirectoryEntry{Kind: "user", ID: id, FirstName: u.FirstName, LastName: u.LastName, Name: u.Name, Company: u.Company, Extension: u.Extension, Mobile: u.Mobile}
		if !match(&d) {
			continue
		}
		if u.Extension != "" {
			d.LineStatus = lines[u.Extension]
		}
		d.Presence = "office"
		if us := e.st.Users[id]; us != nil && us.Presence != "" {
			d.Presence = us.Presence
		}
		keep(d)
	}
	for id, c := range e.st.Config.Contacts {
		d := DirectoryEntry{Kind: "contact", ID: id, FirstName: c.FirstName, LastName: c.LastName, Company: c.Company, Extension: c.Extension, Mobile: c.Mobile, Phone: c.Phone}
		if !match(&d) {
			continue
		}
		if st, ok := lines[c.Extension]; ok {
			d.LineStatus = st
		}
		keep(d)
	}
	sort.Slice(top, func(i, j int) bool { return dirLess(&top[i], &top[j]) })
	return top, total
}

// dirLess orders entries by last name, first name, name (case folded),
// kind and id.
func dirLess(a, b *DirectoryEntry) bool {
	for _, p := range [...][2]string{{a.LastName, b.LastName}, {a.FirstName, b.FirstName}, {a.Name, b.Name}} {
		if c := compareFold(p[0], p[1]); c != 0 {
			return c < 0
		}
	}
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	return a.ID < b.ID
}

// compareFold compares strings.ToLower(a) with strings.ToLower(b) without
// allocating them.
func compareFold(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra < utf8.RuneSelf && rb < utf8.RuneSelf {
			ra, rb = rune(lowerASCII(byte(ra))), rune(lowerASCII(byte(rb)))
		} else {
			ra, rb = unicode.ToLower(ra), unicode.ToLower(rb)
		}
		if ra != rb {
			if ra < rb {
				return -1
			}
			return 1
		}
		a, b = a[na:], b[nb:]
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

// containsFold is strings.Contains(strings.ToLower(s), lower) for a
// lower-case lower, without allocating when s is ASCII.
func containsFold(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.Contains(strings.ToLower(s), lower)
		}
	}
	n := len(lower)
	if n == 0 {
		return true
	}
next:
	for i := 0; i+n <= len(s); i++ {
		for j := 0; j < n; j++ {
			if lowerASCII(s[i+j]) != lower[j] {
				continue next
			}
		}
		return true
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// dirHeap is a max-heap: its root is the last of the entries kept.
type dirHeap []DirectoryEntry

func (h dirHeap) Len() int           { return len(h) }
func (h dirHeap) Less(i, j int) bool { return dirLess(&h[j], &h[i]) }
func (h dirHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dirHeap) Push(x any)        { *h = append(*h, x.(DirectoryEntry)) }
func (h *dirHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// SpeedDialView is a speed dial as the console shows it: placed on a
// page and position, with the line status of an internal number.
type SpeedDialView struct {
	SpeedDial
	LineStatus string `json:"line_status,omitempty"`
	// Default: the key comes from the configuration (the operator has
	// not set up its own).
	Default bool `json:"default,omitempty"`
}

// SpeedDials returns a user's speed dials: its own once it saved them
// (Preferences.OwnSpeedDials, even none), else the configuration's, the
// defaults. They come sorted by page and position; a configured key
// without a page goes on page 1, one without a position after the
// placed keys at the first free position of its page (or the other page
// when it is full), in the configuration's order, so a console copying
// them gets keys that all have a valid place.
func (e *Engine) SpeedDials(user string) ([]SpeedDialView, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	u, ok := e.st.Config.Users[user]
	if !ok {
		return nil, false
	}
	sds, def := u.SpeedDials, true
	if us := e.st.Users[user]; us != nil && us.Preferences != nil && us.Preferences.OwnSpeedDials {
		sds, def = us.Preferences.SpeedDials, false
	}
	lines := e.lineStatuses()
	out := make([]SpeedDialView, 0, len(sds))
	taken := map[[2]int]bool{}
	for _, sd := range sds {
		sd.Page = max(sd.Page, 1)
		if sd.Position > 0 {
			taken[[2]int{sd.Page, sd.Position}] = true
		}
	}
	for _, sd := range sds {
		v := SpeedDialView{SpeedDial: sd, Default: def}
		v.Page = max(v.Page, 1)
		if v.Position == 0 { // the first free place from its page on (100 keys fit in 2 pages of 50)
			const slots = SpeedDialPages * MaxSpeedDialsPerPage
			for k := range slots {
				at := ((v.Page-1)*MaxSpeedDialsPerPage + k) % slots
				pg, pos := at/MaxSpeedDialsPerPage+1, at%MaxSpeedDialsPerPage+1
				if !taken[[2]int{pg, pos}] {
					v.Page, v.Position = pg, pos
					taken[[2]int{pg, pos}] = true
					break
				}
			}
		}
		if n, err := NormalizeNumber(sd.Number); err == nil {
			v.LineStatus = lines[n]
		}
		out = append(out, v)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Page != out[j].Page {
			return out[i].Page < out[j].Page
		}
		return out[i].Position < out[j].Position
	})
	return out, true
}
