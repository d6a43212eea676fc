// Package callback books callbacks into per-team slots and dials them when
// they fall due, durably and exactly once.
//
// # Slots
//
// A team's slots follow each other (TeamSlots.SlotLength, 15 minutes by
// default) from the start of each range in which the team is open (Hours);
// a slot that would run past closing is dropped. Each slot holds
// TeamSlots.Capacity callbacks. PostgreSQL keeps a slot from being overbooked:
// a booking takes a place with
//
//	update callback_slots set booked = booked + 1 where ... and booked < capacity
//
// in the booking's transaction, so concurrent bookings queue on the slot's row
// and the one that finds it full moves on to the next slot (or fails with a
// *FullError listing the next free slots). Cancelling frees the place;
// completed and failed callbacks keep theirs. Retries of an unanswered
// callback take no new place.
//
// # Booking
//
// Service.Book books into one given slot, the earliest slot with room in a
// window, or the earliest slot with room at all (Service.BookEarliest), never
// sooner than TeamSlots.LeadTime from now. A number has at most one open
// (booked or dialing) callback; Service.OpenCallback finds it, so that a
// caller who calls again can be told its time, and Service.MarkDone closes it
// when that call is answered. A callback remembers when the customer first
// asked (RequestedAt); Service.Reschedule keeps it.
//
// # Dialing
//
// A River job (DialCallbackArgs) is inserted in the booking's transaction,
// scheduled at the slot's start: a booking that rolls back leaves no job, and
// a committed one always has its job. A job is a turn to dial for its team:
// when it runs, it claims the team's oldest due callback, in order of slot
// and then of RequestedAt, with SELECT ... FOR UPDATE SKIP LOCKED and a move
// from booked to dialing, and records the attempt as started in the same
// transaction, before the Dialer is called. Usually that is the job's own
// callback; if an older one is due whose job has not run yet, the older one
// goes first and the other job serves the younger. So a callback never jumps
// ahead of an older one, jobs that run at the same time claim the next ones
// in parallel, and no due callback is left without a job: each booking,
// retry and reschedule adds one job, each claim uses one, and cancelling
// withdraws a callback together with its waiting job. A job that finds
// nothing due does nothing (its callback was served by another job), unless
// it is still its callback's job and the callback is due later by this
// process's clock, when it waits for that time.
//
// River runs a job on one worker at a time, even across processes, and the
// claim gives each due callback to one job. The Dialer's outcome then
// decides:
//
//   - answered: the callback is completed;
//   - busy, no answer, failed (or a Dialer error): the attempt is spent, and
//     the callback is booked again DialPolicy.RetryDelay later (with a new
//     job), or fails after DialPolicy.MaxAttempts spent attempts;
//   - no agent free: the attempt is recorded but not spent, the callback goes
//     back to booked and the job is snoozed for DialPolicy.NoAgentRetry; once
//     the callback has been due for DialPolicy.OverflowAfter, DialRequest's
//     Overflow asks the Dialer to ring the national pool.
//
// # Recovery
//
// If the process dies during an attempt, River rescues the job once it has
// been running longer than its timeout plus a minute, and the job runs again.
// It first looks for an attempt it claimed that has no result. Whether the
// customer was called is then unknown, so the rule is: the attempt is never
// redone. It is closed as "interrupted", counts as a spent attempt, and the
// callback is retried after RetryDelay (or fails if it was the last attempt),
// exactly as if the customer had not answered. The same rule applies when the
// result of an attempt could not be written within about thirty seconds (the
// database was away).
//
// # Wiring
//
// Run Migrate after store.Migrate: it applies River's own migrations. New
// builds a Service with its own River client; Start begins dialing (only with
// a Dialer) and Stop drains the attempts in progress.
package callback
