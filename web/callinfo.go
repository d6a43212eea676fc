package web

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/teamline/teamline/store"
)

// callInfo serves the Call-Info page: the customer view of one call for
// one agent, opened from the signed link in the INVITE to a softphone, and
// its note form.
type callInfo struct {
	links *LinkSigner
	view  *viewer
	notes History
	log   zerolog.Logger
}

// linkRefused is what an invalid or expired link gets.
const linkRefused = "This link is invalid or has expired. Links to a call's customer view are signed for one " +
	"agent and one call and last a day; open the link of the current call from your phone again."

// page serves GET /history.
func (c *callInfo) page(w http.ResponseWriter, r *http.Request) {
	link, ok := c.links.Verify(r.URL.Query())
	if !ok {
		refuse(w)
		return
	}
	c.render(w, r, link, http.StatusOK, r.URL.Query().Get("saved") != "", "")
}

// addNote serves POST /history/notes: the page's note form, posted with the
// link's signed parameters, stores a note by the link's agent on its call.
func (c *callInfo) addNote(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return
	}
	link, ok := c.links.Verify(r.PostForm)
	if !ok {
		refuse(w)
		return
	}
	kind := store.NoteKind(r.PostForm.Get("kind"))
	body := strings.TrimSpace(r.PostForm.Get("body"))
	note, err := c.notes.AddNote(r.Context(), store.Note{
		CallID: link.CallID, CustomerID: link.CustomerID, Number: link.Number,
		AgentID: link.AgentID, Kind: kind, Body: body,
	})
	if errors.Is(err, store.ErrInvalidNote) {
		c.render(w, r, link, http.StatusBadRequest, false,
			"The note was not saved: write 1 to 4000 characters and pick wrap-up or transfer.")
		return
	}
	if err != nil {
		c.log.Error().Err(err).Str("record", link.CallID).Str("agent", link.AgentID).Msg("Call-Info page: save note")
		c.render(w, r, link, http.StatusServiceUnavailable, false, "The note could not be saved right now; please try again.")
		return
	}
	c.log.Info().Str("record", link.CallID).Str("agent", link.AgentID).Str("kind", string(note.Kind)).
		Int64("note", note.ID).Msg("note saved from the Call-Info page")
	q := url.Values{}
	for _, k := range []string{"call", "agent", "customer", "number", "exp", "sig"} {
		q.Set(k, r.PostForm.Get(k))
	}
	q.Set("saved", "1")
	http.Redirect(w, r, historyPath+"?"+q.Encode(), http.StatusSeeOther)
}

func refuse(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, linkRefused, http.StatusForbidden)
}

// callInfoPage is what the template renders.
type callInfoPage struct {
	View    CustomerView
	Agent   string
	Form    url.Values
	Saved   bool
	Error   string
	Problem string
}

func (c *callInfo) render(w http.ResponseWriter, r *http.Request, link CallLink, code int, saved bool, problem string) {
	view, err := c.view.build(r.Context(), link.CallID, link)
	page := callInfoPage{View: view, Agent: c.view.agentName(c.view.snapshot(), link.AgentID), Saved: saved, Problem: problem}
	if err != nil {
		c.log.Warn().Err(err).Str("record", link.CallID).Msg("Call-Info page")
		page.View = CustomerView{CallID: link.CallID, Number: link.Number, CustomerID: link.CustomerID}
		page.Error = "The customer's history is not available right now."
	}
	page.Form = url.Values{}
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		q = r.PostForm
	}
	for _, k := range []string{"call", "agent", "customer", "number", "exp", "sig"} {
		page.Form.Set(k, q.Get(k))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The URL carries the link's signature: never hand it on.
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.WriteHeader(code)
	if err := callInfoTmpl.Execute(w, page); err != nil {
		c.log.Debug().Err(err).Msg("Call-Info page")
	}
}

