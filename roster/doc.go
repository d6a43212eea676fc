// Package roster holds who is on the hotline: teams, their agents and the
// customers assigned to them, as an immutable Snapshot built from the
// configuration, and which agents are busy (Presence).
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
// # Presence
//
// Presence records, per agent, the one call that is ringing them or that
// they are talking on. TryReserve is the only way to make an agent busy, so
// two calls forking at the same moment never both ring the same agent.
package roster
