package tencent

import (
	"crypto/sha256"
	"sync"
	"time"
)

// maxReplayEntries bounds the replay guard's memory: at 1,000 callbacks a second and a 30 s window,
// 60,000 entries cover twice the window. Past it the oldest are forgotten first.
const maxReplayEntries = 100_000

// replayKey is a callback's signature. The signature covers the Token, timestamp and eventId,
// not the body; and because the marketplace sorts the three values before hashing them, the
// timestamp and eventId can be swapped without changing it. Keying on the signature alone makes
// such a rearranged copy count as the same request.
type replayKey string

type replayEntry struct {
	key  replayKey
	body [sha256.Size]byte
	seen time.Time
}

// replayGuard remembers the body of each signed request for the length of the signature window.
// Because the signature does not cover the body, a captured signature could otherwise carry any
// body for 30 s; a repeat with the *same* body is a legitimate retry and is let through.
// It is per replica: a replay sent to another replica is still bounded by the window.
type replayGuard struct {
	mu      sync.Mutex
	ttl     time.Duration
	entries map[replayKey]*replayEntry
	order   []*replayEntry // oldest first
}

func newReplayGuard(ttl time.Duration) *replayGuard {
	return &replayGuard{ttl: ttl, entries: map[replayKey]*replayEntry{}}
}

// admit records the request and reports whether it may proceed: false when the same signed
// parameters were seen within the window with a different body.
func (g *replayGuard) admit(key replayKey, body []byte, now time.Time) bool {
	sum := sha256.Sum256(body)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expire(now)
	if e, ok := g.entries[key]; ok {
		return e.body == sum
	}
	e := &replayEntry{key: key, body: sum, seen: now}
	g.entries[key] = e
	g.order = append(g.order, e)
	if len(g.order) > maxReplayEntries {
		delete(g.entries, g.order[0].key)
		g.order = g.order[1:]
	}
	return true
}

// expire forgets entries older than twice the window (a timestamp may lie a window in the future).
func (g *replayGuard) expire(now time.Time) {
	i := 0
	for ; i < len(g.order) && now.Sub(g.order[i].seen) > 2*g.ttl; i++ {
		delete(g.entries, g.order[i].key)
	}
	if i > 0 {
		g.order = append([]*replayEntry(nil), g.order[i:]...)
	}
}
