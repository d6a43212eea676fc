// Package peer starts real SIP and RTP peers for Teamline's integration and
// end-to-end tests: SIPp scenarios (the trunk's callers and agents' phones),
// baresip (a real softphone agent with digest auth and auto-answer) and a
// small RTP endpoint that sends a G.711 tone and measures what comes back.
//
// Every helper takes a testing.TB, picks its own free ports, writes its files
// into the test's temporary directory, and registers a t.Cleanup that stops
// what it started. Every wait is bounded by a context and, when the context
// has no deadline, by a default bound.
//
// # SIPp
//
// The scenarios live in testdata/sipp at the module root (found by walking up
// from the working directory to go.mod). Each starts with a comment that says
// what it does and lists its keys as "@key name=default" lines; StartSIPp
// fills in the defaults and refuses unknown or missing keys, so a typo fails
// the test instead of silently changing a message. SIPp only signals: the SDP
// advertises the port of an RTPEndpoint (key rtp_port), and the scenario logs
// the far end's audio address ("REMOTE_RTP ip=... port=...") so the test can
// send to it from the same socket it receives on, as symmetric RTP needs.
//
// SIPp exit codes (see ExitAllCallsOK and friends): 0 every call succeeded,
// 1 at least one call failed, 97 stopped by an internal command, 99 ended
// without processing a call, 255 a fatal error (also the -timeout bound
// being reached, as StartSIPp passes -timeout_error), 254 a socket could not
// be bound.
//
// A customer call through Teamline, as an end-to-end test would drive it:
//
//	agentRTP, customerRTP := peer.NewRTPEndpoint(t), peer.NewRTPEndpoint(t)
//	agent := peer.StartSIPp(t, peer.SIPpOptions{Scenario: "agent_answer.xml",
//		Keys: map[string]string{"rtp_port": strconv.Itoa(agentRTP.Port())}})
//	// ... register the agent's Contact (register.xml, contact_port agent.Port()) ...
//	customer := peer.StartSIPp(t, peer.SIPpOptions{Scenario: "customer_call.xml",
//		Remote: teamlineAddr, Keys: map[string]string{"rtp_port": strconv.Itoa(customerRTP.Port())}})
//	toTeamline, _ := customer.RemoteRTP(ctx) // Teamline's port for the customer
//	customerRTP.StartSending(ctx, toTeamline, peer.PayloadPCMU, 1000)
//	fromAgentSide, _ := agent.RemoteRTP(ctx) // Teamline's port for the agent
//	agentRTP.StartSending(ctx, fromAgentSide, peer.PayloadPCMU, 440)
//	_ = agentRTP.WaitPackets(ctx, 50)  // then Received(): NonSilent, FreqHz ~1000
//	code, _ := customer.Wait(ctx)      // peer.ExitAllCallsOK
//
// Scenario quirks worth knowing when writing more: a key cannot be empty on a
// line of its own (the empty line ends the headers), hence the "headers" key
// that sits at the start of the Max-Forwards line and HeaderLines to fill it;
// response codes must be literal (so expected statuses are compared with
// strcmp in a recv action, the only place whose check fails a call); a nop
// right after a send can miss a fast reply, so branches hang on the send or
// recv itself (next= and test=); and every variable must be used twice.
//
// # baresip
//
// StartBaresip writes a config directory (ausine tone as microphone, sndfile
// recordings, ctrl_tcp for commands and events) and an account that registers
// at the given registrar and auto-answers. Events (REGISTER_OK,
// CALL_ESTABLISHED, CALL_CLOSED, ...) are read from ctrl_tcp and kept for
// diagnostics.
//
// # Known limits of the peers
//
// SIPp 3.6 and baresip 1.0 compute MD5 digests only. SIPp takes the algorithm,
// realm and nonce from the first WWW-Authenticate header (SHA-256 first is a
// fatal error), and baresip 1.0 gives up ("Function not implemented") when any
// challenge in the 401 names an algorithm other than MD5. A registrar that
// offers SHA-256 next to MD5 therefore needs an MD5-only mode for these peers.
package peer
