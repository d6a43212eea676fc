package media_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/teamline/teamline/media"
)

// A caller's offer as a trunk might send it, answered towards the agent
// with Teamline's own address: only G.711 and telephone-event remain.
func ExampleRewriteSDP() {
	offer := strings.ReplaceAll(`v=0
o=trunk 2890844526 2890844526 IN IP4 192.0.2.50
s=-
c=IN IP4 192.0.2.50
t=0 0
m=audio 49170 RTP/AVP 9 0 8 101
a=rtpmap:9 G722/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
`, "\n", "\r\n")

	_, caller, err := media.ParseSDP([]byte(offer))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("caller sends from", caller.RTP)

	out, err := media.RewriteSDP([]byte(offer), netip.MustParseAddrPort("198.51.100.1:20000"), 1, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(strings.ReplaceAll(string(out), "\r\n", "\n"))
	// Output:
	// caller sends from 192.0.2.50:49170
	// v=0
	// o=teamline 1 1 IN IP4 198.51.100.1
	// s=Teamline
	// c=IN IP4 198.51.100.1
	// t=0 0
	// m=audio 20000 RTP/AVP 0 8 101
	// c=IN IP4 198.51.100.1
	// a=rtpmap:101 telephone-event/8000
	// a=fmtp:101 0-16
	// a=ptime:20
}

// How a call uses the relay: one session per call, the caller's and the
// agent's SDP addresses, start on answer, close on hang-up.
func ExampleManager() {
	log := zerolog.Nop()
	m, err := media.NewManager(media.Config{
		BindIP:         netip.MustParseAddr("127.0.0.1"),
		PortMin:        30000,
		PortMax:        30099,
		SilenceTimeout: 30 * time.Second,
	}, log)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := m.NewSession("call-id", log.With().Str("call_id", "call-id").Logger())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	s.SetRemoteA(netip.MustParseAddrPort("127.0.0.1:6000"))  // from the caller's offer
	s.SetRemoteB(netip.MustParseAddrPort("127.0.0.1:10438")) // from the agent's answer
	// The caller's answer carries s.LocalA(), the agent's offer s.LocalB().
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Hour) // maximum call duration
	defer cancel()
	s.Start(ctx)
	<-s.Done() // the call ends: hang-up (Close), ctx, or media silence (ErrSilence)
}
