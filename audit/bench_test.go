package audit

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkBuildSnapshot classifies 10,000 tokens over 100 gateways and
// compares them with a previous snapshot.
func BenchmarkBuildSnapshot(b *testing.B) {
	var col Collection
	for g := range 100 {
		res := GatewayResult{Ref: GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w", GatewayID: fmt.Sprintf("lc-%03d", g)}}
		for i := range 100 {
			res.Tokens = append(res.Tokens, Token{ID: fmt.Sprintf("tk-%03d-%03d", g, i), Name: fmt.Sprintf("t%d", i),
				CreateTime: now.Add(-Day * 100), LastUsedTime: now.Add(-time.Duration(i%60) * Day), ExpireTime: now.Add(time.Duration(i%30) * Day)})
		}
		col.Gateways = append(col.Gateways, res)
	}
	ev := Evaluation{Now: now, Policy: DefaultPolicy(), Suppressions: []Suppression{{Name: "t1*", Reason: "r"}}}
	prev := BaselineOf(BuildSnapshot(col, Evaluation{Now: now.Add(-Day), Policy: DefaultPolicy()}))
	b.ResetTimer()
	for b.Loop() {
		s := BuildSnapshot(col, ev)
		Compare(s, prev, nil, 0)
		if s.Summary.Tokens != 10000 {
			b.Fatal(s.Summary.Tokens)
		}
	}
}

// BenchmarkSuppressions matches 10,000 suppressions against 3,000 tokens
// (30 gateways of 100), each token with a finding: name globs with a
// literal start (svc-00042-*) or a literal end (*-00042-nightly), both
// indexed, and the worst case, a star at each end (*-00042-*), checked
// against every token whose name holds its literal part.
func BenchmarkSuppressions(b *testing.B) {
	for _, tc := range []struct {
		name    string
		pattern string
	}{{"prefix-globs", "svc-%05d-*"}, {"leading-star-globs", "*-%05d-nightly"}, {"star-at-both-ends", "*-%05d-*"}} {
		b.Run(tc.name, func(b *testing.B) {
			var sups []Suppression
			for i := range 10000 {
				sups = append(sups, Suppression{Name: fmt.Sprintf(tc.pattern, i*3), Reason: "r"})
			}
			var col Collection
			for g := range 30 {
				res := GatewayResult{Ref: GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w", GatewayID: fmt.Sprintf("lc-%03d", g)}}
				for i := range 100 {
					n := g*100 + i
					res.Tokens = append(res.Tokens, Token{ID: fmt.Sprintf("tk-%05d", n), Name: fmt.Sprintf("svc-%05d-nightly", n), CreateTime: now.Add(-Day * 100)})
				}
				col.Gateways = append(col.Gateways, res)
			}
			ev := Evaluation{Now: now, Policy: DefaultPolicy(), Suppressions: sups}
			for b.Loop() {
				s := BuildSnapshot(col, ev)
				if s.Summary.Tokens != 3000 || s.Summary.Suppressed != 1000 {
					b.Fatalf("tokens %d, suppressed %d; want 3000, 1000", s.Summary.Tokens, s.Summary.Suppressed)
				}
			}
		})
	}
}
