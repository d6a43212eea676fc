package web

import (
	"context"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/teamline/teamline/roster"
)

// Deps are what Teamline's HTTP side works with. History, Roster, Agents
// and Links are required; the rest may be nil.
type Deps struct {
	// History reads call records and notes and stores notes.
	History History
	// Roster returns the current roster (agents' logins and names, teams).
	Roster func() *roster.Snapshot
	// Agents is the live agent state the console shows and changes.
	Agents Agents
	// Live returns a call ringing or in progress by its record id.
	Live func(callID string) (LiveCall, bool)
	// OpenCallbacks returns the caller's open callbacks.
	OpenCallbacks func(ctx context.Context, number string) ([]OpenCallback, error)
	// Links signs and checks the Call-Info links.
	Links *LinkSigner
	// SIP says how the console's page reaches the SIP side.
	SIP func() SIPAccess
	// Metrics serves /metrics.
	Metrics http.Handler
	// Log is the HTTP side's logger.
	Log zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewHandler returns Teamline's HTTP handler: health, metrics, the
// wallboard, the browser phone pages, the agent console under /console/ and
// the Call-Info page under /history.
func NewHandler(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	log := d.Log
	mux := http.NewServeMux()
	if d.Metrics != nil {
		mux.Handle("GET /metrics", d.Metrics)
	}
	mux.HandleFunc("GET /wallboard", serveWallboard)
	dist, err := FindPhonesDist()
	if err != nil {
		log.Warn().Err(err).Msg("browser phone pages and the console are served without their SIP libraries (run `make browser-deps`)")
	}
	mux.Handle("GET /phones/", PhonesHandler(dist))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})

	view := &viewer{live: d.Live, history: d.History, callbacks: d.OpenCallbacks, roster: d.Roster, log: log}
	ci := &callInfo{links: d.Links, view: view, notes: d.History, log: log}
	mux.HandleFunc("GET "+historyPath, ci.page)
	mux.HandleFunc("POST "+historyPath+"/notes", ci.addNote)

	con := &console{
		sessions: newSessions(d.Now),
		limiter:  newLoginLimiter(d.Now),
		seen:     newSeenCalls(d.Now),
		roster:   d.Roster,
		agents:   d.Agents,
		view:     view,
		history:  d.History,
		sip:      d.SIP,
		log:      log,
		now:      d.Now,
	}
	con.routes(mux)
	return mux
}
