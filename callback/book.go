package callback

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// maxNextFree is how many free slots a FullError lists.
const maxNextFree = 3

// maxTxRetries bounds the retries of a transaction that PostgreSQL aborted
// for a deadlock (two reschedules swapping slots).
const maxTxRetries = 3

// Request asks for a callback.
type Request struct {
	// TeamID is the team that calls back. Required.
	TeamID string
	// CustomerID is the customer, if known.
	CustomerID string
	// Number is the customer's number in E.164. Required.
	Number string
	// Reason is what the customer wants; optional.
	Reason string
	// RequestedAt is when the customer first asked; zero means now.
	RequestedAt time.Time
	// Wish says when.
	Wish
}

// Wish says when a callback should be: in one given slot (Slot), in the
// earliest slot with room inside a window (After, Before), or, when all are
// zero, in the earliest slot with room at all. A slot must always start at
// least the team's lead time from now.
type Wish struct {
	// Slot is the start of the one slot wanted.
	Slot time.Time
	// After: the slot must start at or after it (zero: no bound).
	After time.Time
	// Before: the slot must start before it (zero: the search horizon).
	Before time.Time
}

// ASAP reports whether w asks for the earliest slot with room.
func (w Wish) ASAP() bool {
	return w.Slot.IsZero() && w.After.IsZero() && w.Before.IsZero()
}

func (w Wish) validate() error {
	if !w.Slot.IsZero() && (!w.After.IsZero() || !w.Before.IsZero()) {
		return fmt.Errorf("%w: a slot and a window at once", ErrInvalid)
	}
	if !w.After.IsZero() && !w.Before.IsZero() && !w.After.Before(w.Before) {
		return fmt.Errorf("%w: window ends before it starts", ErrInvalid)
	}
	return nil
}

// team returns the callback configuration of teamID with defaults filled in.
func (s *Service) team(teamID string) (TeamSlots, error) {
	t, ok := s.cfg.Teams(teamID)
	if !ok || t.Capacity <= 0 {
		return TeamSlots{}, fmt.Errorf("team %q: %w", teamID, ErrUnknownTeam)
	}
	t.TeamID = teamID
	return t.withDefaults(), nil
}

// Slots returns the slots of a team that start in [from, to), with how full
// each is.
func (s *Service) Slots(ctx context.Context, teamID string, from, to time.Time) ([]Slot, error) {
	t, err := s.team(teamID)
	if err != nil {
		return nil, err
	}
	ranges := slotsBetween(s.cfg.Hours, t, from, to)
	if len(ranges) == 0 {
		return []Slot{}, nil
	}
	booked, err := bookedCounts(ctx, s.pool, teamID, ranges)
	if err != nil {
		return nil, fmt.Errorf("list slots of team %s: %w", teamID, err)
	}
	out := make([]Slot, len(ranges))
	for i, r := range ranges {
		out[i] = Slot{Start: r.Start, End: r.End, Capacity: t.Capacity, Booked: booked[r.Start.UnixMicro()]}
	}
	return out, nil
}

// querier is what bookedCounts needs of a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// bookedCounts returns the places taken in the slots from the first range's
// start to the last's, keyed by start in Unix microseconds.
func bookedCounts(ctx context.Context, q querier, teamID string, ranges []TimeRange) (map[int64]int, error) {
	rows, err := q.Query(ctx, `select starts_at, booked from callback_slots
	where team_id = $1 and starts_at >= $2 and starts_at <= $3`,
		teamID, ranges[0].Start, ranges[len(ranges)-1].Start)
	if err != nil {
		return nil, err
	}
	out := map[int64]int{}
	var start time.Time
	var n int
	_, err = pgx.ForEachRow(rows, []any{&start, &n}, func() error {
		out[start.UnixMicro()] = n
		return nil
	})
	return out, err
}

// BookEarliest books r into the earliest slot with room that starts at least
// the team's lead time from now, ignoring r.Wish.
func (s *Service) BookEarliest(ctx context.Context, r Request) (Callback, error) {
	r.Wish = Wish{}
	return s.Book(ctx, r)
}

