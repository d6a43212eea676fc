package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/teamline/teamline/internal/peer"
	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/store"
)

// A customer calls through the trunk; the one registered agent of their team
// answers; RTP flows both ways through Teamline; the caller hangs up and the
// record says answered by that agent in that team.
func TestCallAnsweredWithMediaBothWays(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{})
	agent := tl.startSIPpAgent(t, "anna", passAnna, "agent_answer.xml", nil)

	callerRTP := peer.NewRTPEndpoint(t)
	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 30 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(callerRTP.Port()), "caller": erika, "call_ms": "2500"},
	})
	ctx := waitCtx(t, 20*time.Second)

	toAgent, err := customer.RemoteRTP(ctx)
	if err != nil {
		t.Fatalf("caller never got an answer with SDP: %v", err)
	}
	toCaller, err := agent.uas.RemoteRTP(ctx)
	if err != nil {
		t.Fatalf("agent never got an offer with SDP: %v", err)
	}
	if toAgent.Port() == uint16(agent.rtp.Port()) || toCaller.Port() == uint16(callerRTP.Port()) {
		t.Fatalf("SDP not anchored in Teamline: caller sends to %s, agent sends to %s", toAgent, toCaller)
	}
	callerRTP.StartSending(ctx, toAgent, 0, 440)
	agent.rtp.StartSending(ctx, toCaller, 0, 1000)
	if err := agent.rtp.WaitPackets(ctx, 50); err != nil {
		t.Fatalf("agent received no caller audio: %v (%+v)", err, agent.rtp.Received())
	}
	if err := callerRTP.WaitPackets(ctx, 50); err != nil {
		t.Fatalf("caller received no agent audio: %v (%+v)", err, callerRTP.Received())
	}
	for name, st := range map[string]peer.RTPStats{"agent": agent.rtp.Received(), "caller": callerRTP.Received()} {
		if !st.NonSilent {
			t.Errorf("%s heard only silence: %+v", name, st)
		}
	}

	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer scenario: exit %d, %v", code, err)
	}
	if code, err := agent.uas.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent scenario (expects BYE relayed from the caller): exit %d, %v", code, err)
	}

	// The agent's phone was told who is calling before answering.
	msgs := agent.uas.Messages()
	for _, want := range []string{
		`From: "Erika Musterfrau" <sip:+4930123456@`,
		"X-Teamline-Customer: " + erikaID,
		"X-Teamline-Team: berlin",
		"Call-Info: <http://127.0.0.1:8080/history?",
		";purpose=info",
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("INVITE to the agent lacks %q:\n%s", want, msgs)
		}
	}

	rec := tl.lastCall(t, erikaID)
	if rec.Outcome != store.OutcomeAnswered || rec.AgentID != "anna" || rec.TeamID != "berlin" ||
		rec.HangupBy != store.HangupCaller || rec.AnsweredAt == nil || rec.CallerNumber != erika {
		t.Fatalf("call record = %+v, want answered by anna in berlin, caller hung up", rec)
	}
}

// Two agents of the team ring at once; the first to answer gets the call and
// the other gets CANCEL and ends cleanly. The agent of another team, also
// registered and free, is never rung.
func TestFirstAnswerWinsOthersCancelled(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{})
	winner := tl.startSIPpAgent(t, "anna", passAnna, "agent_answer.xml", map[string]string{"ring_ms": "300", "allow_cancel": "0"})
	loser := tl.startSIPpAgent(t, "alex", passAlex, "agent_ring.xml", nil)
	other := tl.startSIPpAgent(t, "hans", passHans, "agent_ring.xml", nil)

	callerRTP := peer.NewRTPEndpoint(t)
	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 30 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(callerRTP.Port()), "caller": erika, "call_ms": "1000"},
	})
	ctx := waitCtx(t, 25*time.Second)
	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer: exit %d, %v", code, err)
	}
	if code, err := winner.uas.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("answering agent: exit %d, %v", code, err)
	}
	if code, err := loser.uas.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("other agent of the team (expects INVITE, CANCEL, 487, ACK): exit %d, %v", code, err)
	}
	if msgs := other.uas.Messages(); strings.Contains(msgs, "INVITE sip:") {
		t.Fatalf("agent of team hamburg was rung for a berlin customer:\n%s", msgs)
	}
	rec := tl.lastCall(t, erikaID)
	if rec.Outcome != store.OutcomeAnswered || rec.AgentID != "anna" {
		t.Fatalf("call record = %+v, want answered by anna", rec)
	}
	if st, _ := tl.app.Presence.State("alex"); st != roster.Available {
		t.Errorf("alex after the call: %v, want available", st)
	}
}

