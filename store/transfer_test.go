package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/teamline/teamline/internal/pgtest"
	"github.com/teamline/teamline/store"
)

// A call's transfers come back in the order they happened, completed and
// failed alike; an incomplete transfer record is refused before it reaches
// the database.
func TestTransfersOfACall(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := pgtest.Store(t)
	start := newStart("cust-1", at)
	if err := s.InsertCall(ctx, start); err != nil {
		t.Fatal(err)
	}
	failed := store.Transfer{CallID: start.ID, FromAgent: "anna", Target: "alex", Kind: store.TransferBlind,
		Detail: "alex did not answer", RequestedAt: at.Add(time.Minute), EndedAt: at.Add(time.Minute + 10*time.Second)}
	done := store.Transfer{CallID: start.ID, FromAgent: "anna", Target: "pool", Kind: store.TransferBlind,
		ToAgent: "nora", Completed: true, RequestedAt: at.Add(2 * time.Minute), EndedAt: at.Add(2*time.Minute + 5*time.Second)}
	for _, tr := range []store.Transfer{failed, done} {
		if err := s.RecordTransfer(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Transfers(ctx, start.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d transfers, want 2: %+v", len(got), got)
	}
	for i, want := range []store.Transfer{failed, done} {
		g := got[i]
		if g.FromAgent != want.FromAgent || g.Target != want.Target || g.ToAgent != want.ToAgent ||
			g.Completed != want.Completed || g.Detail != want.Detail || g.Kind != want.Kind ||
			!g.RequestedAt.Equal(want.RequestedAt) || !g.EndedAt.Equal(want.EndedAt) {
			t.Errorf("transfer %d = %+v, want %+v", i, g, want)
		}
	}

	bad := done
	bad.ToAgent = "" // completed, but by nobody
	if err := s.RecordTransfer(ctx, bad); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("completed transfer without an agent: err = %v, want ErrInvalid", err)
	}
	bad = done
	bad.Kind = "consult"
	if err := s.RecordTransfer(ctx, bad); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("unknown kind: err = %v, want ErrInvalid", err)
	}
}
