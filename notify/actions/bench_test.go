package actions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livy-token-audit/notify/actionref"
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

func (s *slowStore) Put(_ context.Context, key string, content func(io.Writer) error) error {
	s.calls.Add(1)
	time.Sleep(s.latency)
	var b bytes.Buffer
	if err := content(&b); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[key] = b.Bytes()
	return nil
}

// BenchmarkClick is one snooze click end to end (verification, the claim,
// the record's head found from its pointer and the next state created, the
// pointer moved, the answer through response_url) on a chain of n earlier
// states, with 20 ms per store call: what a click costs in Function
// Compute against OSS, to compare with Slack's 3 seconds. The last case's
// state holds the most snoozes a record keeps (20,000).
func BenchmarkClick(b *testing.B) {
	for _, tc := range []struct {
		chain, snoozes int
	}{{10, 0}, {1000, 0}, {100000, 0}, {100000, 20000}} {
		b.Run(fmt.Sprintf("chain=%d/snoozes=%d", tc.chain, tc.snoozes), func(b *testing.B) {
			bench := newBench(b, false)
			st := &slowStore{objects: map[string][]byte{}}
			head := actions.State{SchemaVersion: 1, Snoozes: []actions.Snooze{}, Acks: []actions.Acknowledgement{}, Recent: []actions.Record{}}
			for i := range tc.snoozes {
				head.Snoozes = append(head.Snoozes, actions.Snooze{Ref: actionref.Ref{Region: "cn-hangzhou", Workspace: "w-1", Gateway: "lc-1",
					Token: fmt.Sprintf("tk-%06d", i), Rule: "stale", Run: "audit-x"}, By: admin, At: now, Until: now.Add(30 * 24 * time.Hour)})
			}
			js, _ := json.Marshal(head)
			for i := 1; i <= tc.chain; i++ {
				st.objects[fmt.Sprintf("actions/state.%d.json", i)] = js
			}
			st.objects[actions.HeadKey] = []byte(fmt.Sprintf(`{"schemaVersion":1,"n":%d}`, tc.chain))
			st.latency = 20 * time.Millisecond
			bench.h.Store = st
			calls := int64(0)
			b.ResetTimer()
			for range b.N {
				before := st.calls.Load()
				status, _ := bench.click(alice, "tk-exp", actionref.Snooze7d)
				if status != 200 {
					b.Fatalf("status %d", status)
				}
				calls += st.calls.Load() - before
			}
			b.ReportMetric(float64(calls)/float64(b.N), "store-calls/click")
		})
	}
}
