package callback

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
)

// fakeDialer answers each attempt from a script per number; once a number's
// script is used up, the customer answers.
type fakeDialer struct {
	mu     sync.Mutex
	script map[string][]AttemptResult
	calls  []DialRequest
	err    error
}

func (d *fakeDialer) Dial(_ context.Context, req DialRequest) (AttemptResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, req)
	if d.err != nil {
		return AttemptResult{}, d.err
	}
	if s := d.script[req.Callback.Number]; len(s) > 0 {
		d.script[req.Callback.Number] = s[1:]
		return s[0], nil
	}
	return AttemptResult{Outcome: OutcomeAnswered, AgentID: "anna", SIPStatus: 200}, nil
}

func (d *fakeDialer) callsFor(id string) []DialRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []DialRequest
	for _, c := range d.calls {
		if c.Callback.ID == id {
			out = append(out, c)
		}
	}
	return out
}

func (d *fakeDialer) total() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls)
}

var (
	busy     = AttemptResult{Outcome: OutcomeBusy, AgentID: "anna", SIPStatus: 486}
	noAnswer = AttemptResult{Outcome: OutcomeNoAnswer, AgentID: "anna", SIPStatus: 480}
	noAgent  = AttemptResult{Outcome: OutcomeNoAgent}
)

// waitState waits until callback id is in state want and returns it.
func (b *testBundle) waitState(t *testing.T, id string, want State) Callback {
	t.Helper()
	var c Callback
	waitFor(t, "callback "+id+" to be "+string(want), func() bool {
		var err error
		c, err = b.svc.Get(testCtx(t), id)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		return c.State == want
	})
	return c
}

func TestDialOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		script       []AttemptResult
		dialErr      error
		wantState    State
		wantOutcomes []Outcome
		wantCounted  int
	}{
		{
			name: "busy twice then answered", script: []AttemptResult{busy, busy},
			wantState: StateCompleted, wantOutcomes: []Outcome{OutcomeBusy, OutcomeBusy, OutcomeAnswered}, wantCounted: 3,
		},
		{
			name: "never reached", script: []AttemptResult{busy, noAnswer, busy, busy},
			wantState: StateFailed, wantOutcomes: []Outcome{OutcomeBusy, OutcomeNoAnswer, OutcomeBusy}, wantCounted: 3,
		},
		{
			name: "no agent is not spent", script: []AttemptResult{noAgent, busy, noAgent, noAgent, noAnswer, noAgent},
			wantState: StateCompleted,
			wantOutcomes: []Outcome{OutcomeNoAgent, OutcomeBusy, OutcomeNoAgent, OutcomeNoAgent, OutcomeNoAnswer,
				OutcomeNoAgent, OutcomeAnswered},
			wantCounted: 3,
		},
		{
			name: "dialer errors are failed attempts", dialErr: errors.New("trunk down"),
			wantState: StateFailed, wantOutcomes: []Outcome{OutcomeFailed, OutcomeFailed, OutcomeFailed}, wantCounted: 3,
		},
		{
			name: "an unknown outcome is a failed attempt", script: []AttemptResult{{Outcome: "maybe"}, {Outcome: OutcomeInterrupted}},
			wantState: StateCompleted, wantOutcomes: []Outcome{OutcomeFailed, OutcomeFailed, OutcomeAnswered}, wantCounted: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &fakeDialer{script: map[string][]AttemptResult{num(1): tt.script}, err: tt.dialErr}
			b := setup(t, setupOpts{dialer: d, policy: DialPolicy{
				MaxAttempts: 3, RetryDelay: 20 * time.Millisecond, NoAgentRetry: time.Millisecond,
			}})
			ctx := testCtx(t)
			c, err := b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(1), Wish: Wish{Slot: at(10, 0)}})
			if err != nil {
				t.Fatal(err)
			}
			b.clock.Flow(at(10, 0))
			start(t, b.svc)
			got := b.waitState(t, c.ID, tt.wantState)
			if len(got.Attempts) != len(tt.wantOutcomes) {
				t.Fatalf("%d attempts %+v, want %d", len(got.Attempts), got.Attempts, len(tt.wantOutcomes))
			}
			counted := 0
			for i, a := range got.Attempts {
				if a.Outcome != tt.wantOutcomes[i] || a.EndedAt == nil {
					t.Errorf("attempt %d: %+v, want outcome %s and ended", i, a, tt.wantOutcomes[i])
				}
				if a.Counted != (a.Outcome != OutcomeNoAgent) {
					t.Errorf("attempt %d: counted %v for %s", i, a.Counted, a.Outcome)
				}
				if a.Counted {
					counted++
				}
			}
			if counted != tt.wantCounted {
				t.Errorf("%d counted attempts, want %d", counted, tt.wantCounted)
			}
			calls := d.callsFor(c.ID)
			if len(calls) != len(tt.wantOutcomes) {
				t.Errorf("dialer called %d times, want %d", len(calls), len(tt.wantOutcomes))
			}
			if len(calls) > 0 && (calls[0].Attempt != 1 || calls[0].Callback.State != StateDialing || calls[0].Overflow) {
				t.Errorf("first request = %+v", calls[0])
			}
			if tt.wantState == StateCompleted {
				last := got.Attempts[len(got.Attempts)-1]
				if last.AgentID != "anna" || last.SIPStatus != 200 {
					t.Errorf("answered attempt = %+v", last)
				}
			}
			if tt.dialErr != nil && got.Attempts[0].Detail != tt.dialErr.Error() {
				t.Errorf("detail = %q, want the dialer's error", got.Attempts[0].Detail)
			}
			if len(got.Attempts) > 1 && !got.DueAt.After(got.SlotStart) && tt.wantCounted > 1 {
				t.Errorf("retries left due_at at %v", got.DueAt)
			}
		})
	}
}

