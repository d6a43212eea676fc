package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/teamline/teamline/callback"
	"github.com/teamline/teamline/phone"
	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/router"
)

// Limits of the API.
const (
	// maxBody bounds a request body.
	maxBody = 64 << 10
	// maxSlotSpan bounds the range of GET .../slots.
	maxSlotSpan = 31 * 24 * time.Hour
	// defaultSlotSpan is the range of GET .../slots without "to".
	defaultSlotSpan = 24 * time.Hour
)

// Deps is what the API needs.
type Deps struct {
	// Token is the bearer token every request must carry. Empty refuses
	// every request.
	Token string
	// Callbacks books and reads callbacks.
	Callbacks *callback.Service
	// ResolveTeam returns the team that serves an E.164 number and the
	// customer it belongs to (empty if unknown); ok is false when no team
	// serves it.
	ResolveTeam func(e164 string) (teamID string, customerID string, ok bool)
	// DefaultCountry reads numbers written in national form (ISO 3166-1
	// alpha-2, e.g. "DE").
	DefaultCountry string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Roster returns the current roster (teams and agents).
	Roster func() *roster.Snapshot
	// Agents reads and sets agents' live states.
	Agents Agents
	// Loads returns a team's live load and storm state (for the wallboard);
	// nil shows every team idle.
	Loads func(teamID string) router.Load
}

// handler serves the API.
type handler struct {
	deps Deps
	log  zerolog.Logger
}

// New returns the API's handler, with bearer-token authentication in front
// of every route.
func New(deps Deps, log zerolog.Logger) http.Handler {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	log = log.With().Str("component", "api").Logger()
	if deps.Token == "" {
		log.Error().Msg("no API token configured: every API request will be refused")
	}
	h := &handler{deps: deps, log: log}
	mux := http.NewServeMux()
	mux.Handle("/v1/teams/{id}/slots", methods{http.MethodGet: h.slots})
	mux.Handle("/v1/callbacks", methods{http.MethodGet: h.list, http.MethodPost: h.book})
	mux.Handle("/v1/callbacks/{id}", methods{http.MethodGet: h.get, http.MethodPatch: h.reschedule, http.MethodDelete: h.cancel})
	if deps.Agents != nil && deps.Roster != nil {
		mux.Handle("/v1/agents", methods{http.MethodGet: h.agents})
		mux.Handle("/v1/agents/{id}", methods{http.MethodGet: h.agent})
		mux.Handle("/v1/agents/{id}/state", methods{http.MethodPut: h.setState})
		mux.Handle("/v1/wallboard", methods{http.MethodGet: h.wallboard})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	return h.logged(h.authenticated(mux))
}

// methods routes a path by method and answers 405 (with Allow) otherwise.
type methods map[string]http.HandlerFunc

// ServeHTTP calls the handler of r's method.
func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f, ok := m[r.Method]; ok {
		f(w, r)
		return
	}
	allow := make([]string, 0, len(m))
	for k := range m {
		allow = append(allow, k)
	}
	slices.Sort(allow)
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
}

// authenticated refuses requests without the right bearer token. Both tokens
// are hashed before the constant-time comparison, so that neither their
// contents nor the configured token's length leak through timing.
func (h *handler) authenticated(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(h.deps.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if h.deps.Token == "" || !strings.EqualFold(scheme, "Bearer") ||
			subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="teamline"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// logged logs each request's method, path, status and duration at debug
// level; never its headers (the token) or query.
func (h *handler) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		h.log.Debug().Str("method", r.Method).Str("path", r.URL.Path).Int("status", sw.status).
			Dur("took", time.Since(start)).Msg("api request")
	})
}

// slots serves GET /v1/teams/{id}/slots?from=&to=.
func (h *handler) slots(w http.ResponseWriter, r *http.Request) {
	team := r.PathValue("id")
	q := r.URL.Query()
	from, err := parseTime(q.Get("from"), h.deps.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, "from: "+err.Error())
		return
	}
	to, err := parseTime(q.Get("to"), from.Add(defaultSlotSpan))
	if err != nil {
		writeError(w, http.StatusBadRequest, "to: "+err.Error())
		return
	}
	if !to.After(from) || to.Sub(from) > maxSlotSpan {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("to must be after from, at most %d days later", maxSlotSpan/(24*time.Hour)))
		return
	}
	slots, err := h.deps.Callbacks.Slots(r.Context(), team, from, to)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Team  string     `json:"team"`
		Slots []slotJSON `json:"slots"`
	}{team, toSlots(slots)})
}

