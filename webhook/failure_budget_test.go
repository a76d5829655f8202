package webhook

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Lookups that all start before any of them is answered must not overshoot the budget: each
// takes its failure before asking Tencent.
func TestFailureBudgetHoldsUnderParallelLookups(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFailureBudget(60)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 500 {
		wg.Go(func() {
			<-start
			if _, refusal := f.take("notes", fmt.Sprintf("client-%d", i), now); refusal == budgetAvailable {
				allowed.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := allowed.Load(); got != 60 {
		t.Fatalf("%d of 500 parallel lookups of unknown codes were let through; the budget is 60", got)
	}
	if _, refusal := f.take("other", "client-1", now); refusal != budgetAvailable {
		t.Error("another Product's budget was spent too")
	}
}

// One client cannot spend the whole Product's budget: past its share it alone is refused.
func TestFailureBudgetClientShare(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFailureBudget(60)
	for i := range 6 {
		if _, refusal := f.take("notes", "guesser", now); refusal != budgetAvailable {
			t.Fatalf("failure %d of the client's share of 6 refused: %v", i, refusal)
		}
	}
	if _, refusal := f.take("notes", "guesser", now); refusal != budgetClient {
		t.Fatalf("a seventh failure from one client: %v, want its share refused", refusal)
	}
	if _, refusal := f.take("notes", "buyer", now); refusal != budgetAvailable {
		t.Fatalf("another client was refused after one client spent its share: %v", refusal)
	}
	if _, refusal := f.take("notes", "guesser", now.Add(10*time.Minute)); refusal != budgetAvailable {
		t.Errorf("the share did not refill after 10 minutes (one an hour's tenth): %v", refusal)
	}
	// A lookup that read the clock a moment before another does not count that moment twice.
	if _, refusal := f.take("notes", "guesser", now.Add(5*time.Minute)); refusal != budgetClient {
		t.Errorf("a lookup with an earlier clock reading was given a failure back: %v", refusal)
	}
	if _, refusal := f.take("notes", "guesser", now.Add(11*time.Minute)); refusal != budgetClient {
		t.Errorf("11 minutes: %v, want the share still spent", refusal)
	}
}

// A code that exists gives its failure back: buyers redeeming real codes spend nothing.
func TestFailureBudgetGiveBack(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFailureBudget(10)
	for i := range 100 {
		spent, refusal := f.take("notes", "buyer", now)
		if refusal != budgetAvailable {
			t.Fatalf("redemption %d of a real code refused: %v", i, refusal)
		}
		f.giveBack(spent)
	}
	for i := range 3 {
		if _, refusal := f.take("notes", fmt.Sprintf("c%d", i), now); refusal != budgetAvailable {
			t.Fatalf("failure %d refused", i)
		}
	}
	if f.products["notes"].tokens != 7 {
		t.Errorf("tokens %v after 3 failures of 10, want 7", f.products["notes"].tokens)
	}
	disabled := newFailureBudget(-1)
	for range 1000 {
		if _, refusal := disabled.take("notes", "c", now); refusal != budgetAvailable {
			t.Fatal("a disabled budget refused")
		}
	}
}
