package webhook

import (
	"sync"
	"time"
)

// failureBudget bounds the unknown redemption codes looked up at Tencent: per Product, shared by
// every client (the per-client rate limit stops one address; this stops guessing spread over
// many), and per client within a Product, so that one client cannot spend the whole Product's
// budget and lock every buyer out. A lookup takes one failure from both before it is made and
// gives it back when the code exists, so parallel guesses cannot overshoot.
//
// It is written here rather than on golang.org/x/time/rate: a rate.Reservation can be cancelled
// only until its time to act, which has passed once Tencent has answered.
type failureBudget struct {
	// perHour is the Product's budget; negative disables both.
	perHour int
	// clientShare is one client's budget within a Product.
	clientShare int

	mu       sync.Mutex
	products map[string]*failureBucket
	clients  map[string]*failureBucket
}

// failureBucket is a token bucket of failures, refilled at capacity an hour.
type failureBucket struct {
	tokens float64
	last   time.Time
}

// budgetRefusal says which budget refused a lookup.
type budgetRefusal int

const (
	budgetAvailable budgetRefusal = iota
	budgetProduct
	budgetClient
)

// budgetSpent is what take took, for giveBack.
type budgetSpent struct {
	product, client         *failureBucket
	productSize, clientSize int
}

// minClientShare is the least number of failures an hour one client may make on one Product: a
// buyer mistyping a code a few times is not locked out.
const minClientShare = 3

func newFailureBudget(perHour int) *failureBudget {
	if perHour == 0 {
		perHour = DefaultRedemptionFailureBudget
	}
	share := max(perHour/10, minClientShare)
	return &failureBudget{perHour: perHour, clientShare: share,
		products: map[string]*failureBucket{}, clients: map[string]*failureBucket{}}
}

// refill adds the failures earned since the bucket was last looked at.
func (b *failureBucket) refill(size int, now time.Time) {
	// Only forward: a concurrent lookup that read the clock a moment earlier adds nothing.
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(float64(size), b.tokens+elapsed.Hours()*float64(size))
		b.last = now
	}
}

// take takes one failure from the Product's budget and the client's share of it, or says which
// of them is spent.
func (f *failureBudget) take(product, client string, now time.Time) (budgetSpent, budgetRefusal) {
	if f.perHour < 0 {
		return budgetSpent{}, budgetAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.bucket(f.products, product, f.perHour, now)
	c := f.bucket(f.clients, product+"\x00"+client, f.clientShare, now)
	switch {
	case p.tokens < 1:
		return budgetSpent{}, budgetProduct
	case c.tokens < 1:
		return budgetSpent{}, budgetClient
	}
	p.tokens--
	c.tokens--
	return budgetSpent{product: p, client: c, productSize: f.perHour, clientSize: f.clientShare}, budgetAvailable
}

// giveBack returns what take took: the code existed.
func (f *failureBudget) giveBack(s budgetSpent) {
	if s.product == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s.product.tokens = min(float64(s.productSize), s.product.tokens+1)
	s.client.tokens = min(float64(s.clientSize), s.client.tokens+1)
}

// bucket returns the bucket of key, a full one when it is new. Products are few (only names of
// Products that exist and offer redemption reach here); clients are bounded like clientLimiter's.
func (f *failureBudget) bucket(m map[string]*failureBucket, key string, size int, now time.Time) *failureBucket {
	b, ok := m[key]
	if !ok {
		if len(m) >= maxLimitedClients {
			f.evict(m, size, now)
		}
		b = &failureBucket{tokens: float64(size), last: now}
		m[key] = b
	}
	b.refill(size, now)
	return b
}

// evict forgets buckets that are full again (forgetting them changes nothing), and if that frees
// too little, an arbitrary tenth. A forgotten client starts again with a full share, which the
// Product's budget still bounds.
func (f *failureBudget) evict(m map[string]*failureBucket, size int, now time.Time) {
	for k, b := range m {
		if b.refill(size, now); b.tokens >= float64(size) {
			delete(m, k)
		}
	}
	for k := range m {
		if len(m) < maxLimitedClients*9/10 {
			break
		}
		delete(m, k)
	}
}
