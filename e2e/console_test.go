package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/teamline/teamline/config"
	"github.com/teamline/teamline/internal/peer"
	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/store"
)

// consoleDriver is one headless Chromium holding the agent console, driven
// step by step through e2e/browser/console.mjs.
type consoleDriver struct {
	t       *testing.T
	stdin   io.Writer
	replies chan consoleReply
	id      int
}

type consoleReply struct {
	ID     int             `json:"id"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
	State  json.RawMessage `json:"state"`
}

// consoleState is the part of the page's window.console_state the tests
// read.
type consoleState struct {
	Registered      bool     `json:"registered"`
	CallState       string   `json:"callState"`
	CallID          string   `json:"callId"`
	ViewLoaded      bool     `json:"viewLoaded"`
	Held            bool     `json:"held"`
	HoldMode        string   `json:"holdMode"`
	InviteAt        float64  `json:"inviteAt"`
	AnsweredAt      float64  `json:"answeredAt"`
	FirstPacketAt   float64  `json:"firstPacketAt"`
	PacketsReceived int      `json:"packetsReceived"`
	PacketsSent     int      `json:"packetsSent"`
	AudioLevel      float64  `json:"audioLevel"`
	Errors          []string `json:"errors"`
}

// needBrowserDeps fails the test when `make browser-deps` has not run.
func needBrowserDeps(t *testing.T) string {
	t.Helper()
	root, err := peer.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, need := range []string{"node_modules/playwright-core", "web/phones/dist/jssip.js"} {
		if _, err := os.Stat(filepath.Join(root, need)); err != nil {
			t.Fatalf("%s is missing: run `make browser-deps`", need)
		}
	}
	return root
}

// startConsoleBrowser starts Chromium with wav as the fake microphone; it is
// stopped at cleanup, also on failure.
func startConsoleBrowser(t *testing.T, node, chromium, wav string) *consoleDriver {
	t.Helper()
	needBrowserDeps(t)
	d := &consoleDriver{t: t, replies: make(chan consoleReply, 1)}
	nd := startNodeDriver(t, "console driver", node, chromium, "console.mjs", wav)
	d.stdin = nd.stdin
	go func() {
		defer close(d.replies)
		for line := range nd.lines {
			var r consoleReply
			if err := json.Unmarshal(line, &r); err != nil {
				r = consoleReply{Error: "bad driver line: " + string(line)}
			}
			d.replies <- r
		}
	}()
	return d
}

// do runs one driver command and returns its result; a failed command
// fails the test.
func (d *consoleDriver) do(ctx context.Context, cmd string, args map[string]any) json.RawMessage {
	d.t.Helper()
	d.id++
	msg := map[string]any{"id": d.id, "cmd": cmd}
	for k, v := range args {
		msg[k] = v
	}
	line, _ := json.Marshal(msg)
	if _, err := d.stdin.Write(append(line, '\n')); err != nil {
		d.t.Fatalf("console %s: %v", cmd, err)
	}
	select {
	case r, ok := <-d.replies:
		if !ok {
			d.t.Fatalf("console driver exited during %s", cmd)
		}
		if !r.OK || r.ID != d.id {
			d.t.Fatalf("console %s %v: %s (reply %d)\npage state: %s", cmd, args, r.Error, r.ID, r.State)
		}
		return r.Result
	case <-ctx.Done():
		d.t.Fatalf("console %s: no reply in time", cmd)
	}
	return nil
}

func (d *consoleDriver) text(ctx context.Context, selector string) string {
	d.t.Helper()
	var s string
	if err := json.Unmarshal(d.do(ctx, "text", map[string]any{"selector": selector}), &s); err != nil {
		d.t.Fatal(err)
	}
	return s
}

func (d *consoleDriver) wait(ctx context.Context, expr string, timeout time.Duration) {
	d.t.Helper()
	d.do(ctx, "wait", map[string]any{"expr": expr, "timeoutMs": timeout.Milliseconds()})
}

func (d *consoleDriver) state(ctx context.Context) consoleState {
	d.t.Helper()
	var s consoleState
	if err := json.Unmarshal(d.do(ctx, "state", nil), &s); err != nil {
		d.t.Fatal(err)
	}
	return s
}

// seedContact records an earlier answered call of a customer with a
// wrap-up note on it, as if it happened yesterday.
func seedContact(t *testing.T, tl *teamline, customerID, number, agentID, note string) string {
	t.Helper()
	ctx := waitCtx(t, 10*time.Second)
	st := tl.app.Store
	id := store.NewCallID()
	at := time.Now().Add(-24 * time.Hour)
	if err := st.InsertCall(ctx, store.CallStart{ID: id, SIPCallID: "seed-" + id, CallerNumber: number,
		CustomerID: customerID, TeamID: "berlin", At: at}); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkAnswered(ctx, id, agentID, at.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkEnded(ctx, id, store.OutcomeAnswered, store.HangupCaller, "", at.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddNote(ctx, store.Note{CallID: id, CustomerID: customerID, Number: number, AgentID: agentID,
		Kind: store.NoteWrapUp, Body: note}); err != nil {
		t.Fatal(err)
	}
	return id
}

// artifactsDir is where tests keep what a person should look at afterwards
// (screenshots): $TEAMLINE_ARTIFACTS, else a temporary directory.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TEAMLINE_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startConsoleTeamline starts Teamline for console tests: WSS with a
// self-signed certificate, the page's origin allowed, links at the page's
// origin. Nobody else is registered at first: an agent rings alone, for as
// long as a test needs to read the screen, in whichever step rings them.
func startConsoleTeamline(t *testing.T) (tl *teamline, origin, dir string) {
	t.Helper()
	dir = t.TempDir()
	httpPort := peer.FreeTCPPort(t)
	origin = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	tl = startTeamline(t, tlOptions{
		httpListen: fmt.Sprintf("127.0.0.1:%d", httpPort), ringTimeout: 90 * time.Second,
		affinityRing: 60 * time.Second, waveRing: 60 * time.Second,
		edit: func(c *config.Config) {
			c.SIP.WSS = "127.0.0.1:0"
			c.SIP.TLSCert = filepath.Join(dir, "wss.crt") // created self-signed
			c.SIP.TLSKey = filepath.Join(dir, "wss.key")
			c.SIP.WSOrigins = []string{origin}
			c.HTTP.PublicURL = origin
		},
	})
	return tl, origin, dir
}

// openConsole starts Teamline for a console test and a headless Chromium
// whose microphone plays a 1000 Hz tone, and opens the console page at path
// ("/console/" and its query).
func openConsole(t *testing.T, ctx context.Context, path string) (*teamline, *consoleDriver) {
	t.Helper()
	node, chromium := browserTools(t)
	needBrowserDeps(t)
	tl, origin, dir := startConsoleTeamline(t)
	wav := filepath.Join(dir, "mic.wav")
	if err := peer.WriteToneWAV(wav, 16000, 1000, 6*time.Second, 0.5); err != nil {
		t.Fatal(err)
	}
	page := startConsoleBrowser(t, node, chromium, wav)
	page.do(ctx, "open", map[string]any{"url": origin + path})
	return tl, page
}

// consoleLogin logs anna in on the open console page and waits until its
// phone registered and Teamline has her available.
func consoleLogin(ctx context.Context, t *testing.T, tl *teamline, page *consoleDriver) {
	t.Helper()
	page.do(ctx, "fill", map[string]any{"selector": "#username", "value": "anna"})
	page.do(ctx, "fill", map[string]any{"selector": "#password", "value": passAnna})
	page.do(ctx, "click", map[string]any{"selector": "#login-button"})
	page.wait(ctx, `window.console_state.registered`, 15*time.Second)
	tl.waitAgentState(t, "anna", "available")
	page.wait(ctx, `document.getElementById('state').textContent === 'available'`, 5*time.Second)
	if who := page.text(ctx, "header"); !strings.Contains(who, "Anna Schmidt") || !strings.Contains(who, "Team Berlin") {
		t.Errorf("header shows %q, want the agent's name and team", who)
	}
}

// The agent console, end to end in a real browser: an agent logs in (a
// wrong password is refused first); its page registers over WSS with JsSIP.
// A customer with an earlier call and note calls; before anybody answers,
// the page shows the customer's name, number, team, that note and the
// routing trace (screenshot kept). The agent answers: audio flows both ways
// (the customer's RTP sink hears the page's 1000 Hz microphone, the page's
// getStats() counts inbound packets growing). The customer hangs up; the
// agent writes a wrap-up note; the customer's next call shows it before
// answering, and the agent hangs that one up from the page.
func TestConsoleShowsCustomerBeforeAnswering(t *testing.T) {
	t.Parallel()
	node, chromium := browserTools(t)
	needBrowserDeps(t)
	ctx := waitCtx(t, 150*time.Second)
	tl, origin, dir := startConsoleTeamline(t)
	const earlier = "Fibre modem swapped on Monday; ask whether the line is stable now."
	seedContact(t, tl, erikaID, erika, "alex", earlier)

	wav := filepath.Join(dir, "mic.wav")
	if err := peer.WriteToneWAV(wav, 16000, 1000, 6*time.Second, 0.5); err != nil {
		t.Fatal(err)
	}
	page := startConsoleBrowser(t, node, chromium, wav)
	page.do(ctx, "open", map[string]any{"url": origin + "/console/"})

	// A wrong password is refused, on the page.
	page.do(ctx, "fill", map[string]any{"selector": "#username", "value": "anna"})
	page.do(ctx, "fill", map[string]any{"selector": "#password", "value": passAnna + "x"})
	page.do(ctx, "click", map[string]any{"selector": "#login-button"})
	page.wait(ctx, `document.getElementById('login-error').textContent !== ''`, 10*time.Second)
	if got := page.text(ctx, "#login-error"); got != "wrong user name or password" {
		t.Fatalf("login error shown: %q", got)
	}
	var desk bool
	_ = json.Unmarshal(page.do(ctx, "visible", map[string]any{"selector": "#desk"}), &desk)
	if desk {
		t.Fatal("the console opened after a wrong password")
	}

	consoleLogin(ctx, t, tl, page)
	// The customer calls; the page rings and shows the story first.
	callerRTP := peer.NewRTPEndpoint(t)
	dialled := time.Now()
	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 120 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(callerRTP.Port()), "caller": erika, "call_ms": "5000"},
	})
	page.wait(ctx, `window.console_state.callState === 'ringing' && window.console_state.viewLoaded`, 20*time.Second)
	ringing := page.text(ctx, "#call")
	for _, want := range []string{"Incoming call", "Erika Musterfrau", erika, "Team Berlin", earlier, "Alex Weber",
		"customer Erika Musterfrau is assigned to team berlin", "Why this call came to you"} {
		if !strings.Contains(ringing, want) {
			t.Errorf("ringing screen lacks %q", want)
		}
	}
	shot := filepath.Join(artifactsDir(t), "console-ringing.png")
	page.do(ctx, "screenshot", map[string]any{"path": shot})
	t.Logf("ringing screen: %s", shot)
	if st := tl.app.Presence.Status("anna"); st.State != roster.Ringing {
		t.Fatalf("anna is %v while the screen shows the call, want ringing (not answered yet)", st.State)
	}
	if t.Failed() {
		t.Fatalf("ringing screen:\n%s", ringing)
	}

	page.do(ctx, "click", map[string]any{"selector": "#answer"})
	toAgent, err := customer.RemoteRTP(ctx)
	if err != nil {
		t.Fatalf("customer got no answer: %v\n%s", err, customer.Messages())
	}
	answered := time.Since(dialled)
	callerRTP.StartSending(ctx, toAgent, 0, 440)
	page.wait(ctx, `window.console_state.callState === 'answered'`, 10*time.Second)

	// Two-way audio: the page's inbound packets grow and play; the customer
	// hears the page's microphone tone.
	page.wait(ctx, `window.console_state.packetsReceived >= 25 && window.console_state.audioLevel > 0`, 10*time.Second)
	before := page.state(ctx)
	page.wait(ctx, fmt.Sprintf(`window.console_state.packetsReceived >= %d`, before.PacketsReceived+25), 10*time.Second)
	after := page.state(ctx)
	if err := callerRTP.WaitPackets(ctx, 50); err != nil {
		t.Fatalf("customer heard too little from the console: %v", err)
	}
	if st := callerRTP.Received(); !st.NonSilent || st.FreqHz < 900 || st.FreqHz > 1100 {
		t.Errorf("customer heard %+v, want the page's 1000 Hz microphone", st)
	}
	if got := page.text(ctx, "#call-status"); got != "On call" {
		t.Errorf("call status %q, want On call", got)
	}

	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer: exit %d, %v\n%s", code, err, customer.Messages())
	}
	page.wait(ctx, `window.console_state.callState === 'ended'`, 10*time.Second)
	rec := tl.lastCall(t, erikaID)
	if rec.Outcome != store.OutcomeAnswered || rec.AgentID != "anna" || rec.HangupBy != store.HangupCaller {
		t.Fatalf("call record = %+v", rec)
	}
	if st := page.state(ctx); st.CallID != rec.ID {
		t.Fatalf("page's X-Teamline-Call %q, record %q", st.CallID, rec.ID)
	}
	t.Logf("customer INVITE -> 200 OK %d ms (includes reading the screen); page: INVITE -> answered %.0f ms, "+
		"answer -> first inbound packet %.0f ms; inbound packets %d -> %d, level %.3f",
		answered.Milliseconds(), before.AnsweredAt-before.InviteAt, before.FirstPacketAt-before.AnsweredAt,
		before.PacketsReceived, after.PacketsReceived, max(before.AudioLevel, after.AudioLevel))

	// Wrap-up: the note is stored with the call, by anna.
	const wrapUp = "Line stable since the swap. Wants a paper invoice from now on."
	page.do(ctx, "fill", map[string]any{"selector": "#wrapup-note", "value": wrapUp})
	page.do(ctx, "click", map[string]any{"selector": "#wrapup-save"})
	page.wait(ctx, `document.getElementById('wrapup-msg').textContent === 'Note saved.'`, 10*time.Second)
	notes, err := tl.app.Store.CallNotes(ctx, rec.ID)
	if err != nil || len(notes) != 1 || notes[0].Body != wrapUp || notes[0].AgentID != "anna" ||
		notes[0].Kind != store.NoteWrapUp || notes[0].CustomerID != erikaID || notes[0].Number != erika {
		t.Fatalf("notes of the call = %+v, %v", notes, err)
	}
	page.do(ctx, "click", map[string]any{"selector": "#wrapup-done"})
	tl.waitAgentState(t, "anna", "available")

	// The next call shows the new note before answering; the agent answers
	// and hangs up from the page.
	customer2 := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 120 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(peer.NewRTPEndpoint(t).Port()), "caller": erika, "hangup": "them"},
	})
	page.wait(ctx, fmt.Sprintf(`window.console_state.callState === 'ringing' && window.console_state.viewLoaded && window.console_state.callId !== %q`, rec.ID), 20*time.Second)
	ringing = page.text(ctx, "#call")
	for _, want := range []string{"Erika Musterfrau", wrapUp, "Anna Schmidt", earlier} {
		if !strings.Contains(ringing, want) {
			t.Errorf("second ringing screen lacks %q:\n%s", want, ringing)
		}
	}
	page.do(ctx, "click", map[string]any{"selector": "#answer"})
	if _, err := customer2.RemoteRTP(ctx); err != nil {
		t.Fatalf("second customer got no answer: %v", err)
	}
	page.wait(ctx, `window.console_state.callState === 'answered'`, 10*time.Second)
	// Hold is a re-INVITE Teamline answers (TestConsoleHoldsThroughSIP
	// checks the SDP): the call stays up.
	page.do(ctx, "click", map[string]any{"selector": "#hold"})
	if st := page.state(ctx); !st.Held || st.HoldMode != "sip" || st.CallState != "answered" || page.text(ctx, "#call-status") != "On hold" {
		t.Errorf("after Hold: %+v, status %q", st, page.text(ctx, "#call-status"))
	}
	page.do(ctx, "click", map[string]any{"selector": "#hold"})
	page.do(ctx, "click", map[string]any{"selector": "#hangup"})
	if code, err := customer2.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("second customer (expects the agent's BYE): exit %d, %v", code, err)
	}
	page.wait(ctx, `window.console_state.callState === 'ended'`, 10*time.Second)
	if rec2 := tl.callBySIPCallID(t, sippCallID(t, customer2)); rec2.HangupBy != store.HangupAgent || rec2.AgentID != "anna" {
		t.Fatalf("second call record = %+v, want answered by anna, hung up by her", rec2)
	}
	if errs := page.state(ctx).Errors; len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}

// A softphone agent gets the same customer view: the Call-Info link of the
// INVITE opens it with no login (with the earlier note), its form stores a
// note by that agent on that call, and a tampered link gets 403.
func TestCallInfoLinkOpensCustomerView(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t, 60*time.Second)
	httpPort := peer.FreeTCPPort(t)
	origin := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	tl := startTeamline(t, tlOptions{httpListen: fmt.Sprintf("127.0.0.1:%d", httpPort), edit: func(c *config.Config) {
		c.HTTP.PublicURL = origin
	}})
	const earlier = "Asked for a technician visit; none booked yet."
	seedContact(t, tl, erikaID, erika, "alex", earlier)
	agent := tl.startSIPpAgent(t, "anna", passAnna, "agent_answer.xml", map[string]string{"ring_ms": "300"})
	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 30 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(peer.NewRTPEndpoint(t).Port()), "caller": erika, "call_ms": "1500"},
	})
	line, err := agent.uas.WaitLog(ctx, "HEADERS ")
	if err != nil {
		t.Fatalf("agent saw no INVITE: %v", err)
	}
	_, info, _ := strings.Cut(line, "call_info=")
	link := strings.TrimPrefix(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(info), ";purpose=info")), "<")
	link = strings.TrimSuffix(link, ">")
	if !strings.HasPrefix(link, origin+"/history?") {
		t.Fatalf("Call-Info link %q (from %q) is not under %s", link, line, origin)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}

	get := func(u string) (int, string) {
		t.Helper()
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, html.UnescapeString(string(b))
	}
	// While the call is in progress, no login needed.
	code, body := get(link)
	for _, want := range []string{"Erika Musterfrau", erika, "Team Berlin", earlier, "Alex Weber", "customer Erika Musterfrau is assigned to team berlin"} {
		if !strings.Contains(body, want) {
			t.Errorf("Call-Info page lacks %q", want)
		}
	}
	if code != http.StatusOK || t.Failed() {
		t.Fatalf("Call-Info page: %d\n%s", code, body)
	}
	tampered := u.Query()
	tampered.Set("agent", "alex")
	if code, body := get(origin + "/history?" + tampered.Encode()); code != http.StatusForbidden || !strings.Contains(body, "invalid or has expired") {
		t.Fatalf("tampered link: %d %q, want 403 with a message", code, body)
	}

	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer: exit %d, %v", code, err)
	}
	rec := tl.lastCall(t, erikaID)
	if u.Query().Get("call") != rec.ID || u.Query().Get("agent") != "anna" {
		t.Fatalf("link for call %q agent %q, record %s", u.Query().Get("call"), u.Query().Get("agent"), rec.ID)
	}
	// After the call, the softphone user writes the wrap-up note there.
	form := u.Query()
	form.Set("kind", "wrap_up")
	form.Set("body", "Technician booked for Thursday morning.")
	res, err := http.PostForm(origin+"/history/notes", form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "Note saved.") {
		t.Fatalf("note form (after its redirect): %d\n%s", res.StatusCode, b)
	}
	notes, err := tl.app.Store.CallNotes(ctx, rec.ID)
	if err != nil || len(notes) != 1 || notes[0].AgentID != "anna" || notes[0].Body != "Technician booked for Thursday morning." {
		t.Fatalf("notes of the call = %+v, %v", notes, err)
	}
}

// A blind transfer from the console: anna, on a call with the customer,
// picks her colleague alex (a SIPp softphone), writes a note and presses
// Transfer. The note is stored on the call first; alex's phone is rung with
// the call's record id and who transferred it, and his Call-Info page shows
// "Transferred by Anna Schmidt" with her note; anna's page ends its call.
func TestConsoleBlindTransferCarriesTheNote(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t, 120*time.Second)
	tl, page := openConsole(t, ctx, "/console/")
	consoleLogin(ctx, t, tl, page)

	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 60 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(peer.NewRTPEndpoint(t).Port()), "caller": erika, "call_ms": "8000"},
	})
	page.wait(ctx, `window.console_state.callState === 'ringing' && window.console_state.viewLoaded`, 20*time.Second)
	page.do(ctx, "click", map[string]any{"selector": "#answer"})
	if _, err := customer.RemoteRTP(ctx); err != nil {
		t.Fatalf("customer got no answer: %v", err)
	}
	page.wait(ctx, `window.console_state.callState === 'answered'`, 10*time.Second)
	callID := page.state(ctx).CallID

	// alex comes online only now, so that the first call rang anna alone.
	alex := tl.startSIPpAgent(t, "alex", passAlex, "agent_answer.xml", map[string]string{"ring_ms": "300"})
	tl.waitAgentState(t, "alex", "available")
	page.wait(ctx, `[...document.querySelectorAll('#transfer-target option')].some((o) => o.value === 'sip:alex@teamline.test')`, 10*time.Second)
	const note = "Wants to cancel the contract; I promised a specialist would call. Please confirm the date."
	page.do(ctx, "select", map[string]any{"selector": "#transfer-target", "value": "sip:alex@teamline.test"})
	page.do(ctx, "fill", map[string]any{"selector": "#transfer-note", "value": note})
	page.do(ctx, "click", map[string]any{"selector": "#transfer"})

	line, err := alex.uas.WaitLog(ctx, "CONTEXT ")
	if err != nil {
		t.Fatalf("alex was not rung: %v", err)
	}
	// SIPp keeps the space after the header's colon.
	if ctx := strings.ReplaceAll(line, "= ", "="); !strings.Contains(ctx, "call="+callID) || !strings.Contains(ctx, "transferred_by=anna") {
		t.Errorf("alex's INVITE context %q, want call %s transferred by anna", line, callID)
	}
	notes, err := tl.app.Store.CallNotes(ctx, callID)
	if err != nil || len(notes) != 1 || notes[0].Kind != store.NoteTransfer || notes[0].AgentID != "anna" || notes[0].Body != note {
		t.Fatalf("notes of the call = %+v, %v", notes, err)
	}
	headers, err := alex.uas.WaitLog(ctx, "HEADERS ")
	if err != nil {
		t.Fatal(err)
	}
	_, info, _ := strings.Cut(headers, "call_info=")
	_, info, _ = strings.Cut(info, "<")
	link, _, _ := strings.Cut(info, ">")
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if body := html.UnescapeString(string(b)); res.StatusCode != http.StatusOK ||
		!strings.Contains(body, "Transferred by Anna Schmidt:") || !strings.Contains(body, note) {
		t.Fatalf("alex's Call-Info page (%s): %d\n%s", link, res.StatusCode, body)
	}
	page.wait(ctx, `window.console_state.callState === 'ended'`, 15*time.Second)
	if got := page.text(ctx, "#transfer-msg"); got != "Transferred." {
		t.Errorf("transfer message %q, want Transferred.", got)
	}
	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer: exit %d, %v", code, err)
	}
	if rec := tl.lastCall(t, erikaID); rec.Outcome != store.OutcomeAnswered {
		t.Fatalf("call record = %+v", rec)
	}
}

// Hold and resume through SIP from the console (?hold=sip: JsSIP's
// session.hold() and unhold(), re-INVITEs with a=sendonly and a=sendrecv):
// Teamline answers each with a real WebRTC answer (a=recvonly, then
// a=sendrecv), the browser takes both, the call stays up, and after resuming
// the page hears the customer again and the customer hears the page. The
// agent then hangs up from the page.
func TestConsoleHoldsThroughSIP(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t, 120*time.Second)
	tl, page := openConsole(t, ctx, "/console/?hold=sip")
	consoleLogin(ctx, t, tl, page)

	callerRTP := peer.NewRTPEndpoint(t)
	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 100 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(callerRTP.Port()), "caller": erika, "hangup": "them"},
	})
	page.wait(ctx, `window.console_state.callState === 'ringing'`, 20*time.Second)
	page.do(ctx, "click", map[string]any{"selector": "#answer"})
	toAgent, err := customer.RemoteRTP(ctx)
	if err != nil {
		t.Fatalf("customer got no answer: %v\n%s", err, customer.Messages())
	}
	callerRTP.StartSending(ctx, toAgent, 0, 440)
	page.wait(ctx, `window.console_state.callState === 'answered' && window.console_state.packetsReceived >= 25`, 15*time.Second)
	if err := callerRTP.WaitPackets(ctx, 25); err != nil {
		t.Fatalf("customer heard nothing from the page before the hold: %v", err)
	}

	// Hold: JsSIP sends a=sendonly; Teamline's answer must be an answer
	// (a=recvonly, a DTLS role of its own) that Chromium applies, or JsSIP
	// ends the call.
	page.do(ctx, "click", map[string]any{"selector": "#hold"})
	if st := page.state(ctx); !st.Held || st.HoldMode != "sip" {
		t.Fatalf("after Hold: %+v, want held through SIP", st)
	}
	page.wait(ctx, `window.console_state.lastRemoteSDP.includes('a=recvonly')`, 10*time.Second)
	held := page.state(ctx)
	var remote struct {
		SDP string `json:"lastRemoteSDP"`
	}
	if err := json.Unmarshal(page.do(ctx, "state", nil), &remote); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(remote.SDP, "a=setup:actpass") || !strings.Contains(remote.SDP, "a=end-of-candidates") {
		t.Errorf("Teamline's answer to the hold is not a complete answer:\n%s", remote.SDP)
	}

	// Resume: a=sendrecv both ways; Teamline sends to the page again.
	page.do(ctx, "click", map[string]any{"selector": "#hold"})
	if st := page.state(ctx); st.Held || st.HoldMode != "sip" || st.CallState != "answered" {
		t.Fatalf("after Resume: %+v (errors %v), want resumed through SIP on the same call", st, st.Errors)
	}
	page.wait(ctx, `!window.console_state.lastRemoteSDP.includes('a=recvonly') && window.console_state.lastRemoteSDP.includes('a=sendrecv')`, 10*time.Second)
	resumed := page.state(ctx)
	page.wait(ctx, fmt.Sprintf(`window.console_state.callState === 'answered' && window.console_state.packetsReceived >= %d && window.console_state.audioLevel > 0`,
		resumed.PacketsReceived+50), 15*time.Second)
	sent := callerRTP.Received().Packets
	if err := callerRTP.WaitPackets(ctx, sent+50); err != nil {
		t.Fatalf("customer heard nothing from the page after resuming: %v", err)
	}
	if st := callerRTP.Received(); !st.NonSilent || st.FreqHz < 900 || st.FreqHz > 1100 {
		t.Errorf("customer heard %+v, want the page's 1000 Hz microphone", st)
	}
	end := page.state(ctx)
	if end.CallState != "answered" || len(end.Errors) > 0 {
		t.Fatalf("after hold and resume: %+v", end)
	}
	t.Logf("page inbound packets: %d before hold answer, %d at resume, %d after", held.PacketsReceived, resumed.PacketsReceived, end.PacketsReceived)

	page.do(ctx, "click", map[string]any{"selector": "#hangup"})
	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer (expects the agent's BYE): exit %d, %v\n%s", code, err, customer.Messages())
	}
	if rec := tl.callBySIPCallID(t, sippCallID(t, customer)); rec.HangupBy != store.HangupAgent || rec.AgentID != "anna" {
		t.Fatalf("call record = %+v, want answered by anna, hung up by her", rec)
	}
}
