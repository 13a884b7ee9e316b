package audit

import (
	"errors"
	"testing"
	"time"
)

// snap builds a snapshot at t from gateway results.
func snap(t time.Time, gws ...GatewayResult) *Snapshot {
	p := DefaultPolicy()
	return BuildSnapshot(Collection{Gateways: gws}, Evaluation{Now: t, Policy: p})
}

var (
	gwA = GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-a"}
	gwB = GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-b"}
)

func ok(ref GatewayRef, toks ...Token) GatewayResult { return GatewayResult{Ref: ref, Tokens: toks} }

// base is the baseline a previous snapshot leaves (nil for none).
func base(s *Snapshot) *Baseline {
	if s == nil {
		return nil
	}
	return BaselineOf(s)
}

// discovered builds a snapshot of a run that discovered region cn-hangzhou,
// with scope errors.
func discovered(t time.Time, errs []ScopeError, gws ...GatewayResult) *Snapshot {
	return BuildSnapshot(Collection{Gateways: gws, Errors: errs}, Evaluation{Now: t, Policy: DefaultPolicy(),
		Scope: ScopeReport{Regions: []string{"cn-hangzhou"}}})
}

// narrowedSnap builds a snapshot of a narrowed run (an ad-hoc audit of
// part of the scope).
func narrowedSnap(t time.Time, gws ...GatewayResult) *Snapshot {
	return BuildSnapshot(Collection{Gateways: gws}, Evaluation{Now: t, Policy: DefaultPolicy(), Scope: ScopeReport{Partial: true}})
}

func failed(ref GatewayRef) GatewayResult {
	return GatewayResult{Ref: ref, Err: &APIError{Code: "ServiceUnavailable"}}
}

func kinds(c *Changes) map[string][]string {
	out := map[string][]string{}
	for kind, list := range map[string][]Change{"new": c.New, "escalated": c.Escalated, "resolved": c.Resolved, "removed": c.Removed, "unknown": c.Unknown} {
		for _, ch := range list {
			out[kind] = append(out[kind], ch.TokenID+":"+string(ch.Rule))
		}
	}
	return out
}

