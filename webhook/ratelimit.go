package webhook

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimitedClients bounds the per-client limiter's memory; past it the least recently seen
// clients are forgotten (they start again with a full bucket, which is harmless).
const maxLimitedClients = 50_000

// clientLimiter rate-limits requests per client address, against guessing links and codes on
// the public pages. One per endpoint family.
type clientLimiter struct {
	every time.Duration
	burst int
	// header, when set, names the header carrying the client's address (e.g. X-Real-IP), for a
	// front door behind a proxy that sets it; otherwise the connection's address is used.
	header string

	mu      sync.Mutex
	clients map[string]*limitedClient
}

type limitedClient struct {
	limiter *rate.Limiter
	seen    time.Time
}

func newClientLimiter(every time.Duration, burst int, header string) *clientLimiter {
	return &clientLimiter{every: every, burst: burst, header: header, clients: map[string]*limitedClient{}}
}

// allow takes one token from the client's bucket.
func (l *clientLimiter) allow(r *http.Request, now time.Time) bool {
	key := l.clientAddr(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= maxLimitedClients {
			l.evict(now)
		}
		c = &limitedClient{limiter: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.clients[key] = c
	}
	c.seen = now
	return c.limiter.AllowN(now, 1)
}

// evict forgets clients idle long enough for their bucket to be full again (forgetting them
// changes nothing), and if that frees too little, an arbitrary tenth (map order is random).
func (l *clientLimiter) evict(now time.Time) {
	idle := l.every * time.Duration(l.burst)
	for k, c := range l.clients {
		if now.Sub(c.seen) >= idle {
			delete(l.clients, k)
		}
	}
	for k := range l.clients {
		if len(l.clients) < maxLimitedClients*9/10 {
			break
		}
		delete(l.clients, k)
	}
}

// maxClientKey bounds a client key taken from a header (an IPv6 address with a zone fits), so
// that forged header values cannot make the limiter's keys large.
const maxClientKey = 64

func (l *clientLimiter) clientAddr(r *http.Request) string {
	if l.header != "" {
		if v := r.Header.Get(l.header); v != "" {
			first, _, _ := strings.Cut(v, ",")
			first = strings.TrimSpace(first)
			if len(first) > maxClientKey {
				first = strings.TrimSpace(first[:maxClientKey])
			}
			return first
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
