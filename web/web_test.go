package web

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/teamline/teamline/config"
	"github.com/teamline/teamline/internal/pgtest"
	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const erika = "+4930123456"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testBundle is one Teamline HTTP side on a real database, with a real
// roster and presence and a fake clock.
type testBundle struct {
	srv      *httptest.Server
	st       *store.Store
	links    *LinkSigner
	presence *roster.Presence
	snap     *roster.Snapshot
	clock    *clock

	liveMu sync.Mutex
	live   map[string]LiveCall
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	c := config.Default()
	c.DefaultTeam = "berlin"
	c.Teams = []config.Team{
		{ID: "berlin", Name: "Team Berlin", TimeZone: "Europe/Berlin", Prefixes: []string{"+4930"}, WrapUp: 30 * time.Second,
			Agents: []config.Agent{
				{ID: "anna", Name: "Anna Schmidt", Username: "anna", Password: "anna-pw"},
				{ID: "alex", Name: "Alex Weber", Username: "alex", Password: "alex-pw"},
			}},
		{ID: "national", Name: "National pool", TimeZone: "UTC", Agents: []config.Agent{
			{ID: "nora", Name: "Nora Lang", Username: "nora", Password: "nora-pw"},
		}},
	}
	c.Customers = []config.Customer{{ID: "cust-erika", Number: erika, Name: "Erika Musterfrau", Team: "berlin"}}
	snap, err := roster.FromConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().Truncate(time.Second)}
	b := &testBundle{st: pgtest.Store(t), snap: snap, clock: clk, live: map[string]LiveCall{}}
	b.presence = roster.NewPresenceWithOptions(roster.PresenceOptions{Now: clk.now, Roster: func() *roster.Snapshot { return snap }})
	b.links = NewLinkSigner("http://teamline.example:8080/", time.Hour)
	b.links.now = clk.now
	h := NewHandler(Deps{
		History: b.st, Roster: func() *roster.Snapshot { return snap }, Agents: b.presence, Links: b.links,
		Live: func(id string) (LiveCall, bool) {
			b.liveMu.Lock()
			defer b.liveMu.Unlock()
			lc, ok := b.live[id]
			return lc, ok
		},
		OpenCallbacks: func(_ context.Context, number string) ([]OpenCallback, error) {
			if number != erika {
				return nil, nil
			}
			at := time.Date(2026, 11, 26, 14, 30, 0, 0, time.UTC)
			return []OpenCallback{{SlotStart: at, SlotEnd: at.Add(15 * time.Minute), State: "booked", Reason: "invoice"}}, nil
		},
		SIP: func() SIPAccess {
			return SIPAccess{WebSocketURLs: []string{"ws://127.0.0.1:5066"}, Domain: "teamline.test"}
		},
		Metrics: http.NotFoundHandler(),
		Log:     zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Now:     clk.now,
	})
	b.srv = httptest.NewServer(h)
	t.Cleanup(b.srv.Close)
	return b
}

