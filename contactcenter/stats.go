package contactcenter

// Read-only counts for monitoring (package snmp). They read the
// replicated state only, so every node answers the same.

// ExtensionUsage counts the configured voice extensions by line status.
type ExtensionUsage struct {
	Configured int `json:"configured"`
	// Operational extensions can ring: a phone registered, or a mobile
	// phone (line status other than not connected).
	Operational int `json:"operational"`
	// InUse extensions are on a call (busy, external or internal).
	InUse int `json:"in_use"`
}

// ExtensionUsage returns the extensions' counts, as the directory's line
// statuses have them.
func (e *Engine) ExtensionUsage() ExtensionUsage {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var u ExtensionUsage
	for _, st := range e.lineStatuses() {
		u.Configured++
		switch st {
		case LineNotConnected:
		case LineBusyExternal, LineBusyInternal:
			u.Operational++
			u.InUse++
		default:
			u.Operational++
		}
	}
	return u
}
