package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/teamline/teamline/internal/pgtest"
	"github.com/teamline/teamline/store"
)

// runCallLog starts c's worker and stops it (and waits for it) when the test
// ends, before the store closes.
func runCallLog(t *testing.T, c *store.CallLog) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("CallLog.Run did not return after its context ended")
		}
	})
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

// callScript enqueues n calls, each with a life that only comes out right if
// the writes happen in order: started, answered, ended as abandoned, then
// ended again as answered (the last word wins).
func callScript(l *store.CallLog, n int) []store.CallStart {
	starts := make([]store.CallStart, n)
	for i := range starts {
		starts[i] = newStart(fmt.Sprintf("cust-%d", i%7), at.Add(time.Duration(i)*time.Second))
		l.Started(starts[i])
	}
	for i, s := range starts {
		l.Answered(s.ID, fmt.Sprintf("agent-%d", i), s.At.Add(time.Second))
		l.Ended(s.ID, store.OutcomeAbandoned, store.HangupCaller, "first", s.At.Add(2*time.Second))
		l.Ended(s.ID, store.OutcomeAnswered, store.HangupAgent, "last", s.At.Add(3*time.Second))
	}
	return starts
}

func checkScript(ctx context.Context, t *testing.T, s *store.Store, starts []store.CallStart) {
	t.Helper()
	for i, st := range starts {
		c, err := s.Call(ctx, st.ID)
		if err != nil {
			t.Errorf("call %d: %v", i, err)
			continue
		}
		if c.AgentID != fmt.Sprintf("agent-%d", i) || c.Outcome != store.OutcomeAnswered || c.EndReason != "last" ||
			c.HangupBy != store.HangupAgent || !timeEqual(c.EndedAt, st.At.Add(3*time.Second)) {
			t.Errorf("call %d = %+v", i, c)
		}
	}
}

func TestCallLogWritesInOrder(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := pgtest.Store(t)
	l := store.NewCallLog(s, testLogger(t), 0)
	runCallLog(t, l)
	starts := callScript(l, 50)
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if l.Len() != 0 || l.Dropped() != 0 {
		t.Errorf("after Flush: Len %d, Dropped %d", l.Len(), l.Dropped())
	}
	checkScript(ctx, t, s, starts)
}

func TestCallLogSurvivesOutage(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cluster := pgtest.NewCluster(t)
	s, err := store.Open(ctx, cluster.URL(), testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	l := store.NewCallLog(s, testLogger(t), 0)
	runCallLog(t, l)

	// Warm the pool, so that the outage breaks open connections too.
	before := callScript(l, 3)
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("Flush before the outage: %v", err)
	}

	cluster.Stop(t)
	during := callScript(l, 20)
	// Nothing can be written: Flush must wait until its deadline.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = l.Flush(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush during the outage = %v, want a deadline error", err)
	}
	if l.Len() == 0 {
		t.Fatal("queue empty during the outage")
	}

	cluster.Start(t)
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("Flush after the outage: %v", err)
	}
	checkScript(ctx, t, s, before)
	checkScript(ctx, t, s, during)
	if l.Dropped() != 0 {
		t.Errorf("Dropped = %d, want 0", l.Dropped())
	}
}

func TestCallLogDropsWhenFull(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := pgtest.Store(t)
	l := store.NewCallLog(s, testLogger(t), 2)
	var starts []store.CallStart
	for i := range 5 {
		st := newStart("cust", at.Add(time.Duration(i)*time.Second))
		starts = append(starts, st)
		l.Started(st) // not running: the queue fills
	}
	if l.Len() != 2 || l.Dropped() != 3 {
		t.Fatalf("Len %d, Dropped %d; want 2 and 3", l.Len(), l.Dropped())
	}
	runCallLog(t, l)
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	for i, st := range starts {
		_, err := s.Call(ctx, st.ID)
		if kept := i < 2; kept && err != nil {
			t.Errorf("kept call %d: %v", i, err)
		} else if !kept && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("dropped call %d: got %v, want ErrNotFound", i, err)
		}
	}
}

