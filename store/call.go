package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Outcome is how a call ended, as recorded in calls.outcome.
type Outcome string

// The outcomes a call can have.
const (
	// OutcomeAnswered: an agent answered the call.
	OutcomeAnswered Outcome = "answered"
	// OutcomeAbandoned: the caller hung up before anybody answered.
	OutcomeAbandoned Outcome = "abandoned"
	// OutcomeUnanswered: nobody answered and Teamline ended the call (for
	// example after booking a callback).
	OutcomeUnanswered Outcome = "unanswered"
	// OutcomeRejected: Teamline refused the call (unknown trunk, overload).
	OutcomeRejected Outcome = "rejected"
)

// Valid reports whether o is one of the Outcome constants.
func (o Outcome) Valid() bool {
	switch o {
	case OutcomeAnswered, OutcomeAbandoned, OutcomeUnanswered, OutcomeRejected:
		return true
	}
	return false
}

// HangupBy is the party that ended a call, as recorded in calls.hangup_by.
type HangupBy string

// The parties that can end a call.
const (
	// HangupCaller: the customer hung up.
	HangupCaller HangupBy = "caller"
	// HangupAgent: the agent hung up.
	HangupAgent HangupBy = "agent"
	// HangupSystem: Teamline ended the call.
	HangupSystem HangupBy = "system"
)

// Valid reports whether h is one of the HangupBy constants. The empty
// HangupBy is not valid but is accepted by MarkEnded (stored as NULL).
func (h HangupBy) Valid() bool {
	switch h {
	case HangupCaller, HangupAgent, HangupSystem:
		return true
	}
	return false
}

// CallStart is what is known about a call when it arrives.
type CallStart struct {
	// ID is the call's UUID (see NewCallID), chosen by the caller of
	// InsertCall so that later updates can name it without a round trip.
	ID string
	// SIPCallID is the Call-ID header of the inbound leg.
	SIPCallID string
	// CallerNumber is the caller in E.164, or the raw caller ID when it did
	// not parse. Required.
	CallerNumber string
	// CustomerID is the customer the number belongs to; empty if unknown.
	CustomerID string
	// TeamID is the team the call was routed to; empty if none.
	TeamID string
	// Trunk is the name of the trunk the call came in on; may be empty.
	Trunk string
	// At is when the call arrived.
	At time.Time
}

// Call is one row of the calls table. Nullable text columns read as "".
type Call struct {
	// ID is the call's UUID in its canonical text form.
	ID           string
	SIPCallID    string
	CallerNumber string
	CustomerID   string
	TeamID       string
	// AgentID is the agent who answered; empty if nobody did.
	AgentID   string
	Trunk     string
	CreatedAt time.Time
	// AnsweredAt is nil until an agent answered.
	AnsweredAt *time.Time
	// EndedAt is nil while the call is in progress.
	EndedAt *time.Time
	// Outcome is empty while the call is in progress.
	Outcome Outcome
	// HangupBy is empty while the call is in progress, or if unknown.
	HangupBy  HangupBy
	EndReason string
	// Trace is the routing decision trace: why the call went where it went.
	Trace []string
}

// NewCallID returns a new random (version 4) UUID for CallStart.ID.
func NewCallID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// nullable maps "" to SQL NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ErrInvalid is returned for a call record that lacks a required field or
// has a value the schema does not allow (an unknown outcome, an ID that is
// not a UUID).
var ErrInvalid = errors.New("invalid call record")

// sqlstateInvalidText is invalid_text_representation, e.g. a malformed UUID.
const sqlstateInvalidText = "22P02"

// isInvalidText reports whether PostgreSQL refused a parameter's text form.
func isInvalidText(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == sqlstateInvalidText
}

// callStmt is one write of a call record: the statement, its arguments,
// and whether it must touch a row (an update of an existing call).
type callStmt struct {
	what     string // for errors: "insert call X", "mark call X answered"...
	sql      string
	args     []any
	needsRow bool
}

// exec runs one statement on the pool.
func (s *Store) exec(ctx context.Context, st callStmt) error {
	tag, err := s.pool.Exec(ctx, st.sql, st.args...)
	return st.result(tag, err)
}

