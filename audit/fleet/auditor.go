// Package fleet walks the configured accounts, regions, workspaces and
// gateways and lists every gateway's tokens, concurrently: one bound on the
// requests in flight for the whole run (api.concurrency), a rate per
// account and region that no one-second window exceeds
// (api.ratePerSecond), and a reserve of time kept before the run's
// deadline for writing and posting. A failure is recorded on its gateway,
// or as a scope error, and the rest goes on.
package fleet

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"livy-token-audit/audit"
)

// API is what the walk needs of an account's EMR Serverless Spark API to
// find its workspaces. Implementations return an *audit.APIError (or an
// error wrapping one) for failures the API reported, and never include a
// token's value in a result or an error.
type API interface {
	ListWorkspaces(ctx context.Context, region string) ([]audit.Workspace, error)
}

// Source is one kind of gateway that hands out tokens (Livy Gateways; the
// kind is its Kind): how a workspace's gateways of that kind, and one
// gateway's tokens, are listed. Each kind the audit knows is a row that
// makes a Source of an account's API client (wire.go); the walk lists every
// source of every workspace, under the run's one bound and rate. The same
// rules as API's hold for its results and errors.
type Source interface {
	Kind() string
	ListGateways(ctx context.Context, region, workspaceID string) ([]audit.Gateway, error)
	ListTokens(ctx context.Context, region, workspaceID, gatewayID string) ([]audit.Token, error)
}

// DetailsAPI is a Source that can also read a gateway's details: its
// exposure.
type DetailsAPI interface {
	GatewayDetails(ctx context.Context, region, workspaceID, gatewayID string) (audit.GatewayDetails, error)
}

// Account is an account to audit with the API client that signs with its
// credentials.
type Account struct {
	audit.Account
	API API
	// Sources are the kinds of gateway audited in the account, listed
	// through its API (nil: the API itself, which is then the Livy
	// listing's Source).
	Sources []Source
	// Prepare, when set, runs before the account's first call (it assumes
	// the account's role). Its error is one scope error for the account,
	// and nothing of the account is audited.
	Prepare func(ctx context.Context) error
	// Owners resolves the account's people (nil: not resolved), and Members
	// lists a workspace's members (nil: not listed): each name and each
	// workspace once per run, within the run's bound and rate.
	Owners  OwnerResolver
	Members MembersAPI
}

// OwnerResolver says who a createdBy is (audit.Owner): RAM, and Slack.
// An error leaves the owner unknown, with it said; it never fails the
// audit.
type OwnerResolver interface {
	Owner(ctx context.Context, name string) (audit.Owner, error)
}

// MembersAPI lists a workspace's members.
type MembersAPI interface {
	ListMembers(ctx context.Context, region, workspaceID string) ([]audit.Member, error)
}

// Identities returns the accounts' identities and scopes.
func Identities(accounts []Account) []audit.Account {
	out := make([]audit.Account, len(accounts))
	for i, a := range accounts {
		out[i] = a.Account
	}
	return out
}

// Narrow applies n to the accounts (see audit.Narrow): the accounts it
// keeps, each with its scope narrowed. Nothing is called.
func Narrow(accounts []Account, n audit.Narrowing) ([]Account, error) {
	narrowed, err := audit.Narrow(Identities(accounts), n)
	if err != nil {
		return nil, err
	}
	out := make([]Account, 0, len(narrowed))
	for _, id := range narrowed {
		i := slices.IndexFunc(accounts, func(a Account) bool { return a.ID == id.ID })
		a := accounts[i]
		a.Scope = id.Scope
		out = append(out, a)
	}
	return out, nil
}

