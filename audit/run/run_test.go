package run

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/audit/fleet"
	"livy-token-audit/audit/store"
	"livy-token-audit/internal/audittest"
	"livy-token-audit/internal/fakeapi"
	"livy-token-audit/notify"
)

var now = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

const Day = audit.Day

// memStore is an in-memory Store that records its operations in order and
// can fail the keys it is told to. Create is atomic, as OSS's
// forbid-overwrite put is.
type memStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	ops     []string
	failPut map[string]error
	failGet map[string]error
	// onPut runs (under the lock) after each put.
	onPut func(key string)
}

func newMemStore() *memStore {
	return &memStore{objects: map[string][]byte{}, failPut: map[string]error{}, failGet: map[string]error{}}
}

func (m *memStore) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failGet[key]; err != nil {
		return nil, err
	}
	b, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("mem: %s: %w", key, store.ErrNotFound)
	}
	return b, nil
}

func (m *memStore) Put(_ context.Context, key string, content store.Content) error {
	var buf bytes.Buffer
	if err := content(&buf); err != nil {
		return err
	}
	data := buf.Bytes()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failPut[key]; err != nil {
		return err
	}
	m.ops = append(m.ops, "put "+key)
	m.objects[key] = data
	if m.onPut != nil {
		m.onPut(key)
	}
	return nil
}

func (m *memStore) Create(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failPut[key]; err != nil {
		return err
	}
	if _, ok := m.objects[key]; ok {
		return fmt.Errorf("mem: %s: %w", key, store.ErrExists)
	}
	m.ops = append(m.ops, "create "+key)
	m.objects[key] = data
	return nil
}

func (m *memStore) Copy(_ context.Context, src, dst string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failPut[dst]; err != nil {
		return err
	}
	b, ok := m.objects[src]
	if !ok {
		return fmt.Errorf("mem: copy %s: %w", src, store.ErrNotFound)
	}
	m.ops = append(m.ops, "copy "+dst)
	m.objects[dst] = b
	return nil
}

func (m *memStore) Location(_ context.Context, key string) string { return "mem://" + key }

func (m *memStore) count(op string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, o := range m.ops {
		if o == op {
			n++
		}
	}
	return n
}

// recNotifier records what it is asked to post, to one destination per
// name in dests ("slack" by default); err fails every send, failDest the
// sends to one destination.
type recNotifier struct {
	mu       sync.Mutex
	reports  []*audit.Snapshot
	failures []delivery.FailureNotice
	links    []string
	sent     map[string]int
	dests    []string
	err      error
	failDest map[string]error
	delay    time.Duration
}

func (r *recNotifier) destinations() []string {
	if len(r.dests) == 0 {
		return []string{"slack"}
	}
	return r.dests
}

func (r *recNotifier) send(dest string, record func()) error {
	time.Sleep(r.delay)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if err := r.failDest[dest]; err != nil {
		return err
	}
	if r.sent == nil {
		r.sent = map[string]int{}
	}
	r.sent[dest]++
	record()
	return nil
}

func (r *recNotifier) Deliveries(s *audit.Snapshot, loc delivery.Locations, _ notify.Ledger) []notify.Delivery {
	link := loc.Snapshot
	var out []notify.Delivery
	for _, d := range r.destinations() {
		out = append(out, notify.Delivery{Destination: d, Send: func(context.Context) error {
			return r.send(d, func() { r.reports, r.links = append(r.reports, s), append(r.links, link) })
		}})
	}
	return out
}

func (r *recNotifier) FailureDeliveries(f delivery.FailureNotice) []notify.Delivery {
	var out []notify.Delivery
	for _, d := range r.destinations() {
		out = append(out, notify.Delivery{Destination: d, Send: func(context.Context) error {
			return r.send(d, func() { r.failures = append(r.failures, f) })
		}})
	}
	return out
}

func (r *recNotifier) posts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reports), len(r.failures)
}

func newRunner(api fleet.API, st *memStore, n notify.Notifier) *Runner {
	r := &Runner{Policy: audit.DefaultPolicy(), Store: st, Auditor: &fleet.Auditor{Concurrency: 8, RatePerSecond: 1000},
		Accounts: []fleet.Account{{API: api, Account: audit.Account{Scope: audit.Scope{Regions: []string{"cn-hangzhou"}}}}}}
	if n != nil {
		r.Notifier = &notify.Dispatcher{Notifiers: []notify.Notifier{n}, Claims: st}
	}
	return r
}

func world() *fakeapi.API {
	return &fakeapi.API{
		Workspaces: map[string][]audit.Workspace{"cn-hangzhou": {{ID: "w-1", Name: "one"}}},
		Gateways:   map[string][]audit.Gateway{"w-1": {{ID: "lc-a", Name: "a"}, {ID: "lc-b", Name: "b"}}},
		Tokens: map[string][]audit.Token{
			"lc-a": {{ID: "tk-1", Name: "etl", CreateTime: now.Add(-90 * Day), LastUsedTime: now.Add(-40 * Day)}},
			"lc-b": {{ID: "tk-2", Name: "bi", CreateTime: now.Add(-90 * Day), LastUsedTime: now.Add(-2 * Day)}}, // used before every audit of the tests
		},
		Fail: map[string]error{},
	}
}

// ok is a gateway's result with its tokens.
func ok(ref audit.GatewayRef, toks ...audit.Token) audit.GatewayResult {
	return audit.GatewayResult{Ref: ref, Tokens: toks}
}

