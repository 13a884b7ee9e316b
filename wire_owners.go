package main

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/config"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/audit/fleet"
	"livy-token-audit/audit/ims"
	"livy-token-audit/audit/lookups"
	auditrun "livy-token-audit/audit/run"
	"livy-token-audit/notify/slack"
)

// ownerResolver says who a createdBy is in one account: slack.mentions
// first (the config names them), then RAM (IMS: the user, or the recycle
// bin for one who was deleted), then Slack by the user's email. A lookup
// that cannot be made leaves the owner unknown and says why; after a
// denied or unreachable IMS, the account's later lookups say so without
// asking again.
type ownerResolver struct {
	ims      *ims.Client // nil: RAM is not asked
	mentions map[string]string
	slack    *slack.Slack // nil: no lookup by email
	// seen are the Slack lookups kept from earlier runs (nil: none kept).
	seen *lookups.Cache
	// lookupErr, once set, is the reason every later Slack lookup fails
	// (a missing scope, a revoked token).
	mu        sync.Mutex
	imsDown   string
	lookupErr string
	// slackMu makes the lookups one at a time: users.lookupByEmail is
	// rate-limited per workspace, and a failure stops the rest.
	slackMu sync.Mutex
}

// Gated says that the resolver passes its calls through the run's gate
// (fleet.GatedAPI) itself: each RAM call enters it, so the bound on calls
// in flight and the rate hold for them. The Slack lookups, one at a time
// and paced by Slack's Retry-After, hold no slot: a rate-limited lookup,
// or one waiting for its turn, never stalls the gateways' listings.
func (r *ownerResolver) Gated() {}

// gated runs f, one RAM call, through the gate of ctx.
func gated[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	leave, err := fleet.GateFrom(ctx).Enter(ctx)
	if err != nil {
		var zero T
		if ctx.Err() != nil {
			return zero, ctx.Err()
		}
		// The limiter refuses a wait that would outlast the deadline.
		return zero, context.DeadlineExceeded
	}
	defer leave()
	return f(ctx)
}

// Owner resolves name. It never fails: what could not be found is said
// on the owner.
func (r *ownerResolver) Owner(ctx context.Context, name string) (audit.Owner, error) {
	o := audit.Owner{Name: name, Status: audit.OwnerUnknown, Via: audit.ViaNone}
	if id := r.mentions[name]; id != "" {
		o.SlackID, o.Via = id, audit.ViaMentions
	}
	email := ""
	if r.ims != nil {
		email = r.fromRAM(ctx, &o)
	}
	if o.SlackID == "" {
		r.fromSlack(ctx, &o, email)
	}
	return o, nil
}

// fromRAM fills o from IMS, and returns the user's email.
func (r *ownerResolver) fromRAM(ctx context.Context, o *audit.Owner) string {
	r.mu.Lock()
	down := r.imsDown
	r.mu.Unlock()
	if down != "" {
		o.Error = down
		return ""
	}
	domain, err := gated(ctx, r.ims.DefaultDomain)
	if err != nil {
		o.Error = r.down(err)
		return ""
	}
	upn, err := ims.PrincipalName(o.Name, domain)
	if err != nil {
		o.Error = err.Error()
		return ""
	}
	u, err := gated(ctx, func(ctx context.Context) (ims.User, error) { return r.ims.User(ctx, upn) })
	var ae *audit.APIError
	switch {
	case err == nil:
		o.Status, o.RAMUserID, o.LastLogin = audit.OwnerActive, u.UserID, u.LastLogin
		return u.Email
	case errors.As(err, &ae) && ae.Code == ims.CodeNoSuchUser:
		d, err := gated(ctx, func(ctx context.Context) (*ims.Deleted, error) { return r.ims.InRecycleBin(ctx, upn) })
		switch {
		case err != nil:
			o.Error = "no RAM user " + upn + ", and the recycle bin could not be read: " + err.Error()
		case d == nil:
			o.Error = "no RAM user " + upn + " (not in the recycle bin either)"
		default:
			o.Status, o.RAMUserID, o.LeftAt = audit.OwnerLeft, d.UserID, d.DeletedAt
		}
		return ""
	}
	o.Error = r.down(err)
	return ""
}

