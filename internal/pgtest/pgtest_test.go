package pgtest

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"postgres://postgres@127.0.0.1:5432/postgres", "postgres://postgres@127.0.0.1:5432/tl_x"},
		{"postgresql://u:p@h/db?sslmode=disable", "postgresql://u:p@h/tl_x?sslmode=disable"},
		{"postgres://teamline@/teamline?host=/tmp/a/socket&port=5433", "postgres://teamline@/tl_x?host=/tmp/a/socket&port=5433"},
		{"postgres://h?dbname=other&port=5", "postgres://h/tl_x?port=5"},
		{"host=/tmp/s port=5433 user=teamline dbname=teamline", "host=/tmp/s port=5433 user=teamline dbname=teamline dbname=tl_x"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := withDatabase(tt.in, "tl_x")
			if err != nil || got != tt.want {
				t.Errorf("withDatabase(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func dbExists(ctx context.Context, t *testing.T, name string) bool {
	t.Helper()
	var n int
	if err := adminPool.QueryRow(ctx, "select count(*) from pg_database where datname = $1", name).Scan(&n); err != nil {
		t.Fatalf("look up database %s: %v", name, err)
	}
	return n == 1
}

func TestURLFreshAndDropped(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var names []string
	var kept *pgx.Conn
	defer func() {
		if kept != nil {
			_ = kept.Close(ctx) // already terminated by the forced drop
		}
	}()
	for i := range 2 {
		t.Run("db", func(t *testing.T) {
			url := URL(t)
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatalf("connect to %s: %v", url, err)
			}
			if i == 0 {
				// Keep this connection open: dropping the database must
				// not wait for it.
				kept = conn
			} else {
				defer func() { _ = conn.Close(ctx) }()
			}
			var name string
			var tables int
			if err := conn.QueryRow(ctx, `select current_database(),
				(select count(*) from pg_tables where schemaname = 'public')`).Scan(&name, &tables); err != nil {
				t.Fatalf("query: %v", err)
			}
			names = append(names, name)
			if !strings.HasPrefix(name, "tl_test_") || tables != 0 {
				t.Fatalf("database %q with %d tables, want a fresh tl_test_ one", name, tables)
			}
			// Leave something behind, which the next database must not see.
			if _, err := conn.Exec(ctx, "create table leftover (id int)"); err != nil {
				t.Fatalf("create table: %v", err)
			}
		})
	}
	if len(names) != 2 || names[0] == names[1] {
		t.Fatalf("databases %v, want two different ones", names)
	}
	for _, name := range names {
		if dbExists(ctx, t, name) {
			t.Errorf("database %s still exists after its test", name)
		}
	}
}

func TestStore(t *testing.T) {
	t.Parallel()
	s := Store(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.RecentCalls(ctx, "nobody", 1); err != nil {
		t.Fatalf("query a migrated store: %v", err)
	}
}

// TestClusterRemovedWhenProcessDies runs this test binary as a helper that
// starts a cluster and exits without cleaning up; the watchdog must stop the
// server and remove its directory.
func TestClusterRemovedWhenProcessDies(t *testing.T) {
	t.Parallel()
	if os.Getenv("PGTEST_HELPER") == "leak" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLeakCluster$")
	cmd.Env = append(os.Environ(), "PGTEST_HELPER=leak")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var dir, url string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "leaked "); ok {
			dir, url, _ = strings.Cut(v, " ")
		}
	}
	if dir == "" {
		t.Fatalf("helper printed no cluster:\n%s", out)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	// The watchdog polls once a second; allow it a generous bound.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, statErr := os.Stat(dir)
		if errors.Is(statErr, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster directory %s still there 30s after its process exited", dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	if conn, err := pgx.Connect(cctx, url); err == nil {
		_ = conn.Close(cctx)
		t.Fatalf("the leaked cluster still accepts connections at %s", url)
	}
}

// TestLeakCluster is the helper of TestClusterRemovedWhenProcessDies: it
// does nothing unless run as that helper.
func TestLeakCluster(t *testing.T) {
	if os.Getenv("PGTEST_HELPER") != "leak" {
		t.Skip("helper process only")
	}
	c, err := startCluster()
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	os.Stdout.WriteString("leaked " + c.dir + " " + c.URL() + "\n")
	os.Exit(0) // no cleanup: the watchdog must do it
}
