package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// agentStates are the states agent_states.state accepts: roster.AgentState
// tokens.
var agentStates = map[string]bool{
	"offline": true, "available": true, "ringing": true, "on_call": true, "wrap_up": true, "away": true,
}

// ErrInvalidAgentState is returned for a state that is not one of the
// agent state tokens (offline, available, ringing, on_call, wrap_up, away).
var ErrInvalidAgentState = errors.New("invalid agent state")

// AgentStateRecord is one row of an agent's state history.
type AgentStateRecord struct {
	// AgentID identifies the agent.
	AgentID string
	// State is the state token ("on_call").
	State string
	// Reason is the away reason or what caused the change.
	Reason string
	// Since is when the agent entered State.
	Since time.Time
}

// RecordAgentState appends a change of an agent's state to the history:
// agentID entered state (a roster.AgentState token such as "on_call") at
// since, for reason. Routing never reads it back; it is the durable record.
func (s *Store) RecordAgentState(ctx context.Context, agentID, state, reason string, since time.Time) error {
	return s.RecordAgentStates(ctx, []AgentStateRecord{{AgentID: agentID, State: state, Reason: reason, Since: since}})
}

// RecordAgentStates appends several changes in one round trip (a busy
// hotline changes states several times per call).
func (s *Store) RecordAgentStates(ctx context.Context, recs []AgentStateRecord) error {
	if len(recs) == 0 {
		return nil
	}
	rows := make([][]any, 0, len(recs))
	for _, r := range recs {
		if r.AgentID == "" {
			return fmt.Errorf("record agent state: empty agent id")
		}
		if !agentStates[r.State] {
			return fmt.Errorf("record agent state of %s: %q: %w", r.AgentID, r.State, ErrInvalidAgentState)
		}
		rows = append(rows, []any{r.AgentID, r.State, r.Reason, r.Since})
	}
	if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"agent_states"}, []string{"agent_id", "state", "reason", "since"},
		pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("record %d agent state changes: %w", len(recs), err)
	}
	return nil
}

// AgentStateHistory returns the agent's latest limit state changes, newest
// first.
func (s *Store) AgentStateHistory(ctx context.Context, agentID string, limit int) ([]AgentStateRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx,
		`select agent_id, state, reason, since from agent_states
		 where agent_id = $1 order by since desc, id desc limit $2`, agentID, limit)
	if err != nil {
		return nil, fmt.Errorf("read state history of %s: %w", agentID, err)
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AgentStateRecord, error) {
		var rec AgentStateRecord
		err := r.Scan(&rec.AgentID, &rec.State, &rec.Reason, &rec.Since)
		return rec, err
	})
	if err != nil {
		return nil, fmt.Errorf("read state history of %s: %w", agentID, err)
	}
	return recs, nil
}