func TestCompare(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	t2 := t1.Add(Day)
	created := t1.Add(-100 * Day)
	fresh := Token{ID: "fine", CreateTime: created, LastUsedTime: t1.Add(-time.Hour), ExpireTime: t2.Add(100 * Day)} // used before both audits
	stale := Token{ID: "tk", CreateTime: created, LastUsedTime: t1.Add(-60 * Day), ExpireTime: t2.Add(100 * Day)}
	expiring := Token{ID: "tk", CreateTime: created, LastUsedTime: t1.Add(-time.Hour), ExpireTime: t1.Add(12 * time.Hour)}
	tests := []struct {
		name      string
		prev, cur *Snapshot
		want      map[string][]string
	}{
		{"first run: everything is new", nil, snap(t2, ok(gwA, stale)), map[string][]string{"new": {"tk:stale"}}},
		{"new finding", snap(t1, ok(gwA, fresh)), snap(t2, ok(gwA, fresh, stale)), map[string][]string{"new": {"tk:stale"}}},
		{"expiring becomes expired: escalated", snap(t1, ok(gwA, expiring)), snap(t2, ok(gwA, expiring)), map[string][]string{"escalated": {"tk:expired"}}},
		{"stale then used: resolved", snap(t1, ok(gwA, stale)), snap(t2, ok(gwA, Token{ID: "tk", CreateTime: created, LastUsedTime: t2.Add(-time.Hour), ExpireTime: t2.Add(100 * Day)})), map[string][]string{"resolved": {"tk:stale"}}},
		{"token gone: removed", snap(t1, ok(gwA, stale, fresh)), snap(t2, ok(gwA, fresh)), map[string][]string{"removed": {"tk:stale"}}},
		{"gateway failed this time: unknown, not resolved", snap(t1, ok(gwA, stale)), snap(t2, failed(gwA)), map[string][]string{"unknown": {"tk:stale"}}},
		{"gateway failed last time: findings are new", snap(t1, failed(gwA)), snap(t2, ok(gwA, stale)), map[string][]string{"new": {"tk:stale"}}},
		{"gateway's workspace listing failed: unknown", snap(t1, ok(gwA, stale), ok(gwB)),
			discovered(t2, []ScopeError{{Region: "cn-hangzhou", WorkspaceID: "w-1", Code: "ServiceUnavailable"}}), map[string][]string{"unknown": {"tk:stale"}}},
		{"region listing failed: unknown", snap(t1, ok(gwA, stale)), discovered(t2, []ScopeError{{Region: "cn-hangzhou", Code: "Throttling"}}), map[string][]string{"unknown": {"tk:stale"}}},
		{"gateway gone from a listed workspace: removed", snap(t1, ok(gwA, stale), ok(gwB)), discovered(t2, nil, ok(gwB)), map[string][]string{"removed": {"tk:stale"}}},
		{"gateway taken out of the scope: resolved", snap(t1, ok(gwA, stale), ok(gwB)), snap(t2, ok(gwB)), map[string][]string{"resolved": {"tk:stale"}}},
		{"gateway out of a narrowed run's scope: nothing", snap(t1, ok(gwA, stale), ok(gwB)), narrowedSnap(t2, ok(gwB)), map[string][]string{}},
		{"unchanged", snap(t1, ok(gwA, stale)), snap(t2, ok(gwA, stale)), map[string][]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			Compare(tc.cur, base(tc.prev), nil, 0)
			got := kinds(tc.cur.Changes)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if len(got[k]) != len(v) || got[k][0] != v[0] {
					t.Errorf("%s: got %v, want %v", k, got[k], v)
				}
			}
			if n := tc.cur.Summary.Changes; n == nil || n.Total() != len(flatten(tc.want)) {
				t.Errorf("summary.changes: got %+v, want %d in all", n, len(flatten(tc.want)))
			}
			if (tc.prev == nil) != (tc.cur.Changes.Previous == nil) {
				t.Errorf("previous: got %+v", tc.cur.Changes.Previous)
			}
		})
	}
}

func flatten(m map[string][]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v...)
	}
	return out
}

func TestCompareEscalatedCarriesFrom(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	tok := Token{ID: "tk", Name: "n", CreateTime: t1.Add(-10 * Day), LastUsedTime: t1, ExpireTime: t1.Add(time.Hour)}
	cur := snap(t1.Add(Day), ok(gwA, tok))
	Compare(cur, base(snap(t1, ok(gwA, tok))), nil, 0)
	e := cur.Changes.Escalated
	if len(e) != 1 || e[0].From != RuleExpiring || e[0].Rule != RuleExpired || *e[0].FromSeverity != SeverityHigh || e[0].Name != "n" || e[0].GatewayID != "lc-a" {
		t.Errorf("got %+v, want expiring → expired with names", e)
	}
}

func TestCompareUnreadablePreviousAndOverdue(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	cur := snap(t1, ok(gwA))
	Compare(cur, nil, errors.New("read baseline.json: schemaVersion 2, want 1"), 24*time.Hour)
	if cur.Changes.PreviousError == "" || cur.Changes.Previous != nil || cur.Changes.Overdue != nil {
		t.Errorf("got %+v, want a first run that says why", cur.Changes)
	}
	cur = snap(t1, ok(gwA))
	Compare(cur, base(snap(t1.Add(-3*Day), ok(gwA))), nil, 24*time.Hour)
	if o := cur.Changes.Overdue; o == nil || o.Message != "previous audit 3d ago — expected every 24h" {
		t.Errorf("overdue: got %+v, want 'previous audit 3d ago — expected every 24h'", o)
	}
	cur = snap(t1, ok(gwA))
	Compare(cur, base(snap(t1.Add(-47*time.Hour), ok(gwA))), nil, 24*time.Hour)
	if cur.Changes.Overdue != nil {
		t.Error("47h after the previous audit with expectEvery 24h: overdue, want not")
	}
}
