package actions

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/notify/actionref"
)

// Retirer keeps the marks for deletion (actions.retire) in the record of
// actions and deletes the tokens whose date has come, through the delete
// role, with the careful re-read of a delete from Slack. It implements
// run.Retirer.
type Retirer struct {
	Store    Store
	Policy   actionref.Policy
	Schedule audit.RetirePolicy
	// Deleter reads the tokens again and deletes them (the delete role);
	// nil deletes nothing (each due token says so).
	Deleter Deleter
	Logger  *slog.Logger
}

// maxMarks bounds the marks the record keeps (the newest).
const maxMarks = 20000

// Retire plans the marks of s (audit.PlanRetire). With act, it records
// them and deletes the due tokens, unless hold says why no token may be
// deleted by this run (a partial one); without, nothing is recorded or
// deleted and the report is what the run would do. It never fails the
// run: what went wrong is in the report.
func (r Retirer) Retire(ctx context.Context, s *audit.Snapshot, act bool, hold string) *audit.RetireReport {
	h, err := Read(ctx, r.Store)
	var marks []audit.RetireMark
	switch {
	case err != nil:
		rep := audit.PlanRetire(s, nil, r.Schedule).Report
		rep.Held = "the record of actions could not be read (" + audit.BoundText(err.Error()) + "): nothing is marked or deleted in this run"
		rep.Noticed, rep.Scheduled = []audit.RetireEntry{}, []audit.RetireEntry{}
		return rep
	default:
		marks = h.Marks
	}
	backwards := ""
	if latest := latestMark(marks); s.AuditedAt.Before(latest) {
		// A run dated before what the record already holds (-now in the
		// past, a late retry) would undo it: it only looks.
		act, backwards = false, "this run's time is before the record's latest mark ("+latest.UTC().Format(time.RFC3339)+"): it only looks; nothing is marked or deleted"
	}
	plan := audit.PlanRetire(s, marks, r.Schedule)
	rep := plan.Report
	rep.Acted = act
	if backwards != "" {
		rep.Held = backwards
	}
	due := plan.Due
	errs := map[int]string{}
	if len(due) > 0 {
		switch {
		case !act:
			rep.Held = cmp.Or(backwards, "this run only looks (a dry run, a preview or a narrowed run): nothing is deleted")
		case hold != "":
			rep.Held = hold
		case len(due) > r.Schedule.MaxPerRun:
			rep.Held = fmt.Sprintf("%d tokens are due, more than actions.retire.maxPerRun (%d): none is deleted; raise it, or delete some by hand", len(due), r.Schedule.MaxPerRun)
		default:
			errs = r.deleteDue(ctx, s.AuditedAt, &plan)
		}
	}
	for _, i := range due {
		rep.Due = append(rep.Due, audit.RetireEntry{RetireMark: plan.Marks[i], Error: errs[i]})
	}
	rep.Scheduled = slices.DeleteFunc(rep.Scheduled, func(e audit.RetireEntry) bool { return endedIn(plan.Marks, e.Key()) })
	if !act {
		return rep
	}
	if _, err := Update(ctx, r.Store, r.Policy, s.AuditedAt, r.Logger, func(st *State) { st.Marks = keepMarks(plan.Marks) }); err != nil {
		rep.Errors = append(rep.Errors, "the marks could not be recorded ("+audit.BoundText(err.Error())+"): the next run marks and tells them again")
	}
	return rep
}

// Told records which of the notices the run of s made reached a
// destination (told: the marks' keys). A notice no destination took is
// taken back: its stage (the nearest the run reached) leaves its mark, so
// that the next run tells it again, and a deletion waits for a notice
// somebody got. A notice taken back by an earlier attempt of the same run
// and told by this one is given back. Only a mark as the run left it is
// changed (one ended or told again since stands); nothing is written when
// nothing changes. It returns the notices nobody took.
func (r Retirer) Told(ctx context.Context, s *audit.Snapshot, told []string) ([]audit.RetireEntry, error) {
	rep := s.Retire
	if rep == nil || !rep.Acted || len(rep.Noticed) == 0 {
		return nil, nil
	}
	got := map[string]bool{}
	for _, k := range told {
		got[k] = true
	}
	var untold []audit.RetireEntry
	for _, e := range rep.Noticed {
		if !got[e.Key()] {
			untold = append(untold, e)
		}
	}
	// change sets each mark the run noticed to what it has told: its
	// notices with or without the run's stage.
	change := func(marks []audit.RetireMark) bool {
		changed := false
		for _, e := range rep.Noticed {
			with := e.Notices
			without := slices.DeleteFunc(slices.Clone(with), func(st string) bool { return st == e.Stage })
			want := with
			if !got[e.Key()] {
				want = without
			}
			for i := range marks {
				m := &marks[i]
				if m.Ended != nil || m.Key() != e.Key() || !m.MarkedAt.Equal(e.MarkedAt) || slices.Equal(m.Notices, want) ||
					!slices.Equal(m.Notices, with) && !slices.Equal(m.Notices, without) {
					continue
				}
				m.Notices, changed = slices.Clone(want), true
			}
		}
		return changed
	}
	h, err := Read(ctx, r.Store)
	if err != nil {
		return untold, err
	}
	if !change(slices.Clone(h.Marks)) {
		return untold, nil
	}
	_, err = Update(ctx, r.Store, r.Policy, s.AuditedAt, r.Logger, func(st *State) { change(st.Marks) })
	return untold, err
}

