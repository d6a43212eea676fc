package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/teamline/teamline/internal/peer"
	"github.com/teamline/teamline/store"
)

// An attended transfer from the agent console: anna answers Erika on the
// page, writes a note for alex and presses "Call first". The page calls alex
// through Teamline over WSS with WebRTC (the customer held on the page);
// alex's phone gets Erika's call record and who hands her over. anna talks
// to alex, then presses "Hand over": the page sends REFER with Replaces
// naming that consultation, Teamline moves alex's leg into Erika's call with
// a re-INVITE (alex is not rung again) and ends both of the page's calls.
// Erika and alex then hear each other; the record says attended, with the
// note on the call.
func TestConsoleAttendedTransfer(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t, 120*time.Second)
	tl, page := openConsole(t, ctx, "/console/")
	consoleLogin(ctx, t, tl, page)

	customerRTP := peer.NewRTPEndpoint(t)
	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 80 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(customerRTP.Port()), "caller": erika, "call_ms": "20000"},
	})
	page.wait(ctx, `window.console_state.callState === 'ringing' && window.console_state.viewLoaded`, 20*time.Second)
	page.do(ctx, "click", map[string]any{"selector": "#answer"})
	toTeamline, err := customer.RemoteRTP(ctx)
	if err != nil {
		t.Fatalf("customer got no answer: %v", err)
	}
	customerRTP.StartSending(ctx, toTeamline, 0, 440)
	page.wait(ctx, `window.console_state.callState === 'answered'`, 10*time.Second)
	callID := page.state(ctx).CallID

	alex := tl.startSIPpAgent(t, "alex", passAlex, "agent_answer.xml", map[string]string{"ring_ms": "300"})
	tl.waitAgentState(t, "alex", "available")
	page.wait(ctx, `[...document.querySelectorAll('#transfer-target option')].some((o) => o.value === 'sip:alex@teamline.test')`, 10*time.Second)
	const note = "Router replaced twice; she wants a technician, not a third router."
	page.do(ctx, "select", map[string]any{"selector": "#transfer-target", "value": "sip:alex@teamline.test"})
	page.do(ctx, "fill", map[string]any{"selector": "#transfer-note", "value": note})
	page.do(ctx, "click", map[string]any{"selector": "#consult"})

	line, err := alex.uas.WaitLog(ctx, "CONTEXT ")
	if err != nil {
		t.Fatalf("alex was not rung for the consultation: %v", err)
	}
	if got := strings.ReplaceAll(line, "= ", "="); !strings.Contains(got, "call="+callID) || !strings.Contains(got, "transferred_by=anna") {
		t.Errorf("consultation context %q, want call %s handed over by anna", line, callID)
	}
	page.wait(ctx, `window.console_state.consultState === 'talking'`, 15*time.Second)
	if held := page.state(ctx).Held; !held {
		t.Errorf("the customer is not on hold while anna consults")
	}
	page.do(ctx, "click", map[string]any{"selector": "#consult-complete"})

	moved, err := alex.uas.WaitLog(ctx, "REINVITE_RTP ")
	if err != nil {
		t.Fatalf("alex's leg was not moved to the customer's call: %v", err)
	}
	page.wait(ctx, `window.console_state.callState === 'ended' && window.console_state.consultState === ''`, 15*time.Second)
	if got := page.text(ctx, "#transfer-msg"); got != "Transferred." {
		t.Errorf("transfer message %q, want Transferred.", got)
	}
	if n := strings.Count(alex.uas.Log(), "INVITE_RECEIVED"); n != 1 {
		t.Errorf("alex was rung %d times, want once (the consultation)", n)
	}

	movedAgentTalks(t, ctx, alex, moved, customerRTP)
	customer.Stop()

	tr := tl.transfers(t, callID, 1)[0]
	if !tr.Completed || tr.Kind != store.TransferAttended || tr.FromAgent != "anna" || tr.ToAgent != "alex" {
		t.Errorf("transfer = %+v, want attended, anna -> alex, completed", tr)
	}
	notes, err := tl.app.Store.CallNotes(ctx, callID)
	if err != nil || len(notes) != 1 || notes[0].Kind != store.NoteTransfer || notes[0].Body != note {
		t.Errorf("notes of the call = %+v, %v; want anna's note for alex", notes, err)
	}
}
