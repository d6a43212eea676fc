package callback

import (
	"errors"
	"fmt"
	"time"
)

// State is where a callback is in its life, as stored in callbacks.state.
type State string

// The states of a callback.
const (
	// StateBooked: waiting for its slot (or for a retry).
	StateBooked State = "booked"
	// StateDialing: an attempt is in progress.
	StateDialing State = "dialing"
	// StateCompleted: the customer was reached (or called in themselves and
	// was answered).
	StateCompleted State = "completed"
	// StateFailed: every attempt was spent without reaching the customer.
	StateFailed State = "failed"
	// StateCancelled: cancelled before it was dialed; its place was freed.
	StateCancelled State = "cancelled"
)

// Valid reports whether s is one of the State constants.
func (s State) Valid() bool {
	switch s {
	case StateBooked, StateDialing, StateCompleted, StateFailed, StateCancelled:
		return true
	}
	return false
}

// Open reports whether a callback in state s is still to be done.
func (s State) Open() bool {
	return s == StateBooked || s == StateDialing
}

// Outcome is how one dial attempt ended, as stored in
// callback_attempts.outcome.
type Outcome string

// The outcomes of an attempt.
const (
	// OutcomeAnswered: the customer answered and was bridged to the agent.
	OutcomeAnswered Outcome = "answered"
	// OutcomeBusy: the customer's line was busy (486, 600).
	OutcomeBusy Outcome = "busy"
	// OutcomeNoAnswer: the customer did not answer in time.
	OutcomeNoAnswer Outcome = "no_answer"
	// OutcomeFailed: the customer leg failed for another reason, or the
	// Dialer returned an error.
	OutcomeFailed Outcome = "failed"
	// OutcomeNoAgent: no agent was free; the customer was not called and the
	// attempt is not spent.
	OutcomeNoAgent Outcome = "no_agent"
	// OutcomeInterrupted: the process died during the attempt; found and
	// closed on recovery, and spent (see the package documentation).
	OutcomeInterrupted Outcome = "interrupted"
)

// Valid reports whether o is one of the Outcome constants.
func (o Outcome) Valid() bool {
	switch o {
	case OutcomeAnswered, OutcomeBusy, OutcomeNoAnswer, OutcomeFailed, OutcomeNoAgent, OutcomeInterrupted:
		return true
	}
	return false
}

// counted reports whether an attempt with outcome o spends one of the
// callback's attempts.
func (o Outcome) counted() bool {
	return o != OutcomeNoAgent
}

// Callback is one booked callback.
type Callback struct {
	// ID is the callback's UUID.
	ID string
	// TeamID is the team that calls back.
	TeamID string
	// CustomerID is the customer, if known.
	CustomerID string
	// Number is the customer's number in E.164.
	Number string
	// Reason is what the customer wants, if they said.
	Reason string
	// State is where the callback is.
	State State
	// SlotStart and SlotEnd bound the slot it is booked into.
	SlotStart time.Time
	SlotEnd   time.Time
	// RequestedAt is when the customer first asked; a reschedule keeps it.
	RequestedAt time.Time
	// DueAt is when the next attempt may start: the slot start, or the time
	// of a retry.
	DueAt time.Time
	// CreatedAt and UpdatedAt are when the row was written.
	CreatedAt time.Time
	UpdatedAt time.Time
	// Attempts lists the dial attempts, oldest first. Only Get fills it.
	Attempts []Attempt

	jobID int64
}

// Attempt is one try at dialing a callback.
type Attempt struct {
	// ID orders the attempts of all callbacks.
	ID int64
	// StartedAt is when the attempt was claimed.
	StartedAt time.Time
	// EndedAt is nil while the attempt is in progress.
	EndedAt *time.Time
	// AgentID is the agent who took the call, if one was found.
	AgentID string
	// SIPStatus is the final SIP status reported by the Dialer; 0 if none.
	SIPStatus int
	// Outcome is empty while the attempt is in progress.
	Outcome Outcome
	// Counted reports whether the attempt spends one of the callback's
	// attempts.
	Counted bool
	// Detail is a free-form explanation (an error message), if any.
	Detail string
}

// ErrNotFound is returned when a callback does not exist.
var ErrNotFound = errors.New("callback not found")

// ErrUnknownTeam is returned for a team that has no callback configuration
// (or a capacity of zero).
var ErrUnknownTeam = errors.New("team takes no callbacks")

// ErrInvalid is returned for a request that lacks a required field or
// contradicts itself.
var ErrInvalid = errors.New("invalid callback request")

// ErrNoSuchSlot is returned when a requested slot start is not a slot of the
// team (not aligned, outside opening hours) or starts sooner than the lead
// time allows.
var ErrNoSuchSlot = errors.New("no such slot")

// ErrFull is matched (errors.Is) by a *FullError: the slot or window asked
// for has no free place.
var ErrFull = errors.New("no free place")

// ErrAlreadyBooked is matched (errors.Is) by an *AlreadyBookedError: the
// number already has an open callback.
var ErrAlreadyBooked = errors.New("number already has an open callback")

// ErrState is returned when a callback is not in a state that allows the
// change (rescheduling one that is being dialed, cancelling a completed one).
var ErrState = errors.New("callback is in the wrong state")

// FullError reports that no place was free, with the next free slots after
// what was asked for (at most a few, possibly none).
type FullError struct {
	// TeamID is the team asked for.
	TeamID string
	// Next lists the next slots with room, earliest first.
	Next []Slot
}

// Error describes the error.
func (e *FullError) Error() string {
	return fmt.Sprintf("team %s: %v", e.TeamID, ErrFull)
}

// Is makes errors.Is(err, ErrFull) true.
func (e *FullError) Is(target error) bool { return target == ErrFull }

// AlreadyBookedError reports that the number already has an open callback.
type AlreadyBookedError struct {
	// Existing is the open callback.
	Existing Callback
}

// Error describes the error.
func (e *AlreadyBookedError) Error() string {
	return fmt.Sprintf("%v: %s", ErrAlreadyBooked, e.Existing.ID)
}

// Is makes errors.Is(err, ErrAlreadyBooked) true.
func (e *AlreadyBookedError) Is(target error) bool { return target == ErrAlreadyBooked }
