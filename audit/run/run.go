// Package run runs one whole audit: collect (through the fleet), classify,
// compare with the baseline, write the snapshot and the artifacts beside
// it, move latest.json, the baseline and the history forward, and hand the
// report to delivery. The CLI, the demo and the Function Compute handler
// all call Runner.Run.
package run

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/audit/fleet"
	"livy-token-audit/audit/store"
)

// Notifier is how the run reaches delivery (notify.Dispatcher): the report
// of a run to every destination, each once per run, or a short notice of a
// run that could not do its job.
type Notifier interface {
	Report(ctx context.Context, run delivery.Run, s *audit.Snapshot, loc delivery.Locations) delivery.Outcome
	Failure(ctx context.Context, run delivery.Run, f delivery.FailureNotice) []delivery.Result
}

// Reporter reports a run's figures to a monitoring system: a heartbeat that
// does not depend on the function running (an alarm fires when none comes).
type Reporter interface {
	Report(ctx context.Context, s *audit.Snapshot) error
}

// Artifact is a rendering of the snapshot that the run writes beside it:
// {stamp}{Ext}, and latest{Ext} (a copy of it) when latest.json moves. Each
// is rendered once per run.
type Artifact struct {
	// Ext is the key's extension: ".html".
	Ext string
	// Page marks the report page, which the reports link.
	Page bool
	// Start begins the artifact's rendering for a run audited at at.
	Start func(at time.Time) Rendering
}

// Rendering is one run's rendering of an artifact. It may render ahead:
// it is handed each gateway as soon as it is classified, while the fleet
// is still being audited.
type Rendering interface {
	// Gateway hands over one gateway, one call at a time. A gateway may be
	// handed over again, amended (its tokens share a secret with others,
	// which is known once the fleet is in): the later replaces the earlier.
	Gateway(g audit.GatewayReport)
	// Render writes the artifact of the finished run, once.
	Render(w io.Writer, v View) error
	// Close releases what the rendering holds.
	Close()
}

// View is what an artifact renders: the snapshot, the history of the last
// full audits (with this run when it moved the baseline) and where things
// are.
type View struct {
	Snapshot  *audit.Snapshot
	History   []audit.HistoryEntry
	Locations delivery.Locations
}

// Runner runs one whole audit. Its fields are resolved options: it holds
// no defaults.
type Runner struct {
	// Tool names this program in the snapshots it writes.
	Tool   audit.Tool
	Policy audit.Policy
	// Profiles are the rules profiles (rules.profiles): a token takes the
	// first that matches, Policy when none does.
	Profiles []audit.Profile
	// Assignment, when set, says who each flagged token is for (owners'
	// fallbacks and escalation: audit.Assign).
	Assignment   *audit.Assignment
	Suppressions []audit.Suppression
	// ExpectEvery turns on the dead-man's switch (0: off).
	ExpectEvery time.Duration
	// Accounts are the configured accounts with their API clients: the own
	// account (when the config gives it a scope) and each of accounts:.
	Accounts []fleet.Account
	Auditor  *fleet.Auditor
	Store    store.Store
	// Artifacts are written beside each snapshot, in order (the report
	// page).
	Artifacts []Artifact
	// Notifier delivers the reports (nil: no destination is configured).
	Notifier Notifier
	// Metrics reports the run's figures (CloudMonitor), after its reports
	// (nil: none). A failure is reported, and never fails the run.
	Metrics Reporter
	// Actions are what people did from Slack — snoozes, acknowledgements,
	// the recent actions — read at the start of each run (nil: none).
	// Config suppressions win over snoozes. A failure to read them is
	// logged and the run goes on without them: more is reported, never
	// less.
	Actions ActionsReader
	// Retirer keeps the marks for deletion and deletes the tokens whose
	// date has come (actions.retire; nil: off).
	Retirer Retirer
	// Keepers keep what a run learned for the next ones (the owners'
	// Slack lookups): each is kept once the run's snapshot is written and
	// its reports delivered, by a run that writes (not a dry run or an
	// export). A failure is logged, and never fails the run.
	Keepers []Keeper
	Logger  *slog.Logger
	// Now is the wall clock (nil: time.Now): a state file dated ahead of
	// it is invalid.
	Now func() time.Time
}

