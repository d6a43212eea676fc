// Package roster holds who is on the hotline: teams, their agents and the
// customers assigned to them, as an immutable Snapshot built from the
// configuration, and what each agent is doing right now (Presence).
//
// # Snapshot
//
// Routing reads memory, never the database: a Snapshot is built once
// (FromConfig) and never changes, so readers need no locks. When the roster
// changes, build a new Snapshot and swap it in with an atomic.Pointer.
//
// Resolve answers "which team serves this caller?" in this order:
//
//  1. the caller's customer record ("customer Erika Musterfrau is assigned
//     to team berlin");
//  2. the team with the longest prefix matching the number ("number
//     +4940123456 matches prefix +4940 of team hamburg");
//  3. the default team.
//
// # Presence and agent states
//
// Presence keeps every agent's live state in memory: offline (no
// registration), available, ringing, on call, wrap-up (the team's wrap_up
// after each call) and away (with a reason), with when each state began and
// since when the agent has been idle (routing rings the longest-idle
// first). States change by registration (SetRegistered, which fits the
// registrar's OnChange hook), by call events (TryReserve, Answered,
// Release, RangOut) and by the API (SetAway, SetAvailable).
//
// TryReserve is the only way to make an agent busy, so two calls forking at
// the same moment never both ring the same agent. A reservation is a lease
// tied to a call ID: the call layer renews it (Renew) while the call lives,
// and Tick, called every second or so, returns agents whose lease expired
// (a vanished call) to available and ends wrap-ups; ReleaseVanished does the
// same for calls the call layer knows are gone. So no agent stays stuck.
// An agent who lets NoAnswerLimit calls in a row ring out (RangOut) goes
// away with reason "no answer".
//
// Every change is passed, in order, to PresenceOptions.OnChange, so that it
// can be written through to PostgreSQL (store.RecordAgentState) and shown
// on the wallboard; routing reads only memory. Tests pass a fake clock in
// PresenceOptions.Now.
//
// CallerLocation gives the time zone of a caller's number, for teams whose
// hours are read in the caller's zone.
package roster