// Auditor discovers gateways and lists their tokens concurrently. Its
// options are resolved by the config: it holds no defaults.
type Auditor struct {
	// Concurrency bounds the calls in flight across the whole run,
	// discovery included (at least 1).
	Concurrency int
	// RatePerSecond bounds the calls per second to each account and
	// region: never more in any one-second window (0: no bound).
	RatePerSecond float64
	// Reserve is the time kept back before the context's deadline for
	// writing the snapshot and notifying: no gateway is started once less
	// than this is left, and calls in flight are cut off then.
	Reserve time.Duration
	// Details reads each gateway's details (api.gatewayDetails), with a
	// source that can (DetailsAPI): one more call per gateway, within the
	// same bound and rate, alongside its token listing.
	Details bool
	// Now is the clock used for the deadline check (nil: time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Limiter returns the rate limiter the auditor uses for rps calls per
// second: never more than rps calls admitted in any one-second window. The
// bucket holds a burst of 5% of the rate (at least 1) and refills at the
// rate less that burst (at least half the rate), so that a full bucket
// plus a second of refill stays within rps; a run takes about
// calls/(rps-burst): 1.05 times calls/rps from 20 a second up, 1.11 times
// at 10. A rate of 0 or less is no bound.
func Limiter(rps float64) *rate.Limiter {
	if rps <= 0 {
		return rate.NewLimiter(rate.Inf, 1)
	}
	burst := max(1, int(math.Floor(rps/20)))
	refill := max(rps-float64(burst), rps/2)
	return rate.NewLimiter(rate.Limit(refill), burst)
}

// Discovered is what the listings found, whether or not the gateways
// could then be audited.
type Discovered struct {
	// Workspaces are the workspaces the regions' listings found, each with
	// its account and region (GatewayID empty).
	Workspaces []audit.GatewayRef
	// Gateways are the keys of the gateways the workspaces' listings found.
	Gateways map[string]bool
	// Listed are the keys (account/region/workspace) of the workspaces whose
	// gateway listing succeeded.
	Listed map[string]bool
}

// Walk lists every gateway in scope of every account, and its tokens, and
// hands each result to each (one call at a time) as soon as it is in, so
// that the caller can classify it and let its tokens go. It returns the
// failures above the gateway level. It never fails as a whole: each failure
// is recorded on its gateway or as a ScopeError and the rest goes on.
//
// One semaphore bounds the calls in flight across the whole run, discovery
// included, and discovery is pipelined: a gateway's tokens are listed as
// soon as it is found. A gateway found twice (discovered and listed
// explicitly) is audited once, with the discovered names.
// It also says what discovery found.
func (a *Auditor) Walk(ctx context.Context, accounts []Account, each func(audit.GatewayResult)) ([]audit.ScopeError, Discovered) {
	w := a.walk(ctx, each)
	defer w.cancel()
	for i := range accounts {
		acct := &accounts[i]
		w.spawn(func() { w.account(acct) })
	}
	w.wg.Wait()
	slices.SortFunc(w.errs, func(a, b audit.ScopeError) int {
		return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.Region, b.Region), cmp.Compare(a.WorkspaceID, b.WorkspaceID))
	})
	return w.errs, w.found
}

// walk is one Audit under way: a method per level (account, region,
// workspace, gateway), each spawning the next.
type walk struct {
	ctx         context.Context // the run's
	callCtx     context.Context // the run's, less the reserve
	cancel      context.CancelFunc
	reserve     time.Duration
	now         func() time.Time
	log         *slog.Logger
	sem         *semaphore.Weighted
	rps         float64
	withDetails bool // read each gateway's details
	wg          sync.WaitGroup

	mu       sync.Mutex // guards everything below, and each
	limiters map[string]*rate.Limiter
	started  map[string]bool
	errs     []audit.ScopeError
	found    Discovered
	each     func(audit.GatewayResult)
	// people are the owners and members looked up, once each.
	people map[string]*lookup
}

// lookup is one owner or member lookup, done once for every gateway that
// needs it.
type lookup struct {
	once    sync.Once
	owner   audit.Owner
	members []audit.Member
	err     string
}

func (a *Auditor) walk(ctx context.Context, each func(audit.GatewayResult)) *walk {
	w := &walk{ctx: ctx, callCtx: ctx, cancel: func() {}, reserve: a.Reserve, now: a.Now, log: a.Logger, withDetails: a.Details,
		sem: semaphore.NewWeighted(int64(max(1, a.Concurrency))), rps: a.RatePerSecond,
		limiters: map[string]*rate.Limiter{}, started: map[string]bool{}, each: each, people: map[string]*lookup{},
		found: Discovered{Gateways: map[string]bool{}, Listed: map[string]bool{}}}
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	// Calls stop when only the reserve is left, so the sinks still have time.
	if dl, ok := ctx.Deadline(); ok && a.Reserve > 0 {
		w.callCtx, w.cancel = context.WithDeadline(ctx, dl.Add(-a.Reserve))
	}
	return w
}

