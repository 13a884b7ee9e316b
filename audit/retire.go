package audit

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Retiring unused tokens on a schedule people can see (actions.retire),
// after Cloud Custodian's mark-for-op: a token flagged by one of the
// policy's rules is marked for deletion on its finding's firstSeen plus
// After (never sooner than the longest notice from the day it is marked);
// its owner and its report are told when it is marked and at each notice
// stage; a snooze, an acknowledgement, the finding resolving or a config
// suppression cancels the mark; on the day, a full run deletes the token
// after reading it again (one used or refreshed since it was marked is
// kept). The marks live in the record of actions; this file plans them,
// notify/actions keeps them and deletes.

// RetirePolicy is actions.retire.
type RetirePolicy struct {
	Rules []Rule
	After time.Duration
	// Notices are how long before the date the owner is told again, the
	// longest first.
	Notices   []time.Duration
	MaxPerRun int
}

// The stage of a mark's first notice (the others are named by their
// duration: "7d").
const StageMarked = "marked"

// How a mark ends (RetireMark.Ended.How).
const (
	EndDeleted      = "deleted"
	EndSnoozed      = "snoozed"
	EndAcknowledged = "acknowledged"
	EndResolved     = "resolved"
	EndSuppressed   = "suppressed"
	EndKept         = "kept"
	EndGone         = "gone"
)

// RetireMark is a token marked for deletion, as the record of actions
// keeps it.
type RetireMark struct {
	Fingerprint string `json:"fingerprint"`
	AccountID   string `json:"accountId,omitempty"`
	Region      string `json:"region"`
	WorkspaceID string `json:"workspaceId"`
	GatewayID   string `json:"gatewayId"`
	Kind        string `json:"kind,omitempty"`
	TokenID     string `json:"tokenId"`
	Name        string `json:"name,omitempty"`
	CreatedBy   string `json:"createdBy,omitempty"`
	Rule        Rule   `json:"rule"`
	// MarkedAt is the audit that marked it; DeleteOn the first audit time
	// it may be deleted at.
	MarkedAt time.Time `json:"markedAt"`
	DeleteOn time.Time `json:"deleteOn"`
	// LastUsed and Expire are the token's when it was marked: one used or
	// refreshed since is not deleted.
	LastUsed *time.Time `json:"lastUsed,omitempty"`
	Expire   *time.Time `json:"expire,omitempty"`
	// Notices are the stages told, in order (StageMarked, then "7d", …).
	Notices []string `json:"notices"`
	// Ended says how the mark ended; nil while it stands.
	Ended *MarkEnd `json:"ended,omitempty"`
}

