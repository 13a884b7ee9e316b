package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// memStore is an in-memory Store that records the order of puts and can
// fail the keys it is told to.
type memStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	puts    []string
	failPut map[string]error
}

func newMemStore() *memStore {
	return &memStore{objects: map[string][]byte{}, failPut: map[string]error{}}
}

func (m *memStore) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("mem: %s: %w", key, ErrNotFound)
	}
	return b, nil
}

func (m *memStore) Put(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failPut[key]; err != nil {
		return err
	}
	m.puts = append(m.puts, key)
	m.objects[key] = data
	return nil
}

func (m *memStore) Location(_ context.Context, key string) string { return "mem://" + key }

type recNotifier struct {
	calls int
	err   error
	links []string
}

func (r *recNotifier) Notify(_ context.Context, s *Snapshot, link string) error {
	r.calls++
	r.links = append(r.links, link)
	return r.err
}

func newRunner(api API, st Store, n Notifier) *Runner {
	cfg := &Config{Regions: []string{"cn-hangzhou"}, Policy: DefaultPolicy(), Slack: SlackConfig{Notify: "always"}}
	r := &Runner{Config: cfg, Auditor: &Auditor{API: api}, Store: st}
	if n != nil {
		r.Notifier = n
	}
	return r
}

func world() *fakeAPI {
	return &fakeAPI{
		workspaces: map[string][]Workspace{"cn-hangzhou": {{ID: "w-1", Name: "one"}}},
		gateways:   map[string][]Gateway{"w-1": {{ID: "lc-a", Name: "a"}}},
		tokens:     map[string][]Token{"lc-a": {{ID: "tk-1", Name: "etl", CreateTime: now.Add(-90 * Day), LastUsedTime: now.Add(-40 * Day)}}},
	}
}

