package callback

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/rs/zerolog"
)

// recordTries and recordBackoff bound the retries of writing an attempt's
// result: the customer was called, so giving up would turn a known outcome
// into an interrupted attempt.
const (
	recordTries   = 5
	recordBackoff = 500 * time.Millisecond
	recordTimeout = 30 * time.Second
)

// Dialer places one callback call: it finds an agent of the customer's team
// (or, when Overflow is set, of the national pool), rings the agent first and,
// once the agent answered, calls the customer and bridges the two. The SIP
// side of Teamline implements it.
type Dialer interface {
	// Dial makes one attempt and returns once its outcome is known: when the
	// customer answered and the call is bridged (the call then goes on
	// without the dialer), or when the attempt failed. It must honour ctx,
	// which ends after DialPolicy.AttemptTimeout or on shutdown. An error is
	// recorded as OutcomeFailed and retried like one.
	Dial(ctx context.Context, req DialRequest) (AttemptResult, error)
}

// DialRequest is one attempt the Dialer is asked to make.
type DialRequest struct {
	// Callback is the callback, in state dialing.
	Callback Callback
	// AttemptID identifies the attempt (for X-Teamline-* headers and logs).
	AttemptID int64
	// Attempt is the number of this attempt among the counted ones, from 1.
	Attempt int
	// Overflow is set once the callback has been due for
	// DialPolicy.OverflowAfter with nobody free: ring the national pool.
	Overflow bool
}

// AttemptResult is what came of an attempt.
type AttemptResult struct {
	// Outcome is how it ended; OutcomeInterrupted is reserved for recovery.
	Outcome Outcome
	// AgentID is the agent who took (or was to take) the call, if any.
	AgentID string
	// SIPStatus is the final SIP status of the customer leg, or of the
	// agent leg when the customer was not called; 0 if none.
	SIPStatus int
	// Detail explains a failure; optional, never a credential.
	Detail string
}

// DialCallbackArgs are the arguments of the River job inserted for a
// callback's due time. The job dials the oldest due callback of the team,
// which is this callback unless an older one is still waiting: see the
// package documentation.
type DialCallbackArgs struct {
	// CallbackID is the callback the job was inserted for.
	CallbackID string `json:"callback_id"`
	// TeamID is its team.
	TeamID string `json:"team_id"`
}

// Kind names the job kind in river_job.kind.
func (DialCallbackArgs) Kind() string { return "teamline_dial_callback" }

// InsertOpts puts the job on QueueName.
func (DialCallbackArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueName}
}

// dialWorker is the River worker of DialCallbackArgs.
type dialWorker struct {
	river.WorkerDefaults[DialCallbackArgs]
	s *Service
}

// Work makes at most one attempt for the team's oldest due callback.
func (w *dialWorker) Work(ctx context.Context, job *river.Job[DialCallbackArgs]) error {
	return w.s.work(ctx, job.ID, job.Args)
}

// work runs dial job jobID. River runs a job on one worker at a time, even
// across processes; the claim (FOR UPDATE SKIP LOCKED, then booked ->
// dialing) gives each due callback to exactly one job.
func (s *Service) work(ctx context.Context, jobID int64, args DialCallbackArgs) error {
	log := s.log.With().Int64("job", jobID).Str("team", args.TeamID).Logger()
	recovered, err := s.recoverAttempt(ctx, jobID, log)
	if err != nil || recovered {
		return err
	}
	now := s.now()
	c, attemptID, n, ok, err := s.claimNext(ctx, jobID, args.TeamID, now)
	if err != nil {
		return fmt.Errorf("dial job %d: %w", jobID, err)
	}
	if !ok {
		return s.nothingDue(ctx, jobID, args, now, log)
	}
	log = log.With().Str("callback", c.ID).Logger()
	req := DialRequest{Callback: c, AttemptID: attemptID, Attempt: n, Overflow: now.Sub(c.DueAt) >= s.policy.OverflowAfter}
	log.Info().Int64("attempt_id", attemptID).Int("attempt", n).Bool("overflow", req.Overflow).Msg("dialing callback")
	dctx, cancel := context.WithTimeout(ctx, s.policy.AttemptTimeout)
	res, derr := s.cfg.Dialer.Dial(dctx, req)
	cancel()
	switch {
	case derr != nil:
		res.Outcome, res.Detail = OutcomeFailed, derr.Error()
	case !res.Outcome.Valid() || res.Outcome == OutcomeInterrupted:
		res.Detail = fmt.Sprintf("dialer returned outcome %q", res.Outcome)
		res.Outcome = OutcomeFailed
	}
	return s.record(ctx, c, jobID, attemptID, res, log)
}

