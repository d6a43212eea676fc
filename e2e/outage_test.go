package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/teamline/teamline/internal/peer"
	"github.com/teamline/teamline/internal/pgtest"
	"github.com/teamline/teamline/store"
)

// PostgreSQL goes down while a call is in progress: the call goes on, both
// parties keep hearing each other, it ends normally, and its record is
// written once the database is back.
func TestDatabaseOutageDoesNotDropCall(t *testing.T) {
	t.Parallel()
	db := pgtest.NewCluster(t)
	tl := startTeamline(t, tlOptions{databaseURL: db.URL()})
	agent := tl.startSIPpAgent(t, "anna", passAnna, "agent_answer.xml", nil)

	callerRTP := peer.NewRTPEndpoint(t)
	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 30 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(callerRTP.Port()), "caller": erika, "call_ms": "4000"},
	})
	ctx := waitCtx(t, 40*time.Second)
	toAgent, err := customer.RemoteRTP(ctx)
	if err != nil {
		t.Fatalf("call not answered: %v", err)
	}
	toCaller, err := agent.uas.RemoteRTP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db.Stop(t)

	callerRTP.StartSending(ctx, toAgent, 0, 440)
	agent.rtp.StartSending(ctx, toCaller, 0, 1000)
	if err := agent.rtp.WaitPackets(ctx, 50); err != nil {
		t.Fatalf("audio stopped with the database: %v", err)
	}
	if err := callerRTP.WaitPackets(ctx, 50); err != nil {
		t.Fatalf("audio stopped with the database: %v", err)
	}
	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer during outage: exit %d, %v", code, err)
	}
	if code, err := agent.uas.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("agent during outage: exit %d, %v", code, err)
	}

	db.Start(t)
	if rec := tl.lastCall(t, erikaID); rec.Outcome != store.OutcomeAnswered || rec.AgentID != "anna" {
		t.Fatalf("record after the outage = %+v, want answered by anna", rec)
	}
}
