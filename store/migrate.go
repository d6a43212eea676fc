package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockKey is the pg_advisory_xact_lock key that serialises Migrate
// across processes sharing one database ("teamline" in ASCII).
const migrationLockKey int64 = 0x7465616d6c696e65

// migration is one embedded file migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

var (
	loadOnce      sync.Once
	loadedMigs    []migration
	errMigrations error
)

// migrations returns the embedded migrations in version order, parsed once.
func migrations() ([]migration, error) {
	loadOnce.Do(func() {
		loadedMigs, errMigrations = parseMigrations(migrationFiles, "migrations")
	})
	return loadedMigs, errMigrations
}

// parseMigrations reads dir of fsys: every file must be named NNNN_name.sql
// with a positive, unique version.
func parseMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		base := strings.TrimSuffix(e.Name(), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || name == "" {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql with NNNN > 0", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration files %s and %s: same version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	return ms, nil
}

// MigrationVersions returns the versions of the migrations built into this
// binary, in the order Migrate applies them.
func MigrationVersions() []int {
	ms, err := migrations()
	if err != nil {
		return nil
	}
	vs := make([]int, len(ms))
	for i, m := range ms {
		vs[i] = m.version
	}
	return vs
}

// Migrate applies the pending migrations in version order, each in its own
// transaction, and records each in teamline_schema_migrations. Several
// processes may call it at once: a transaction-scoped advisory lock lets one
// apply a migration while the others wait, and then see it applied.
// Versions in the database that this binary does not know (a newer binary
// migrated it) are logged and left alone.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	for {
		done, err := s.migrateNext(ctx, ms)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// migrateNext applies the first pending migration in one transaction. It
// reports done when none was pending.
func (s *Store) migrateNext(ctx context.Context, ms []migration) (done bool, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			// The transaction is aborted or its connection is gone: the
			// rollback error adds nothing.
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, "select pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
		return false, fmt.Errorf("migrate: take lock: %w", err)
	}
	// Created under the lock, so that concurrent creators cannot collide.
	if _, err := tx.Exec(ctx, `create table if not exists teamline_schema_migrations (
	version    int primary key,
	name       text not null,
	applied_at timestamptz not null default now()
)`); err != nil {
		return false, fmt.Errorf("migrate: create teamline_schema_migrations: %w", err)
	}
	rows, err := tx.Query(ctx, "select version from teamline_schema_migrations")
	if err != nil {
		return false, fmt.Errorf("migrate: read applied versions: %w", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return false, fmt.Errorf("migrate: read applied versions: %w", err)
	}
	var next *migration
	for i := range ms {
		if !slices.Contains(applied, ms[i].version) {
			next = &ms[i]
			break
		}
	}
	if next == nil {
		if err := tx.Commit(ctx); err != nil {
			return false, fmt.Errorf("migrate: commit: %w", err)
		}
		s.logUnknownVersions(applied, ms)
		return true, nil
	}
	log := s.log.With().Int("version", next.version).Str("migration", next.name).Logger()
	// No arguments: pgx sends it with the simple protocol, which runs
	// several statements.
	if _, err := tx.Exec(ctx, next.sql); err != nil {
		return false, fmt.Errorf("migrate: apply %04d_%s: %w", next.version, next.name, err)
	}
	if _, err := tx.Exec(ctx,
		"insert into teamline_schema_migrations (version, name, applied_at) values ($1, $2, now())",
		next.version, next.name); err != nil {
		return false, fmt.Errorf("migrate: record %04d_%s: %w", next.version, next.name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("migrate: commit %04d_%s: %w", next.version, next.name, err)
	}
	log.Info().Msg("applied database migration")
	return false, nil
}

func (s *Store) logUnknownVersions(applied []int, ms []migration) {
	for _, v := range applied {
		if !slices.ContainsFunc(ms, func(m migration) bool { return m.version == v }) {
			s.log.Warn().Int("version", v).Msg("database has a migration this binary does not know; a newer Teamline migrated it")
		}
	}
}
