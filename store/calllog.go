package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"
)

// Defaults and bounds of CallLog.
const (
	// DefaultCallLogCapacity is the queue length NewCallLog uses for a
	// capacity <= 0: about ten minutes of 2 calls/s at 3 events per call.
	DefaultCallLogCapacity = 4096
	// callLogMinBackoff and callLogMaxBackoff bound the wait between two
	// attempts at the same write while the database is unreachable.
	callLogMinBackoff = 50 * time.Millisecond
	callLogMaxBackoff = 2 * time.Second
	// callLogWriteTimeout bounds one attempt, so that a connection that
	// hangs cannot stall the log for longer.
	callLogWriteTimeout = 10 * time.Second
	// callLogBatch is the most events written in one round trip.
	callLogBatch = 128
)

type eventKind uint8

const (
	eventStarted eventKind = iota + 1
	eventAnswered
	eventEnded
	eventTraced
	eventTransferred
)

func (k eventKind) String() string {
	switch k {
	case eventStarted:
		return "started"
	case eventAnswered:
		return "answered"
	case eventEnded:
		return "ended"
	case eventTraced:
		return "traced"
	case eventTransferred:
		return "transferred"
	}
	return "unknown"
}

// callEvent is one queued write. Started uses start; the others id, at and
// their own fields.
type callEvent struct {
	kind     eventKind
	start    CallStart
	id       string
	agentID  string
	outcome  Outcome
	hangupBy HangupBy
	reason   string
	trace    []string
	transfer Transfer
	at       time.Time
}

func (e *callEvent) callID() string {
	switch e.kind {
	case eventStarted:
		return e.start.ID
	case eventTransferred:
		return e.transfer.CallID
	}
	return e.id
}

// CallLog writes call records asynchronously, so that a slow or unreachable
// database never blocks or drops a call in progress. Started, Answered and
// Ended only enqueue; one worker (Run) writes the events in the order they
// were enqueued, and while the database is down it retries the event at the
// head of the queue with backoff, keeping the order. Events are dropped only
// when the queue is full (counted by Dropped, logged once per burst) or when
// the database refuses them for good (an unknown call, an invalid record).
//
// The writes are idempotent, so an event retried after a lost reply is
// harmless. A CallLog is safe for concurrent use.
type CallLog struct {
	store *Store
	log   zerolog.Logger

	// notify wakes the worker after an enqueue (capacity 1, never blocks).
	notify  chan struct{}
	running atomic.Bool
	dropped atomic.Uint64

	mu sync.Mutex
	// buf is a ring of len(buf) events; head is the oldest, n are queued.
	buf  []callEvent
	head int
	n    int
	// enqueued and processed count events ever accepted and ever finished
	// (written or refused for good); Flush waits for processed to catch up.
	enqueued  uint64
	processed uint64
	// progress is closed (and replaced) when processed grows while a Flush
	// waits (waiting is set).
	progress chan struct{}
	waiting  bool
	// dropping is set from the first drop of a burst until an event is
	// accepted again; burstDrops counts the burst.
	dropping   bool
	burstDrops uint64
}

// NewCallLog returns a CallLog writing to s with a queue of capacity events
// (DefaultCallLogCapacity if capacity <= 0). Nothing is written until Run is
// started.
func NewCallLog(s *Store, log zerolog.Logger, capacity int) *CallLog {
	if capacity <= 0 {
		capacity = DefaultCallLogCapacity
	}
	return &CallLog{
		store:    s,
		log:      log.With().Str("component", "calllog").Logger(),
		notify:   make(chan struct{}, 1),
		buf:      make([]callEvent, capacity),
		progress: make(chan struct{}),
	}
}

// Started enqueues the record of a new call. It never blocks.
func (c *CallLog) Started(start CallStart) {
	c.enqueue(callEvent{kind: eventStarted, start: start})
}

// Answered enqueues that agentID answered call id. It never blocks.
func (c *CallLog) Answered(id, agentID string, at time.Time) {
	c.enqueue(callEvent{kind: eventAnswered, id: id, agentID: agentID, at: at})
}

// Ended enqueues how call id ended. It never blocks.
func (c *CallLog) Ended(id string, outcome Outcome, hangupBy HangupBy, reason string, at time.Time) {
	c.enqueue(callEvent{kind: eventEnded, id: id, outcome: outcome, hangupBy: hangupBy, reason: reason, at: at})
}

// Traced stores the routing decision trace of a call (queued like the
// other events).
func (c *CallLog) Traced(id string, trace []string) {
	c.enqueue(callEvent{kind: eventTraced, id: id, trace: trace})
}

