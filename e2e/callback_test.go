package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/teamline/teamline/callback"
	"github.com/teamline/teamline/config"
	"github.com/teamline/teamline/internal/peer"
	"github.com/teamline/teamline/store"
)

// Nobody of the team can take the call: Teamline books the earliest slot,
// answers, says the time (the caller receives the prompt's RTP), hangs up,
// and the callback is in the database for the right team and slot.
func TestNobodyFreeBooksCallbackAndSaysSo(t *testing.T) {
	t.Parallel()
	// A lead time keeps the slot (and its dial job) away from the test.
	tl := startTeamline(t, tlOptions{fallback: "callback", leadTime: 2 * time.Hour})
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

// A callback booked over the API is dialled agent first: the agent's phone
// rings with X-Teamline-Callback and answers, then the customer's phone on
// the trunk side rings and answers, and audio flows both ways; the callback
// ends completed.
func TestScheduledCallbackRingsAgentThenCustomer(t *testing.T) {
	t.Parallel()
	customerRTP := peer.NewRTPEndpoint(t)
	customerPhone := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "agent_answer.xml", Timeout: 40 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(customerRTP.Port()), "hangup": "us", "bye_ms": "2500", "ring_ms": "1000"},
	})
	tl := startTeamline(t, tlOptions{trunkOutbound: customerPhone.Addr(), slotLength: 5 * time.Second})
	anna := tl.startSIPpAgent(t, "anna", passAnna, "agent_answer.xml", nil)

	ctx := waitCtx(t, 45*time.Second)
	req, _ := http.NewRequest(http.MethodPost, "http://"+tl.app.HTTPAddr().String()+"/v1/callbacks",
		strings.NewReader(`{"number":"`+erika+`","asap":true,"reason":"invoice question"}`))
	req.Header.Set("Authorization", "Bearer "+apiToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var booked struct {
		ID string `json:"id"`
	}
	_ = json.NewDecoder(res.Body).Decode(&booked)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK || booked.ID == "" {
		t.Fatalf("POST /v1/callbacks: %d %+v", res.StatusCode, booked)
	}

	toCustomer, err := anna.uas.RemoteRTP(ctx)
	if err != nil {
		t.Fatalf("agent never took the callback: %v", err)
	}
	toAgent, err := customerPhone.RemoteRTP(ctx)
	if err != nil {
		t.Fatalf("customer never rang after the agent answered: %v", err)
	}
	anna.rtp.StartSending(ctx, toCustomer, 0, 1000)
	customerRTP.StartSending(ctx, toAgent, 0, 440)
	if err := customerRTP.WaitPackets(ctx, 40); err != nil {
		t.Fatalf("customer heard nothing: %v", err)
	}
	if err := anna.rtp.WaitPackets(ctx, 80); err != nil {
		t.Fatalf("agent heard nothing: %v", err)
	}
	// Two streams reached the agent: Teamline's ringback while the
	// customer's phone rang, then the customer.
	if st := anna.rtp.Received(); len(st.SSRCs) < 2 {
		t.Errorf("agent received %d RTP streams (%+v), want ringback and then the customer", len(st.SSRCs), st)
	}
	if code, err := customerPhone.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer phone: exit %d, %v", code, err)
	}
	if code, err := anna.uas.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent (expects the BYE relayed from the customer): exit %d, %v", code, err)
	}
	if msgs := anna.uas.Messages(); !strings.Contains(msgs, "X-Teamline-Callback: "+booked.ID) {
		t.Fatalf("agent's INVITE lacks X-Teamline-Callback: %s", booked.ID)
	}
	for {
		cb, err := tl.app.Callbacks.Get(ctx, booked.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cb.State == callback.StateCompleted {
			if len(cb.Attempts) != 1 || cb.Attempts[0].AgentID != "anna" {
				t.Fatalf("attempts = %+v, want one by anna", cb.Attempts)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("callback state %s, want completed", cb.State)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// A team's own callback slots (teams[].callbacks) reach the booking: the
// team with 30-minute slots books 30-minute slots, the others keep the
// callbacks block's length.
func TestTeamCallbackSlots(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{slotLength: 10 * time.Minute, edit: func(c *config.Config) {
		for i := range c.Teams {
			if c.Teams[i].ID == "hamburg" {
				c.Teams[i].Callbacks.SlotLength = 30 * time.Minute
			}
		}
	}})
	ctx := waitCtx(t, 20*time.Second)
	for _, tc := range []struct {
		team, number string
		want         time.Duration
	}{{"hamburg", stranger, 30 * time.Minute}, {"berlin", erika, 10 * time.Minute}} {
		cb, err := tl.app.Callbacks.BookEarliest(ctx, callback.Request{TeamID: tc.team, Number: tc.number, RequestedAt: time.Now()})
		if err != nil {
			t.Fatalf("book for team %s: %v", tc.team, err)
		}
		if got := cb.SlotEnd.Sub(cb.SlotStart); got != tc.want {
			t.Errorf("team %s booked a %s slot, want %s", tc.team, got, tc.want)
		}
	}
}
