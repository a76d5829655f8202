package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// DefaultAPIServerUnreachableAfter is how long a replica goes without an answer from the API
// server before /readyz fails.
const DefaultAPIServerUnreachableAfter = 30 * time.Second

// readiness is the manager's /readyz check. A replica is ready when
//
//   - its cache has synced (every informer started so far has listed),
//   - its front door listens (when it has one),
//   - as the elected leader, its controllers have started, and
//   - the API server answered it within the last unreachableAfter.
//
// The last one is what takes a replica that lost the API server out of its Service, so that the
// marketplace's callbacks (each of which needs a write) go to a replica that can answer them.
// Every answer of the API server to the manager's client counts (the leader's lease renewals
// and the standbys' attempts arrive every retry period, so a leader-elected manager needs no
// extra request); when none came for a third of the bound, the check asks the API server's
// /readyz itself, in the background, so the kubelet's probe is answered at once.
type readiness struct {
	unreachableAfter time.Duration
	now              func() time.Time
	// lastAnswer is the time (UnixNano) of the API server's last answer below 500.
	lastAnswer atomic.Int64
	probing    atomic.Bool
	probe      func(context.Context) error

	cacheSynced   atomic.Bool
	leaderStarted atomic.Bool
	elected       <-chan struct{}
	frontDoor     interface{ Serving() error }
}

func newReadiness(unreachableAfter time.Duration) *readiness {
	if unreachableAfter <= 0 {
		unreachableAfter = DefaultAPIServerUnreachableAfter
	}
	r := &readiness{unreachableAfter: unreachableAfter, now: time.Now}
	r.lastAnswer.Store(r.now().UnixNano()) // starting counts as contact: the sync check covers startup
	return r
}

// wrap records every answer of the API server to cfg's clients.
func (r *readiness) wrap(cfg *rest.Config) {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if err == nil && resp.StatusCode < http.StatusInternalServerError {
				r.lastAnswer.Store(r.now().UnixNano())
			}
			return resp, err
		})
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// setUp registers what the check watches with mgr: a runnable on every replica that waits for
// the cache, and one on the leader that marks its controllers started; and the probe of the
// API server, through a client of cfg (wrapped already, so its answers count).
func (r *readiness) setUp(mgr manager.Manager, cfg *rest.Config) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	r.probe = func(ctx context.Context) error { return dc.RESTClient().Get().AbsPath("/readyz").Do(ctx).Error() }
	r.elected = mgr.Elected()
	if err := mgr.Add(everyReplica(func(ctx context.Context) error {
		if mgr.GetCache().WaitForCacheSync(ctx) {
			r.cacheSynced.Store(true)
		}
		return nil
	})); err != nil {
		return err
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		r.leaderStarted.Store(true)
		return nil
	}))
}

// check is the /readyz check.
func (r *readiness) check(*http.Request) error {
	if !r.cacheSynced.Load() {
		return errors.New("the cache has not synced yet")
	}
	if r.frontDoor != nil {
		if err := r.frontDoor.Serving(); err != nil {
			return err
		}
	}
	select {
	case <-r.elected:
		if !r.leaderStarted.Load() {
			return errors.New("elected leader; the controllers have not started yet")
		}
	default:
	}
	silent := r.now().Sub(time.Unix(0, r.lastAnswer.Load()))
	if silent > r.unreachableAfter/3 && r.probe != nil && r.probing.CompareAndSwap(false, true) {
		go func() {
			defer r.probing.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), max(r.unreachableAfter/3, time.Second))
			defer cancel()
			if err := r.probe(ctx); err != nil {
				ctrl.Log.WithName("readiness").V(1).Info("The API server did not answer", "error", err.Error())
			}
		}()
	}
	if silent > r.unreachableAfter {
		return fmt.Errorf("no answer from the API server for %s (more than %s)", silent.Round(time.Second), r.unreachableAfter)
	}
	return nil
}

// everyReplica is a runnable that runs on every replica, not only the leader.
type everyReplica func(context.Context) error

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }
func (everyReplica) NeedLeaderElection() bool          { return false }
