package tencent

import (
	"strconv"
	"testing"
	"time"
)

func TestReplayGuard(t *testing.T) {
	g := newReplayGuard(30 * time.Second)
	now := time.Unix(1_800_000_000, 0)
	k := replayKey("s")
	if !g.admit(k, []byte(`{"a":1}`), now) {
		t.Fatal("first request refused")
	}
	if !g.admit(k, []byte(`{"a":1}`), now.Add(time.Second)) {
		t.Fatal("identical retry refused")
	}
	if g.admit(k, []byte(`{"a":2}`), now.Add(2*time.Second)) {
		t.Fatal("same signature with another body admitted")
	}
	if !g.admit(replayKey("t"), []byte(`{"a":2}`), now) {
		t.Fatal("another event refused")
	}
	// After twice the window the entry is forgotten (the timestamp check refuses it by then anyway).
	if !g.admit(k, []byte(`{"a":2}`), now.Add(61*time.Second)) {
		t.Fatal("entry not expired")
	}
	if len(g.entries) != len(g.order) {
		t.Fatalf("index out of step: %d entries, %d in order", len(g.entries), len(g.order))
	}
}

func TestReplayGuardIsBounded(t *testing.T) {
	g := newReplayGuard(time.Hour)
	now := time.Unix(1_800_000_000, 0)
	for i := 0; i < maxReplayEntries+10; i++ {
		g.admit(replayKey(strconv.Itoa(i)), nil, now)
	}
	if len(g.entries) != maxReplayEntries || len(g.order) != maxReplayEntries {
		t.Fatalf("%d entries, %d in order; want %d", len(g.entries), len(g.order), maxReplayEntries)
	}
}