// Book books a callback as r asks and, in the same transaction, the job that
// dials it at the slot's start. It returns a *FullError (ErrFull) when no
// place is free, an *AlreadyBookedError when the number already has an open
// callback, ErrNoSuchSlot for a slot the team does not have, ErrUnknownTeam
// and ErrInvalid.
func (s *Service) Book(ctx context.Context, r Request) (Callback, error) {
	if r.Number == "" {
		return Callback{}, fmt.Errorf("book callback: number is required: %w", ErrInvalid)
	}
	if err := r.validate(); err != nil {
		return Callback{}, fmt.Errorf("book callback for %s: %w", r.Number, err)
	}
	t, err := s.team(r.TeamID)
	if err != nil {
		return Callback{}, fmt.Errorf("book callback for %s: %w", r.Number, err)
	}
	now := s.now()
	if r.RequestedAt.IsZero() {
		r.RequestedAt = now
	}
	c := Callback{
		ID:          newUUID(),
		TeamID:      r.TeamID,
		CustomerID:  r.CustomerID,
		Number:      r.Number,
		Reason:      r.Reason,
		State:       StateBooked,
		RequestedAt: r.RequestedAt,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		slot, err := s.takePlace(ctx, tx, t, r.Wish, now)
		if err != nil {
			return err
		}
		c.SlotStart, c.SlotEnd, c.DueAt = slot.Start, slot.End, slot.Start
		if c.jobID, err = s.insertJob(ctx, tx, c.ID, c.TeamID, c.DueAt); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `insert into callbacks
	(id, team_id, customer_id, number, reason, state, slot_start, slot_end, requested_at, due_at,
	 job_id, created_at, updated_at)
	values ($1, $2, $3, $4, $5, 'booked', $6, $7, $8, $9, $10, $11, $11)`,
			c.ID, c.TeamID, nullable(c.CustomerID), c.Number, nullable(c.Reason), c.SlotStart, c.SlotEnd,
			c.RequestedAt, c.DueAt, c.jobID, now)
		return err
	})
	if isUniqueViolation(err, "callbacks_open_number_idx") {
		existing, lerr := s.OpenCallback(ctx, r.Number)
		if lerr != nil {
			return Callback{}, fmt.Errorf("book callback for %s: %w (and look it up: %w)", r.Number, ErrAlreadyBooked, lerr)
		}
		return Callback{}, fmt.Errorf("book callback for %s: %w", r.Number, &AlreadyBookedError{Existing: existing})
	}
	if err != nil {
		return Callback{}, fmt.Errorf("book callback for %s: %w", r.Number, s.withNextFree(ctx, t, r.Wish, now, err))
	}
	s.log.Info().Str("callback", c.ID).Str("team", c.TeamID).Time("slot", c.SlotStart).Msg("callback booked")
	return c, nil
}

// withNextFree fills in the next free slots of a *FullError.
func (s *Service) withNextFree(ctx context.Context, t TeamSlots, w Wish, now time.Time, err error) error {
	var full *FullError
	if !errors.As(err, &full) {
		return err
	}
	after := now.Add(t.LeadTime)
	switch {
	case !w.Slot.IsZero() && w.Slot.After(after):
		after = w.Slot
	case !w.Before.IsZero() && w.Before.After(after):
		after = w.Before
	}
	next, nerr := s.nextFree(ctx, t, after, now.Add(s.cfg.Horizon))
	if nerr != nil {
		s.log.Warn().Err(nerr).Str("team", t.TeamID).Msg("cannot list the next free slots")
	}
	full.Next = next
	return full
}

// nextFree lists up to maxNextFree slots with room that start in [from, to).
func (s *Service) nextFree(ctx context.Context, t TeamSlots, from, to time.Time) ([]Slot, error) {
	var out []Slot
	var err error
	forEachDay(t, from, to, func(day time.Time) bool {
		var ranges []TimeRange
		for _, r := range daySlots(s.cfg.Hours, t, day) {
			if !r.Start.Before(from) && r.Start.Before(to) {
				ranges = append(ranges, r)
			}
		}
		if len(ranges) == 0 {
			return true
		}
		var booked map[int64]int
		if booked, err = bookedCounts(ctx, s.pool, t.TeamID, ranges); err != nil {
			return false
		}
		for _, r := range ranges {
			sl := Slot{Start: r.Start, End: r.End, Capacity: t.Capacity, Booked: booked[r.Start.UnixMicro()]}
			if sl.Free() > 0 {
				out = append(out, sl)
				if len(out) == maxNextFree {
					return false
				}
			}
		}
		return true
	})
	return out, err
}

