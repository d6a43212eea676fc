package callback

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/rs/zerolog"

	"github.com/teamline/teamline/internal/logging"
)

// Defaults for Config and DialPolicy.
const (
	// DefaultHorizon is how far ahead booking searches for a slot.
	DefaultHorizon = 14 * 24 * time.Hour
	// DefaultWorkers is how many callbacks one process dials at once.
	DefaultWorkers = 10
	// DefaultMaxAttempts is how many attempts a callback gets.
	DefaultMaxAttempts = 3
	// DefaultRetryDelay is the wait after a busy, unanswered or failed
	// attempt.
	DefaultRetryDelay = 10 * time.Minute
	// DefaultNoAgentRetry is the wait when no agent was free.
	DefaultNoAgentRetry = 30 * time.Second
	// DefaultOverflowAfter is how long after a callback fell due the Dialer
	// is told to overflow to the national pool when the team has nobody free.
	DefaultOverflowAfter = 5 * time.Minute
	// DefaultAttemptTimeout bounds one call of Dialer.Dial.
	DefaultAttemptTimeout = 3 * time.Minute
)

// QueueName is the River queue the dial jobs go to.
const QueueName = "teamline_callbacks"

// riverLockKey is the pg_advisory_lock key that serialises River's migrations
// across processes ("tlriver" in ASCII).
const riverLockKey int64 = 0x746c7269766572

// Config configures a Service.
type Config struct {
	// Hours tells when each team is open. Required.
	Hours Hours
	// Teams returns a team's callback configuration; ok is false for a team
	// that takes no callbacks. Required.
	Teams func(teamID string) (TeamSlots, bool)
	// Dialer places callback calls. Nil makes the Service insert-only: it
	// books and inserts jobs, but Start dials nothing (an API-only process).
	Dialer Dialer
	// Dial is the retry policy of the dialer.
	Dial DialPolicy
	// Horizon is how far ahead booking searches; zero means DefaultHorizon.
	Horizon time.Duration
	// Workers is how many callbacks this process dials at once; zero means
	// DefaultWorkers.
	Workers int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// fastPoll makes River poll often (tests).
	fastPoll bool
}

// DialPolicy says how often and when a callback is retried. Zero fields take
// the defaults.
type DialPolicy struct {
	// MaxAttempts is how many counted attempts a callback gets before it
	// fails; zero means DefaultMaxAttempts.
	MaxAttempts int
	// RetryDelay is the wait after a busy, unanswered, failed or interrupted
	// attempt; a retry that would fall outside the team's hours moves to its
	// next opening. Zero means DefaultRetryDelay.
	RetryDelay time.Duration
	// NoAgentRetry is the wait when no agent was free (not counted); zero
	// means DefaultNoAgentRetry.
	NoAgentRetry time.Duration
	// OverflowAfter is how long after the callback fell due DialRequest.Overflow
	// becomes true; zero means DefaultOverflowAfter.
	OverflowAfter time.Duration
	// AttemptTimeout bounds one Dialer.Dial; zero means DefaultAttemptTimeout.
	// A job still running this long after River's timeout plus a minute is
	// rescued by River (see the package documentation on recovery).
	AttemptTimeout time.Duration
}

func (p DialPolicy) withDefaults() DialPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.RetryDelay <= 0 {
		p.RetryDelay = DefaultRetryDelay
	}
	if p.NoAgentRetry <= 0 {
		p.NoAgentRetry = DefaultNoAgentRetry
	}
	if p.OverflowAfter <= 0 {
		p.OverflowAfter = DefaultOverflowAfter
	}
	if p.AttemptTimeout <= 0 {
		p.AttemptTimeout = DefaultAttemptTimeout
	}
	return p
}

// Service books callbacks into slots and dials them when they fall due. It is
// safe for concurrent use; several processes may share one database.
type Service struct {
	pool    *pgxpool.Pool
	cfg     Config
	policy  DialPolicy
	now     func() time.Time
	log     zerolog.Logger
	river   *river.Client[pgx.Tx]
	working bool
}

// New returns a Service on pool, whose database must be migrated by
// store.Migrate and Migrate. It does not dial until Start.
func New(pool *pgxpool.Pool, cfg Config, log zerolog.Logger) (*Service, error) {
	if pool == nil || cfg.Hours == nil || cfg.Teams == nil {
		return nil, errors.New("new callback service: pool, hours and teams are required")
	}
	if cfg.Horizon <= 0 {
		cfg.Horizon = DefaultHorizon
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	s := &Service{
		pool:   pool,
		cfg:    cfg,
		policy: cfg.Dial.withDefaults(),
		now:    cfg.Now,
		log:    log.With().Str("component", "callback").Logger(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &dialWorker{s: s}); err != nil {
		return nil, fmt.Errorf("new callback service: register worker: %w", err)
	}
	jobTimeout := s.policy.AttemptTimeout + 30*time.Second
	rc := &river.Config{
		Logger:               logging.Slog(s.log.With().Str("component", "river").Logger()),
		Workers:              workers,
		JobTimeout:           jobTimeout,
		RescueStuckJobsAfter: jobTimeout + time.Minute,
		// A dial job retries only when the database failed it; dial
		// outcomes are retried by new jobs, see dialWorker.
		MaxAttempts: 25,
	}
	if cfg.Dialer != nil {
		s.working = true
		rc.Queues = map[string]river.QueueConfig{QueueName: {MaxWorkers: cfg.Workers}}
	}
	if cfg.fastPoll {
		rc.FetchCooldown = 5 * time.Millisecond
		rc.FetchPollInterval = 20 * time.Millisecond
		rc.TestOnly = true
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("new callback service: river client: %w", err)
	}
	s.river = client
	return s, nil
}

// Start starts dialing due callbacks in the background, until ctx ends or Stop
// is called. Without a Dialer it does nothing.
func (s *Service) Start(ctx context.Context) error {
	if !s.working {
		return nil
	}
	if err := s.river.Start(ctx); err != nil {
		return fmt.Errorf("start callback dialer: %w", err)
	}
	return nil
}

// Stop stops fetching new jobs and waits for attempts in progress to finish,
// until ctx ends; then their contexts are cancelled (an attempt cut short
// that way is recorded as failed and retried).
func (s *Service) Stop(ctx context.Context) error {
	if !s.working {
		return nil
	}
	err := s.river.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		// The soft stop ran out of time: cancel the attempts.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err = s.river.StopAndCancel(cctx)
	}
	if err != nil {
		return fmt.Errorf("stop callback dialer: %w", err)
	}
	return nil
}

// Migrate creates or upgrades River's tables (the dialer's job queue) in the
// database of pool. Call it after store.Migrate, from every process: a
// session advisory lock lets one process migrate while the others wait.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log zerolog.Logger) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate river: acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", riverLockKey); err != nil {
		return fmt.Errorf("migrate river: take lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "select pg_advisory_unlock($1)", riverLockKey); err != nil {
			// The lock dies with the session: drop the connection.
			_ = conn.Conn().Close(uctx)
		}
	}()
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{
		Logger: logging.Slog(log.With().Str("component", "river").Logger()),
	})
	if err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	for _, v := range res.Versions {
		log.Info().Int("version", v.Version).Str("migration", v.Name).Msg("applied river migration")
	}
	return nil
}
