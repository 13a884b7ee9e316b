package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Notifier plans what a run tells, and where: one Delivery per
// destination (a channel, a route's webhook, an owner's direct messages).
// It decides what each destination gets (the report of its slice, whether
// there is anything to say); the Runner claims each delivery in the store
// before sending it, so that a retry, or a second delivery of the same
// event, sends only what has not gone out yet.
type Notifier interface {
	// Deliveries are the report of s to each destination; loc says where
	// the snapshot and its page were written.
	Deliveries(s *Snapshot, loc Locations) []Delivery
	// FailureDeliveries are a short notice of a run that could not do its
	// job.
	FailureDeliveries(f FailureNotice) []Delivery
}

// Delivery is one message to one destination.
type Delivery struct {
	// Destination names where it goes, stably from run to run ("slack",
	// "slack:route:team-data", "slack:owner:U012AB3CD"): the delivery's
	// claim is named after it. It never holds a secret.
	Destination string
	// Skip, when set, says why nothing goes there this run.
	Skip string
	// Send sends it, retrying what can succeed on retry.
	Send func(ctx context.Context) error
}

// DeliveryResult is what became of one delivery.
type DeliveryResult struct {
	Destination string `json:"destination"`
	// Status is delivered, skipped, already (delivered by an earlier
	// attempt or another delivery of the same event) or failed.
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// FailureNotice says that a run could not do its job, and why.
type FailureNotice struct {
	RunID     string
	AuditedAt time.Time
	Trigger   Trigger
	// Cause is one line that names the cause (the config key and line, the
	// store's error), never a secret.
	Cause string
}

// Runner runs one whole audit: collect, classify, compare with the
// baseline, write the snapshot, move the baseline, notify. The CLI, the
// demo and the Function Compute handler all call it.
type Runner struct {
	// Tool names this program in the snapshots it writes.
	Tool   Tool
	Config *Config
	// Accounts are the configured accounts with their API clients: the own
	// account (when the config gives it a scope) and each of accounts:.
	Accounts []Account
	Auditor  *Auditor
	Store    Store
	// Notifiers are the destinations' planners (none: no notification).
	Notifiers []Notifier
	// Page renders the report page written beside each snapshot ({stamp}.html,
	// and latest.html with latest.json); nil writes none.
	Page   Page
	Logger *slog.Logger
	// Now is the wall clock, for delivery claims (default time.Now); the
	// audit time is RunOptions.Now.
	Now func() time.Time
}

// RunOptions describe one run.
type RunOptions struct {
	// Now is the audit time; a retry of the same run has the same one.
	Now     time.Time
	Trigger Trigger
	// Accounts, when not nil, narrows the configured scope (an ad-hoc audit,
	// see Narrow); such a run does not move latest.json or the baseline.
	Accounts []Account
	DryRun   bool
	// Notify says whether to notify at all (subject to slack.notify).
	Notify bool
	// Retry is true for a retry of a run that may have partly succeeded. It
	// only matters when the store cannot record a delivery claim: a failure
	// notice is then posted on the first attempt only.
	Retry bool
}

// Page renders the human-readable page of a snapshot: everything in it,
// the history of the last full audits for the trend.
type Page interface {
	WritePage(w io.Writer, s *Snapshot, history []HistoryEntry, loc Locations) error
}

// Locations say where a run's snapshot and page are, for people (paths or
// URLs, never with credentials).
type Locations struct {
	Snapshot string
	Page     string
}

// LatestPageKey is the page of the snapshot latest.json holds.
const LatestPageKey = "latest.html"

// PageKey is the key of the page written beside the snapshot at key.
func PageKey(snapshotKey string) string { return strings.TrimSuffix(snapshotKey, ".json") + ".html" }

// Result is what a run did.
type Result struct {
	Snapshot *Snapshot
	// Key is the dated snapshot's key; Location says where it is.
	Key      string
	Location string
	// PageKey and PageLocation are the run's page's (empty without a Page).
	PageKey      string
	PageLocation string
	// History is the history of full audits the page's trend draws: with
	// this run when it moved the baseline.
	History *History
	// WouldMoveLatest is true when a dry run would have moved latest.json
	// and the baseline (a real run of the whole scope).
	WouldMoveLatest bool
	// Written is true once the dated snapshot is in the store.
	Written bool
	// MovedLatest is true when latest.json and the baseline moved to this
	// run; BaselineHeld says why they did not, when they did not.
	MovedLatest  bool
	BaselineHeld string
	// Notified is true when something was delivered by this run and no
	// delivery failed; Deliveries says what became of each.
	Notified   bool
	Deliveries []DeliveryResult
	// NotifySkipped says why no notification was sent, if none was.
	NotifySkipped string
	// Reused is true when the run's snapshot was already written (a retry,
	// or a second delivery of the same event) and was not audited again.
	Reused bool
}

// Partial reports whether some gateways or listings could not be audited.
func (r *Result) Partial() bool {
	return r.Snapshot != nil && (r.Snapshot.Summary.GatewaysFailed > 0 || r.Snapshot.Summary.Errors > 0)
}

// Failed reports whether the run audited nothing while something failed.
func (r *Result) Failed() bool {
	return r.Snapshot != nil && r.Snapshot.Verdict == VerdictFailed
}

// FailedAuditError is the error of a run that could audit nothing.
type FailedAuditError struct {
	Summary Summary
}

func (e *FailedAuditError) Error() string {
	return "audit failed: " + e.Summary.FailedCoverage() + " — every gateway and listing in scope failed (see the snapshot's errors)"
}

// claim kinds: one report and one failure notice per run.
const (
	claimReport  = "report"
	claimFailure = "failure"
)

// claimTTL is how long a claim that was never marked delivered holds: past
// it, the delivery that made it is taken to have died mid-post.
const claimTTL = 15 * time.Minute

// Run runs the audit. The error is non-nil when the run could not do its
// job: nothing could be audited (a *FailedAuditError), the snapshot could
// not be written, or the notification failed after its retries (the
// snapshot is written first either way). Gateways that failed while others
// were audited are not errors: they are in the snapshot.
func (r *Runner) Run(ctx context.Context, o RunOptions) (*Result, error) {
	log := r.logger()
	now := o.Now.UTC().Truncate(time.Second)
	key := SnapshotKey(now)
	res := &Result{Key: key}
	narrowed := o.Accounts != nil
	accounts := r.Accounts
	if narrowed {
		accounts = o.Accounts
	}
	scope := scopeReport(accounts, narrowed)

	base, baseReadable, baseErr := r.baseline(ctx)
	if baseErr != nil {
		log.Warn("baseline unusable; comparing as a first run", "error", baseErr)
	}
	if !o.DryRun {
		res.Snapshot = r.reusable(ctx, key, scope)
		res.Reused = res.Snapshot != nil
	}
	if res.Snapshot == nil {
		// Each gateway is classified as soon as its tokens are in; the
		// listing is let go then.
		b := NewBuilder(Evaluation{
			Tool: r.Tool, Now: now, Policy: r.Config.Policy, Suppressions: r.Config.Suppressions, Trigger: o.Trigger, Scope: scope,
		})
		errs := r.Auditor.Audit(ctx, accounts, b.Add)
		snap := b.Finish(errs)
		cmpBase, cmpErr := base, baseErr
		if base != nil && !base.AuditedAt.Before(now) {
			cmpBase, cmpErr = nil, fmt.Errorf("the baseline is from %s, not before this audit's time", base.AuditedAt.Format(time.RFC3339))
		}
		Compare(snap, cmpBase, cmpErr, r.Config.Schedule.ExpectEvery)
		res.Snapshot = snap
	}
	res.Location = r.Store.Location(ctx, key)
	if r.Page != nil {
		res.PageKey = PageKey(key)
		res.PageLocation = r.Store.Location(ctx, res.PageKey)
	}
	hold := holdBaseline(res.Snapshot, narrowed, base, baseReadable)
	history := r.history(ctx)
	if hold == "" {
		history = history.Next(res.Snapshot)
	}
	res.History = history
	if o.DryRun {
		res.NotifySkipped = "dry run"
		res.BaselineHeld = "dry run"
		res.WouldMoveLatest = hold == ""
		return res, verdictError(res)
	}

	if !res.Reused {
		if err := r.Store.Put(ctx, key, res.Snapshot.Write); err != nil {
			// Nothing else is written: latest.json and the baseline keep
			// the last good audit.
			err = fmt.Errorf("write snapshot: %w", err)
			r.notifyFailure(ctx, o, res, err.Error())
			return res, err
		}
	}
	res.Written = true

	var errs []error
	if r.Page != nil {
		if err := r.Store.Put(ctx, res.PageKey, r.page(res)); err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", res.PageKey, err))
			res.PageLocation = "" // no report links a page that is not there
		}
	}
	if hold != "" {
		res.BaselineHeld = hold
		log.Info("baseline not moved", "reason", hold)
	} else if err := r.moveBaseline(ctx, res, base); err != nil {
		errs = append(errs, err)
	} else {
		res.MovedLatest = true
		// What is drawn from latest.json follows it; its failure is
		// reported, and the next full audit writes both again.
		if err := r.Store.Put(ctx, HistoryKey, res.History.Write); err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", HistoryKey, err))
		}
		if r.Page != nil && res.PageLocation != "" {
			if err := r.Store.Put(ctx, LatestPageKey, r.page(res)); err != nil {
				errs = append(errs, fmt.Errorf("write %s: %w", LatestPageKey, err))
			}
		}
	}

	r.notify(ctx, o, res, &errs)
	if err := verdictError(res); err != nil {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func (r *Runner) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

func verdictError(res *Result) error {
	if res.Failed() {
		return &FailedAuditError{Summary: res.Snapshot.Summary}
	}
	return nil
}

// baseline reads baseline.json, or derives it from latest.json (written by
// a version that kept no baseline). It returns (nil, true, nil) when there
// is neither. readable is false when the store could not be read at all
// (not when the content is bad): the baseline then must not be replaced.
func (r *Runner) baseline(ctx context.Context) (base *Baseline, readable bool, err error) {
	b, err := r.Store.Get(ctx, BaselineKey)
	if err == nil {
		base, err := ReadBaseline(b)
		if err != nil {
			return nil, true, fmt.Errorf("read %s: %w", BaselineKey, err)
		}
		return base, true, nil
	}
	if !errors.Is(err, ErrNotFound) {
		// Too large is bad content, to be replaced; anything else is the
		// store failing, and then nothing is replaced.
		return nil, errors.Is(err, ErrTooLarge), fmt.Errorf("read %s: %w", BaselineKey, err)
	}
	b, err = r.Store.Get(ctx, LatestKey)
	if errors.Is(err, ErrNotFound) {
		return nil, true, nil
	}
	if err != nil {
		return nil, errors.Is(err, ErrTooLarge), fmt.Errorf("read %s: %w", LatestKey, err)
	}
	s, err := ReadSnapshot(b)
	if err != nil {
		return nil, true, fmt.Errorf("read %s: %w", LatestKey, err)
	}
	return BaselineOf(s), true, nil
}

// reusable returns the run's snapshot when it is already written with the
// same scope and is a real audit (a failed audit is audited again).
func (r *Runner) reusable(ctx context.Context, key string, scope ScopeReport) *Snapshot {
	b, err := r.Store.Get(ctx, key)
	if err != nil {
		return nil
	}
	s, err := ReadSnapshot(b)
	if err != nil || s.Verdict == VerdictFailed || !reflect.DeepEqual(s.Scope, scope) {
		return nil
	}
	r.logger().Info("snapshot of this run already written; not auditing again", "key", key)
	return s
}

// holdBaseline says why a run must not move latest.json and the baseline,
// or "" when it must.
func holdBaseline(s *Snapshot, narrowed bool, base *Baseline, readable bool) string {
	switch {
	case narrowed || s.Scope.Partial:
		return "ad-hoc run narrowed to part of the scope"
	case s.Verdict == VerdictFailed:
		return "nothing was audited"
	case !readable:
		return "the baseline could not be read, so it is not replaced"
	case base != nil && !base.AuditedAt.Before(s.AuditedAt):
		if base.AuditedAt.Equal(s.AuditedAt) {
			return "the baseline is already this audit time's"
		}
		return "the baseline is from a later audit (" + base.AuditedAt.Format(time.RFC3339) + ")"
	}
	return ""
}

// moveBaseline writes latest.json, then baseline.json: a run whose
// latest.json failed leaves the baseline where it was, so a retry does both.
func (r *Runner) moveBaseline(ctx context.Context, res *Result, base *Baseline) error {
	if err := r.Store.Put(ctx, LatestKey, res.Snapshot.Write); err != nil {
		return fmt.Errorf("write %s: %w", LatestKey, err)
	}
	if err := r.Store.Put(ctx, BaselineKey, NextBaseline(base, res.Snapshot).Write); err != nil {
		return fmt.Errorf("write %s: %w", BaselineKey, err)
	}
	return nil
}

// history reads history.json; a missing or unreadable one is an empty
// history (the trend starts again).
func (r *Runner) history(ctx context.Context) *History {
	b, err := r.Store.Get(ctx, HistoryKey)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			r.logger().Warn("history unreadable; the trend starts again", "error", err)
		}
		return &History{SchemaVersion: SchemaVersion}
	}
	h, err := ReadHistory(b)
	if err != nil {
		r.logger().Warn("history unreadable; the trend starts again", "error", err)
		return &History{SchemaVersion: SchemaVersion}
	}
	return h
}

