package callback

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func num(i int) string { return fmt.Sprintf("+49301234%04d", i) }

func TestBookEarliestCapacityAndLeadTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lead  time.Duration
		clock time.Time
		want  []time.Time // slot of each booking, capacity 2
	}{
		{"before opening", 0, at(8, 50), []time.Time{at(9, 0), at(9, 0), at(9, 15)}},
		{"lead time skips slots", 20 * time.Minute, at(8, 50), []time.Time{at(9, 15), at(9, 15), at(9, 30)}},
		{"a slot already begun is not offered", 0, at(9, 1), []time.Time{at(9, 15), at(9, 15), at(9, 30)}},
		{"over lunch", 10 * time.Minute, at(11, 40), []time.Time{at(13, 0), at(13, 0), at(13, 15)}},
		{"after closing: next day", 0, at(17, 0), []time.Time{at(9, 0).AddDate(0, 0, 1), at(9, 0).AddDate(0, 0, 1), at(9, 15).AddDate(0, 0, 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{capacity: 2, lead: tt.lead})
			b.clock.Set(tt.clock)
			ctx := testCtx(t)
			for i, want := range tt.want {
				c, err := b.svc.BookEarliest(ctx, Request{TeamID: "berlin", Number: num(i), Wish: Wish{Slot: at(16, 0)}})
				if err != nil {
					t.Fatalf("booking %d: %v", i, err)
				}
				if !c.SlotStart.Equal(want) || !c.DueAt.Equal(want) || c.SlotEnd.Sub(c.SlotStart) != DefaultSlotLength {
					t.Errorf("booking %d: slot %v-%v due %v, want %v", i, c.SlotStart, c.SlotEnd, c.DueAt, want)
				}
				if c.State != StateBooked || !c.RequestedAt.Equal(tt.clock) {
					t.Errorf("booking %d: state %s requested %v", i, c.State, c.RequestedAt)
				}
			}
			if got := b.booked(t, "berlin", tt.want[0]); got != 2 {
				t.Errorf("first slot has %d booked, want 2", got)
			}
		})
	}
}

func TestBookSlotAndWindow(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{capacity: 1, lead: 15 * time.Minute})
	ctx := testCtx(t)

	c, err := b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(1), Reason: "invoice", Wish: Wish{Slot: at(10, 0)}})
	if err != nil || !c.SlotStart.Equal(at(10, 0)) || c.Reason != "invoice" {
		t.Fatalf("Book slot 10:00 = %+v, %v", c, err)
	}
	// The slot is full now: the error lists the next free ones after it.
	_, err = b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(2), Wish: Wish{Slot: at(10, 0)}})
	var full *FullError
	if !errors.As(err, &full) || !errors.Is(err, ErrFull) {
		t.Fatalf("Book full slot: err = %v, want a FullError", err)
	}
	if len(full.Next) != maxNextFree || !full.Next[0].Start.Equal(at(10, 15)) || full.Next[0].Free() != 1 {
		t.Errorf("next free = %+v, want 3 starting 10:15", full.Next)
	}

	// A window takes its earliest free slot.
	if _, err := b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(3), Wish: Wish{Slot: at(10, 15)}}); err != nil {
		t.Fatal(err)
	}
	c, err = b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(4), Wish: Wish{After: at(10, 0), Before: at(10, 45)}})
	if err != nil || !c.SlotStart.Equal(at(10, 30)) {
		t.Fatalf("Book window = %v, %v, want 10:30", c.SlotStart, err)
	}
	_, err = b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(5), Wish: Wish{After: at(10, 0), Before: at(10, 45)}})
	if !errors.As(err, &full) || len(full.Next) == 0 || !full.Next[0].Start.Equal(at(10, 45)) {
		t.Fatalf("Book full window: %v (next %+v), want full with 10:45 next", err, full)
	}

	errTests := []struct {
		name string
		r    Request
		want error
	}{
		{"unaligned slot", Request{TeamID: "berlin", Number: num(9), Wish: Wish{Slot: at(10, 5)}}, ErrNoSuchSlot},
		{"slot in lunch break", Request{TeamID: "berlin", Number: num(9), Wish: Wish{Slot: at(12, 15)}}, ErrNoSuchSlot},
		{"slot within lead time", Request{TeamID: "berlin", Number: num(9), Wish: Wish{Slot: at(9, 0)}}, ErrNoSuchSlot},
		{"slot and window", Request{TeamID: "berlin", Number: num(9), Wish: Wish{Slot: at(11, 0), After: at(11, 0)}}, ErrInvalid},
		{"window backwards", Request{TeamID: "berlin", Number: num(9), Wish: Wish{After: at(11, 0), Before: at(10, 0)}}, ErrInvalid},
		{"no number", Request{TeamID: "berlin"}, ErrInvalid},
		{"unknown team", Request{TeamID: "paris", Number: num(9)}, ErrUnknownTeam},
		{"team without capacity", Request{TeamID: "empty", Number: num(9)}, ErrUnknownTeam},
	}
	for _, tt := range errTests {
		if _, err := b.svc.Book(ctx, tt.r); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if n := b.allJobs(t); n != 3 {
		t.Errorf("%d dial jobs, want 3 (one per booking that succeeded)", n)
	}
}