// Dropped returns how many events were dropped because the queue was full.
func (c *CallLog) Dropped() uint64 {
	return c.dropped.Load()
}

// Len returns the number of events waiting to be written.
func (c *CallLog) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *CallLog) enqueue(ev callEvent) {
	c.mu.Lock()
	if c.n == len(c.buf) {
		c.dropped.Add(1)
		c.burstDrops++
		first := !c.dropping
		c.dropping = true
		c.mu.Unlock()
		if first {
			c.log.Error().Str("call_id", ev.callID()).Str("event", ev.kind.String()).Int("capacity", len(c.buf)).
				Msg("call log queue full: dropping call records until it drains")
		}
		return
	}
	c.buf[(c.head+c.n)%len(c.buf)] = ev
	c.n++
	c.enqueued++
	var burst uint64
	if c.dropping {
		burst = c.burstDrops
		c.dropping = false
		c.burstDrops = 0
	}
	c.mu.Unlock()
	if burst > 0 {
		c.log.Warn().Uint64("dropped", burst).Msg("call log queue accepting records again")
	}
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// Flush waits until every event enqueued before the call has been written
// (or refused for good by the database). It returns ctx's error if ctx ends
// first, for example while the database is down.
func (c *CallLog) Flush(ctx context.Context) error {
	c.mu.Lock()
	target := c.enqueued
	for c.processed < target {
		c.waiting = true
		ch := c.progress
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("flush call log: %w", ctx.Err())
		}
		c.mu.Lock()
	}
	c.mu.Unlock()
	return nil
}

// Run writes queued events until ctx ends. Run it once, in its own
// goroutine; a second concurrent Run returns at once. Events still queued
// when ctx ends stay queued (call Flush before cancelling to write them).
func (c *CallLog) Run(ctx context.Context) {
	if !c.running.CompareAndSwap(false, true) {
		c.log.Error().Msg("call log is already running")
		return
	}
	defer c.running.Store(false)
	batch := make([]callEvent, 0, callLogBatch)
	for {
		c.mu.Lock()
		if c.n == 0 {
			c.mu.Unlock()
			select {
			case <-c.notify:
				continue
			case <-ctx.Done():
				return
			}
		}
		// Take what is queued, up to a batch: one round trip writes it.
		batch = batch[:0]
		for i := 0; i < c.n && i < callLogBatch; i++ {
			batch = append(batch, c.buf[(c.head+i)%len(c.buf)])
		}
		c.mu.Unlock()

		if len(batch) == 1 || !c.writeBatch(ctx, batch) {
			// One event, or a batch the database refused as a whole (one
			// bad event, or an outage): write one by one, which retries
			// while the database is down and drops only what it refuses.
			for i := range batch {
				if !c.write(ctx, &batch[i]) {
					return
				}
			}
		}

		c.mu.Lock()
		for range batch {
			c.buf[c.head] = callEvent{} // let the strings go
			c.head = (c.head + 1) % len(c.buf)
			c.n--
			c.processed++
		}
		if c.waiting {
			close(c.progress)
			c.progress = make(chan struct{})
			c.waiting = false
		}
		c.mu.Unlock()
	}
}