// The caller hangs up while the agents ring: every agent gets CANCEL, the
// caller gets 487 and the record says abandoned.
func TestCallerHangsUpWhileRinging(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{})
	a := tl.startSIPpAgent(t, "anna", passAnna, "agent_ring.xml", nil)
	b := tl.startSIPpAgent(t, "alex", passAlex, "agent_ring.xml", nil)

	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_cancel.xml", Remote: tl.sip, Timeout: 20 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(peer.NewRTPEndpoint(t).Port()), "caller": erika, "cancel_ms": "300"},
	})
	ctx := waitCtx(t, 25*time.Second)
	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer (expects 200 to CANCEL and 487): exit %d, %v", code, err)
	}
	for name, agent := range map[string]*sippAgent{"anna": a, "alex": b} {
		if code, err := agent.uas.Wait(ctx); err != nil || code != 0 {
			t.Fatalf("%s (expects CANCEL): exit %d, %v", name, code, err)
		}
	}
	rec := tl.lastCall(t, erikaID)
	if rec.Outcome != store.OutcomeAbandoned || rec.HangupBy != store.HangupCaller || rec.AgentID != "" {
		t.Fatalf("call record = %+v, want abandoned by the caller", rec)
	}
	for _, id := range []string{"anna", "alex"} {
		if st, _ := tl.app.Presence.State(id); st != roster.Available {
			t.Errorf("%s after the call: %v, want available", id, st)
		}
	}
}

// Nobody of the team is registered: the caller gets 480 at once and the
// record says unanswered.
func TestNobodyRegisteredGets480(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{})
	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_expect.xml", Remote: tl.sip, Timeout: 10 * time.Second,
		Keys: map[string]string{"expect": "480", "caller": erika},
	})
	if code, err := customer.Wait(waitCtx(t, 15*time.Second)); err != nil || code != 0 {
		t.Fatalf("customer (expects 480): exit %d, %v", code, err)
	}
	rec := tl.lastCall(t, erikaID)
	if rec.Outcome != store.OutcomeUnanswered || rec.HangupBy != store.HangupSystem {
		t.Fatalf("call record = %+v, want unanswered", rec)
	}
}

// The agent rings but never answers: after the ring time the agent gets
// CANCEL and the caller 480.
func TestRingTimeoutGets480(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{ringTimeout: 1500 * time.Millisecond})
	agent := tl.startSIPpAgent(t, "anna", passAnna, "agent_ring.xml", nil)
	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_expect.xml", Remote: tl.sip, Timeout: 15 * time.Second,
		Keys: map[string]string{"expect": "480", "caller": erika},
	})
	ctx := waitCtx(t, 20*time.Second)
	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer (expects 480): exit %d, %v", code, err)
	}
	if code, err := agent.uas.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent (expects CANCEL): exit %d, %v", code, err)
	}
	if rec := tl.lastCall(t, erikaID); rec.Outcome != store.OutcomeUnanswered || rec.EndReason != "ring timeout" {
		t.Fatalf("call record = %+v, want unanswered after ring timeout", rec)
	}
}

// Draining (what SIGTERM does): a call in progress goes on to its normal end
// while a new call is refused with 503.
func TestDrainRefusesNewCallsKeepsCurrent(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{})
	agent := tl.startSIPpAgent(t, "anna", passAnna, "agent_answer.xml", nil)
	callerRTP := peer.NewRTPEndpoint(t)
	current := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 20 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(callerRTP.Port()), "caller": erika, "call_ms": "2000"},
	})
	ctx := waitCtx(t, 25*time.Second)
	if _, err := current.RemoteRTP(ctx); err != nil {
		t.Fatalf("first call not answered: %v", err)
	}
	tl.app.SIP.Drain()

	refused := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_expect.xml", Remote: tl.sip, Timeout: 10 * time.Second,
		Keys: map[string]string{"expect": "503", "caller": stranger},
	})
	if code, err := refused.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("new call while draining (expects 503): exit %d, %v", code, err)
	}
	if code, err := current.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("call in progress while draining: exit %d, %v", code, err)
	}
	if code, err := agent.uas.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent: exit %d, %v", code, err)
	}
	if rec := tl.lastCall(t, erikaID); rec.Outcome != store.OutcomeAnswered || rec.HangupBy != store.HangupCaller {
		t.Fatalf("call record = %+v, want answered and ended by the caller", rec)
	}
}

// The same call over TCP end to end: the agent registers over TCP, the trunk
// sends the INVITE over TCP, and Teamline reaches the agent over the
// connection it registered on.
func TestCallOverTCP(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{})
	agentRTP := peer.NewRTPEndpoint(t)
	uas := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "agent_answer.xml", Transport: "t1", Timeout: 30 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(agentRTP.Port())},
	})
	reg := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "register.xml", Remote: tl.sip, Transport: "t1", Timeout: 10 * time.Second,
		Keys: map[string]string{"user": "anna", "password": passAnna, "contact_port": fmt.Sprint(uas.Port())},
	})
	ctx := waitCtx(t, 25*time.Second)
	if code, err := reg.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("REGISTER over TCP: exit %d, %v", code, err)
	}
	callerRTP := peer.NewRTPEndpoint(t)
	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Transport: "t1", Timeout: 20 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(callerRTP.Port()), "caller": erika, "call_ms": "1500"},
	})
	toAgent, err := customer.RemoteRTP(ctx)
	if err != nil {
		t.Fatalf("no answer over TCP: %v", err)
	}
	callerRTP.StartSending(ctx, toAgent, 8, 440)
	if err := agentRTP.WaitPackets(ctx, 20); err != nil {
		t.Fatalf("agent heard nothing: %v", err)
	}
	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer over TCP: exit %d, %v", code, err)
	}
	if code, err := uas.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent over TCP: exit %d, %v", code, err)
	}
	if rec := tl.lastCall(t, erikaID); rec.Outcome != store.OutcomeAnswered || rec.AgentID != "anna" {
		t.Fatalf("call record = %+v", rec)
	}
}

// An agent on a call is not rung for a second call until the first ends.
func TestAgentOnCallIsNotRungAgain(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{})
	agent := tl.startSIPpAgent(t, "anna", passAnna, "agent_answer.xml", nil)
	first := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 20 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(peer.NewRTPEndpoint(t).Port()), "caller": erika, "call_ms": "2500"},
	})
	ctx := waitCtx(t, 25*time.Second)
	if _, err := first.RemoteRTP(ctx); err != nil {
		t.Fatalf("first call not answered: %v", err)
	}
	second := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_expect.xml", Remote: tl.sip, Timeout: 10 * time.Second,
		Keys: map[string]string{"expect": "480", "caller": "+4930777888"},
	})
	if code, err := second.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("second call while anna talks (expects 480, anna not rung): exit %d, %v", code, err)
	}
	if code, err := first.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("first call: exit %d, %v", code, err)
	}
	// The agent scenario takes exactly one INVITE: a second one would fail it.
	if code, err := agent.uas.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent: exit %d, %v", code, err)
	}
	if n := strings.Count(agent.uas.Messages(), "INVITE sip:"); n != 1 {
		t.Fatalf("anna received %d INVITEs, want 1", n)
	}
}
