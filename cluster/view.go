package cluster

// ViewAt runs fn while no command is being applied and passes it the Raft
// index of the last applied entry, so that whatever fn reads from the
// machines is the state exactly as of that index. Event consumers pair the
// two: a console loads the state at index, then follows the event stream
// from (index, end), missing nothing and seeing nothing twice. fn must be
// quick (the apply loop waits for it) and must not call back into the
// Store.
func (s *Store) ViewAt(fn func(index uint64)) {
	s.fsm.mu.Lock()
	defer s.fsm.mu.Unlock()
	fn(s.fsm.applied.Load())
}