func (w *walk) spawn(f func()) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		f()
	}()
}

// sources are the account's kinds of gateway.
func (a *Account) sources() []Source {
	if a.Sources != nil {
		return a.Sources
	}
	if s, ok := a.API.(Source); ok {
		return []Source{s}
	}
	return nil
}

// source is the account's source of gateways of kind ("": Livy).
func (a *Account) source(kind string) Source {
	if kind == "" {
		kind = audit.KindLivy
	}
	for _, s := range a.sources() {
		if s.Kind() == kind {
			return s
		}
	}
	return nil
}

// call runs f, one call through via (the API or a source), through the
// gate of its account and region: a GatedAPI enters it for each request;
// any other is gated for the whole call.
func (w *walk) call(acct *Account, region string, via any, f func(context.Context) error) error {
	w.mu.Lock()
	l, ok := w.limiters[acct.ID+"/"+region]
	if !ok {
		l = Limiter(w.rps)
		w.limiters[acct.ID+"/"+region] = l
	}
	w.mu.Unlock()
	g := gate{sem: w.sem, limiter: l}
	if _, ok := via.(GatedAPI); ok {
		return f(WithGate(w.callCtx, g))
	}
	leave, err := g.Enter(w.callCtx)
	if err != nil {
		// The limiter refuses a wait that would outlast the deadline.
		return context.DeadlineExceeded
	}
	defer leave()
	return f(w.callCtx)
}

func (w *walk) emit(r audit.GatewayResult) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.each(r)
}

func (w *walk) scopeError(e audit.ScopeError, err *audit.APIError) {
	e.Code, e.Message, e.RequestID = err.Code, err.Message, err.RequestID
	w.log.Error("listing failed", "account", e.AccountName, "region", e.Region, "workspace", e.WorkspaceID,
		"code", err.Code, "error", err.Message, "api_request_id", err.RequestID)
	w.mu.Lock()
	w.errs = append(w.errs, e)
	w.mu.Unlock()
}

// account prepares the account (assumes its role), then starts its
// explicit gateways outside the discovered regions and the discovery of
// each region.
func (w *walk) account(acct *Account) {
	if len(acct.sources()) == 0 {
		// A wiring mistake, never an all-clear.
		w.scopeError(audit.ScopeError{AccountID: acct.ID, AccountName: acct.Name},
			&audit.APIError{Code: audit.CodeRequestFailed, Message: "not audited: no kind of gateway is listed in this account (its API is no Source)"})
		return
	}
	if acct.Prepare != nil {
		if err := acct.Prepare(w.callCtx); err != nil {
			w.scopeError(audit.ScopeError{AccountID: acct.ID, AccountName: acct.Name}, toAPIError(w.callCtx, err))
			return
		}
	}
	regions := audit.Dedupe(acct.Scope.Regions)
	later := map[string][]audit.GatewayRef{} // explicit gateways of discovered regions
	for _, ref := range acct.Scope.Gateways {
		if slices.Contains(regions, ref.Region) {
			later[ref.Region] = append(later[ref.Region], ref)
		} else {
			w.gateway(acct, ref)
		}
	}
	for _, r := range regions {
		w.spawn(func() { w.region(acct, r, later[r]) })
	}
}

// region discovers the workspaces of one region and their gateways, then
// starts the explicit gateways of that region that discovery did not find.
func (w *walk) region(acct *Account, region string, explicit []audit.GatewayRef) {
	var wss []audit.Workspace
	err := w.call(acct, region, acct.API, func(ctx context.Context) (err error) {
		wss, err = acct.API.ListWorkspaces(ctx, region)
		return err
	})
	if err != nil {
		w.scopeError(audit.ScopeError{AccountID: acct.ID, AccountName: acct.Name, Region: region}, toAPIError(w.callCtx, err))
	}
	w.mu.Lock()
	for _, ww := range wss {
		w.found.Workspaces = append(w.found.Workspaces, audit.GatewayRef{AccountID: acct.ID, AccountName: acct.Name, Region: region, WorkspaceID: ww.ID, WorkspaceName: ww.Name})
	}
	w.mu.Unlock()
	var ws sync.WaitGroup
	for _, ww := range wss {
		if f := acct.Scope.Workspaces; len(f) > 0 && !slices.Contains(f, ww.ID) && !slices.Contains(f, ww.Name) {
			continue
		}
		ws.Add(1)
		w.spawn(func() {
			defer ws.Done()
			w.workspace(acct, region, ww)
		})
	}
	ws.Wait()
	for _, ref := range explicit {
		w.gateway(acct, ref)
	}
}

