package web

import (
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/store"
)

// The console's page, script and style are committed and embedded; the
// JsSIP bundle it loads is served with the phone pages (/phones/dist/).
//
//go:embed console/*.html console/*.js console/*.css
var consoleFiles embed.FS

// Agents is what the console needs of live agent state; roster.Presence
// satisfies it.
type Agents interface {
	Status(agentID string) roster.AgentStatus
	SetAway(agentID, reason string) error
	SetAvailable(agentID string) error
}

// SIPAccess is how a browser reaches Teamline's SIP side.
type SIPAccess struct {
	// WebSocketURLs are the ws:// and wss:// URLs of the SIP-over-WebSocket
	// listeners.
	WebSocketURLs []string `json:"ws_urls"`
	// Domain is the SIP domain agents register in.
	Domain string `json:"domain"`
}

// poolUser is the Request-URI user of a transfer to the national pool.
const poolUser = "pool"

// maxAwayReason bounds an away reason, as the API does.
const maxAwayReason = 200

// console serves the agent console under /console/.
type console struct {
	sessions *sessions
	limiter  *loginLimiter
	seen     *seenCalls
	roster   func() *roster.Snapshot
	agents   Agents
	view     *viewer
	history  History
	sip      func() SIPAccess
	log      zerolog.Logger
	now      func() time.Time
}

func (c *console) routes(mux *http.ServeMux) {
	files, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the embed pattern above guarantees the directory
	}
	static := http.StripPrefix("/console/", http.FileServerFS(files))
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /console/{file...}", func(w http.ResponseWriter, r *http.Request) {
		if f := r.PathValue("file"); f != "" && f != "index.html" && strings.Count(f, "/") > 0 {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy",
			"default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; img-src 'self' data:; style-src 'self'; script-src 'self'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		static.ServeHTTP(w, r)
	})
	mux.HandleFunc("POST /console/api/login", c.login)
	mux.HandleFunc("POST /console/api/logout", c.logout)
	mux.HandleFunc("GET /console/api/me", c.authed(c.me))
	mux.HandleFunc("PUT /console/api/state", c.authed(c.setState))
	mux.HandleFunc("GET /console/api/team", c.authed(c.team))
	mux.HandleFunc("GET /console/api/calls/{id}", c.authed(c.callView))
	mux.HandleFunc("POST /console/api/calls/{id}/notes", c.authed(c.addNote))
}

// authed wraps an API handler: a valid session of a known agent, and JSON
// for anything that changes state (a form from another site cannot send it
// without a CORS preflight, on top of the SameSite=Strict cookie).
func (c *console) authed(h func(http.ResponseWriter, *http.Request, *roster.Agent)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		id, ok := c.sessions.agent(r)
		if !ok {
			writeJSONError(w, http.StatusUnauthorized, "please log in")
			return
		}
		a, ok := c.roster().Agent(id)
		if !ok {
			http.SetCookie(w, c.sessions.clear(r))
			writeJSONError(w, http.StatusUnauthorized, "please log in")
			return
		}
		if r.Method != http.MethodGet && !isJSON(r) {
			writeJSONError(w, http.StatusUnsupportedMediaType, "send JSON")
			return
		}
		h(w, r, a)
	}
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// loginBody is the body of POST /console/api/login.
type loginBody struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// login checks the agent's SIP credentials and starts a session.
func (c *console) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ip := sourceIP(r)
	if until, blocked := c.limiter.blocked(ip); blocked {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(until.Sub(c.now()).Seconds()+0.999))))
		writeJSONError(w, http.StatusTooManyRequests, "too many failed logins: wait a minute and try again")
		return
	}
	if !isJSON(r) {
		writeJSONError(w, http.StatusUnsupportedMediaType, "send JSON")
		return
	}
	var body loginBody
	if !readJSONBody(w, r, &body) {
		return
	}
	a, known := c.roster().AgentByUsername(body.Username)
	want := "\x00no such agent"
	if known {
		want = a.Password
	}
	// Compared even for an unknown user name, so that the time taken does
	// not tell which names exist.
	if !passwordMatches(body.Password, want) || !known {
		c.limiter.failed(ip)
		c.log.Warn().Str("username", body.Username).Str("source", ip).Msg("console login refused: wrong user name or password")
		writeJSONError(w, http.StatusUnauthorized, "wrong user name or password")
		return
	}
	http.SetCookie(w, c.sessions.cookie(r, a.ID))
	c.log.Info().Str("agent", a.ID).Str("source", ip).Msg("console login")
	writeJSON(w, http.StatusOK, c.meJSON(a))
}

