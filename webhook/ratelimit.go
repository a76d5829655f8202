package webhook

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// maxLimitedClients bounds the per-client limiter's memory; past it the least recently seen
// clients are forgotten (they start again with a full bucket, which is harmless).
const maxLimitedClients = 50_000

// clientLimiter rate-limits requests per client, against guessing links and codes on the public
// pages. One per endpoint family.
type clientLimiter struct {
	every time.Duration
	burst int
	key   clientKeys

	mu      sync.Mutex
	clients map[string]*limitedClient
}

type limitedClient struct {
	limiter *rate.Limiter
	seen    time.Time
}

func newClientLimiter(every time.Duration, burst int, key clientKeys) *clientLimiter {
	return &clientLimiter{every: every, burst: burst, key: key, clients: map[string]*limitedClient{}}
}

// allow takes one token from the client's bucket.
func (l *clientLimiter) allow(r *http.Request, now time.Time) bool {
	key := l.key.of(r)
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

// DefaultClientIPv6Prefix is how many leading bits of an IPv6 address name one client: a /64 is
// what one subscriber usually gets, and picking another address in it costs nothing.
const DefaultClientIPv6Prefix = 64

// clientKeys says who a request's client is, for rate limits.
type clientKeys struct {
	// header, when set, names the header carrying the client's address (e.g. X-Real-IP), set by
	// a proxy in front of the front door. It is believed only from a peer in trusted.
	header string
	// trusted are the addresses of those proxies.
	trusted []netip.Prefix
	// hops is how many addresses at the header's right end proxies wrote
	// (DefaultClientIPProxyHops when 0).
	hops int
	// ipv6Prefix is the length of the IPv6 prefix one client is keyed by (DefaultClientIPv6Prefix
	// when 0; 128 keys by the whole address).
	ipv6Prefix int
}

func (o Options) clientKeys() clientKeys {
	return clientKeys{header: o.ClientIPHeader, trusted: o.TrustedProxies, hops: o.ClientIPProxyHops, ipv6Prefix: o.ClientIPv6Prefix}
}

func (k clientKeys) isTrusted(a netip.Addr) bool {
	for _, p := range k.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// of is the request's client key: the client's address, an IPv6 one cut to its prefix. The
// header is read only when the connection comes from a trusted proxy. There, its addresses are
// read from the right (proxies append to X-Forwarded-For; whatever lies left of what they wrote
// the client wrote itself), at most hops of them: the client is the first that is not itself a
// trusted proxy, or the hops-th. An entry that is not an address (or address:port) ends the walk
// at the address before it; an unreadable header counts as absent.
func (k clientKeys) of(r *http.Request) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		// Not a network peer (a test's httptest request, a unix socket): one bucket for all.
		return "peer:" + intake.Truncate(r.RemoteAddr, maxClientKey)
	}
	client := peer.Addr().Unmap()
	if k.header == "" || !k.isTrusted(client) {
		return k.keyOf(client)
	}
	hops := k.hops
	if hops <= 0 {
		hops = DefaultClientIPProxyHops
	}
	values := r.Header.Values(k.header)
	seen := 0
	for v := len(values) - 1; v >= 0 && seen < hops; v-- {
		rest := values[v]
		// Scanned from its end, so a long header costs no more than the hops read.
		for seen < hops {
			entry := rest
			if i := strings.LastIndexByte(rest, ','); i >= 0 {
				entry, rest = rest[i+1:], rest[:i]
			} else {
				rest = ""
			}
			a, ok := parseForwarded(entry)
			if !ok {
				return k.keyOf(client)
			}
			seen++
			client = a
			if !k.isTrusted(client) {
				return k.keyOf(client)
			}
			if rest == "" {
				break
			}
		}
	}
	return k.keyOf(client)
}

// parseForwarded reads one entry of a client address header: an address, an address:port, or a
// bracketed IPv6 address with or without a port, as proxies write them.
func parseForwarded(entry string) (netip.Addr, bool) {
	entry = strings.TrimSpace(entry)
	if len(entry) > maxForwardedEntry {
		return netip.Addr{}, false
	}
	if inner, ok := strings.CutPrefix(entry, "["); ok {
		if inner, ok := strings.CutSuffix(inner, "]"); ok {
			if a, err := netip.ParseAddr(inner); err == nil && a.Is6() && !a.Is4In6() {
				return a, true
			}
			return netip.Addr{}, false
		}
	} else if a, err := netip.ParseAddr(entry); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(entry); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// DefaultClientIPProxyHops is how many addresses of the client address header are read by
// default: one, the address the proxy in front of the front door saw. A pod that reaches the
// front door through that proxy is then keyed by its own address, whatever it writes in the
// header itself.
const DefaultClientIPProxyHops = 1

// maxForwardedHops bounds ClientIPProxyHops.
const maxForwardedHops = 16

// maxForwardedEntry bounds one header entry: the longest IPv6 address with a zone and a port.
const maxForwardedEntry = 64

// maxClientKey bounds a key that is not an address.
const maxClientKey = 64

func (k clientKeys) keyOf(a netip.Addr) string {
	if !a.Is6() {
		return a.String()
	}
	bits := k.ipv6Prefix
	if bits <= 0 || bits > 128 {
		bits = DefaultClientIPv6Prefix
	}
	p, err := a.WithZone("").Prefix(bits)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// ParsePrefixes reads a comma-separated list of CIDRs or single addresses.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
