package audit

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// API is what the audit needs of EMR Serverless Spark. Implementations
// return an *APIError (or an error wrapping one) for failures the API
// reported, and never include a token's value in a result or an error.
type API interface {
	ListWorkspaces(ctx context.Context, region string) ([]Workspace, error)
	ListGateways(ctx context.Context, region, workspaceID string) ([]Gateway, error)
	ListTokens(ctx context.Context, region, workspaceID, gatewayID string) ([]Token, error)
}

// Scope says what to audit: every gateway of every workspace in Regions
// (only the workspaces named in Workspaces, by ID or name, when set), plus
// the explicit Gateways, which need no discovery calls.
type Scope struct {
	Regions    []string
	Workspaces []string
	Gateways   []GatewayRef
}

// Collection is what the auditor gathered: one result per gateway, and the
// failures above the gateway level.
type Collection struct {
	Gateways []GatewayResult
	Errors   []ScopeError
}

// GatewayResult is the outcome of listing one gateway's tokens: Tokens when
// Err is nil.
type GatewayResult struct {
	Ref    GatewayRef
	Tokens []Token
	Err    *APIError
}

// Auditor discovers gateways and lists their tokens concurrently.
type Auditor struct {
	API API
	// Concurrency bounds the calls in flight (default 8).
	Concurrency int
	// RatePerSecond bounds the calls per second to each region (default 10).
	RatePerSecond float64
	// Reserve is the time kept back before the context's deadline for
	// writing the snapshot and notifying: no gateway is started once less
	// than this is left, and calls in flight are cut off then.
	Reserve time.Duration
	// Now is the clock used for the deadline check (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Collect lists every gateway in scope and its tokens. It never fails as a
// whole: each failure is recorded on its gateway or in Collection.Errors and
// the rest goes on. Gateways found twice are audited once.
func (a *Auditor) Collect(ctx context.Context, sc Scope) Collection {
	now := a.Now
	if now == nil {
		now = time.Now
	}
	log := a.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	limit := cmp.Or(a.Concurrency, 8)
	rps := cmp.Or(a.RatePerSecond, 10)
	limiters := map[string]*rate.Limiter{}
	var mu sync.Mutex
	limiter := func(region string) *rate.Limiter {
		mu.Lock()
		defer mu.Unlock()
		l, ok := limiters[region]
		if !ok {
			l = rate.NewLimiter(rate.Limit(rps), max(1, int(rps)))
			limiters[region] = l
		}
		return l
	}
	// Calls stop when only the reserve is left, so the sinks still have time.
	callCtx := ctx
	if dl, ok := ctx.Deadline(); ok && a.Reserve > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithDeadline(ctx, dl.Add(-a.Reserve))
		defer cancel()
	}
	call := func(region string, f func() error) error {
		if err := limiter(region).Wait(callCtx); err != nil {
			// The limiter refuses a wait that would outlast the deadline.
			return context.DeadlineExceeded
		}
		return f()
	}

	var out Collection
	var refs []GatewayRef
	add := func(r GatewayRef) {
		mu.Lock()
		refs = append(refs, r)
		mu.Unlock()
	}
	addErr := func(e ScopeError) {
		mu.Lock()
		out.Errors = append(out.Errors, e)
		mu.Unlock()
	}

	// Discovery: workspaces of each region, then gateways of each workspace.
	var g errgroup.Group
	g.SetLimit(limit)
	for _, region := range dedupe(sc.Regions) {
		g.Go(func() error {
			var wss []Workspace
			err := call(region, func() (err error) {
				wss, err = a.API.ListWorkspaces(callCtx, region)
				return err
			})
			if err != nil {
				e := toAPIError(callCtx, err)
				log.Error("list workspaces failed", "region", region, "code", e.Code, "error", e.Message, "api_request_id", e.RequestID)
				addErr(ScopeError{Region: region, Code: e.Code, Message: e.Message, RequestID: e.RequestID})
				return nil
			}
			var wg errgroup.Group
			wg.SetLimit(limit)
			for _, ws := range wss {
				if len(sc.Workspaces) > 0 && !slices.Contains(sc.Workspaces, ws.ID) && !slices.Contains(sc.Workspaces, ws.Name) {
					continue
				}
				wg.Go(func() error {
					var gws []Gateway
					err := call(region, func() (err error) {
						gws, err = a.API.ListGateways(callCtx, region, ws.ID)
						return err
					})
					if err != nil {
						e := toAPIError(callCtx, err)
						log.Error("list gateways failed", "region", region, "workspace", ws.ID, "code", e.Code, "error", e.Message, "api_request_id", e.RequestID)
						addErr(ScopeError{Region: region, WorkspaceID: ws.ID, WorkspaceName: ws.Name, Code: e.Code, Message: e.Message, RequestID: e.RequestID})
						return nil
					}
					for _, gw := range gws {
						add(GatewayRef{Region: region, WorkspaceID: ws.ID, WorkspaceName: ws.Name, GatewayID: gw.ID, GatewayName: gw.Name, GatewayStatus: gw.Status})
					}
					return nil
				})
			}
			_ = wg.Wait() // the goroutines never return errors
			return nil
		})
	}
	_ = g.Wait()

	// Explicit gateways join the discovered ones; a gateway found twice keeps
	// the discovered entry, which has names.
	byKey := map[string]GatewayRef{}
	for _, r := range refs {
		byKey[r.Key()] = r
	}
	for _, r := range sc.Gateways {
		if _, ok := byKey[r.Key()]; !ok {
			byKey[r.Key()] = r
		}
	}
	all := make([]GatewayRef, 0, len(byKey))
	for _, r := range byKey {
		all = append(all, r)
	}
	slices.SortFunc(all, func(x, y GatewayRef) int { return cmp.Compare(x.Key(), y.Key()) })

	results := make([]GatewayResult, len(all))
	var tg errgroup.Group
	tg.SetLimit(limit)
	for i, ref := range all {
		results[i].Ref = ref
		if dl, ok := ctx.Deadline(); ok && dl.Sub(now()) < a.Reserve {
			results[i].Err = &APIError{Code: CodeDeadlineExceeded, Message: "not audited: the run's deadline was too close"}
			continue
		}
		tg.Go(func() error {
			var toks []Token
			err := call(ref.Region, func() (err error) {
				toks, err = a.API.ListTokens(callCtx, ref.Region, ref.WorkspaceID, ref.GatewayID)
				return err
			})
			if err != nil {
				results[i].Err = toAPIError(callCtx, err)
				log.Error("list tokens failed", "region", ref.Region, "workspace", ref.WorkspaceID, "gateway", ref.GatewayID,
					"code", results[i].Err.Code, "error", results[i].Err.Message, "api_request_id", results[i].Err.RequestID)
				return nil
			}
			results[i].Tokens = toks
			return nil
		})
	}
	_ = tg.Wait()
	out.Gateways = results
	return out
}

// toAPIError turns any failure of a call into the record kept on a gateway.
func toAPIError(ctx context.Context, err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &APIError{Code: CodeDeadlineExceeded, Message: "not audited: the run's deadline was reached"}
	}
	return &APIError{Code: CodeRequestFailed, Message: err.Error()}
}

func dedupe(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
