package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/teamline/teamline/internal/peer"
	"github.com/teamline/teamline/store"
)

// A blind transfer from a real softphone: baresip (agent anna) answers
// Erika's call and transfers it with REFER to her colleague alex (a SIPp
// phone). Alex's INVITE carries the call's record id, who transferred it and
// the Call-Info link; anna gets NOTIFY 200 and her leg ends; the customer's
// audio now reaches alex and alex's reaches the customer, on the same
// customer dialog; the call record names anna, and its transfer names alex.
func TestBlindTransferFromSoftphone(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{})
	ctx := waitCtx(t, 45*time.Second)
	anna, customer, customerRTP := annaTalksToErika(t, ctx, tl, 9*time.Second)
	// A call in progress waits for nobody: it must not count towards
	// storm mode.
	if ld := tl.app.SIP.TeamLoad("berlin"); ld.Waiting != 0 || ld.Ringing != 0 {
		t.Errorf("team berlin's load during an answered call = %+v, want nobody waiting or ringing", ld)
	}
	if err := customerRTP.WaitPackets(ctx, 25); err != nil {
		t.Fatalf("customer heard nothing from anna: %v", err)
	}
	heardAnna := customerRTP.Received()

	// Alex comes online only now, so routing could not have picked him.
	alex := tl.startSIPpAgent(t, "alex", passAlex, "agent_answer.xml", map[string]string{"hangup": "them"})
	if _, err := anna.Command(ctx, "transfer", "sip:alex@teamline.test"); err != nil {
		t.Fatalf("baresip transfer command: %v", err)
	}
	line, err := alex.uas.WaitLog(ctx, "CONTEXT ")
	if err != nil {
		t.Fatalf("alex was never rung: %v", err)
	}
	if !strings.Contains(strings.Join(strings.Fields(line), ""), "transferred_by=anna") {
		t.Errorf("alex's INVITE context = %q, want transferred_by=anna", line)
	}
	headers, err := alex.uas.WaitLog(ctx, "HEADERS ")
	if err != nil {
		t.Fatal(err)
	}
	if h := strings.Join(strings.Fields(headers), ""); !strings.Contains(h, "customer="+erikaID) || !strings.Contains(h, "call_info=<http") {
		t.Errorf("alex's INVITE headers = %q, want Erika's customer id and a Call-Info link", headers)
	}
	if _, err := alex.uas.WaitLog(ctx, "ANSWERED "); err != nil {
		t.Fatalf("alex did not answer: %v", err)
	}
	if _, err := anna.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatalf("anna's leg did not end after the transfer: %v", err)
	}

	// Media now flows customer <-> alex.
	toTeamlineFromAlex, err := alex.uas.RemoteRTP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	alex.rtp.StartSending(ctx, toTeamlineFromAlex, 0, 700)
	if err := alex.rtp.WaitPackets(ctx, 25); err != nil {
		t.Fatalf("alex heard nothing from the customer: %v", err)
	}
	if got := alex.rtp.Received(); !got.NonSilent || got.FreqHz < 400 || got.FreqHz > 480 {
		t.Errorf("alex heard %+v, want the customer's 440 Hz", got)
	}
	waitFor(t, ctx, "the customer to hear alex", func() bool {
		return len(customerRTP.Received().SSRCs) > len(heardAnna.SSRCs) && customerRTP.Received().Packets > heardAnna.Packets+25
	})

	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer: exit %d, %v", code, err)
	}
	if _, err := alex.uas.WaitLog(ctx, "HANGUP_RECEIVED"); err != nil {
		t.Fatalf("alex never got the customer's hangup: %v", err)
	}
	rec := tl.callBySIPCallID(t, sippCallID(t, customer))
	if rec.Outcome != store.OutcomeAnswered || rec.AgentID != "anna" || rec.HangupBy != store.HangupCaller {
		t.Errorf("call record = %+v, want answered by anna, ended by the caller", rec)
	}
	transfers := tl.transfers(t, rec.ID, 1)
	if tr := transfers[0]; !tr.Completed || tr.FromAgent != "anna" || tr.ToAgent != "alex" || tr.Kind != store.TransferBlind {
		t.Errorf("transfer = %+v, want anna -> alex, blind, completed", tr)
	}
	if !strings.Contains(strings.Join(rec.Trace, "\n"), "alex took the call from anna") {
		t.Errorf("trace does not tell the transfer: %q", rec.Trace)
	}
	tl.waitAgentState(t, "anna", "available")
	tl.waitAgentState(t, "alex", "available")
}

