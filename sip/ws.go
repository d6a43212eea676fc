package sip

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// SIP over WebSocket (RFC 7118) for browser agents. sipgo upgrades the
// connections; in front of it wsListener checks what sipgo does not: the
// Origin of the upgrade request against the configured list (a page on
// another site must not register as an agent) and the "sip" subprotocol,
// and it reports every connection that closes so the registrar can drop
// the bindings made over it.

// wsHandshakeTimeout bounds how long a client may take to send its upgrade
// request.
const wsHandshakeTimeout = 10 * time.Second

// wsMaxHandshake bounds the size of an upgrade request.
const wsMaxHandshake = 16 << 10

// wsListener hands on only the connections whose upgrade request passes.
type wsListener struct {
	net.Listener
	transport string // "ws" or "wss", as the registrar records it
	origins   []string
	onClose   func(transport, remote string)
	log       zerolog.Logger

	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	acceptErr error
}

func newWSListener(l net.Listener, transport string, origins []string, onClose func(transport, remote string), log zerolog.Logger) *wsListener {
	w := &wsListener{Listener: l, transport: transport, origins: origins, onClose: onClose, log: log,
		conns: make(chan net.Conn), done: make(chan struct{})}
	go w.acceptLoop()
	return w
}

func (w *wsListener) acceptLoop() {
	for {
		conn, err := w.Listener.Accept()
		if err != nil {
			w.acceptErr = err
			w.closeOnce.Do(func() { close(w.done) })
			return
		}
		// A slow handshake must not hold up other clients.
		go w.check(conn)
	}
}

// Accept returns the next connection that passed the checks.
func (w *wsListener) Accept() (net.Conn, error) {
	select {
	case c := <-w.conns:
		return c, nil
	case <-w.done:
		if w.acceptErr != nil {
			return nil, w.acceptErr
		}
		return nil, net.ErrClosed
	}
}

// Close stops the listener.
func (w *wsListener) Close() error {
	err := w.Listener.Close()
	w.closeOnce.Do(func() { close(w.done) })
	return err
}

// check reads the upgrade request, refuses it with an HTTP error when the
// Origin or subprotocol is wrong, and otherwise passes the connection on
// with the request replayed for sipgo's upgrader.
func (w *wsListener) check(conn net.Conn) {
	remote := conn.RemoteAddr().String()
	_ = conn.SetReadDeadline(time.Now().Add(wsHandshakeTimeout))
	br := bufio.NewReaderSize(conn, 4096)
	var head bytes.Buffer
	for !bytes.HasSuffix(head.Bytes(), []byte("\r\n\r\n")) {
		line, err := br.ReadSlice('\n')
		head.Write(line)
		if err != nil || head.Len() > wsMaxHandshake {
			w.log.Debug().Err(err).Str("remote", remote).Msg("websocket handshake not read")
			_ = conn.Close()
			return
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head.Bytes())))
	if err != nil {
		w.refuse(conn, http.StatusBadRequest, "malformed upgrade request")
		return
	}
	origin := req.Header.Get("Origin")
	if !w.originAllowed(origin) {
		w.log.Warn().Str("remote", remote).Str("origin", origin).Msg("websocket from an origin that is not allowed: 403")
		w.refuse(conn, http.StatusForbidden, "origin not allowed")
		return
	}
	if !hasToken(req.Header.Values("Sec-WebSocket-Protocol"), "sip") {
		w.refuse(conn, http.StatusBadRequest, `the WebSocket subprotocol must be "sip" (RFC 7118)`)
		return
	}
	// What was read goes back in front of the rest of the stream.
	pending := append(head.Bytes(), peekBuffered(br)...)
	c := &wsConn{Conn: conn, pending: pending}
	c.onClose = func() { w.onClose(w.transport, remote) }
	select {
	case w.conns <- c:
	case <-w.done:
		_ = conn.Close()
	}
}

// originAllowed checks the Origin a browser sends with every WebSocket
// upgrade. A client that sends none is not a browser (a softphone speaking
// SIP over WebSocket): no web page can be acting through it, so it passes.
func (w *wsListener) originAllowed(origin string) bool {
	if origin == "" {
		return true
	}
	for _, o := range w.origins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

func (w *wsListener) refuse(conn net.Conn, status int, msg string) {
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = conn.Write([]byte("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) +
		"\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(msg)) +
		"\r\n\r\n" + msg))
	_ = conn.Close()
}

func peekBuffered(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return append([]byte(nil), b...)
}

func hasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// wsConn replays the bytes the check read, and reports its closing once.
type wsConn struct {
	net.Conn
	pending   []byte
	onClose   func()
	closeOnce sync.Once
}

func (c *wsConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	n, err := c.Conn.Read(p)
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		// A read deadline is not the end of the connection; anything else is.
		c.closed()
	}
	return n, err
}

func (c *wsConn) Close() error {
	c.closed()
	return c.Conn.Close()
}

func (c *wsConn) closed() { c.closeOnce.Do(c.onClose) }
