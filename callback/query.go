package callback

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultListLimit and MaxListLimit bound List.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// callbackColumns are the columns scanCallback reads, in its order.
const callbackColumns = `id::text, team_id, coalesce(customer_id, ''), number, coalesce(reason, ''), state,
	slot_start, slot_end, requested_at, due_at, created_at, updated_at, coalesce(job_id, 0)`

func scanCallback(row pgx.Row) (Callback, error) {
	var c Callback
	var state string
	err := row.Scan(&c.ID, &c.TeamID, &c.CustomerID, &c.Number, &c.Reason, &state,
		&c.SlotStart, &c.SlotEnd, &c.RequestedAt, &c.DueAt, &c.CreatedAt, &c.UpdatedAt, &c.jobID)
	c.State = State(state)
	return c, err
}

// notFound maps a missing row, or an id that is not a UUID, to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) || isInvalidText(err) {
		return ErrNotFound
	}
	return err
}

// lockCallback reads callback id in tx and locks its row until tx ends.
func lockCallback(ctx context.Context, tx pgx.Tx, id string) (Callback, error) {
	c, err := scanCallback(tx.QueryRow(ctx, "select "+callbackColumns+" from callbacks where id = $1 for update", id))
	return c, notFound(err)
}

// Get returns callback id with its attempts, or ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (Callback, error) {
	c, err := scanCallback(s.pool.QueryRow(ctx, "select "+callbackColumns+" from callbacks where id = $1", id))
	if err != nil {
		return Callback{}, fmt.Errorf("get callback %s: %w", id, notFound(err))
	}
	if c.Attempts, err = s.attempts(ctx, id); err != nil {
		return Callback{}, fmt.Errorf("get callback %s: %w", id, err)
	}
	return c, nil
}

// attempts returns the attempts of callback id, oldest first.
func (s *Service) attempts(ctx context.Context, id string) ([]Attempt, error) {
	rows, err := s.pool.Query(ctx, `select id, started_at, ended_at, coalesce(agent_id, ''),
	coalesce(sip_status, 0), coalesce(outcome, ''), counted, coalesce(detail, '')
	from callback_attempts where callback_id = $1 order by id`, id)
	if err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	out := []Attempt{}
	var a Attempt
	var outcome string
	_, err = pgx.ForEachRow(rows, []any{&a.ID, &a.StartedAt, &a.EndedAt, &a.AgentID, &a.SIPStatus, &outcome, &a.Counted, &a.Detail},
		func() error {
			a.Outcome = Outcome(outcome)
			out = append(out, a)
			a.EndedAt = nil
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	return out, nil
}

// Filter selects callbacks for List. Zero fields select all.
type Filter struct {
	// TeamID selects one team's callbacks.
	TeamID string
	// State selects callbacks in one state.
	State State
	// From and To select callbacks whose slot starts in [From, To).
	From time.Time
	To   time.Time
	// Limit caps the result; zero means DefaultListLimit, at most
	// MaxListLimit.
	Limit int
}

// List returns the callbacks f selects, in dialing order (slot, then when
// the customer asked), without attempts.
func (s *Service) List(ctx context.Context, f Filter) ([]Callback, error) {
	if f.State != "" && !f.State.Valid() {
		return nil, fmt.Errorf("list callbacks: %w: unknown state %q", ErrInvalid, f.State)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	var from, to *time.Time
	if !f.From.IsZero() {
		from = &f.From
	}
	if !f.To.IsZero() {
		to = &f.To
	}
	rows, err := s.pool.Query(ctx, "select "+callbackColumns+` from callbacks
	where ($1 = '' or team_id = $1) and ($2 = '' or state = $2)
	  and ($3::timestamptz is null or slot_start >= $3) and ($4::timestamptz is null or slot_start < $4)
	order by slot_start, requested_at, id limit $5`,
		f.TeamID, string(f.State), from, to, limit)
	if err != nil {
		return nil, fmt.Errorf("list callbacks: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Callback, error) { return scanCallback(r) })
	if err != nil {
		return nil, fmt.Errorf("list callbacks: %w", err)
	}
	return out, nil
}

// OpenCallback returns the open (booked or dialing) callback of number, an
// E.164 number, or ErrNotFound. A caller who calls again is told its time.
func (s *Service) OpenCallback(ctx context.Context, number string) (Callback, error) {
	c, err := scanCallback(s.pool.QueryRow(ctx, "select "+callbackColumns+
		" from callbacks where number = $1 and state in ('booked', 'dialing')", number))
	if err != nil {
		return Callback{}, fmt.Errorf("open callback of %s: %w", number, notFound(err))
	}
	return c, nil
}
