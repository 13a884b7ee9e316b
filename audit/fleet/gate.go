package fleet

import (
	"context"

	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"
)

// Gate admits the HTTP requests of the run: it bounds the requests in
// flight across the whole run (api.concurrency) and paces them to the
// account's and region's rate (api.ratePerSecond). The Auditor hands one to
// the API in the context of every call; a GatedAPI enters it around each
// request it sends — a retry or a next page is another request — and leaves
// it as soon as the answer's body is read, before decoding it, so that a
// slot is held for the network and nothing else, and backoff sleeps hold
// none.
type Gate interface {
	// Enter waits for a slot and the rate; leave gives the slot back. The
	// error is the context's, or the limiter's when the wait would outlast
	// the deadline.
	Enter(ctx context.Context) (leave func(), err error)
}

// GatedAPI is an API (or a Source) that passes each of its requests
// through the Gate of the call's context. The Auditor gates the whole call
// of one that is not.
type GatedAPI interface {
	Gated()
}

type gateKey struct{}

// WithGate returns a context that carries g.
func WithGate(ctx context.Context, g Gate) context.Context {
	return context.WithValue(ctx, gateKey{}, g)
}

// GateFrom returns the context's gate, or one that admits everything at
// once.
func GateFrom(ctx context.Context) Gate {
	if g, ok := ctx.Value(gateKey{}).(Gate); ok {
		return g
	}
	return open{}
}

type open struct{}

func (open) Enter(context.Context) (func(), error) { return func() {}, nil }

// gate is the Auditor's: the run's semaphore, and a limiter per account and
// region.
type gate struct {
	sem     *semaphore.Weighted
	limiter *rate.Limiter
}

func (g gate) Enter(ctx context.Context) (func(), error) {
	if err := g.sem.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	// The rate is waited for while holding the slot: a request that got its
	// turn but waited for a slot could otherwise go out in a burst.
	if err := g.limiter.Wait(ctx); err != nil {
		g.sem.Release(1)
		return nil, err
	}
	return func() { g.sem.Release(1) }, nil
}
