package callback

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/teamline/teamline/internal/pgtest"
	"github.com/teamline/teamline/store"
)

// benchClients is the number of concurrent booking clients.
const benchClients = 50

// BenchmarkBook50 books callbacks from 50 concurrent clients and reports
// bookings per second. "one-slot" books everybody into one slot with room for
// all (the worst case: all 50 queue on one row lock); "earliest" books the
// earliest slot with room, 25 places per slot, so bookings move through the
// slots as they fill.
func BenchmarkBook50(b *testing.B) {
	for _, bc := range []struct {
		name     string
		capacity int
		wish     Wish
	}{
		{"one-slot", 1 << 30, Wish{Slot: at(10, 0)}},
		{"earliest", 25, Wish{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			svc := benchService(b, bc.capacity)
			ctx := context.Background()
			var next atomic.Int64
			var failed atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			begin := time.Now()
			for range benchClients {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						_, err := svc.Book(ctx, Request{TeamID: "berlin", Number: benchNumber(i), Wish: bc.wish})
						if err != nil {
							failed.Add(1)
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(begin)
			b.StopTimer()
			if failed.Load() == 0 {
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "bookings/s")
			}
		})
	}
}

func benchNumber(i int64) string {
	const digits = "0123456789"
	out := []byte("+4930100000000")
	for p := len(out) - 1; i > 0 && p > 5; p-- {
		out[p] = digits[i%10]
		i /= 10
	}
	return string(out)
}

// benchService returns a Service on a fresh database with a pool of one
// connection per client, as a process serving that load would have.
func benchService(b *testing.B, capacity int) *Service {
	b.Helper()
	ctx := testCtx(b)
	url := pgtest.URL(b)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = benchClients
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	st, err := store.Open(ctx, url, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := Migrate(ctx, pool, zerolog.Nop()); err != nil {
		b.Fatal(err)
	}
	clock := &fakeClock{base: at(8, 50)}
	svc, err := New(pool, Config{
		Hours:   officeHours,
		Teams:   func(string) (TeamSlots, bool) { return TeamSlots{Location: berlin, Capacity: capacity}, true },
		Horizon: 400 * 24 * time.Hour,
		Now:     clock.Now,
	}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	return svc
}
