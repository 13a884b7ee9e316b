package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Notifier delivers the report of a snapshot (Slack). link says where the
// snapshot was written.
type Notifier interface {
	Notify(ctx context.Context, s *Snapshot, link string) error
}

// Runner runs one whole audit: collect, classify, compare with the previous
// snapshot, write the snapshot, notify. The CLI, the demo and the Function
// Compute handler all call it.
type Runner struct {
	Config   *Config
	Auditor  *Auditor
	Store    Store
	Notifier Notifier // nil: no notification
	Logger   *slog.Logger
}

// RunOptions describe one run.
type RunOptions struct {
	// Now is the audit time; a retry of the same run has the same one.
	Now     time.Time
	Trigger Trigger
	// Scope narrows the configured scope when not nil (an ad-hoc audit); such
	// a run does not move latest.json.
	Scope  *Scope
	DryRun bool
	// Notify says whether to notify at all (subject to slack.notify).
	Notify bool
	// Retry is true for a retry of a run that may have partly succeeded: a
	// snapshot or notification that already exists is not repeated.
	Retry bool
}

// Result is what a run did.
type Result struct {
	Snapshot *Snapshot
	// Key is the dated snapshot's key; Location says where it is.
	Key      string
	Location string
	// Encoded is the snapshot as written (or, in a dry run, as it would be).
	Encoded     []byte
	MovedLatest bool
	Notified    bool
	// NotifySkipped says why no notification was sent, if none was.
	NotifySkipped string
	// Reused is true when a retry found the run's snapshot already written.
	Reused bool
}

// Partial reports whether some gateways or listings could not be audited.
func (r *Result) Partial() bool {
	return r.Snapshot != nil && (r.Snapshot.Summary.GatewaysFailed > 0 || r.Snapshot.Summary.Errors > 0)
}

// Run runs the audit. The error is non-nil when the run could not do its
// job: the snapshot could not be written or the notification failed after
// its retries (the snapshot is written first either way). Gateways that
// failed are not errors: they are in the snapshot.
func (r *Runner) Run(ctx context.Context, o RunOptions) (*Result, error) {
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := o.Now.UTC().Truncate(time.Second)
	key := SnapshotKey(now)
	res := &Result{Key: key}
	partial := o.Scope != nil

	if o.Retry && !o.DryRun {
		if b, err := r.Store.Get(ctx, key); err == nil {
			if s, err := ReadSnapshot(b); err == nil {
				log.Info("retry: snapshot of this run already written; not auditing again", "key", key)
				res.Snapshot, res.Encoded, res.Reused = s, b, true
			}
		}
	}
	if res.Snapshot == nil {
		sc := Scope{Regions: r.Config.Regions, Workspaces: r.Config.Workspaces, Gateways: r.Config.Gateways}
		if o.Scope != nil {
			sc = *o.Scope
		}
		col := r.Auditor.Collect(ctx, sc)
		snap := BuildSnapshot(col, Evaluation{
			Now: now, Policy: r.Config.Policy, Suppressions: r.Config.Suppressions, Trigger: o.Trigger,
			Scope: ScopeReport{Regions: nonNil(sc.Regions), Workspaces: nonNil(sc.Workspaces), Gateways: gatewayKeys(sc.Gateways), Partial: partial},
		})
		prev, prevKey, prevErr := r.previous(ctx, now)
		if prevErr != nil {
			log.Warn("previous snapshot unusable; comparing as a first run", "error", prevErr)
		}
		Compare(snap, prev, prevKey, prevErr, r.Config.Schedule.ExpectEvery)
		b, err := snap.Encode()
		if err != nil {
			return res, err
		}
		res.Snapshot, res.Encoded = snap, b
	}
	res.Location = r.Store.Location(ctx, key)
	if o.DryRun {
		res.NotifySkipped = "dry run"
		return res, nil
	}

	var errs []error
	if !res.Reused {
		if err := r.Store.Put(ctx, key, res.Encoded); err != nil {
			// Nothing else is written: latest.json keeps pointing at the last
			// good snapshot.
			return res, fmt.Errorf("write snapshot: %w", err)
		}
	}
	if !partial && !res.Snapshot.Scope.Partial {
		if err := r.Store.Put(ctx, LatestKey, res.Encoded); err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", LatestKey, err))
		} else {
			res.MovedLatest = true
		}
	}

	switch why := r.skipNotify(ctx, o, res); {
	case why != "":
		res.NotifySkipped = why
	default:
		if err := r.Notifier.Notify(ctx, res.Snapshot, res.Location); err != nil {
			errs = append(errs, fmt.Errorf("notify: %w", err))
			break
		}
		res.Notified = true
		marker, _ := json.Marshal(map[string]any{"runId": res.Snapshot.RunID, "notifiedAt": time.Now().UTC()})
		if err := r.Store.Put(ctx, markerKey(key), marker); err != nil {
			log.Warn("could not record the delivery; a retry of this run may notify again", "error", err)
		}
	}
	return res, errors.Join(errs...)
}

// skipNotify says why not to notify, or "" to notify.
func (r *Runner) skipNotify(ctx context.Context, o RunOptions, res *Result) string {
	switch {
	case r.Notifier == nil:
		return "no Slack destination configured"
	case !o.Notify:
		return "notification turned off for this run"
	}
	if o.Retry {
		if _, err := r.Store.Get(ctx, markerKey(res.Key)); err == nil {
			return "already notified for this run"
		}
	}
	return NotifyReason(r.Config.Slack.Notify, res.Snapshot)
}

// NotifyReason applies slack.notify: it returns "" when the snapshot is to be
// reported, or why not.
func NotifyReason(mode string, s *Snapshot) string {
	failures := s.Summary.GatewaysFailed + s.Summary.Errors
	switch mode {
	case "always":
		return ""
	case "changes":
		c := s.Changes
		if c == nil || c.Previous == nil || c.Overdue != nil || failures > 0 || c.Counts().Total() > 0 {
			return ""
		}
		return "nothing changed since the previous audit (slack.notify: changes)"
	default:
		if s.Summary.ActiveFindings() > 0 || failures > 0 || (s.Changes != nil && s.Changes.Overdue != nil) {
			return ""
		}
		return "no active findings or failures (slack.notify: findings)"
	}
}

// previous reads latest.json; it returns (nil, "", nil) when there is none.
func (r *Runner) previous(ctx context.Context, now time.Time) (*Snapshot, string, error) {
	b, err := r.Store.Get(ctx, LatestKey)
	if errors.Is(err, ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", LatestKey, err)
	}
	s, err := ReadSnapshot(b)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", LatestKey, err)
	}
	if !s.AuditedAt.Before(now) {
		// A re-run at the same (or an earlier) time compares with nothing
		// newer than itself.
		if s.AuditedAt.Equal(now) {
			return nil, "", nil
		}
		return nil, "", fmt.Errorf("read %s: it is from %s, after this audit's time", LatestKey, s.AuditedAt.Format(time.RFC3339))
	}
	return s, SnapshotKey(s.AuditedAt), nil
}

func gatewayKeys(g []GatewayRef) []string {
	out := []string{}
	for _, r := range g {
		out = append(out, r.Key())
	}
	slices.Sort(out)
	return out
}
