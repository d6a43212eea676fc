package web

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/store"
)

// LiveCall is a call ringing or in progress, as the SIP edge describes it
// for an agent's screen.
type LiveCall struct {
	// ID is the call record id (X-Teamline-Call).
	ID string
	// Number is the caller's number.
	Number string
	// CustomerID is the customer; empty when unknown.
	CustomerID string
	// CustomerName is the customer's display name; may be empty.
	CustomerName string
	// TeamID is the team that takes the call.
	TeamID string
	// Trace is the routing decision trace so far: why the call rings whom.
	Trace []string
}

// History is what the customer view reads and the note forms write;
// *store.Store satisfies it.
type History interface {
	Call(ctx context.Context, id string) (store.Call, error)
	Contacts(ctx context.Context, customerID, number string, limit int) ([]store.Contact, error)
	CallNotes(ctx context.Context, callIDs ...string) ([]store.Note, error)
	AddNote(ctx context.Context, n store.Note) (store.Note, error)
}

// OpenCallback is a callback booked for a caller that has not happened yet.
type OpenCallback struct {
	// SlotStart and SlotEnd bound the slot it is booked into.
	SlotStart time.Time `json:"slot_start"`
	SlotEnd   time.Time `json:"slot_end"`
	// State is "booked" or "dialing".
	State string `json:"state"`
	// Reason is what the customer wants, if they said.
	Reason string `json:"reason,omitempty"`
}

// contactsShown is how many earlier contacts the customer view lists.
const contactsShown = 10

// viewTimeout bounds the database reads of one customer view.
const viewTimeout = 3 * time.Second

// CustomerView is everything an agent should know about a caller before
// saying hello: who they are, their last contacts with the notes written
// about them, their open callbacks and, for this call, why it came to this
// agent and what colleagues already wrote. The console renders it from
// JSON, the Call-Info page as HTML.
type CustomerView struct {
	CallID       string `json:"call_id"`
	Number       string `json:"number"`
	CustomerID   string `json:"customer_id,omitempty"`
	CustomerName string `json:"customer_name,omitempty"`
	TeamID       string `json:"team_id,omitempty"`
	TeamName     string `json:"team_name,omitempty"`
	// Live is true while the call rings or is in progress.
	Live bool `json:"live"`
	// Trace is the routing decision trace: why this call came to this agent.
	Trace []string `json:"trace"`
	// Notes are the notes already written on this call (a transferring
	// agent's note), oldest first.
	Notes []NoteView `json:"notes"`
	// Contacts are the caller's earlier calls, newest first, without this one.
	Contacts []ContactView `json:"contacts"`
	// Callbacks are the caller's open callbacks.
	Callbacks []OpenCallback `json:"callbacks"`
	// Missing names the parts that could not be read ("contacts",
	// "callbacks"), so that the screen says so rather than showing nothing.
	Missing []string `json:"missing,omitempty"`
}

// NoteView is a note as the customer view shows it.
type NoteView struct {
	Kind      string    `json:"kind"`
	Body      string    `json:"body"`
	AgentID   string    `json:"agent_id"`
	AgentName string    `json:"agent_name"`
	At        time.Time `json:"at"`
}

// ContactView is one earlier call as the customer view shows it.
type ContactView struct {
	CallID    string     `json:"call_id"`
	At        time.Time  `json:"at"`
	TeamID    string     `json:"team_id,omitempty"`
	AgentID   string     `json:"agent_id,omitempty"`
	AgentName string     `json:"agent_name,omitempty"`
	Outcome   string     `json:"outcome,omitempty"`
	Notes     []NoteView `json:"notes"`
}

// viewer builds customer views from the live call, the database, the
// callbacks and the roster.
type viewer struct {
	live      func(callID string) (LiveCall, bool)
	history   History
	callbacks func(ctx context.Context, number string) ([]OpenCallback, error)
	roster    func() *roster.Snapshot
	log       zerolog.Logger
}

// errUnknownCall is returned for a call that is neither live nor recorded
// and for which the caller of build knows nothing either.
var errUnknownCall = errors.New("unknown call")