// pastCall records an answered, ended call of erika with anna and a
// wrap-up note on it, and returns its id.
func (b *testBundle) pastCall(t *testing.T, note string) string {
	t.Helper()
	ctx := context.Background()
	id := store.NewCallID()
	at := b.clock.now().Add(-24 * time.Hour)
	if err := b.st.InsertCall(ctx, store.CallStart{ID: id, SIPCallID: "sip-" + id, CallerNumber: erika,
		CustomerID: "cust-erika", TeamID: "berlin", At: at}); err != nil {
		t.Fatal(err)
	}
	if err := b.st.MarkAnswered(ctx, id, "anna", at.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := b.st.MarkEnded(ctx, id, store.OutcomeAnswered, store.HangupCaller, "", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.AddNote(ctx, store.Note{CallID: id, CustomerID: "cust-erika", Number: erika, AgentID: "anna",
		Kind: store.NoteWrapUp, Body: note}); err != nil {
		t.Fatal(err)
	}
	return id
}

// ring makes call id live and ringing agentID.
func (b *testBundle) ring(t *testing.T, id, agentID string) {
	t.Helper()
	b.liveMu.Lock()
	defer b.liveMu.Unlock()
	b.live[id] = LiveCall{ID: id, Number: erika, CustomerID: "cust-erika", CustomerName: "Erika Musterfrau", TeamID: "berlin",
		Trace: []string{"customer Erika Musterfrau is assigned to team berlin", "step 1: rings 1 agent: " + agentID}}
	b.presence.SetRegistered(agentID, true)
	if !b.presence.TryReserve(agentID, id) {
		t.Fatalf("could not reserve %s", agentID)
	}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, html.UnescapeString(string(body))
}

func TestCallInfoPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.pastCall(t, "Router replaced, check the LED next time")
	call := store.NewCallID()
	b.ring(t, call, "anna")
	if _, err := b.st.AddNote(context.Background(), store.Note{CallID: call, CustomerID: "cust-erika", Number: erika,
		AgentID: "alex", Kind: store.NoteTransfer, Body: "Wants to cancel the contract"}); err != nil {
		t.Fatal(err)
	}

	link := b.links.CallURL(call, "anna", "cust-erika", erika)
	if !strings.HasPrefix(link, "http://teamline.example:8080/history?") {
		t.Fatalf("link %q does not start at the public URL", link)
	}
	u, _ := url.Parse(link)
	page := b.srv.URL + "/history?"
	code, body := get(t, http.DefaultClient, page+u.RawQuery)
	for _, want := range []string{"Erika Musterfrau", erika, "Team Berlin", "Router replaced, check the LED next time",
		"Anna Schmidt", "Transferred by Alex Weber:", "Wants to cancel the contract", "step 1: rings 1 agent: anna",
		"invoice", `action="/history/notes"`} {
		if !strings.Contains(body, want) {
			t.Errorf("Call-Info page lacks %q", want)
		}
	}
	if code != http.StatusOK || t.Failed() {
		t.Fatalf("valid link: %d\n%s", code, body)
	}

	for _, param := range []string{"call", "agent", "customer", "number", "exp", "sig"} {
		q := u.Query()
		q.Set(param, q.Get(param)+"0")
		if code, body := get(t, http.DefaultClient, page+q.Encode()); code != http.StatusForbidden || !strings.Contains(body, "invalid or has expired") {
			t.Errorf("link with %s tampered: %d %q, want 403 with a message", param, code, body)
		}
	}

	// The note form posts the signed parameters back; the note is the
	// link's agent's, on the link's call.
	form := u.Query()
	form.Set("kind", "wrap_up")
	form.Set("body", "  Promised a technician for Friday  ")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.PostForm(b.srv.URL+"/history/notes", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("post note: %d, want 303", res.StatusCode)
	}
	code, body = get(t, http.DefaultClient, b.srv.URL+res.Header.Get("Location"))
	if code != http.StatusOK || !strings.Contains(body, "Note saved.") || !strings.Contains(body, "Promised a technician for Friday") {
		t.Fatalf("page after saving: %d\n%s", code, body)
	}
	notes, err := b.st.CallNotes(context.Background(), call)
	if err != nil || len(notes) != 2 {
		t.Fatalf("notes = %+v, %v", notes, err)
	}
	if n := notes[1]; n.AgentID != "anna" || n.Kind != store.NoteWrapUp || n.Body != "Promised a technician for Friday" ||
		n.CustomerID != "cust-erika" || n.Number != erika {
		t.Errorf("stored note = %+v", n)
	}

	form.Set("body", " ")
	res, err = noRedirect.PostForm(b.srv.URL+"/history/notes", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("empty note: %d, want 400", res.StatusCode)
	}
	form.Set("body", "someone else's call")
	form.Set("agent", "alex")
	res, err = noRedirect.PostForm(b.srv.URL+"/history/notes", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("note with a tampered agent: %d, want 403", res.StatusCode)
	}

	b.clock.add(2 * time.Hour)
	if code, _ := get(t, http.DefaultClient, page+u.RawQuery); code != http.StatusForbidden {
		t.Fatalf("expired link: %d, want 403", code)
	}
}

// consoleClient is a browser's cookie jar on the console's API.
type consoleClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newConsoleClient(t *testing.T, b *testBundle) *consoleClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &consoleClient{t: t, base: b.srv.URL + "/console/api/", c: &http.Client{Jar: jar}}
}