// Keeper keeps what a run learned for the next ones, in the store; res
// is the run's result, its deliveries included.
type Keeper interface {
	Keep(ctx context.Context, res *Result) error
}

// ActionsReader reads what people did from Slack as the audit applies it.
type ActionsReader interface {
	ReadActions(ctx context.Context) (audit.Actions, error)
}

// closeLoop compares snap with the baseline, computes the remediation
// figures (a full run whose history was read) and plans the retirement
// of marked tokens (acting when act).
func (r *Runner) closeLoop(ctx context.Context, snap *audit.Snapshot, base *audit.Baseline, baseErr error, rd stored, now time.Time, act, narrowed bool) {
	cmpBase, cmpErr := base, baseErr
	if base != nil && !base.AuditedAt.Before(now) {
		cmpBase, cmpErr = nil, fmt.Errorf("the baseline is from %s, not before this audit's time", base.AuditedAt.Format(time.RFC3339))
	}
	audit.Compare(snap, cmpBase, cmpErr, r.ExpectEvery)
	if !narrowed && rd.historyHeld == "" {
		snap.Summary.Remediation = audit.Remediate(snap, rd.history)
	}
	if r.Retirer != nil {
		snap.Retire = r.Retirer.Retire(ctx, snap, act, retireHold(snap))
	}
}

// Retirer plans and carries out the retirement of marked tokens.
type Retirer interface {
	// Retire plans the marks of s; with act, it records them and deletes
	// the due tokens, unless hold says why this run deletes none. What
	// went wrong is in the report: it never fails the run.
	Retire(ctx context.Context, s *audit.Snapshot, act bool, hold string) *audit.RetireReport
	// Told records which of the notices s's run made reached a
	// destination (told: their marks' keys): each other notice is taken
	// back, and returned, so that the next run tells it again. A notice
	// taken back by an earlier attempt of the run and told by this one is
	// given back.
	Told(ctx context.Context, s *audit.Snapshot, told []string) ([]audit.RetireEntry, error)
}

// Options describe one run.
type Options struct {
	// Now is the audit time; a retry of the same run has the same one.
	Now     time.Time
	Trigger audit.Trigger
	// Accounts, when not nil, narrows the configured scope (an ad-hoc audit,
	// see fleet.Narrow); such a run does not move latest.json or the
	// baseline.
	Accounts []fleet.Account
	// Asked is the narrowing Accounts came from: a workspace or gateway it
	// names that discovery found nowhere is a *NotFoundError.
	Asked  audit.Narrowing
	DryRun bool
	// Notify says whether to notify at all (subject to slack.notify).
	Notify bool
	// Retry is true for a retry of a run that may have partly succeeded. It
	// only matters when the store cannot record a delivery claim: a failure
	// notice is then posted on the first attempt only.
	Retry bool
	// Interrupt, when closed, stops the run as its deadline would: no
	// gateway is started, calls in flight are cut (their gateways are
	// "Interrupted"), suppressions are no longer matched, and what was
	// audited is written and delivered (nil: never).
	Interrupt <-chan struct{}
}

