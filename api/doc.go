// Package api is Teamline's JSON REST API for callbacks, used by the
// customer's app and by operators.
//
// Every request must carry the configured token as
// "Authorization: Bearer TOKEN"; a missing or wrong token gets 401. Errors
// are JSON objects {"error": "..."} with a status that says what went wrong:
// 400 for a malformed request, 404 for an unknown callback or team, 409 for
// a full slot (with the next free slots in "next_free"), a number that
// already has an open callback (with it in "callback") or a callback in the
// wrong state.
//
// # Endpoints
//
//	GET    /v1/teams/{id}/slots?from=&to=   slots with their free capacity
//	POST   /v1/callbacks                    book: {"number", "slot" | "asap" | "window", "reason"}
//	GET    /v1/callbacks?team=&state=       list, in dialing order
//	GET    /v1/callbacks/{id}               one callback with its attempts
//	PATCH  /v1/callbacks/{id}               reschedule: {"slot" | "asap" | "window"}
//	DELETE /v1/callbacks/{id}               cancel
//
// Times are RFC 3339. A window is {"from": T, "to": T}, either bound
// optional. Numbers may be written in any form package phone reads; national
// numbers are read in Deps.DefaultCountry.
//
// Example:
//
//	curl -H "Authorization: Bearer $TOKEN" -d '{"number":"+4930123456","asap":true}' \
//	    http://localhost:8080/v1/callbacks
package api
