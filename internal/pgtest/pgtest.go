package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	neturl "net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/teamline/teamline/store"
)

// EnvURL names the environment variable with the admin connection URL. When
// it is set, test databases are created on that server.
const EnvURL = "DATABASE_URL"

// adminTimeout bounds creating or dropping one test database.
const adminTimeout = 30 * time.Second

var (
	mainCalled atomic.Bool

	adminOnce    sync.Once
	adminPool    *pgxpool.Pool
	adminURL     string
	adminCluster *Cluster
	errAdmin     error
)

// Main runs the tests of a package and then stops and removes the cluster
// pgtest started, if any. Call it from TestMain.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if adminPool != nil {
		adminPool.Close()
	}
	if adminCluster != nil {
		if err := adminCluster.remove(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// setupAdmin connects to DATABASE_URL, or starts this process's cluster.
func setupAdmin() {
	url := os.Getenv(EnvURL)
	if url == "" {
		if !mainCalled.Load() {
			errAdmin = errors.New("DATABASE_URL is not set and pgtest.Main was not called from TestMain, " +
				"so the throwaway cluster could not be removed: add func TestMain(m *testing.M) { pgtest.Main(m) }")
			return
		}
		adminCluster, errAdmin = startCluster()
		if errAdmin != nil {
			return
		}
		url = adminCluster.URL()
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		errAdmin = fmt.Errorf("parse %s: %w", EnvURL, err)
		return
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		errAdmin = fmt.Errorf("connect to the admin database: %w", err)
		return
	}
	adminPool, adminURL = pool, url
}

// URL returns a connection URL to a new, empty database of the test's own,
// dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	adminOnce.Do(setupAdmin)
	if errAdmin != nil {
		t.Fatalf("pgtest: %v", errAdmin)
	}
	name := "tl_test_" + randomHex(8)
	ident := pgx.Identifier{name}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if _, err := adminPool.Exec(ctx, "create database "+ident); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		// force: a connection the test leaked must not keep it alive.
		if _, err := adminPool.Exec(ctx, "drop database if exists "+ident+" with (force)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := withDatabase(adminURL, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// Store opens a fresh, migrated database of the test's own, closed when the
// test ends. Its logs go to the test's log.
func Store(t testing.TB) *store.Store {
	t.Helper()
	url := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	s, err := store.Open(ctx, url, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s
}

// withDatabase returns the connection string u (a URL or keyword/value
// string) with its database replaced by name.
func withDatabase(u, name string) (string, error) {
	if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		// Keyword/value: a later keyword overrides an earlier one.
		return u + " dbname=" + name, nil
	}
	p, err := neturl.Parse(u)
	if err != nil {
		// url.Error would print the password.
		return "", errors.New("parse admin database url: not a valid URL")
	}
	p.Path = "/" + name
	p.RawPath = ""
	if q := p.Query(); q.Has("dbname") {
		q.Del("dbname")
		p.RawQuery = q.Encode()
	}
	return p.String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b)
}