// takePlace takes one place in the first slot with room that w allows, in tx,
// and returns the slot. The place is held by tx: it is given back if tx
// rolls back.
func (s *Service) takePlace(ctx context.Context, tx pgx.Tx, t TeamSlots, w Wish, now time.Time) (TimeRange, error) {
	earliest := now.Add(t.LeadTime)
	if !w.Slot.IsZero() {
		slot, ok := slotAt(s.cfg.Hours, t, w.Slot)
		if !ok {
			return TimeRange{}, fmt.Errorf("%w: team %s has no slot at %s", ErrNoSuchSlot, t.TeamID, w.Slot.Format(time.RFC3339))
		}
		if slot.Start.Before(earliest) {
			return TimeRange{}, fmt.Errorf("%w: the slot at %s starts sooner than %s from now",
				ErrNoSuchSlot, w.Slot.Format(time.RFC3339), t.LeadTime)
		}
		ok, err := tryPlace(ctx, tx, t, slot)
		if err != nil {
			return TimeRange{}, err
		}
		if !ok {
			return TimeRange{}, &FullError{TeamID: t.TeamID}
		}
		return slot, nil
	}
	from, to := earliest, now.Add(s.cfg.Horizon)
	if w.After.After(from) {
		from = w.After
	}
	if !w.Before.IsZero() && w.Before.Before(to) {
		to = w.Before
	}
	var got TimeRange
	var found bool
	var err error
	forEachDay(t, from, to, func(day time.Time) bool {
		var ranges []TimeRange
		for _, r := range daySlots(s.cfg.Hours, t, day) {
			if !r.Start.Before(from) && r.Start.Before(to) {
				ranges = append(ranges, r)
			}
		}
		if len(ranges) == 0 {
			return true
		}
		var booked map[int64]int
		if booked, err = bookedCounts(ctx, tx, t.TeamID, ranges); err != nil {
			return false
		}
		for _, r := range ranges {
			if booked[r.Start.UnixMicro()] >= t.Capacity {
				continue
			}
			var ok bool
			if ok, err = tryPlace(ctx, tx, t, r); err != nil || ok {
				got, found = r, ok
				return false
			}
		}
		return true
	})
	if err != nil {
		return TimeRange{}, err
	}
	if !found {
		return TimeRange{}, &FullError{TeamID: t.TeamID}
	}
	return got, nil
}

// tryPlace takes a place in slot if one is free. The conditional UPDATE is
// what keeps a slot from being overbooked: concurrent bookers queue on the
// slot's row lock, and each re-checks booked < capacity on the row as the
// previous one committed it (READ COMMITTED re-evaluates the WHERE clause on
// the newest row version). A slot that is full is not left locked, unlike
// INSERT ... ON CONFLICT DO UPDATE ... WHERE, which locks the row even when
// its condition fails.
func tryPlace(ctx context.Context, tx pgx.Tx, t TeamSlots, slot TimeRange) (bool, error) {
	b := &pgx.Batch{}
	b.Queue(`insert into callback_slots (team_id, starts_at, ends_at, capacity, booked)
	values ($1, $2, $3, $4, 0) on conflict (team_id, starts_at) do nothing`,
		t.TeamID, slot.Start, slot.End, t.Capacity)
	b.Queue(`update callback_slots set booked = booked + 1, capacity = $3
	where team_id = $1 and starts_at = $2 and booked < $3`,
		t.TeamID, slot.Start, t.Capacity)
	res := tx.SendBatch(ctx, b)
	if _, err := res.Exec(); err != nil {
		_ = res.Close()
		return false, fmt.Errorf("create slot %s: %w", slot.Start.Format(time.RFC3339), err)
	}
	tag, err := res.Exec()
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("take a place in slot %s: %w", slot.Start.Format(time.RFC3339), err)
	}
	return tag.RowsAffected() == 1, nil
}

// freePlace gives back the place a callback held in its slot.
func freePlace(ctx context.Context, tx pgx.Tx, c Callback) error {
	_, err := tx.Exec(ctx, `update callback_slots set booked = booked - 1
	where team_id = $1 and starts_at = $2 and booked > 0`, c.TeamID, c.SlotStart)
	if err != nil {
		return fmt.Errorf("free place in slot %s: %w", c.SlotStart.Format(time.RFC3339), err)
	}
	return nil
}

// Reschedule moves a booked callback to another slot as w asks, keeping its
// requested_at (and so its place in the dialing order). It returns ErrState
// unless the callback is booked, and the errors of Book.
func (s *Service) Reschedule(ctx context.Context, id string, w Wish) (Callback, error) {
	if err := w.validate(); err != nil {
		return Callback{}, fmt.Errorf("reschedule callback %s: %w", id, err)
	}
	var c Callback
	var t TeamSlots
	now := s.now()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if c, err = lockCallback(ctx, tx, id); err != nil {
			return err
		}
		if c.State != StateBooked {
			return fmt.Errorf("%w: it is %s", ErrState, c.State)
		}
		if t, err = s.team(c.TeamID); err != nil {
			return err
		}
		// The old place first: moving within a full slot to the same slot
		// must work.
		if err := freePlace(ctx, tx, c); err != nil {
			return err
		}
		slot, err := s.takePlace(ctx, tx, t, w, now)
		if err != nil {
			return err
		}
		if err := s.cancelJob(ctx, tx, c.jobID); err != nil {
			return err
		}
		c.SlotStart, c.SlotEnd, c.DueAt, c.UpdatedAt = slot.Start, slot.End, slot.Start, now
		if c.jobID, err = s.insertJob(ctx, tx, c.ID, c.TeamID, c.DueAt); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `update callbacks set slot_start = $2, slot_end = $3, due_at = $4,
	job_id = $5, updated_at = $6 where id = $1`,
			c.ID, c.SlotStart, c.SlotEnd, c.DueAt, c.jobID, now)
		return err
	})
	if err != nil {
		return Callback{}, fmt.Errorf("reschedule callback %s: %w", id, s.withNextFree(ctx, t, w, now, err))
	}
	s.log.Info().Str("callback", c.ID).Str("team", c.TeamID).Time("slot", c.SlotStart).Msg("callback rescheduled")
	return c, nil
}

