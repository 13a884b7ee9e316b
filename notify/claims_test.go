package notify

import (
	"context"
	"testing"
	"time"

	"livy-token-audit/audit/delivery"
)

// A claim's lease is written by the dispatcher's clock, as every other
// attempt reads it: with a clock of its own (ahead of the machine's, as a
// test's or a skewed one), a lease just taken is held — a second attempt
// waits, never takes it over and sends again.
func TestLeaseIsOnTheDispatchersClock(t *testing.T) {
	t.Parallel()
	ahead := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) // far from the machine's clock
	store := &memClaims{objects: map[string][]byte{}}
	var slept int
	d := &Dispatcher{Claims: store, Now: func() time.Time { return ahead }, LeaseSkew: time.Second,
		Sleep: func(ctx context.Context, _ time.Duration) error { slept++; return context.Canceled }}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	run := delivery.Run{RunID: "audit-1", Key: "2026/11/27/x.json"}
	first, why := d.claim(ctx, run, "report", ClaimBase(run.Key, "report", "slack"), Delivery{Destination: "slack"})
	if first == nil || why.status != "" {
		t.Fatalf("first attempt: %+v %+v", first, why)
	}
	if !first.rec.LeaseEnds.After(ahead) {
		t.Fatalf("lease ends %s, before the dispatcher's now %s: written by another clock", first.rec.LeaseEnds, ahead)
	}
	second, why := d.claim(ctx, run, "report", ClaimBase(run.Key, "report", "slack"), Delivery{Destination: "slack"})
	if second != nil || slept == 0 {
		t.Errorf("second attempt: claim %+v (%+v), waited %d times; want it to wait on the held claim, not take it over", second, why, slept)
	}
}
