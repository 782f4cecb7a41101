package console

import (
	"encoding/json"
	"fmt"
	"slices"

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
