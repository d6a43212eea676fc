package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/teamline/teamline/internal/pgtest"
	"github.com/teamline/teamline/store"
)

// appliedVersions reads teamline_schema_migrations.
func appliedVersions(t *testing.T, s *store.Store) []int {
	t.Helper()
	rows, err := s.Pool().Query(context.Background(), "select version from teamline_schema_migrations order by version")
	if err != nil {
		t.Fatalf("read applied migrations: %v", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatalf("read applied migrations: %v", err)
	}
	return vs
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t) // migrated once
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if got, want := appliedVersions(t, s), store.MigrationVersions(); !slices.Equal(got, want) {
		t.Errorf("applied versions = %v, want %v", got, want)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 2
	stores := make([]*store.Store, n)
	for i := range stores {
		s, err := store.Open(ctx, url, zerolog.New(zerolog.NewTestWriter(t)))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(s.Close)
		stores[i] = s
	}
	errs := make(chan error, n)
	for _, s := range stores {
		go func() { errs <- s.Migrate(ctx) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
	if got, want := appliedVersions(t, stores[0]), store.MigrationVersions(); !slices.Equal(got, want) {
		t.Errorf("applied versions = %v, want %v", got, want)
	}
	// The schema is there and usable.
	if _, err := stores[1].RecentCalls(ctx, "c1", 1); err != nil {
		t.Errorf("query after concurrent Migrate: %v", err)
	}
}

func TestMigrationVersions(t *testing.T) {
	t.Parallel()
	vs := store.MigrationVersions()
	if len(vs) == 0 || vs[0] != 1 || !slices.IsSorted(vs) {
		t.Errorf("MigrationVersions() = %v, want ascending from 1", vs)
	}
}

func TestOpenFails(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, url string }{
		{"not a url", "postgres://%zz"},
		// A socket directory that does not exist: refused at once.
		{"no server", "postgres://teamline@/teamline?host=" + t.TempDir() + "&port=5433&connect_timeout=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := store.Open(ctx, tt.url, zerolog.Nop())
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
		})
	}
}
