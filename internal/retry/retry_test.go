package retry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRetrier(t *testing.T) {
	t.Parallel()
	errBusy := errors.New("busy")
	errBad := errors.New("bad request")
	classify := func(err error) (bool, time.Duration) { return errors.Is(err, errBusy), 0 }
	var waits []time.Duration
	r := Retrier{Attempts: 3, Base: 100 * time.Millisecond, Sleep: func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}}

	calls := 0
	err := r.Do(t.Context(), classify, func() error {
		calls++
		if calls < 3 {
			return errBusy
		}
		return nil
	})
	if err != nil || calls != 3 || len(waits) != 2 {
		t.Fatalf("got %v after %d calls and waits %v; want success on the third call", err, calls, waits)
	}
	if waits[0] < 50*time.Millisecond || waits[0] > 100*time.Millisecond || waits[1] < 100*time.Millisecond || waits[1] > 200*time.Millisecond {
		t.Errorf("waits %v, want in [50ms,100ms] then [100ms,200ms]", waits)
	}

	calls = 0
	err = r.Do(t.Context(), classify, func() error { calls++; return errBusy })
	if !errors.Is(err, errBusy) || calls != 3 || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Errorf("got %v after %d calls, want busy after 3 attempts", err, calls)
	}

	calls = 0
	err = r.Do(t.Context(), classify, func() error { calls++; return errBad })
	if calls != 1 || !strings.Contains(err.Error(), "gave up after 1 attempt") {
		t.Errorf("got %v after %d calls, want no retry of a permanent error", err, calls)
	}

	// The server's Retry-After wins over a shorter backoff.
	waits = nil
	_ = r.Do(t.Context(), func(error) (bool, time.Duration) { return true, 2 * time.Second }, func() error { return errBusy })
	if len(waits) == 0 || waits[0] != 2*time.Second {
		t.Errorf("waits %v, want 2s first", waits)
	}

	// A server that asks for more than MaxServerWait is not waited for.
	waits, calls = nil, 0
	err = r.Do(t.Context(), func(error) (bool, time.Duration) { return true, 2 * time.Hour }, func() error { calls++; return errBusy })
	if calls != 1 || len(waits) != 0 || err == nil || !strings.Contains(err.Error(), "the server asked to wait 2h0m0s, more than the 1m0s the audit waits") {
		t.Errorf("got %v after %d calls and waits %v; want one attempt naming the wait asked for", err, calls, waits)
	}

	// Nor is one that does not fit the time left.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	calls = 0
	err = Retrier{Attempts: 5}.Do(ctx, func(error) (bool, time.Duration) { return true, 30 * time.Second }, func() error { calls++; return errBusy })
	if calls != 1 || err == nil || !strings.Contains(err.Error(), "the server asked to wait 30s, past the run's deadline") {
		t.Errorf("got %v after %d calls; want one attempt naming the wait", err, calls)
	}

	// No sleeping past the deadline.
	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err = Retrier{Attempts: 5, Base: time.Second}.Do(ctx, classify, func() error { return errBusy })
	if err == nil || !strings.Contains(err.Error(), "no time left before the deadline") {
		t.Errorf("got %v, want it to stop before the deadline", err)
	}
}