// result turns a statement's outcome into the store's errors.
func (st callStmt) result(tag pgconn.CommandTag, err error) error {
	if isInvalidText(err) {
		if st.needsRow {
			return fmt.Errorf("%s: %w", st.what, ErrNotFound)
		}
		return fmt.Errorf("%s: %w: %w", st.what, ErrInvalid, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", st.what, err)
	}
	if st.needsRow && tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", st.what, ErrNotFound)
	}
	return nil
}

func insertCallStmt(c CallStart) (callStmt, error) {
	if c.ID == "" || c.SIPCallID == "" || c.CallerNumber == "" || c.At.IsZero() {
		return callStmt{}, fmt.Errorf("insert call %q: id, sip call id, caller number and time are required: %w", c.ID, ErrInvalid)
	}
	return callStmt{what: "insert call " + c.ID, sql: `insert into calls
	(id, sip_call_id, caller_number, customer_id, team_id, trunk, created_at)
	values ($1, $2, $3, $4, $5, $6, $7)
	on conflict (id) do nothing`,
		args: []any{c.ID, c.SIPCallID, c.CallerNumber, nullable(c.CustomerID), nullable(c.TeamID), nullable(c.Trunk), c.At}}, nil
}

func answeredStmt(id, agentID string, at time.Time) (callStmt, error) {
	if agentID == "" || at.IsZero() {
		return callStmt{}, fmt.Errorf("mark call %s answered: agent and time are required: %w", id, ErrInvalid)
	}
	return callStmt{what: "mark call " + id + " answered", needsRow: true,
		sql: "update calls set agent_id = $2, answered_at = $3 where id = $1", args: []any{id, agentID, at}}, nil
}

func endedStmt(id string, outcome Outcome, hangupBy HangupBy, reason string, at time.Time) (callStmt, error) {
	if !outcome.Valid() || (hangupBy != "" && !hangupBy.Valid()) || at.IsZero() {
		return callStmt{}, fmt.Errorf("mark call %s ended: outcome %q, hangup by %q: %w", id, outcome, hangupBy, ErrInvalid)
	}
	return callStmt{what: "mark call " + id + " ended", needsRow: true,
		sql:  "update calls set outcome = $2, hangup_by = $3, end_reason = $4, ended_at = $5 where id = $1",
		args: []any{id, string(outcome), nullable(string(hangupBy)), nullable(reason), at}}, nil
}

// endedTracedStmt is endedStmt that also stores the call's decision trace:
// one row version instead of two for the pair every call ends with.
func endedTracedStmt(id string, outcome Outcome, hangupBy HangupBy, reason string, at time.Time, trace []string) (callStmt, error) {
	st, err := endedStmt(id, outcome, hangupBy, reason, at)
	if err != nil {
		return st, err
	}
	if trace == nil {
		trace = []string{}
	}
	st.what = "mark call " + id + " ended, with its trace"
	st.sql = "update calls set outcome = $2, hangup_by = $3, end_reason = $4, ended_at = $5, trace = $6 where id = $1"
	st.args = append(st.args, trace)
	return st, nil
}

func traceStmt(id string, trace []string) callStmt {
	if trace == nil {
		trace = []string{}
	}
	return callStmt{what: "store trace of call " + id, needsRow: true,
		sql: "update calls set trace = $2 where id = $1", args: []any{id, trace}}
}

// InsertCall records a new call. Inserting the same ID again is a no-op, so
// that a write retried after a lost reply does not fail.
func (s *Store) InsertCall(ctx context.Context, c CallStart) error {
	st, err := insertCallStmt(c)
	if err != nil {
		return err
	}
	return s.exec(ctx, st)
}

// MarkAnswered records that agentID answered call id at the given time. It
// returns ErrNotFound if there is no such call.
func (s *Store) MarkAnswered(ctx context.Context, id, agentID string, at time.Time) error {
	st, err := answeredStmt(id, agentID, at)
	if err != nil {
		return err
	}
	return s.exec(ctx, st)
}

// MarkEnded records how and when call id ended. An empty hangupBy or reason
// is stored as NULL. It returns ErrNotFound if there is no such call.
func (s *Store) MarkEnded(ctx context.Context, id string, outcome Outcome, hangupBy HangupBy, reason string, at time.Time) error {
	st, err := endedStmt(id, outcome, hangupBy, reason, at)
	if err != nil {
		return err
	}
	return s.exec(ctx, st)
}