// book serves POST /v1/callbacks.
func (h *handler) book(w http.ResponseWriter, r *http.Request) {
	var body bookJSON
	if !readJSON(w, r, &body) {
		return
	}
	if body.Number == "" {
		writeError(w, http.StatusBadRequest, "number is required")
		return
	}
	number, err := phone.Normalize(body.Number, h.deps.DefaultCountry)
	if err != nil {
		writeError(w, http.StatusBadRequest, "number: "+err.Error())
		return
	}
	wish, err := body.wish()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	team, customer, ok := h.deps.ResolveTeam(number)
	if !ok {
		writeError(w, http.StatusBadRequest, "no team serves "+number)
		return
	}
	c, err := h.deps.Callbacks.Book(r.Context(), callback.Request{
		TeamID: team, CustomerID: customer, Number: number, Reason: body.Reason, Wish: wish,
	})
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Location", "/v1/callbacks/"+c.ID)
	writeJSON(w, http.StatusCreated, toCallback(c))
}

// wish checks that exactly one of slot, asap and window is given.
func (b whenJSON) wish() (callback.Wish, error) {
	n := 0
	if b.Slot != nil {
		n++
	}
	if b.ASAP {
		n++
	}
	if b.Window != nil {
		n++
	}
	if n != 1 {
		return callback.Wish{}, errors.New(`give exactly one of "slot", "asap": true and "window"`)
	}
	switch {
	case b.Slot != nil:
		return callback.Wish{Slot: *b.Slot}, nil
	case b.Window != nil:
		if b.Window.From == nil && b.Window.To == nil {
			return callback.Wish{}, errors.New(`window needs "from", "to" or both`)
		}
		var w callback.Wish
		if b.Window.From != nil {
			w.After = *b.Window.From
		}
		if b.Window.To != nil {
			w.Before = *b.Window.To
		}
		return w, nil
	}
	return callback.Wish{}, nil
}

// list serves GET /v1/callbacks?team=&state=&limit=.
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := callback.Filter{TeamID: q.Get("team"), State: callback.State(q.Get("state"))}
	if f.State != "" && !f.State.Valid() {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("state %q: want booked, dialing, completed, failed or cancelled", f.State))
		return
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > callback.MaxListLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: want 1 to %d", callback.MaxListLimit))
			return
		}
		f.Limit = n
	}
	cs, err := h.deps.Callbacks.List(r.Context(), f)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]callbackJSON, len(cs))
	for i, c := range cs {
		out[i] = toCallback(c)
	}
	writeJSON(w, http.StatusOK, struct {
		Callbacks []callbackJSON `json:"callbacks"`
	}{out})
}

// get serves GET /v1/callbacks/{id}.
func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	c, err := h.deps.Callbacks.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toDetail(c))
}

// reschedule serves PATCH /v1/callbacks/{id}.
func (h *handler) reschedule(w http.ResponseWriter, r *http.Request) {
	var body whenJSON
	if !readJSON(w, r, &body) {
		return
	}
	wish, err := body.wish()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	c, err := h.deps.Callbacks.Reschedule(r.Context(), r.PathValue("id"), wish)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toCallback(c))
}

// cancel serves DELETE /v1/callbacks/{id}.
func (h *handler) cancel(w http.ResponseWriter, r *http.Request) {
	c, err := h.deps.Callbacks.Cancel(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toCallback(c))
}

// fail answers with the status that err calls for.
func (h *handler) fail(w http.ResponseWriter, err error) {
	var full *callback.FullError
	var booked *callback.AlreadyBookedError
	switch {
	case errors.As(err, &full):
		writeJSON(w, http.StatusConflict, errorJSON{Error: err.Error(), NextFree: toSlots(full.Next)})
	case errors.As(err, &booked):
		c := toCallback(booked.Existing)
		writeJSON(w, http.StatusConflict, errorJSON{Error: err.Error(), Callback: &c})
	case errors.Is(err, callback.ErrState):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, callback.ErrNotFound), errors.Is(err, callback.ErrUnknownTeam):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, callback.ErrInvalid), errors.Is(err, callback.ErrNoSuchSlot):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		h.log.Error().Err(err).Msg("api request failed")
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

// parseTime reads an RFC 3339 time, or returns def for "".
func parseTime(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want an RFC 3339 time such as 2026-03-04T10:00:00+01:00, got %q", s)
	}
	return t, nil
}

// readJSON decodes the body into v, refusing unknown fields and trailing
// data; it answers 400 itself and returns false on failure.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorJSON{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone; nothing to do.
}
