package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/teamline/teamline/internal/pgtest"
	"github.com/teamline/teamline/store"
)

func TestAddNoteAndCallNotes(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := pgtest.Store(t)
	call := store.NewCallID()
	other := store.NewCallID()

	wrap, err := s.AddNote(ctx, store.Note{CallID: call, CustomerID: "cust-1", Number: "+4930123456",
		AgentID: "anna", Kind: store.NoteWrapUp, Body: "Router replaced; call back if the LED blinks.", CreatedAt: at})
	if err != nil {
		t.Fatalf("AddNote: %v", err)
	}
	if wrap.ID == 0 || !wrap.CreatedAt.Equal(at) || wrap.CustomerID != "cust-1" || wrap.Kind != store.NoteWrapUp {
		t.Fatalf("AddNote returned %+v", wrap)
	}
	// Written before the wrap-up in time, stored after it: read in time order.
	transfer, err := s.AddNote(ctx, store.Note{CallID: call, Number: "+4930123456", AgentID: "alex",
		Kind: store.NoteTransfer, Body: "Wants a technician", CreatedAt: at.Add(-time.Minute)})
	if err != nil {
		t.Fatalf("AddNote transfer: %v", err)
	}
	if transfer.CustomerID != "" {
		t.Errorf("empty customer read back as %q", transfer.CustomerID)
	}
	if _, err := s.AddNote(ctx, store.Note{CallID: other, Number: "+4930999", AgentID: "anna",
		Kind: store.NoteWrapUp, Body: "someone else"}); err != nil {
		t.Fatalf("AddNote other: %v", err)
	}

	notes, err := s.CallNotes(ctx, call)
	if err != nil {
		t.Fatalf("CallNotes: %v", err)
	}
	if len(notes) != 2 || notes[0].ID != transfer.ID || notes[1].ID != wrap.ID {
		t.Fatalf("CallNotes = %+v, want the transfer then the wrap-up note", notes)
	}
	if notes[1] != wrap {
		t.Errorf("read back %+v, want %+v", notes[1], wrap)
	}
	both, err := s.CallNotes(ctx, call, other, "not-a-uuid")
	if err != nil || len(both) != 3 {
		t.Fatalf("CallNotes of two calls = %d notes, %v; want 3", len(both), err)
	}
	if none, err := s.CallNotes(ctx, "not-a-uuid"); err != nil || len(none) != 0 {
		t.Fatalf("CallNotes(bad id) = %v, %v", none, err)
	}
}

func TestAddNoteRefusesInvalidNotes(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := pgtest.Store(t)
	good := store.Note{CallID: store.NewCallID(), Number: "+4930123456", AgentID: "anna", Kind: store.NoteWrapUp, Body: "ok"}
	for _, tc := range []struct {
		name string
		edit func(*store.Note)
	}{
		{"no call", func(n *store.Note) { n.CallID = "" }},
		{"call not a uuid", func(n *store.Note) { n.CallID = "call-1" }},
		{"no number", func(n *store.Note) { n.Number = "" }},
		{"no agent", func(n *store.Note) { n.AgentID = "" }},
		{"unknown kind", func(n *store.Note) { n.Kind = "gossip" }},
		{"empty body", func(n *store.Note) { n.Body = "" }},
		{"blank body", func(n *store.Note) { n.Body = " \n\t" }},
		{"too long", func(n *store.Note) { n.Body = strings.Repeat("ä", store.MaxNoteLength+1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := good
			tc.edit(&n)
			if _, err := s.AddNote(ctx, n); !errors.Is(err, store.ErrInvalidNote) {
				t.Fatalf("AddNote = %v, want ErrInvalidNote", err)
			}
		})
	}
	// The limit counts characters, not bytes.
	n := good
	n.Body = strings.Repeat("ä", store.MaxNoteLength)
	if _, err := s.AddNote(ctx, n); err != nil {
		t.Fatalf("AddNote of %d characters: %v", store.MaxNoteLength, err)
	}
}

func TestContacts(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := pgtest.Store(t)
	call := func(customer, number string, created time.Time) string {
		t.Helper()
		c := newStart(customer, created)
		c.CallerNumber = number
		if err := s.InsertCall(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	note := func(callID, customer, number, agent, body string, created time.Time) {
		t.Helper()
		if _, err := s.AddNote(ctx, store.Note{CallID: callID, CustomerID: customer, Number: number,
			AgentID: agent, Kind: store.NoteWrapUp, Body: body, CreatedAt: created}); err != nil {
			t.Fatal(err)
		}
	}
	const erika, stranger = "+4930123456", "+4940555000"
	old := call("cust-erika", erika, at.Add(-48*time.Hour))
	mid := call("cust-erika", erika, at.Add(-24*time.Hour))
	if err := s.MarkAnswered(ctx, mid, "anna", at.Add(-24*time.Hour+time.Second)); err != nil {
		t.Fatal(err)
	}
	note(mid, "cust-erika", erika, "anna", "first note", at.Add(-23*time.Hour))
	note(mid, "cust-erika", erika, "alex", "second note", at.Add(-22*time.Hour))
	note(old, "cust-erika", erika, "anna", "old note", at.Add(-47*time.Hour))
	// A call whose record the call log has not written yet.
	pending := store.NewCallID()
	note(pending, "cust-erika", erika, "barbie", "just now", at)
	// An unknown caller, and another customer.
	unknown := call("", stranger, at.Add(-time.Hour))
	note(unknown, "", stranger, "hans", "unknown caller's note", at.Add(-time.Hour+time.Minute))
	call("cust-other", "+4930777", at)

	got, err := s.Contacts(ctx, "cust-erika", erika, 10)
	if err != nil {
		t.Fatalf("Contacts: %v", err)
	}
	if len(got) != 3 || got[0].Call.ID != pending || got[1].Call.ID != mid || got[2].Call.ID != old {
		t.Fatalf("Contacts = %+v, want pending, mid, old", got)
	}
	if got[0].Call.CallerNumber != erika || !got[0].Call.CreatedAt.Equal(at) || len(got[0].Notes) != 1 {
		t.Errorf("contact without record = %+v", got[0])
	}
	if got[1].Call.AgentID != "anna" || len(got[1].Notes) != 2 ||
		got[1].Notes[0].Body != "first note" || got[1].Notes[1].Body != "second note" {
		t.Errorf("contact with two notes = %+v", got[1])
	}
	if len(got[2].Notes) != 1 || got[2].Notes[0].Body != "old note" {
		t.Errorf("old contact = %+v", got[2])
	}

	limited, err := s.Contacts(ctx, "cust-erika", erika, 2)
	if err != nil || len(limited) != 2 || limited[1].Call.ID != mid {
		t.Fatalf("Contacts limit 2 = %+v, %v", limited, err)
	}

	byNumber, err := s.Contacts(ctx, "", stranger, 0)
	if err != nil {
		t.Fatalf("Contacts by number: %v", err)
	}
	if len(byNumber) != 1 || byNumber[0].Call.ID != unknown || len(byNumber[0].Notes) != 1 {
		t.Fatalf("Contacts by number = %+v", byNumber)
	}
	if none, err := s.Contacts(ctx, "cust-nobody", "", 5); err != nil || len(none) != 0 {
		t.Fatalf("Contacts of a customer without calls = %+v, %v", none, err)
	}
	if _, err := s.Contacts(ctx, "", "", 5); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Contacts without a key = %v, want ErrInvalid", err)
	}
}
