package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/teamline/teamline/roster"
)

// Agents is what the agent endpoints need of live agent state;
// roster.Presence satisfies it.
type Agents interface {
	Status(agentID string) roster.AgentStatus
	SetAway(agentID, reason string) error
	SetAvailable(agentID string) error
}

// agentJSON is an agent's live state.
type agentJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Team       string     `json:"team"`
	State      string     `json:"state"`
	Reason     string     `json:"reason,omitempty"`
	Since      *time.Time `json:"since,omitempty"`
	Registered bool       `json:"registered"`
}

func (h *handler) agentJSON(a *roster.Agent) agentJSON {
	st := h.deps.Agents.Status(a.ID)
	j := agentJSON{ID: a.ID, Name: a.Name, Team: a.TeamID, State: st.State.Token(), Reason: st.Reason, Registered: st.Registered}
	if !st.Since.IsZero() {
		j.Since = &st.Since
	}
	return j
}

// agents serves GET /v1/agents?team=.
func (h *handler) agents(w http.ResponseWriter, r *http.Request) {
	team := r.URL.Query().Get("team")
	out := []agentJSON{}
	for _, t := range h.deps.Roster().Teams() {
		if team != "" && t.ID != team {
			continue
		}
		for _, a := range t.Agents {
			out = append(out, h.agentJSON(a))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// agent serves GET /v1/agents/{id}.
func (h *handler) agent(w http.ResponseWriter, r *http.Request) {
	a, ok := h.deps.Roster().Agent(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "no such agent: "+r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, h.agentJSON(a))
}

// stateBody is the body of PUT /v1/agents/{id}/state.
type stateBody struct {
	// State is "available" or "away".
	State string `json:"state"`
	// Reason says why the agent is away ("lunch", "training").
	Reason string `json:"reason"`
}

// maxReason bounds an away reason.
const maxReason = 200

// setState serves PUT /v1/agents/{id}/state: a softphone user goes away
// (with a reason) and comes back.
func (h *handler) setState(w http.ResponseWriter, r *http.Request) {
	a, ok := h.deps.Roster().Agent(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "no such agent: "+r.PathValue("id"))
		return
	}
	var body stateBody
	if !readJSON(w, r, &body) {
		return
	}
	var err error
	switch body.State {
	case "away":
		if body.Reason == "" || len(body.Reason) > maxReason {
			writeError(w, http.StatusBadRequest, "away needs a reason of 1 to 200 characters")
			return
		}
		err = h.deps.Agents.SetAway(a.ID, body.Reason)
	case "available":
		err = h.deps.Agents.SetAvailable(a.ID)
	default:
		writeError(w, http.StatusBadRequest, `state must be "available" or "away"`)
		return
	}
	switch {
	case errors.Is(err, roster.ErrBusy):
		writeError(w, http.StatusConflict, "agent "+a.ID+" is on a call; they become available when it ends")
		return
	case errors.Is(err, roster.ErrUnknownAgent):
		writeError(w, http.StatusNotFound, "no such agent: "+a.ID)
		return
	case err != nil:
		h.log.Error().Err(err).Str("agent", a.ID).Msg("set agent state")
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	h.log.Info().Str("agent", a.ID).Str("state", body.State).Str("reason", body.Reason).Msg("agent state set over the API")
	writeJSON(w, http.StatusOK, h.agentJSON(a))
}
