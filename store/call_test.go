package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/teamline/teamline/internal/pgtest"
	"github.com/teamline/teamline/store"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// at is a fixed instant with PostgreSQL's microsecond precision.
var at = time.Date(2026, 3, 4, 9, 30, 0, 123456000, time.UTC)

func newStart(customer string, created time.Time) store.CallStart {
	id := store.NewCallID()
	return store.CallStart{
		ID:           id,
		SIPCallID:    "sip-" + id,
		CallerNumber: "+4930123456",
		CustomerID:   customer,
		TeamID:       "team-berlin",
		Trunk:        "trunk-a",
		At:           created,
	}
}

func timeEqual(a *time.Time, b time.Time) bool {
	return a != nil && a.Equal(b)
}

func TestCallLifecycle(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := pgtest.Store(t)
	start := newStart("cust-1", at)
	if err := s.InsertCall(ctx, start); err != nil {
		t.Fatalf("InsertCall: %v", err)
	}

	c, err := s.Call(ctx, start.ID)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	want := store.Call{
		ID: start.ID, SIPCallID: start.SIPCallID, CallerNumber: start.CallerNumber,
		CustomerID: "cust-1", TeamID: "team-berlin", Trunk: "trunk-a", CreatedAt: at, Trace: []string{},
	}
	if !c.CreatedAt.Equal(at) {
		t.Errorf("CreatedAt = %v, want %v", c.CreatedAt, at)
	}
	c.CreatedAt = at
	if !reflect.DeepEqual(c, want) {
		t.Errorf("new call = %+v\nwant %+v", c, want)
	}

	answered := at.Add(12 * time.Second)
	if err := s.MarkAnswered(ctx, start.ID, "agent-7", answered); err != nil {
		t.Fatalf("MarkAnswered: %v", err)
	}
	ended := answered.Add(3 * time.Minute)
	if err := s.MarkEnded(ctx, start.ID, store.OutcomeAnswered, store.HangupAgent, "bye", ended); err != nil {
		t.Fatalf("MarkEnded: %v", err)
	}
	c, err = s.Call(ctx, start.ID)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if c.AgentID != "agent-7" || !timeEqual(c.AnsweredAt, answered) || !timeEqual(c.EndedAt, ended) ||
		c.Outcome != store.OutcomeAnswered || c.HangupBy != store.HangupAgent || c.EndReason != "bye" {
		t.Errorf("ended call = %+v (answered %v, ended %v)", c, c.AnsweredAt, c.EndedAt)
	}

	// A retried insert (the reply was lost) is harmless and changes nothing.
	retry := start
	retry.CallerNumber = "+49999"
	if err := s.InsertCall(ctx, retry); err != nil {
		t.Fatalf("InsertCall again: %v", err)
	}
	if c, err := s.Call(ctx, start.ID); err != nil || c.CallerNumber != start.CallerNumber || c.AgentID != "agent-7" {
		t.Errorf("after a second InsertCall: %+v, %v", c, err)
	}
}

