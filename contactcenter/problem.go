package contactcenter

import "github.com/tandemcc/tandem/command"

// Problem is a report-a-problem record: an operator picked an affected
// call from the recent list and described what went wrong.
type Problem struct {
	ID          string `json:"id"`
	Agent       string `json:"agent"`
	Call        string `json:"call"`
	Number      string `json:"number,omitempty"`
	Description string `json:"description"`
	At          int64  `json:"at"`
	// Reset: the operator also reset the phone (its calls were ended).
	Reset bool `json:"reset,omitempty"`
}

// MaxProblems bounds the problem records kept in the state (the events
// carry every one to reporting).
const MaxProblems = 500

// ReportProblemRequest is the payload of agent.report_problem. With
// Reset ("send and reset") the operator's phone is reset too: its calls
// end and a ringing offer goes back to where it waited; that needs
// Confirm.
type ReportProblemRequest struct {
	Agent       string `json:"agent"`
	Report      string `json:"report"`
	Call        string `json:"call"`
	Description string `json:"description"`
	Reset       bool   `json:"reset,omitempty"`
	Confirm     bool   `json:"confirm,omitempty"`
}

func (e *Engine) cmdReportProblem(env command.Envelope) (any, error) {
	var p ReportProblemRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if err := checkID("report", p.Report); err != nil {
		return nil, err
	}
	for _, pr := range e.st.Problems {
		if pr.ID == p.Report {
			return nil, fieldErr("report", "report %q already exists", p.Report)
		}
	}
	if p.Description == "" {
		return nil, fieldErr("description", "missing")
	}
	if err := checkText("description", p.Description, MaxDescriptionLen); err != nil {
		return nil, err
	}
	a, err := e.agent("report a problem", p.Agent)
	if err != nil {
		return nil, err
	}
	if p.Call == "" {
		return nil, fieldErr("call", "missing: pick the affected call from the recent list")
	}
	if !a.inRecentHistory(p.Call) {
		return nil, opErr(ErrNotInHistory, "report a problem", "call %q is not among agent %q's recent calls", p.Call, a.ID)
	}
	if p.Reset && !p.Confirm {
		return nil, opErr(ErrConfirmRequired, "report a problem", "send and reset ends every call of agent %q's phone; confirm it", a.ID)
	}
	pr := Problem{ID: p.Report, Agent: a.ID, Call: p.Call, Description: p.Description, At: e.now, Reset: p.Reset}
	if h, ok := a.lastEntry(p.Call); ok {
		pr.Number = h.Number
	}
	var ended []string
	if p.Reset {
		ended = e.resetPhone(a)
	}
	e.st.Problems = append(e.st.Problems, pr)
	if len(e.st.Problems) >= 2*MaxProblems {
		e.st.Problems = append([]Problem(nil), e.st.Problems[len(e.st.Problems)-MaxProblems:]...)
	}
	e.emit(EvProblemReported, pr)
	if p.Reset {
		e.emit(EvAgentPhoneReset, PhoneResetEvent{Agent: a.ID, Ended: ended})
	}
	return pr, nil
}

// resetPhone ends the calls on the operator's lines and sends a ringing
// offer back to where it waited.
func (e *Engine) resetPhone(a *AgentState) []string {
	var ended []string
	if a.Offer != "" {
		e.withdrawAgent(e.st.Calls[a.Offer], a, "reset")
	}
	for _, id := range []string{a.Line2, a.Line1} {
		if id == "" {
			continue
		}
		if c, ok := e.st.Calls[id]; ok && c.Place == PlaceLine && c.Agent == a.ID {
			e.endCall(c, "reset", "agent")
			ended = append(ended, id)
		}
	}
	return ended
}
