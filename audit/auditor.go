package audit

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
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

// Scope says what to audit in one account: every gateway of every workspace
// in Regions (only the workspaces named in Workspaces, by ID or name, when
// set), plus the explicit Gateways, which need no discovery calls.
type Scope struct {
	Regions    []string
	Workspaces []string
	Gateways   []GatewayRef
}

// Account is one Alibaba Cloud account to audit, with the API client that
// signs with its credentials. ID and Name are empty for the run's own
// account; the others are reached by assuming RoleARN.
type Account struct {
	ID      string
	Name    string
	RoleARN string
	API     API
	Scope   Scope
	// Prepare, when set, runs before the account's first call (it assumes
	// the account's role). Its error is one scope error for the account,
	// and nothing of the account is audited.
	Prepare func(ctx context.Context) error
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
	// API is the own account's client, for Collect.
	API API
	// Concurrency bounds the calls in flight across the whole run,
	// discovery included (default 8).
	Concurrency int
	// RatePerSecond bounds the calls per second to each account and
	// region (default 10): never more in any one-second window.
	RatePerSecond float64
	// Reserve is the time kept back before the context's deadline for
	// writing the snapshot and notifying: no gateway is started once less
	// than this is left, and calls in flight are cut off then.
	Reserve time.Duration
	// Now is the clock used for the deadline check (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Collect audits the own account's scope with a.API and gathers every
// result, sorted by gateway.
func (a *Auditor) Collect(ctx context.Context, sc Scope) Collection {
	var c Collection
	c.Errors = a.Audit(ctx, []Account{{API: a.API, Scope: sc}}, func(r GatewayResult) { c.Gateways = append(c.Gateways, r) })
	slices.SortFunc(c.Gateways, func(x, y GatewayResult) int { return cmp.Compare(x.Ref.Key(), y.Ref.Key()) })
	return c
}

// Limiter returns the rate limiter the auditor uses for rps calls per
// second: never more than rps calls in any one-second window. The bucket
// holds a burst of 5% of the rate (at least 1) and refills at the rate less
// that burst, so that a full bucket plus a second of refill stays within
// rps; the run takes at most about 1.05 times calls/rps.
func Limiter(rps float64) *rate.Limiter {
	burst := max(1, int(math.Floor(rps/20)))
	refill := max(rps-float64(burst), rps/2)
	return rate.NewLimiter(rate.Limit(refill), burst)
}

// Audit lists every gateway in scope of every account, and its tokens, and
// hands each result to each (one call at a time) as soon as it is in, so
// that the caller can classify it and let its tokens go. It returns the
// failures above the gateway level. It never fails as a whole: each failure
// is recorded on its gateway or as a ScopeError and the rest goes on.
//
// One semaphore bounds the calls in flight across the whole run, discovery
// included, and discovery is pipelined: a gateway's tokens are listed as
// soon as it is found. A gateway found twice (discovered and listed
// explicitly) is audited once, with the discovered names.
func (a *Auditor) Audit(ctx context.Context, accounts []Account, each func(GatewayResult)) []ScopeError {
	now := a.Now
	if now == nil {
		now = time.Now
	}
	log := a.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sem := semaphore.NewWeighted(int64(cmp.Or(a.Concurrency, 8)))
	rps := cmp.Or(a.RatePerSecond, 10)
	var mu sync.Mutex // guards everything below, and each
	limiters := map[string]*rate.Limiter{}
	started := map[string]bool{}
	var errs []ScopeError

	// Calls stop when only the reserve is left, so the sinks still have time.
	callCtx := ctx
	if dl, ok := ctx.Deadline(); ok && a.Reserve > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithDeadline(ctx, dl.Add(-a.Reserve))
		defer cancel()
	}
	// call runs f, one call of the API, through the gate of its account and
	// region: a GatedAPI enters it for each request; any other API is gated
	// for the whole call.
	call := func(acct *Account, region string, f func(context.Context) error) error {
		mu.Lock()
		l, ok := limiters[acct.ID+"/"+region]
		if !ok {
			l = Limiter(rps)
			limiters[acct.ID+"/"+region] = l
		}
		mu.Unlock()
		g := gate{sem: sem, limiter: l}
		if _, ok := acct.API.(GatedAPI); ok {
			return f(WithGate(callCtx, g))
		}
		leave, err := g.Enter(callCtx)
		if err != nil {
			// The limiter refuses a wait that would outlast the deadline.
			return context.DeadlineExceeded
		}
		defer leave()
		return f(callCtx)
	}
	emit := func(r GatewayResult) {
		mu.Lock()
		defer mu.Unlock()
		each(r)
	}
	addErr := func(e ScopeError, err *APIError) {
		e.Code, e.Message, e.RequestID = err.Code, err.Message, err.RequestID
		log.Error("listing failed", "account", e.AccountName, "region", e.Region, "workspace", e.WorkspaceID,
			"code", err.Code, "error", err.Message, "api_request_id", err.RequestID)
		mu.Lock()
		errs = append(errs, e)
		mu.Unlock()
	}

	var wg sync.WaitGroup
	spawn := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	// gateway lists one gateway's tokens, unless it was started already.
	gateway := func(acct *Account, ref GatewayRef) {
		ref.AccountID, ref.AccountName = acct.ID, acct.Name
		mu.Lock()
		if started[ref.Key()] {
			mu.Unlock()
			return
		}
		started[ref.Key()] = true
		mu.Unlock()
		if dl, ok := ctx.Deadline(); ok && dl.Sub(now()) < a.Reserve {
			emit(GatewayResult{Ref: ref, Err: &APIError{Code: CodeDeadlineExceeded, Message: "not audited: the run's deadline was too close"}})
			return
		}
		spawn(func() {
			var toks []Token
			err := call(acct, ref.Region, func(ctx context.Context) (err error) {
				toks, err = acct.API.ListTokens(ctx, ref.Region, ref.WorkspaceID, ref.GatewayID)
				return err
			})
			if err != nil {
				e := toAPIError(callCtx, err)
				log.Error("list tokens failed", "account", ref.AccountName, "region", ref.Region, "workspace", ref.WorkspaceID, "gateway", ref.GatewayID,
					"code", e.Code, "error", e.Message, "api_request_id", e.RequestID)
				emit(GatewayResult{Ref: ref, Err: e})
				return
			}
			emit(GatewayResult{Ref: ref, Tokens: toks})
		})
	}
	// region discovers the gateways of one region, then starts the explicit
	// gateways of that region that discovery did not find.
	region := func(acct *Account, region string, explicit []GatewayRef) {
		var wss []Workspace
		err := call(acct, region, func(ctx context.Context) (err error) {
			wss, err = acct.API.ListWorkspaces(ctx, region)
			return err
		})
		if err != nil {
			addErr(ScopeError{AccountID: acct.ID, AccountName: acct.Name, Region: region}, toAPIError(callCtx, err))
		}
		var ws sync.WaitGroup
		for _, w := range wss {
			if f := acct.Scope.Workspaces; len(f) > 0 && !slices.Contains(f, w.ID) && !slices.Contains(f, w.Name) {
				continue
			}
			ws.Add(1)
			spawn(func() {
				defer ws.Done()
				var gws []Gateway
				err := call(acct, region, func(ctx context.Context) (err error) {
					gws, err = acct.API.ListGateways(ctx, region, w.ID)
					return err
				})
				if err != nil {
					addErr(ScopeError{AccountID: acct.ID, AccountName: acct.Name, Region: region, WorkspaceID: w.ID, WorkspaceName: w.Name}, toAPIError(callCtx, err))
					return
				}
				for _, g := range gws {
					gateway(acct, GatewayRef{Region: region, WorkspaceID: w.ID, WorkspaceName: w.Name, GatewayID: g.ID, GatewayName: g.Name, GatewayStatus: g.Status})
				}
			})
		}
		ws.Wait()
		for _, ref := range explicit {
			gateway(acct, ref)
		}
	}

	for i := range accounts {
		acct := &accounts[i]
		spawn(func() {
			if acct.Prepare != nil {
				if err := acct.Prepare(callCtx); err != nil {
					e := toAPIError(callCtx, err)
					addErr(ScopeError{AccountID: acct.ID, AccountName: acct.Name}, e)
					return
				}
			}
			regions := dedupe(acct.Scope.Regions)
			later := map[string][]GatewayRef{} // explicit gateways of discovered regions
			for _, ref := range acct.Scope.Gateways {
				if slices.Contains(regions, ref.Region) {
					later[ref.Region] = append(later[ref.Region], ref)
				} else {
					gateway(acct, ref)
				}
			}
			for _, r := range regions {
				spawn(func() { region(acct, r, later[r]) })
			}
		})
	}
	wg.Wait()
	slices.SortFunc(errs, func(a, b ScopeError) int {
		return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.Region, b.Region), cmp.Compare(a.WorkspaceID, b.WorkspaceID))
	})
	return errs
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
	return &APIError{Code: CodeRequestFailed, Message: BoundText(err.Error())}
}

func dedupe(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
