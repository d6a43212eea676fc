// Command tlbench is Teamline's benchmark harness, run by `make bench`.
//
// It builds Teamline, starts it (and, when DATABASE_URL is unset, a
// throwaway PostgreSQL) on loopback, and measures, with the system under
// test pinned to one core and the load generators to another:
//
//  1. call rate: SIPp callers through a trunk into Teamline, answered by one
//     SIPp instance for every registered agent, stepped up in calls/s;
//  2. the same SIPp load through Kamailio as a plain stateful proxy, the
//     reference ceiling for signalling;
//  3. media relay: N concurrent calls with G.711 RTP both ways at 20 ms from
//     the harness's own generator, which measures loss, reordering and
//     latency;
//  4. browser agents: N concurrent calls whose agent leg is WebRTC (pion
//     peers of the harness's own that register over SIP-over-WebSocket and
//     answer with ICE and DTLS-SRTP), the trunk leg plain RTP, with
//     Teamline's CPU per call as a ratio to plain relayed calls at the
//     same N;
//  5. the Go micro-benchmarks of the hot paths.
//
// Targets are printed next to the figures; nothing here fails on a timing.
// A table goes to stdout and the same figures as JSON to bench/results/.
//
//	go run ./bench/cmd/tlbench            # full run, under 10 minutes
//	BENCH_QUICK=1 go run ./bench/cmd/tlbench   # under 2 minutes
//	go run ./bench/cmd/tlbench -h         # flags
package main

import (
	"os"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