// workspace lists the gateways of one workspace, of every kind, and
// starts each.
func (w *walk) workspace(acct *Account, region string, ws audit.Workspace) {
	var wg sync.WaitGroup
	listed := true
	for _, src := range acct.sources() {
		wg.Go(func() {
			if !w.listGateways(acct, src, region, ws) {
				w.mu.Lock()
				listed = false
				w.mu.Unlock()
			}
		})
	}
	wg.Wait()
	if listed {
		w.mu.Lock()
		w.found.Listed[acct.ID+"/"+region+"/"+ws.ID] = true
		w.mu.Unlock()
	}
}

// listGateways lists one source's gateways of a workspace and starts each;
// false when the listing failed (a scope error).
func (w *walk) listGateways(acct *Account, src Source, region string, ws audit.Workspace) bool {
	var gws []audit.Gateway
	err := w.call(acct, region, src, func(ctx context.Context) (err error) {
		gws, err = src.ListGateways(ctx, region, ws.ID)
		return err
	})
	if err != nil {
		kind := ""
		if k := src.Kind(); k != audit.KindLivy {
			kind = k
		}
		w.scopeError(audit.ScopeError{AccountID: acct.ID, AccountName: acct.Name, Region: region, WorkspaceID: ws.ID, WorkspaceName: ws.Name, Kind: kind}, toAPIError(w.callCtx, err))
		return false
	}
	kind := src.Kind()
	if kind == audit.KindLivy {
		kind = "" // the kind of every gateway that does not say
	}
	w.mu.Lock()
	for _, g := range gws {
		w.found.Gateways[audit.GatewayRef{AccountID: acct.ID, Region: region, WorkspaceID: ws.ID, GatewayID: g.ID, Kind: kind}.Key()] = true
	}
	w.mu.Unlock()
	for _, g := range gws {
		w.gateway(acct, audit.GatewayRef{Region: region, WorkspaceID: ws.ID, WorkspaceName: ws.Name, GatewayID: g.ID, GatewayName: g.Name, GatewayStatus: g.Status, Kind: kind})
	}
	return true
}

// gateway lists one gateway's tokens, unless it was started already.
func (w *walk) gateway(acct *Account, ref audit.GatewayRef) {
	ref.AccountID, ref.AccountName = acct.ID, acct.Name
	w.mu.Lock()
	if w.started[ref.Key()] {
		w.mu.Unlock()
		return
	}
	w.started[ref.Key()] = true
	w.mu.Unlock()
	if dl, ok := w.ctx.Deadline(); ok && dl.Sub(w.now()) < w.reserve || w.callCtx.Err() != nil {
		w.emit(audit.GatewayResult{Ref: ref, Err: audit.Stopped(w.callCtx, "was too close")})
		return
	}
	src := acct.source(ref.Kind)
	if src == nil {
		w.emit(audit.GatewayResult{Ref: ref, Err: &audit.APIError{Code: audit.CodeRequestFailed, Message: "not audited: gateways of kind " + ref.Kind + " are not listed in this account"}})
		return
	}
	w.spawn(func() {
		var res audit.GatewayResult
		details := w.details(acct, src, ref, &res)
		var toks []audit.Token
		err := w.call(acct, ref.Region, src, func(ctx context.Context) (err error) {
			toks, err = src.ListTokens(ctx, ref.Region, ref.WorkspaceID, ref.GatewayID)
			return err
		})
		details.Wait()
		res.Ref = ref
		if err != nil {
			e := toAPIError(w.callCtx, err)
			w.log.Error("list tokens failed", "account", ref.AccountName, "region", ref.Region, "workspace", ref.WorkspaceID, "gateway", ref.GatewayID,
				"code", e.Code, "error", e.Message, "api_request_id", e.RequestID)
			res.Err = e
			w.emit(res)
			return
		}
		res.Tokens = toks
		res.Owners = w.owners(acct, ref, toks, res.Details)
		w.emit(res)
		// Said once the result is the run's: nothing that happens later
		// (an interrupt, the deadline) changes it.
		w.log.Debug("gateway listed", "account", ref.AccountName, "region", ref.Region, "workspace", ref.WorkspaceID, "gateway", ref.GatewayID,
			"tokens", len(toks))
	})
}