// down records why IMS cannot be asked, when the reason holds for every
// later lookup (a denied call, the network), and returns it.
func (r *ownerResolver) down(err error) string {
	msg := err.Error()
	var ae *audit.APIError
	if errors.As(err, &ae) && (strings.Contains(ae.Code, "NoPermission") || strings.Contains(ae.Code, "Forbidden") || ae.Code == audit.CodeRequestFailed ||
		strings.HasPrefix(ae.Code, "InvalidAccessKeyId") || ae.Code == "SignatureDoesNotMatch") {
		r.mu.Lock()
		r.imsDown = msg
		r.mu.Unlock()
	}
	return msg
}

// fromSlack finds o's Slack user by email: as an earlier run found it,
// while that is still believed (lookups.FoundFor, NoneFor), else by
// asking Slack, one lookup at a time.
func (r *ownerResolver) fromSlack(ctx context.Context, o *audit.Owner, email string) {
	if r.slack == nil {
		return
	}
	if email == "" {
		if o.Status == audit.OwnerActive {
			o.NoSlack = "their RAM user has no email"
		}
		return
	}
	if a, ok := r.seen.Get(ctx, email); ok {
		o.SlackID, o.NoSlack = a.ID, a.None
		if a.ID != "" {
			o.Via = audit.ViaEmail
		}
		return
	}
	r.slackMu.Lock()
	defer r.slackMu.Unlock()
	r.mu.Lock()
	failed := r.lookupErr
	r.mu.Unlock()
	if failed != "" {
		o.NoSlack = failed
		return
	}
	id, none, err := r.slack.LookupEmail(ctx, email)
	switch {
	case err != nil:
		msg := "Slack lookup by email failed: " + err.Error()
		r.mu.Lock()
		r.lookupErr = msg
		r.mu.Unlock()
		o.NoSlack = msg
		return
	case id == "":
		o.NoSlack = none
	default:
		o.SlackID, o.Via = id, audit.ViaEmail
	}
	r.seen.Put(ctx, email, id, none)
}

// newOwnerResolver is an account's resolver, or nil when owners are not
// resolved (owners.resolve off).
func newOwnerResolver(cfg *config.Config, cred credentials.Credential, getenv func(string) string, seen *lookups.Cache) (*ownerResolver, error) {
	if !cfg.Owners.Resolve {
		return nil, nil
	}
	c, err := ims.New(ims.Options{Endpoint: cfg.Owners.Endpoint, Credential: cred, Timeout: cfg.API.Timeout, Retries: cfg.API.Retries, Sleep: retrySleep})
	if err != nil {
		return nil, err
	}
	r := &ownerResolver{ims: c, mentions: cfg.Slack.Mentions, seen: seen}
	if token := lookupToken(getenv); cfg.Owners.LookupEmail && token != "" {
		bot, err := slack.NewBot(token, getenv("SLACK_API_URL"), slack.NewHTTPClient(sinkTimeout))
		if err != nil {
			return nil, err
		}
		r.slack = bot
	}
	return r, nil
}

// lookupToken is the bot token Slack lookups use: SLACK_LOOKUP_TOKEN (a
// token with users:read.email alone), else SLACK_BOT_TOKEN.
func lookupToken(getenv func(string) string) string {
	if t := getenv("SLACK_LOOKUP_TOKEN"); t != "" {
		return t
	}
	return getenv("SLACK_BOT_TOKEN")
}

// assignment is who flagged tokens are for (slack.owners.fallback,
// escalateAfter): with owners resolved, or owner messages on.
func assignment(cfg *config.Config) *audit.Assignment {
	o := cfg.Slack.Owners
	if !cfg.Owners.Resolve && !o.Enabled {
		return nil
	}
	return &audit.Assignment{Fallback: o.Fallback, EscalateAfter: o.EscalateAfter, Rules: o.Rules, EscalateFrom: max(audit.SeverityHigh, o.MinSeverity)}
}

// ownerDestination starts the destination of each owner's direct
// messages ("slack:owner:U012AB3CD").
const ownerDestination = "slack:owner:"

// keptLookups keeps the owners' Slack lookups once a run's reports are
// delivered (a run.Keeper): the answer naming a user whose direct message
// failed is forgotten first, so that the next run asks Slack again (the
// user may have been deactivated since it was kept).
type keptLookups struct{ *lookups.Cache }

func (k keptLookups) Keep(ctx context.Context, res *auditrun.Result) error {
	for _, d := range res.Deliveries {
		if id, ok := strings.CutPrefix(d.Destination, ownerDestination); ok && d.Status == delivery.StatusFailed {
			k.Forget(ctx, id)
		}
	}
	return k.Cache.Keep(ctx)
}