// write applies ev, retrying with backoff while the error is transient. It
// returns false only if ctx ended before ev was written.
func (c *CallLog) write(ctx context.Context, ev *callEvent) bool {
	backoff := callLogMinBackoff
	for attempt := 1; ; attempt++ {
		err := c.apply(ctx, ev)
		if err == nil {
			if attempt > 1 {
				c.log.Info().Str("call_id", ev.callID()).Int("attempts", attempt).
					Msg("call log writing again after database errors")
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if !transient(err) {
			c.log.Error().Err(err).Str("call_id", ev.callID()).Str("event", ev.kind.String()).
				Msg("call record refused by the database; dropped")
			return true
		}
		// The first failure of an outage is a warning; the retries, which
		// repeat it every few seconds, are debug.
		lvl := zerolog.DebugLevel
		if attempt == 1 {
			lvl = zerolog.WarnLevel
		}
		c.log.WithLevel(lvl).Err(err).Str("call_id", ev.callID()).Str("event", ev.kind.String()).
			Int("attempt", attempt).Msg("call log cannot write; retrying")
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		backoff = min(2*backoff, callLogMaxBackoff)
	}
}

func (c *CallLog) apply(ctx context.Context, ev *callEvent) error {
	ctx, cancel := context.WithTimeout(ctx, callLogWriteTimeout)
	defer cancel()
	st, err := ev.stmt()
	if err != nil {
		return err
	}
	return c.store.exec(ctx, st)
}

// Transferred enqueues one transfer of a call (queued like the other
// events, so it is written after the call's start).
func (c *CallLog) Transferred(t Transfer) {
	c.enqueue(callEvent{kind: eventTransferred, transfer: t})
}

// stmt is the write an event stands for.
func (e *callEvent) stmt() (callStmt, error) {
	switch e.kind {
	case eventStarted:
		return insertCallStmt(e.start)
	case eventAnswered:
		return answeredStmt(e.id, e.agentID, e.at)
	case eventEnded:
		return endedStmt(e.id, e.outcome, e.hangupBy, e.reason, e.at)
	case eventTraced:
		return traceStmt(e.id, e.trace), nil
	case eventTransferred:
		return transferStmt(e.transfer)
	}
	return callStmt{}, fmt.Errorf("call log event kind %d: %w", e.kind, ErrInvalid)
}

// writeBatch writes events in order in one round trip (one implicit
// transaction). It reports false, having written nothing, when any event is
// invalid or the database fails the batch; the caller then writes them one
// by one. An update of a call the database does not know is logged and
// skipped, as write does.
func (c *CallLog) writeBatch(ctx context.Context, evs []callEvent) bool {
	stmts, from, err := batchStmts(evs)
	if err != nil {
		return false
	}
	b := &pgx.Batch{}
	for _, st := range stmts {
		b.Queue(st.sql, st.args...)
	}
	ctx, cancel := context.WithTimeout(ctx, callLogWriteTimeout)
	defer cancel()
	tx, err := c.store.pool.Begin(ctx)
	if err != nil {
		return false
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	res := tx.SendBatch(ctx, b)
	var refused []int
	for i, st := range stmts {
		tag, err := res.Exec()
		if err = st.result(tag, err); err != nil {
			if !errors.Is(err, ErrNotFound) {
				_ = res.Close()
				return false
			}
			refused = append(refused, i)
		}
	}
	if err := res.Close(); err != nil {
		return false
	}
	if err := tx.Commit(ctx); err != nil {
		return false
	}
	for _, k := range refused {
		ev := &evs[from[k]]
		c.log.Error().Str("call_id", ev.callID()).Str("event", ev.kind.String()).
			Msg("call record refused by the database (unknown call); dropped")
	}
	return true
}

// batchStmts turns a batch of events into its statements, in order. A
// call's trace and the end of the call that follows it in the batch (a call
// ends with both, from one goroutine) become one statement; a trace is
// folded only into the next end of the same call, and only when no other
// trace of that call comes between, so the last word still wins. from[k] is
// the event statement k stands for (the end, for a folded pair).
func batchStmts(evs []callEvent) (stmts []callStmt, from []int, err error) {
	// traceOf[j] is 1 + the index of the trace folded into end j; 0 none.
	traceOf := make([]int, len(evs))
	folded := make([]bool, len(evs))
	for i := range evs {
		if evs[i].kind != eventTraced {
			continue
		}
		for j := i + 1; j < len(evs); j++ {
			if evs[j].callID() != evs[i].id {
				continue
			}
			if evs[j].kind == eventEnded {
				traceOf[j], folded[i] = i+1, true
			}
			if evs[j].kind == eventEnded || evs[j].kind == eventTraced {
				break
			}
		}
	}
	stmts = make([]callStmt, 0, len(evs))
	from = make([]int, 0, len(evs))
	for i := range evs {
		if folded[i] {
			continue
		}
		var st callStmt
		if t := traceOf[i]; t > 0 {
			e := &evs[i]
			st, err = endedTracedStmt(e.id, e.outcome, e.hangupBy, e.reason, e.at, evs[t-1].trace)
		} else {
			st, err = evs[i].stmt()
		}
		if err != nil {
			return nil, nil, err
		}
		stmts = append(stmts, st)
		from = append(from, i)
	}
	return stmts, from, nil
}

// transient reports whether a write that failed with err may succeed later:
// connection failures, a server shutting down or starting up, resource
// exhaustion, serialization failures, timeouts. Refusals of the data itself
// (an unknown call, a constraint violation) are not.
func transient(err error) bool {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
		return false
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		// Includes "the database system is starting up" and missing
		// databases or roles during a restore: wait for them.
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if len(pgErr.Code) != 5 {
			return false
		}
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"40", // transaction rollback: serialization failure, deadlock
			"53", // insufficient resources: disk full, too many connections
			"57", // operator intervention: shutdown, cannot connect now
			"58": // system error: I/O
			return true
		}
		return false
	}
	// Network errors, timeouts, a closed connection, a pool still dialling.
	return true
}