// Result is what a run did.
type Result struct {
	// RunID names the run: audit-{stamp}, and the scope's ID for a
	// narrowed one.
	RunID    string
	Snapshot *audit.Snapshot
	// Key is the dated snapshot's key; Location says where it is.
	Key      string
	Location string
	// PageKey and PageLocation are the run's page's (empty without one, and
	// PageLocation also when it could not be written).
	PageKey      string
	PageLocation string
	// History is the history of full audits the page's trend draws: with
	// this run when it moved the baseline.
	History *audit.History
	// WouldMoveLatest is true when a dry run would have moved latest.json
	// and the baseline (a real run of the whole scope).
	WouldMoveLatest bool
	// Written is true once the dated snapshot is in the store.
	Written bool
	// MovedLatest is true when latest.json and the baseline moved to this
	// run; BaselineHeld says why they did not, when they did not.
	MovedLatest  bool
	BaselineHeld string
	// HistoryHeld says why history.json was not moved with them.
	HistoryHeld string
	// Notified is true when something was delivered by this run and no
	// delivery failed; Deliveries says what became of each.
	Notified   bool
	Deliveries []delivery.Result
	// NotifySkipped says why no notification was sent, if none was.
	NotifySkipped string
	// MetricsSent says the run's figures were reported; MetricsError why
	// they were not (the run is not failed for it).
	MetricsSent  bool
	MetricsError string
	// Reused is true when the run's snapshot was already written (a retry,
	// or a second delivery of the same event) and was not audited again.
	Reused bool
	// RetireUntold name the tokens ("name (tokenId)") whose notice of
	// deletion this run made and no destination took: the record takes
	// the notice back, the next run tells it again, and their deletion
	// waits for it.
	RetireUntold []string
	// told are the marks whose notice a delivered report carried.
	told []string
	// unwritten are the extensions of the artifacts that could not be
	// written: their latest copies stay where they were.
	unwritten map[string]bool
	// ledger says the run is a full one, whose deliveries use the delivery
	// ledger; ledgered that its baseline's release kept ledgers.
	ledger, ledgered bool
}

// Partial reports whether some gateways or listings could not be audited.
func (r *Result) Partial() bool {
	return r.Snapshot != nil && (r.Snapshot.Summary.GatewaysFailed > 0 || r.Snapshot.Summary.Errors > 0)
}

// Failed reports whether the run audited nothing while something failed.
func (r *Result) Failed() bool {
	return r.Snapshot != nil && r.Snapshot.Verdict == audit.VerdictFailed
}

// Locations say where the run's snapshot and page are.
func (r *Result) Locations() delivery.Locations {
	return delivery.Locations{Snapshot: r.Location, Page: r.PageLocation}
}

// FailedAuditError is the error of a run that could audit nothing.
type FailedAuditError struct {
	Summary audit.Summary
}

func (e *FailedAuditError) Error() string {
	return "audit failed: " + e.Summary.FailedCoverage() + " — every gateway and listing in scope failed (see the snapshot's errors)"
}

// NotFoundError is a workspace or gateway that a narrowing named and that
// discovery found nowhere in the configured scope: a typo, never an
// audit of nothing. Nothing is written for it.
type NotFoundError struct {
	What, Name string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("scope: %s %q was found nowhere in the configured scope (check its ID or name)", e.What, audit.Truncate(e.Name, 64))
}

// LatestPageKey is the page of the snapshot latest.json holds.
const LatestPageKey = "latest.html"

// ArtifactKey is the key of the artifact with extension ext written beside
// the snapshot at key.
func ArtifactKey(snapshotKey, ext string) string {
	return strings.TrimSuffix(snapshotKey, ".json") + ext
}

// Run runs the audit. The error is non-nil when the run could not do its
// job: nothing could be audited (a *FailedAuditError), the snapshot could
// not be written, or the notification failed after its retries (the
// snapshot is written first either way). Gateways that failed while others
// were audited are not errors: they are in the snapshot.
func (r *Runner) Run(ctx context.Context, o Options) (*Result, error) {
	res, err := r.run(ctx, o)
	r.reportMetrics(ctx, o, res)
	return res, err
}

// reportMetrics reports the figures of a full run, whatever became of it
// (a failed audit is a heartbeat too); not of a dry run, nor of a narrowed
// one (its counts are of part of the fleet).
func (r *Runner) reportMetrics(ctx context.Context, o Options, res *Result) {
	if r.Metrics == nil || o.DryRun || res == nil || res.Snapshot == nil || !res.ledger {
		return
	}
	if err := r.Metrics.Report(ctx, res.Snapshot); err != nil {
		res.MetricsError = err.Error()
		r.logger().Warn("metrics not reported; the audit goes on", "error", err)
		return
	}
	res.MetricsSent = true
}