// TestBookRaceForLastPlaces: many bookings race for one slot; exactly its
// capacity succeed, and only they have dial jobs.
func TestBookRaceForLastPlaces(t *testing.T) {
	t.Parallel()
	const capacity, racers = 5, 40
	b := setup(t, setupOpts{capacity: capacity})
	ctx := testCtx(t)
	// One place already taken: the racers fight for the last four.
	if _, err := b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(999), Wish: Wish{Slot: at(11, 0)}}); err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		won     []Callback
		full    int
		other   []error
		startCh = make(chan struct{})
	)
	for i := range racers {
		wg.Go(func() {
			<-startCh
			c, err := b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(i), Wish: Wish{Slot: at(11, 0)}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, c)
			case errors.Is(err, ErrFull):
				full++
			default:
				other = append(other, err)
			}
		})
	}
	close(startCh)
	wg.Wait()
	if len(other) > 0 {
		t.Fatalf("unexpected errors: %v", other)
	}
	if len(won) != capacity-1 || full != racers-(capacity-1) {
		t.Fatalf("%d bookings succeeded and %d were full, want %d and %d", len(won), full, capacity-1, racers-capacity+1)
	}
	if got := b.booked(t, "berlin", at(11, 0)); got != capacity {
		t.Errorf("slot has %d booked, want %d", got, capacity)
	}
	var rows int
	if err := b.pool.QueryRow(ctx, "select count(*) from callbacks where slot_start = $1", at(11, 0)).Scan(&rows); err != nil || rows != capacity {
		t.Errorf("%d callback rows (%v), want %d", rows, err, capacity)
	}
	for _, c := range won {
		if n := b.jobCount(t, c.ID); n != 1 {
			t.Errorf("callback %s has %d jobs, want 1", c.ID, n)
		}
	}
	if n := b.allJobs(t); n != capacity {
		t.Errorf("%d dial jobs, want %d", n, capacity)
	}
}

// TestBookRaceASAP: racers asking for the earliest slot spread over the
// slots, never more than the capacity in any.
func TestBookRaceASAP(t *testing.T) {
	t.Parallel()
	const capacity, racers = 3, 30
	b := setup(t, setupOpts{capacity: capacity})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, racers)
	for i := range racers {
		wg.Go(func() {
			_, err := b.svc.BookEarliest(ctx, Request{TeamID: "berlin", Number: num(i)})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("BookEarliest: %v", err)
		}
	}
	rows, err := b.pool.Query(ctx, "select slot_start, count(*) from callbacks group by slot_start order by slot_start")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := at(9, 0)
	for rows.Next() {
		var start time.Time
		var n int
		if err := rows.Scan(&start, &n); err != nil {
			t.Fatal(err)
		}
		if !start.Equal(want) || n != capacity {
			t.Errorf("slot %v has %d, want %v with %d", start, n, want, capacity)
		}
		want = want.Add(DefaultSlotLength)
	}
	if want != at(9, 0).Add(racers/capacity*DefaultSlotLength) {
		t.Errorf("slots filled up to %v", want)
	}
}

