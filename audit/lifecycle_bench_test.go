package audit

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkLifecycle times what a full run adds for findings' lifecycles
// on a large fleet: 20,000 tokens, each with a stale finding, compared
// with the baseline of the day before (every finding dated from it), the
// events of 2,000 of them resolving, the remediation over 30 runs of
// history with 1,000 fixes each, and the retire plan marking 20,000
// unused tokens.
func BenchmarkLifecycle(b *testing.B) {
	t1 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	t2 := t1.Add(Day)
	var day1, day2 []Token
	for i := range 20000 {
		stale := Token{ID: fmt.Sprintf("tk-%05d", i), CreateTime: t1.Add(-100 * Day), LastUsedTime: t1.Add(-60 * Day), ExpireTime: t1.Add(200 * Day)}
		day1 = append(day1, stale)
		if i < 2000 {
			stale.LastUsedTime = t2.Add(-time.Hour) // used: resolved on day 2
		}
		day2 = append(day2, stale)
	}
	_, base := next(t1, nil, ok(gwA, day1...))
	hist := &History{}
	for r := range 30 {
		l := &Lifecycle{Opened: 1000, Resolved: 1000}
		for i := range 1000 {
			l.Fixes = append(l.Fixes, Fix{Severity: SeverityMedium, Owner: fmt.Sprintf("owner-%d", i%80), Seconds: int64(i+r) * 3600})
		}
		hist.Runs = append(hist.Runs, HistoryEntry{RunID: fmt.Sprint(r), AuditedAt: t2.Add(-time.Duration(30-r) * Day / 2), Lifecycle: l})
	}
	unused := []Token{}
	for i := range 20000 {
		unused = append(unused, Token{ID: fmt.Sprintf("tk-u%05d", i), CreateTime: t1.Add(-100 * Day), ExpireTime: t1.Add(200 * Day)})
	}
	retireSnap := BuildSnapshot(Collection{Gateways: []GatewayResult{ok(gwB, unused...)}}, Evaluation{Now: t2, Policy: DefaultPolicy()})
	policy := RetirePolicy{Rules: []Rule{RuleUnused}, After: 14 * Day, Notices: []time.Duration{7 * Day, Day}, MaxPerRun: 10}
	b.Run("compare+events", func(b *testing.B) {
		for b.Loop() {
			s, _ := next(t2, base, ok(gwA, day2...))
			if n := len(Events(s)); n != 2000 {
				b.Fatalf("%d events", n)
			}
		}
	})
	b.Run("remediate", func(b *testing.B) {
		s := &Snapshot{RunID: "now", AuditedAt: t2}
		for b.Loop() {
			if r := Remediate(s, hist); r.Resolved != 30000 {
				b.Fatalf("%d resolved", r.Resolved)
			}
		}
	})
	b.Run("plan-retire", func(b *testing.B) {
		for b.Loop() {
			if p := PlanRetire(retireSnap, nil, policy); len(p.Marks) != 20000 {
				b.Fatalf("%d marks", len(p.Marks))
			}
		}
	})
}