// MarkEnd is how a mark ended, when, and who ended it.
type MarkEnd struct {
	At     time.Time `json:"at"`
	How    string    `json:"how"`
	By     string    `json:"by,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Ref is the mark's gateway.
func (m *RetireMark) Ref() GatewayRef {
	return GatewayRef{AccountID: m.AccountID, Region: m.Region, WorkspaceID: m.WorkspaceID, GatewayID: m.GatewayID, Kind: m.Kind}
}

// Key names the mark's token across runs.
func (m *RetireMark) Key() string { return TokenKey(m.Ref(), m.TokenID) }

// End ends the mark.
func (m *RetireMark) End(at time.Time, how, by, detail string) {
	m.Ended = &MarkEnd{At: at.UTC(), How: how, By: by, Detail: detail}
}

// RetireReport is what a run did with the marks (the snapshot's retire).
type RetireReport struct {
	Rules     []Rule   `json:"rules"`
	After     string   `json:"after"`
	Notices   []string `json:"notices"`
	MaxPerRun int      `json:"maxPerRun"`
	// Acted is false for a run that only looks (a dry run, a narrowed
	// one): nothing was marked, told, cancelled or deleted, and the
	// entries are what it would do.
	Acted bool `json:"acted"`
	// Scheduled are the marks standing after the run, the soonest first.
	Scheduled []RetireEntry `json:"scheduled"`
	// Noticed are the marks made or reaching a notice stage in this run:
	// what their owners are told now.
	Noticed []RetireEntry `json:"noticed"`
	// Retired are the tokens this run deleted; Ended the marks it ended
	// otherwise (cancelled, kept, gone).
	Retired []RetireEntry `json:"retired"`
	Ended   []RetireEntry `json:"ended"`
	// Due are the marks whose date had come in this run (deleted or not:
	// Retired says which were).
	Due []RetireEntry `json:"due"`
	// Held says why no token was deleted although some were due (a
	// partial run, more than maxPerRun, a delete role missing).
	Held string `json:"held,omitempty"`
	// Errors say, per token, why a due token was not deleted (the mark
	// stands): a delete role missing or denied, with the permission.
	Errors []string `json:"errors,omitempty"`
}

// RetireEntry is one mark in a report.
type RetireEntry struct {
	RetireMark
	// Stage is the notice stage reached in this run (Noticed).
	Stage string `json:"stage,omitempty"`
	// Error says why a due token was not deleted (Due): its mark stands.
	Error string `json:"error,omitempty"`
}

// RetirePlan is what a run does with the marks: the next marks (standing
// and recently ended), what to report, and which standing marks are due.
type RetirePlan struct {
	Marks  []RetireMark
	Report *RetireReport
	// Due are the indexes in Marks of the standing marks whose date has
	// come and whose every notice was told by an earlier run.
	Due []int
}

// KeepEnded is how long an ended mark stays in the record.
const KeepEnded = 30 * Day

// PlanRetire plans what the run of s does with marks under p, at s's
// audit time: marks whose token this run audited are checked against it
// (ended when the finding is snoozed, suppressed or gone, the token
// acknowledged or gone); tokens newly flagged are marked; notice stages
// reached are told. A mark of a gateway this run did not audit (failed,
// out of a narrowed run's scope) stands as it was.
func PlanRetire(s *Snapshot, marks []RetireMark, p RetirePolicy) RetirePlan {
	now := s.AuditedAt.UTC()
	rep := &RetireReport{Rules: p.Rules, After: stageName(p.After), Notices: []string{}, MaxPerRun: p.MaxPerRun,
		Scheduled: []RetireEntry{}, Noticed: []RetireEntry{}, Retired: []RetireEntry{}, Ended: []RetireEntry{}, Due: []RetireEntry{}}
	for _, d := range p.Notices {
		rep.Notices = append(rep.Notices, stageName(d))
	}
	toks := auditedTokens(s)
	var next []RetireMark
	standing := map[string]bool{}
	for _, m := range marks {
		if m.Ended != nil {
			if now.Sub(m.Ended.At) < KeepEnded {
				next = append(next, m)
			}
			continue
		}
		at, audited := toks[m.Key()]
		if !audited {
			// The token is not there: gone, when its gateway was audited.
			_, audited = toks[TokenKey(m.Ref(), "")]
		}
		if audited {
			if how, by, detail := endOf(&m, at); how != "" {
				m.End(now, how, by, detail)
				rep.Ended = append(rep.Ended, RetireEntry{RetireMark: m})
				next = append(next, m)
				continue
			}
		}
		standing[m.Key()] = true
		next = append(next, m)
	}
	for _, k := range sortedKeys(toks) {
		at := toks[k]
		if standing[k] || at.token == nil {
			continue
		}
		if m, ok := newMark(at, p, now); ok {
			standing[k] = true
			next = append(next, m)
		}
	}
	plan := RetirePlan{Report: rep}
	for i := range next {
		m := &next[i]
		if m.Ended != nil {
			continue
		}
		due := !now.Before(m.DeleteOn) && slices.Contains(m.Notices, lastStage(p))
		if stages := reached(p, m, now); len(stages) > 0 {
			m.Notices = append(m.Notices, stages...)
			rep.Noticed = append(rep.Noticed, RetireEntry{RetireMark: *m, Stage: stages[len(stages)-1]})
		}
		if due {
			plan.Due = append(plan.Due, i)
		}
		rep.Scheduled = append(rep.Scheduled, RetireEntry{RetireMark: *m})
	}
	sortEntries(rep.Scheduled)
	sortEntries(rep.Noticed)
	plan.Marks = next
	return plan
}

// auditedToken is a token of a gateway this run audited (token nil: the
// gateway was audited and the token was not there).
type auditedToken struct {
	g     *GatewayReport
	token *TokenReport
}

// auditedTokens are the tokens of the gateways s audited, by token key.
// A mark whose gateway was audited and whose token is absent finds an
// entry with a nil token through gone.
func auditedTokens(s *Snapshot) map[string]auditedToken {
	out := map[string]auditedToken{}
	for gi := range s.Gateways {
		g := &s.Gateways[gi]
		if g.Error != nil {
			continue
		}
		out[TokenKey(g.Ref(), "")] = auditedToken{g: g} // the gateway, audited
		for ti := range g.Tokens {
			out[TokenKey(g.Ref(), g.Tokens[ti].TokenID)] = auditedToken{g: g, token: &g.Tokens[ti]}
		}
	}
	return out
}

func sortedKeys(m map[string]auditedToken) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// endOf says how a standing mark ends against its token as this run saw
// it ("" when it stands).
func endOf(m *RetireMark, at auditedToken) (how, by, detail string) {
	t := at.token
	if t == nil {
		return EndGone, "", "the token is gone (deleted by someone else)"
	}
	if a := t.Acknowledged; a != nil {
		return EndAcknowledged, a.By, "its owner said they own it"
	}
	for _, f := range t.Findings {
		if f.Rule == m.Rule {
			return "", "", ""
		}
	}
	for _, sf := range t.Suppressed {
		if sf.Rule != m.Rule {
			continue
		}
		if sf.SnoozedBy != "" {
			return EndSnoozed, sf.SnoozedBy, sf.Reason
		}
		return EndSuppressed, "", sf.Reason
	}
	return EndResolved, "", "the token is no longer " + string(m.Rule)
}

// newMark marks a flagged token (ok false when none of p's rules flags
// it, or it is acknowledged): on its finding's firstSeen plus After, and
// never sooner than the longest notice from now.
func newMark(at auditedToken, p RetirePolicy, now time.Time) (RetireMark, bool) {
	t := at.token
	if t.Acknowledged != nil {
		return RetireMark{}, false
	}
	for _, r := range p.Rules {
		for _, f := range t.Findings {
			if f.Rule != r {
				continue
			}
			first := now
			if f.FirstSeen != nil {
				first = f.FirstSeen.UTC()
			}
			on := first.Add(p.After)
			if least := now.Add(longestNotice(p)); on.Before(least) {
				on = least
			}
			ref := at.g.Ref()
			m := RetireMark{Fingerprint: cmp.Or(f.Fingerprint, Fingerprint(ref, t.TokenID, r)), AccountID: ref.AccountID, Region: ref.Region,
				WorkspaceID: ref.WorkspaceID, GatewayID: ref.GatewayID, Kind: ref.Kind, TokenID: t.TokenID, Name: t.Name, CreatedBy: t.CreatedBy,
				Rule: r, MarkedAt: now, DeleteOn: on, LastUsed: utcPtr(t.LastUsedTime), Expire: utcPtr(t.ExpireTime), Notices: []string{}}
			return m, true
		}
	}
	return RetireMark{}, false
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// longestNotice is the first notice's distance from the date (a day when
// there is none: a token is never deleted the day it is marked).
func longestNotice(p RetirePolicy) time.Duration {
	if len(p.Notices) == 0 {
		return Day
	}
	return slices.Max(p.Notices)
}

// lastStage is the stage told last before a mark's date: the shortest
// notice, or StageMarked with none.
func lastStage(p RetirePolicy) string {
	if len(p.Notices) == 0 {
		return StageMarked
	}
	return stageName(slices.Min(p.Notices))
}

// reached are the stages now has reached that the mark has not told, the
// nearest last: StageMarked on the day it is marked, then each notice
// from its distance before the date on.
func reached(p RetirePolicy, m *RetireMark, now time.Time) []string {
	var out []string
	if !slices.Contains(m.Notices, StageMarked) {
		out = append(out, StageMarked)
	}
	ds := slices.Clone(p.Notices)
	slices.SortFunc(ds, func(a, b time.Duration) int { return cmp.Compare(b, a) }) // longest first
	for _, d := range ds {
		if name := stageName(d); !now.Before(m.DeleteOn.Add(-d)) && !slices.Contains(m.Notices, name) {
			out = append(out, name)
		}
	}
	return out
}

func sortEntries(es []RetireEntry) {
	slices.SortFunc(es, func(a, b RetireEntry) int {
		return cmp.Or(a.DeleteOn.Compare(b.DeleteOn), cmp.Compare(a.Key(), b.Key()))
	})
}

// stageName names a notice (and the policy's durations): whole days as
// days ("1d", "7d"), the rest as FormatDuration does.
func stageName(d time.Duration) string {
	if d > 0 && d%Day == 0 {
		return fmt.Sprintf("%dd", d/Day)
	}
	return FormatDuration(d)
}