func TestAlreadyBooked(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{capacity: 2})
	ctx := testCtx(t)
	first, err := b.svc.BookEarliest(ctx, Request{TeamID: "berlin", Number: num(1)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(1), Wish: Wish{Slot: at(14, 0)}})
	var ab *AlreadyBookedError
	if !errors.As(err, &ab) || !errors.Is(err, ErrAlreadyBooked) || ab.Existing.ID != first.ID {
		t.Fatalf("second booking: err = %v, want AlreadyBookedError for %s", err, first.ID)
	}
	// The failed booking's place and job were rolled back with it.
	if got := b.booked(t, "berlin", at(14, 0)); got != 0 {
		t.Errorf("slot 14:00 has %d booked after a failed booking", got)
	}
	if n := b.allJobs(t); n != 1 {
		t.Errorf("%d dial jobs, want 1", n)
	}
	open, err := b.svc.OpenCallback(ctx, num(1))
	if err != nil || open.ID != first.ID {
		t.Errorf("OpenCallback = %s, %v, want %s", open.ID, err, first.ID)
	}
	if _, err := b.svc.OpenCallback(ctx, num(2)); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenCallback of a number without one: %v, want ErrNotFound", err)
	}
	// Once done, the number may book again.
	done, err := b.svc.MarkDone(ctx, first.ID)
	if err != nil || done.State != StateCompleted {
		t.Fatalf("MarkDone = %s, %v", done.State, err)
	}
	if b.jobCount(t, first.ID) != 0 {
		t.Errorf("job of a completed callback still pending")
	}
	if got := b.booked(t, "berlin", first.SlotStart); got != 1 {
		t.Errorf("completed callback gave its place back: booked %d", got)
	}
	if _, err := b.svc.BookEarliest(ctx, Request{TeamID: "berlin", Number: num(1)}); err != nil {
		t.Errorf("booking after completion: %v", err)
	}
}

