package run

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/store"
)

// State files (baseline.json, latest.json, history.json) are never
// replaced blind: one that cannot be read for a passing reason (the store
// failing) holds its move; one written by a newer release is never
// overwritten, and the run fails saying so; a corrupt or lost baseline is
// rebuilt from latest.json and the snapshots it names; one dated ahead of
// the clock is invalid, and replaced.

// rebuildHops bounds how many earlier snapshots a rebuilt baseline follows
// back for the gateways that failed in latest.json.
const rebuildHops = 5

// stored is what a run reads of the store before it compares.
type stored struct {
	base *audit.Baseline
	// baseErr says why no baseline is compared against (a first run).
	baseErr error
	// held says why latest.json and the baseline must not be replaced.
	held    string
	history *audit.History
	// historyHeld says why history.json must not be replaced.
	historyHeld string
	// fatal is a state file of a newer release: the run fails.
	fatal error
}

// read reads the baseline and the history in the background.
func (r *Runner) read(ctx context.Context) <-chan stored {
	reading := make(chan stored, 1)
	go func() {
		rd := r.readBaseline(ctx)
		r.readHistory(ctx, &rd)
		reading <- rd
	}()
	return reading
}

func (r *Runner) wall() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

// readBaseline reads baseline.json; without one (a version that kept
// none), it is derived from latest.json; a corrupt one is rebuilt from
// latest.json and the snapshots it names.
func (r *Runner) readBaseline(ctx context.Context) stored {
	var rd stored
	b, err := r.Store.Get(ctx, audit.BaselineKey)
	switch {
	case err == nil:
		base, perr := audit.ReadBaseline(b)
		switch {
		case isNewer(perr):
			return newer(audit.BaselineKey, perr)
		case perr != nil:
			return r.rebuild(ctx, fmt.Errorf("read %s: %w", audit.BaselineKey, perr))
		case base.AuditedAt.After(r.wall().Add(audit.MaxSkew)):
			return r.rebuild(ctx, fmt.Errorf("%s is dated %s, ahead of the clock: invalid", audit.BaselineKey, base.AuditedAt.Format(time.RFC3339)))
		}
		rd.base = base
	case errors.Is(err, store.ErrTooLarge):
		return r.rebuild(ctx, fmt.Errorf("read %s: %w", audit.BaselineKey, err))
	case errors.Is(err, store.ErrNotFound):
		base, lerr := r.fromLatest(ctx)
		switch {
		case isNewer(lerr):
			return newer(audit.LatestKey, lerr)
		case errors.Is(lerr, store.ErrNotFound):
		case lerr != nil && !errors.Is(lerr, errBadContent):
			rd.baseErr, rd.held = lerr, "latest.json could not be read, so it is not replaced"
		case lerr != nil:
			rd.baseErr = lerr
		default:
			rd.base = base
		}
	default:
		// The store failing: nothing is replaced blind.
		rd.baseErr, rd.held = fmt.Errorf("read %s: %w", audit.BaselineKey, err), "the baseline could not be read, so it is not replaced"
	}
	return rd
}

// rebuild rebuilds the baseline from latest.json after why made it
// unusable: compared against when it could be rebuilt, else a first run;
// replaced either way (unless latest.json could not be read at all).
func (r *Runner) rebuild(ctx context.Context, why error) stored {
	rd := stored{baseErr: why}
	base, err := r.fromLatest(ctx)
	switch {
	case isNewer(err):
		return newer(audit.LatestKey, err)
	case err == nil:
		r.logger().Warn("baseline unusable; rebuilt from latest.json", "why", why)
		rd.base, rd.baseErr = base, nil
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, errBadContent):
	default:
		rd.held = "the baseline was unusable and latest.json could not be read, so neither is replaced"
	}
	return rd
}

// errBadContent marks a state file that was read but is no use.
var errBadContent = errors.New("unusable")

