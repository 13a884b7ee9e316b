// Package fakeapi is a hand-written stand-in for the EMR API at the level
// of the fleet's API interface, for tests of the fleet and the run: a fixed
// world, failures per region, workspace or gateway, a delay per call and a
// gauge of the calls in flight. Only tests import it.
package fakeapi

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"livy-token-audit/audit"
)

// API serves its maps: workspaces by region, gateways by workspace ID,
// tokens by gateway ID. Fail fails the calls of a region, workspace or
// gateway (by ID) with its error. The maps may be changed between runs.
type API struct {
	Workspaces map[string][]audit.Workspace
	Gateways   map[string][]audit.Gateway
	Tokens     map[string][]audit.Token
	Fail       map[string]error
	Delay      time.Duration

	inFlight  atomic.Int32
	maxFlight atomic.Int32
	mu        sync.Mutex
	calls     []string
}

// Calls returns the calls made so far: "ws:<region>", "gw:<workspace>",
// "tk:<gateway>".
func (f *API) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// MaxInFlight is the most calls that were in flight at once.
func (f *API) MaxInFlight() int { return int(f.maxFlight.Load()) }

func (f *API) enter(call string) func() {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
	n := f.inFlight.Add(1)
	for {
		m := f.maxFlight.Load()
		if n <= m || f.maxFlight.CompareAndSwap(m, n) {
			break
		}
	}
	return func() { f.inFlight.Add(-1) }
}

func (f *API) wait(ctx context.Context) error {
	if f.Delay == 0 {
		return nil
	}
	select {
	case <-time.After(f.Delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ListWorkspaces serves Workspaces[region].
func (f *API) ListWorkspaces(ctx context.Context, region string) ([]audit.Workspace, error) {
	defer f.enter("ws:" + region)()
	if err := f.Fail[region]; err != nil {
		return nil, err
	}
	return f.Workspaces[region], f.wait(ctx)
}

// ListGateways serves Gateways[ws].
func (f *API) ListGateways(ctx context.Context, region, ws string) ([]audit.Gateway, error) {
	defer f.enter("gw:" + ws)()
	if err := f.Fail[ws]; err != nil {
		return nil, err
	}
	return f.Gateways[ws], f.wait(ctx)
}

// ListTokens serves Tokens[gw].
// Kind makes the API a Source of Livy Gateways.
func (f *API) Kind() string { return audit.KindLivy }

func (f *API) ListTokens(ctx context.Context, region, ws, gw string) ([]audit.Token, error) {
	defer f.enter("tk:" + gw)()
	if err := f.Fail[gw]; err != nil {
		return nil, err
	}
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	return f.Tokens[gw], nil
}
