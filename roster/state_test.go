package roster_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teamline/teamline/config"
	"github.com/teamline/teamline/roster"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 6, 16, 10, 0, 0, 0, time.UTC)

// stateRoster is a roster whose team berlin has 30 s of wrap-up and team
// hamburg none.
func stateRoster(t *testing.T) *roster.Snapshot {
	t.Helper()
	cfg := config.Default()
	cfg.Routing.WrapUp = 0
	cfg.Teams = []config.Team{
		{ID: "berlin", Name: "Berlin", TimeZone: "Europe/Berlin", WrapUp: 30 * time.Second, Agents: []config.Agent{
			{ID: "anna", Name: "Anna", Username: "anna", Password: "pw"},
			{ID: "ben", Name: "Ben", Username: "ben", Password: "pw"},
		}},
		{ID: "hamburg", Name: "Hamburg", TimeZone: "Europe/Berlin", Agents: []config.Agent{
			{ID: "hanna", Name: "Hanna", Username: "hanna", Password: "pw"},
		}},
	}
	s, err := roster.FromConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stateHarness is a Presence on a fake clock that records every change.
type stateHarness struct {
	clock   *fakeClock
	p       *roster.Presence
	mu      sync.Mutex
	changes []roster.AgentStateChange
}

func newStateHarness(t *testing.T, opts roster.PresenceOptions) *stateHarness {
	t.Helper()
	h := &stateHarness{clock: &fakeClock{t: t0}}
	snap := stateRoster(t)
	opts.Now = h.clock.Now
	opts.Roster = func() *roster.Snapshot { return snap }
	opts.OnChange = func(c roster.AgentStateChange) {
		h.mu.Lock()
		h.changes = append(h.changes, c)
		h.mu.Unlock()
	}
	h.p = roster.NewPresenceWithOptions(opts)
	return h
}

// lines renders the recorded changes as "agent from->to (reason) +offset".
func (h *stateHarness) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, len(h.changes))
	for i, c := range h.changes {
		out[i] = fmt.Sprintf("%s %s->%s (%s) +%s", c.AgentID, c.From, c.To, c.Reason, c.At.Sub(t0))
	}
	return out
}

// op is one scripted action: a verb and its arguments.
type op struct {
	verb string // reserve, answer, release, rangout, away, available, reg, unreg, wait, tick, renew, vanish
	id   string
	arg  string
	d    time.Duration
	want string // expected result: "true", "false", an error text or a count; empty: not checked
}

func (h *stateHarness) run(t *testing.T, o op) {
	t.Helper()
	var got string
	switch o.verb {
	case "reserve":
		got = fmt.Sprint(h.p.TryReserve(o.id, o.arg))
	case "answer":
		h.p.Answered(o.id, o.arg)
	case "release":
		h.p.Release(o.id, o.arg)
	case "rangout":
		got = fmt.Sprint(h.p.RangOut(o.id, o.arg))
	case "away":
		got = fmt.Sprint(h.p.SetAway(o.id, o.arg))
	case "available":
		got = fmt.Sprint(h.p.SetAvailable(o.id))
	case "reg":
		h.p.SetRegistered(o.id, true)
	case "unreg":
		h.p.SetRegistered(o.id, false)
	case "wait":
		h.clock.advance(o.d)
	case "tick":
		got = fmt.Sprint(len(h.p.Tick(h.clock.Now())))
	case "renew":
		got = fmt.Sprint(h.p.Renew(o.arg))
	case "vanish":
		got = fmt.Sprint(len(h.p.ReleaseVanished(func(id string) bool { return id != o.arg })))
	default:
		t.Fatalf("unknown verb %q", o.verb)
	}
	if o.want != "" && got != o.want {
		t.Errorf("%s %s %s = %s, want %s", o.verb, o.id, o.arg, got, o.want)
	}
}

