// Package media anchors a call's audio in Teamline: it relays RTP and RTCP
// between the caller's leg and the agent's leg, and rewrites the SDP each
// leg sees so that both parties send their media to Teamline.
//
// # Relay
//
// A Manager owns a range of UDP ports. Manager.NewSession binds two pairs of
// sockets per call, side A for the caller (trunk) and side B for the agent,
// each an even RTP port and the RTCP port above it. Session.Start relays
// packets read on one side's socket out of the other side's matching socket,
// byte for byte: G.711 (PCMU, PCMA) and RFC 4733 telephone-event pass
// through untouched, nothing is transcoded or re-packetised.
//
// On Linux a session has no goroutine of its own: its four non-blocking
// sockets sit in the epoll instance of one of a few poll loops (one per
// GOMAXPROCS, each a goroutine parked on its epoll descriptor through the
// runtime poller). A loop reads each ready socket into its one 1500-byte
// buffer, checks the RTP header with pion/rtp into a reused rtp.Header and
// sends with sendto: relaying a packet does not allocate (TestRelayAllocs,
// BenchmarkRelayPacket, BenchmarkRelayLoad), and a relayed call holds about
// 3 KB of Go memory (BenchmarkSessionMemory). Elsewhere each socket has its
// own reader goroutine. Packets that are not RTP
// version 2 (or not RTCP on an RTCP socket) are dropped and counted.
//
// A session sends first to the addresses given from SDP and then latches
// onto the addresses packets actually come from (symmetric RTP); see
// Session for the exact rule. A single timer per session ends it with
// ErrSilence when no RTP arrives from either side for
// Config.SilenceTimeout. Close, the end of Start's context, or the silence
// timeout close the sockets, wait for the goroutines and return the ports.
//
// # SDP
//
// ParseSDP reads the first active audio stream of an offer or answer
// (address, RTCP address, codecs, direction). RewriteSDP produces the SDP
// Teamline sends to the other leg: the same stream anchored at the
// session's local address, stripped to PCMU, PCMA and telephone-event, with
// ICE, DTLS and SDES lines removed, since the relay speaks plain RTP
// (RFC 3550, RFC 3551, RFC 3264, RFC 4566).
//
// # WebRTC agent legs
//
// A browser agent's media is ICE + DTLS-SRTP, which the relay does not
// speak. A WebRTCLeg stands between the two: towards the browser it is a
// pion PeerConnection that offers PCMU and telephone-event only, with every
// candidate gathered before the SDP goes out (SIP has no trickle ICE);
// towards the relay it is one plain UDP socket (RTPAddr) that the call
// layer gives to Session.SetRemoteB as if it were a softphone's address,
// and Attach tells the leg where the session's side B is. Audio is
// decrypted and re-encrypted, never transcoded: PCMU is written through a
// TrackLocalStaticRTP, telephone-event is mapped between the trunk's and
// the browser's payload types, comfort noise is dropped, and sequence
// numbers stay continuous when the relay side's SSRC changes. Neither
// direction allocates per packet (BenchmarkWebRTCToBrowser,
// BenchmarkWebRTCFromBrowser) unless RTCP receiver reports are enabled.
// Done reports a browser that went away (ICE failed, DTLS closed).
package media