// page is the content of the run's report page.
func (r *Runner) page(res *Result) Content {
	return func(w io.Writer) error {
		return r.Page.WritePage(w, res.Snapshot, res.History.Runs, Locations{Snapshot: res.Location, Page: res.PageLocation})
	}
}

// notify sends the report to every destination, each once per run: it
// claims a delivery in the store before sending it, so that a retry or a
// second delivery of the same event does not send it again, and gives the
// claim back when the send fails. A destination that fails is reported and
// does not stop the others.
func (r *Runner) notify(ctx context.Context, o RunOptions, res *Result, errs *[]error) {
	switch {
	case len(r.Notifiers) == 0:
		res.NotifySkipped = "no Slack destination configured"
		return
	case !o.Notify:
		res.NotifySkipped = "notification turned off for this run"
		return
	}
	kind := claimReport
	if res.Failed() {
		kind = claimFailure
	}
	var skipped []string
	for _, n := range r.Notifiers {
		for _, d := range n.Deliveries(res.Snapshot, Locations{Snapshot: res.Location, Page: res.PageLocation}) {
			out := r.deliver(ctx, o, res.Key, kind, d)
			res.Deliveries = append(res.Deliveries, out)
			switch out.Status {
			case "delivered":
				res.Notified = true
			case "failed":
				*errs = append(*errs, fmt.Errorf("notify %s: %s", d.Destination, out.Detail))
			default:
				skipped = append(skipped, out.Detail)
			}
		}
	}
	for _, d := range res.Deliveries {
		if d.Status == "failed" {
			res.Notified = false
		}
	}
	if !res.Notified && len(skipped) > 0 {
		res.NotifySkipped = strings.Join(slices.Compact(skipped), "; ")
	}
}

