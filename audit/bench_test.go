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