func (r *Runner) run(ctx context.Context, o Options) (*Result, error) {
	res, st := r.evaluate(ctx, o)
	for _, rd := range st.renderings {
		defer rd.Close()
	}
	defer st.spool.close()
	if st.scopeErr != nil {
		res.NotifySkipped = "the narrowing names what is nowhere"
		return res, st.scopeErr
	}
	if o.DryRun {
		res.NotifySkipped = "dry run"
		res.BaselineHeld = "dry run"
		res.WouldMoveLatest = st.hold == ""
		return res, verdictError(res)
	}
	// The artifacts are rendered while the snapshot is written, and stored
	// after it.
	renders := make([]*prerendered, len(r.Artifacts))
	v := View{Snapshot: res.Snapshot, History: res.History.Runs, Locations: res.Locations()}
	for i, rd := range st.renderings {
		renders[i] = prerender(func(w io.Writer) error { return rd.Render(w, v) })
		defer renders[i].close()
	}
	// So is the next baseline, when it is to move, one gateway at a time.
	if st.hold == "" {
		st.next = prerender(func(w io.Writer) error { return audit.WriteNextBaseline(w, st.base, res.Snapshot) })
		defer st.next.close()
	}
	if !res.Reused {
		encoded := st.spool.encoded()
		if err := r.Store.Put(ctx, res.Key, func(w io.Writer) error { return res.Snapshot.WriteWith(w, encoded) }); err != nil {
			// Nothing else is written: latest.json and the baseline keep
			// the last good audit.
			err = fmt.Errorf("write snapshot: %w", err)
			r.notifyFailure(ctx, o, res, err.Error())
			return res, err
		}
	}
	res.Written = true
	errs := r.writeArtifacts(ctx, res, renders)
	errs = append(errs, r.advance(ctx, res, st)...)
	errs = append(errs, r.notify(ctx, o, res)...)
	if err := r.confirmNotices(ctx, res); err != nil {
		errs = append(errs, err)
	}
	r.keep(ctx, o, res)
	if err := verdictError(res); err != nil {
		errs = append(errs, err)
	}
	if st.fatal != nil {
		errs = append(errs, st.fatal)
	}
	return res, errors.Join(errs...)
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func verdictError(res *Result) error {
	if res.Failed() {
		return &FailedAuditError{Summary: res.Snapshot.Summary}
	}
	return nil
}

// state is what the run read of the store before writing: the baseline,
// and whether (and why not) it moves; and the artifacts' renderings.
type state struct {
	base *audit.Baseline
	// hold says why latest.json and the baseline must not move ("": they
	// move).
	hold       string
	renderings []Rendering
	// spool holds the gateways' part of the snapshot, encoded as they were
	// audited (nil when the run did not audit, or had no temporary file).
	spool *gatewaySpool
	// scopeErr is a narrowing that named what is nowhere: nothing is written.
	scopeErr error
	// next is the next baseline, rendered while the snapshot is written
	// (nil when the baseline does not move).
	next *prerendered
	// historyHeld says why history.json must not be replaced; fatal is a
	// state file of a newer release (the run fails).
	historyHeld string
	fatal       error
}

// evaluate reads the baseline, reuses the run's snapshot when it is
// already written, or audits, classifies and compares; it decides whether
// the baseline moves and draws the history.
func (r *Runner) evaluate(ctx context.Context, o Options) (*Result, state) {
	now := o.Now.UTC().Truncate(time.Second)
	narrowed := o.Accounts != nil
	accounts := r.Accounts
	if narrowed {
		accounts = o.Accounts
	}
	scope := audit.ScopeReportOf(fleet.Identities(accounts), narrowed)
	// A narrowed run has keys of its own: it never overwrites the whole
	// run's snapshot, page or claims.
	res := &Result{Key: audit.SnapshotKeyOf(now, scope), RunID: audit.RunIDOf(now, scope)}

	// The baseline and the history are read while the fleet is audited;
	// the first finding waits for them (its firstSeen is the baseline's).
	reading := r.read(ctx)
	var rd stored
	var readOnce sync.Once
	read := func() stored { readOnce.Do(func() { rd = <-reading }); return rd }
	earlier := func() *audit.Baseline {
		if base := read().base; base != nil && base.AuditedAt.Before(now) {
			return base
		}
		return nil
	}
	if !o.DryRun {
		res.Snapshot = r.reusable(ctx, res.Key, scope)
		res.Reused = res.Snapshot != nil
	}
	var renderings []Rendering
	if !o.DryRun {
		for _, a := range r.Artifacts {
			renderings = append(renderings, a.Start(now))
		}
	}
	var snap *audit.Snapshot
	var spool *gatewaySpool
	var scopeErr error
	if res.Snapshot == nil {
		if !o.DryRun {
			spool = newGatewaySpool()
		}
		hand := renderings
		if spool != nil {
			hand = append(slices.Clip(hand), spool)
		}
		snap, scopeErr = r.collect(ctx, o, now, accounts, scope, hand, earlier)
	} else {
		for _, g := range res.Snapshot.Gateways {
			for _, rd := range renderings {
				rd.Gateway(g)
			}
		}
	}
	read()
	base, baseErr := rd.base, rd.baseErr
	if baseErr != nil {
		r.logger().Warn("baseline unusable; comparing as a first run", "error", baseErr)
	}
	if snap != nil {
		r.closeLoop(ctx, snap, base, baseErr, rd, now, !o.DryRun && !narrowed, narrowed)
		res.Snapshot = snap
	}
	res.Location = r.Store.Location(ctx, res.Key)
	for _, a := range r.Artifacts {
		if a.Page {
			res.PageKey = ArtifactKey(res.Key, a.Ext)
			res.PageLocation = r.Store.Location(ctx, res.PageKey)
		}
	}
	st := state{base: base, hold: holdBaseline(res.Snapshot, narrowed, base, rd.held), renderings: renderings, spool: spool, scopeErr: scopeErr,
		historyHeld: rd.historyHeld, fatal: rd.fatal}
	res.History = rd.history
	res.ledger = !narrowed && res.Snapshot != nil && !res.Snapshot.Scope.Partial
	res.ledgered = base != nil && base.Ledgers
	if st.hold == "" {
		res.History = res.History.Next(res.Snapshot)
	}
	return res, st
}

// retireHold says why a run deletes no token although some are due: only
// a complete audit deletes ("": it may).
func retireHold(s *audit.Snapshot) string {
	if s.Verdict != audit.VerdictComplete {
		return "the audit was " + string(s.Verdict) + " (exit 3 or 1): a run that could not audit everything deletes nothing; the marks stand"
	}
	return ""
}

// collect audits the fleet: each gateway is classified as soon as its
// tokens are in (and the listing is let go then), and handed to the
// artifacts' renderings.
func (r *Runner) collect(ctx context.Context, o Options, now time.Time, accounts []fleet.Account, scope audit.ScopeReport, renderings []Rendering,
	earlier func() *audit.Baseline) (*audit.Snapshot, error) {
	// The fleet is walked under a context of its own, which an
	// interruption cancels: what comes after (writing, delivering) goes on.
	walkCtx, cancelWalk := context.WithCancelCause(ctx)
	defer cancelWalk(nil)
	if o.Interrupt != nil {
		go func() {
			select {
			case <-o.Interrupt:
				r.logger().Warn("interrupted: no more gateways are listed; what was audited is written")
				cancelWalk(audit.ErrInterrupted)
			case <-walkCtx.Done():
			}
		}()
	}
	stop := func() bool { return walkCtx.Err() != nil }
	if dl, ok := ctx.Deadline(); ok {
		reserve := r.Auditor.Reserve
		stop = func() bool { return walkCtx.Err() != nil || !time.Now().Before(dl.Add(-reserve)) }
	}
	ev := audit.Evaluation{Tool: r.Tool, Now: now, Policy: r.Policy, Profiles: r.Profiles, Suppressions: r.Suppressions, Trigger: o.Trigger, Scope: scope, Stop: stop,
		Earlier: earlier, Assignment: r.Assignment}
	if r.Actions != nil {
		acts, err := r.Actions.ReadActions(ctx)
		if err != nil {
			r.logger().Warn("actions from Slack not read: snoozes and acknowledgements are not applied in this run", "error", err)
			acts.Warnings = append(acts.Warnings, "the record of actions could not be read ("+audit.BoundText(err.Error())+"): its snoozes and acknowledgements are not applied in this run")
		}
		for _, w := range acts.Warnings {
			r.logger().Warn("actions from Slack: not all applied", "warning", w)
		}
		ev.Suppressions = append(slices.Clip(ev.Suppressions), acts.Snoozes...) // config suppressions first: they win
		ev.Acks, ev.Actions, ev.ActionsWarnings = acts.Acks, acts.Recent, acts.Warnings
	}
	b := audit.NewBuilder(ev)
	defer func() {
		if n := b.Unsuppressed(); n > 0 {
			r.logger().Warn("suppressions not matched: the run's deadline came while classifying; their findings are reported as active", "tokens", n)
		}
	}()
	errs, found := r.Auditor.Walk(walkCtx, accounts, func(res audit.GatewayResult) {
		g := b.Add(res)
		for _, rd := range renderings {
			rd.Gateway(g)
		}
	})
	s := b.Finish(errs)
	// Tokens that share a secret are known once the whole fleet is in:
	// their gateways are handed over again, amended.
	for _, g := range b.Amended() {
		for _, rd := range renderings {
			rd.Gateway(g)
		}
	}
	return s, notFound(o.Asked, fleet.Identities(accounts), found, errs)
}

// notFound returns the first workspace or gateway of asked that discovery
// found nowhere, when it could have: a workspace no region's listing holds
// while every region's listing succeeded; a gateway its workspace's
// listing does not hold.
func notFound(asked audit.Narrowing, accounts []audit.Account, found fleet.Discovered, errs []audit.ScopeError) error {
	blind := slices.ContainsFunc(errs, func(e audit.ScopeError) bool { return e.WorkspaceID == "" })
	for _, w := range asked.Workspaces {
		seen := slices.ContainsFunc(found.Workspaces, func(ref audit.GatewayRef) bool { return ref.WorkspaceID == w || ref.WorkspaceName == w })
		explicit := slices.ContainsFunc(accounts, func(a audit.Account) bool {
			return slices.ContainsFunc(a.Scope.Gateways, func(g audit.GatewayRef) bool { return g.WorkspaceID == w })
		})
		if !seen && !explicit && !blind {
			return &NotFoundError{What: "workspace", Name: w}
		}
	}
	for _, g := range asked.Gateways {
		for _, a := range accounts {
			if g.AccountID != "" && g.AccountID != audit.SelfAccount && g.AccountID != a.ID && g.AccountID != a.Name || (g.AccountID == "" || g.AccountID == audit.SelfAccount) && a.ID != "" {
				continue
			}
			ref := audit.GatewayRef{AccountID: a.ID, Region: g.Region, WorkspaceID: g.WorkspaceID, GatewayID: g.GatewayID}
			if found.Listed[a.ID+"/"+g.Region+"/"+g.WorkspaceID] && !found.Gateways[ref.Key()] {
				return &NotFoundError{What: "gateway", Name: g.Region + "/" + g.WorkspaceID + "/" + g.GatewayID}
			}
		}
	}
	return nil
}

// writeArtifacts writes each artifact beside the snapshot; each was
// rendered once.
func (r *Runner) writeArtifacts(ctx context.Context, res *Result, renders []*prerendered) []error {
	var errs []error
	for i, a := range r.Artifacts {
		key := ArtifactKey(res.Key, a.Ext)
		if err := r.Store.Put(ctx, key, renders[i].content); err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", key, err))
			if res.unwritten == nil {
				res.unwritten = map[string]bool{}
			}
			res.unwritten[a.Ext] = true
			if a.Page {
				res.PageLocation = "" // no report links a page that is not there
			}
		}
	}
	return errs
}

