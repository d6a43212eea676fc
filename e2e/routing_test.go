package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/teamline/teamline/internal/peer"
	"github.com/teamline/teamline/internal/pgtest"
	"github.com/teamline/teamline/store"
)

// withLastAgent returns a fresh database in which agentID answered a call of
// customer Erika yesterday, so Teamline starts knowing her last agent.
func withLastAgent(t *testing.T, agentID string) string {
	t.Helper()
	url := pgtest.URL(t)
	ctx := context.Background()
	st, err := store.Open(ctx, url, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	id := store.NewCallID()
	at := time.Now().Add(-24 * time.Hour)
	if err := st.InsertCall(ctx, store.CallStart{ID: id, SIPCallID: "yesterday", CallerNumber: erika,
		CustomerID: erikaID, TeamID: "berlin", At: at}); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkAnswered(ctx, id, agentID, at.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkEnded(ctx, id, store.OutcomeAnswered, store.HangupCaller, "", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	return url
}

func callErika(t *testing.T, tl *teamline, callMS string) *peer.SIPpProcess {
	t.Helper()
	return peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 30 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(peer.NewRTPEndpoint(t).Port()), "caller": erika, "call_ms": callMS},
	})
}

func traceContains(t *testing.T, rec store.Call, want string) {
	t.Helper()
	for _, line := range rec.Trace {
		if strings.Contains(line, want) {
			return
		}
	}
	t.Errorf("decision trace lacks %q:\n%s", want, strings.Join(rec.Trace, "\n"))
}

// Erika's last agent (alex) rings first, alone, and takes the call: anna,
// free and registered, is never rung.
func TestLastAgentRingsFirstAlone(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{databaseURL: withLastAgent(t, "alex")})
	alex := tl.startSIPpAgent(t, "alex", passAlex, "agent_answer.xml", map[string]string{"ring_ms": "500"})
	anna := tl.startSIPpAgent(t, "anna", passAnna, "agent_ring.xml", nil)

	customer := callErika(t, tl, "1000")
	ctx := waitCtx(t, 30*time.Second)
	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer: exit %d, %v", code, err)
	}
	if code, err := alex.uas.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("alex: exit %d, %v", code, err)
	}
	if msgs := anna.uas.Messages(); strings.Contains(msgs, "INVITE sip:") {
		t.Fatalf("anna was rung although Erika's last agent answered:\n%s", msgs)
	}
	rec := tl.lastCall(t, erikaID)
	if rec.AgentID != "alex" || rec.Outcome != store.OutcomeAnswered {
		t.Fatalf("record = %+v, want answered by alex", rec)
	}
	traceContains(t, rec, "customer's last agent alex")
}

// The last agent does not answer within the affinity ring: the next wave
// rings anna, who answers; alex's phone is cancelled.
func TestNextWaveWhenLastAgentDoesNotAnswer(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{databaseURL: withLastAgent(t, "alex"), affinityRing: 1500 * time.Millisecond})
	alex := tl.startSIPpAgent(t, "alex", passAlex, "agent_ring.xml", nil)
	anna := tl.startSIPpAgent(t, "anna", passAnna, "agent_answer.xml", nil)

	customer := callErika(t, tl, "1000")
	ctx := waitCtx(t, 30*time.Second)
	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer: exit %d, %v", code, err)
	}
	if code, err := alex.uas.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("alex (expects INVITE then CANCEL): exit %d, %v", code, err)
	}
	if code, err := anna.uas.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("anna: exit %d, %v", code, err)
	}
	rec := tl.lastCall(t, erikaID)
	if rec.AgentID != "anna" {
		t.Fatalf("record = %+v, want answered by anna in the second step", rec)
	}
	traceContains(t, rec, "step 1 (last agent for 1.5s): rings 1 agent: alex")
	traceContains(t, rec, "step 2 (3 longest-idle of berlin for 4s): rings 1 agent: anna")
}

// Team Kiel is closed: its caller goes to the national pool, whose agent
// answers; Kiel's own agent never rings.
func TestOutsideHoursGoesToNationalPool(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{})
	kai := tl.startSIPpAgent(t, "kai", passKai, "agent_ring.xml", nil)
	nora := tl.startSIPpAgent(t, "nora", passNora, "agent_answer.xml", nil)

	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 20 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(peer.NewRTPEndpoint(t).Port()), "caller": "+494319876543", "call_ms": "800"},
	})
	ctx := waitCtx(t, 25*time.Second)
	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer: exit %d, %v", code, err)
	}
	if code, err := nora.uas.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("nora (national pool): exit %d, %v", code, err)
	}
	if msgs := kai.uas.Messages(); strings.Contains(msgs, "INVITE sip:") {
		t.Fatalf("closed team's agent was rung:\n%s", msgs)
	}
	rec := tl.callBySIPCallID(t, sippCallID(t, customer))
	if rec.TeamID != "national" || rec.AgentID != "nora" {
		t.Fatalf("record = %+v, want the national pool's nora", rec)
	}
	traceContains(t, rec, "closed")
}

// After a call an agent stays in wrap-up: a call in that time does not ring
// them (the caller gets 480); once wrap-up is over the next call does.
func TestWrapUpKeepsAgentFromRinging(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{wrapUp: 2 * time.Second})
	anna := tl.startSIPpAgentCalls(t, "anna", passAnna, "agent_answer.xml", nil, 2)
	ctx := waitCtx(t, 40*time.Second)

	if code, err := callErika(t, tl, "300").Wait(ctx); err != nil || code != 0 {
		t.Fatalf("first call: exit %d, %v", code, err)
	}
	during := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_expect.xml", Remote: tl.sip, Timeout: 10 * time.Second,
		Keys: map[string]string{"expect": "480", "caller": erika},
	})
	if code, err := during.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("call during wrap-up (expects 480): exit %d, %v", code, err)
	}
	tl.waitAgentState(t, "anna", "available")
	if code, err := callErika(t, tl, "300").Wait(ctx); err != nil || code != 0 {
		t.Fatalf("call after wrap-up: exit %d, %v", code, err)
	}
	if code, err := anna.uas.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("anna (two calls): exit %d, %v", code, err)
	}
}

// An agent who set themselves away over the HTTP API is not rung; their
// colleague takes the call.
func TestAgentAwayOverAPINotRung(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{})
	anna := tl.startSIPpAgent(t, "anna", passAnna, "agent_ring.xml", nil)
	alex := tl.startSIPpAgent(t, "alex", passAlex, "agent_answer.xml", nil)

	url := "http://" + tl.app.HTTPAddr().String() + "/v1/agents/anna/state"
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(`{"state":"away","reason":"lunch"}`))
	req.Header.Set("Authorization", "Bearer "+apiToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PUT agent state: %d", res.StatusCode)
	}
	unauth, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(`{"state":"available"}`))
	if res, err := http.DefaultClient.Do(unauth); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("PUT without token: %v %v, want 401", res.StatusCode, err)
	}

	ctx := waitCtx(t, 25*time.Second)
	if code, err := callErika(t, tl, "500").Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer: exit %d, %v", code, err)
	}
	if code, err := alex.uas.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("alex: exit %d, %v", code, err)
	}
	if msgs := anna.uas.Messages(); strings.Contains(msgs, "INVITE sip:") {
		t.Fatalf("anna, away, was rung:\n%s", msgs)
	}
	if st := tl.app.Presence.Status("anna"); st.State.Token() != "away" || st.Reason != "lunch" {
		t.Fatalf("anna is %s (%s), want away (lunch)", st.State.Token(), st.Reason)
	}
}
