package media

import (
	"net/netip"
	"sync"
)

// A Session and a WebRTCLeg of the same process exchange packets in
// memory, not through the leg's plain-RTP socket: going through loopback
// would cost a sendto, a recvfrom and a goroutine wake-up per packet in
// each direction, on top of pion's own work. The call layer still wires
// them as it would wire a phone (Session.SetRemoteB with the leg's
// RTPAddr, then WebRTCLeg.Attach), and the session finds the leg behind
// that address here. The socket stays bound, so the address is unique
// and still works for a relay outside this process.

// localLegs are the live WebRTC legs of this process by their RTPAddr.
var localLegs = struct {
	sync.RWMutex
	m map[netip.AddrPort]*WebRTCLeg
}{m: make(map[netip.AddrPort]*WebRTCLeg)}

// addLocalLeg makes l reachable in memory at its RTPAddr.
func addLocalLeg(l *WebRTCLeg) {
	localLegs.Lock()
	localLegs.m[l.addr] = l
	localLegs.Unlock()
}

// removeLocalLeg forgets l once it ended.
func removeLocalLeg(l *WebRTCLeg) {
	localLegs.Lock()
	if localLegs.m[l.addr] == l {
		delete(localLegs.m, l.addr)
	}
	localLegs.Unlock()
}

// localLeg returns the live leg whose RTPAddr is addr, or nil.
func localLeg(addr netip.AddrPort) *WebRTCLeg {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	localLegs.RLock()
	defer localLegs.RUnlock()
	return localLegs.m[addr]
}
