package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/teamline/teamline/internal/pgtest"
	"github.com/teamline/teamline/store"
)

func TestAgentStateHistory(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := pgtest.Store(t)
	changes := []store.AgentStateRecord{
		{AgentID: "anna", State: "available", Reason: "registered", Since: at},
		{AgentID: "anna", State: "ringing", Reason: "rung for call c1", Since: at.Add(time.Minute)},
		{AgentID: "ben", State: "away", Reason: "lunch", Since: at.Add(2 * time.Minute)},
		{AgentID: "anna", State: "on_call", Reason: "answered call c1", Since: at.Add(time.Minute + 5*time.Second)},
		{AgentID: "anna", State: "wrap_up", Reason: "call c1 ended", Since: at.Add(10 * time.Minute)},
	}
	for _, c := range changes {
		if err := s.RecordAgentState(ctx, c.AgentID, c.State, c.Reason, c.Since); err != nil {
			t.Fatalf("RecordAgentState(%+v): %v", c, err)
		}
	}
	got, err := s.AgentStateHistory(ctx, "anna", 3)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, r := range got {
		states = append(states, r.State)
	}
	if want := []string{"wrap_up", "on_call", "ringing"}; !slices.Equal(states, want) {
		t.Fatalf("history = %q, want %q (newest first, limited)", states, want)
	}
	if !got[0].Since.Equal(at.Add(10*time.Minute)) || got[0].Reason != "call c1 ended" || got[0].AgentID != "anna" {
		t.Errorf("newest = %+v", got[0])
	}
	if got, err := s.AgentStateHistory(ctx, "nobody", 5); err != nil || len(got) != 0 {
		t.Errorf("history of nobody = %v, %v", got, err)
	}
}

func TestRecordAgentStateRejects(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := pgtest.Store(t)
	tests := []struct {
		name, agent, state string
		wantInvalid        bool
	}{
		{name: "unknown state", agent: "anna", state: "dancing", wantInvalid: true},
		{name: "display name instead of token", agent: "anna", state: "on call", wantInvalid: true},
		{name: "empty agent", agent: "", state: "available"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.RecordAgentState(ctx, tt.agent, tt.state, "", at)
			if err == nil {
				t.Fatal("accepted")
			}
			if errors.Is(err, store.ErrInvalidAgentState) != tt.wantInvalid {
				t.Errorf("err = %v, want ErrInvalidAgentState: %v", err, tt.wantInvalid)
			}
		})
	}
	if got, _ := s.AgentStateHistory(ctx, "anna", 10); len(got) != 0 {
		t.Errorf("rejected changes were stored: %+v", got)
	}
}

func TestRecordAgentStatesInOneBatch(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	batch := []store.AgentStateRecord{
		{AgentID: "anna", State: "ringing", Reason: "rung for call c1", Since: t0},
		{AgentID: "anna", State: "on_call", Reason: "answered call c1", Since: t0.Add(2 * time.Second)},
		{AgentID: "alex", State: "away", Reason: "lunch", Since: t0.Add(3 * time.Second)},
	}
	if err := s.RecordAgentStates(ctx, batch); err != nil {
		t.Fatal(err)
	}
	hist, err := s.AgentStateHistory(ctx, "anna", 10)
	if err != nil || len(hist) != 2 || hist[0].State != "on_call" || hist[1].State != "ringing" {
		t.Fatalf("anna's history = %+v, %v", hist, err)
	}
	bad := append(batch[:1:1], store.AgentStateRecord{AgentID: "ben", State: "asleep", Since: t0})
	if err := s.RecordAgentStates(ctx, bad); !errors.Is(err, store.ErrInvalidAgentState) {
		t.Fatalf("batch with an invalid state: %v, want ErrInvalidAgentState", err)
	}
	if hist, _ := s.AgentStateHistory(ctx, "ben", 10); len(hist) != 0 {
		t.Fatalf("a refused batch wrote rows: %+v", hist)
	}
}
