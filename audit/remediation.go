package audit

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Remediation, measured: from each finding's firstSeen (kept in the
// baseline) and the findings each full run saw resolved (kept in
// history.json), how many findings were opened, resolved and reopened in
// the last RemediationWindow, how long they took to resolve (the median
// and the 90th percentile, by severity and by owner), and how old the
// oldest open one is.
//
// A finding is resolved when its token no longer has it (fixed) or is
// gone (tokenDeleted); one suppressed, snoozed or taken out of scope is
// dismissed: counted, never timed. A finding first seen before the
// history began (a baseline of an earlier release kept no date) is timed
// from the earliest run known to have seen it, and the figures then say
// "at least".

// RemediationWindow is how far back the figures go.
const RemediationWindow = 30 * Day

// MaxFixes bounds the fixes one history entry keeps (the figures then
// leave the others out, and say so).
const MaxFixes = 1000

// Lifecycle is what one full run saw happen to findings: a history
// entry's part for the remediation figures.
type Lifecycle struct {
	Opened    int `json:"opened"`
	Resolved  int `json:"resolved"`
	Reopened  int `json:"reopened"`
	Dismissed int `json:"dismissed"`
	// Fixes are the resolved findings' times to resolve, the first
	// MaxFixes; FixesOmitted counts the others.
	Fixes        []Fix `json:"fixes"`
	FixesOmitted int   `json:"fixesOmitted,omitempty"`
}

// Fix is one resolved finding: its severity, its token's owner, and how
// long it was open (at least, with AtLeast).
type Fix struct {
	Severity Severity `json:"severity"`
	Owner    string   `json:"owner,omitempty"`
	Seconds  int64    `json:"seconds"`
	AtLeast  bool     `json:"atLeast,omitempty"`
}

// LifecycleOf is what s's changes (with the previous audit) say happened
// to findings; nil without a comparison (a first run opens nothing: it
// learns what is there).
func LifecycleOf(s *Snapshot) *Lifecycle {
	c := s.Changes
	if c == nil || c.Previous == nil {
		return nil
	}
	l := &Lifecycle{Fixes: []Fix{}}
	for _, ch := range c.New {
		if ch.Reopened > 0 {
			l.Reopened++
		} else {
			l.Opened++
		}
	}
	for _, list := range [][]Change{c.Resolved, c.Removed} {
		for _, ch := range list {
			switch {
			case ch.Rule == "":
			case ch.How == HowFixed || ch.How == HowTokenDeleted:
				l.Resolved++
				l.fix(ch, s.AuditedAt)
			default:
				l.Dismissed++
			}
		}
	}
	return l
}

func (l *Lifecycle) fix(ch Change, at time.Time) {
	if ch.FirstSeen == nil || ch.Severity == nil {
		return
	}
	if len(l.Fixes) == MaxFixes {
		l.FixesOmitted++
		return
	}
	l.Fixes = append(l.Fixes, Fix{Severity: *ch.Severity, Owner: ch.CreatedBy, Seconds: int64(max(at.Sub(*ch.FirstSeen), 0) / time.Second), AtLeast: ch.FirstSeenAtLeast})
}

// Remediation is the figures of the last RemediationWindow (summary.remediation).
type Remediation struct {
	Window string `json:"window"`
	// Since is the earliest run counted: the window's start, or later when
	// the history holds no earlier run with lifecycle figures.
	Since time.Time `json:"since"`
	// Runs are the runs counted, oldest first.
	Runs      []RemediationRun `json:"runs"`
	Opened    int              `json:"opened"`
	Resolved  int              `json:"resolved"`
	Reopened  int              `json:"reopened"`
	Dismissed int              `json:"dismissed"`
	// TimeToResolve is the resolved findings' times, all of them, then by
	// severity (the most severe first) and by owner (by name).
	TimeToResolve *Percentiles  `json:"timeToResolve,omitempty"`
	BySeverity    []Percentiles `json:"bySeverity"`
	ByOwner       []Percentiles `json:"byOwner"`
	// FixesOmitted counts resolved findings left out of the times (more
	// than MaxFixes in one run).
	FixesOmitted int `json:"fixesOmitted,omitempty"`
	// OldestOpen is the open finding first seen the longest ago.
	OldestOpen *OldestOpen `json:"oldestOpen,omitempty"`
	// AtLeast says that some times are at least what they say: the
	// finding was first seen before the history began.
	AtLeast bool `json:"atLeast,omitempty"`
}

