package callback

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/teamline/teamline/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// berlin is the test team's time zone.
var berlin = mustLoad("Europe/Berlin")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// day0 is a Wednesday; tests start at 08:50 Berlin time, ten minutes before
// the team opens. It lies in the past, so River runs jobs "scheduled" for it
// at once.
var day0 = time.Date(2026, 3, 4, 0, 0, 0, 0, berlin)

func at(hh, mm int) time.Time {
	return day0.Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute)
}

// officeHours: open 09:00-12:00 and 13:00-17:00, closed on Sundays.
var officeHours = HoursFunc(func(_ string, day time.Time) []TimeRange {
	if day.Weekday() == time.Sunday {
		return nil
	}
	y, m, d := day.Date()
	hm := func(h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, day.Location()) }
	return []TimeRange{{hm(9, 0), hm(12, 0)}, {hm(13, 0), hm(17, 0)}}
})

// fakeClock is a settable clock. It stands still unless told to flow, when
// it moves on with the wall clock from the time set.
type fakeClock struct {
	mu       sync.Mutex
	base     time.Time
	flowFrom time.Time // zero: standing still
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flowFrom.IsZero() {
		return c.base
	}
	return c.base.Add(time.Since(c.flowFrom))
}

// Set sets the time (and keeps flowing from there if it flowed).
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base = t
	if !c.flowFrom.IsZero() {
		c.flowFrom = time.Now()
	}
}

// Flow makes the clock move on from t.
func (c *fakeClock) Flow(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.flowFrom = t, time.Now()
}

// testBundle holds what a test works with.
type testBundle struct {
	svc   *Service
	pool  *pgxpool.Pool
	clock *fakeClock
	teams map[string]TeamSlots
	log   zerolog.Logger
}

// setupOpts adjust setup.
type setupOpts struct {
	capacity int
	lead     time.Duration
	dialer   Dialer
	policy   DialPolicy
	workers  int
	horizon  time.Duration
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// setup migrates a database of the test's own and returns a Service on it
// whose clock reads 08:50 on day0. With a dialer, the Service is started and
// stopped when the test ends.
func setup(t testing.TB, o setupOpts) *testBundle {
	t.Helper()
	ctx := testCtx(t)
	st := pgtest.Store(t)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	if err := Migrate(ctx, st.Pool(), log); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	b := &testBundle{pool: st.Pool(), clock: &fakeClock{base: at(8, 50)}, log: log}
	if o.capacity == 0 {
		o.capacity = 2
	}
	b.teams = map[string]TeamSlots{
		"berlin": {Location: berlin, Capacity: o.capacity, LeadTime: o.lead},
		"empty":  {Location: berlin, Capacity: 0},
	}
	b.svc = b.newService(t, o)
	return b
}

// newService returns another Service (another River client) on the bundle's
// database.
func (b *testBundle) newService(t testing.TB, o setupOpts) *Service {
	t.Helper()
	svc, err := New(b.pool, Config{
		Hours:    officeHours,
		Teams:    func(id string) (TeamSlots, bool) { ts, ok := b.teams[id]; return ts, ok },
		Dialer:   o.dialer,
		Dial:     o.policy,
		Horizon:  o.horizon,
		Workers:  o.workers,
		Now:      b.clock.Now,
		fastPoll: true,
	}, b.log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return svc
}

// start starts svc and stops it when the test ends.
func start(t testing.TB, svc *Service) {
	t.Helper()
	if err := svc.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := svc.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
}

// waitFor polls cond until it holds, failing the test after a bound.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// jobCount counts the dial jobs of callback id that are not cancelled or
// discarded.
func (b *testBundle) jobCount(t testing.TB, id string) int {
	t.Helper()
	var n int
	err := b.pool.QueryRow(testCtx(t), `select count(*) from river_job
	where kind = 'teamline_dial_callback' and args->>'callback_id' = $1
	  and state not in ('cancelled', 'discarded')`, id).Scan(&n)
	if err != nil {
		t.Fatalf("count jobs: %v", err)
	}
	return n
}

// allJobs counts all dial jobs.
func (b *testBundle) allJobs(t testing.TB) int {
	t.Helper()
	var n int
	if err := b.pool.QueryRow(testCtx(t), "select count(*) from river_job where kind = 'teamline_dial_callback'").Scan(&n); err != nil {
		t.Fatalf("count jobs: %v", err)
	}
	return n
}

// booked reads callback_slots.booked of a slot (0 without a row).
func (b *testBundle) booked(t testing.TB, team string, start time.Time) int {
	t.Helper()
	var n int
	err := b.pool.QueryRow(testCtx(t), `select coalesce((select booked from callback_slots
	where team_id = $1 and starts_at = $2), 0)`, team, start).Scan(&n)
	if err != nil {
		t.Fatalf("read slot: %v", err)
	}
	return n
}