// TestDialRetryFollowsHours: a retry that would fall into the lunch break
// waits for the team to open again.
func TestDialRetryFollowsHours(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{policy: DialPolicy{RetryDelay: 30 * time.Minute}})
	ctx := testCtx(t)
	b.svc.cfg.Dialer = &fakeDialer{script: map[string][]AttemptResult{num(1): {busy}}}
	c, err := b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(1), Wish: Wish{Slot: at(11, 45)}})
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Set(at(11, 45))
	if err := b.svc.work(ctx, c.jobID, DialCallbackArgs{CallbackID: c.ID, TeamID: "berlin"}); err != nil {
		t.Fatalf("work: %v", err)
	}
	got, err := b.svc.Get(ctx, c.ID)
	if err != nil || got.State != StateBooked || !got.DueAt.Equal(at(13, 0)) || got.jobID == c.jobID {
		t.Fatalf("after a busy attempt at 11:45: state %s due %v job %d (%v), want booked at 13:00 with a new job",
			got.State, got.DueAt, got.jobID, err)
	}
	if b.jobCount(t, c.ID) != 2 {
		// The job that ran is still "available" (work was called
		// directly), plus the retry's.
		t.Errorf("%d jobs, want 2", b.jobCount(t, c.ID))
	}
}

// TestDialOverflow: once the callback has been due for OverflowAfter with
// nobody free, the Dialer is asked to overflow.
func TestDialOverflow(t *testing.T) {
	t.Parallel()
	d := &fakeDialer{script: map[string][]AttemptResult{num(1): {noAgent, noAgent}}}
	b := setup(t, setupOpts{policy: DialPolicy{OverflowAfter: 5 * time.Minute}})
	b.svc.cfg.Dialer = d
	ctx := testCtx(t)
	c, err := b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(1), Wish: Wish{Slot: at(10, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, now := range []time.Time{at(10, 0), at(10, 5), at(10, 6)} {
		b.clock.Set(now)
		err := b.svc.work(ctx, c.jobID, DialCallbackArgs{CallbackID: c.ID, TeamID: "berlin"})
		var snooze *river.JobSnoozeError
		if now.Equal(at(10, 6)) {
			if err != nil {
				t.Fatalf("work at %v: %v", now, err)
			}
		} else if !errors.As(err, &snooze) {
			t.Fatalf("work at %v: %v, want a snooze", now, err)
		}
	}
	calls := d.callsFor(c.ID)
	if len(calls) != 3 || calls[0].Overflow || !calls[1].Overflow || !calls[2].Overflow {
		t.Fatalf("calls = %+v, want overflow from the second", calls)
	}
	if calls[2].Attempt != 1 {
		t.Errorf("attempt number after two no-agent tries = %d, want 1", calls[2].Attempt)
	}
}

// TestDialOrder: callbacks in one slot are claimed in the order their
// customers asked, not the order they were booked.
func TestDialOrder(t *testing.T) {
	t.Parallel()
	d := &fakeDialer{}
	b := setup(t, setupOpts{capacity: 10, dialer: d, workers: 1})
	ctx := testCtx(t)
	const n = 6
	ids := make([]string, n) // by requested_at, oldest first
	for i := n - 1; i >= 0; i-- {
		c, err := b.svc.Book(ctx, Request{
			TeamID: "berlin", Number: num(i), Wish: Wish{Slot: at(10, 0)},
			RequestedAt: at(8, 0).Add(time.Duration(i) * time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = c.ID
	}
	// An older callback in a later slot does not jump ahead.
	late, err := b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(99), Wish: Wish{Slot: at(10, 15)}, RequestedAt: at(7, 0)})
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, late.ID)
	b.clock.Set(at(10, 20))
	start(t, b.svc)
	waitFor(t, "all callbacks completed", func() bool {
		var open int
		if err := b.pool.QueryRow(ctx, "select count(*) from callbacks where state <> 'completed'").Scan(&open); err != nil {
			t.Fatal(err)
		}
		return open == 0
	})
	rows, err := b.pool.Query(ctx, "select callback_id::text from callback_attempts order by id")
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		order = append(order, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(order) != len(ids) {
		t.Fatalf("%d attempts, want %d", len(order), len(ids))
	}
	for i := range ids {
		if order[i] != ids[i] {
			t.Errorf("claim %d was %s, want %s", i, order[i], ids[i])
		}
	}
}

// TestTwoClientsDialEachOnce: two dialers (two River clients, as two
// processes) on one database dial every callback exactly once.
func TestTwoClientsDialEachOnce(t *testing.T) {
	t.Parallel()
	d1, d2 := &fakeDialer{}, &fakeDialer{}
	b := setup(t, setupOpts{capacity: 10, dialer: d1, workers: 3})
	other := b.newService(t, setupOpts{dialer: d2, workers: 3})
	ctx := testCtx(t)
	const n = 30
	var ids []string
	for i := range n {
		c, err := b.svc.BookEarliest(ctx, Request{TeamID: "berlin", Number: num(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	b.clock.Set(at(12, 0))
	start(t, b.svc)
	start(t, other)
	waitFor(t, "all callbacks completed", func() bool {
		var open int
		if err := b.pool.QueryRow(ctx, "select count(*) from callbacks where state <> 'completed'").Scan(&open); err != nil {
			t.Fatal(err)
		}
		return open == 0
	})
	if d1.total()+d2.total() != n {
		t.Errorf("dialed %d + %d times, want %d in all", d1.total(), d2.total(), n)
	}
	for _, id := range ids {
		if c := len(d1.callsFor(id)) + len(d2.callsFor(id)); c != 1 {
			t.Errorf("callback %s dialed %d times", id, c)
		}
	}
	t.Logf("first process dialed %d, second %d", d1.total(), d2.total())
}

// TestRecoverInterruptedAttempt: a callback left in dialing by a process that
// died is not dialed again for that attempt: the attempt is closed as
// interrupted and counted, and the callback retried.
func TestRecoverInterruptedAttempt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		spent     int // counted attempts before the interrupted one
		wantState State
		wantDials int
	}{
		{"retried", 0, StateCompleted, 1},
		{"it was the last attempt", 2, StateFailed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &fakeDialer{}
			b := setup(t, setupOpts{policy: DialPolicy{MaxAttempts: 3, RetryDelay: time.Minute}})
			ctx := testCtx(t)
			c, err := b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(1), Wish: Wish{Slot: at(10, 0)}})
			if err != nil {
				t.Fatal(err)
			}
			for range tt.spent {
				if _, err := b.pool.Exec(ctx, `insert into callback_attempts (callback_id, job_id, started_at, ended_at, outcome)
	values ($1, 1, $2, $2, 'busy')`, c.ID, at(9, 0)); err != nil {
					t.Fatal(err)
				}
			}
			b.clock.Set(at(10, 0))
			// The first process's job claims, then the process dies before
			// dialing returns.
			const deadJob = 777
			if got, _, _, ok, err := b.svc.claimNext(ctx, deadJob, "berlin", at(10, 0)); err != nil || !ok || got.ID != c.ID {
				t.Fatalf("claimNext = %s, %v, %v", got.ID, ok, err)
			}
			// River rescues the job; a restarted process runs it.
			b.clock.Set(at(10, 5))
			restarted := b.newService(t, setupOpts{dialer: d, policy: DialPolicy{MaxAttempts: 3, RetryDelay: time.Minute}})
			args := DialCallbackArgs{CallbackID: c.ID, TeamID: "berlin"}
			if err := restarted.work(ctx, deadJob, args); err != nil {
				t.Fatalf("work: %v", err)
			}
			if d.total() != 0 {
				t.Fatalf("the interrupted attempt was dialed again")
			}
			got, err := b.svc.Get(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			last := got.Attempts[len(got.Attempts)-1]
			if last.Outcome != OutcomeInterrupted || !last.Counted || last.EndedAt == nil {
				t.Errorf("interrupted attempt = %+v", last)
			}
			// Running the same (rescued) job again changes nothing.
			if err := restarted.work(ctx, deadJob, args); err != nil || d.total() != 0 {
				t.Fatalf("rescued job run again: %v, %d dials", err, d.total())
			}
			b.clock.Set(at(10, 10))
			start(t, restarted)
			got = b.waitState(t, c.ID, tt.wantState)
			if d.total() != tt.wantDials {
				t.Errorf("dialed %d times, want %d", d.total(), tt.wantDials)
			}
			if want := tt.spent + 1 + tt.wantDials; len(got.Attempts) != want {
				t.Errorf("%d attempts, want %d", len(got.Attempts), want)
			}
		})
	}
}

// TestJobsWithNothingDue: a job whose callback was rescheduled, cancelled or
// served by another job dials nothing; a job that runs before its callback is
// due by this process's clock waits for it.
func TestJobsWithNothingDue(t *testing.T) {
	t.Parallel()
	d := &fakeDialer{}
	b := setup(t, setupOpts{})
	b.svc.cfg.Dialer = d
	ctx := testCtx(t)
	c, err := b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(1), Wish: Wish{Slot: at(10, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := b.svc.Reschedule(ctx, c.ID, Wish{Slot: at(14, 0)})
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Set(at(10, 30))
	args := DialCallbackArgs{CallbackID: c.ID, TeamID: "berlin"}
	if err := b.svc.work(ctx, c.jobID, args); err != nil {
		t.Errorf("old job: %v", err)
	}
	if err := b.svc.work(ctx, 424242, DialCallbackArgs{CallbackID: "00000000-0000-4000-8000-000000000000", TeamID: "berlin"}); err != nil {
		t.Errorf("job of an unknown callback: %v", err)
	}
	var snooze *river.JobSnoozeError
	if err := b.svc.work(ctx, moved.jobID, args); !errors.As(err, &snooze) || snooze.Duration != 3*time.Hour+30*time.Minute {
		t.Errorf("current job ahead of time: %v, want a snooze of 3h30m", err)
	}
	if d.total() != 0 {
		t.Fatalf("dialed %d times", d.total())
	}
	if _, err := b.svc.Cancel(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	b.clock.Set(at(14, 0))
	if err := b.svc.work(ctx, moved.jobID, args); err != nil || d.total() != 0 {
		t.Errorf("job of a cancelled callback: %v, %d dials", err, d.total())
	}
}
