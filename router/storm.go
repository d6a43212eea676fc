package router

import (
	"strconv"
	"time"

	"github.com/teamline/teamline/config"
)

// Load is what a team is carrying right now, as the call layer counts it.
// It is read when a call is planned; the call being planned is not in it.
type Load struct {
	// Ringing is how many callers of the team are ringing agents now.
	Ringing int
	// Waiting is how many callers of the team wait with no agent ringing
	// (between steps, or with nobody free to ring).
	Waiting int
	// Overflow is how many storm-overflow calls from other teams the team
	// is taking now (counted against neighbour and pool caps).
	Overflow int
	// Storm is the team's storm state, as last returned by the router.
	Storm StormState
}

// StormState is whether a team is in storm mode. The call layer keeps it per
// team and stores what StormEvent transitions return.
type StormState struct {
	// Active reports whether the team is in storm mode.
	Active bool
	// Since is when the team entered storm mode.
	Since time.Time
}

// StormTransition is a change of a team's storm mode.
type StormTransition int

const (
	// StormNone means the storm mode did not change.
	StormNone StormTransition = iota
	// StormEntered means the team entered storm mode.
	StormEntered
	// StormExited means the team left storm mode.
	StormExited
)

// String names the transition ("storm started").
func (k StormTransition) String() string {
	switch k {
	case StormEntered:
		return "storm started"
	case StormExited:
		return "storm ended"
	}
	return "no change"
}

// StormEvent reports a change of a team's storm mode, for logs and the
// wallboard, with the figures that caused it.
type StormEvent struct {
	// Kind is the transition; StormNone when nothing changed.
	Kind StormTransition
	// Team is the team's ID.
	Team string
	// State is the team's storm state after the event; store it.
	State StormState
	// Ringing, Waiting and Free are the figures the decision was made on:
	// callers ringing, callers waiting and agents free to answer.
	Ringing, Waiting, Free int
	// At is when the transition happened.
	At time.Time
}

// String describes the event in one line ("team berlin: storm started (4
// callers ringing, 3 agents free, 0 waiting)").
func (e StormEvent) String() string {
	return "team " + e.Team + ": " + e.Kind.String() + " (" + stormFigures(e.Ringing, e.Free, e.Waiting) + ")"
}

func stormFigures(ringing, free, waiting int) string {
	return strconv.Itoa(ringing) + " callers ringing, " + strconv.Itoa(free) + " agents free, " +
		strconv.Itoa(waiting) + " waiting"
}

// EvalStorm is the storm state machine of one team: given its state, its
// load, how many agents are free to answer (registered and available or
// ringing) and the time, it returns the next state and the transition.
//
// A team enters storm mode when more callers ring than agents are free, or
// when WaitingEnter callers wait. It leaves, with hysteresis, only when at
// least ExitMargin agents are free beyond the callers ringing, at most
// WaitingExit callers wait, and the storm has lasted MinDuration. A team
// whose storm mode is disabled is never in storm.
func EvalStorm(cfg config.Storm, st StormState, load Load, free int, now time.Time) (StormState, StormEvent) {
	ev := StormEvent{Ringing: load.Ringing, Waiting: load.Waiting, Free: free, At: now}
	if !cfg.Enabled {
		if st.Active {
			ev.Kind, ev.State = StormExited, StormState{}
			return ev.State, ev
		}
		ev.State = st
		return st, ev
	}
	if !st.Active {
		if load.Ringing > free || (cfg.WaitingEnter > 0 && load.Waiting >= cfg.WaitingEnter) {
			st = StormState{Active: true, Since: now}
			ev.Kind = StormEntered
		}
		ev.State = st
		return st, ev
	}
	if free-load.Ringing >= cfg.ExitMargin && load.Waiting <= cfg.WaitingExit && now.Sub(st.Since) >= cfg.MinDuration {
		st = StormState{}
		ev.Kind = StormExited
	}
	ev.State = st
	return st, ev
}