func TestCallNullMapping(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := pgtest.Store(t)
	tests := []struct {
		name                        string
		customer, team, trunk       string
		hangupBy                    store.HangupBy
		reason                      string
		wantNullCustomer            bool
		wantNullTeam, wantNullTrunk bool
		wantNullHangup              bool
		wantNullReason              bool
	}{
		{name: "all empty", wantNullCustomer: true, wantNullTeam: true, wantNullTrunk: true, wantNullHangup: true, wantNullReason: true},
		{name: "all set", customer: "c", team: "t", trunk: "k", hangupBy: store.HangupCaller, reason: "r"},
		{name: "only customer", customer: "c", wantNullTeam: true, wantNullTrunk: true, wantNullHangup: true, wantNullReason: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := store.CallStart{
				ID: store.NewCallID(), SIPCallID: "x", CallerNumber: "anonymous",
				CustomerID: tt.customer, TeamID: tt.team, Trunk: tt.trunk, At: at,
			}
			if err := s.InsertCall(ctx, start); err != nil {
				t.Fatalf("InsertCall: %v", err)
			}
			if err := s.MarkEnded(ctx, start.ID, store.OutcomeRejected, tt.hangupBy, tt.reason, at); err != nil {
				t.Fatalf("MarkEnded: %v", err)
			}
			var nc, nt, nk, na, nh, nr bool
			err := s.Pool().QueryRow(ctx, `select customer_id is null, team_id is null, trunk is null,
				agent_id is null, hangup_by is null, end_reason is null from calls where id = $1`, start.ID).
				Scan(&nc, &nt, &nk, &na, &nh, &nr)
			if err != nil {
				t.Fatalf("read nulls: %v", err)
			}
			if nc != tt.wantNullCustomer || nt != tt.wantNullTeam || nk != tt.wantNullTrunk || !na ||
				nh != tt.wantNullHangup || nr != tt.wantNullReason {
				t.Errorf("NULL customer %v team %v trunk %v agent %v hangup %v reason %v",
					nc, nt, nk, na, nh, nr)
			}
			c, err := s.Call(ctx, start.ID)
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if c.CustomerID != tt.customer || c.TeamID != tt.team || c.Trunk != tt.trunk || c.AgentID != "" ||
				c.HangupBy != tt.hangupBy || c.EndReason != tt.reason || c.AnsweredAt != nil {
				t.Errorf("read back %+v", c)
			}
		})
	}
}

func TestCallErrors(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := pgtest.Store(t)
	known := newStart("cust", at)
	if err := s.InsertCall(ctx, known); err != nil {
		t.Fatalf("InsertCall: %v", err)
	}
	unknown := store.NewCallID()
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"Call unknown", func() error { _, err := s.Call(ctx, unknown); return err }, store.ErrNotFound},
		{"Call not a uuid", func() error { _, err := s.Call(ctx, "nope"); return err }, store.ErrNotFound},
		{"MarkAnswered unknown", func() error { return s.MarkAnswered(ctx, unknown, "a", at) }, store.ErrNotFound},
		{"MarkAnswered not a uuid", func() error { return s.MarkAnswered(ctx, "nope", "a", at) }, store.ErrNotFound},
		{"MarkEnded unknown", func() error {
			return s.MarkEnded(ctx, unknown, store.OutcomeAbandoned, store.HangupCaller, "", at)
		}, store.ErrNotFound},
		{"MarkAnswered no agent", func() error { return s.MarkAnswered(ctx, known.ID, "", at) }, store.ErrInvalid},
		{"MarkEnded bad outcome", func() error {
			return s.MarkEnded(ctx, known.ID, "hung", store.HangupCaller, "", at)
		}, store.ErrInvalid},
		{"MarkEnded bad hangup", func() error {
			return s.MarkEnded(ctx, known.ID, store.OutcomeAbandoned, "nobody", "", at)
		}, store.ErrInvalid},
		{"InsertCall no id", func() error {
			c := newStart("c", at)
			c.ID = ""
			return s.InsertCall(ctx, c)
		}, store.ErrInvalid},
		{"InsertCall id not a uuid", func() error {
			c := newStart("c", at)
			c.ID = "call-1"
			return s.InsertCall(ctx, c)
		}, store.ErrInvalid},
		{"InsertCall no caller", func() error {
			c := newStart("c", at)
			c.CallerNumber = ""
			return s.InsertCall(ctx, c)
		}, store.ErrInvalid},
		{"RecentCalls no customer", func() error { _, err := s.RecentCalls(ctx, "", 5); return err }, store.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	// The refused updates left the known call alone.
	if c, err := s.Call(ctx, known.ID); err != nil || c.Outcome != "" || c.AgentID != "" {
		t.Errorf("known call after refused updates: %+v, %v", c, err)
	}
}

