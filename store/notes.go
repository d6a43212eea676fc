package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// NoteKind is why an agent wrote a note, as stored in call_notes.kind.
type NoteKind string

// The kinds of note.
const (
	// NoteWrapUp is written after a call, for whoever talks to the
	// customer next.
	NoteWrapUp NoteKind = "wrap_up"
	// NoteTransfer is written by an agent who transfers a call, for the
	// agent who takes it over.
	NoteTransfer NoteKind = "transfer"
)

// Valid reports whether k is one of the NoteKind constants.
func (k NoteKind) Valid() bool {
	return k == NoteWrapUp || k == NoteTransfer
}

// MaxNoteLength is the longest note body, in characters.
const MaxNoteLength = 4000

// ErrInvalidNote is returned for a note that lacks a required field, has an
// unknown kind, an empty or too long body, or a call ID that is not a UUID.
var ErrInvalidNote = errors.New("invalid note")

// Note is one row of call_notes: what an agent wrote about a call.
type Note struct {
	// ID orders notes; set by AddNote.
	ID int64
	// CallID is the call record (calls.id) the note is about.
	CallID string
	// CustomerID is the customer; empty for an unknown caller.
	CustomerID string
	// Number is the caller's number: the key of an unknown caller's notes.
	Number string
	// AgentID is the agent who wrote it.
	AgentID string
	// Kind says why it was written.
	Kind NoteKind
	// Body is the text, 1 to MaxNoteLength characters.
	Body string
	// CreatedAt is when it was written; AddNote sets it when zero.
	CreatedAt time.Time
}

// Contact is one of a customer's earlier calls with the notes written about
// it. Call is the call record; when the call log has not written it yet,
// only Call.ID and Call.CreatedAt (the first note's time) are set.
type Contact struct {
	Call  Call
	Notes []Note
}

// DefaultContacts is the number of contacts Contacts returns for a limit
// <= 0; MaxRecentCalls bounds it as for RecentCalls.
const DefaultContacts = 10

const noteColumns = `id, call_id::text, coalesce(customer_id, ''), number, agent_id, kind, body, created_at`

func scanNote(row pgx.CollectableRow) (Note, error) {
	var n Note
	var kind string
	err := row.Scan(&n.ID, &n.CallID, &n.CustomerID, &n.Number, &n.AgentID, &kind, &n.Body, &n.CreatedAt)
	n.Kind = NoteKind(kind)
	return n, err
}

