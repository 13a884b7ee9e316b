package audit_test

import (
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/internal/audittest"
)

var demoStart = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// BenchmarkClassifyEncode classifies 100,000 tokens (2,000 gateways × 50),
// compares them with a baseline and streams the snapshot out: ns and
// allocations per token, and the peak heap.
func BenchmarkClassifyEncode(b *testing.B) {
	const gateways, per = 2000, 50
	results := make([]audit.GatewayResult, gateways)
	for g := range results {
		results[g].Ref = audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: fmt.Sprintf("w-%03d", g/10), GatewayID: fmt.Sprintf("lc-%05d", g)}
		for k := range per {
			results[g].Tokens = append(results[g].Tokens, audit.Token{ID: fmt.Sprintf("tk-%05d-%03d", g, k), Name: fmt.Sprintf("job-%d", k), CreatedBy: "user",
				CreateTime: demoStart.Add(-time.Duration(30+k) * 24 * time.Hour), LastUsedTime: demoStart.Add(-time.Duration(k%60) * 24 * time.Hour),
				ExpireTime: demoStart.Add(time.Duration(k%30) * 24 * time.Hour)})
		}
	}
	ev := audit.Evaluation{Now: demoStart, Policy: audit.DefaultPolicy()}
	base := audit.BaselineOf(audittest.BuildSnapshot(audittest.Collection{Gateways: results}, audit.Evaluation{Now: demoStart.Add(-24 * time.Hour), Policy: audit.DefaultPolicy()}))
	runtime.GC()
	var peak atomic.Uint64
	stop := sampleHeap(&peak)
	b.ReportAllocs()
	for b.Loop() {
		bl := audit.NewBuilder(ev)
		for _, r := range results {
			bl.Add(r)
		}
		s := bl.Finish(nil)
		audit.Compare(s, base, nil, 0)
		if err := s.Write(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	stop()
	tokens := float64(gateways * per)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/tokens, "ns/token")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
}

// sampleHeap records the largest live heap until stop is called.
func sampleHeap(peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
			}
		}
	}()
	return func() { close(done) }
}