func TestAgentStates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		opts        roster.PresenceOptions
		ops         []op
		agent       string
		wantState   roster.AgentState
		wantReason  string
		wantCall    string
		wantIdle    time.Duration // IdleSince - t0; -1: zero
		wantChanges []string
	}{
		{
			name: "registration required: offline until registered", opts: roster.PresenceOptions{RequireRegistration: true},
			ops:   []op{{verb: "reserve", id: "anna", arg: "c1", want: "false"}, {verb: "wait", d: time.Minute}, {verb: "reg", id: "anna"}},
			agent: "anna", wantState: roster.Available, wantIdle: time.Minute,
			wantChanges: []string{"anna offline->available (registered) +1m0s"},
		},
		{
			name: "unregistered agent goes offline", opts: roster.PresenceOptions{RequireRegistration: true},
			ops:   []op{{verb: "reg", id: "anna"}, {verb: "unreg", id: "anna"}},
			agent: "anna", wantState: roster.Offline, wantIdle: 0,
			wantChanges: []string{"anna offline->available (registered) +0s", "anna available->offline (unregistered) +0s"},
		},
		{
			name: "unregistered mid-call: call kept, offline after it",
			ops: []op{
				{verb: "reserve", id: "hanna", arg: "c1", want: "true"}, {verb: "answer", id: "hanna", arg: "c1"},
				{verb: "unreg", id: "hanna"}, {verb: "release", id: "hanna", arg: "c1"},
			},
			agent: "hanna", wantState: roster.Offline, wantIdle: -1,
			wantChanges: []string{
				"hanna available->ringing (rung for call c1) +0s", "hanna ringing->on call (answered call c1) +0s",
				"hanna on call->offline (call c1 ended) +0s",
			},
		},
		{
			name: "wrap-up after a call, then available at its end",
			ops: []op{
				{verb: "reserve", id: "anna", arg: "c1", want: "true"}, {verb: "answer", id: "anna", arg: "c1"},
				{verb: "wait", d: 2 * time.Minute}, {verb: "release", id: "anna", arg: "c1"},
				{verb: "wait", d: 29 * time.Second}, {verb: "reserve", id: "anna", arg: "c2", want: "false"},
				{verb: "tick", want: "0"}, {verb: "wait", d: 5 * time.Second}, {verb: "tick", want: "1"},
				{verb: "reserve", id: "anna", arg: "c3", want: "true"}, {verb: "release", id: "anna", arg: "c3"},
			},
			agent: "anna", wantState: roster.Available, wantIdle: 2*time.Minute + 34*time.Second,
			wantChanges: []string{
				"anna available->ringing (rung for call c1) +0s",
				"anna ringing->on call (answered call c1) +0s",
				"anna on call->wrap-up (call c1 ended) +2m0s",
				"anna wrap-up->available (wrap-up ended) +2m30s",
				"anna available->ringing (rung for call c3) +2m34s",
				"anna ringing->available (call c3 stopped ringing) +2m34s",
			},
		},
		{
			name: "team without wrap-up is available right after the call",
			ops: []op{
				{verb: "reserve", id: "hanna", arg: "c1"}, {verb: "answer", id: "hanna", arg: "c1"},
				{verb: "wait", d: time.Minute}, {verb: "release", id: "hanna", arg: "c1"},
			},
			agent: "hanna", wantState: roster.Available, wantIdle: time.Minute,
		},
		{
			name: "ringing lease expires: back to available",
			opts: roster.PresenceOptions{RingLease: time.Minute},
			ops: []op{
				{verb: "reserve", id: "ben", arg: "c1"}, {verb: "wait", d: 59 * time.Second}, {verb: "tick", want: "0"},
				{verb: "wait", d: time.Second}, {verb: "tick", want: "1"}, {verb: "renew", arg: "c1", want: "0"},
			},
			agent: "ben", wantState: roster.Available, wantIdle: time.Minute,
			wantChanges: []string{
				"ben available->ringing (rung for call c1) +0s",
				"ben ringing->available (lease of call c1 expired) +1m0s",
			},
		},
		{
			name: "renewed lease does not expire",
			opts: roster.PresenceOptions{CallLease: time.Minute},
			ops: []op{
				{verb: "reserve", id: "ben", arg: "c1"}, {verb: "answer", id: "ben", arg: "c1"},
				{verb: "wait", d: 50 * time.Second}, {verb: "renew", arg: "c1", want: "1"},
				{verb: "wait", d: 50 * time.Second}, {verb: "tick", want: "0"},
			},
			agent: "ben", wantState: roster.OnCall, wantCall: "c1", wantIdle: -1,
		},
		{
			name: "call lease expiry skips wrap-up",
			opts: roster.PresenceOptions{CallLease: time.Minute},
			ops: []op{
				{verb: "reserve", id: "anna", arg: "c1"}, {verb: "answer", id: "anna", arg: "c1"},
				{verb: "wait", d: time.Hour}, {verb: "tick", want: "1"},
			},
			agent: "anna", wantState: roster.Available, wantIdle: time.Hour,
		},
		{
			name: "vanished call frees its agents",
			ops: []op{
				{verb: "reserve", id: "anna", arg: "gone"}, {verb: "reserve", id: "ben", arg: "gone"},
				{verb: "reserve", id: "hanna", arg: "alive"}, {verb: "vanish", arg: "gone", want: "2"},
			},
			agent: "hanna", wantState: roster.Ringing, wantCall: "alive", wantIdle: -1,
		},
		{
			name: "N calls rung out in a row: away with reason no answer",
			opts: roster.PresenceOptions{NoAnswerLimit: 2},
			ops: []op{
				{verb: "reserve", id: "ben", arg: "c1"}, {verb: "rangout", id: "ben", arg: "c1", want: "false"},
				{verb: "reserve", id: "ben", arg: "c2"}, {verb: "rangout", id: "ben", arg: "c2", want: "true"},
				{verb: "reserve", id: "ben", arg: "c3", want: "false"},
			},
			agent: "ben", wantState: roster.Away, wantReason: roster.ReasonNoAnswer, wantIdle: 0,
			wantChanges: []string{
				"ben available->ringing (rung for call c1) +0s", "ben ringing->available (call c1 rang out) +0s",
				"ben available->ringing (rung for call c2) +0s", "ben ringing->away (no answer) +0s",
			},
		},
		{
			name: "an answered call resets the count",
			opts: roster.PresenceOptions{NoAnswerLimit: 2},
			ops: []op{
				{verb: "reserve", id: "hanna", arg: "c1"}, {verb: "rangout", id: "hanna", arg: "c1"},
				{verb: "reserve", id: "hanna", arg: "c2"}, {verb: "answer", id: "hanna", arg: "c2"}, {verb: "release", id: "hanna", arg: "c2"},
				{verb: "reserve", id: "hanna", arg: "c3"}, {verb: "rangout", id: "hanna", arg: "c3", want: "false"},
			},
			agent: "hanna", wantState: roster.Available, wantIdle: 0,
		},
		{
			name: "no-answer limit 0 never sets away",
			ops: []op{
				{verb: "reserve", id: "ben", arg: "c1"}, {verb: "rangout", id: "ben", arg: "c1"},
				{verb: "reserve", id: "ben", arg: "c2"}, {verb: "rangout", id: "ben", arg: "c2"},
				{verb: "reserve", id: "ben", arg: "c3"}, {verb: "rangout", id: "ben", arg: "c3", want: "false"},
			},
			agent: "ben", wantState: roster.Available, wantIdle: 0,
		},
		{
			name:  "a release after losing the fork does not count as rung out",
			opts:  roster.PresenceOptions{NoAnswerLimit: 1},
			ops:   []op{{verb: "reserve", id: "ben", arg: "c1"}, {verb: "release", id: "ben", arg: "c1"}},
			agent: "ben", wantState: roster.Available, wantIdle: 0,
		},
		{
			name: "away over the API, then back",
			ops: []op{
				{verb: "away", id: "anna", arg: "lunch", want: "<nil>"}, {verb: "reserve", id: "anna", arg: "c1", want: "false"},
				{verb: "wait", d: time.Hour}, {verb: "available", id: "anna", want: "<nil>"},
			},
			agent: "anna", wantState: roster.Available, wantIdle: time.Hour,
			wantChanges: []string{"anna available->away (lunch) +0s", "anna away->available (set available) +1h0m0s"},
		},
		{
			name: "away during a call takes effect when it ends, without wrap-up",
			ops: []op{
				{verb: "reserve", id: "anna", arg: "c1"}, {verb: "answer", id: "anna", arg: "c1"},
				{verb: "away", id: "anna", arg: "meeting"}, {verb: "available", id: "anna", want: roster.ErrBusy.Error()},
				{verb: "release", id: "anna", arg: "c1"},
			},
			agent: "anna", wantState: roster.Away, wantReason: "meeting", wantIdle: -1,
		},
		{
			name: "available ends wrap-up early",
			ops: []op{
				{verb: "reserve", id: "anna", arg: "c1"}, {verb: "answer", id: "anna", arg: "c1"},
				{verb: "release", id: "anna", arg: "c1"}, {verb: "wait", d: 10 * time.Second}, {verb: "available", id: "anna"},
			},
			agent: "anna", wantState: roster.Available, wantIdle: 10 * time.Second,
		},
		{
			name:  "unknown agents are refused",
			ops:   []op{{verb: "away", id: "nobody", arg: "x", want: roster.ErrUnknownAgent.Error()}, {verb: "available", id: "nobody", want: roster.ErrUnknownAgent.Error()}},
			agent: "nobody", wantState: roster.Available, wantIdle: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newStateHarness(t, tt.opts)
			for _, o := range tt.ops {
				h.run(t, o)
			}
			st := h.p.Status(tt.agent)
			if st.State != tt.wantState || st.Reason != tt.wantReason || st.CallID != tt.wantCall {
				t.Errorf("status = %+v, want %v (%q) call %q\nchanges:\n%s", st, tt.wantState, tt.wantReason, tt.wantCall,
					strings.Join(h.lines(), "\n"))
			}
			switch {
			case tt.wantIdle < 0 && !st.IdleSince.IsZero():
				t.Errorf("idle since %v, want zero", st.IdleSince)
			case tt.wantIdle >= 0 && !st.IdleSince.Equal(t0.Add(tt.wantIdle)) && !(tt.wantIdle == 0 && st.IdleSince.IsZero()):
				t.Errorf("idle since +%v, want +%v", st.IdleSince.Sub(t0), tt.wantIdle)
			}
			if tt.wantChanges != nil {
				if got := h.lines(); !slices.Equal(got, tt.wantChanges) {
					t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.wantChanges, "\n"))
				}
			}
		})
	}
}

