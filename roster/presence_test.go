package roster

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestPresenceTransitions(t *testing.T) {
	t.Parallel()
	type step struct {
		op     string // reserve, answer, release
		agent  string
		call   string
		wantOK bool // for reserve
	}
	tests := []struct {
		name      string
		steps     []step
		wantState AgentState
		wantCall  string
	}{
		{name: "fresh agent is available", wantState: Available},
		{
			name:      "reserve rings",
			steps:     []step{{"reserve", "anna", "c1", true}},
			wantState: Ringing, wantCall: "c1",
		},
		{
			name:      "second call cannot reserve",
			steps:     []step{{"reserve", "anna", "c1", true}, {"reserve", "anna", "c2", false}},
			wantState: Ringing, wantCall: "c1",
		},
		{
			name:      "same call reserves again",
			steps:     []step{{"reserve", "anna", "c1", true}, {"answer", "anna", "c1", false}, {"reserve", "anna", "c1", true}},
			wantState: OnCall, wantCall: "c1",
		},
		{
			name:      "answer puts on call",
			steps:     []step{{"reserve", "anna", "c1", true}, {"answer", "anna", "c1", false}},
			wantState: OnCall, wantCall: "c1",
		},
		{
			name:      "answer by other call ignored",
			steps:     []step{{"reserve", "anna", "c1", true}, {"answer", "anna", "c2", false}},
			wantState: Ringing, wantCall: "c1",
		},
		{
			name:      "answer without reservation ignored",
			steps:     []step{{"answer", "anna", "c1", false}},
			wantState: Available,
		},
		{
			name:      "release by holder frees",
			steps:     []step{{"reserve", "anna", "c1", true}, {"answer", "anna", "c1", false}, {"release", "anna", "c1", false}},
			wantState: Available,
		},
		{
			name:      "release by other call ignored",
			steps:     []step{{"reserve", "anna", "c1", true}, {"release", "anna", "c2", false}},
			wantState: Ringing, wantCall: "c1",
		},
		{
			name: "after release another call reserves",
			steps: []step{
				{"reserve", "anna", "c1", true}, {"release", "anna", "c1", false}, {"reserve", "anna", "c2", true},
			},
			wantState: Ringing, wantCall: "c2",
		},
		{
			name:      "agents are independent",
			steps:     []step{{"reserve", "ben", "c1", true}, {"reserve", "anna", "c2", true}},
			wantState: Ringing, wantCall: "c2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := NewPresence()
			for i, s := range tt.steps {
				switch s.op {
				case "reserve":
					if got := p.TryReserve(s.agent, s.call); got != s.wantOK {
						t.Fatalf("step %d: TryReserve(%s, %s) = %v, want %v", i, s.agent, s.call, got, s.wantOK)
					}
				case "answer":
					p.Answered(s.agent, s.call)
				case "release":
					p.Release(s.agent, s.call)
				}
			}
			state, call := p.State("anna")
			if state != tt.wantState || call != tt.wantCall {
				t.Fatalf("State(anna) = %v, %q; want %v, %q", state, call, tt.wantState, tt.wantCall)
			}
		})
	}
}

func TestAgentStateString(t *testing.T) {
	t.Parallel()
	for s, want := range map[AgentState]string{Available: "available", Ringing: "ringing", OnCall: "on call", 42: "unknown"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(s), got, want)
		}
	}
}

// TestPresenceConcurrentReserve lets many calls race for one agent, round
// after round: exactly one must win each round. Run with -race.
func TestPresenceConcurrentReserve(t *testing.T) {
	t.Parallel()
	const (
		rounds  = 200
		callers = 32
	)
	p := NewPresence()
	for round := range rounds {
		var (
			wins   atomic.Int32
			winner atomic.Value
			start  = make(chan struct{})
			wg     sync.WaitGroup
		)
		for c := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				call := fmt.Sprintf("r%d-c%d", round, c)
				if p.TryReserve("anna", call) {
					wins.Add(1)
					winner.Store(call)
				}
			}()
		}
		close(start)
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d calls reserved the agent, want exactly 1", round, n)
		}
		call := winner.Load().(string)
		if state, holder := p.State("anna"); state != Ringing || holder != call {
			t.Fatalf("round %d: State = %v, %q; want ringing, %q", round, state, holder, call)
		}
		p.Answered("anna", call)
		p.Release("anna", call)
		if state, _ := p.State("anna"); state != Available {
			t.Fatalf("round %d: agent not released: %v", round, state)
		}
	}
}

// TestPresenceConcurrentMixed hammers several agents with reserve, answer
// and release from many goroutines and checks that no agent ever ends up
// held by two calls.
func TestPresenceConcurrentMixed(t *testing.T) {
	t.Parallel()
	p := NewPresence()
	agents := []string{"anna", "alex", "ben", "hanna"}
	var holders [4]atomic.Int32 // calls that believe they hold each agent
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				a := (g + i) % len(agents)
				call := fmt.Sprintf("g%d-%d", g, i)
				if !p.TryReserve(agents[a], call) {
					continue
				}
				if n := holders[a].Add(1); n != 1 {
					t.Errorf("agent %s held by %d calls", agents[a], n)
				}
				p.Answered(agents[a], call)
				holders[a].Add(-1)
				p.Release(agents[a], call)
			}
		}()
	}
	wg.Wait()
	for _, a := range agents {
		if state, call := p.State(a); state != Available {
			t.Errorf("agent %s left %v by %s", a, state, call)
		}
	}
}

func BenchmarkPresenceReserveRelease(b *testing.B) {
	p := NewPresence()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if p.TryReserve("anna", "call") {
				p.Answered("anna", "call")
				p.Release("anna", "call")
			}
		}
	})
}