// deliver claims, sends and records one delivery.
func (r *Runner) deliver(ctx context.Context, o RunOptions, key, kind string, d Delivery) DeliveryResult {
	out := DeliveryResult{Destination: d.Destination}
	if d.Skip != "" {
		out.Status, out.Detail = "skipped", d.Skip
		return out
	}
	release, why := r.claim(ctx, key, kind, d.Destination, o)
	if why != "" {
		out.Status, out.Detail = "already", why
		return out
	}
	if err := d.Send(ctx); err != nil {
		release(false)
		out.Status, out.Detail = "failed", err.Error()
		return out
	}
	release(true)
	out.Status = "delivered"
	return out
}

// notifyFailure posts a short failure notice to every destination, once
// per run.
func (r *Runner) notifyFailure(ctx context.Context, o RunOptions, res *Result, cause string) {
	if !o.Notify {
		return
	}
	at := o.Now.UTC().Truncate(time.Second)
	f := FailureNotice{RunID: RunID(at), AuditedAt: at, Trigger: o.Trigger, Cause: cause}
	for _, n := range r.Notifiers {
		for _, d := range n.FailureDeliveries(f) {
			out := r.deliver(ctx, o, res.Key, claimFailure, d)
			res.Deliveries = append(res.Deliveries, out)
			if out.Status == "failed" {
				r.logger().Error("failure notice not posted", "destination", d.Destination, "error", out.Detail)
			}
		}
	}
}