// lookupOf is the lookup of key, made once.
func (w *walk) lookupOf(key string) *lookup {
	w.mu.Lock()
	defer w.mu.Unlock()
	l, ok := w.people[key]
	if !ok {
		l = &lookup{}
		w.people[key] = l
	}
	return l
}

// owners resolves a gateway's people: the workspace's members, the
// gateway's creator and its admins, each token's creator — each once per
// run and account.
func (w *walk) owners(acct *Account, ref audit.GatewayRef, toks []audit.Token, d *audit.GatewayDetails) *audit.Owners {
	if acct.Owners == nil && acct.Members == nil {
		return nil
	}
	out := &audit.Owners{ByName: map[string]audit.Owner{}}
	if acct.Members != nil {
		l := w.lookupOf("members\x00" + acct.ID + "\x00" + ref.Region + "\x00" + ref.WorkspaceID)
		l.once.Do(func() {
			err := w.call(acct, ref.Region, acct.Members, func(ctx context.Context) (err error) {
				l.members, err = acct.Members.ListMembers(ctx, ref.Region, ref.WorkspaceID)
				return err
			})
			if err != nil {
				l.members, l.err = nil, toAPIError(w.callCtx, err).Error()
			} else if l.members == nil {
				l.members = []audit.Member{}
			}
		})
		out.Members, out.MembersError = l.members, l.err
	}
	if acct.Owners == nil {
		return out
	}
	names := map[string]bool{}
	for _, t := range toks {
		names[t.CreatedBy] = true
	}
	if d != nil {
		names[d.CreatedBy] = true
	}
	for _, m := range out.Members {
		if m.Admin() {
			local, _, _ := strings.Cut(m.UserName, "@")
			names[local] = true
		}
	}
	delete(names, "")
	for name := range names {
		l := w.lookupOf("owner\x00" + acct.ID + "\x00" + name)
		l.once.Do(func() {
			err := w.call(acct, ref.Region, acct.Owners, func(ctx context.Context) (err error) {
				l.owner, err = acct.Owners.Owner(ctx, name)
				return err
			})
			if err != nil {
				l.owner = audit.Owner{Name: name, Status: audit.OwnerUnknown, Via: audit.ViaNone, Error: toAPIError(w.callCtx, err).Error()}
			}
			l.owner.Name = name
		})
		out.ByName[name] = l.owner
	}
	return out
}

// details reads a gateway's details into res, alongside its token listing
// (wait for it before reading res): a failure is recorded on the gateway,
// whose tokens are audited all the same.
func (w *walk) details(acct *Account, src Source, ref audit.GatewayRef, res *audit.GatewayResult) *sync.WaitGroup {
	var wg sync.WaitGroup
	api, ok := src.(DetailsAPI)
	if !w.withDetails || !ok {
		return &wg
	}
	wg.Add(1)
	w.spawn(func() {
		defer wg.Done()
		var d audit.GatewayDetails
		err := w.call(acct, ref.Region, src, func(ctx context.Context) (err error) {
			d, err = api.GatewayDetails(ctx, ref.Region, ref.WorkspaceID, ref.GatewayID)
			return err
		})
		if err != nil {
			e := toAPIError(w.callCtx, err)
			w.log.Warn("gateway details failed; its exposure is unknown", "account", ref.AccountName, "region", ref.Region, "workspace", ref.WorkspaceID,
				"gateway", ref.GatewayID, "code", e.Code, "error", e.Message, "api_request_id", e.RequestID)
			res.DetailsErr = e
			return
		}
		res.Details = &d
	})
	return &wg
}

// toAPIError turns any failure of a call into the record kept on a gateway.
func toAPIError(ctx context.Context, err error) *audit.APIError {
	var ae *audit.APIError
	if errors.As(err, &ae) {
		return ae
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return audit.Stopped(ctx, "was reached")
	}
	return &audit.APIError{Code: audit.CodeRequestFailed, Message: audit.BoundText(err.Error())}
}
