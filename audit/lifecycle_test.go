package audit

import (
	"testing"
	"time"
)

// next builds the snapshot of a run at t after the baseline prev (nil:
// the first), dated and compared as the run does, and the baseline it
// leaves.
func next(t time.Time, prev *Baseline, gws ...GatewayResult) (*Snapshot, *Baseline) {
	s := BuildSnapshot(Collection{Gateways: gws}, Evaluation{Now: t, Policy: DefaultPolicy(), Earlier: func() *Baseline { return prev }})
	Compare(s, prev, nil, 0)
	return s, NextBaseline(prev, s)
}

func findingOf(t *testing.T, s *Snapshot, gw GatewayRef, token string, r Rule) *Finding {
	t.Helper()
	for i := range s.Gateways {
		g := &s.Gateways[i]
		if g.Ref().Key() != gw.Key() {
			continue
		}
		for j := range g.Tokens {
			for k := range g.Tokens[j].Findings {
				if f := &g.Tokens[j].Findings[k]; g.Tokens[j].TokenID == token && f.Rule == r {
					return f
				}
			}
		}
	}
	t.Fatalf("no %s finding on %s in the snapshot", r, token)
	return nil
}

// A finding keeps its fingerprint and first sighting while it lives; the
// same token and rule on a Kyuubi gateway with the same IDs is another
// finding.
func TestFingerprintsAreStableAndDistinct(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	stale := Token{ID: "tk", CreateTime: t1.Add(-100 * Day), LastUsedTime: t1.Add(-60 * Day), ExpireTime: t1.Add(200 * Day)}
	kyuubi := GatewayRef{Region: gwA.Region, WorkspaceID: gwA.WorkspaceID, GatewayID: "kb-a", Kind: KindKyuubi}
	d1, b1 := next(t1, nil, ok(gwA, stale), ok(kyuubi, stale))
	d2, _ := next(t1.Add(Day), b1, ok(gwA, stale), ok(kyuubi, stale))
	f1, f2 := findingOf(t, d1, gwA, "tk", RuleStale), findingOf(t, d2, gwA, "tk", RuleStale)
	if f1.Fingerprint == "" || f1.Fingerprint != f2.Fingerprint {
		t.Errorf("fingerprint %q on day 1, %q on day 2: want one, stable", f1.Fingerprint, f2.Fingerprint)
	}
	if f2.FirstSeen == nil || !f2.FirstSeen.Equal(t1) || f2.Reopened != 0 {
		t.Errorf("day 2 firstSeen %v reopened %d, want day 1's, 0", f2.FirstSeen, f2.Reopened)
	}
	if k := findingOf(t, d2, kyuubi, "tk", RuleStale); k.Fingerprint == f2.Fingerprint {
		t.Errorf("a Kyuubi token with the Livy token's IDs has its fingerprint %s", k.Fingerprint)
	}
	sameIDs := gwA
	sameIDs.Kind = KindKyuubi
	if want := Fingerprint(gwA, "tk", RuleStale); f1.Fingerprint != want || want == Fingerprint(gwA, "tk", RuleUnused) || want == Fingerprint(sameIDs, "tk", RuleStale) ||
		want == Fingerprint(GatewayRef{AccountID: "2", Region: gwA.Region, WorkspaceID: gwA.WorkspaceID, GatewayID: gwA.GatewayID}, "tk", RuleStale) {
		t.Errorf("fingerprint %s is not the hash of the account, region, workspace, kind, gateway, token and rule", f1.Fingerprint)
	}
	if n := len(Events(d2)); n != 0 {
		t.Errorf("%d events on a day nothing changed", n)
	}
}

// A finding that comes back is reopened (counted, dated anew, told as
// finding.reopened with an event ID of its own), not new.
func TestFindingReopens(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	tok := func(lastUsed time.Time) Token {
		return Token{ID: "tk", Name: "etl", CreatedBy: "alice", CreateTime: t1.Add(-100 * Day), LastUsedTime: lastUsed, ExpireTime: t1.Add(200 * Day)}
	}
	_, b1 := next(t1, nil, ok(gwA, tok(t1.Add(-60*Day))))
	d2, b2 := next(t1.Add(Day), b1, ok(gwA, tok(t1.Add(Day-time.Hour)))) // used: resolved
	ev2 := Events(d2)
	if len(ev2) != 1 || ev2[0].Type != EventResolved || ev2[0].How != HowFixed || ev2[0].FirstSeen == nil || !ev2[0].FirstSeen.Equal(t1) {
		t.Fatalf("day 2 events %+v, want one finding.resolved, fixed, first seen day 1", ev2)
	}
	t4 := t1.Add(40 * Day)
	d4, _ := next(t4, b2, ok(gwA, tok(t1.Add(Day-time.Hour)))) // unused for 39 days: stale again
	f := findingOf(t, d4, gwA, "tk", RuleStale)
	if f.Reopened != 1 || f.FirstSeen == nil || !f.FirstSeen.Equal(t4) {
		t.Errorf("reopened %d firstSeen %v, want 1 and day 4", f.Reopened, f.FirstSeen)
	}
	ev4 := Events(d4)
	if len(ev4) != 1 || ev4[0].Type != EventReopened || ev4[0].Reopened != 1 || ev4[0].Fingerprint != f.Fingerprint {
		t.Fatalf("day 4 events %+v, want one finding.reopened", ev4)
	}
	opened := EventID(EventOpened, f.Fingerprint, 0, "")
	if ev4[0].ID == opened || ev4[0].ID != EventID(EventReopened, f.Fingerprint, 1, "") {
		t.Errorf("reopened event ID %s; the first opening's is %s", ev4[0].ID, opened)
	}
	if l := LifecycleOf(d4); l == nil || l.Reopened != 1 || l.Opened != 0 {
		t.Errorf("day 4 lifecycle %+v, want 1 reopened, 0 opened", l)
	}
}