// Cancel cancels a booked callback and frees its place. Cancelling a
// cancelled callback again returns it unchanged; any other state than booked
// gives ErrState.
func (s *Service) Cancel(ctx context.Context, id string) (Callback, error) {
	c, err := s.finish(ctx, id, StateCancelled)
	if err != nil {
		return Callback{}, fmt.Errorf("cancel callback %s: %w", id, err)
	}
	return c, nil
}

// MarkDone completes a booked callback without dialing it: the customer
// called in and an agent answered. It keeps its place in the slot. Marking a
// completed callback again returns it unchanged; a callback being dialed
// gives ErrState (the dialer finishes it).
func (s *Service) MarkDone(ctx context.Context, id string) (Callback, error) {
	c, err := s.finish(ctx, id, StateCompleted)
	if err != nil {
		return Callback{}, fmt.Errorf("mark callback %s done: %w", id, err)
	}
	return c, nil
}

// finish moves a booked callback to state to (cancelled or completed) and
// withdraws its job.
func (s *Service) finish(ctx context.Context, id string, to State) (Callback, error) {
	var c Callback
	var changed bool
	now := s.now()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if c, err = lockCallback(ctx, tx, id); err != nil {
			return err
		}
		if c.State == to {
			return nil
		}
		if c.State != StateBooked {
			return fmt.Errorf("%w: it is %s", ErrState, c.State)
		}
		if to == StateCancelled {
			if err := freePlace(ctx, tx, c); err != nil {
				return err
			}
		}
		if err := s.cancelJob(ctx, tx, c.jobID); err != nil {
			return err
		}
		c.State, c.UpdatedAt, c.jobID = to, now, 0
		changed = true
		_, err = tx.Exec(ctx, `update callbacks set state = $2, job_id = null, updated_at = $3 where id = $1`,
			c.ID, string(c.State), now)
		return err
	})
	if err != nil {
		return Callback{}, err
	}
	if changed {
		s.log.Info().Str("callback", c.ID).Str("team", c.TeamID).Str("state", string(to)).Msg("callback finished")
	}
	return c, nil
}

// insertJob inserts, in tx, the job for callback id of team teamID, due at
// at. River schedules by the database's clock; a time not in the future is
// inserted as available at once (River would otherwise leave it "scheduled"
// until its scheduler's next run).
func (s *Service) insertJob(ctx context.Context, tx pgx.Tx, id, teamID string, at time.Time) (int64, error) {
	opts := &river.InsertOpts{}
	if at.After(time.Now()) {
		opts.ScheduledAt = at
	}
	res, err := s.river.InsertTx(ctx, tx, DialCallbackArgs{CallbackID: id, TeamID: teamID}, opts)
	if err != nil {
		return 0, fmt.Errorf("insert dial job: %w", err)
	}
	return res.Job.ID, nil
}

// cancelJob cancels, in tx, the job inserted for a callback's old due time
// (it was rescheduled, cancelled or done). A job that already ran is left
// alone. Removing one waiting job together with one callback keeps every
// due callback served (see the package documentation).
func (s *Service) cancelJob(ctx context.Context, tx pgx.Tx, jobID int64) error {
	if jobID == 0 {
		return nil
	}
	if _, err := s.river.JobCancelTx(ctx, tx, jobID); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
		return fmt.Errorf("cancel dial job %d: %w", jobID, err)
	}
	return nil
}

// inTx runs f in a transaction and commits it, retrying the whole
// transaction when PostgreSQL aborted it for a deadlock.
func (s *Service) inTx(ctx context.Context, f func(tx pgx.Tx) error) error {
	for i := 0; ; i++ {
		err := pgx.BeginFunc(ctx, s.pool, f)
		if isRetryable(err) && i < maxTxRetries {
			continue
		}
		return err
	}
}

// Postgres error codes (SQLSTATE) this package tells apart.
const (
	sqlstateUniqueViolation = "23505"
	sqlstateInvalidText     = "22P02"
	sqlstateDeadlock        = "40P01"
	sqlstateSerialization   = "40001"
)

func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == sqlstateUniqueViolation && pgErr.ConstraintName == constraint
}

func isInvalidText(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == sqlstateInvalidText
}

func isRetryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == sqlstateDeadlock || pgErr.Code == sqlstateSerialization)
}

// nullable maps "" to SQL NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// newUUID returns a random (version 4) UUID in its canonical text form.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