// kinds lists the changes by kind, as tokenID:rule.
func kinds(c *audit.Changes) map[string][]string {
	out := map[string][]string{}
	for k, list := range map[string][]audit.Change{"new": c.New, "escalated": c.Escalated, "resolved": c.Resolved, "removed": c.Removed, "unknown": c.Unknown} {
		for _, ch := range list {
			out[k] = append(out[k], ch.TokenID+":"+string(ch.Rule))
		}
	}
	return out
}

const (
	dated    = "2026/11/27/20261127T090000Z.json"
	notified = "2026/11/27/20261127T090000Z.slack.1.notified.json" // the claim
	recorded = "2026/11/27/20261127T090000Z.slack.2.notified.json" // what became of it
)

func TestRunWritesDatedThenLatestThenBaselineThenNotifies(t *testing.T) {
	t.Parallel()
	st, n := newMemStore(), &recNotifier{}
	res, err := newRunner(world(), st, n).Run(t.Context(), Options{Now: now, Trigger: audit.Trigger{Kind: "cli"}, Notify: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"put " + dated, "copy latest.json", "put baseline.json", "put history.json", "create " + notified, "create " + recorded, "put ledger/slack.json"}
	if strings.Join(st.ops, ",") != strings.Join(want, ",") {
		t.Errorf("ops: got %v, want %v", st.ops, want)
	}
	if !res.MovedLatest || !res.Notified || len(n.reports) != 1 || n.links[0] != "mem://"+dated || res.Snapshot.Verdict != audit.VerdictComplete {
		t.Errorf("got %+v and %d notifications to %v", res, len(n.reports), n.links)
	}
	var rec struct{ RunID, State string }
	if err := json.Unmarshal(st.objects[recorded], &rec); err != nil || rec.State != "delivered" || rec.RunID != "audit-20261127T090000Z" {
		t.Errorf("delivery record: got %s, %v", st.objects[recorded], err)
	}
}

func TestRunDatedFailureLeavesLatestUntouchedAndSaysSoOnce(t *testing.T) {
	t.Parallel()
	st, n := newMemStore(), &recNotifier{}
	st.objects[audit.LatestKey] = []byte("previous")
	st.failPut[dated] = errors.New("oss: put: AccessDenied")
	r := newRunner(world(), st, n)
	_, err := r.Run(t.Context(), Options{Now: now, Notify: true})
	if err == nil || !strings.Contains(err.Error(), "write snapshot: oss: put: AccessDenied") {
		t.Fatalf("got %v, want the write error", err)
	}
	if string(st.objects[audit.LatestKey]) != "previous" {
		t.Errorf("latest.json %q; want it untouched", st.objects[audit.LatestKey])
	}
	reports, failures := n.posts()
	if reports != 0 || failures != 1 || !strings.Contains(n.failures[0].Cause, "AccessDenied") {
		t.Fatalf("got %d reports and notices %+v; want one notice naming the cause", reports, n.failures)
	}
	// The retries fail the same way: the notice is not repeated.
	for range 3 {
		_, _ = r.Run(t.Context(), Options{Now: now, Notify: true, Retry: true})
	}
	if _, failures := n.posts(); failures != 1 {
		t.Errorf("got %d notices after the retries, want 1", failures)
	}
}

func TestRunScopedAndDryRunsKeepTheBaseline(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	r := newRunner(world(), st, nil)
	narrowed, err := fleet.Narrow(r.Accounts, audit.Narrowing{Gateways: []audit.GatewayRef{{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-a"}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(t.Context(), Options{Now: now, Accounts: narrowed})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.objects[audit.LatestKey]; ok || res.MovedLatest || !res.Snapshot.Scope.Partial {
		t.Errorf("a scoped run moved latest.json (ops %v)", st.ops)
	}
	if len(st.ops) != 1 || res.BaselineHeld != "ad-hoc run narrowed to part of the scope" {
		t.Errorf("scoped run: got ops %v (%q), want only its dated snapshot", st.ops, res.BaselineHeld)
	}
	st2 := newMemStore()
	res, err = newRunner(world(), st2, &recNotifier{}).Run(t.Context(), Options{Now: now, DryRun: true, Notify: true})
	if err != nil || len(st2.ops) != 0 || res.Notified || res.Snapshot == nil {
		t.Errorf("dry run: got err %v, ops %v, notified %v; want nothing written or posted", err, st2.ops, res.Notified)
	}
}

func TestRunRetryRepeatsNothing(t *testing.T) {
	t.Parallel()
	st, n, api := newMemStore(), &recNotifier{}, world()
	r := newRunner(api, st, n)
	if _, err := r.Run(t.Context(), Options{Now: now, Notify: true}); err != nil {
		t.Fatal(err)
	}
	calls := len(api.Calls())
	res, err := r.Run(t.Context(), Options{Now: now, Notify: true, Retry: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Reused || res.Notified || len(n.reports) != 1 || len(api.Calls()) != calls {
		t.Errorf("retry: reused %v, notified %v, %d notifications, %d more API calls; want reused, no post, no calls",
			res.Reused, res.Notified, len(n.reports), len(api.Calls())-calls)
	}
	if n := st.count("put " + dated); n != 1 {
		t.Errorf("dated snapshot written %d times, want once", n)
	}
}

func TestRunRetryAfterFailedNotificationPostsOnce(t *testing.T) {
	t.Parallel()
	st, n := newMemStore(), &recNotifier{err: errors.New("slack: HTTP 500")}
	r := newRunner(world(), st, n)
	if _, err := r.Run(t.Context(), Options{Now: now, Notify: true}); err == nil || !strings.Contains(err.Error(), "notify slack: slack: HTTP 500") {
		t.Fatalf("got %v, want the notification error", err)
	}
	if _, ok := st.objects[audit.LatestKey]; !ok {
		t.Fatal("the snapshot was not written before notifying")
	}
	var rec struct{ State string }
	if err := json.Unmarshal(st.objects[recorded], &rec); err != nil || rec.State != "released" {
		t.Fatalf("after the failed post the claim is %s (%v); want it released, so that a retry can post", st.objects[recorded], err)
	}
	n.err = nil
	res, err := r.Run(t.Context(), Options{Now: now, Notify: true, Retry: true})
	if err != nil || !res.Notified || len(n.reports) != 1 {
		t.Errorf("retry: got %v, notified %v after %d posts; want the post to go out", err, res.Notified, len(n.reports))
	}
}

// Function Compute may deliver one timer event twice, both with retry count
// 0, at the same time: the report is posted once.
func TestConcurrentDuplicateDeliveriesPostOnce(t *testing.T) {
	t.Parallel()
	st, n := newMemStore(), &recNotifier{delay: 20 * time.Millisecond}
	var wg sync.WaitGroup
	var notified atomic.Int32
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := newRunner(world(), st, n).Run(context.Background(), Options{Now: now, Notify: true})
			if err != nil {
				t.Error(err)
			}
			if res.Notified {
				notified.Add(1)
			}
		}()
	}
	wg.Wait()
	if reports, _ := n.posts(); reports != 1 || notified.Load() != 1 {
		t.Errorf("got %d posts (%d runs say notified), want 1", reports, notified.Load())
	}
}

// A claim left "posting" by a delivery that died mid-post is taken over
// once its lease (its attempt's deadline, and 30 seconds for the clocks)
// has ended: at once, or after waiting for it within this attempt's own
// deadline. One whose holder delivers meanwhile is not sent again; one
// whose lease outlasts this attempt fails it, so that the run is retried
// rather than told all is well.
func TestStaleClaimIsTakenOver(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		leaseEnded time.Duration // how long ago the holder's lease ended
		deadline   time.Duration // this attempt's (0: none)
		delivers   bool          // the holder delivers while this attempt waits
		post, fail bool
	}{
		{name: "lease ended a minute ago", leaseEnded: time.Minute, post: true},
		{name: "lease ended 10s ago: waited for", leaseEnded: 10 * time.Second, post: true},
		{name: "lease runs, the holder delivers", leaseEnded: -time.Minute, delivers: true},
		{name: "lease outlasts this attempt", leaseEnded: -time.Hour, deadline: 2 * time.Minute, fail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			wall := time.Date(2026, 11, 27, 9, 1, 0, 0, time.UTC)
			st, n := newMemStore(), &recNotifier{}
			at := wall.Add(-tc.leaseEnded - 10*time.Minute)
			if at.After(wall) {
				at = wall.Add(-time.Minute) // a holder that started a minute ago
			}
			held, _ := json.Marshal(map[string]any{"runId": "audit-20261127T090000Z", "kind": "report", "state": "posting", "nonce": "other",
				"at": at, "leaseEnds": wall.Add(-tc.leaseEnded)})
			st.objects[notified] = held
			r := newRunner(world(), st, n)
			d := r.Notifier.(*notify.Dispatcher)
			d.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return wall }
			d.Sleep = func(_ context.Context, dt time.Duration) error {
				mu.Lock()
				wall = wall.Add(dt)
				mu.Unlock()
				if tc.delivers {
					st.mu.Lock()
					st.objects[recorded] = []byte(`{"runId":"audit-20261127T090000Z","kind":"report","state":"delivered","nonce":"other","at":"2026-11-27T09:01:00Z"}`)
					st.mu.Unlock()
				}
				return nil
			}
			ctx := t.Context()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			res, err := r.Run(ctx, Options{Now: now, Notify: true, Retry: true})
			if (err != nil) != tc.fail || res.Notified != tc.post || len(n.reports) != map[bool]int{true: 1}[tc.post] {
				t.Errorf("got notified %v (%s), %v, %d posts; want posted %v, failed %v", res.Notified, res.NotifySkipped, err, len(n.reports), tc.post, tc.fail)
			}
			if tc.fail && !strings.Contains(fmt.Sprint(err), "held by another attempt of this run") {
				t.Errorf("the error does not say why: %v", err)
			}
			// The time it names is the one from which the claim can be
			// taken over: the lease's end and the clocks' allowance.
			if takeover := time.Date(2026, 11, 27, 9, 1, 0, 0, time.UTC).Add(-tc.leaseEnded).Add(30 * time.Second).Format(time.RFC3339); tc.fail && !strings.Contains(fmt.Sprint(err), "until "+takeover) {
				t.Errorf("the error does not name when the claim can be taken over (%s): %v", takeover, err)
			}
		})
	}
}

// An answer that says nothing usable everywhere is a failed audit: an
// error, a report that says so, and no baseline movement.
func TestNothingAuditedIsAFailedAudit(t *testing.T) {
	t.Parallel()
	st, n, api := newMemStore(), &recNotifier{}, world()
	r := newRunner(api, st, n)
	if _, err := r.Run(t.Context(), Options{Now: now.Add(-Day), Notify: true}); err != nil {
		t.Fatal(err)
	}
	api.Fail["cn-hangzhou"] = &audit.APIError{Code: audit.CodeInvalidResponse, Message: "empty response body"}
	res, err := r.Run(t.Context(), Options{Now: now, Notify: true})
	var fe *FailedAuditError
	if !errors.As(err, &fe) || !res.Failed() || res.Snapshot.Verdict != audit.VerdictFailed || !res.Written {
		t.Fatalf("got %v (verdict %s); want a failed audit whose snapshot is written", err, res.Snapshot.Verdict)
	}
	if res.MovedLatest || res.BaselineHeld != "nothing was audited" {
		t.Errorf("baseline: moved %v, held %q; want held", res.MovedLatest, res.BaselineHeld)
	}
	if reports, _ := n.posts(); reports != 2 || n.reports[1].Verdict != audit.VerdictFailed {
		t.Errorf("got %d reports; want the failed audit reported", reports)
	}
	// A retry that fails again posts nothing more; one that succeeds posts
	// the real report.
	_, _ = r.Run(t.Context(), Options{Now: now, Notify: true, Retry: true})
	if reports, _ := n.posts(); reports != 2 {
		t.Errorf("a failing retry posted again (%d reports)", reports)
	}
	delete(api.Fail, "cn-hangzhou")
	res, err = r.Run(t.Context(), Options{Now: now, Notify: true, Retry: true})
	if err != nil || res.Reused || !res.Notified || !res.MovedLatest || res.Snapshot.Verdict != audit.VerdictComplete {
		t.Errorf("recovered retry: got %v, reused %v, notified %v, moved %v", err, res.Reused, res.Notified, res.MovedLatest)
	}
	if c := res.Snapshot.Changes; c.Previous == nil || c.Previous.AuditedAt != now.Add(-Day) || c.Counts().Total() != 0 {
		t.Errorf("recovered retry compared with %+v, changes %+v; want the day before and no change", c.Previous, c.Counts())
	}
}

// A scope that is truly empty is a success that says so.
func TestEmptyScopeIsComplete(t *testing.T) {
	t.Parallel()
	api := &fakeapi.API{Workspaces: map[string][]audit.Workspace{}, Fail: map[string]error{}}
	res, err := newRunner(api, newMemStore(), nil).Run(t.Context(), Options{Now: now})
	if err != nil || res.Snapshot.Verdict != audit.VerdictComplete || res.Snapshot.Summary.Gateways != 0 || !res.MovedLatest {
		t.Errorf("got %v, verdict %s, %d gateways; want a complete audit of nothing", err, res.Snapshot.Verdict, res.Snapshot.Summary.Gateways)
	}
}

// latest.json and the baseline only move forward, and only on real audits.
func TestBaselineOnlyMovesForward(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	r := newRunner(world(), st, nil)
	if _, err := r.Run(t.Context(), Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	latest := string(st.objects[audit.LatestKey])
	for _, tc := range []struct {
		name string
		at   time.Time
		held string
	}{
		{"earlier audit time", now.Add(-Day), "the baseline is from a later audit (2026-11-27T09:00:00Z)"},
		{"same audit time", now, "the baseline is already this audit time's"},
	} {
		res, err := r.Run(t.Context(), Options{Now: tc.at})
		if err != nil || res.MovedLatest || res.BaselineHeld != tc.held || string(st.objects[audit.LatestKey]) != latest {
			t.Errorf("%s: got %v, moved %v, held %q; want latest.json untouched, held %q", tc.name, err, res.MovedLatest, res.BaselineHeld, tc.held)
		}
		if !res.Written {
			t.Errorf("%s: the dated snapshot was not written", tc.name)
		}
	}
	if res, _ := r.Run(t.Context(), Options{Now: now.Add(-Day)}); !strings.Contains(res.Snapshot.Changes.PreviousError, "not before this audit's time") {
		t.Errorf("an earlier run compared with a later baseline: %+v", res.Snapshot.Changes)
	}
}

// Changes are per gateway against the last run that audited it: an outage
// in the middle changes nothing that did not change.
func TestOutageInTheMiddle(t *testing.T) {
	t.Parallel()
	t1, t2, t3 := now, now.Add(Day), now.Add(2*Day)
	expiring := audit.Token{ID: "tk-e", Name: "soon", CreateTime: t1.Add(-90 * Day), LastUsedTime: t1.Add(-time.Hour), ExpireTime: t1.Add(36 * time.Hour)}
	stale := audit.Token{ID: "tk-1", Name: "etl", CreateTime: t1.Add(-90 * Day), LastUsedTime: t1.Add(-40 * Day)}
	gone := audit.Token{ID: "tk-g", Name: "gone", CreateTime: t1.Add(-90 * Day), LastUsedTime: t1.Add(-50 * Day)}
	for _, tc := range []struct {
		name  string
		after []audit.Token // lc-a's tokens on the third day
		want  map[string][]string
	}{
		{"unchanged through the outage", []audit.Token{stale, expiring, gone}, map[string][]string{"escalated": {"tk-e:expired"}}},
		{"resolved during the outage", []audit.Token{{ID: "tk-1", Name: "etl", CreateTime: t1.Add(-90 * Day), LastUsedTime: t3.Add(-time.Hour)}, expiring},
			map[string][]string{"resolved": {"tk-1:stale"}, "escalated": {"tk-e:expired"}, "removed": {"tk-g:stale"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, api := newMemStore(), world()
			r := newRunner(api, st, nil)
			api.Tokens["lc-a"] = []audit.Token{stale, expiring, gone}
			if _, err := r.Run(t.Context(), Options{Now: t1}); err != nil {
				t.Fatal(err)
			}
			// Day 2: lc-a fails; lc-b is audited, so the run is real and
			// moves the baseline, but lc-a keeps its day-1 state.
			api.Fail["lc-a"] = &audit.APIError{Code: "ServiceUnavailable"}
			res, err := r.Run(t.Context(), Options{Now: t2})
			if err != nil || !res.MovedLatest || len(res.Snapshot.Changes.Unknown) != 3 {
				t.Fatalf("day 2: got %v, moved %v, changes %+v; want 3 unknown and the baseline moved", err, res.MovedLatest, res.Snapshot.Changes.Counts())
			}
			// Day 3: lc-a is back.
			delete(api.Fail, "lc-a")
			api.Tokens["lc-a"] = tc.after
			res, err = r.Run(t.Context(), Options{Now: t3})
			if err != nil {
				t.Fatal(err)
			}
			got := kinds(res.Snapshot.Changes)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("day 3: got %v, want %v", got, tc.want)
			}
			for _, c := range append(res.Snapshot.Changes.Resolved, res.Snapshot.Changes.Escalated...) {
				if c.Since == nil || !c.Since.Equal(t1) {
					t.Errorf("%s: since %v, want day 1 (the last audit of lc-a)", c.TokenID, c.Since)
				}
			}
			if p := res.Snapshot.Changes.Previous; p == nil || !p.AuditedAt.Equal(t2) {
				t.Errorf("previous: got %+v, want day 2", p)
			}
		})
	}
}

func TestRunComparesWithTheBaseline(t *testing.T) {
	t.Parallel()
	st, api := newMemStore(), world()
	r := newRunner(api, st, nil)
	if _, err := r.Run(t.Context(), Options{Now: now.Add(-Day)}); err != nil {
		t.Fatal(err)
	}
	api.Tokens["lc-a"] = nil // the token was deleted
	res, err := r.Run(t.Context(), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Snapshot.Changes
	if c.Previous == nil || c.Previous.Key != "2026/11/26/20261126T090000Z.json" || len(c.Removed) != 1 {
		t.Errorf("changes: got %+v, want tk-1 removed since 2026-11-26", c)
	}
	// A baseline of a newer release is never overwritten, and the run fails
	// saying which version wrote it.
	newer := []byte(`{"schemaVersion": 7}`)
	st.objects[audit.BaselineKey] = newer
	res, err = r.Run(t.Context(), Options{Now: now.Add(Day)})
	if err == nil || !strings.Contains(err.Error(), "schemaVersion 7") || res.MovedLatest || string(st.objects[audit.BaselineKey]) != string(newer) {
		t.Errorf("newer baseline: got %v, moved %v; want an error naming the version, and nothing replaced", err, res.MovedLatest)
	}
	// A corrupt baseline is rebuilt from latest.json: day 2 is compared with
	// day 1, not as a first run.
	st.objects[audit.BaselineKey] = []byte(`{"schemaVersion": 1, "gateways": [`)
	res, err = r.Run(t.Context(), Options{Now: now.Add(Day + time.Hour)})
	if c := res.Snapshot.Changes; err != nil || c.Previous == nil || c.Previous.AuditedAt != now || c.Counts().Total() != 0 || !res.MovedLatest {
		t.Errorf("corrupt baseline: got %v, changes %+v, moved %v; want it rebuilt from latest.json", err, c, res.MovedLatest)
	}
	// A store that cannot be read is not a bad baseline: nothing is replaced.
	st.failGet[audit.BaselineKey] = errors.New("oss: get baseline.json: HTTP 503")
	res, err = r.Run(t.Context(), Options{Now: now.Add(2 * Day)})
	if err != nil || res.MovedLatest || !strings.Contains(res.BaselineHeld, "could not be read") {
		t.Errorf("store down: got %v, moved %v, held %q", err, res.MovedLatest, res.BaselineHeld)
	}
}

// A baseline written by a version without baseline.json is latest.json.
func TestBaselineFromLatestJSON(t *testing.T) {
	t.Parallel()
	st, api := newMemStore(), world()
	prev := audittest.BuildSnapshot(audittest.Collection{Gateways: []audit.GatewayResult{ok(audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-a"}, api.Tokens["lc-a"]...)}},
		audit.Evaluation{Now: now.Add(-Day), Policy: audit.DefaultPolicy()})
	b, _ := prev.Encode()
	st.objects[audit.LatestKey] = b
	res, err := newRunner(api, st, nil).Run(t.Context(), Options{Now: now})
	if err != nil || res.Snapshot.Changes.Previous == nil || res.Snapshot.Changes.Counts().Total() != 0 {
		t.Errorf("got %v, changes %+v; want a comparison with latest.json and no change", err, res.Snapshot.Changes)
	}
	if _, ok := st.objects[audit.BaselineKey]; !ok {
		t.Error("baseline.json was not written")
	}
}

// Duplicate tokenIds are kept once, so an unchanged world has no change.
func TestDuplicateTokenIDsAreStable(t *testing.T) {
	t.Parallel()
	st, api := newMemStore(), world()
	tk := api.Tokens["lc-a"][0]
	older := tk
	older.LastUsedTime = tk.LastUsedTime.Add(-Day)
	api.Tokens["lc-a"] = []audit.Token{older, tk, older}
	r := newRunner(api, st, nil)
	res, err := r.Run(t.Context(), Options{Now: now})
	if err != nil || res.Snapshot.Summary.Tokens != 2 || res.Snapshot.Summary.DuplicateTokens != 2 {
		t.Fatalf("got %v, %d tokens, %d duplicates; want 2 and 2", err, res.Snapshot.Summary.Tokens, res.Snapshot.Summary.DuplicateTokens)
	}
	g := res.Snapshot.Gateways[0]
	if len(g.DuplicateTokenIDs) != 1 || g.DuplicateTokenIDs[0] != "tk-1" || !g.Tokens[0].LastUsedTime.Equal(tk.LastUsedTime) {
		t.Errorf("gateway: got %+v; want tk-1 noted, the most recently used kept", g)
	}
	api.Tokens["lc-a"] = []audit.Token{tk, older, older} // another order
	res, err = r.Run(t.Context(), Options{Now: now.Add(time.Hour)})
	if err != nil || res.Snapshot.Changes.Counts().Total() != 0 {
		t.Errorf("second run: got %v, changes %+v; want none", err, res.Snapshot.Changes.Counts())
	}
}

// One token with a time no snapshot can hold does not sink the run.
func TestOutOfRangeTimeDoesNotSinkTheRun(t *testing.T) {
	t.Parallel()
	api := world()
	api.Tokens["lc-a"] = append(api.Tokens["lc-a"], audit.Token{ID: "tk-far", ExpireTime: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), LastUsedTime: now})
	res, err := newRunner(api, newMemStore(), nil).Run(t.Context(), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := res.Snapshot.Encode()
	if err != nil || res.Snapshot.Summary.DataErrors != 1 || !strings.Contains(string(enc), `"field": "expireTime"`) {
		t.Errorf("got %d data errors, %v in:\n%s", res.Snapshot.Summary.DataErrors, err, enc)
	}
}

// Each destination is delivered, retried and recorded on its own: a retry
// after one destination failed sends only to that one.
func TestOneFailedDestinationIsRetriedAlone(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	n := &recNotifier{dests: []string{"slack", "slack:route:team-data", "slack:owner:U0ALICE01"}, failDest: map[string]error{"slack:route:team-data": errors.New("HTTP 500")}}
	r := newRunner(world(), st, n)
	res, err := r.Run(t.Context(), Options{Now: now, Notify: true})
	if err == nil || !strings.Contains(err.Error(), "notify slack:route:team-data: HTTP 500") || res.Notified {
		t.Fatalf("got %v, notified %v; want the route's failure", err, res.Notified)
	}
	if n.sent["slack"] != 1 || n.sent["slack:owner:U0ALICE01"] != 1 {
		t.Fatalf("sent %v: the other destinations were not delivered", n.sent)
	}
	for _, k := range []string{recorded, "2026/11/27/20261127T090000Z.slack.owner.U0ALICE01.2.notified.json"} {
		if _, ok := st.objects[k]; !ok {
			t.Errorf("no delivery record %s", k)
		}
	}
	delete(n.failDest, "slack:route:team-data")
	res, err = r.Run(t.Context(), Options{Now: now, Notify: true, Retry: true})
	if err != nil || !res.Notified {
		t.Fatalf("retry: %v, notified %v", err, res.Notified)
	}
	if n.sent["slack"] != 1 || n.sent["slack:owner:U0ALICE01"] != 1 || n.sent["slack:route:team-data"] != 1 {
		t.Errorf("after the retry, sent %v; want each destination exactly once", n.sent)
	}
}

// recPage records what it was asked to render.
type recPage struct {
	histories [][]string
	fail      error
}

func (p *recPage) artifact() Artifact {
	return Artifact{Ext: ".html", Page: true, Start: Rendered(func(w io.Writer, v View) error { return p.render(w, v.Snapshot, v.History, v.Locations) })}
}

func (p *recPage) render(w io.Writer, s *audit.Snapshot, history []audit.HistoryEntry, loc delivery.Locations) error {
	var ids []string
	for _, e := range history {
		ids = append(ids, e.RunID)
	}
	p.histories = append(p.histories, ids)
	if p.fail != nil {
		return p.fail
	}
	_, err := fmt.Fprintf(w, "<!doctype html><title>%s</title><a>%s</a>", s.RunID, loc.Snapshot)
	return err
}

func TestRunWritesPagesAndHistory(t *testing.T) {
	t.Parallel()
	st, p := newMemStore(), &recPage{}
	r := newRunner(world(), st, nil)
	r.Artifacts = []Artifact{p.artifact()}
	res, err := r.Run(t.Context(), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	page := "2026/11/27/20261127T090000Z.html"
	want := []string{"put " + dated, "put " + page, "copy latest.json", "put baseline.json", "put history.json", "copy latest.html"}
	if !slices.Equal(st.ops, want) {
		t.Errorf("ops %v, want %v", st.ops, want)
	}
	if res.PageKey != page || res.PageLocation != "mem://"+page || !bytes.Equal(st.objects[page], st.objects[LatestPageKey]) {
		t.Errorf("page %s at %s; latest.html is the run's page: %v", res.PageKey, res.PageLocation, bytes.Equal(st.objects[page], st.objects[LatestPageKey]))
	}
	// The page's trend includes this run.
	if got := p.histories[0]; !slices.Equal(got, []string{audit.RunID(now)}) {
		t.Errorf("the page was drawn with history %v, want this run", got)
	}

	// A narrowed run writes its page, but neither latest.html nor history.
	next := now.Add(Day)
	narrowed, err := fleet.Narrow(r.Accounts, audit.Narrowing{Gateways: []audit.GatewayRef{{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-a"}}})
	if err != nil {
		t.Fatal(err)
	}
	st.ops = nil
	nres, err := r.Run(t.Context(), Options{Now: next, Accounts: narrowed})
	if err != nil {
		t.Fatal(err)
	}
	// A narrowed run's keys are its own: {stamp}.{scope ID}.
	id := nres.Snapshot.Scope.ID()
	if want := []string{"put 2026/11/28/20261128T090000Z." + id + ".json", "put 2026/11/28/20261128T090000Z." + id + ".html"}; !slices.Equal(st.ops, want) {
		t.Errorf("narrowed run: ops %v, want %v", st.ops, want)
	}
	if got := p.histories[1]; !slices.Equal(got, []string{audit.RunID(now)}) {
		t.Errorf("the narrowed run's page was drawn with history %v, want the full audits only", got)
	}
	h, err := audit.ReadHistory(st.objects[audit.HistoryKey])
	if err != nil || len(h.Runs) != 1 {
		t.Errorf("history.json after a narrowed run: %v, %+v", err, h)
	}
}

func TestRunReportsAFailedPage(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	r := newRunner(world(), st, &recNotifier{})
	r.Artifacts = []Artifact{(&recPage{fail: errors.New("template broke")}).artifact()}
	res, err := r.Run(t.Context(), Options{Now: now, Notify: true})
	if err == nil || !strings.Contains(err.Error(), "write 2026/11/27/20261127T090000Z.html: template broke") {
		t.Errorf("got %v, want the page's error", err)
	}
	if !res.Written || st.objects[dated] == nil || !res.MovedLatest || res.PageLocation != "" {
		t.Errorf("written %v, latest moved %v, page %q: want the snapshot and the baseline moved, and no link to the page", res.Written, res.MovedLatest, res.PageLocation)
	}
	if _, ok := st.objects[LatestPageKey]; ok {
		t.Error("latest.html was written though the run's page failed")
	}
}

// A narrowed run and a full run at the same audit time, in either order and
// after a failed post, never share a snapshot, a page or a claim: each
// writes its own, and each posts its own report.
func TestNarrowedAndFullRunsAtOneTime(t *testing.T) {
	t.Parallel()
	for _, narrowedFirst := range []bool{true, false} {
		st, n := newMemStore(), &recNotifier{}
		r := newRunner(world(), st, n)
		narrowed, err := fleet.Narrow(r.Accounts, audit.Narrowing{Gateways: []audit.GatewayRef{{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-a"}}})
		if err != nil {
			t.Fatal(err)
		}
		runs := []Options{{Now: now, Notify: true}, {Now: now, Notify: true, Accounts: narrowed}}
		if narrowedFirst {
			runs[0], runs[1] = runs[1], runs[0]
		}
		n.err = errors.New("slack: HTTP 500") // the first post fails
		_, _ = r.Run(t.Context(), runs[0])
		n.err = nil
		var keys []string
		for _, o := range []Options{runs[1], runs[0]} { // the other, then the first's retry
			o.Retry = true
			res, err := r.Run(t.Context(), o)
			if err != nil || !res.Notified {
				t.Fatalf("narrowed first %v: %v, notified %v (%s)", narrowedFirst, err, res.Notified, res.NotifySkipped)
			}
			keys = append(keys, res.Key)
		}
		full, _ := audit.ReadSnapshot(st.objects[dated])
		if full == nil || full.Scope.Partial || full.Summary.Gateways != 2 {
			t.Errorf("narrowed first %v: the full run's snapshot is %+v", narrowedFirst, full)
		}
		if keys[0] == keys[1] || len(n.reports) != 2 {
			t.Errorf("narrowed first %v: keys %v, %d reports; want two keys and two reports", narrowedFirst, keys, len(n.reports))
		}
	}
}

// A baseline dated ahead of the clock (a skewed clock, corruption) would
// freeze latest.json forever: it is invalid, reported and replaced.
func TestFutureBaselineIsReplaced(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	future := audit.BaselineOf(audittest.BuildSnapshot(audittest.Collection{}, audit.Evaluation{Now: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), Policy: audit.DefaultPolicy()}))
	var buf bytes.Buffer
	_ = future.Write(&buf)
	st.objects[audit.BaselineKey] = buf.Bytes()
	r := newRunner(world(), st, nil)
	r.Now = func() time.Time { return now.Add(time.Hour) }
	res, err := r.Run(t.Context(), Options{Now: now})
	if err != nil || !res.MovedLatest || !strings.Contains(res.Snapshot.Changes.PreviousError, "ahead of the clock") {
		t.Errorf("got %v, moved %v, %q; want it reported and replaced", err, res.MovedLatest, res.Snapshot.Changes.PreviousError)
	}
	if base, _ := audit.ReadBaseline(st.objects[audit.BaselineKey]); base == nil || !base.AuditedAt.Equal(now) {
		t.Errorf("the baseline is %+v, want this run's", base)
	}
}

// history.json that cannot be read (the store failing through every retry)
// is not replaced by a trend of one run.
func TestUnreadableHistoryIsNotReplaced(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	r := newRunner(world(), st, nil)
	for d := range 3 {
		if _, err := r.Run(t.Context(), Options{Now: now.Add(time.Duration(d) * Day)}); err != nil {
			t.Fatal(err)
		}
	}
	before := string(st.objects[audit.HistoryKey])
	st.failGet[audit.HistoryKey] = errors.New("oss: get history.json: HTTP 503 (gave up after 4 attempts)")
	res, err := r.Run(t.Context(), Options{Now: now.Add(3 * Day)})
	if err != nil || !res.MovedLatest || !strings.Contains(res.HistoryHeld, "could not be read") || string(st.objects[audit.HistoryKey]) != before {
		t.Errorf("got %v, moved %v, held %q; want the history kept as it was", err, res.MovedLatest, res.HistoryHeld)
	}
}

// Just before moving the baseline, it is read again: a run that moved it
// past this one meanwhile is not undone.
func TestBaselineIsReadAgainBeforeItMoves(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	r := newRunner(world(), st, nil)
	if _, err := r.Run(t.Context(), Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	// A slow run of day 2 reads the baseline of day 1; meanwhile a run of
	// day 3 moves it (the hook fires when the slow run writes its snapshot).
	later := audit.BaselineOf(audittest.BuildSnapshot(audittest.Collection{}, audit.Evaluation{Now: now.Add(2 * Day), Policy: audit.DefaultPolicy()}))
	var buf bytes.Buffer
	_ = later.Write(&buf)
	st.onPut = func(key string) {
		if key == "2026/11/28/20261128T090000Z.json" {
			st.objects[audit.BaselineKey] = buf.Bytes()
		}
	}
	res, err := r.Run(t.Context(), Options{Now: now.Add(Day)})
	if err != nil || res.MovedLatest || !strings.Contains(res.BaselineHeld, "another run moved the baseline to 2026-11-29") {
		t.Errorf("got %v, moved %v, held %q; want the later baseline kept", err, res.MovedLatest, res.BaselineHeld)
	}
}

// actionsReader is what people did from Slack, or a failure to read it.
type actionsReader struct {
	acts audit.Actions
	err  error
}

func (a actionsReader) ReadActions(context.Context) (audit.Actions, error) { return a.acts, a.err }

func TestRunAppliesActionsFromSlack(t *testing.T) {
	t.Parallel()
	stale := audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-a"}
	acts := audit.Actions{
		Snoozes: []audit.Suppression{{TokenID: "tk-1", Gateway: "lc-a", Rules: []audit.Rule{audit.RuleStale}, Reason: "snoozed by <@U0ALICE01> until 2026-12-04", Until: now.Add(7 * Day), SnoozedBy: "U0ALICE01"}},
		Acks:    map[string]audit.Acknowledgement{audit.TokenKey(stale, "tk-1"): {By: "U0ALICE01", At: now}},
		Recent:  []audit.ActionReport{{At: now, By: "U0ALICE01", Verb: "snooze:7d", Token: audit.TokenKey(stale, "tk-1"), Outcome: "done"}},
	}
	r := newRunner(world(), newMemStore(), nil)
	r.Actions = actionsReader{acts: acts}
	res, err := r.Run(t.Context(), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	tk := res.Snapshot.Gateways[0].Tokens[0]
	if len(tk.Findings) != 0 || len(tk.Suppressed) != 1 || tk.Suppressed[0].SnoozedBy != "U0ALICE01" || tk.Acknowledged == nil || len(res.Snapshot.Actions) != 1 {
		t.Errorf("with the actions: findings %+v, suppressed %+v, acknowledged %+v, actions %+v", tk.Findings, tk.Suppressed, tk.Acknowledged, res.Snapshot.Actions)
	}
	// Config suppressions win over snoozes.
	r = newRunner(world(), newMemStore(), nil)
	r.Suppressions = []audit.Suppression{{TokenID: "tk-1", Reason: "the config's"}}
	r.Actions = actionsReader{acts: acts}
	res, _ = r.Run(t.Context(), Options{Now: now})
	if sf := res.Snapshot.Gateways[0].Tokens[0].Suppressed; len(sf) != 1 || sf[0].Reason != "the config's" || sf[0].SnoozedBy != "" {
		t.Errorf("config and snooze: suppressed %+v, want the config's", sf)
	}
	// Actions that cannot be read: the run goes on without them, and
	// reports more, never less.
	r = newRunner(world(), newMemStore(), nil)
	r.Actions = actionsReader{err: errors.New("actions: read actions/state.1.json: 503")}
	res, err = r.Run(t.Context(), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if tk := res.Snapshot.Gateways[0].Tokens[0]; len(tk.Findings) != 1 || len(tk.Suppressed) != 0 {
		t.Errorf("unreadable actions: findings %+v, suppressed %+v; want the stale finding active", tk.Findings, tk.Suppressed)
	}
}

// Rendered is the Start of an artifact that renders at the end only
// (the tests' artifacts).
func Rendered(render func(w io.Writer, v View) error) func(time.Time) Rendering {
	return func(time.Time) Rendering { return atEnd(render) }
}

type atEnd func(w io.Writer, v View) error

func (atEnd) Gateway(audit.GatewayReport)        {}
func (r atEnd) Render(w io.Writer, v View) error { return r(w, v) }
func (atEnd) Close()                             {}
