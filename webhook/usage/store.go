package usage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// DefaultFlushInterval is the least time between two writes of one ledger: the reports of its
// tenants that arrive meanwhile wait for one write together. One second keeps a report's answer
// within about a second while a Product's 16 ledgers take at most 16 writes a second, however
// many tenants report.
const DefaultFlushInterval = time.Second

// writeTimeout bounds one ledger write (with its conflict retries).
const writeTimeout = 10 * time.Second

// ErrNotStored means a report's ledger write failed: the report was not counted (or, when the
// API server's answer was lost, may have been): the app retries with the same id, which is
// never counted twice.
var ErrNotStored = errors.New("the report could not be stored; retry it with the same id")

// Store writes reports to the UsageLedgers, batching those of one ledger within Interval into
// one write. A report is answered only once the write holding it succeeded. RBAC: usageledgers
// get, list, watch, create, update; tenants get, list, watch (the cache).
type Store struct {
	// Client reads ledgers and tenants from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads a ledger around the cache after a conflict.
	APIReader client.Reader
	// Interval is the least time between two writes of one ledger (DefaultFlushInterval when 0).
	Interval time.Duration
	// Clock is the time source (the real clock when nil).
	Clock clock.PassiveClock
	// Log receives write failures.
	Log logr.Logger

	mu      sync.Mutex
	ctx     context.Context
	ledgers map[string]*shard
	wg      sync.WaitGroup
}

// shard is one ledger's queue and writer.
type shard struct {
	key     client.ObjectKey
	product *saasv1alpha1.Product
	wake    chan struct{}

	mu      sync.Mutex
	pending []*waiting
	// last is the ledger as this replica last wrote it: the next write starts from it rather
	// than from the cache, which may not have seen that write yet. A conflict (another replica
	// wrote) reads the ledger again.
	last *saasv1alpha1.UsageLedger
}

type waiting struct {
	Pending
	done chan result
}

type result struct {
	outcome Outcome
	err     error
}

// Start opens the store: its writers run until ctx ends, then write what is queued once more.
func (s *Store) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctx = ctx
}

// Wait returns when the writers of a store whose context ended are done.
func (s *Store) Wait() { s.wg.Wait() }

// Submit queues a report of a tenant of product and waits until its ledger write is done, or
// ctx ends (the report may then still be written: a retry with the same id is safe).
func (s *Store) Submit(ctx context.Context, product *saasv1alpha1.Product, p Pending) (Outcome, error) {
	sh, err := s.shard(product, p.Tenant)
	if err != nil {
		return Outcome{}, err
	}
	w := &waiting{Pending: p, done: make(chan result, 1)}
	sh.mu.Lock()
	sh.pending = append(sh.pending, w)
	sh.mu.Unlock()
	select {
	case sh.wake <- struct{}{}:
	default:
	}
	select {
	case r := <-w.done:
		return r.outcome, r.err
	case <-ctx.Done():
		return Outcome{}, fmt.Errorf("%w: %v", ErrNotStored, ctx.Err())
	}
}

// shard returns the ledger's queue, starting its writer the first time.
func (s *Store) shard(product *saasv1alpha1.Product, tenant string) (*shard, error) {
	name := saasv1alpha1.UsageLedgerName(product.Name, tenant)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil || s.ctx.Err() != nil {
		return nil, fmt.Errorf("%w: the front door is stopping", ErrNotStored)
	}
	if s.ledgers == nil {
		s.ledgers = map[string]*shard{}
	}
	sh := s.ledgers[name]
	if sh == nil {
		sh = &shard{key: client.ObjectKey{Name: name}, product: product, wake: make(chan struct{}, 1)}
		s.ledgers[name] = sh
		s.wg.Add(1)
		go s.run(s.ctx, sh)
	}
	sh.mu.Lock()
	sh.product = product // the newest seen: its uid owns a ledger created now
	sh.mu.Unlock()
	return sh, nil
}

func (s *Store) interval() time.Duration {
	if s.Interval <= 0 {
		return DefaultFlushInterval
	}
	return s.Interval
}

func (s *Store) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock.Now()
}

// run writes the shard's pending reports, at most once per interval, until ctx ends; then it
// writes what is left once more.
func (s *Store) run(ctx context.Context, sh *shard) {
	defer s.wg.Done()
	var lastWrite time.Time
	for {
		stopping := false
		select {
		case <-sh.wake:
		case <-ctx.Done():
			stopping = true
		}
		if wait := time.Until(lastWrite.Add(s.interval())); wait > 0 && !stopping {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				stopping = true
			}
		}
		sh.mu.Lock()
		batch := sh.pending
		sh.pending = nil
		sh.mu.Unlock()
		if len(batch) > 0 {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
			s.flush(wctx, sh, batch)
			cancel()
			lastWrite = time.Now()
		}
		if stopping {
			s.failPending(sh)
			return
		}
	}
}

// failPending answers what arrived after the last write of a stopping store.
func (s *Store) failPending(sh *shard) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, w := range sh.pending {
		w.done <- result{err: fmt.Errorf("%w: the front door is stopping", ErrNotStored)}
	}
	sh.pending = nil
}

// backoff spaces the retries of a ledger write that raced another replica.
var backoff = wait.Backoff{Steps: 8, Duration: 10 * time.Millisecond, Factor: 2, Jitter: 1}