// annaTalksToErika registers baresip as anna and has Erika call for the
// given time, sending a 440 Hz tone, until anna has answered.
func annaTalksToErika(t *testing.T, ctx context.Context, tl *teamline, talk time.Duration) (*peer.Baresip, *peer.SIPpProcess, *peer.RTPEndpoint) {
	t.Helper()
	anna := peer.StartBaresip(t, peer.BaresipOptions{Username: "anna", Password: passAnna, Registrar: tl.sip})
	if err := anna.WaitRegistered(ctx); err != nil {
		t.Fatalf("baresip did not register: %v", err)
	}
	customerRTP := peer.NewRTPEndpoint(t)
	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: talk + 40*time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(customerRTP.Port()), "caller": erika,
			"call_ms": fmt.Sprint(talk.Milliseconds())},
	})
	toTeamline, err := customer.RemoteRTP(ctx)
	if err != nil {
		t.Fatalf("customer got no answer: %v", err)
	}
	customerRTP.StartSending(ctx, toTeamline, 0, 440)
	if _, err := anna.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatalf("anna never talked to the customer: %v", err)
	}
	return anna, customer, customerRTP
}

// movedAgentTalks checks the audio of an agent whose leg a re-INVITE moved
// to the customer's call (moved is their REINVITE_RTP log line): sending a
// 700 Hz tone to the new address, the agent hears the customer's 440 Hz
// and the customer receives a new stream.
func movedAgentTalks(t *testing.T, ctx context.Context, agent *sippAgent, moved string, customerRTP *peer.RTPEndpoint) {
	t.Helper()
	var ip string
	var port int
	if _, err := fmt.Sscanf(strings.Join(strings.Fields(moved[strings.Index(moved, "REINVITE_RTP"):]), " "),
		"REINVITE_RTP ip=%s port=%d", &ip, &port); err != nil {
		t.Fatalf("re-INVITE line %q: %v", moved, err)
	}
	heardBefore := customerRTP.Received()
	agent.rtp.StartSending(ctx, netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(port)), 0, 700)
	waitFor(t, ctx, "the agent to hear the customer", func() bool {
		got := agent.rtp.Received()
		return got.Packets >= 25 && got.NonSilent && got.FreqHz > 400 && got.FreqHz < 480
	})
	waitFor(t, ctx, "the customer to hear the agent", func() bool {
		got := customerRTP.Received()
		return len(got.SSRCs) > len(heardBefore.SSRCs) && got.Packets > heardBefore.Packets+25
	})
}

// transfers waits until call id has n transfers recorded and returns them.
func (tl *teamline) transfers(t testing.TB, id string, n int) []store.Transfer {
	t.Helper()
	ctx := waitCtx(t, 10*time.Second)
	var got []store.Transfer
	waitFor(t, ctx, fmt.Sprintf("%d transfers of call %s to be recorded", n, id), func() bool {
		var err error
		if got, err = tl.app.Store.Transfers(ctx, id); err != nil && ctx.Err() == nil {
			t.Fatal(err)
		}
		return len(got) >= n
	})
	return got
}

// A transfer to a colleague who is not online is accepted, fails, and the
// agent is told (NOTIFY with 480; baresip then ends its call, as it does on
// any failed transfer); the record keeps the failed attempt. A second call
// is transferred to the national pool ("sip:pool@...") and reaches its agent.
func TestTransferFailureAndToThePool(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{})
	ctx := waitCtx(t, 60*time.Second)
	anna := peer.StartBaresip(t, peer.BaresipOptions{Username: "anna", Password: passAnna, Registrar: tl.sip})
	if err := anna.WaitRegistered(ctx); err != nil {
		t.Fatalf("baresip did not register: %v", err)
	}
	call := func(n int) *peer.SIPpProcess {
		customerRTP := peer.NewRTPEndpoint(t)
		customer := peer.StartSIPp(t, peer.SIPpOptions{
			Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 50 * time.Second,
			Keys: map[string]string{"rtp_port": fmt.Sprint(customerRTP.Port()), "caller": erika, "call_ms": "6000"},
		})
		if _, err := customer.RemoteRTP(ctx); err != nil {
			t.Fatalf("customer got no answer: %v", err)
		}
		if _, err := anna.WaitEventCount(ctx, "CALL_ESTABLISHED", n); err != nil {
			t.Fatalf("anna never talked to the customer: %v", err)
		}
		return customer
	}

	first := call(1)
	if _, err := anna.Command(ctx, "transfer", "sip:barbie@teamline.test"); err != nil {
		t.Fatalf("baresip transfer command: %v", err)
	}
	waitFor(t, ctx, "baresip to hear the transfer failed", func() bool {
		return strings.Contains(anna.Log(), "transfer failed: 480")
	})
	_, _ = first.Wait(ctx)
	rec := tl.callBySIPCallID(t, sippCallID(t, first))
	if tr := tl.transfers(t, rec.ID, 1)[0]; tr.Completed || tr.Target != "barbie" || tr.ToAgent != "" {
		t.Errorf("recorded transfer = %+v, want a failed one to barbie", tr)
	}
	tl.waitAgentState(t, "anna", "available")

	nora := tl.startSIPpAgent(t, "nora", passNora, "agent_answer.xml", map[string]string{"hangup": "them"})
	second := call(2)
	if _, err := anna.Command(ctx, "transfer", "sip:pool@teamline.test"); err != nil {
		t.Fatalf("baresip transfer command: %v", err)
	}
	if _, err := nora.uas.WaitLog(ctx, "ANSWERED "); err != nil {
		t.Fatalf("the national pool's agent did not take the call: %v", err)
	}
	if code, err := second.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer: exit %d, %v", code, err)
	}
	rec = tl.callBySIPCallID(t, sippCallID(t, second))
	if tr := tl.transfers(t, rec.ID, 1)[0]; !tr.Completed || tr.Target != "pool" || tr.ToAgent != "nora" {
		t.Errorf("recorded transfer = %+v, want the pool's nora", tr)
	}
}

