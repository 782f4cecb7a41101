package contactcenter

import "fmt"

// PasswordHashRedacted stands for a user's password hash wherever the
// configuration is shown (Config.Document, hence GET /v1/config). Applied
// back in a document it keeps the user's current hash, so a configuration
// read, edited and applied again neither moves a hash over the wire nor
// locks anyone out. A user without a hash cannot be given it.
const PasswordHashRedacted = "redacted"

// redacted returns u as the configuration is shown: the password hash
// replaced by PasswordHashRedacted.
func (u User) redacted() User {
	if u.PasswordHash != "" {
		u.PasswordHash = PasswordHashRedacted
	}
	return u
}

// UserEvent is the data of config.user.created and config.user.updated:
// the user without the password hash. PasswordSet tells whether the user
// has one (an update that only changed the password shows nothing else).
type UserEvent struct {
	User
	PasswordSet bool `json:"password_set,omitempty"`
}

func userEvent(u User) any {
	ev := UserEvent{User: u, PasswordSet: u.PasswordHash != ""}
	ev.PasswordHash = ""
	return ev
}

// keepPasswords resolves PasswordHashRedacted in d's users: next keeps
// the hash cur has for that user.
func keepPasswords(cur, next Config, d Document) error {
	for i, u := range d.Users {
		if u.PasswordHash != PasswordHashRedacted {
			continue
		}
		old, ok := cur.Users[u.ID]
		if !ok || old.PasswordHash == "" {
			return fieldErr(fmt.Sprintf("users[%d].password_hash", i),
				"%q keeps the current password hash, and user %q has none: make one with `tandemctl hash-password`", PasswordHashRedacted, u.ID)
		}
		nu := next.Users[u.ID]
		nu.PasswordHash = old.PasswordHash
		next.Users[u.ID] = nu
	}
	return nil
}
