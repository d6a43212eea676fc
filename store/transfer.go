package store

import (
	"context"
	"fmt"
	"time"
)

// TransferKind says how an agent handed a call on.
type TransferKind string

// Transfer kinds.
const (
	// TransferBlind: the agent named the target and let go; Teamline rang
	// the target with the customer's context.
	TransferBlind TransferKind = "blind"
	// TransferAttended: the agent talked to the target first.
	TransferAttended TransferKind = "attended"
)

// Transfer is one agent handing a call on, as recorded in call_transfers.
type Transfer struct {
	// CallID is the call record the transfer belongs to.
	CallID string
	// FromAgent transferred the call.
	FromAgent string
	// Target is what the agent asked for: an agent, a team or the pool.
	Target string
	Kind   TransferKind
	// ToAgent took the call; empty when the transfer failed.
	ToAgent string
	// Completed reports whether ToAgent took the call.
	Completed bool
	// Detail says why a transfer failed, or anything worth keeping.
	Detail      string
	RequestedAt time.Time
	EndedAt     time.Time
}

func transferStmt(t Transfer) (callStmt, error) {
	if t.CallID == "" || t.FromAgent == "" || t.Target == "" || t.RequestedAt.IsZero() || t.EndedAt.IsZero() ||
		(t.Kind != TransferBlind && t.Kind != TransferAttended) || (t.Completed && t.ToAgent == "") {
		return callStmt{}, fmt.Errorf("record transfer of call %q: %w", t.CallID, ErrInvalid)
	}
	outcome := "failed"
	if t.Completed {
		outcome = "completed"
	}
	return callStmt{what: "record transfer of call " + t.CallID, sql: `insert into call_transfers
	(call_id, from_agent, target, kind, to_agent, outcome, detail, requested_at, ended_at)
	values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		args: []any{t.CallID, t.FromAgent, t.Target, string(t.Kind), nullable(t.ToAgent), outcome,
			nullable(t.Detail), t.RequestedAt, t.EndedAt}}, nil
}

// RecordTransfer stores one transfer of a call.
func (s *Store) RecordTransfer(ctx context.Context, t Transfer) error {
	st, err := transferStmt(t)
	if err != nil {
		return err
	}
	return s.exec(ctx, st)
}

// Transfers returns the transfers of a call, oldest first.
func (s *Store) Transfers(ctx context.Context, callID string) ([]Transfer, error) {
	rows, err := s.pool.Query(ctx, `select call_id::text, from_agent, target, kind, coalesce(to_agent, ''),
		outcome = 'completed', coalesce(detail, ''), requested_at, ended_at
		from call_transfers where call_id = $1 order by id`, callID)
	if err != nil {
		return nil, fmt.Errorf("transfers of call %s: %w", callID, err)
	}
	defer rows.Close()
	var out []Transfer
	for rows.Next() {
		var t Transfer
		var kind string
		if err := rows.Scan(&t.CallID, &t.FromAgent, &t.Target, &kind, &t.ToAgent, &t.Completed, &t.Detail,
			&t.RequestedAt, &t.EndedAt); err != nil {
			return nil, fmt.Errorf("transfers of call %s: %w", callID, err)
		}
		t.Kind = TransferKind(kind)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("transfers of call %s: %w", callID, err)
	}
	return out, nil
}