func (cc *consoleClient) do(method, path string, body any) (int, map[string]any, *http.Response) {
	cc.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, cc.base+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := cc.c.Do(req)
	if err != nil {
		cc.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return res.StatusCode, out, res
}

func TestConsoleLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cc := newConsoleClient(t, b)
	if code, _, _ := cc.do("GET", "me", nil); code != http.StatusUnauthorized {
		t.Fatalf("me without a session: %d, want 401", code)
	}
	code, out, res := cc.do("POST", "login", map[string]string{"username": "anna", "password": "anna-pw"})
	if code != http.StatusOK || out["name"] != "Anna Schmidt" || out["team_name"] != "Team Berlin" {
		t.Fatalf("login: %d %v", code, out)
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == sessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Secure || cookie.Path != "/console/" {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Strict, not Secure over plain HTTP", cookie)
	}
	if strings.Contains(cookie.Value, "anna-pw") {
		t.Fatal("the session cookie holds the password")
	}
	code, out, _ = cc.do("GET", "me", nil)
	sip, _ := out["sip"].(map[string]any)
	if code != http.StatusOK || out["id"] != "anna" || sip["domain"] != "teamline.test" {
		t.Fatalf("me: %d %v", code, out)
	}

	// A forged or expired cookie is no session.
	forged := newConsoleClient(t, b)
	u, _ := url.Parse(b.srv.URL + "/console/")
	forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: strings.Replace(cookie.Value, "YW5uYQ", "YWxleA", 1)}})
	if code, _, _ := forged.do("GET", "me", nil); code != http.StatusUnauthorized {
		t.Errorf("forged cookie (anna -> alex): %d, want 401", code)
	}
	b.clock.add(sessionTTL + time.Second)
	if code, _, _ := cc.do("GET", "me", nil); code != http.StatusUnauthorized {
		t.Errorf("expired session: %d, want 401", code)
	}

	// Wrong passwords and unknown users are refused alike; after
	// loginFailures failures the address must wait.
	other := newConsoleClient(t, b)
	for i := range loginFailures {
		body := map[string]string{"username": "anna", "password": "wrong"}
		if i%2 == 1 {
			body = map[string]string{"username": "nobody", "password": "anna-pw"}
		}
		if code, out, _ := other.do("POST", "login", body); code != http.StatusUnauthorized || out["error"] != "wrong user name or password" {
			t.Fatalf("failed login %d: %d %v", i, code, out)
		}
	}
	code, _, res = other.do("POST", "login", map[string]string{"username": "anna", "password": "anna-pw"})
	if code != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("login after %d failures: %d, want 429 with Retry-After", loginFailures, code)
	}
	b.clock.add(loginWindow)
	if code, _, _ := other.do("POST", "login", map[string]string{"username": "anna", "password": "anna-pw"}); code != http.StatusOK {
		t.Fatalf("login after the window: %d", code)
	}
	if code, _, _ := other.do("POST", "logout", nil); code != http.StatusNoContent {
		t.Fatalf("logout: %d", code)
	}
	if code, _, _ := other.do("GET", "me", nil); code != http.StatusUnauthorized {
		t.Fatalf("me after logout: %d, want 401", code)
	}
}

