package store

import (
	"strings"
	"testing"
	"time"
)

// A call's trace folds into its end when the end follows in the batch, and
// never across another trace of the same call or into another call's end.
func TestBatchStmtsFoldsTraceIntoEnd(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	ended := func(id string) callEvent {
		return callEvent{kind: eventEnded, id: id, outcome: OutcomeAnswered, hangupBy: HangupCaller, at: at}
	}
	traced := func(id, line string) callEvent { return callEvent{kind: eventTraced, id: id, trace: []string{line}} }
	evs := []callEvent{
		{kind: eventStarted, start: CallStart{ID: "a", SIPCallID: "x", CallerNumber: "+49301", At: at}},
		traced("a", "a1"),
		{kind: eventAnswered, id: "b", agentID: "anna", at: at},
		ended("b"), // another call's end: a's trace is not folded here
		ended("a"), // folded: a1
		traced("c", "c1"),
		traced("c", "c2"), // c1 stays alone: c2 comes between it and the end
		ended("c"),        // folded: c2
		traced("d", "d1"), // no end follows: alone
	}
	stmts, from, err := batchStmts(evs)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		from  int
		trace string // the trace the statement writes; "" none
	}{{0, ""}, {2, ""}, {3, ""}, {4, "a1"}, {5, "c1"}, {7, "c2"}, {8, "d1"}}
	if len(stmts) != len(want) {
		t.Fatalf("%d statements for %d events, want %d: %v", len(stmts), len(evs), len(want), from)
	}
	for k, w := range want {
		st := stmts[k]
		var trace string
		if strings.Contains(st.sql, "trace") {
			trace = st.args[len(st.args)-1].([]string)[0]
		}
		if from[k] != w.from || trace != w.trace {
			t.Errorf("statement %d: from event %d writing trace %q (%s), want event %d, trace %q",
				k, from[k], trace, st.sql, w.from, w.trace)
		}
	}
	if !strings.Contains(stmts[3].sql, "outcome") {
		t.Errorf("folded statement does not end the call: %s", stmts[3].sql)
	}
}