// nothingDue handles a job that found no due callback: normally the job's
// callback was served by another job, or cancelled. But if the job is still
// its callback's job and the callback is due later (this process's clock is
// behind the database's, which River schedules by), it waits for the due time
// rather than leave the callback without a job.
func (s *Service) nothingDue(ctx context.Context, jobID int64, args DialCallbackArgs, now time.Time, log zerolog.Logger) error {
	var state string
	var due time.Time
	var own int64
	err := s.pool.QueryRow(ctx, "select state, due_at, coalesce(job_id, 0) from callbacks where id = $1",
		args.CallbackID).Scan(&state, &due, &own)
	if err = notFound(err); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return fmt.Errorf("dial job %d: read callback %s: %w", jobID, args.CallbackID, err)
	}
	if State(state) == StateBooked && own == jobID && due.After(now) {
		log.Debug().Time("due", due).Msg("callback not due yet by this clock: waiting")
		return river.JobSnooze(due.Sub(now))
	}
	log.Debug().Str("callback", args.CallbackID).Msg("nothing due: the job's callback was served or withdrawn")
	return nil
}

// claimNext claims the team's oldest due callback (slot, then requested_at)
// for job jobID and records the attempt as started, in one transaction,
// before anybody is called: after a crash the attempt is found open (see
// recoverAttempt). SKIP LOCKED lets concurrent jobs claim the next ones in
// parallel. It returns the callback (in state dialing), the attempt's ID and
// its number among the counted attempts; ok is false when nothing is due.
func (s *Service) claimNext(ctx context.Context, jobID int64, teamID string, now time.Time) (c Callback, attemptID int64, n int, ok bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err = scanCallback(tx.QueryRow(ctx, `with next as (
	select id from callbacks
	where team_id = $1 and state = 'booked' and due_at <= $2
	order by slot_start, requested_at, id
	limit 1 for update skip locked)
	update callbacks set state = 'dialing', updated_at = $2 where id = (select id from next)
	returning `+callbackColumns, teamID, now))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `insert into callback_attempts (callback_id, job_id, started_at, counted)
	values ($1, $2, $3, true) returning id`, c.ID, jobID, now).Scan(&attemptID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "select count(*) from callback_attempts where callback_id = $1 and counted",
			c.ID).Scan(&n); err != nil {
			return err
		}
		ok = true
		return nil
	})
	if err != nil {
		return Callback{}, 0, 0, false, fmt.Errorf("claim: %w", err)
	}
	return c, attemptID, n, ok, nil
}

// record writes the result of an attempt and decides what comes next:
// answered completes the callback; no agent puts it back to booked and
// snoozes the job (not counted); anything else is counted and either retried
// by a new job after RetryDelay or, with no attempts left, fails the callback.
// The write is retried for a while even if ctx ended (shutdown): the call
// happened and its result must not be lost.
func (s *Service) record(ctx context.Context, c Callback, jobID, attemptID int64, res AttemptResult, log zerolog.Logger) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	var next State
	var err error
	for try := 1; ; try++ {
		next, err = s.recordOnce(wctx, c, jobID, attemptID, res)
		if err == nil || try == recordTries || wctx.Err() != nil {
			break
		}
		log.Warn().Err(err).Int("try", try).Msg("cannot record the attempt's result: retrying")
		select {
		case <-wctx.Done():
		case <-time.After(time.Duration(try) * recordBackoff):
		}
	}
	if err != nil {
		// River retries the job, which finds the attempt open: it is closed
		// as interrupted (see recoverAttempt).
		return fmt.Errorf("record attempt %d of callback %s: %w", attemptID, c.ID, err)
	}
	ev := log.Info().Int64("attempt_id", attemptID).Str("outcome", string(res.Outcome)).
		Int("sip_status", res.SIPStatus).Str("state", string(next))
	if res.AgentID != "" {
		ev = ev.Str("agent", res.AgentID)
	}
	ev.Msg("callback attempt ended")
	if res.Outcome == OutcomeNoAgent && next == StateBooked {
		return river.JobSnooze(s.policy.NoAgentRetry)
	}
	return nil
}

