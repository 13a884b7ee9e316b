package fleet

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/internal/fakeapi"
)

func TestCollectPartialFailure(t *testing.T) {
	t.Parallel()
	api := &fakeapi.API{
		Workspaces: map[string][]audit.Workspace{"cn-hangzhou": {{ID: "w-1", Name: "one"}, {ID: "w-2", Name: "two"}}},
		Gateways:   map[string][]audit.Gateway{"w-1": {{ID: "lc-a", Name: "a"}, {ID: "lc-b", Name: "b"}}},
		Tokens:     map[string][]audit.Token{"lc-a": {{ID: "tk-1"}}},
		Fail: map[string]error{
			"cn-shanghai": &audit.APIError{Code: "Forbidden.RAM", Message: "denied", RequestID: "R1"},
			"w-2":         fmt.Errorf("dial tcp: connection refused"),
			"lc-b":        &audit.APIError{Code: "ServiceUnavailable", Message: "later"},
		},
	}
	a := &Auditor{Concurrency: 8, RatePerSecond: 10}
	col := a.Collect(t.Context(), api, audit.Scope{
		Regions:  []string{"cn-hangzhou", "cn-shanghai"},
		Gateways: []audit.GatewayRef{{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-a"}, {Region: "cn-beijing", WorkspaceID: "w-9", GatewayID: "lc-z"}},
	})
	if len(col.Gateways) != 3 {
		t.Fatalf("got %d gateways, want 3 (lc-a once, lc-b, lc-z)", len(col.Gateways))
	}
	byID := map[string]audit.GatewayResult{}
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
		case e.WorkspaceID == "w-2" && e.Code == audit.CodeRequestFailed && e.WorkspaceName == "two":
		default:
			t.Errorf("unexpected error record %+v", e)
		}
	}
	n := 0
	for _, c := range api.Calls() {
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
	api := &fakeapi.API{Tokens: map[string][]audit.Token{}, Delay: 20 * time.Millisecond}
	var refs []audit.GatewayRef
	for i := range 30 {
		refs = append(refs, audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w", GatewayID: fmt.Sprintf("lc-%02d", i)})
	}
	a := &Auditor{Concurrency: 3, RatePerSecond: 1000}
	col := a.Collect(t.Context(), api, audit.Scope{Gateways: refs})
	if len(col.Gateways) != 30 {
		t.Fatalf("got %d results, want 30", len(col.Gateways))
	}
	if m := api.MaxInFlight(); m > 3 || m < 2 {
		t.Errorf("got %d calls in flight at most, want 2 or 3 (limit 3)", m)
	}
}

func TestCollectStopsAtTheReserve(t *testing.T) {
	t.Parallel()
	api := &fakeapi.API{Tokens: map[string][]audit.Token{"lc-a": {{ID: "tk"}}}, Delay: 300 * time.Millisecond}
	refs := []audit.GatewayRef{{Region: "r", WorkspaceID: "w", GatewayID: "lc-a"}, {Region: "r", WorkspaceID: "w", GatewayID: "lc-b"}}
	// Deadline 250ms away, reserve 200ms: the calls are cut after ~50ms.
	ctx, cancel := context.WithTimeout(t.Context(), 250*time.Millisecond)
	defer cancel()
	a := &Auditor{Concurrency: 8, RatePerSecond: 10, Reserve: 200 * time.Millisecond}
	col := a.Collect(ctx, api, audit.Scope{Gateways: refs})
	for _, g := range col.Gateways {
		if g.Err == nil || g.Err.Code != audit.CodeDeadlineExceeded {
			t.Errorf("%s: got %+v, want DeadlineExceeded", g.Ref.GatewayID, g.Err)
		}
	}
	if ctx.Err() != nil {
		t.Error("Collect used the reserve: the run's context had expired when it returned")
	}
	// With less than the reserve left, no gateway is started at all.
	ctx2, cancel2 := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel2()
	api2 := &fakeapi.API{}
	col = (&Auditor{Concurrency: 8, RatePerSecond: 10, Reserve: time.Second}).Collect(ctx2, api2, audit.Scope{Gateways: refs})
	if len(api2.Calls()) != 0 || col.Gateways[0].Err == nil || col.Gateways[0].Err.Code != audit.CodeDeadlineExceeded {
		t.Errorf("got calls %v and %+v, want no calls and DeadlineExceeded", api2.Calls(), col.Gateways[0].Err)
	}
}

// Collect audits one account's scope with api and gathers every result,
// sorted by gateway (internal/audittest has it for other packages).
func (a *Auditor) Collect(ctx context.Context, api API, sc audit.Scope) (c struct {
	Gateways []audit.GatewayResult
	Errors   []audit.ScopeError
}) {
	c.Errors, _ = a.Walk(ctx, []Account{{API: api, Account: audit.Account{Scope: sc}}}, func(r audit.GatewayResult) { c.Gateways = append(c.Gateways, r) })
	slices.SortFunc(c.Gateways, func(x, y audit.GatewayResult) int { return cmp.Compare(x.Ref.Key(), y.Ref.Key()) })
	return c
}