// build returns the customer view of callID. fallback (from a signed link)
// identifies the caller when the call is no longer live and its record is
// not written yet; it may be zero.
func (v *viewer) build(ctx context.Context, callID string, fallback CallLink) (CustomerView, error) {
	ctx, cancel := context.WithTimeout(ctx, viewTimeout)
	defer cancel()
	view := CustomerView{CallID: callID, Trace: []string{}, Notes: []NoteView{}, Contacts: []ContactView{}, Callbacks: []OpenCallback{}}
	log := v.log.With().Str("record", callID).Logger()
	if lc, ok := v.liveCall(callID); ok {
		view.Live = true
		view.Number, view.CustomerID, view.CustomerName, view.TeamID = lc.Number, lc.CustomerID, lc.CustomerName, lc.TeamID
		view.Trace = append(view.Trace, lc.Trace...)
	} else if rec, err := v.history.Call(ctx, callID); err == nil {
		view.Number, view.CustomerID, view.TeamID = rec.CallerNumber, rec.CustomerID, rec.TeamID
		view.Trace = append(view.Trace, rec.Trace...)
	} else if fallback.Number != "" || fallback.CustomerID != "" {
		if !errors.Is(err, store.ErrNotFound) {
			log.Warn().Err(err).Msg("customer view: call record")
		}
		view.Number, view.CustomerID = fallback.Number, fallback.CustomerID
	} else {
		if errors.Is(err, store.ErrNotFound) {
			return CustomerView{}, errUnknownCall
		}
		return CustomerView{}, err
	}

	snap := v.snapshot()
	if snap != nil {
		if c, ok := snap.Customer(view.Number); ok && view.CustomerName == "" && (view.CustomerID == "" || c.ID == view.CustomerID) {
			view.CustomerName = c.Name
			view.CustomerID = c.ID
		}
		if t, ok := snap.Team(view.TeamID); ok {
			view.TeamName = t.Name
		}
	}

	if notes, err := v.history.CallNotes(ctx, callID); err != nil {
		log.Warn().Err(err).Msg("customer view: notes of the call")
		view.Missing = append(view.Missing, "notes")
	} else {
		for _, n := range notes {
			view.Notes = append(view.Notes, v.note(snap, n))
		}
	}
	if view.CustomerID != "" || view.Number != "" {
		contacts, err := v.history.Contacts(ctx, view.CustomerID, view.Number, contactsShown+1)
		if err != nil {
			log.Warn().Err(err).Msg("customer view: contacts")
			view.Missing = append(view.Missing, "contacts")
		}
		for _, c := range contacts {
			if c.Call.ID == callID || len(view.Contacts) == contactsShown {
				continue
			}
			cv := ContactView{CallID: c.Call.ID, At: c.Call.CreatedAt, TeamID: c.Call.TeamID, AgentID: c.Call.AgentID,
				AgentName: v.agentName(snap, c.Call.AgentID), Outcome: string(c.Call.Outcome), Notes: []NoteView{}}
			for _, n := range c.Notes {
				cv.Notes = append(cv.Notes, v.note(snap, n))
			}
			view.Contacts = append(view.Contacts, cv)
		}
	}
	if v.callbacks != nil && view.Number != "" {
		cbs, err := v.callbacks(ctx, view.Number)
		if err != nil {
			log.Warn().Err(err).Msg("customer view: open callbacks")
			view.Missing = append(view.Missing, "callbacks")
		}
		view.Callbacks = append(view.Callbacks, cbs...)
	}
	return view, nil
}

func (v *viewer) liveCall(id string) (LiveCall, bool) {
	if v.live == nil {
		return LiveCall{}, false
	}
	return v.live(id)
}

func (v *viewer) snapshot() *roster.Snapshot {
	if v.roster == nil {
		return nil
	}
	return v.roster()
}

func (v *viewer) note(snap *roster.Snapshot, n store.Note) NoteView {
	return NoteView{Kind: string(n.Kind), Body: n.Body, AgentID: n.AgentID, AgentName: v.agentName(snap, n.AgentID), At: n.CreatedAt}
}

// agentName returns the agent's display name, else the ID.
func (v *viewer) agentName(snap *roster.Snapshot, id string) string {
	if snap != nil && id != "" {
		if a, ok := snap.Agent(id); ok && a.Name != "" {
			return a.Name
		}
	}
	return id
}
