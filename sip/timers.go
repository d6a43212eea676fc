package sip

import (
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// TransactionLinger is how long a finished SIP transaction stays in memory
// to absorb a late retransmission of its request or final response.
//
// RFC 3261 and RFC 6026 keep a finished UDP transaction for 64*T1 = 32 s
// (timers D, J, L and M), and sipgo does: at 1,500 calls/s that is about
// 140,000 finished transactions, a gigabyte of heap, and the garbage
// collector's work of walking it showed up as the call-rate p99 (see
// bench/README.md). A retransmission comes at most T2 = 4 s after the one
// before, so a lost final response is absorbed well within 5 s; what
// arrives later gets an answer as a new request would (a late BYE: 481,
// which ends the dialog anyway; a late REGISTER: the same binding again).
// 5 s is also how long Kamailio's transaction module keeps a finished
// transaction (tm's wt_timer). Timers that make a transaction retransmit
// (A, E, G) or wait for an answer (B, F, H) keep their RFC values.
const TransactionLinger = 5 * time.Second

// init sets the linger of sipgo's finished transactions once, before any
// transaction exists: sipgo reads these package variables when it creates
// a transaction, and every SIP endpoint in a Teamline process is built on
// this package.
func init() {
	gosip.Timer_D = TransactionLinger // client INVITE after a non-2xx final response
	gosip.Timer_J = TransactionLinger // server non-INVITE after its final response
	gosip.Timer_L = TransactionLinger // server INVITE after a 2xx (RFC 6026 Accepted)
	gosip.Timer_M = TransactionLinger // client INVITE after a 2xx (RFC 6026 Accepted)
}
