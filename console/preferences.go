package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
)

// ShortcutActions are the console actions a shortcut may name (the web
// console's shortcutActions, app.js; TestUIVocabulary keeps the two in
// step). The engine checks only their form.
var ShortcutActions = []string{
	"accept", "hangup", "hold", "park", "park_on", "observe", "transfer", "chain", "consult", "complete",
	"cancel", "dial", "retrieve", "couple", "report", "note",
	"state_disconnected", "state_paused", "state_connected", "prefs", "focus_target",
}

// Columns are the list columns an operator may hide, "list.column" (the
// web console's th[data-col] inside table[data-list], index.html).
var Columns = []string{
	"supervision.type", "supervision.number", "supervision.name", "supervision.time", "supervision.elapsed",
	"supervision.note", "supervision.owner",
	"queues.waiting", "queues.longest", "queues.service_level",
	"history.date", "history.contact", "history.op", "history.duration", "history.note", "history.extension",
	"voicemail.folder", "voicemail.contact", "voicemail.date", "voicemail.duration",
	"receptionists.extension", "receptionists.queues", "receptionists.state",
}

// checkConsoleVocabulary checks what the engine cannot know of a
// user.preferences payload CheckPayload accepted: shortcut actions and
// column names the console has.
func checkConsoleVocabulary(payload []byte) error {
	var p cc.PreferencesRequest
	if err := json.Unmarshal(payload, &p); err != nil {
		return fmt.Errorf("preferences: %w", err) // cannot happen after CheckPayload
	}
	for i, c := range p.Preferences.HiddenColumns {
		if !slices.Contains(Columns, c) {
			return &apierr.Error{Code: apierr.BadRequest, Field: fmt.Sprintf("preferences.hidden_columns[%d]", i),
				Message: fmt.Sprintf("unknown column %s", apierr.Quote(c))}
		}
	}
	for i, s := range p.Preferences.Shortcuts {
		if !slices.Contains(ShortcutActions, s.Action) {
			return &apierr.Error{Code: apierr.BadRequest, Field: fmt.Sprintf("preferences.shortcuts[%d].action", i),
				Message: fmt.Sprintf("unknown action %s", apierr.Quote(s.Action))}
		}
	}
	return nil
}

// checkRevision refuses a user.preferences payload that does not name
// the revision it was made from (a number; 0 when none were saved): a
// save without it could silently replace what another console of the
// same user saved since this one read the preferences (console/DESIGN.md,
// "Preferences and lost updates").
func checkRevision(fields map[string]json.RawMessage) error {
	raw, ok := fields["revision"]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return &apierr.Error{Code: apierr.BadRequest, Field: "revision",
			Message: "preferences: name the revision the preferences were read at (revision, or If-Match: the ETag of GET /preferences; 0 when none were saved), so a save never replaces another console's unseen"}
	}
	return nil
}

// withIfMatch puts the revision an If-Match header names (the ETag of
// GET /preferences, "N") into a preferences save's body. A body naming
// another revision, a header on another operation or of another form is
// a 400 naming If-Match.
func withIfMatch(op string, body []byte, ifMatch string) ([]byte, error) {
	bad := func(format string, args ...any) error {
		return &apierr.Error{Code: apierr.BadRequest, Field: "If-Match", Message: fmt.Sprintf(format, args...)}
	}
	if op != "preferences" {
		return nil, bad("%s: If-Match applies to preferences only", apierr.Quote(op))
	}
	tag := strings.TrimSpace(ifMatch)
	rev, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(tag, `"`), `"`), 10, 64)
	if err != nil || len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
		return nil, bad("want one ETag of GET /preferences (a quoted revision, e.g. \"3\"), not %s", apierr.Quote(ifMatch))
	}
	fields := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&fields); err != nil || dec.More() {
			return nil, apierr.Errorf(apierr.BadRequest, "%s: the body must be one JSON object", op)
		}
	}
	want := strconv.FormatUint(rev, 10)
	if given, ok := fields["revision"]; ok && string(bytes.TrimSpace(given)) != want {
		return nil, bad("If-Match %s and the body's revision %s differ", apierr.Quote(tag), apierr.Quote(string(given)))
	}
	fields["revision"] = json.RawMessage(want)
	return json.Marshal(fields)
}

// PreferencesDoc is GET /preferences: the user's preferences (absent
// until saved) and the revision a save must name, also in the ETag.
type PreferencesDoc struct {
	User        string          `json:"user"`
	Preferences *cc.Preferences `json:"preferences,omitempty"`
	Revision    uint64          `json:"revision"`
}

// etag is the ETag of a preferences revision.
func etag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }
