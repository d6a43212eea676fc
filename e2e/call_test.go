package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/teamline/teamline/internal/peer"
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

	rec := tl.lastCall(t, erikaID)
	if rec.Outcome != store.OutcomeAnswered || rec.AgentID != "anna" || rec.TeamID != "berlin" ||
		rec.HangupBy != store.HangupCaller || rec.AnsweredAt == nil || rec.CallerNumber != erika {
		t.Fatalf("call record = %+v, want answered by anna in berlin, caller hung up", rec)
	}
}