// RemediationRun is one run's figures.
type RemediationRun struct {
	AuditedAt time.Time `json:"auditedAt"`
	Opened    int       `json:"opened"`
	Resolved  int       `json:"resolved"`
	Reopened  int       `json:"reopened"`
	Dismissed int       `json:"dismissed"`
}

// Percentiles are the times to resolve of a set of findings: the median
// and the 90th percentile by the nearest-rank method (the value at rank
// ⌈p·n⌉ of the n times, sorted), in hours.
type Percentiles struct {
	// Severity or Owner names the set ("" for all of them).
	Severity string  `json:"severity,omitempty"`
	Owner    string  `json:"owner,omitempty"`
	Resolved int     `json:"resolved"`
	P50Hours float64 `json:"p50Hours"`
	P90Hours float64 `json:"p90Hours"`
	AtLeast  bool    `json:"atLeast,omitempty"`
}

// OldestOpen is the oldest open finding.
type OldestOpen struct {
	Fingerprint string    `json:"fingerprint"`
	TokenID     string    `json:"tokenId"`
	Name        string    `json:"name"`
	Rule        Rule      `json:"rule"`
	Severity    Severity  `json:"severity"`
	FirstSeen   time.Time `json:"firstSeen"`
	AgeHours    float64   `json:"ageHours"`
	AtLeast     bool      `json:"atLeast,omitempty"`
}

// maxOwners bounds Remediation.ByOwner (the owners with the most
// resolved findings).
const maxOwners = 50

// Remediate computes the figures of s (a full run, whose own lifecycle
// counts: it is added to h as history.Next adds it) and the history
// before it.
func Remediate(s *Snapshot, h *History) *Remediation {
	from := s.AuditedAt.Add(-RemediationWindow)
	r := &Remediation{Window: FormatDuration(RemediationWindow), Runs: []RemediationRun{}, BySeverity: []Percentiles{}, ByOwner: []Percentiles{}}
	var fixes []Fix
	add := func(at time.Time, l *Lifecycle) {
		if l == nil || !at.After(from) {
			return
		}
		if len(r.Runs) == 0 {
			r.Since = at.UTC()
		}
		r.Runs = append(r.Runs, RemediationRun{AuditedAt: at.UTC(), Opened: l.Opened, Resolved: l.Resolved, Reopened: l.Reopened, Dismissed: l.Dismissed})
		r.Opened, r.Resolved, r.Reopened, r.Dismissed = r.Opened+l.Opened, r.Resolved+l.Resolved, r.Reopened+l.Reopened, r.Dismissed+l.Dismissed
		r.FixesOmitted += l.FixesOmitted
		fixes = append(fixes, l.Fixes...)
	}
	if h != nil {
		for _, e := range h.Runs {
			if e.RunID != s.RunID && e.AuditedAt.Before(s.AuditedAt) {
				add(e.AuditedAt, e.Lifecycle)
			}
		}
	}
	add(s.AuditedAt, LifecycleOf(s))
	if r.Since.IsZero() {
		r.Since = s.AuditedAt.UTC()
	}
	if len(fixes) > 0 {
		all := percentiles(fixes)
		r.TimeToResolve = &all
		r.AtLeast = all.AtLeast
	}
	for sev := SeverityCritical; sev >= SeverityLow; sev-- {
		if set := slices.DeleteFunc(slices.Clone(fixes), func(f Fix) bool { return f.Severity != sev }); len(set) > 0 {
			p := percentiles(set)
			p.Severity = sev.String()
			r.BySeverity = append(r.BySeverity, p)
		}
	}
	r.ByOwner = byOwner(fixes)
	r.OldestOpen = oldestOpen(s)
	if r.OldestOpen != nil && r.OldestOpen.AtLeast {
		r.AtLeast = true
	}
	return r
}