// fromLatest derives a baseline from latest.json and, for its failed
// gateways, the snapshots it names.
func (r *Runner) fromLatest(ctx context.Context) (*audit.Baseline, error) {
	b, err := r.Store.Get(ctx, audit.LatestKey)
	if err != nil {
		if errors.Is(err, store.ErrTooLarge) {
			return nil, fmt.Errorf("read %s: %w (%w)", audit.LatestKey, err, errBadContent)
		}
		return nil, fmt.Errorf("read %s: %w", audit.LatestKey, err)
	}
	s, err := audit.ReadSnapshot(b)
	switch {
	case isNewer(err):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("read %s: %w (%w)", audit.LatestKey, err, errBadContent)
	case s.AuditedAt.After(r.wall().Add(audit.MaxSkew)):
		return nil, fmt.Errorf("%s is dated %s, ahead of the clock: invalid (%w)", audit.LatestKey, s.AuditedAt.Format(time.RFC3339), errBadContent)
	}
	earlier := func(key string) (*audit.Snapshot, bool) {
		b, err := r.Store.Get(ctx, key)
		if err != nil {
			return nil, false
		}
		s, err := audit.ReadSnapshot(b)
		return s, err == nil
	}
	return audit.RebuildBaseline(s, earlier, rebuildHops), nil
}

func isNewer(err error) bool {
	var ne *audit.NewerError
	return errors.As(err, &ne)
}

// newer is what a run reads when a state file is of a newer release.
func newer(key string, err error) stored {
	return stored{baseErr: fmt.Errorf("%s: %w", key, err), held: key + " is of a newer release, and is not overwritten",
		fatal: fmt.Errorf("%s: %w", key, err)}
}

// readHistory reads history.json: a missing or corrupt one starts the
// trend again; one that cannot be read is not replaced; one of a newer
// release fails the run.
func (r *Runner) readHistory(ctx context.Context, rd *stored) {
	rd.history = &audit.History{SchemaVersion: audit.SchemaVersion}
	b, err := r.Store.Get(ctx, audit.HistoryKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return
	case err != nil && !errors.Is(err, store.ErrTooLarge):
		rd.historyHeld = "history.json could not be read, so it is not replaced (" + err.Error() + ")"
		r.logger().Warn("history unreadable; not replaced", "error", err)
		return
	case err != nil:
		r.logger().Warn("history unreadable; the trend starts again", "error", err)
		return
	}
	h, err := audit.ReadHistory(b)
	switch {
	case isNewer(err):
		rd.historyHeld = "history.json is of a newer release, and is not overwritten"
		if rd.fatal == nil {
			rd.fatal = fmt.Errorf("%s: %w", audit.HistoryKey, err)
		}
	case err != nil:
		r.logger().Warn("history unreadable; the trend starts again", "error", err)
	default:
		rd.history = h
	}
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
func holdBaseline(s *audit.Snapshot, narrowed bool, base *audit.Baseline, held string) string {
	switch {
	case narrowed || s.Scope.Partial:
		return "ad-hoc run narrowed to part of the scope"
	case s.Verdict == audit.VerdictFailed:
		return "nothing was audited"
	case held != "":
		return held
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
// it was, so a retry does both. Just before, it reads the baseline again:
// a run that moved it past this one meanwhile is not undone (it reports
// why it held). What is left of the race — another run moving it between
// this read and these writes — is documented.
func (r *Runner) moveBaseline(ctx context.Context, res *Result, base *audit.Baseline, next *prerendered) (held string, err error) {
	if b, err := r.Store.Get(ctx, audit.BaselineKey); err == nil {
		now, rerr := audit.ReadBaselineHeader(b)
		switch {
		case isNewer(rerr):
			return audit.BaselineKey + " became of a newer release meanwhile, and is not overwritten", nil
		case rerr == nil && !now.AuditedAt.Before(res.Snapshot.AuditedAt) && !now.AuditedAt.After(r.wall().Add(audit.MaxSkew)) &&
			(base == nil || !now.AuditedAt.Equal(base.AuditedAt)):
			return "another run moved the baseline to " + now.AuditedAt.Format(time.RFC3339) + " meanwhile", nil
		}
	}
	if err := r.Store.Copy(ctx, res.Key, audit.LatestKey); err != nil {
		return "", fmt.Errorf("write %s: %w", audit.LatestKey, err)
	}
	if err := r.Store.Put(ctx, audit.BaselineKey, next.content); err != nil {
		return "", fmt.Errorf("write %s: %w", audit.BaselineKey, err)
	}
	return "", nil
}