// TestStatusesCoverRoster checks that the wallboard's list has every agent
// of the roster, including those Presence never saw.
func TestStatusesCoverRoster(t *testing.T) {
	t.Parallel()
	h := newStateHarness(t, roster.PresenceOptions{RequireRegistration: true})
	h.p.SetRegistered("ben", true)
	if err := h.p.SetAway("hanna", "training"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range h.p.Statuses() {
		got = append(got, s.AgentID+"="+s.State.Token())
	}
	want := []string{"anna=offline", "ben=available", "hanna=away"}
	if !slices.Equal(got, want) {
		t.Errorf("Statuses = %q, want %q", got, want)
	}
}

// TestListenerSeesChangesInOrder races many calls for one agent and checks
// that the listener's view is a consistent sequence: each change starts
// where the previous one ended.
func TestListenerSeesChangesInOrder(t *testing.T) {
	t.Parallel()
	h := newStateHarness(t, roster.PresenceOptions{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				call := fmt.Sprintf("g%d-%d", g, i)
				if h.p.TryReserve("hanna", call) {
					h.p.Answered("hanna", call)
					h.p.Release("hanna", call)
				}
			}
		}()
	}
	wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.changes) == 0 {
		t.Fatal("no changes seen")
	}
	prev := roster.Available
	for i, c := range h.changes {
		if c.From != prev {
			t.Fatalf("change %d goes from %v, but the agent was %v", i, c.From, prev)
		}
		prev = c.To
	}
	if prev != roster.Available {
		t.Errorf("final state %v, want available", prev)
	}
}

