// Package router decides how a hotline call is routed. It is pure: it takes
// the call, the roster, the live state of agents and teams, and the time, and
// returns a Plan. It does no I/O, starts no goroutines, never reads the
// clock and never logs, so every rule is unit-tested with a fake clock.
//
// # The plan
//
// Router.Plan returns which team takes the call, an ordered list of steps
// ("ring the customer's last agent alone for 10s", "ring the 3 longest-idle
// available members for 20s", "ring every available member for 20s"), a
// fallback for when the steps are exhausted (a callback or a 480), and a
// decision trace: one human-readable line per decision, rendered by
// Plan.Trace only when somebody reads it.
//
// Steps name whom to ring, not which agents: Plan.Pick materialises a step
// when it starts, from the agents' states at that moment and the set of
// agents the call already rang. So an agent never rings twice in one call,
// and an agent who became free while an earlier step rang is picked by the
// next one. A step that finds nobody is skipped, and the trace says so.
//
// # The rules
//
//  1. The caller's team comes from roster.Snapshot.Resolve: their customer
//     record, else the longest matching number prefix, else the default team.
//  2. A withheld number, and a customer who opted out of the team model, go
//     to the national pool (routing.national_pool).
//  3. A team outside its opening hours hands the call to the national pool.
//     Hours are weekly ranges per day plus dated exceptions (holidays,
//     special days), read in the team's IANA time zone or, when configured,
//     the caller's (from their number's country). Wall-clock time comes from
//     time.Location, so daylight saving time needs no arithmetic. When the
//     pool is closed too, the call goes to the pool's fallback.
//  4. A team in storm mode (more callers ringing than agents free, or too
//     many callers waiting) sends new calls to its neighbour teams, then to
//     the national pool, each up to a cap of concurrent overflow calls, or
//     straight to its fallback. EvalStorm is the state machine; transitions
//     come back in Plan.Storm (and from Router.Storm, which the call layer
//     runs when load drops) for the log and the wallboard.
//  5. The customer's last agent, if they talked within affinity_days and
//     belong to the team that takes the call, rings first, alone.
//  6. Then the longest-idle available members, then every available
//     member, then the fallback. A team whose fallback is the national pool
//     continues with the pool's steps and ends in the pool's fallback.
//
// # Inputs the call layer keeps
//
// View gives agents' live states (roster.Presence) and each team's Load:
// callers ringing, callers waiting, overflow calls taken, and the storm
// state last returned. The call layer counts a call in Plan.Team's
// Load.Overflow while it lasts when Plan.Overflow is set.
package router