var callInfoTmpl = template.Must(template.New("callinfo").Funcs(template.FuncMap{
	"when":       func(t time.Time) string { return t.Local().Format("2006-01-02 15:04") },
	"kind":       noteKindLabel,
	"isTransfer": func(kind string) bool { return kind == string(store.NoteTransfer) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Teamline – {{with .View.CustomerName}}{{.}}{{else}}{{.View.Number}}{{end}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:1.2rem;max-width:52rem;color:#1b1f24}
h1{margin:.2rem 0}.sub{color:#555;margin:.2rem 0 1rem}
.transfer{background:#fff4d6;border-left:4px solid #e0a400;padding:.6rem .8rem;margin:.6rem 0}
.note{white-space:pre-wrap}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
ol.trace{color:#333;font-size:.92rem}
.ok{color:#17663a}.err{color:#a01010}
textarea{width:100%;min-height:6rem}
</style></head>
<body>
<h1 id="customer">{{with .View.CustomerName}}{{.}}{{else}}Unknown caller{{end}}</h1>
<p class="sub"><span id="number">{{.View.Number}}</span>{{with .View.CustomerID}} · customer {{.}}{{end}}{{with .View.TeamName}} · {{.}}{{else}}{{with .View.TeamID}} · team {{.}}{{end}}{{end}}{{if .View.Live}} · call in progress{{end}}</p>
{{with .Error}}<p class="err">{{.}}</p>{{end}}
{{range .View.Missing}}<p class="err">Not available right now: {{.}}.</p>{{end}}
{{range .View.Notes}}{{if isTransfer .Kind}}<div class="transfer"><strong>Transferred by {{.AgentName}}:</strong> <span class="note">{{.Body}}</span></div>{{end}}{{end}}
{{if .View.Notes}}<h2>Notes on this call</h2><ul>{{range .View.Notes}}<li><strong>{{kind .Kind}}</strong> by {{.AgentName}}, {{when .At}}: <span class="note">{{.Body}}</span></li>{{end}}</ul>{{end}}
<h2>Last contacts</h2>
{{if .View.Contacts}}<table id="contacts"><tr><th>When</th><th>Agent</th><th>Outcome</th><th>Notes</th></tr>
{{range .View.Contacts}}<tr><td>{{when .At}}</td><td>{{.AgentName}}</td><td>{{with .Outcome}}{{.}}{{else}}–{{end}}</td><td>{{range .Notes}}<div class="note">{{.Body}} <small>({{.AgentName}})</small></div>{{end}}</td></tr>
{{end}}</table>{{else}}<p>No earlier calls.</p>{{end}}
<h2>Open callbacks</h2>
{{if .View.Callbacks}}<ul>{{range .View.Callbacks}}<li>{{when .SlotStart}}–{{.SlotEnd.Local.Format "15:04"}} ({{.State}}){{with .Reason}}: {{.}}{{end}}</li>{{end}}</ul>{{else}}<p>None.</p>{{end}}
{{if .View.Trace}}<h2>Why this call came to you</h2><ol class="trace">{{range .View.Trace}}<li>{{.}}</li>{{end}}</ol>{{end}}
<h2>Your note, {{.Agent}}</h2>
{{if .Saved}}<p class="ok" id="saved">Note saved.</p>{{end}}
{{with .Problem}}<p class="err">{{.}}</p>{{end}}
<form method="post" action="/history/notes">
{{range $k, $v := .Form}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}">{{end}}
<p><label><input type="radio" name="kind" value="wrap_up" checked> Wrap-up</label>
<label><input type="radio" name="kind" value="transfer"> For the colleague I transfer to</label></p>
<textarea name="body" maxlength="4000" required placeholder="What the next person should know"></textarea>
<p><button type="submit">Save note</button></p>
</form>
</body></html>
`))

// noteKindLabel names a note kind for people.
func noteKindLabel(kind string) string {
	switch store.NoteKind(kind) {
	case store.NoteWrapUp:
		return "Wrap-up"
	case store.NoteTransfer:
		return "Transfer"
	}
	return kind
}