// latestMark is the latest time the marks record: a mark made or ended.
func latestMark(marks []audit.RetireMark) time.Time {
	var t time.Time
	for _, m := range marks {
		if m.MarkedAt.After(t) {
			t = m.MarkedAt
		}
		if m.Ended != nil && m.Ended.At.After(t) {
			t = m.Ended.At
		}
	}
	return t
}

// endedIn reports whether the mark of key ended in marks.
func endedIn(marks []audit.RetireMark, key string) bool {
	for i := range marks {
		if marks[i].Ended != nil && marks[i].Key() == key {
			return true
		}
	}
	return false
}

// keepMarks are marks within maxMarks (the standing ones first, then the
// latest ended).
func keepMarks(marks []audit.RetireMark) []audit.RetireMark {
	if len(marks) <= maxMarks {
		return marks
	}
	out := slices.Clone(marks)
	slices.SortStableFunc(out, func(a, b audit.RetireMark) int {
		switch {
		case (a.Ended == nil) != (b.Ended == nil):
			if a.Ended == nil {
				return -1
			}
			return 1
		case a.Ended != nil:
			return b.Ended.At.Compare(a.Ended.At)
		}
		return 0
	})
	return out[:maxMarks]
}

// deleteDue deletes the due tokens, each after reading it again: a token
// gone, used or refreshed since it was marked, or no longer flagged, is
// not deleted and its mark ends saying why; a delete role missing or
// denied leaves the mark standing, with the permission named.
func (r Retirer) deleteDue(ctx context.Context, now time.Time, plan *audit.RetirePlan) map[int]string {
	rep := plan.Report
	errs := map[int]string{}
	for _, i := range plan.Due {
		m := &plan.Marks[i]
		how, detail, err := r.retireOne(ctx, m, now)
		if err != nil {
			errs[i] = "not deleted, the mark stands: " + audit.BoundText(err.Error())
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s (%s): %s", m.Name, m.TokenID, errs[i]))
			if r.Logger != nil {
				r.Logger.Warn("retire: token not deleted", "token", m.TokenID, "error", err)
			}
			continue
		}
		m.End(now, how, "", detail)
		e := audit.RetireEntry{RetireMark: *m}
		if how == audit.EndDeleted {
			rep.Retired = append(rep.Retired, e)
		} else {
			rep.Ended = append(rep.Ended, e)
		}
	}
	return errs
}

// permissions are the RAM actions a retirement needs, by kind of gateway.
var permissions = map[string][2]string{
	audit.KindLivy:   {"emr-serverless-spark:ListLivyComputeToken", "emr-serverless-spark:DeleteLivyComputeToken"},
	audit.KindKyuubi: {"emr-serverless-spark:ListKyuubiToken", "emr-serverless-spark:DeleteKyuubiToken"},
}

// retireOne reads the token again and deletes it: how its mark ends, or
// an error (the mark stands).
func (r Retirer) retireOne(ctx context.Context, m *audit.RetireMark, now time.Time) (how, detail string, err error) {
	perm := permissions[audit.KindOf(m.Kind)]
	if r.Deleter == nil {
		return "", "", errors.New("no delete role is configured (actions.delete.roleArn, accounts[].deleteRoleArn)")
	}
	ref := actionref.Ref{AccountID: m.AccountID, Region: m.Region, Workspace: m.WorkspaceID, Gateway: m.GatewayID, Kind: m.Kind, Token: m.TokenID,
		Name: m.Name, Owner: m.CreatedBy, Rule: m.Rule}
	t, err := r.Deleter.Token(ctx, ref)
	switch {
	case errors.Is(err, actionref.ErrNoDeleteRole):
		return "", "", fmt.Errorf("no delete role for this token's account (actions.delete.roleArn, accounts[].deleteRoleArn; it needs %s and %s)", perm[0], perm[1])
	case err != nil:
		return "", "", fmt.Errorf("the token could not be read again through the delete role (it needs %s): %w", perm[0], err)
	case t == nil:
		return audit.EndGone, "already gone when read again", nil
	case newer(t.LastUsedTime, m.LastUsed):
		return audit.EndKept, "used since it was marked (last used " + t.LastUsedTime.UTC().Format(time.RFC3339) + "): not deleted", nil
	case !sameTime(t.ExpireTime, m.Expire):
		return audit.EndKept, "refreshed since it was marked (its expiry changed): not deleted", nil
	}
	still := slices.ContainsFunc(audit.ClassifyIn(*t, m.Ref(), r.Policy.Rules, r.Policy.Profiles, now), func(f audit.Finding) bool { return f.Rule == m.Rule })
	if !still {
		return audit.EndResolved, "no longer " + string(m.Rule) + " when read again: not deleted", nil
	}
	if err := r.Deleter.Delete(ctx, ref); err != nil {
		return "", "", fmt.Errorf("the delete failed (it needs %s): %w", perm[1], err)
	}
	return audit.EndDeleted, "deleted on its date by the audit", nil
}

// newer reports whether t is a last use after the one a mark kept.
func newer(t time.Time, kept *time.Time) bool {
	if t.IsZero() {
		return false
	}
	return kept == nil || t.After(*kept)
}

// sameTime reports whether t is the time a mark kept (zero and nil alike).
func sameTime(t time.Time, kept *time.Time) bool {
	if kept == nil {
		return t.IsZero()
	}
	return t.Equal(*kept)
}
