package operator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type fakeFrontDoor struct{ err error }

func (f *fakeFrontDoor) Serving() error { return f.err }

// Each condition of readiness, in order, on its own.
func TestReadinessConditions(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	r := newReadiness(30 * time.Second)
	r.now = func() time.Time { return now }
	r.lastAnswer.Store(now.UnixNano())
	elected := make(chan struct{})
	r.elected = elected
	fd := &fakeFrontDoor{err: errors.New("the front door is not listening")}
	r.frontDoor = fd
	probes := make(chan struct{}, 10)
	r.probe = func(context.Context) error { probes <- struct{}{}; return nil }
	expect := func(what, want string) {
		t.Helper()
		err := r.check(nil)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: not ready: %v", what, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want an error saying %q", what, err, want)
		}
	}
	expect("before the cache synced", "cache has not synced")
	r.cacheSynced.Store(true)
	expect("before the front door listens", "front door is not listening")
	fd.err = nil
	expect("a standby", "")
	close(elected)
	expect("elected, controllers not started", "controllers have not started")
	r.leaderStarted.Store(true)
	expect("the leader", "")
	now = now.Add(20 * time.Second)
	expect("20 s without an answer", "")
	select {
	case <-probes:
	case <-time.After(5 * time.Second):
		t.Error("no probe of the API server after a third of the bound without an answer")
	}
	now = now.Add(11 * time.Second)
	expect("31 s without an answer", "no answer from the API server for 31s")
	r.lastAnswer.Store(now.UnixNano())
	expect("an answer again", "")
}
