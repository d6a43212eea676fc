package sip

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// Flood protection: every source address outside the trunks gets a token
// bucket of requests. Over it, requests are dropped without an answer — a
// response to a flood would only multiply it — and the drop is logged at
// most once a second per source. Trunks are not limited: a carrier sends a
// whole hotline's calls from one address.

// Default limits per source address.
const (
	DefaultSourceRate  = 20 // requests per second
	DefaultSourceBurst = 60
	// limiterIdle is how long an idle source's bucket is kept.
	limiterIdle = 5 * time.Minute
)

type sourceLimiter struct {
	rate   rate.Limit
	burst  int
	exempt func(netip.Addr) bool
	log    zerolog.Logger

	mu      sync.Mutex
	sources map[netip.Addr]*sourceBucket
	swept   time.Time
}

type sourceBucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
	lastLog  time.Time
	dropped  int
}

func newSourceLimiter(perSecond float64, burst int, exempt func(netip.Addr) bool, log zerolog.Logger) *sourceLimiter {
	return &sourceLimiter{rate: rate.Limit(perSecond), burst: burst, exempt: exempt, log: log,
		sources: make(map[netip.Addr]*sourceBucket)}
}

// allow reports whether a request from source may be served now.
func (l *sourceLimiter) allow(source string, now time.Time) bool {
	host, _, err := net.SplitHostPort(source)
	if err != nil {
		return true
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return true
	}
	addr = addr.Unmap()
	if l.exempt(addr) {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > limiterIdle {
		for a, b := range l.sources {
			if now.Sub(b.lastSeen) > limiterIdle {
				delete(l.sources, a)
			}
		}
		l.swept = now
	}
	b, ok := l.sources[addr]
	if !ok {
		b = &sourceBucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.sources[addr] = b
	}
	b.lastSeen = now
	if b.lim.AllowN(now, 1) {
		return true
	}
	b.dropped++
	if now.Sub(b.lastLog) >= time.Second {
		l.log.Warn().Str("source", addr.String()).Int("dropped", b.dropped).Msg("request flood: dropping requests from this source")
		b.lastLog, b.dropped = now, 0
	}
	return false
}

// limited wraps a request handler with the flood limit. A dropped request
// gets no response; its server transaction simply ends.
func (s *Server) limited(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *gosip.Request, tx gosip.ServerTransaction) {
		if !s.limiter.allow(req.Source(), time.Now()) {
			return
		}
		h(req, tx)
	}
}