// recordOnce is one try of record, in one transaction. It returns the
// callback's new state; empty if the attempt had been closed by recovery
// meanwhile (this run outlived River's rescue), which then decided.
func (s *Service) recordOnce(ctx context.Context, c Callback, jobID, attemptID int64, res AttemptResult) (State, error) {
	now := s.now()
	var next State
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		locked, err := lockCallback(ctx, tx, c.ID)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `update callback_attempts set ended_at = $2, agent_id = $3, sip_status = $4,
	outcome = $5, counted = $6, detail = $7 where id = $1 and ended_at is null`,
			attemptID, now, nullable(res.AgentID), nullInt(res.SIPStatus), string(res.Outcome),
			res.Outcome.counted(), nullable(res.Detail))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 || locked.State != StateDialing {
			return nil
		}
		switch res.Outcome {
		case OutcomeAnswered:
			next = StateCompleted
			_, err = tx.Exec(ctx, "update callbacks set state = 'completed', job_id = null, updated_at = $2 where id = $1",
				c.ID, now)
			return err
		case OutcomeNoAgent:
			// Back in the queue, with this job (about to snooze) as its job.
			next = StateBooked
			_, err = tx.Exec(ctx, "update callbacks set state = 'booked', job_id = $2, updated_at = $3 where id = $1",
				c.ID, jobID, now)
			return err
		}
		next, err = s.retryOrFail(ctx, tx, locked, now)
		return err
	})
	return next, err
}

// retryOrFail follows a counted attempt that did not reach the customer: with
// attempts left, the callback is booked again RetryDelay from now (moved to
// the team's next opening if that falls outside its hours) with a new job;
// otherwise it fails.
func (s *Service) retryOrFail(ctx context.Context, tx pgx.Tx, c Callback, now time.Time) (State, error) {
	var spent int
	if err := tx.QueryRow(ctx, "select count(*) from callback_attempts where callback_id = $1 and counted",
		c.ID).Scan(&spent); err != nil {
		return "", err
	}
	if spent >= s.policy.MaxAttempts {
		_, err := tx.Exec(ctx, "update callbacks set state = 'failed', job_id = null, updated_at = $2 where id = $1",
			c.ID, now)
		return StateFailed, err
	}
	at := now.Add(s.policy.RetryDelay)
	if t, err := s.team(c.TeamID); err == nil {
		at = nextOpen(s.cfg.Hours, t, at, s.cfg.Horizon)
	}
	jobID, err := s.insertJob(ctx, tx, c.ID, c.TeamID, at)
	if err != nil {
		return "", err
	}
	_, err = tx.Exec(ctx, `update callbacks set state = 'booked', due_at = $2, job_id = $3, updated_at = $4
	where id = $1`, c.ID, at, jobID, now)
	return StateBooked, err
}

// recoverAttempt looks for an attempt that job jobID claimed and never
// closed: an earlier run of the same job died during it (River rescued the
// job), or could not record its result. Whether the customer was called is
// unknown, so the attempt is never redone: it is closed as interrupted and
// counted, and the callback is retried after RetryDelay like any unanswered
// attempt, or fails if that was its last. It reports whether it found one;
// the job is then done.
func (s *Service) recoverAttempt(ctx context.Context, jobID int64, log zerolog.Logger) (bool, error) {
	var callbackID string
	err := s.pool.QueryRow(ctx, `select callback_id::text from callback_attempts
	where job_id = $1 and ended_at is null limit 1`, jobID).Scan(&callbackID)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("dial job %d: look for an interrupted attempt: %w", jobID, err)
	}
	now := s.now()
	var next State
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		locked, err := lockCallback(ctx, tx, callbackID)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `update callback_attempts set ended_at = $3, outcome = 'interrupted', counted = true,
	detail = 'the process died during the attempt' where callback_id = $1 and job_id = $2 and ended_at is null`,
			callbackID, jobID, now)
		if err != nil {
			return err
		}
		next = locked.State
		if tag.RowsAffected() == 0 || locked.State != StateDialing {
			return nil
		}
		next, err = s.retryOrFail(ctx, tx, locked, now)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("dial job %d: recover callback %s: %w", jobID, callbackID, err)
	}
	log.Warn().Str("callback", callbackID).Str("state", string(next)).Msg("recovered an interrupted callback attempt")
	return true, nil
}

// nullInt maps 0 to SQL NULL.
func nullInt(n int) any {
	if n == 0 {
		return nil
	}
	return n
}