// advance moves latest.json and the baseline to this run, then the
// history and the latest copies of the artifacts, unless the run must hold
// them.
func (r *Runner) advance(ctx context.Context, res *Result, st state) []error {
	if st.hold != "" {
		res.BaselineHeld = st.hold
		r.logger().Info("baseline not moved", "reason", st.hold)
		return nil
	}
	held, err := r.moveBaseline(ctx, res, st.base, st.next)
	switch {
	case err != nil:
		return []error{err}
	case held != "":
		res.BaselineHeld = held
		r.logger().Warn("baseline not moved", "reason", held)
		return nil
	}
	res.MovedLatest = true
	// What is drawn from latest.json follows it; its failure is reported,
	// and the next full audit writes both again.
	var errs []error
	if st.historyHeld != "" {
		res.HistoryHeld = st.historyHeld
		r.logger().Warn("history not moved", "reason", st.historyHeld)
	} else if err := r.Store.Put(ctx, audit.HistoryKey, res.History.Write); err != nil {
		errs = append(errs, fmt.Errorf("write %s: %w", audit.HistoryKey, err))
	}
	for _, a := range r.Artifacts {
		if res.unwritten[a.Ext] {
			continue // the run's artifact was not written: its latest copy stays
		}
		latest := "latest" + a.Ext
		if err := r.Store.Copy(ctx, ArtifactKey(res.Key, a.Ext), latest); err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", latest, err))
		}
	}
	return errs
}

