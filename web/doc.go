// Package web serves Teamline's HTTP side for people: health and metrics,
// the supervisors' wallboard, the browser phone pages, the agent console and
// the Call-Info page.
//
// # The customer view
//
// Every agent should know a caller's story before saying hello. One model,
// CustomerView, holds it: the caller's number and customer record, team, last
// contacts with the notes agents wrote about them, open callbacks and, for
// the call at hand, the routing decision trace (why it came to this agent)
// and the notes already written on it (a transferring colleague's note). It
// is built from the SIP edge's live call, the database and the roster, and
// rendered twice: as JSON for the console and as HTML for the Call-Info page.
//
// # The Call-Info page
//
// Every INVITE to an agent carries Call-Info: <URL>;purpose=info, made by
// LinkSigner.CallURL: a link signed (HMAC-SHA256, key random per process)
// over the call, the agent, the customer, the number and an expiry, so a
// softphone opens the view of that call with no login. Its note form posts
// the same signed parameters back to store a wrap-up or transfer note by
// that agent on that call. A tampered or expired link gets 403.
//
// # The agent console
//
// /console/ is a page (embedded from console/) on which an agent logs in with
// their SIP user name and password. The login sets a session cookie (HttpOnly,
// SameSite=Strict, Secure over TLS, HMAC-signed and expiring); failed logins
// are limited per source address. The page keeps the password in memory
// only, to register itself as a SIP-over-WebSocket phone with JsSIP (the same
// path as any browser phone), and uses the session for its JSON API under
// /console/api/: the agent's state (polled; available or away with a reason),
// their team as transfer targets, the customer view of a call that rings or
// rang them, and notes on it.
package web
