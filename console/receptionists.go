package console

import (
	"net/http"
	"sort"

	cc "github.com/tandemcc/tandem/contactcenter"
)

// Receptionist is one operator as the console's receptionists tab shows
// it: who, the queues served, the state and whether a call is on it.
type Receptionist struct {
	Agent     string   `json:"agent"`
	Name      string   `json:"name,omitempty"`
	Extension string   `json:"extension,omitempty"`
	Queues    []string `json:"queues"`
	State     string   `json:"state"`
	Reason    string   `json:"reason,omitempty"`
	OnCall    bool     `json:"on_call"`
}

// receptionists lists every operator (GET /receptionists). Other
// operators' agent events are not in a console's stream (filter.go), so
// the tab reads this route.
func (h *Handler) receptionists(w http.ResponseWriter, r *http.Request, a Actor) {
	h.readThen(w, r, func() (any, error) {
		out := []Receptionist{}
		h.Service.Engine.View(func(st *cc.State) {
			for id, conf := range st.Config.Agents {
				rec := Receptionist{Agent: id, Name: conf.Name, Extension: conf.Extension,
					Queues: append([]string{}, conf.Queues...), State: cc.StateDisconnected}
				if rec.Name == "" {
					rec.Name = st.Config.Users[conf.User].Name
				}
				if ag, ok := st.Agents[id]; ok {
					rec.State, rec.Reason = ag.State, ag.Reason
					rec.OnCall = ag.Line1 != "" || ag.Line2 != "" || ag.Offer != ""
				}
				out = append(out, rec)
			}
		})
		sort.Slice(out, func(i, j int) bool { return out[i].Agent < out[j].Agent })
		return out, nil
	})
}
