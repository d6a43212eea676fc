package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/teamline/teamline/internal/peer"
	"github.com/teamline/teamline/internal/pgtest"
)

// apiAttempt and apiCallback are a callback as GET /v1/callbacks/{id} shows
// it.
type apiAttempt struct {
	EndedAt   *time.Time `json:"ended_at"`
	Agent     string     `json:"agent"`
	SIPStatus int        `json:"sip_status"`
	Outcome   string     `json:"outcome"`
	Counted   bool       `json:"counted"`
	Detail    string     `json:"detail"`
}

type apiCallback struct {
	ID       string       `json:"id"`
	Number   string       `json:"number"`
	State    string       `json:"state"`
	Attempts []apiAttempt `json:"attempts"`
}

// outcomes lists the attempts' outcomes in order.
func (c apiCallback) outcomes() []string {
	out := make([]string, len(c.Attempts))
	for i, a := range c.Attempts {
		out[i] = a.Outcome
	}
	return out
}

// bookASAP books the earliest callback for number through the API at base
// ("http://host:port") and returns its ID.
func bookASAP(t testing.TB, base, number string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/v1/callbacks",
		strings.NewReader(`{"number":"`+number+`","asap":true,"reason":"e2e dialer test"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/callbacks: %v", err)
	}
	defer res.Body.Close()
	var booked apiCallback
	_ = json.NewDecoder(res.Body).Decode(&booked)
	if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK || booked.ID == "" {
		t.Fatalf("POST /v1/callbacks for %s: %d %+v", number, res.StatusCode, booked)
	}
	return booked.ID
}

// getCallback reads a callback with its attempts through the API.
func getCallback(ctx context.Context, base, id string) (apiCallback, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/callbacks/"+id, nil)
	if err != nil {
		return apiCallback{}, err
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return apiCallback{}, fmt.Errorf("get callback %s: %w", id, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return apiCallback{}, fmt.Errorf("get callback %s: status %d", id, res.StatusCode)
	}
	var cb apiCallback
	if err := json.NewDecoder(res.Body).Decode(&cb); err != nil {
		return apiCallback{}, fmt.Errorf("get callback %s: %w", id, err)
	}
	return cb, nil
}

// waitFinal waits until the callback is completed or failed (it is then
// never dialled again) and returns it.
func waitFinal(ctx context.Context, t testing.TB, base, id string) apiCallback {
	t.Helper()
	var last apiCallback
	for {
		cb, err := getCallback(ctx, base, id)
		if err == nil {
			last = cb
			if cb.State == "completed" || cb.State == "failed" {
				return cb
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("callback %s not completed or failed in time: last seen %+v (%v)", id, last, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// inviteLine matches the INVITE_RECEIVED log lines of agent_answer.xml and
// customer_busy_then_answer.xml.
var inviteLine = regexp.MustCompile(`INVITE_RECEIVED .*call_id=(\S+) ruri=sip:([^@;> ]+)@`)

// invitesByNumber counts the distinct INVITEs (by Call-ID) a SIPp UAS logged,
// per Request-URI user: at the customer's phone, the number called.
func invitesByNumber(log string) map[string]int {
	seen := map[string]bool{}
	out := map[string]int{}
	for _, m := range inviteLine.FindAllStringSubmatch(log, -1) {
		if seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		out[m[2]]++
	}
	return out
}

// waitQueueDrained waits until River has no dial job left that could run:
// every job has completed (a job is a turn to dial for a team, so a job
// inserted for one callback may have served another, and its row is marked
// completed shortly after the attempt was recorded). Once the queue is
// empty, nothing more will be dialled.
func waitQueueDrained(ctx context.Context, t testing.TB, conn *pgx.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		var n int
		err := conn.QueryRow(ctx, `select count(*) from river_job
	where state in ('available', 'pending', 'retryable', 'running', 'scheduled')`).Scan(&n)
		if err == nil && n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("dial jobs still live: %d (%v)", n, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func connect(ctx context.Context, t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// The customer's line is busy twice, then they answer: three attempts are
// recorded (busy 486, busy 486, answered 200), each after the retry delay,
// all by the agent who answered first each time, and the callback ends
// completed. The agent is hung up when the customer is busy.
func TestCallbackRetriesBusyCustomerUntilAnswered(t *testing.T) {
	t.Parallel()
	customerRTP := peer.NewRTPEndpoint(t)
	phone := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_busy_then_answer.xml", Calls: 3, Timeout: 60 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(customerRTP.Port()), "busy_calls": "2", "bye_ms": "1000"},
	})
	tl := startTeamline(t, tlOptions{trunkOutbound: phone.Addr(), slotLength: 5 * time.Second, retryDelay: time.Second})
	anna := tl.startSIPpAgentCalls(t, "anna", passAnna, "agent_answer.xml", nil, 3)
	base := "http://" + tl.app.HTTPAddr().String()
	id := bookASAP(t, base, erika)

	ctx := waitCtx(t, 60*time.Second)
	cb := waitFinal(ctx, t, base, id)
	if cb.State != "completed" {
		t.Fatalf("callback ended %s, want completed; attempts %+v", cb.State, cb.Attempts)
	}
	if want := []string{"busy", "busy", "answered"}; !slices.Equal(cb.outcomes(), want) {
		t.Fatalf("attempt outcomes %v, want %v (%+v)", cb.outcomes(), want, cb.Attempts)
	}
	for i, a := range cb.Attempts {
		wantStatus := 486
		if i == 2 {
			wantStatus = 200
		}
		if a.SIPStatus != wantStatus || a.Agent != "anna" || !a.Counted || a.EndedAt == nil {
			t.Errorf("attempt %d = %+v, want SIP %d by anna, counted and ended", i+1, a, wantStatus)
		}
	}
	if code, err := phone.Wait(ctx); err != nil || code != peer.ExitAllCallsOK {
		t.Fatalf("customer phone (486, 486, then answer and BYE): exit %d, %v", code, err)
	}
	if code, err := anna.uas.Wait(ctx); err != nil || code != peer.ExitAllCallsOK {
		t.Fatalf("agent (three answered calls, each ended by Teamline's BYE): exit %d, %v", code, err)
	}
	if got := invitesByNumber(phone.Log())[erika]; got != 3 {
		t.Fatalf("customer phone got %d INVITEs, want 3", got)
	}
	if n := strings.Count(phone.Log(), "BUSY_SENT"); n != 2 {
		t.Fatalf("customer phone was busy %d times, want 2", n)
	}
	if n := strings.Count(anna.uas.Messages(), "X-Teamline-Callback: "+id); n < 3 {
		t.Fatalf("agent's INVITEs carry X-Teamline-Callback %d times, want one per attempt (3)", n)
	}
}

// kill -9 of `teamline serve` while a callback is being dialled (the
// agent's phone rings: the attempt is claimed and recorded as started, the
// customer not yet called), then a restart: the attempt is recovered as
// interrupted and counted (never redone blindly), the callback is retried
// after the retry delay, and the customer's phone gets exactly one INVITE
// in total. No dial job is left that could call them again.
func TestCallbackKilledMidAttemptDialsCustomerOnce(t *testing.T) {
	t.Parallel()
	bin := buildTeamline(t)
	dbURL := pgtest.URL(t)
	phone := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "agent_answer.xml", Calls: -1, Timeout: 120 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(peer.NewRTPEndpoint(t).Port()), "hangup": "us", "bye_ms": "1000"},
	})
	tl := newProcess(t, "teamline", bin, dbURL, tlOptions{
		trunkOutbound: phone.Addr(), slotLength: 5 * time.Second, retryDelay: time.Second,
		noAgentRetry: time.Second, attemptTimeout: 10 * time.Second,
	})
	tl.start()
	// The agent rings for 2 s per call: long enough to kill Teamline while
	// the first attempt rings. Its first call then never gets an ACK (that
	// call fails at the agent); the second is the retry.
	agent := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "agent_answer.xml", Calls: 2, Timeout: 120 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(peer.NewRTPEndpoint(t).Port()), "ring_ms": "2000"},
	})
	tl.register(t, "anna", passAnna, agent.Port())
	id := bookASAP(t, tl.http, erika)

	ctx := waitCtx(t, 100*time.Second)
	if _, err := agent.WaitLog(ctx, "INVITE_RECEIVED"); err != nil {
		t.Fatalf("the agent's phone never rang for the callback: %v", err)
	}
	tl.kill()

	db := connect(ctx, t, dbURL)
	var state string
	var open int
	if err := db.QueryRow(ctx, `select state, (select count(*) from callback_attempts
	where callback_id = c.id and ended_at is null) from callbacks c where id = $1`, id).Scan(&state, &open); err != nil {
		t.Fatal(err)
	}
	if state != "dialing" || open != 1 {
		t.Fatalf("after kill -9 during the attempt: state %s with %d open attempts, want dialing with 1", state, open)
	}
	if n := len(invitesByNumber(phone.Log())); n != 0 {
		t.Fatalf("the customer was called before the agent answered")
	}
	// River rescues a job that has been running for longer than the job
	// timeout plus a minute (here attempt_timeout 10s + 30s + 1m, then up to
	// 30 s until the rescuer runs). Instead of waiting for the wall clock,
	// the test ages the dead process's job so the restarted one rescues it
	// at once.
	tag, err := db.Exec(ctx, `update river_job set attempted_at = now() - interval '1 hour'
	where state = 'running' and args->>'callback_id' = $1`, id)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("age the interrupted dial job: %v (%d rows), want exactly one running job", err, tag.RowsAffected())
	}

	tl.start()
	tl.register(t, "anna", passAnna, agent.Port())
	cb := waitFinal(ctx, t, tl.http, id)
	if cb.State != "completed" {
		t.Fatalf("callback ended %s, want completed; attempts %+v", cb.State, cb.Attempts)
	}
	if want := []string{"interrupted", "answered"}; !slices.Equal(cb.outcomes(), want) {
		t.Fatalf("attempt outcomes %v, want %v (%+v)", cb.outcomes(), want, cb.Attempts)
	}
	if a := cb.Attempts[0]; !a.Counted || a.EndedAt == nil {
		t.Errorf("interrupted attempt %+v: want it counted and closed", a)
	}
	if a := cb.Attempts[1]; a.Agent != "anna" || a.SIPStatus != 200 || !a.Counted {
		t.Errorf("answered attempt %+v: want anna, SIP 200, counted", a)
	}
	waitQueueDrained(ctx, t, db)
	if got := invitesByNumber(phone.Log()); got[erika] != 1 || len(got) != 1 {
		t.Fatalf("customer phone INVITEs per number: %v, want exactly one for %s", got, erika)
	}
	if n := len(inviteLine.FindAllString(agent.Log(), -1)); n != 2 {
		t.Fatalf("agent rang %d times, want 2 (the interrupted attempt and the retry)", n)
	}
	if !strings.Contains(tl.logText(), "recovered an interrupted callback attempt") {
		t.Fatalf("the restarted process did not log the recovery")
	}
}

// Two `teamline serve` processes share one database, each with its own SIP
// and HTTP ports, the same agents registered on both and the same trunk:
// several callbacks fall due at once and each is dialled exactly once, by
// one of the two.
func TestTwoProcessesDialEachCallbackOnce(t *testing.T) {
	t.Parallel()
	bin := buildTeamline(t)
	dbURL := pgtest.URL(t)
	phone := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "agent_answer.xml", Calls: -1, Timeout: 90 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(peer.NewRTPEndpoint(t).Port()), "hangup": "us", "bye_ms": "1000"},
	})
	o := tlOptions{
		trunkOutbound: phone.Addr(), slotLength: 5 * time.Second, retryDelay: time.Second,
		noAgentRetry: time.Second, attemptTimeout: 10 * time.Second,
	}
	procs := []*tlProcess{newProcess(t, "teamline-a", bin, dbURL, o), newProcess(t, "teamline-b", bin, dbURL, o)}
	for _, p := range procs {
		p.start()
	}
	agents := []struct{ user, pass string }{{"anna", passAnna}, {"alex", passAlex}, {"barbie", passBarbie}}
	for _, a := range agents {
		uas := peer.StartSIPp(t, peer.SIPpOptions{
			Scenario: "agent_answer.xml", Calls: -1, Timeout: 90 * time.Second,
			Keys: map[string]string{"rtp_port": fmt.Sprint(peer.NewRTPEndpoint(t).Port())},
		})
		for _, p := range procs {
			p.register(t, a.user, a.pass, uas.Port())
		}
	}

	numbers := []string{"+4930123401", "+4930123402", "+4930123403", "+4930123404"}
	ids := make([]string, len(numbers))
	for i, n := range numbers {
		ids[i] = bookASAP(t, procs[i%2].http, n)
	}
	ctx := waitCtx(t, 60*time.Second)
	for i, id := range ids {
		cb := waitFinal(ctx, t, procs[(i+1)%2].http, id)
		if cb.State != "completed" {
			t.Fatalf("callback %s for %s ended %s, want completed; attempts %+v", id, numbers[i], cb.State, cb.Attempts)
		}
		var counted []apiAttempt
		for _, a := range cb.Attempts {
			if a.Counted {
				counted = append(counted, a)
			}
		}
		if len(counted) != 1 || counted[0].Outcome != "answered" {
			t.Fatalf("callback for %s: counted attempts %+v, want one, answered", numbers[i], counted)
		}
	}

	db := connect(ctx, t, dbURL)
	waitQueueDrained(ctx, t, db)
	got := invitesByNumber(phone.Log())
	for _, n := range numbers {
		if got[n] != 1 {
			t.Errorf("customer %s got %d INVITEs, want exactly 1 (all: %v)", n, got[n], got)
		}
	}
	if len(got) != len(numbers) {
		t.Errorf("customer phone was called for %v, want only %v", got, numbers)
	}
	for _, p := range procs {
		t.Logf("%s dialled %d attempts", p.name, strings.Count(p.logText(), "dialing callback"))
	}
}
