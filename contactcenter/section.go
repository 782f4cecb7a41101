package contactcenter

// SnapshotVersion is the version of the engine's snapshot encoding
// (Snapshot, Restore). Raise it when the encoding changes in a way an
// older build would misread; Restore must keep reading the older ones.
const SnapshotVersion = 1

// Section implements cluster.Machine: the engine's part of a Raft
// snapshot is "contactcenter", present since the first snapshot format.
func (e *Engine) Section() (name string, version, since int) {
	return "contactcenter", SnapshotVersion, 1
}