// An attended transfer from a real softphone: baresip (anna) talks to Erika,
// calls her colleague alex through Teamline (a consultation: digest
// authenticated, alex's phone gets Erika's call record and customer id and
// who is handing her over), then transfers Erika's call to alex. Teamline
// moves alex's leg from the consultation to Erika's call with a re-INVITE —
// alex does not ring again — and ends both of anna's dialogs. Erika and alex
// then hear each other; the record says attended, anna to alex.
func TestAttendedTransferFromSoftphone(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{})
	ctx := waitCtx(t, 60*time.Second)
	anna, customer, customerRTP := annaTalksToErika(t, ctx, tl, 12*time.Second)
	record := tl.app.Presence.Status("anna").CallID

	alex := tl.startSIPpAgent(t, "alex", passAlex, "agent_answer.xml", map[string]string{"hangup": "them"})
	if _, err := anna.Command(ctx, "dial", "sip:alex@"+tl.sip); err != nil {
		t.Fatalf("baresip dial: %v", err)
	}
	line, err := alex.uas.WaitLog(ctx, "CONTEXT ")
	if err != nil {
		t.Fatalf("alex was never rung for the consultation: %v", err)
	}
	if got := strings.Join(strings.Fields(line), ""); !strings.Contains(got, "call="+record) || !strings.Contains(got, "transferred_by=anna") {
		t.Errorf("consultation context = %q, want Erika's call %s handed over by anna", line, record)
	}
	if _, err := anna.WaitEventCount(ctx, "CALL_ESTABLISHED", 2); err != nil {
		t.Fatalf("anna's consultation with alex was not established: %v", err)
	}

	if _, err := anna.Command(ctx, "line", "1"); err != nil {
		t.Fatalf("baresip line: %v", err)
	}
	if _, err := anna.Command(ctx, "transfer", "sip:alex@teamline.test"); err != nil {
		t.Fatalf("baresip transfer: %v", err)
	}
	moved, err := alex.uas.WaitLog(ctx, "REINVITE_RTP ")
	if err != nil {
		t.Fatalf("alex's leg was not moved to the customer's call: %v", err)
	}
	if _, err := anna.WaitEventCount(ctx, "CALL_CLOSED", 2); err != nil {
		t.Fatalf("anna's two calls did not both end: %v", err)
	}
	if n := strings.Count(alex.uas.Log(), "INVITE_RECEIVED"); n != 1 {
		t.Errorf("alex was rung %d times, want once (the consultation)", n)
	}

	movedAgentTalks(t, ctx, alex, moved, customerRTP)

	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer: exit %d, %v", code, err)
	}
	if _, err := alex.uas.WaitLog(ctx, "HANGUP_RECEIVED"); err != nil {
		t.Fatalf("alex never got the customer's hangup: %v", err)
	}
	tr := tl.transfers(t, record, 1)[0]
	if !tr.Completed || tr.Kind != store.TransferAttended || tr.FromAgent != "anna" || tr.ToAgent != "alex" {
		t.Errorf("transfer = %+v, want attended, anna -> alex, completed", tr)
	}
	tl.waitAgentState(t, "alex", "available")
	tl.waitAgentState(t, "anna", "available")
}
