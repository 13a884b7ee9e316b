package actions_test

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livy-token-audit/notify/actions"
)

// slowStore is a store whose every call takes latency (an OSS round trip
// from the function), and counts its calls.
type slowStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	latency time.Duration
	calls   atomic.Int64
}

func (s *slowStore) Get(_ context.Context, key string) ([]byte, error) {
	s.calls.Add(1)
	time.Sleep(s.latency)
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[key]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return b, nil
}

func (s *slowStore) Create(_ context.Context, key string, data []byte) error {
	s.calls.Add(1)
	time.Sleep(s.latency)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[key]; ok {
		return fs.ErrExist
	}
	s.objects[key] = data
	return nil
}

// BenchmarkClick is one snooze click end to end (verification, the claim,
// the record's head found and the next state created, the answer through
// response_url) on a record of n earlier actions, with 20 ms per store
// call: what a click costs in Function Compute against OSS, to compare
// with Slack's 3 seconds.
func BenchmarkClick(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprintf("actions=%d", n), func(b *testing.B) {
			bench := newBench(b, false)
			st := &slowStore{objects: map[string][]byte{}}
			for i := 1; i <= n; i++ {
				st.objects[fmt.Sprintf("actions/state.%d.json", i)] = []byte(`{"schemaVersion":1,"snoozes":[],"acks":[],"recent":[]}`)
			}
			st.latency = 20 * time.Millisecond
			bench.h.Store = st
			calls := int64(0)
			b.ResetTimer()
			for range b.N {
				before := st.calls.Load()
				status, _ := bench.click(alice, "tk-exp", actions.Snooze7d)
				if status != 200 {
					b.Fatalf("status %d", status)
				}
				calls += st.calls.Load() - before
			}
			b.ReportMetric(float64(calls)/float64(b.N), "store-calls/click")
		})
	}
}