func (c *console) logout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if id, ok := c.sessions.agent(r); ok {
		c.log.Info().Str("agent", id).Msg("console logout")
	}
	http.SetCookie(w, c.sessions.clear(r))
	w.WriteHeader(http.StatusNoContent)
}

// meJSON is the logged-in agent and their live state.
type meJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Username string `json:"username"`
	TeamID   string `json:"team_id"`
	TeamName string `json:"team_name"`
	stateJSON
	SIP SIPAccess `json:"sip"`
}

// stateJSON is an agent's live state as the console shows it.
type stateJSON struct {
	State      string     `json:"state"`
	Reason     string     `json:"reason,omitempty"`
	Since      *time.Time `json:"since,omitempty"`
	Registered bool       `json:"registered"`
	// WrapUpLeftMS is what is left of the wrap-up time, in milliseconds
	// (counted on the server's clock, so the page's clock does not matter).
	WrapUpLeftMS int64 `json:"wrap_up_left_ms,omitempty"`
	// CallID is the call ringing or holding the agent.
	CallID string `json:"call_id,omitempty"`
}

func (c *console) stateJSON(a *roster.Agent) stateJSON {
	st := c.agents.Status(a.ID)
	out := stateJSON{State: st.State.Token(), Reason: st.Reason, Registered: st.Registered, CallID: st.CallID}
	if !st.Since.IsZero() {
		out.Since = &st.Since
	}
	if st.State == roster.WrapUp && !st.Since.IsZero() {
		// Wrap-up lasts the team's wrap-up time from when it began.
		if t, ok := c.roster().Team(a.TeamID); ok {
			out.WrapUpLeftMS = max(0, st.Since.Add(t.WrapUp).Sub(c.now()).Milliseconds())
		}
	}
	return out
}

func (c *console) meJSON(a *roster.Agent) meJSON {
	out := meJSON{ID: a.ID, Name: a.Name, Username: a.Username, TeamID: a.TeamID, stateJSON: c.stateJSON(a)}
	if t, ok := c.roster().Team(a.TeamID); ok {
		out.TeamName = t.Name
	}
	if c.sip != nil {
		out.SIP = c.sip()
	}
	return out
}

// me serves GET /console/api/me, polled by the page.
func (c *console) me(w http.ResponseWriter, _ *http.Request, a *roster.Agent) {
	writeJSON(w, http.StatusOK, c.meJSON(a))
}