// A baseline from an older release keeps no firstSeen: the next run does
// not tell the known findings as opened, starts their clocks at the
// baseline's audit (the earliest run known to have seen them) and says
// "at least".
func TestBaselineWithoutFirstSeen(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	stale := Token{ID: "tk", CreateTime: t1.Add(-100 * Day), LastUsedTime: t1.Add(-60 * Day), ExpireTime: t1.Add(200 * Day)}
	_, old := next(t1, nil, ok(gwA, stale))
	for i := range old.Gateways {
		for j := range old.Gateways[i].Tokens {
			for k := range old.Gateways[i].Tokens[j].Findings {
				old.Gateways[i].Tokens[j].Findings[k].Since = nil
			}
		}
	}
	t2 := t1.Add(Day)
	d2, _ := next(t2, old, ok(gwA, stale))
	if ev := Events(d2); len(ev) != 0 {
		t.Errorf("the first run after the upgrade told %d events: %+v", len(ev), ev)
	}
	f := findingOf(t, d2, gwA, "tk", RuleStale)
	if f.FirstSeen == nil || !f.FirstSeen.Equal(t1) || !f.FirstSeenAtLeast {
		t.Errorf("firstSeen %v atLeast %v, want the baseline's run (the earliest that saw it), at least", f.FirstSeen, f.FirstSeenAtLeast)
	}
	r := Remediate(d2, nil)
	if r.OldestOpen == nil || !r.OldestOpen.AtLeast || !r.AtLeast || r.Opened != 0 {
		t.Errorf("remediation %+v, want no opened and the oldest open at least", r)
	}
}

// NearestRank is the nearest-rank percentile: the ceil(p/100·n)-th value.
func TestNearestRank(t *testing.T) {
	t.Parallel()
	vals := []int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	for _, tc := range []struct {
		p    int
		want int64
	}{{50, 50}, {90, 90}, {91, 100}, {1, 10}, {100, 100}} {
		if got := NearestRank(vals, tc.p); got != tc.want {
			t.Errorf("p%d of 10..100: %d, want %d", tc.p, got, tc.want)
		}
	}
	if got := NearestRank([]int64{7}, 90); got != 7 {
		t.Errorf("p90 of one value: %d", got)
	}
}

// The remediation figures, from hand-computed fixtures: runs in the
// window count, one older does not; times to fix by severity and owner.
func TestRemediateFromFixtures(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 27, 9, 0, 0, 0, time.UTC)
	h := func(n int64) int64 { return n * 3600 }
	hist := &History{Runs: []HistoryEntry{
		{RunID: "old", AuditedAt: now.Add(-31 * Day), Lifecycle: &Lifecycle{Opened: 9, Resolved: 9, Fixes: []Fix{{Severity: SeverityHigh, Seconds: h(1000)}}}},
		{RunID: "a", AuditedAt: now.Add(-20 * Day), Lifecycle: &Lifecycle{Opened: 4, Resolved: 2, Fixes: []Fix{
			{Severity: SeverityHigh, Owner: "alice", Seconds: h(10)}, {Severity: SeverityHigh, Owner: "bob", Seconds: h(30)}}}},
		{RunID: "b", AuditedAt: now.Add(-10 * Day), Lifecycle: &Lifecycle{Opened: 1, Resolved: 2, Reopened: 1, Dismissed: 1, Fixes: []Fix{
			{Severity: SeverityMedium, Owner: "alice", Seconds: h(50)}, {Severity: SeverityHigh, Owner: "alice", Seconds: h(20), AtLeast: true}}}},
	}}
	s := &Snapshot{RunID: "now", AuditedAt: now, Changes: &Changes{Previous: &PreviousRef{AuditedAt: now.Add(-Day)}}}
	r := Remediate(s, hist)
	if r.Opened != 5 || r.Resolved != 4 || r.Reopened != 1 || r.Dismissed != 1 || len(r.Runs) != 3 {
		t.Fatalf("counts %d opened %d resolved %d reopened %d dismissed over %d runs; want 5 4 1 1 over 3 (the run 31 days ago is out)",
			r.Opened, r.Resolved, r.Reopened, r.Dismissed, len(r.Runs))
	}
	// All four fixes: 10, 20, 30, 50 h: p50 is the 2nd (20 h), p90 the 4th (50 h).
	if p := r.TimeToResolve; p == nil || p.Resolved != 4 || p.P50Hours != 20 || p.P90Hours != 50 || !p.AtLeast || !r.AtLeast {
		t.Errorf("time to resolve %+v, want 4 fixed, p50 20 h, p90 50 h, at least", p)
	}
	// High: 10, 20, 30 h: p50 the 2nd (20), p90 the 3rd (30). Medium: 50.
	if len(r.BySeverity) != 2 || r.BySeverity[0].Severity != "high" || r.BySeverity[0].P50Hours != 20 || r.BySeverity[0].P90Hours != 30 ||
		r.BySeverity[1].Severity != "medium" || r.BySeverity[1].P50Hours != 50 {
		t.Errorf("by severity %+v", r.BySeverity)
	}
	// alice: 10, 20, 50: p50 20; bob: 30.
	if len(r.ByOwner) != 2 || r.ByOwner[0].Owner != "alice" || r.ByOwner[0].Resolved != 3 || r.ByOwner[0].P50Hours != 20 || r.ByOwner[1].P50Hours != 30 {
		t.Errorf("by owner %+v", r.ByOwner)
	}
	if got, want := r.Line(), "30 d: 5 opened · 4 fixed · 1 reopened · 1 dismissed · median at least 20h to fix"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
}