func TestRunWritesDatedThenLatestThenNotifies(t *testing.T) {
	t.Parallel()
	st, n := newMemStore(), &recNotifier{}
	res, err := newRunner(world(), st, n).Run(t.Context(), RunOptions{Now: now, Trigger: Trigger{Kind: "cli"}, Notify: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2026/11/27/20261127T090000Z.json", "latest.json", "2026/11/27/20261127T090000Z.notified.json"}
	if strings.Join(st.puts, ",") != strings.Join(want, ",") {
		t.Errorf("puts: got %v, want %v", st.puts, want)
	}
	if !res.MovedLatest || !res.Notified || n.calls != 1 || n.links[0] != "mem://2026/11/27/20261127T090000Z.json" {
		t.Errorf("got %+v and %d notifications to %v", res, n.calls, n.links)
	}
}

func TestRunDatedFailureLeavesLatestUntouched(t *testing.T) {
	t.Parallel()
	st, n := newMemStore(), &recNotifier{}
	st.objects[LatestKey] = []byte("previous")
	st.failPut["2026/11/27/20261127T090000Z.json"] = errors.New("oss: put: AccessDenied")
	_, err := newRunner(world(), st, n).Run(t.Context(), RunOptions{Now: now, Notify: true})
	if err == nil || !strings.Contains(err.Error(), "write snapshot: oss: put: AccessDenied") {
		t.Fatalf("got %v, want the write error", err)
	}
	if string(st.objects[LatestKey]) != "previous" || n.calls != 0 {
		t.Errorf("latest.json %q and %d notifications; want it untouched and none", st.objects[LatestKey], n.calls)
	}
}

func TestRunScopedAndDryRunsKeepTheBaseline(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	res, err := newRunner(world(), st, nil).Run(t.Context(), RunOptions{Now: now, Scope: &Scope{Gateways: []GatewayRef{{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-a"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.objects[LatestKey]; ok || res.MovedLatest || !res.Snapshot.Scope.Partial {
		t.Errorf("a scoped run moved latest.json (puts %v)", st.puts)
	}
	if len(st.puts) != 1 {
		t.Errorf("scoped run: got puts %v, want only its dated snapshot", st.puts)
	}
	st2 := newMemStore()
	res, err = newRunner(world(), st2, &recNotifier{}).Run(t.Context(), RunOptions{Now: now, DryRun: true, Notify: true})
	if err != nil || len(st2.puts) != 0 || res.Notified || len(res.Encoded) == 0 {
		t.Errorf("dry run: got err %v, puts %v, notified %v; want nothing written or posted", err, st2.puts, res.Notified)
	}
}

func TestRunRetryRepeatsNothing(t *testing.T) {
	t.Parallel()
	st, n, api := newMemStore(), &recNotifier{}, world()
	r := newRunner(api, st, n)
	if _, err := r.Run(t.Context(), RunOptions{Now: now, Notify: true}); err != nil {
		t.Fatal(err)
	}
	calls := len(api.calls)
	res, err := r.Run(t.Context(), RunOptions{Now: now, Notify: true, Retry: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Reused || res.Notified || n.calls != 1 || len(api.calls) != calls {
		t.Errorf("retry: reused %v, notified %v, %d notifications, %d more API calls; want reused, no post, no calls",
			res.Reused, res.Notified, n.calls, len(api.calls)-calls)
	}
	dated := 0
	for _, k := range st.puts {
		if k == "2026/11/27/20261127T090000Z.json" {
			dated++
		}
	}
	if dated != 1 {
		t.Errorf("dated snapshot written %d times, want once", dated)
	}
}

func TestRunRetryAfterFailedNotificationPostsOnce(t *testing.T) {
	t.Parallel()
	st, n := newMemStore(), &recNotifier{err: errors.New("slack: HTTP 500")}
	r := newRunner(world(), st, n)
	if _, err := r.Run(t.Context(), RunOptions{Now: now, Notify: true}); err == nil || !strings.Contains(err.Error(), "notify: slack: HTTP 500") {
		t.Fatalf("got %v, want the notification error", err)
	}
	if _, ok := st.objects[LatestKey]; !ok {
		t.Fatal("the snapshot was not written before notifying")
	}
	n.err = nil
	res, err := r.Run(t.Context(), RunOptions{Now: now, Notify: true, Retry: true})
	if err != nil || !res.Notified || n.calls != 2 {
		t.Errorf("retry: got %v, notified %v after %d calls; want the post to go out", err, res.Notified, n.calls)
	}
}

func TestRunComparesWithPrevious(t *testing.T) {
	t.Parallel()
	st, api := newMemStore(), world()
	r := newRunner(api, st, nil)
	if _, err := r.Run(t.Context(), RunOptions{Now: now.Add(-Day)}); err != nil {
		t.Fatal(err)
	}
	api.tokens["lc-a"] = nil // the token was deleted
	res, err := r.Run(t.Context(), RunOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Snapshot.Changes
	if c.Previous == nil || c.Previous.Key != "2026/11/26/20261126T090000Z.json" || len(c.Removed) != 1 {
		t.Errorf("changes: got %+v, want tk-1 removed since 2026-11-26", c)
	}
	st.objects[LatestKey] = []byte(`{"schemaVersion": 7}`)
	res, err = r.Run(t.Context(), RunOptions{Now: now.Add(Day)})
	if err != nil || res.Snapshot.Changes.PreviousError == "" || !strings.Contains(res.Snapshot.Changes.PreviousError, "schemaVersion 7") {
		t.Errorf("unreadable previous: got %v, %+v", err, res.Snapshot.Changes)
	}
}

func TestNotifyReason(t *testing.T) {
	t.Parallel()
	clean := snap(now, ok(gwA))
	Compare(clean, snap(now.Add(-Day), ok(gwA)), "k", nil, 0)
	dirty := snap(now, ok(gwA, Token{ID: "x", CreateTime: now.Add(-90 * Day)}))
	Compare(dirty, snap(now.Add(-Day), ok(gwA, Token{ID: "x", CreateTime: now.Add(-90 * Day)})), "k", nil, 0)
	broken := snap(now, failed(gwA))
	for _, tc := range []struct {
		mode string
		s    *Snapshot
		post bool
	}{
		{"always", clean, true}, {"findings", clean, false}, {"findings", dirty, true}, {"findings", broken, true},
		{"changes", clean, false}, {"changes", dirty, false}, {"changes", broken, true},
	} {
		if got := NotifyReason(tc.mode, tc.s) == ""; got != tc.post {
			t.Errorf("%s on %d findings/%d failed: post %v, want %v", tc.mode, tc.s.Summary.ActiveFindings(), tc.s.Summary.GatewaysFailed, got, tc.post)
		}
	}
}
