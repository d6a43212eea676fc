package roster

import (
	"testing"
	"time"
)

func TestAffinityKeepsTheLatestContact(t *testing.T) {
	t.Parallel()
	a := NewAffinity()
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	if _, _, ok := a.Last("erika"); ok {
		t.Fatal("empty affinity knows a contact")
	}
	a.Record("erika", "anna", t0)
	a.Record("erika", "alex", t0.Add(time.Hour))
	a.Record("erika", "ben", t0.Add(-time.Hour)) // older: ignored
	a.Record("", "anna", t0)                     // no customer: ignored
	if id, at, ok := a.Last("erika"); !ok || id != "alex" || !at.Equal(t0.Add(time.Hour)) {
		t.Fatalf("Last = %q %v %v, want alex an hour later", id, at, ok)
	}
}
