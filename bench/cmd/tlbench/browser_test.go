package main

import (
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCPUStat(t *testing.T) {
	t.Parallel()
	stat := "cpu  300 5 100 1000 20 1 2 3 50 0\ncpu0 200 5 60 400 10 1 1 3 50 0\ncpu1 100 0 40 600 10 0 1 0 0 0\nintr 123\n"
	tests := []struct {
		name    string
		line    string
		want    cpuTimes
		wantErr bool
	}{
		// busy = user nice system irq softirq steal; guest is in user.
		{name: "all", line: "cpu", want: cpuTimes{busy: 300 + 5 + 100 + 1 + 2 + 3, total: 300 + 5 + 100 + 1000 + 20 + 1 + 2 + 3}},
		{name: "core 0", line: "cpu0", want: cpuTimes{busy: 200 + 5 + 60 + 1 + 1 + 3, total: 200 + 5 + 60 + 400 + 10 + 1 + 1 + 3}},
		{name: "core 1", line: "cpu1", want: cpuTimes{busy: 141, total: 751}},
		{name: "no such core", line: "cpu7", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseCPUStat(strings.NewReader(stat), tt.line)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := parseCPUStat(strings.NewReader("cpu0 1 2\n"), "cpu0"); err == nil {
		t.Error("a short line parsed")
	}
	if _, err := parseCPUStat(strings.NewReader("cpu0 1 2 x 4 5\n"), "cpu0"); err == nil {
		t.Error("a line with a non-number parsed")
	}
}

func TestBusyPercentSince(t *testing.T) {
	t.Parallel()
	then := cpuTimes{busy: 100, total: 1000}
	if got := (cpuTimes{busy: 175, total: 1100}).busyPercentSince(then); got != 75 {
		t.Errorf("busy = %v, want 75", got)
	}
	if got := then.busyPercentSince(then); got != 0 {
		t.Errorf("busy over no time = %v, want 0", got)
	}
}

func TestPerCallAndRatio(t *testing.T) {
	t.Parallel()
	if got := perCall(12, 100); got != 0.12 {
		t.Errorf("perCall = %v", got)
	}
	if perCall(12, 0) != 0 {
		t.Error("perCall of no calls is not 0")
	}
	if got := ratio(perCall(18, 100), perCall(8, 100)); math.Abs(got-2.25) > 1e-9 {
		t.Errorf("ratio = %v, want 2.25", got)
	}
	if ratio(1, 0) != 0 || ratio(0, 1) != 0 {
		t.Error("a ratio with an unknown side is not 0")
	}
	if lossPercent(200, 150) != 25 || lossPercent(0, 0) != 0 || lossPercent(10, 12) != 0 {
		t.Error("lossPercent")
	}
}

func TestRTPPayload(t *testing.T) {
	t.Parallel()
	payload := []byte{1, 2, 3, 4}
	hdr := func(b0 byte) []byte { return []byte{b0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3} }
	tests := []struct {
		name string
		pkt  []byte
		want []byte
		ok   bool
	}{
		{name: "plain", pkt: append(hdr(0x80), payload...), want: payload, ok: true},
		{name: "two csrcs", pkt: slices.Concat(hdr(0x82), make([]byte, 8), payload), want: payload, ok: true},
		{name: "extension of one word", pkt: slices.Concat(hdr(0x90), []byte{0xbe, 0xde, 0, 1}, make([]byte, 4), payload), want: payload, ok: true},
		{name: "padding", pkt: slices.Concat(hdr(0xa0), payload, []byte{0, 0, 3}), want: payload, ok: true},
		{name: "version 1", pkt: append(hdr(0x40), payload...)},
		{name: "short", pkt: hdr(0x80)[:11]},
		{name: "extension past the end", pkt: slices.Concat(hdr(0x90), []byte{0xbe, 0xde, 0, 9})},
		{name: "padding past the header", pkt: slices.Concat(hdr(0xa0), []byte{40})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := rtpPayload(tt.pkt)
			if ok != tt.ok || !slices.Equal(got, tt.want) {
				t.Errorf("rtpPayload = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestBrowserHeadline(t *testing.T) {
	t.Parallel()
	step := func(calls, up int, r float64, saturated bool) browserStep {
		return browserStep{Calls: calls, Established: up, Ratio: r, Saturated: saturated}
	}
	tests := []struct {
		name  string
		steps []browserStep
		want  int // calls of the headline step; 0 none
	}{
		{name: "largest", steps: []browserStep{step(50, 50, 1.5, false), step(100, 100, 1.7, false)}, want: 100},
		{name: "unsaturated over larger saturated", steps: []browserStep{step(50, 50, 1.5, false), step(100, 100, 3, true)}, want: 50},
		{name: "saturated when nothing else", steps: []browserStep{step(50, 50, 1.5, true), step(100, 100, 3, true)}, want: 100},
		{name: "calls not up do not count", steps: []browserStep{step(50, 50, 1.5, false), step(100, 80, 1.2, false)}, want: 50},
		{name: "unknown ratio", steps: []browserStep{step(50, 50, 0, false)}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := (&browserRun{Steps: tt.steps}).headline()
			if ok != (tt.want != 0) || got.Calls != tt.want {
				t.Errorf("headline = %d calls (%v), want %d", got.Calls, ok, tt.want)
			}
		})
	}
}

func TestPlainAt(t *testing.T) {
	t.Parallel()
	m := &mediaRun{Steps: []mediaStep{{Calls: 100, CPUPercent: 5}, {Calls: 500, CPUPercent: 20}}}
	if s, from := plainAt(m, 500); s == nil || s.CPUPercent != 20 || from != "media part" {
		t.Errorf("plainAt(500) = %+v, %q", s, from)
	}
	if s, _ := plainAt(m, 50); s != nil {
		t.Errorf("plainAt(50) = %+v, want none", s)
	}
	if s, _ := plainAt(nil, 100); s != nil {
		t.Error("plainAt without a media part found a step")
	}
}

func TestBrowserOptions(t *testing.T) {
	t.Parallel()
	o, err := parseOptions([]string{"-quick", "-skip", "browser,micro"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.browser, []int{50, 100}) || !o.skip["browser"] || o.browserRate != defaultBrowserRate {
		t.Errorf("quick browser options = %v, skip %v, rate %d", o.browser, o.skip, o.browserRate)
	}
	o, err = parseOptions([]string{"-rates", "10", "-media", "100", "-browser", "300"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.agents != 400 {
		t.Errorf("agents = %d, want 400 (plain steps at the browser's N need SIPp agents too)", o.agents)
	}
	if _, err := parseOptions([]string{"-browser-setup-rate", "0"}, io.Discard); err == nil {
		t.Error("a zero setup rate was accepted")
	}
}

func TestTeamlineConfigWebSocket(t *testing.T) {
	t.Parallel()
	if cfg := teamlineConfig(5060, 0, 8080, 1, "pw"); strings.Contains(cfg, "ws:") {
		t.Error("config without a WebSocket port serves one")
	}
	cfg := teamlineConfig(5060, 5066, 8080, 1, "pw")
	for _, want := range []string{`ws: "127.0.0.1:5066"`, "ws_origins: ["} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %s:\n%s", want, cfg)
		}
	}
}

// loopWriter hands what a virtual stream sends straight to the
// generator's receiving side, as a WebRTC peer's track reader would.
type loopWriter struct{ g *generator }

func (w loopWriter) Write(b []byte) (int, error) {
	w.g.countRTP(b)
	return len(b), nil
}

// Packets are counted per direction: a UDP stream that sends to itself is
// direction 0, a virtual stream looped back into countRTP direction 1.
func TestGeneratorDirections(t *testing.T) {
	t.Parallel()
	g, err := newMixedGenerator(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	g.split = 1
	self := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(g.streams[0].port))
	g.streams[0].dst.Store(&self)
	g.streams[1].out.Store(&packetOut{w: loopWriter{g}})
	g.start()
	c := g.measure(300*time.Millisecond, 200*time.Millisecond)
	// 50 packets/s for 0.3 s is about 15 per stream.
	if c.sentDir[0] < 5 || c.sentDir[1] < 5 {
		t.Fatalf("sent per direction %v", c.sentDir)
	}
	if c.recvDir[1] != c.sentDir[1] {
		t.Errorf("virtual stream: sent %d, counted %d", c.sentDir[1], c.recvDir[1])
	}
	if c.recvDir[0] == 0 || c.recvDir[0] > c.sentDir[0] {
		t.Errorf("udp stream: sent %d, received %d", c.sentDir[0], c.recvDir[0])
	}
	if c.sent != c.sentDir[0]+c.sentDir[1] || c.recv != c.recvDir[0]+c.recvDir[1] {
		t.Errorf("totals %d/%d do not add up to %v/%v", c.sent, c.recv, c.sentDir, c.recvDir)
	}
}