func TestCallLogSkipsRefusedEvents(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := pgtest.Store(t)
	l := store.NewCallLog(s, testLogger(t), 0)
	runCallLog(t, l)
	// Refused for good: must not wedge the queue.
	l.Answered(store.NewCallID(), "agent", at)
	l.Ended(store.NewCallID(), "bogus", store.HangupCaller, "", at)
	l.Started(store.CallStart{ID: "not-a-uuid", SIPCallID: "x", CallerNumber: "1", At: at})
	good := newStart("cust", at)
	l.Started(good)
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if _, err := s.Call(ctx, good.ID); err != nil {
		t.Errorf("call after refused events: %v", err)
	}
}

func TestCallLogFlush(t *testing.T) {
	t.Parallel()
	// No worker: Flush of an empty log returns at once, of a non-empty one
	// when its context ends.
	l := store.NewCallLog(nil, zerolog.Nop(), 4)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("Flush of an empty log: %v", err)
	}
	l.Started(newStart("c", at))
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if err := l.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush without a worker = %v, want a deadline error", err)
	}
}

func BenchmarkCallLogEnqueue(b *testing.B) {
	l := store.NewCallLog(nil, zerolog.Nop(), b.N*3+3)
	start := newStart("cust", at)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l.Started(start)
		l.Answered(start.ID, "agent", at)
		l.Ended(start.ID, store.OutcomeAnswered, store.HangupCaller, "", at)
	}
}

func BenchmarkCallLogWrite(b *testing.B) {
	ctx := context.Background()
	s := pgtest.Store(b)
	l := store.NewCallLog(s, zerolog.Nop(), 3*b.N+3)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); l.Run(rctx) }()
	b.Cleanup(func() { cancel(); <-done })
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := newStart("cust", at)
		l.Started(start)
		l.Answered(start.ID, "agent", at)
		l.Ended(start.ID, store.OutcomeAnswered, store.HangupCaller, "", at)
	}
	if err := l.Flush(ctx); err != nil {
		b.Fatalf("Flush: %v", err)
	}
}

// Events queued before the worker runs go out as one batch; an update of an
// unknown call inside it is skipped, an invalid event sends the batch back
// to one-by-one writes, and the good events are written either way.
func TestCallLogBatches(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := pgtest.Store(t)
	for _, invalid := range []bool{false, true} {
		l := store.NewCallLog(s, testLogger(t), 0)
		good := newStart("cust", at)
		l.Started(good)
		l.Answered(store.NewCallID(), "agent", at) // unknown call
		if invalid {
			l.Ended(good.ID, "bogus", store.HangupCaller, "", at)
		}
		l.Answered(good.ID, "anna", at.Add(time.Second))
		l.Ended(good.ID, store.OutcomeAnswered, store.HangupCaller, "done", at.Add(time.Minute))
		l.Traced(good.ID, []string{"customer cust is assigned to team berlin"})
		// A call ends with its trace and then its end: in one batch, one
		// statement writes both.
		pair := newStart("cust", at)
		l.Started(pair)
		l.Traced(pair.ID, []string{"team berlin open", "rings anna"})
		l.Ended(pair.ID, store.OutcomeUnanswered, store.HangupSystem, "ring timeout", at.Add(time.Minute))
		runCallLog(t, l)
		if err := l.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		c, err := s.Call(ctx, good.ID)
		if err != nil || c.AgentID != "anna" || c.Outcome != store.OutcomeAnswered || len(c.Trace) != 1 {
			t.Fatalf("invalid=%v: call = %+v, %v", invalid, c, err)
		}
		c, err = s.Call(ctx, pair.ID)
		if err != nil || c.Outcome != store.OutcomeUnanswered || c.EndReason != "ring timeout" || len(c.Trace) != 2 {
			t.Fatalf("invalid=%v: call ended with its trace = %+v, %v", invalid, c, err)
		}
	}
}
