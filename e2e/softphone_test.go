package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/teamline/teamline/internal/peer"
	"github.com/teamline/teamline/store"
)

// A real softphone: baresip registers as agent anna with digest auth and
// auto-answers; a SIPp customer calls; audio flows both ways — the customer
// hears baresip's 1000 Hz tone and baresip's recording holds the customer's
// 440 Hz tone.
func TestSoftphoneAgentTwoWayAudio(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{})
	phone := peer.StartBaresip(t, peer.BaresipOptions{Username: "anna", Password: passAnna, Registrar: tl.sip})
	ctx := waitCtx(t, 30*time.Second)
	if err := phone.WaitRegistered(ctx); err != nil {
		t.Fatalf("baresip did not register: %v", err)
	}

	callerRTP := peer.NewRTPEndpoint(t)
	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 20 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(callerRTP.Port()), "caller": erika, "call_ms": "3000"},
	})
	toAgent, err := customer.RemoteRTP(ctx)
	if err != nil {
		t.Fatalf("caller got no answer: %v", err)
	}
	callerRTP.StartSending(ctx, toAgent, 0, 440)
	if err := callerRTP.WaitPackets(ctx, 60); err != nil {
		t.Fatalf("caller heard nothing from baresip: %v", err)
	}
	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer: exit %d, %v", code, err)
	}
	if _, err := phone.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatalf("baresip never saw the call end: %v", err)
	}

	heard := callerRTP.Received()
	if !heard.NonSilent || heard.FreqHz < 900 || heard.FreqHz > 1100 {
		t.Errorf("caller heard %+v, want baresip's 1000 Hz tone", heard)
	}
	dec, _ := phone.Recordings()
	rms, freq, err := peer.WAVStats(dec)
	if err != nil {
		t.Fatalf("baresip recording: %v", err)
	}
	if rms < peer.SilenceRMS || freq < 400 || freq > 480 {
		t.Errorf("baresip recorded rms %.3f at %.0f Hz, want the caller's 440 Hz tone", rms, freq)
	}
	if rec := tl.lastCall(t, erikaID); rec.Outcome != store.OutcomeAnswered || rec.AgentID != "anna" {
		t.Fatalf("call record = %+v, want answered by anna", rec)
	}
}