// stateBody is the body of PUT /console/api/state.
type stateBody struct {
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// setState serves PUT /console/api/state: available, or away with a reason.
func (c *console) setState(w http.ResponseWriter, r *http.Request, a *roster.Agent) {
	var body stateBody
	if !readJSONBody(w, r, &body) {
		return
	}
	body.Reason = strings.TrimSpace(body.Reason)
	var err error
	switch body.State {
	case "away":
		if body.Reason == "" || len(body.Reason) > maxAwayReason {
			writeJSONError(w, http.StatusBadRequest, "say why you are away (1 to 200 characters)")
			return
		}
		err = c.agents.SetAway(a.ID, body.Reason)
	case "available":
		err = c.agents.SetAvailable(a.ID)
	default:
		writeJSONError(w, http.StatusBadRequest, `state must be "available" or "away"`)
		return
	}
	switch {
	case errors.Is(err, roster.ErrBusy):
		writeJSONError(w, http.StatusConflict, "you are on a call: you become available when it ends")
		return
	case err != nil:
		c.log.Error().Err(err).Str("agent", a.ID).Msg("console: set state")
		writeJSONError(w, http.StatusInternalServerError, "the state could not be changed")
		return
	}
	c.log.Info().Str("agent", a.ID).Str("state", body.State).Str("reason", body.Reason).Msg("agent state set in the console")
	writeJSON(w, http.StatusOK, c.meJSON(a))
}

// colleagueJSON is a transfer target.
type colleagueJSON struct {
	ID    string `json:"id,omitempty"`
	Name  string `json:"name"`
	State string `json:"state,omitempty"`
	// URI is the REFER target.
	URI string `json:"uri"`
}

// team serves GET /console/api/team: the agent's colleagues with their
// state, and the national pool, as transfer targets.
func (c *console) team(w http.ResponseWriter, _ *http.Request, a *roster.Agent) {
	domain := ""
	if c.sip != nil {
		domain = c.sip().Domain
	}
	out := []colleagueJSON{}
	if t, ok := c.roster().Team(a.TeamID); ok {
		for _, m := range t.Agents {
			if m.ID == a.ID {
				continue
			}
			out = append(out, colleagueJSON{ID: m.ID, Name: m.Name, State: c.agents.Status(m.ID).State.Token(),
				URI: "sip:" + m.Username + "@" + domain})
		}
	}
	out = append(out, colleagueJSON{Name: "National pool", URI: "sip:" + poolUser + "@" + domain})
	writeJSON(w, http.StatusOK, out)
}

// allowed reports whether agent a may see call callID: it rings or holds
// them now, it rang them before (remembered), or they answered it.
func (c *console) allowed(r *http.Request, a *roster.Agent, callID string) (seenCall, bool) {
	if st := c.agents.Status(a.ID); st.CallID == callID && callID != "" {
		lc, _ := c.view.liveCall(callID)
		seen := seenCall{customerID: lc.CustomerID, number: lc.Number}
		c.seen.add(a.ID, callID, lc.CustomerID, lc.Number)
		return seen, true
	}
	if seen, ok := c.seen.get(a.ID, callID); ok {
		return seen, true
	}
	rec, err := c.history.Call(r.Context(), callID)
	if err == nil && rec.AgentID == a.ID {
		return seenCall{customerID: rec.CustomerID, number: rec.CallerNumber}, true
	}
	return seenCall{}, false
}

// callView serves GET /console/api/calls/{id}: the customer view of a call
// that rings or rang this agent.
func (c *console) callView(w http.ResponseWriter, r *http.Request, a *roster.Agent) {
	id := r.PathValue("id")
	seen, ok := c.allowed(r, a, id)
	if !ok {
		writeJSONError(w, http.StatusNotFound, "no call "+id+" for you")
		return
	}
	view, err := c.view.build(r.Context(), id, CallLink{CustomerID: seen.customerID, Number: seen.number})
	if err != nil {
		c.log.Warn().Err(err).Str("record", id).Str("agent", a.ID).Msg("console: customer view")
		writeJSONError(w, http.StatusServiceUnavailable, "the customer view is not available right now")
		return
	}
	writeJSON(w, http.StatusOK, view)
}

// noteBody is the body of POST /console/api/calls/{id}/notes.
type noteBody struct {
	Kind string `json:"kind"`
	Body string `json:"body"`
}

// addNote serves POST /console/api/calls/{id}/notes: a wrap-up or transfer
// note by the agent on a call that rings or rang them.
func (c *console) addNote(w http.ResponseWriter, r *http.Request, a *roster.Agent) {
	id := r.PathValue("id")
	seen, ok := c.allowed(r, a, id)
	if !ok {
		writeJSONError(w, http.StatusNotFound, "no call "+id+" for you")
		return
	}
	var body noteBody
	if !readJSONBody(w, r, &body) {
		return
	}
	if seen.number == "" && seen.customerID == "" {
		if rec, err := c.history.Call(r.Context(), id); err == nil {
			seen.customerID, seen.number = rec.CustomerID, rec.CallerNumber
		}
	}
	note, err := c.history.AddNote(r.Context(), store.Note{
		CallID: id, CustomerID: seen.customerID, Number: seen.number, AgentID: a.ID,
		Kind: store.NoteKind(body.Kind), Body: strings.TrimSpace(body.Body),
	})
	if errors.Is(err, store.ErrInvalidNote) {
		writeJSONError(w, http.StatusBadRequest, "write 1 to 4000 characters; kind is wrap_up or transfer")
		return
	}
	if err != nil {
		c.log.Error().Err(err).Str("record", id).Str("agent", a.ID).Msg("console: save note")
		writeJSONError(w, http.StatusServiceUnavailable, "the note could not be saved right now")
		return
	}
	c.log.Info().Str("record", id).Str("agent", a.ID).Str("kind", string(note.Kind)).Int64("note", note.ID).Msg("note saved in the console")
	writeJSON(w, http.StatusCreated, c.view.note(c.roster(), note))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// readJSONBody decodes a small JSON body into v, answering 400 itself when
// it cannot.
func readJSONBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad JSON body")
		return false
	}
	return true
}
