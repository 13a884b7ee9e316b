package notify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/internal/audittest"
)

// memClaims is a ClaimStore in memory, with the store's semantics: Create
// refuses an existing key, Get of a missing one wraps fs.ErrNotExist.
type memClaims struct {
	mu      sync.Mutex
	objects map[string][]byte
}

func (m *memClaims) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, fs.ErrNotExist)
	}
	return b, nil
}

func (m *memClaims) Create(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[key]; ok {
		return fmt.Errorf("create %s: %w", key, fs.ErrExist)
	}
	m.objects[key] = data
	return nil
}

func (m *memClaims) Put(_ context.Context, key string, content func(io.Writer) error) error {
	var b bytes.Buffer
	if err := content(&b); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = b.Bytes()
	return nil
}

// recSender records what it is sent.
type recSender struct{ sent []*Report }

func (r *recSender) Send(_ context.Context, rep *Report) error {
	r.sent = append(r.sent, rep)
	return nil
}
func (r *recSender) SendFailure(context.Context, delivery.FailureNotice) error { return nil }
func (r *recSender) String() string                                            { return "rec" }

var day0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// ledgerDay is the audit of day d of one gateway with one token expiring
// on day 20 (its 14-day stage comes on day 6), compared with the audit of
// day d-1; its snapshot is stored.
func ledgerDay(st *memClaims, d int) *audit.Snapshot {
	at := day0.Add(time.Duration(d) * audit.Day)
	ref := audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1"}
	p := audit.DefaultPolicy()
	p.ExpiryStages = []time.Duration{30 * audit.Day, 14 * audit.Day}
	build := func(at time.Time) *audit.Snapshot {
		tok := audit.Token{ID: "tk-1", Name: "nightly", CreatedBy: "alice", CreateTime: day0.Add(-90 * audit.Day), LastUsedTime: at, ExpireTime: day0.Add(20 * audit.Day)}
		return audittest.BuildSnapshot(audittest.Collection{Gateways: []audit.GatewayResult{{Ref: ref, Tokens: []audit.Token{tok}}}},
			audit.Evaluation{Now: at, Policy: p, Scope: audit.ScopeReport{Regions: []string{"cn-hangzhou"}}})
	}
	s := build(at)
	var prev *audit.Baseline
	if d > 0 {
		prev = audit.NextBaseline(nil, build(at.Add(-audit.Day)))
	}
	audit.Compare(s, prev, nil, 0)
	var b bytes.Buffer
	_ = s.Write(&b)
	st.objects[audit.SnapshotKey(at)] = b.Bytes()
	return s
}

// A route whose last report was of day 3 is told, on day 7, the stage the
// token entered on day 6 (while its posts failed), though the main report,
// told of day 6, has nothing new; both ledgers then name day 7.
func TestLedgerCarriesWhatARouteWasNotTold(t *testing.T) {
	t.Parallel()
	st := &memClaims{objects: map[string][]byte{}}
	for d := 0; d < 7; d++ {
		ledgerDay(st, d)
	}
	s := ledgerDay(st, 7)
	main, route := &recSender{}, &recSender{}
	rt := &Router{Notify: "changes", Main: main, Routes: []Route{{Destination: "slack:route:team", Name: "team", Notify: "changes", Sender: route}}}
	d := &Dispatcher{Notifiers: []Notifier{rt}, Claims: st, Now: func() time.Time { return s.AuditedAt }}
	write := func(dest string, day int) {
		at := day0.Add(time.Duration(day) * audit.Day)
		st.objects[LedgerKey(dest)] = fmt.Appendf(nil, `{"schemaVersion":1,"destination":%q,"key":%q,"auditedAt":%q,"runId":"x"}`, dest, audit.SnapshotKey(at), at.Format(time.RFC3339))
	}
	write(MainDestination, 6)
	write("slack:route:team", 3)

	out := d.Report(t.Context(), delivery.Run{Key: audit.SnapshotKey(s.AuditedAt), RunID: s.RunID, Ledger: true, Ledgered: true}, s, delivery.Locations{})
	if len(main.sent) != 0 || len(route.sent) != 1 {
		t.Fatalf("sent %d to main, %d to the route; want 0 and 1 (%+v)", len(main.sent), len(route.sent), out.Deliveries)
	}
	c := route.sent[0].Snapshot.Changes
	if len(c.Escalated) != 1 || c.Escalated[0].Stage != "14d" || c.Previous == nil || !c.Previous.AuditedAt.Equal(day0.Add(3*audit.Day)) || c.Note == "" {
		t.Errorf("the route's changes: %+v, want the 14d stage since day 3, with a note", c)
	}
	for _, dest := range []string{MainDestination, "slack:route:team"} {
		if b := st.objects[LedgerKey(dest)]; !bytes.Contains(b, []byte(audit.SnapshotKey(s.AuditedAt))) {
			t.Errorf("%s's ledger: %s, want day 7", dest, b)
		}
	}
	// Not backwards: day 5 run again moves neither.
	ledgerDay(st, 5)
	old := ledgerDay(st, 5)
	d.Report(t.Context(), delivery.Run{Key: audit.SnapshotKey(old.AuditedAt), RunID: old.RunID, Ledger: true, Ledgered: true}, old, delivery.Locations{})
	if b := st.objects[LedgerKey(MainDestination)]; !bytes.Contains(b, []byte(audit.SnapshotKey(s.AuditedAt))) {
		t.Errorf("an older run moved the ledger back: %s", b)
	}
}