func TestRescheduleAndCancel(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{capacity: 1})
	ctx := testCtx(t)
	c, err := b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(1), Wish: Wish{Slot: at(10, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Set(at(9, 30)) // later: the reschedule must keep requested_at
	if _, err := b.svc.Book(ctx, Request{TeamID: "berlin", Number: num(2), Wish: Wish{Slot: at(11, 0)}}); err != nil {
		t.Fatal(err)
	}

	// Into a full slot: refused, nothing changes.
	if _, err := b.svc.Reschedule(ctx, c.ID, Wish{Slot: at(11, 0)}); !errors.Is(err, ErrFull) {
		t.Fatalf("reschedule into a full slot: %v, want ErrFull", err)
	}
	if got := b.booked(t, "berlin", at(10, 0)); got != 1 {
		t.Errorf("failed reschedule freed the old place: booked %d", got)
	}
	// Into its own (full) slot: allowed.
	if _, err := b.svc.Reschedule(ctx, c.ID, Wish{Slot: at(10, 0)}); err != nil {
		t.Fatalf("reschedule into its own slot: %v", err)
	}

	moved, err := b.svc.Reschedule(ctx, c.ID, Wish{Slot: at(14, 0)})
	if err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	if !moved.SlotStart.Equal(at(14, 0)) || !moved.DueAt.Equal(at(14, 0)) || !moved.RequestedAt.Equal(c.RequestedAt) {
		t.Errorf("moved = slot %v due %v requested %v, want 14:00 and requested %v", moved.SlotStart, moved.DueAt, moved.RequestedAt, c.RequestedAt)
	}
	if b.booked(t, "berlin", at(10, 0)) != 0 || b.booked(t, "berlin", at(14, 0)) != 1 {
		t.Errorf("places not moved: 10:00 %d, 14:00 %d", b.booked(t, "berlin", at(10, 0)), b.booked(t, "berlin", at(14, 0)))
	}
	if n := b.jobCount(t, c.ID); n != 1 {
		t.Errorf("%d live jobs after reschedule, want 1", n)
	}
	got, err := b.svc.Get(ctx, c.ID)
	if err != nil || got.jobID == c.jobID || got.jobID == 0 || !got.SlotStart.Equal(at(14, 0)) {
		t.Errorf("Get = job %d (was %d) slot %v, %v", got.jobID, c.jobID, got.SlotStart, err)
	}

	cancelled, err := b.svc.Cancel(ctx, c.ID)
	if err != nil || cancelled.State != StateCancelled {
		t.Fatalf("Cancel = %s, %v", cancelled.State, err)
	}
	if b.booked(t, "berlin", at(14, 0)) != 0 || b.jobCount(t, c.ID) != 0 {
		t.Errorf("cancel left booked %d, jobs %d", b.booked(t, "berlin", at(14, 0)), b.jobCount(t, c.ID))
	}
	if again, err := b.svc.Cancel(ctx, c.ID); err != nil || again.State != StateCancelled {
		t.Errorf("cancel twice = %s, %v", again.State, err)
	}
	if b.booked(t, "berlin", at(14, 0)) != 0 {
		t.Errorf("second cancel freed a place again")
	}
	if _, err := b.svc.Reschedule(ctx, c.ID, Wish{}); !errors.Is(err, ErrState) {
		t.Errorf("reschedule a cancelled callback: %v, want ErrState", err)
	}
	if _, err := b.svc.MarkDone(ctx, c.ID); !errors.Is(err, ErrState) {
		t.Errorf("mark a cancelled callback done: %v, want ErrState", err)
	}
	for _, id := range []string{"00000000-0000-4000-8000-000000000000", "not-a-uuid"} {
		if _, err := b.svc.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
		if _, err := b.svc.Cancel(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Cancel(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestSlotsAndList(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{capacity: 2})
	ctx := testCtx(t)
	b.teams["munich"] = TeamSlots{Location: berlin, Capacity: 1}
	for i, r := range []Request{
		{TeamID: "berlin", Number: num(1), Wish: Wish{Slot: at(9, 15)}, RequestedAt: at(8, 40)},
		{TeamID: "berlin", Number: num(2), Wish: Wish{Slot: at(9, 15)}, RequestedAt: at(8, 30)},
		{TeamID: "berlin", Number: num(3), Wish: Wish{Slot: at(9, 0)}},
		{TeamID: "munich", Number: num(4), Wish: Wish{Slot: at(9, 0)}},
	} {
		if _, err := b.svc.Book(ctx, r); err != nil {
			t.Fatalf("booking %d: %v", i, err)
		}
	}
	slots, err := b.svc.Slots(ctx, "berlin", at(9, 0), at(10, 0))
	if err != nil || len(slots) != 4 {
		t.Fatalf("Slots = %d, %v, want 4", len(slots), err)
	}
	for i, want := range []int{1, 0, 2, 2} {
		if slots[i].Free() != want || slots[i].Capacity != 2 {
			t.Errorf("slot %v: free %d capacity %d, want free %d", slots[i].Start, slots[i].Free(), slots[i].Capacity, want)
		}
	}
	if s, err := b.svc.Slots(ctx, "berlin", at(12, 0), at(13, 0)); err != nil || len(s) != 0 {
		t.Errorf("lunch slots = %v, %v, want none", s, err)
	}
	if _, err := b.svc.Slots(ctx, "paris", at(9, 0), at(10, 0)); !errors.Is(err, ErrUnknownTeam) {
		t.Errorf("Slots of an unknown team: %v", err)
	}

	list, err := b.svc.List(ctx, Filter{TeamID: "berlin"})
	if err != nil || len(list) != 3 {
		t.Fatalf("List = %d, %v, want 3", len(list), err)
	}
	// Dialing order: slot, then who asked first.
	for i, want := range []string{num(3), num(2), num(1)} {
		if list[i].Number != want {
			t.Errorf("list[%d] = %s, want %s", i, list[i].Number, want)
		}
	}
	if _, err := b.svc.Cancel(ctx, list[0].ID); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		f    Filter
		want int
	}{
		{Filter{}, 4},
		{Filter{State: StateBooked}, 3},
		{Filter{TeamID: "berlin", State: StateCancelled}, 1},
		{Filter{From: at(9, 15)}, 2},
		{Filter{To: at(9, 15)}, 2},
		{Filter{Limit: 1}, 1},
	} {
		got, err := b.svc.List(ctx, tt.f)
		if err != nil || len(got) != tt.want {
			t.Errorf("List(%+v) = %d, %v, want %d", tt.f, len(got), err, tt.want)
		}
	}
	if _, err := b.svc.List(ctx, Filter{State: "lost"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("List with an unknown state: %v", err)
	}
}
