package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/teamline/teamline/callback"
	"github.com/teamline/teamline/internal/peer"
	"github.com/teamline/teamline/store"
)

// Nobody of the team can take the call: Teamline books the earliest slot,
// answers, says the time (the caller receives the prompt's RTP), hangs up,
// and the callback is in the database for the right team and slot.
func TestNobodyFreeBooksCallbackAndSaysSo(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{fallback: "callback"})
	callerRTP := peer.NewRTPEndpoint(t)
	before := time.Now()
	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 30 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(callerRTP.Port()), "caller": erika, "hangup": "them"},
	})
	ctx := waitCtx(t, 40*time.Second)
	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer (expects 200, then a BYE from Teamline): exit %d, %v", code, err)
	}
	heard := callerRTP.Received()
	if heard.Packets < 50 || !heard.NonSilent {
		t.Fatalf("caller heard %+v, want the spoken confirmation (at least a second of audio)", heard)
	}

	cbs, err := tl.app.Callbacks.List(ctx, callback.Filter{TeamID: "berlin"})
	if err != nil || len(cbs) != 1 {
		t.Fatalf("callbacks: %+v, %v; want exactly one", cbs, err)
	}
	cb := cbs[0]
	if cb.Number != erika || cb.CustomerID != erikaID || cb.State != callback.StateBooked {
		t.Fatalf("callback = %+v", cb)
	}
	if lead := tl.cfg.Callbacks.LeadTime; cb.SlotStart.Before(before.Add(lead)) || cb.SlotStart.After(before.Add(lead+tl.cfg.Callbacks.SlotLength)) {
		t.Fatalf("slot %v is not the earliest one after the lead time %v", cb.SlotStart, lead)
	}
	rec := tl.lastCall(t, erikaID)
	if rec.Outcome != store.OutcomeUnanswered || rec.HangupBy != store.HangupSystem {
		t.Fatalf("record = %+v", rec)
	}
	traceContains(t, rec, "callback booked for")

	// Calling again, still nobody free: told the booked time, no second booking.
	again := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 30 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(peer.NewRTPEndpoint(t).Port()), "caller": erika, "hangup": "them"},
	})
	if code, err := again.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("second call: exit %d, %v", code, err)
	}
	if cbs, err := tl.app.Callbacks.List(context.Background(), callback.Filter{TeamID: "berlin"}); err != nil || len(cbs) != 1 {
		t.Fatalf("callbacks after calling again: %d, %v; want still one", len(cbs), err)
	}
	traceContains(t, tl.lastCall(t, erikaID), "already has a callback")
}
