package web

import (
	"context"
	"html/template"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/teamline/teamline/store"
)

// CallHistory is what the history page reads.
type CallHistory interface {
	RecentCalls(ctx context.Context, customerID string, limit int) ([]store.Call, error)
}

// NewHandler returns Teamline's HTTP handler.
func NewHandler(calls CallHistory, links *LinkSigner, metrics http.Handler, log zerolog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /wallboard", serveWallboard)
	dist, err := FindPhonesDist()
	if err != nil {
		log.Warn().Err(err).Msg("browser phone pages are served without their SIP libraries (run `make browser-deps`)")
	}
	mux.Handle("GET /phones/", PhonesHandler(dist))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /history", func(w http.ResponseWriter, r *http.Request) {
		customerID, number, ok := links.Verify(r.URL.Query())
		if !ok {
			http.Error(w, "this link is invalid or has expired", http.StatusForbidden)
			return
		}
		page := historyPage{CustomerID: customerID, Number: number}
		if customerID != "" {
			ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
			defer cancel()
			calls, err := calls.RecentCalls(ctx, customerID, 20)
			if err != nil {
				log.Warn().Err(err).Str("customer", customerID).Msg("history page: recent calls")
				page.Error = "The call history is not available right now."
			}
			page.Calls = calls
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := historyTmpl.Execute(w, page); err != nil {
			log.Debug().Err(err).Msg("history page")
		}
	})
	return mux
}

type historyPage struct {
	CustomerID, Number, Error string
	Calls                     []store.Call
}

var historyTmpl = template.Must(template.New("history").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.Format("2006-01-02 15:04") },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Teamline – {{.Number}}</title></head>
<body>
<h1>Caller {{.Number}}</h1>
{{if .CustomerID}}<p>Customer <strong>{{.CustomerID}}</strong></p>{{else}}<p>No customer record for this number.</p>{{end}}
{{if .Error}}<p>{{.Error}}</p>{{end}}
<h2>Last contacts</h2>
{{if .Calls}}<table>
<tr><th>When</th><th>Team</th><th>Agent</th><th>Outcome</th></tr>
{{range .Calls}}<tr><td>{{when .CreatedAt}}</td><td>{{.TeamID}}</td><td>{{.AgentID}}</td><td>{{.Outcome}}</td></tr>
{{end}}</table>{{else}}<p>No earlier calls.</p>{{end}}
</body></html>
`))
