package run

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"livy-token-audit/audit"
)

// baseline reads baseline.json, or derives it from latest.json (written by
// a version that kept no baseline). It returns (nil, true, nil) when there
// is neither. readable is false when the store could not be read at all
// (not when the content is bad): the baseline then must not be replaced.
func (r *Runner) baseline(ctx context.Context) (base *audit.Baseline, readable bool, err error) {
	b, err := r.Store.Get(ctx, audit.BaselineKey)
	if err == nil {
		base, err := audit.ReadBaseline(b)
		if err != nil {
			return nil, true, fmt.Errorf("read %s: %w", audit.BaselineKey, err)
		}
		return base, true, nil
	}
	if !errors.Is(err, ErrNotFound) {
		// Too large is bad content, to be replaced; anything else is the
		// store failing, and then nothing is replaced.
		return nil, errors.Is(err, ErrTooLarge), fmt.Errorf("read %s: %w", audit.BaselineKey, err)
	}
	b, err = r.Store.Get(ctx, audit.LatestKey)
	if errors.Is(err, ErrNotFound) {
		return nil, true, nil
	}
	if err != nil {
		return nil, errors.Is(err, ErrTooLarge), fmt.Errorf("read %s: %w", audit.LatestKey, err)
	}
	s, err := audit.ReadSnapshot(b)
	if err != nil {
		return nil, true, fmt.Errorf("read %s: %w", audit.LatestKey, err)
	}
	return audit.BaselineOf(s), true, nil
}

// reusable returns the run's snapshot when it is already written with the
// same scope and is a real audit (a failed audit is audited again).
func (r *Runner) reusable(ctx context.Context, key string, scope audit.ScopeReport) *audit.Snapshot {
	b, err := r.Store.Get(ctx, key)
	if err != nil {
		return nil
	}
	s, err := audit.ReadSnapshot(b)
	if err != nil || s.Verdict == audit.VerdictFailed || !reflect.DeepEqual(s.Scope, scope) {
		return nil
	}
	r.logger().Info("snapshot of this run already written; not auditing again", "key", key)
	return s
}

// holdBaseline says why a run must not move latest.json and the baseline,
// or "" when it must.
func holdBaseline(s *audit.Snapshot, narrowed bool, base *audit.Baseline, readable bool) string {
	switch {
	case narrowed || s.Scope.Partial:
		return "ad-hoc run narrowed to part of the scope"
	case s.Verdict == audit.VerdictFailed:
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

// moveBaseline copies the dated snapshot to latest.json, then writes
// baseline.json: a run whose latest.json failed leaves the baseline where
// it was, so a retry does both.
func (r *Runner) moveBaseline(ctx context.Context, res *Result, base *audit.Baseline) error {
	if err := r.Store.Copy(ctx, res.Key, audit.LatestKey); err != nil {
		return fmt.Errorf("write %s: %w", audit.LatestKey, err)
	}
	if err := r.Store.Put(ctx, audit.BaselineKey, audit.NextBaseline(base, res.Snapshot).Write); err != nil {
		return fmt.Errorf("write %s: %w", audit.BaselineKey, err)
	}
	return nil
}

// history reads history.json; a missing or unreadable one is an empty
// history (the trend starts again).
func (r *Runner) history(ctx context.Context) *audit.History {
	b, err := r.Store.Get(ctx, audit.HistoryKey)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			r.logger().Warn("history unreadable; the trend starts again", "error", err)
		}
		return &audit.History{SchemaVersion: audit.SchemaVersion}
	}
	h, err := audit.ReadHistory(b)
	if err != nil {
		r.logger().Warn("history unreadable; the trend starts again", "error", err)
		return &audit.History{SchemaVersion: audit.SchemaVersion}
	}
	return h
}