// AddNote stores a note and returns it with its ID and time. The body must
// hold something besides white space and at most MaxNoteLength characters.
func (s *Store) AddNote(ctx context.Context, n Note) (Note, error) {
	what := fmt.Sprintf("add %s note of %s on call %s", n.Kind, n.AgentID, n.CallID)
	switch {
	case n.CallID == "" || n.Number == "" || n.AgentID == "":
		return Note{}, fmt.Errorf("%s: call, number and agent are required: %w", what, ErrInvalidNote)
	case !n.Kind.Valid():
		return Note{}, fmt.Errorf("%s: unknown kind: %w", what, ErrInvalidNote)
	case strings.TrimSpace(n.Body) == "" || utf8.RuneCountInString(n.Body) > MaxNoteLength:
		return Note{}, fmt.Errorf("%s: the text must have 1 to %d characters: %w", what, MaxNoteLength, ErrInvalidNote)
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = time.Now()
	}
	rows, err := s.pool.Query(ctx, `insert into call_notes (call_id, customer_id, number, agent_id, kind, body, created_at)
		values ($1, $2, $3, $4, $5, $6, $7) returning `+noteColumns,
		n.CallID, nullable(n.CustomerID), n.Number, n.AgentID, string(n.Kind), n.Body, n.CreatedAt)
	if err != nil {
		return Note{}, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, scanNote)
	if isInvalidText(err) {
		return Note{}, fmt.Errorf("%s: %w: %w", what, ErrInvalidNote, err)
	}
	if err != nil {
		return Note{}, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// CallNotes returns the notes written about the given calls, oldest first.
// An ID that is not a UUID has no notes.
func (s *Store) CallNotes(ctx context.Context, callIDs ...string) ([]Note, error) {
	ids := make([]string, 0, len(callIDs))
	for _, id := range callIDs {
		if isUUID(id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, "select "+noteColumns+
		" from call_notes where call_id = any($1::uuid[]) order by created_at, id", ids)
	if err != nil {
		return nil, fmt.Errorf("read notes of calls %v: %w", ids, err)
	}
	notes, err := pgx.CollectRows(rows, scanNote)
	if err != nil {
		return nil, fmt.Errorf("read notes of calls %v: %w", ids, err)
	}
	return notes, nil
}

// Contacts returns a caller's latest calls with their notes, newest first,
// at most limit of them (DefaultContacts if limit <= 0, at most
// MaxRecentCalls). A known customer is looked up by customerID, an unknown
// caller (empty customerID) by number. Calls whose record the call log has
// not written yet but that have notes are included too.
func (s *Store) Contacts(ctx context.Context, customerID, number string, limit int) ([]Contact, error) {
	who := "customer " + customerID
	callsWhere, notesWhere, key := "customer_id = $1", "customer_id = $1", customerID
	if customerID == "" {
		who = "number " + number
		callsWhere, notesWhere, key = "caller_number = $1 and customer_id is null", "number = $1 and customer_id is null", number
	}
	if key == "" {
		return nil, fmt.Errorf("read contacts: customer id or number is required: %w", ErrInvalid)
	}
	if limit <= 0 {
		limit = DefaultContacts
	}
	limit = min(limit, MaxRecentCalls)

	rows, err := s.pool.Query(ctx, "select "+callColumns+" from calls where "+callsWhere+
		" order by created_at desc, id desc limit $2", key, limit)
	if err != nil {
		return nil, fmt.Errorf("read contacts of %s: %w", who, err)
	}
	calls, err := pgx.CollectRows(rows, scanCall)
	if err != nil {
		return nil, fmt.Errorf("read contacts of %s: %w", who, err)
	}
	ids := make([]string, len(calls))
	for i, c := range calls {
		ids[i] = c.ID
	}
	// The notes of those calls, and notes of calls that have no record yet.
	rows, err = s.pool.Query(ctx, "select "+noteColumns+` from call_notes where call_id = any($2::uuid[])
		union all
		(select `+noteColumns+` from call_notes n where `+notesWhere+`
		   and not exists (select 1 from calls c where c.id = n.call_id)
		 order by created_at desc, id desc limit $3)
		order by created_at, id`, key, ids, limit)
	if err != nil {
		return nil, fmt.Errorf("read notes of %s: %w", who, err)
	}
	notes, err := pgx.CollectRows(rows, scanNote)
	if err != nil {
		return nil, fmt.Errorf("read notes of %s: %w", who, err)
	}

	out := make([]Contact, 0, len(calls))
	byID := make(map[string]int, len(calls))
	for _, c := range calls {
		byID[c.ID] = len(out)
		out = append(out, Contact{Call: c})
	}
	for _, n := range notes {
		i, ok := byID[n.CallID]
		if !ok {
			i = len(out)
			byID[n.CallID] = i
			out = append(out, Contact{Call: Call{ID: n.CallID, CallerNumber: n.Number, CustomerID: n.CustomerID, CreatedAt: n.CreatedAt}})
		}
		out[i].Notes = append(out[i].Notes, n)
	}
	slices.SortStableFunc(out, func(a, b Contact) int {
		if c := b.Call.CreatedAt.Compare(a.Call.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.Call.ID, a.Call.ID)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// isUUID reports whether s has the canonical text form of a UUID, so that
// a malformed ID read from a request never reaches a query as uuid.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		switch c := s[i]; {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}