func byOwner(fixes []Fix) []Percentiles {
	by := map[string][]Fix{}
	for _, f := range fixes {
		if f.Owner != "" {
			by[f.Owner] = append(by[f.Owner], f)
		}
	}
	out := []Percentiles{}
	for owner, set := range by {
		p := percentiles(set)
		p.Owner = owner
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Percentiles) int {
		return cmp.Or(cmp.Compare(b.Resolved, a.Resolved), cmp.Compare(a.Owner, b.Owner))
	})
	if len(out) > maxOwners {
		out = out[:maxOwners]
	}
	slices.SortFunc(out, func(a, b Percentiles) int { return cmp.Compare(a.Owner, b.Owner) })
	return out
}

// percentiles are the nearest-rank median and 90th percentile of fixes.
func percentiles(fixes []Fix) Percentiles {
	secs := make([]int64, len(fixes))
	p := Percentiles{Resolved: len(fixes)}
	for i, f := range fixes {
		secs[i] = f.Seconds
		p.AtLeast = p.AtLeast || f.AtLeast
	}
	slices.Sort(secs)
	p.P50Hours, p.P90Hours = hours(NearestRank(secs, 50)), hours(NearestRank(secs, 90))
	return p
}

// NearestRank is the pth percentile of sorted (not empty): the value at
// rank ⌈p·n/100⌉.
func NearestRank(sorted []int64, p int) int64 {
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

// hours is seconds in hours, to the hundredth.
func hours(secs int64) float64 { return float64((secs*100+1800)/3600) / 100 }

func oldestOpen(s *Snapshot) *OldestOpen {
	var out *OldestOpen
	for gi := range s.Gateways {
		g := &s.Gateways[gi]
		for _, t := range g.Tokens {
			for _, f := range t.Findings {
				if f.FirstSeen == nil || out != nil && !f.FirstSeen.Before(out.FirstSeen) {
					continue
				}
				out = &OldestOpen{Fingerprint: cmp.Or(f.Fingerprint, Fingerprint(g.Ref(), t.TokenID, f.Rule)), TokenID: t.TokenID, Name: t.Name, Rule: f.Rule,
					Severity: f.Severity, FirstSeen: f.FirstSeen.UTC(), AtLeast: f.FirstSeenAtLeast}
			}
		}
	}
	if out != nil {
		out.AgeHours = hours(int64(max(s.AuditedAt.Sub(out.FirstSeen), 0) / time.Second))
	}
	return out
}

// Line is the figures in one line, for Slack and the text summary: "30 d:
// 14 opened · 11 fixed · median 2d 4h to fix · oldest open 41d" ("at
// least" where a time is).
func (r *Remediation) Line() string {
	if r == nil {
		return ""
	}
	line := fmt.Sprintf("%d d: %d opened · %d fixed", RemediationWindow/Day, r.Opened, r.Resolved)
	if r.Reopened > 0 {
		line += fmt.Sprintf(" · %d reopened", r.Reopened)
	}
	if r.Dismissed > 0 {
		line += fmt.Sprintf(" · %d dismissed", r.Dismissed)
	}
	if p := r.TimeToResolve; p != nil {
		line += " · median " + atLeast(p.AtLeast) + Span(time.Duration(p.P50Hours*float64(time.Hour))) + " to fix"
	}
	if o := r.OldestOpen; o != nil {
		line += " · oldest open " + atLeast(o.AtLeast) + Span(time.Duration(o.AgeHours*float64(time.Hour)))
	}
	return line
}

func atLeast(b bool) string {
	if b {
		return "at least "
	}
	return ""
}
