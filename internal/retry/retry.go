package retry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Retrier retries an operation that can succeed on retry (throttling, 5xx,
// network failures) with exponential backoff and full jitter. It never sleeps
// past the context's deadline, and its final error says how many attempts
// were made. The API client, the OSS store and the Slack notifier share it.
type Retrier struct {
	// Attempts is the most tries (default 4).
	Attempts int
	// Base and Max bound the backoff (defaults 200ms and 5s).
	Base, Max time.Duration
	// Sleep waits; tests replace it. It returns the context's error early.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Retryable classifies an error: whether it can succeed on retry, and how
// long the server asked to wait (0 when it did not say).
type Retryable func(err error) (retry bool, after time.Duration)

// MaxServerWait is the longest wait a server may ask for (x-acs-retry-after,
// Retry-After) that the audit honours: a longer one fails the attempt at
// once, so a hostile or confused peer cannot stall a run for hours.
const MaxServerWait = 60 * time.Second

// GaveUpError is the error of an operation the Retrier stopped retrying:
// the last error, how many attempts were made and, when it stopped early,
// why.
type GaveUpError struct {
	Err      error
	Attempts int
	Why      string
}

func (e *GaveUpError) Error() string { return e.Err.Error() + e.Suffix() }

// Suffix is " (gave up after 4 attempts)", with the reason when there is one.
func (e *GaveUpError) Suffix() string {
	if e.Why == "" {
		return " (gave up after " + attempts(e.Attempts) + ")"
	}
	return " (gave up after " + attempts(e.Attempts) + ": " + e.Why + ")"
}

func (e *GaveUpError) Unwrap() error { return e.Err }

// Do calls f until it succeeds, fails with an error that is not retryable,
// or runs out of attempts or time. Its error is a *GaveUpError.
func (r Retrier) Do(ctx context.Context, classify Retryable, f func() error) error {
	attempts := r.Attempts
	if attempts <= 0 {
		attempts = 4
	}
	base, maxWait := r.Base, r.Max
	if base <= 0 {
		base = 200 * time.Millisecond
	}
	if maxWait <= 0 {
		maxWait = 5 * time.Second
	}
	sleep := r.Sleep
	if sleep == nil {
		sleep = SleepContext
	}
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		gaveUp := func(why string) error { return &GaveUpError{Err: err, Attempts: attempt, Why: why} }
		retry, after := classify(err)
		if !retry || attempt >= attempts || ctx.Err() != nil {
			return gaveUp("")
		}
		if after > MaxServerWait {
			return gaveUp(fmt.Sprintf("the server asked to wait %s, more than the %s the audit waits", after, MaxServerWait))
		}
		d := min(base<<min(attempt-1, 10), maxWait)
		d = d/2 + rand.N(d/2+1)
		d = max(d, after)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			if after > 0 && after == d {
				return gaveUp(fmt.Sprintf("the server asked to wait %s, past the run's deadline", after))
			}
			return gaveUp("no time left before the deadline")
		}
		if sleep(ctx, d) != nil {
			return gaveUp(ctx.Err().Error())
		}
	}
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// SleepContext waits d or until ctx is done.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