func TestStateTokens(t *testing.T) {
	t.Parallel()
	want := map[roster.AgentState]string{
		roster.Available: "available", roster.Ringing: "ringing", roster.OnCall: "on_call",
		roster.Offline: "offline", roster.WrapUp: "wrap_up", roster.Away: "away", roster.AgentState(99): "unknown",
	}
	for s, w := range want {
		if got := s.Token(); got != w {
			t.Errorf("%d.Token() = %q, want %q", s, got, w)
		}
	}
}

func TestCallerLocation(t *testing.T) {
	t.Parallel()
	tests := []struct{ number, want string }{
		{"+4930123456", "Europe/Berlin"},
		{"+12125550100", "America/New_York"},
		{"", ""},
		{"4930123456", ""},
	}
	for _, tt := range tests {
		got := ""
		if loc := roster.CallerLocation(tt.number); loc != nil {
			got = loc.String()
		}
		if got != tt.want {
			t.Errorf("CallerLocation(%q) = %q, want %q", tt.number, got, tt.want)
		}
	}
}

func TestSetAwayDefaultReason(t *testing.T) {
	t.Parallel()
	h := newStateHarness(t, roster.PresenceOptions{})
	if err := h.p.SetAway("ben", ""); err != nil {
		t.Fatal(err)
	}
	if st := h.p.Status("ben"); st.State != roster.Away || st.Reason != "away" {
		t.Errorf("status = %+v", st)
	}
	if err := h.p.SetAvailable("nobody"); !errors.Is(err, roster.ErrUnknownAgent) {
		t.Errorf("SetAvailable(nobody) = %v", err)
	}
}

// An attended transfer hands an agent's hold from the consultation call to
// the customer's call: the agent stays on call, now released by that call.
func TestHandoverMovesTheHold(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	p := roster.NewPresenceWithOptions(roster.PresenceOptions{Now: func() time.Time { return now }})
	if !p.TryReserve("alex", "consult-1") {
		t.Fatal("alex could not be reserved")
	}
	p.Answered("alex", "consult-1")
	if p.Handover("alex", "other-call", "customer-1") {
		t.Fatal("a call that does not hold alex handed him over")
	}
	if !p.Handover("alex", "consult-1", "customer-1") {
		t.Fatal("handover from the consultation call failed")
	}
	if st := p.Status("alex"); st.State != roster.OnCall || st.CallID != "customer-1" {
		t.Fatalf("after the handover alex is %v on %q, want on call on customer-1", st.State, st.CallID)
	}
	p.Release("alex", "consult-1") // the consultation call ending changes nothing
	if st := p.Status("alex"); st.State != roster.OnCall {
		t.Fatalf("the consultation's release freed alex: %v", st.State)
	}
	p.Release("alex", "customer-1")
	if st := p.Status("alex"); st.State == roster.OnCall {
		t.Fatalf("the customer call's release left alex on call")
	}
}