// flush writes one batch to the ledger and answers each report.
func (s *Store) flush(ctx context.Context, sh *shard, batch []*waiting) {
	pending := make([]Pending, len(batch))
	for i, w := range batch {
		pending[i] = w.Pending
	}
	sh.mu.Lock()
	product := sh.product
	start := sh.last
	sh.mu.Unlock()
	var outcomes []Outcome
	attempt := 0
	err := retry.RetryOnConflict(backoff, func() error {
		attempt++
		ledger, exists, err := s.read(ctx, sh.key, product, start, attempt)
		if err != nil {
			return err
		}
		var changed bool
		outcomes, changed = Apply(ledger, pending, s.now(), s.alive(ctx))
		if !changed {
			return nil
		}
		if exists {
			err = s.Client.Update(ctx, ledger)
		} else {
			if err = s.Client.Create(ctx, ledger); apierrors.IsAlreadyExists(err) {
				// Another replica created it first: read it and apply there.
				err = apierrors.NewConflict(saasv1alpha1.GroupVersion.WithResource("usageledgers").GroupResource(), sh.key.Name, err)
			}
		}
		if err == nil {
			ledgerWritesTotal.WithLabelValues(product.Name).Inc()
			sh.mu.Lock()
			sh.last = ledger.DeepCopy()
			sh.mu.Unlock()
		}
		return err
	})
	if err != nil {
		s.Log.Error(err, "Usage ledger write failed; its reports are answered as not stored", "ledger", sh.key.Name, "reports", len(batch))
		sh.mu.Lock()
		sh.last = nil
		sh.mu.Unlock()
	}
	for i, w := range batch {
		var r result
		if err != nil {
			r.err = fmt.Errorf("%w: %v", ErrNotStored, err)
			reportsTotal.WithLabelValues(product.Name, "not_stored").Inc()
		} else {
			r.outcome = outcomes[i]
			reportsTotal.WithLabelValues(product.Name, outcomeLabel(outcomes[i])).Inc()
		}
		w.done <- r
	}
}

// read returns the ledger to apply a batch to: the one this replica last wrote on a first
// attempt, else the cache's on a first attempt, else the API server's (after a conflict).
// exists is false when there is none yet: it is returned new, of product and owned by it, to be
// created.
func (s *Store) read(ctx context.Context, key client.ObjectKey, product *saasv1alpha1.Product, last *saasv1alpha1.UsageLedger,
	attempt int) (*saasv1alpha1.UsageLedger, bool, error) {
	if attempt == 1 && last != nil {
		return last.DeepCopy(), true, nil
	}
	var reader client.Reader = s.Client
	if attempt > 1 {
		reader = s.APIReader
	}
	l := &saasv1alpha1.UsageLedger{}
	err := reader.Get(ctx, key, l)
	if apierrors.IsNotFound(err) {
		return &saasv1alpha1.UsageLedger{ObjectMeta: metav1.ObjectMeta{Name: key.Name,
			Labels: map[string]string{saasv1alpha1.ProductLabel: product.Name},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: saasv1alpha1.GroupVersion.String(), Kind: "Product",
				Name: product.Name, UID: product.UID, BlockOwnerDeletion: ptr.To(false)}}},
			Product: product.Name}, false, nil
	}
	return l, err == nil, err
}

// pruneGrace is how long the counters of a tenant this replica's cache does not hold are kept
// after their last report. Another replica may have stored them for a tenant created a moment
// ago, which this replica's cache has not seen yet: only counters that went quiet are dropped.
const pruneGrace = 10 * time.Minute

// alive says whether to keep a ledger entry: its tenant exists (in the cache) with its uid, or
// it was reported to within pruneGrace. The counters of a tenant removed, or created again under
// its name, are dropped at a later write. A cache error keeps them.
func (s *Store) alive(ctx context.Context) func(*saasv1alpha1.TenantUsage) bool {
	now := s.now()
	return func(u *saasv1alpha1.TenantUsage) bool {
		t := &saasv1alpha1.Tenant{}
		err := s.Client.Get(ctx, client.ObjectKey{Name: u.Name}, t)
		switch {
		case err == nil && t.UID == u.UID:
			return true
		case err != nil && !apierrors.IsNotFound(err):
			return true
		}
		for _, c := range u.Counters {
			if now.Sub(c.ReportedAt.Time) < pruneGrace {
				return true
			}
		}
		return false
	}
}

func outcomeLabel(o Outcome) string {
	switch {
	case o.Err != nil:
		return "refused"
	case o.Duplicate:
		return "duplicate"
	}
	return "stored"
}

var (
	reportsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenant_operator_usage_reports_total",
		Help: "Usage reports of tenant apps that reached the ledger writer, by Product and outcome (stored, duplicate: a retry answered as before, refused: a counter below the stored one or an id reused, not_stored: the ledger write failed).",
	}, []string{"product", "outcome"})

	ledgerWritesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenant_operator_usage_ledger_writes_total",
		Help: "Writes of UsageLedgers to the API server, by Product: the batching of reports shows as reports per write.",
	}, []string{"product"})
)

func init() {
	metrics.Registry.MustRegister(reportsTotal, ledgerWritesTotal)
}

// Read returns the stored usage of a tenant (from reader: the manager's cache), nil when it
// reported none.
func Read(ctx context.Context, reader client.Reader, t *saasv1alpha1.Tenant) (*saasv1alpha1.TenantUsage, error) {
	l := &saasv1alpha1.UsageLedger{}
	if err := reader.Get(ctx, client.ObjectKey{Name: saasv1alpha1.UsageLedgerName(t.Spec.Product, t.Name)}, l); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return l.Tenant(t.Name, t.UID), nil
}