// What a destination was told, by the state of its ledger.
func TestLedgerTold(t *testing.T) {
	t.Parallel()
	const dest = "slack:route:team"
	tests := []struct {
		name     string
		ledger   string // "" for none
		ledgered bool
		want     string // "current", "base" or a part of Lost
	}{
		{"none, from a release without ledgers", "", false, "current"},
		{"none", "", true, "no earlier report to this destination is recorded"},
		{"garbage", "{not json", true, "unreadable"},
		{"empty", " ", true, "unreadable"},
		{"another destination's", `{"destination":"slack","key":"2026/11/28/20261128T090000Z.json","auditedAt":"2026-11-28T09:00:00Z"}`, true, "unreadable"},
		{"dated ahead of the clock", `{"destination":"` + dest + `","key":"2099/01/01/20990101T000000Z.json","auditedAt":"2099-01-01T00:00:00Z"}`, true, "unreadable"},
		{"the previous audit", `{"destination":"` + dest + `","key":"2026/12/03/20261203T090000Z.json","auditedAt":"2026-12-03T09:00:00Z"}`, true, "current"},
		{"an earlier audit", `{"destination":"` + dest + `","key":"2026/11/28/20261128T090000Z.json","auditedAt":"2026-11-28T09:00:00Z"}`, true, "base"},
		{"naming baseline.json", `{"destination":"` + dest + `","key":"baseline.json","auditedAt":"2026-11-28T09:00:00Z"}`, true, "unreadable"},
		{"naming latest.json", `{"destination":"` + dest + `","key":"latest.json","auditedAt":"2026-11-28T09:00:00Z"}`, true, "unreadable"},
		{"naming a narrowed run's snapshot", `{"destination":"` + dest + `","key":"2026/11/28/20261128T090000Z.1a2b3c4d.json","auditedAt":"2026-11-28T09:00:00Z"}`, true, "unreadable"},
		{"naming another audit time's snapshot", `{"destination":"` + dest + `","key":"2026/11/27/20261127T090000Z.json","auditedAt":"2026-11-28T09:00:00Z"}`, true, "unreadable"},
		{"an earlier audit whose snapshot is gone", `{"destination":"` + dest + `","key":"2026/11/20/20261120T090000Z.json","auditedAt":"2026-11-20T09:00:00Z"}`, true, "cannot be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := &memClaims{objects: map[string][]byte{}}
			for d := 0; d < 7; d++ {
				ledgerDay(st, d)
			}
			s := ledgerDay(st, 7)
			if tt.ledger != "" {
				st.objects[LedgerKey(dest)] = []byte(tt.ledger)
			}
			d := &Dispatcher{Claims: st, Now: func() time.Time { return s.AuditedAt }}
			told := d.ledger(t.Context(), delivery.Run{Key: audit.SnapshotKey(s.AuditedAt), Ledger: true, Ledgered: tt.ledgered}, s).Told(dest)
			got := "current"
			switch {
			case told.Lost != "":
				got = told.Lost
			case told.Base != nil:
				got = "base"
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
