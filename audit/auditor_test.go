package audit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAPI is a hand-written API: a fixed world, per-call failures and a
// gauge of calls in flight.
type fakeAPI struct {
	workspaces map[string][]Workspace
	gateways   map[string][]Gateway // by workspace
	tokens     map[string][]Token   // by gateway
	fail       map[string]error     // by "region", "ws" or "gw" id
	delay      time.Duration
	inFlight   atomic.Int32
	maxFlight  atomic.Int32
	mu         sync.Mutex
	calls      []string
}

func (f *fakeAPI) enter(call string) func() {
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

func (f *fakeAPI) wait(ctx context.Context) error {
	if f.delay == 0 {
		return nil
	}
	select {
	case <-time.After(f.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeAPI) ListWorkspaces(ctx context.Context, region string) ([]Workspace, error) {
	defer f.enter("ws:" + region)()
	if err := f.fail[region]; err != nil {
		return nil, err
	}
	return f.workspaces[region], f.wait(ctx)
}

func (f *fakeAPI) ListGateways(ctx context.Context, region, ws string) ([]Gateway, error) {
	defer f.enter("gw:" + ws)()
	if err := f.fail[ws]; err != nil {
		return nil, err
	}
	return f.gateways[ws], f.wait(ctx)
}

func (f *fakeAPI) ListTokens(ctx context.Context, region, ws, gw string) ([]Token, error) {
	defer f.enter("tk:" + gw)()
	if err := f.fail[gw]; err != nil {
		return nil, err
	}
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	return f.tokens[gw], nil
}

func TestCollectPartialFailure(t *testing.T) {
	t.Parallel()
	api := &fakeAPI{
		workspaces: map[string][]Workspace{"cn-hangzhou": {{ID: "w-1", Name: "one"}, {ID: "w-2", Name: "two"}}},
		gateways:   map[string][]Gateway{"w-1": {{ID: "lc-a", Name: "a"}, {ID: "lc-b", Name: "b"}}},
		tokens:     map[string][]Token{"lc-a": {{ID: "tk-1"}}},
		fail: map[string]error{
			"cn-shanghai": &APIError{Code: "Forbidden.RAM", Message: "denied", RequestID: "R1"},
			"w-2":         fmt.Errorf("dial tcp: connection refused"),
			"lc-b":        &APIError{Code: "ServiceUnavailable", Message: "later"},
		},
	}
	a := &Auditor{API: api}
	col := a.Collect(t.Context(), Scope{
		Regions:  []string{"cn-hangzhou", "cn-shanghai"},
		Gateways: []GatewayRef{{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-a"}, {Region: "cn-beijing", WorkspaceID: "w-9", GatewayID: "lc-z"}},
	})
	if len(col.Gateways) != 3 {
		t.Fatalf("got %d gateways, want 3 (lc-a once, lc-b, lc-z)", len(col.Gateways))
	}
	byID := map[string]GatewayResult{}
	for _, g := range col.Gateways {
		byID[g.Ref.GatewayID] = g
	}
	if g := byID["lc-a"]; g.Err != nil || len(g.Tokens) != 1 || g.Ref.GatewayName != "a" || g.Ref.WorkspaceName != "one" {
		t.Errorf("lc-a: got %+v, want its token and the discovered names", g)
	}
	if g := byID["lc-b"]; g.Err == nil || g.Err.Code != "ServiceUnavailable" || g.Tokens != nil {
		t.Errorf("lc-b: got %+v, want ServiceUnavailable and no tokens", g)
	}
	if len(col.Errors) != 2 {
		t.Fatalf("errors: got %+v, want the region and the workspace", col.Errors)
	}
	for _, e := range col.Errors {
		switch {
		case e.Region == "cn-shanghai" && e.Code == "Forbidden.RAM" && e.RequestID == "R1":
		case e.WorkspaceID == "w-2" && e.Code == CodeRequestFailed && e.WorkspaceName == "two":
		default:
			t.Errorf("unexpected error record %+v", e)
		}
	}
	n := 0
	for _, c := range api.calls {
		if c == "tk:lc-a" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("lc-a listed %d times, want once", n)
	}
}

func TestCollectBoundsConcurrency(t *testing.T) {
	t.Parallel()
	api := &fakeAPI{tokens: map[string][]Token{}, delay: 20 * time.Millisecond}
	var refs []GatewayRef
	for i := range 30 {
		refs = append(refs, GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w", GatewayID: fmt.Sprintf("lc-%02d", i)})
	}
	a := &Auditor{API: api, Concurrency: 3, RatePerSecond: 1000}
	col := a.Collect(t.Context(), Scope{Gateways: refs})
	if len(col.Gateways) != 30 {
		t.Fatalf("got %d results, want 30", len(col.Gateways))
	}
	if m := api.maxFlight.Load(); m > 3 || m < 2 {
		t.Errorf("got %d calls in flight at most, want 2 or 3 (limit 3)", m)
	}
}

func TestCollectStopsAtTheReserve(t *testing.T) {
	t.Parallel()
	api := &fakeAPI{tokens: map[string][]Token{"lc-a": {{ID: "tk"}}}, delay: 300 * time.Millisecond}
	refs := []GatewayRef{{Region: "r", WorkspaceID: "w", GatewayID: "lc-a"}, {Region: "r", WorkspaceID: "w", GatewayID: "lc-b"}}
	// Deadline 250ms away, reserve 200ms: the calls are cut after ~50ms.
	ctx, cancel := context.WithTimeout(t.Context(), 250*time.Millisecond)
	defer cancel()
	a := &Auditor{API: api, Reserve: 200 * time.Millisecond}
	col := a.Collect(ctx, Scope{Gateways: refs})
	for _, g := range col.Gateways {
		if g.Err == nil || g.Err.Code != CodeDeadlineExceeded {
			t.Errorf("%s: got %+v, want DeadlineExceeded", g.Ref.GatewayID, g.Err)
		}
	}
	if ctx.Err() != nil {
		t.Error("Collect used the reserve: the run's context had expired when it returned")
	}
	// With less than the reserve left, no gateway is started at all.
	ctx2, cancel2 := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel2()
	api2 := &fakeAPI{}
	col = (&Auditor{API: api2, Reserve: time.Second}).Collect(ctx2, Scope{Gateways: refs})
	if len(api2.calls) != 0 || col.Gateways[0].Err == nil || col.Gateways[0].Err.Code != CodeDeadlineExceeded {
		t.Errorf("got calls %v and %+v, want no calls and DeadlineExceeded", api2.calls, col.Gateways[0].Err)
	}
}