// notify hands the report to delivery.
func (r *Runner) notify(ctx context.Context, o Options, res *Result) []error {
	switch {
	case r.Notifier == nil:
		res.NotifySkipped = "no Slack destination configured"
		return nil
	case !o.Notify:
		res.NotifySkipped = "notification turned off for this run"
		return nil
	}
	out := r.Notifier.Report(ctx, r.notifyRun(o, res), res.Snapshot, res.Locations())
	res.Deliveries, res.Notified, res.NotifySkipped, res.told = out.Deliveries, out.Notified, out.Skipped, out.Told
	return out.Errs
}

// keep has each Keeper keep what the run learned (a run that writes).
func (r *Runner) keep(ctx context.Context, o Options, res *Result) {
	if o.DryRun {
		return
	}
	for _, k := range r.Keepers {
		if err := k.Keep(ctx, res); err != nil {
			r.logger().Warn("what this run learned for the next ones was not kept; they ask again", "error", err)
		}
	}
}

// confirmNotices gives the record of actions the notices of deletion no
// destination took (a failed or skipped delivery, a run that notifies
// nobody): the record takes them back, so that the next run tells them
// again and no token is deleted on a notice nobody got.
func (r *Runner) confirmNotices(ctx context.Context, res *Result) error {
	s := res.Snapshot
	if r.Retirer == nil || s == nil || s.Retire == nil || !s.Retire.Acted || len(s.Retire.Noticed) == 0 {
		return nil
	}
	untold, err := r.Retirer.Told(ctx, s, res.told)
	for _, e := range untold {
		res.RetireUntold = append(res.RetireUntold, cmp.Or(e.Name, e.TokenID)+" ("+e.TokenID+")")
	}
	if len(untold) > 0 {
		r.logger().Warn("notices of deletion reached no destination: the next run tells them again, and their deletion waits", "tokens", len(untold))
	}
	if err != nil {
		return fmt.Errorf("retire: take back %s no destination took: %w", audit.Plural(len(untold), "notice"), err)
	}
	return nil
}

func (r *Runner) notifyRun(o Options, res *Result) delivery.Run {
	return delivery.Run{Key: res.Key, RunID: res.RunID, RequestID: o.Trigger.RequestID, Retry: o.Retry, Ledger: res.ledger, Ledgered: res.ledgered}
}

// notifyFailure posts a short failure notice, once per run.
func (r *Runner) notifyFailure(ctx context.Context, o Options, res *Result, cause string) {
	if !o.Notify || r.Notifier == nil {
		return
	}
	at := o.Now.UTC().Truncate(time.Second)
	f := delivery.FailureNotice{Tool: r.Tool, RunID: res.RunID, AuditedAt: at, Trigger: o.Trigger, Cause: cause}
	res.Deliveries = append(res.Deliveries, r.Notifier.Failure(ctx, r.notifyRun(o, res), f)...)
}