func TestCallQueries(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := pgtest.Store(t)
	// cust-a has 5 calls a minute apart, cust-b one; two calls share a
	// SIP Call-ID.
	var aIDs []string
	for i := range 5 {
		c := newStart("cust-a", at.Add(time.Duration(i)*time.Minute))
		if i < 2 {
			c.SIPCallID = "shared@trunk"
		}
		if err := s.InsertCall(ctx, c); err != nil {
			t.Fatalf("InsertCall: %v", err)
		}
		aIDs = append(aIDs, c.ID)
	}
	if err := s.InsertCall(ctx, newStart("cust-b", at)); err != nil {
		t.Fatalf("InsertCall: %v", err)
	}

	ids := func(cs []store.Call) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return fmt.Sprint(out)
	}
	tests := []struct {
		name  string
		query func() ([]store.Call, error)
		want  []string
	}{
		{"recent, limit 3, newest first", func() ([]store.Call, error) { return s.RecentCalls(ctx, "cust-a", 3) },
			[]string{aIDs[4], aIDs[3], aIDs[2]}},
		{"recent, default limit", func() ([]store.Call, error) { return s.RecentCalls(ctx, "cust-a", 0) },
			[]string{aIDs[4], aIDs[3], aIDs[2], aIDs[1], aIDs[0]}},
		{"recent, unknown customer", func() ([]store.Call, error) { return s.RecentCalls(ctx, "cust-x", 3) }, nil},
		{"by sip call id, oldest first", func() ([]store.Call, error) { return s.CallsBySIPCallID(ctx, "shared@trunk") },
			[]string{aIDs[0], aIDs[1]}},
		{"by sip call id, unknown", func() ([]store.Call, error) { return s.CallsBySIPCallID(ctx, "none") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs, err := tt.query()
			if err != nil {
				t.Fatalf("query: %v", err)
			}
			if got, want := ids(cs), fmt.Sprint(tt.want); got != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}

func TestNewCallID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := store.NewCallID()
		if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[14] != '4' || id[18] != '-' || id[23] != '-' ||
			(id[19] != '8' && id[19] != '9' && id[19] != 'a' && id[19] != 'b') {
			t.Fatalf("NewCallID() = %q, not a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("NewCallID() repeated %q", id)
		}
		seen[id] = true
	}
}

func BenchmarkInsertCall(b *testing.B) {
	s := pgtest.Store(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.InsertCall(ctx, newStart("cust-bench", at)); err != nil {
			b.Fatalf("InsertCall: %v", err)
		}
	}
}

func TestCallTrace(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	ctx := context.Background()
	id := store.NewCallID()
	if err := s.InsertCall(ctx, store.CallStart{ID: id, SIPCallID: "trace-1", CallerNumber: "+4930123456", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Call(ctx, id); err != nil || len(c.Trace) != 0 {
		t.Fatalf("new call trace = %v, %v; want empty", c.Trace, err)
	}
	trace := []string{"customer Erika is assigned to team berlin", "step 1: ring anna alone for 10s"}
	if err := s.SetCallTrace(ctx, id, trace); err != nil {
		t.Fatal(err)
	}
	c, err := s.Call(ctx, id)
	if err != nil || len(c.Trace) != 2 || c.Trace[1] != trace[1] {
		t.Fatalf("trace = %v, %v", c.Trace, err)
	}
	if err := s.SetCallTrace(ctx, store.NewCallID(), trace); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("trace of unknown call: %v, want ErrNotFound", err)
	}
}

func TestLastContacts(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	call := func(customer, agent string, at time.Time) {
		t.Helper()
		id := store.NewCallID()
		if err := s.InsertCall(ctx, store.CallStart{ID: id, SIPCallID: id, CallerNumber: "+4930123456", CustomerID: customer, At: at}); err != nil {
			t.Fatal(err)
		}
		if agent != "" {
			if err := s.MarkAnswered(ctx, id, agent, at.Add(5*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
	call("erika", "anna", t0)
	call("erika", "alex", t0.Add(time.Hour))
	call("erika", "", t0.Add(2*time.Hour)) // unanswered: not a contact
	call("max", "ben", t0.Add(-48*time.Hour))
	got, err := s.LastContacts(ctx, t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].CustomerID != "erika" || got[0].AgentID != "alex" {
		t.Fatalf("last contacts = %+v, want erika -> alex only (max is too old)", got)
	}
}
