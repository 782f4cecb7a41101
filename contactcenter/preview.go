package contactcenter

import "github.com/tandemcc/tandem/command"

// Preview tells what a config.apply of req would change, without changing
// anything: the edge proposes nothing when nothing would change, so a
// repeated `tandemctl apply -f` commits no command. The refusals are those
// the apply would give.
func (e *Engine) Preview(req ApplyRequest) (ApplyResult, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	next, err := mergeStaged(e.st.Config, req.Document, req.Prune) // never committed: nothing changes
	if err != nil {
		return ApplyResult{}, err
	}
	if err := e.checkRemovals(next); err != nil {
		return ApplyResult{}, err
	}
	// diff emits the events an apply would; a throwaway emitter keeps them.
	res, _ := diffDetail(e.st.Config, next, command.NewEmitter(0, command.Envelope{}))
	return res, nil
}
