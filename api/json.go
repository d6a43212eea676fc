package api

import (
	"time"

	"github.com/teamline/teamline/callback"
)

// slotJSON is a slot as the API shows it.
type slotJSON struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Capacity int       `json:"capacity"`
	Booked   int       `json:"booked"`
	Free     int       `json:"free"`
}

func toSlots(ss []callback.Slot) []slotJSON {
	out := make([]slotJSON, len(ss))
	for i, s := range ss {
		out[i] = slotJSON{Start: s.Start, End: s.End, Capacity: s.Capacity, Booked: s.Booked, Free: s.Free()}
	}
	return out
}

// rangeJSON is the slot a callback is booked into.
type rangeJSON struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// callbackJSON is a callback as the API shows it.
type callbackJSON struct {
	ID          string    `json:"id"`
	Team        string    `json:"team"`
	CustomerID  string    `json:"customer_id,omitempty"`
	Number      string    `json:"number"`
	Reason      string    `json:"reason,omitempty"`
	State       string    `json:"state"`
	Slot        rangeJSON `json:"slot"`
	RequestedAt time.Time `json:"requested_at"`
	DueAt       time.Time `json:"due_at"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func toCallback(c callback.Callback) callbackJSON {
	return callbackJSON{
		ID: c.ID, Team: c.TeamID, CustomerID: c.CustomerID, Number: c.Number, Reason: c.Reason,
		State: string(c.State), Slot: rangeJSON{Start: c.SlotStart, End: c.SlotEnd},
		RequestedAt: c.RequestedAt, DueAt: c.DueAt, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

// attemptJSON is one dial attempt.
type attemptJSON struct {
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	Agent     string     `json:"agent,omitempty"`
	SIPStatus int        `json:"sip_status,omitempty"`
	Outcome   string     `json:"outcome,omitempty"`
	Counted   bool       `json:"counted"`
	Detail    string     `json:"detail,omitempty"`
}

// callbackDetailJSON is a callback with its attempts.
type callbackDetailJSON struct {
	callbackJSON
	Attempts []attemptJSON `json:"attempts"`
}

func toDetail(c callback.Callback) callbackDetailJSON {
	out := callbackDetailJSON{callbackJSON: toCallback(c), Attempts: make([]attemptJSON, len(c.Attempts))}
	for i, a := range c.Attempts {
		out.Attempts[i] = attemptJSON{
			StartedAt: a.StartedAt, EndedAt: a.EndedAt, Agent: a.AgentID, SIPStatus: a.SIPStatus,
			Outcome: string(a.Outcome), Counted: a.Counted, Detail: a.Detail,
		}
	}
	return out
}

// windowJSON is a wish window; either bound may be missing.
type windowJSON struct {
	From *time.Time `json:"from"`
	To   *time.Time `json:"to"`
}

// whenJSON says when a callback should be: exactly one of its fields.
type whenJSON struct {
	Slot   *time.Time  `json:"slot"`
	ASAP   bool        `json:"asap"`
	Window *windowJSON `json:"window"`
}

// bookJSON is the body of POST /v1/callbacks.
type bookJSON struct {
	Number string `json:"number"`
	Reason string `json:"reason"`
	whenJSON
}

// errorJSON is every error response.
type errorJSON struct {
	Error string `json:"error"`
	// NextFree lists the next free slots when the one asked for is full.
	NextFree []slotJSON `json:"next_free,omitempty"`
	// Callback is the open callback a number already has.
	Callback *callbackJSON `json:"callback,omitempty"`
}
