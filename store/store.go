package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
)

// ErrNotFound is returned when a looked-up or updated row does not exist.
var ErrNotFound = errors.New("not found")

// pingTimeout bounds the connection check in Open when ctx has no sooner
// deadline.
const pingTimeout = 10 * time.Second

// applicationName is what pg_stat_activity shows for Teamline's connections.
const applicationName = "teamline"

// Store is Teamline's PostgreSQL database: a connection pool and the queries
// that use it. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	log  zerolog.Logger
}

// Open connects to the database at url (a postgres:// URL or a keyword/value
// connection string, as pgx accepts) and checks that it answers. It does not
// migrate: call Migrate. The URL is never logged, as it may hold a password.
func Open(ctx context.Context, url string, log zerolog.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors redact the password.
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create database pool: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %q on %s: %w", cfg.ConnConfig.Database, cfg.ConnConfig.Host, err)
	}
	log = log.With().Str("component", "store").Logger()
	log.Debug().Str("database", cfg.ConnConfig.Database).Str("host", cfg.ConnConfig.Host).Msg("connected to database")
	return &Store{pool: pool, log: log}, nil
}

// Close closes all connections. It waits for queries in progress to finish.
func (s *Store) Close() {
	s.pool.Close()
}

// Pool returns the connection pool, for packages that run their own queries
// on Teamline's schema.
func (s *Store) Pool() *pgxpool.Pool {
	return s.pool
}