func TestConsoleStateAndTeam(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cc := newConsoleClient(t, b)
	if code, _, _ := cc.do("POST", "login", map[string]string{"username": "anna", "password": "anna-pw"}); code != http.StatusOK {
		t.Fatal("login failed")
	}
	b.presence.SetRegistered("anna", true)
	b.presence.SetRegistered("alex", true)

	code, out, _ := cc.do("PUT", "state", map[string]string{"state": "away", "reason": "lunch"})
	if code != http.StatusOK || out["state"] != "away" || out["reason"] != "lunch" {
		t.Fatalf("away: %d %v", code, out)
	}
	if code, _, _ := cc.do("PUT", "state", map[string]string{"state": "away"}); code != http.StatusBadRequest {
		t.Errorf("away without a reason: %d, want 400", code)
	}
	if code, _, _ := cc.do("PUT", "state", map[string]string{"state": "available"}); code != http.StatusOK {
		t.Fatalf("available: %d", code)
	}
	// Without JSON, nothing changes (a cross-site form cannot send JSON).
	req, _ := http.NewRequest("PUT", cc.base+"state", strings.NewReader("state=away&reason=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res, err := cc.c.Do(req); err != nil || res.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("form-encoded state change: %v %v, want 415", res, err)
	}

	// On a call: available is refused with a clear message; after it, the
	// wrap-up counts down on the server's clock.
	call := store.NewCallID()
	b.ring(t, call, "anna")
	b.presence.Answered("anna", call)
	code, out, _ = cc.do("PUT", "state", map[string]string{"state": "available"})
	if code != http.StatusConflict || !strings.Contains(out["error"].(string), "on a call") {
		t.Fatalf("available on a call: %d %v, want 409", code, out)
	}
	if _, out, _ = cc.do("GET", "me", nil); out["state"] != "on_call" || out["call_id"] != call {
		t.Fatalf("me on a call: %v", out)
	}
	b.presence.Release("anna", call)
	b.clock.add(12 * time.Second)
	_, out, _ = cc.do("GET", "me", nil)
	if out["state"] != "wrap_up" || out["wrap_up_left_ms"] != float64(18000) {
		t.Fatalf("me in wrap-up: %v, want 18000 ms left", out)
	}

	res, err := cc.c.Get(cc.base + "team")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var team []colleagueJSON
	if err := json.NewDecoder(res.Body).Decode(&team); err != nil {
		t.Fatal(err)
	}
	want := []colleagueJSON{
		{ID: "alex", Name: "Alex Weber", State: "available", URI: "sip:alex@teamline.test"},
		{Name: "National pool", URI: "sip:pool@teamline.test"},
	}
	if len(team) != len(want) || team[0] != want[0] || team[1] != want[1] {
		t.Fatalf("team = %+v, want %+v", team, want)
	}
}

func TestConsoleCallViewAndNotes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.pastCall(t, "Router replaced, check the LED next time")
	anna, alex := newConsoleClient(t, b), newConsoleClient(t, b)
	for _, l := range []struct {
		cc         *consoleClient
		user, pass string
	}{{anna, "anna", "anna-pw"}, {alex, "alex", "alex-pw"}} {
		if code, _, _ := l.cc.do("POST", "login", map[string]string{"username": l.user, "password": l.pass}); code != http.StatusOK {
			t.Fatalf("login %s failed", l.user)
		}
	}
	call := store.NewCallID()
	b.ring(t, call, "anna")

	code, view, _ := anna.do("GET", "calls/"+call, nil)
	if code != http.StatusOK || view["customer_name"] != "Erika Musterfrau" || view["team_name"] != "Team Berlin" || view["live"] != true {
		t.Fatalf("view of the ringing call: %d %v", code, view)
	}
	contacts, _ := view["contacts"].([]any)
	if len(contacts) != 1 || !strings.Contains(mustJSON(t, contacts), "Router replaced, check the LED next time") ||
		!strings.Contains(mustJSON(t, contacts), "Anna Schmidt") {
		t.Errorf("contacts = %s", mustJSON(t, contacts))
	}
	if !strings.Contains(mustJSON(t, view["trace"]), "step 1: rings 1 agent: anna") || !strings.Contains(mustJSON(t, view["callbacks"]), "invoice") {
		t.Errorf("view lacks the trace or the callback: %v", view)
	}
	// Another agent, and unknown or malformed ids, see nothing.
	for _, tc := range []struct {
		cc   *consoleClient
		path string
	}{{alex, "calls/" + call}, {anna, "calls/" + store.NewCallID()}, {anna, "calls/not-a-uuid"}} {
		if code, _, _ := tc.cc.do("GET", tc.path, nil); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", tc.path, code)
		}
	}
	if code, _, _ := alex.do("POST", "calls/"+call+"/notes", map[string]string{"kind": "wrap_up", "body": "x"}); code != http.StatusNotFound {
		t.Errorf("note by an agent the call never rang: %d, want 404", code)
	}

	// The call ends (no record written yet): anna still writes her note.
	b.presence.Answered("anna", call)
	b.presence.Release("anna", call)
	b.liveMu.Lock()
	delete(b.live, call)
	b.liveMu.Unlock()
	code, note, _ := anna.do("POST", "calls/"+call+"/notes", map[string]string{"kind": "wrap_up", "body": "Sent a new router"})
	if code != http.StatusCreated || note["agent_name"] != "Anna Schmidt" {
		t.Fatalf("wrap-up note: %d %v", code, note)
	}
	if code, _, _ := anna.do("POST", "calls/"+call+"/notes", map[string]string{"kind": "gossip", "body": "x"}); code != http.StatusBadRequest {
		t.Errorf("note of an unknown kind: %d, want 400", code)
	}
	notes, err := b.st.CallNotes(context.Background(), call)
	if err != nil || len(notes) != 1 || notes[0].CustomerID != "cust-erika" || notes[0].Number != erika || notes[0].AgentID != "anna" {
		t.Fatalf("stored notes = %+v, %v", notes, err)
	}

	// The next call from erika shows that note among the contacts.
	next := store.NewCallID()
	b.ring(t, next, "alex")
	_, view, _ = alex.do("GET", "calls/"+next, nil)
	if !strings.Contains(mustJSON(t, view["contacts"]), "Sent a new router") {
		t.Fatalf("next call's contacts lack the wrap-up note: %s", mustJSON(t, view["contacts"]))
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConsolePageAndHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		path, contains string
		code           int
	}{
		{"/healthz", "ok", 200},
		{"/wallboard", "/v1/wallboard", 200},
		{"/console/", `src="/phones/dist/jssip.js"`, 200},
		{"/console/console.js", "window.console_state", 200},
		{"/console/console.css", "body", 200},
		{"/console/nope.js", "", 404},
		{"/console/api/nope", "", 404},
	} {
		code, body := get(t, http.DefaultClient, b.srv.URL+tc.path)
		if code != tc.code || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: %d, want %d with %q", tc.path, code, tc.code, tc.contains)
		}
	}
}
