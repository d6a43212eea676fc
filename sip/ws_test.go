package sip

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestWSListenerChecksOriginAndReportsClose(t *testing.T) {
	t.Parallel()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan string, 4)
	wl := newWSListener(raw, "wss", []string{"https://console.example"},
		func(transport, remote string) { closed <- transport + " " + remote }, zerolog.Nop())
	t.Cleanup(func() { _ = wl.Close() })

	upgrade := func(origin, protocol string) string {
		r := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		if origin != "" {
			r += "Origin: " + origin + "\r\n"
		}
		if protocol != "" {
			r += "Sec-WebSocket-Protocol: " + protocol + "\r\n"
		}
		return r + "\r\n"
	}
	status := func(req string) string {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = c.Write([]byte(req))
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	for _, tt := range []struct{ name, req, want string }{
		{"foreign origin", upgrade("https://evil.example", "sip"), "HTTP/1.1 403 Forbidden"},
		{"no sip subprotocol", upgrade("https://console.example", "chat"), "HTTP/1.1 400 Bad Request"},
		{"not HTTP", "\x16\x03\x01 garbage\r\n\r\n", "HTTP/1.1 400 Bad Request"},
	} {
		if got := status(tt.req); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}

	// Allowed (and an Origin-less client): the connection is handed on with
	// the request replayed, and its end is reported once.
	for _, origin := range []string{"https://console.example", ""} {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		req := upgrade(origin, "sip, chat")
		_, _ = c.Write([]byte(req))
		accepted, err := wl.Accept()
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(req))
		if _, err := io.ReadFull(accepted, got); err != nil || string(got) != req {
			t.Fatalf("replayed %q, %v; want the upgrade request", got, err)
		}
		_ = c.Close()
		buf := make([]byte, 1)
		if _, err := accepted.Read(buf); err == nil {
			t.Fatal("read after the peer closed did not fail")
		}
		_ = accepted.Close()
		select {
		case ev := <-closed:
			if !strings.HasPrefix(ev, "wss 127.0.0.1:") {
				t.Fatalf("close reported as %q", ev)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("closed connection not reported")
		}
		select {
		case ev := <-closed:
			t.Fatalf("close reported twice: %q", ev)
		default:
		}
	}
}