// claimRecord is the content of a delivery claim.
type claimRecord struct {
	RunID       string `json:"runId"`
	Kind        string `json:"kind"`
	Destination string `json:"destination"`
	State       string `json:"state"` // posting, delivered
	RequestID   string `json:"requestId,omitempty"`
	// Nonce tells this claimant's claim from another's (a create that
	// succeeded but whose answer was lost, then retried, finds its own).
	Nonce       string     `json:"nonce"`
	ClaimedAt   time.Time  `json:"claimedAt"`
	DeliveredAt *time.Time `json:"deliveredAt,omitempty"`
}

// claim claims the delivery of kind for the run at key. It returns a
// release function (delivered: record it; not: give the claim back so a
// retry can post) or why the delivery is not this run's to make. When the
// store cannot take the claim at all, only the first attempt posts.
func (r *Runner) claim(ctx context.Context, key, kind, dest string, o RunOptions) (func(delivered bool), string) {
	ck := claimKey(key, kind, dest)
	rec := claimRecord{RunID: RunID(o.Now.UTC().Truncate(time.Second)), Kind: kind, Destination: dest, State: "posting", RequestID: o.Trigger.RequestID,
		Nonce: fmt.Sprintf("%016x", rand.Uint64()), ClaimedAt: r.now().UTC()}
	data, _ := json.Marshal(rec)
	log := r.logger()
	err := r.Store.Create(ctx, ck, data)
	if errors.Is(err, ErrExists) {
		switch held := r.heldClaim(ctx, ck); {
		case held.Nonce == rec.Nonce:
			err = nil // our own create, whose first answer was lost
		case held.State == "posting" && r.now().Sub(held.ClaimedAt) > claimTTL:
			log.Warn("taking over a delivery claim that was never completed", "claim", ck, "claimed_at", held.ClaimedAt)
			if derr := r.Store.Delete(ctx, ck); derr == nil {
				err = r.Store.Create(ctx, ck, data)
			}
		}
	}
	switch {
	case errors.Is(err, ErrExists):
		return nil, "already delivered (or being delivered) for this run"
	case err != nil:
		log.Warn("cannot record the delivery claim", "claim", ck, "error", err)
		if o.Retry {
			return nil, "the store cannot record deliveries, and this is a retry: the first attempt posted"
		}
		return func(bool) {}, ""
	}
	return func(delivered bool) {
		if !delivered {
			if err := r.Store.Delete(ctx, ck); err != nil {
				log.Warn("cannot release the delivery claim; a retry will not post until it goes stale", "claim", ck, "error", err)
			}
			return
		}
		t := r.now().UTC()
		rec.State, rec.DeliveredAt = "delivered", &t
		data, _ := json.Marshal(rec)
		if err := r.Store.Put(ctx, ck, Bytes(data)); err != nil {
			log.Warn("cannot mark the delivery done", "claim", ck, "error", err)
		}
	}, ""
}

// heldClaim reads the claim at ck; a zero record when it cannot be read (a
// marker of an older version reads as delivered).
func (r *Runner) heldClaim(ctx context.Context, ck string) claimRecord {
	var rec claimRecord
	if b, err := r.Store.Get(ctx, ck); err == nil {
		_ = json.Unmarshal(b, &rec)
	}
	return rec
}

func gatewayKeys(g []GatewayRef) []string {
	out := []string{}
	for _, r := range g {
		out = append(out, r.Key())
	}
	slices.Sort(out)
	return out
}