// callColumns are read by scanCall, in its order.
const callColumns = `id::text, sip_call_id, caller_number, coalesce(customer_id, ''),
	coalesce(team_id, ''), coalesce(agent_id, ''), coalesce(trunk, ''), created_at,
	answered_at, ended_at, coalesce(outcome, ''), coalesce(hangup_by, ''), coalesce(end_reason, ''), trace`

func scanCall(row pgx.CollectableRow) (Call, error) {
	var c Call
	err := row.Scan(&c.ID, &c.SIPCallID, &c.CallerNumber, &c.CustomerID, &c.TeamID, &c.AgentID,
		&c.Trunk, &c.CreatedAt, &c.AnsweredAt, &c.EndedAt, &c.Outcome, &c.HangupBy, &c.EndReason, &c.Trace)
	return c, err
}

// Call returns the call with the given ID, or ErrNotFound.
func (s *Store) Call(ctx context.Context, id string) (Call, error) {
	rows, err := s.pool.Query(ctx, "select "+callColumns+" from calls where id = $1", id)
	if err != nil {
		return Call{}, fmt.Errorf("read call %s: %w", id, err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCall)
	if errors.Is(err, pgx.ErrNoRows) || isInvalidText(err) {
		return Call{}, fmt.Errorf("read call %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Call{}, fmt.Errorf("read call %s: %w", id, err)
	}
	return c, nil
}

// CallsBySIPCallID returns the calls whose inbound leg had the given Call-ID,
// oldest first (a Call-ID is meant to be unique, but trunks reuse them).
func (s *Store) CallsBySIPCallID(ctx context.Context, sipCallID string) ([]Call, error) {
	rows, err := s.pool.Query(ctx,
		"select "+callColumns+" from calls where sip_call_id = $1 order by created_at, id", sipCallID)
	if err != nil {
		return nil, fmt.Errorf("read calls with sip call id %q: %w", sipCallID, err)
	}
	cs, err := pgx.CollectRows(rows, scanCall)
	if err != nil {
		return nil, fmt.Errorf("read calls with sip call id %q: %w", sipCallID, err)
	}
	return cs, nil
}

// Limits of RecentCalls.
const (
	// DefaultRecentCalls is the number of calls RecentCalls returns for a
	// limit <= 0.
	DefaultRecentCalls = 20
	// MaxRecentCalls is the most calls RecentCalls returns.
	MaxRecentCalls = 1000
)

// RecentCalls returns the customer's latest calls, newest first, at most
// limit of them (DefaultRecentCalls if limit <= 0, at most MaxRecentCalls).
func (s *Store) RecentCalls(ctx context.Context, customerID string, limit int) ([]Call, error) {
	if customerID == "" {
		return nil, fmt.Errorf("read recent calls: customer id is required: %w", ErrInvalid)
	}
	if limit <= 0 {
		limit = DefaultRecentCalls
	}
	limit = min(limit, MaxRecentCalls)
	rows, err := s.pool.Query(ctx,
		"select "+callColumns+" from calls where customer_id = $1 order by created_at desc, id desc limit $2",
		customerID, limit)
	if err != nil {
		return nil, fmt.Errorf("read recent calls of customer %s: %w", customerID, err)
	}
	cs, err := pgx.CollectRows(rows, scanCall)
	if err != nil {
		return nil, fmt.Errorf("read recent calls of customer %s: %w", customerID, err)
	}
	return cs, nil
}

// SetCallTrace stores the routing decision trace of a call.
func (s *Store) SetCallTrace(ctx context.Context, id string, trace []string) error {
	return s.exec(ctx, traceStmt(id, trace))
}

// LastContact is the agent who last talked to a customer.
type LastContact struct {
	CustomerID, AgentID string
	At                  time.Time
}

// LastContacts returns, for every customer with an answered call since the
// given time, the agent of their latest answered call: what routing's
// affinity cache starts from.
func (s *Store) LastContacts(ctx context.Context, since time.Time) ([]LastContact, error) {
	rows, err := s.pool.Query(ctx, `select distinct on (customer_id) customer_id, agent_id, answered_at
		from calls where customer_id is not null and agent_id is not null and answered_at >= $1
		order by customer_id, answered_at desc`, since)
	if err != nil {
		return nil, fmt.Errorf("read last contacts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LastContact, error) {
		var c LastContact
		err := row.Scan(&c.CustomerID, &c.AgentID, &c.At)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read last contacts: %w", err)
	}
	return out, nil
}
