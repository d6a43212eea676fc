package api

import (
	"net/http"
	"time"

	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/router"
)

// teamBoardJSON is one team on the wallboard: its load, storm mode and how
// many agents are in each state.
type teamBoardJSON struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Ringing  int            `json:"callers_ringing"`
	Waiting  int            `json:"callers_waiting"`
	Overflow int            `json:"overflow_calls"`
	Storm    bool           `json:"storm"`
	Since    *time.Time     `json:"storm_since,omitempty"`
	Agents   map[string]int `json:"agents"`
}

// wallboard serves GET /v1/wallboard: every team's live load, storm mode
// and agent states, for the supervisors' wallboard page.
func (h *handler) wallboard(w http.ResponseWriter, _ *http.Request) {
	out := []teamBoardJSON{}
	for _, t := range h.deps.Roster().Teams() {
		var load router.Load
		if h.deps.Loads != nil {
			load = h.deps.Loads(t.ID)
		}
		b := teamBoardJSON{ID: t.ID, Name: t.Name, Ringing: load.Ringing, Waiting: load.Waiting,
			Overflow: load.Overflow, Storm: load.Storm.Active, Agents: map[string]int{}}
		if load.Storm.Active && !load.Storm.Since.IsZero() {
			since := load.Storm.Since
			b.Since = &since
		}
		for _, st := range []roster.AgentState{roster.Offline, roster.Available, roster.Ringing, roster.OnCall, roster.WrapUp, roster.Away} {
			b.Agents[st.Token()] = 0
		}
		for _, a := range t.Agents {
			b.Agents[h.deps.Agents.Status(a.ID).State.Token()]++
		}
		out = append(out, b)
	}
	writeJSON(w, http.StatusOK, out)
}
