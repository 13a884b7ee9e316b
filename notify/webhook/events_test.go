package webhook

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/audit/localstore"
	"livy-token-audit/notify"
)

// eventReceiver is a ticket system: it verifies each post with the
// Standard Webhooks reference library, refuses (503) the events whose
// token is in refuse, and keeps the webhook-id of every post by event.
type eventReceiver struct {
	mu     sync.Mutex
	wh     *standardwebhooks.Webhook
	refuse map[string]bool
	posts  map[string][]string // event id → webhook-ids posted
	bad    []string
}

func (rc *eventReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := rc.wh.VerifyIgnoringTimestamp(body, r.Header); err != nil {
		rc.bad = append(rc.bad, err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var b struct {
		Type string      `json:"type"`
		Data audit.Event `json:"data"`
	}
	if err := json.Unmarshal(body, &b); err != nil || !strings.HasPrefix(b.Type, "finding.") || b.Data.ID == "" || b.Data.Type != b.Type {
		rc.bad = append(rc.bad, "not an event post: "+string(body[:min(len(body), 200)]))
		http.Error(w, "not an event", http.StatusBadRequest)
		return
	}
	rc.posts[b.Data.ID] = append(rc.posts[b.Data.ID], r.Header.Get(IDHeader))
	if rc.refuse[b.Data.Token.ID] {
		http.Error(w, "later", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (rc *eventReceiver) sent() map[string][]string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string][]string{}
	for k, v := range rc.posts {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// eventsReport is report()'s slice with four findings' events: two
// opened, one escalated, one resolved.
func eventsReport() *audit.Snapshot {
	s := report().Snapshot
	sev := audit.SeverityHigh
	at := func(id, name string, r audit.Rule) audit.Change {
		return audit.Change{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1", TokenID: id, Name: name, Rule: r, Severity: &sev}
	}
	esc := at("tk-old", "old", audit.RuleExpired)
	esc.From = audit.RuleExpiring
	fixed := at("tk-ok", "fine", audit.RuleStale)
	fixed.How = audit.HowFixed
	s.Changes = &audit.Changes{Previous: &audit.PreviousRef{AuditedAt: t0.Add(-audit.Day)},
		New:       []audit.Change{at("tk-soon", "nightly", audit.RuleExpiring), at("tk-soon", "nightly", audit.RuleLongLived)},
		Escalated: []audit.Change{esc}, Resolved: []audit.Change{fixed}, Removed: []audit.Change{}, Unknown: []audit.Change{}}
	return s
}

// eventsDispatcher delivers to a webhook in events mode at url (attempts
// per post, timeout per request), claiming in a store on disk.
func eventsDispatcher(t *testing.T, url string, attempts int, timeout time.Duration) *notify.Dispatcher {
	t.Helper()
	w, err := New(Options{URL: url + hookPath, URLEnv: "TICKETS_URL", Secret: secret, Destination: "webhook:tickets", Events: true, Attempts: attempts,
		HTTPClient: NewHTTPClient(timeout), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	rt := &notify.Router{Routes: []notify.Route{{Destination: "webhook:tickets", Name: "tickets", Notify: "changes", Sender: w.Splitting()}}}
	return &notify.Dispatcher{Notifiers: []notify.Notifier{rt}, Claims: &localstore.Store{Dir: t.TempDir()}, Now: func() time.Time { return t0 }}
}

// In events mode each event is one post, claimed, retried and recorded
// on its own: a receiver that takes half of them gets the other half from
// the next attempt, each with the webhook-id it had, and never the half it
// took; a later run telling the same events again sends none of them.
func TestEventsAreDeliveredOneByOne(t *testing.T) {
	t.Parallel()
	lib, err := standardwebhooks.NewWebhookRaw([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	rc := &eventReceiver{wh: lib, refuse: map[string]bool{"tk-soon": true}, posts: map[string][]string{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	d := eventsDispatcher(t, srv.URL, 1, 2*time.Second)
	s := eventsReport()
	events := audit.Events(s)
	if len(events) != 4 {
		t.Fatalf("%d events, want 4", len(events))
	}
	run := delivery.Run{Key: audit.SnapshotKey(s.AuditedAt), RunID: s.RunID}
	deliver := func() delivery.Result {
		t.Helper()
		out := d.Report(t.Context(), run, s, delivery.Locations{})
		if len(out.Deliveries) != 1 {
			t.Fatalf("deliveries %+v", out.Deliveries)
		}
		return out.Deliveries[0]
	}

	first := deliver()
	if first.Status != delivery.StatusFailed || !strings.Contains(first.Detail, "2 of 4 parts sent") || !strings.Contains(first.Detail, "2 failed") {
		t.Fatalf("first attempt: %+v, want 2 of 4 sent, 2 failed; posts %v, bad %v", first, rc.sent(), rc.bad)
	}
	rc.mu.Lock()
	rc.refuse = nil // the receiver is back
	rc.mu.Unlock()
	second := deliver()
	if second.Status != delivery.StatusDelivered || !strings.Contains(second.Detail, "2 of 4 parts sent, 2 delivered earlier") {
		t.Fatalf("second attempt: %+v, want the 2 refused sent, 2 delivered earlier", second)
	}
	later := *s
	later.RunID, later.AuditedAt = "audit-20261128T090000Z", t0.Add(audit.Day)
	third := d.Report(t.Context(), delivery.Run{Key: audit.SnapshotKey(later.AuditedAt), RunID: later.RunID}, &later, delivery.Locations{}).Deliveries[0]
	if third.Status != delivery.StatusDelivered || !strings.Contains(third.Detail, "0 of 4 parts sent, 4 delivered earlier") {
		t.Errorf("a later run telling the same events: %+v, want none sent", third)
	}

	sent := rc.sent()
	if len(rc.bad) > 0 {
		t.Fatalf("the receiver refused posts: %v", rc.bad)
	}
	for _, ev := range events {
		ids := sent[ev.ID]
		want := 1
		if ev.Token.ID == "tk-soon" {
			want = 2 // refused once, then sent again
		}
		if len(ids) != want {
			t.Errorf("event %s (%s %s) posted %d times, want %d", ev.ID, ev.Type, ev.Token.ID, len(ids), want)
			continue
		}
		if id := EventDeliveryID("webhook:tickets", ev.ID); ids[0] != id || ids[len(ids)-1] != id {
			t.Errorf("event %s: webhook-ids %v, want %s on every post", ev.ID, ids, id)
		}
	}
}

// A post that went out whole and got no answer may have opened a ticket:
// it is never sent again, by this attempt or the next.
func TestUnansweredEventIsNotSentAgain(t *testing.T) {
	t.Parallel()
	lib, err := standardwebhooks.NewWebhookRaw([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	rc := &eventReceiver{wh: lib, posts: map[string][]string{}}
	hang := make(chan struct{})
	defer close(hang)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), `"finding.escalated"`) {
			rc.mu.Lock()
			rc.posts["hung"] = append(rc.posts["hung"], r.Header.Get(IDHeader))
			rc.mu.Unlock()
			select { // read whole, never answered
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		rc.ServeHTTP(w, r)
	}))
	defer srv.Close()
	d := eventsDispatcher(t, srv.URL, 3, 300*time.Millisecond)
	s := eventsReport()
	run := delivery.Run{Key: audit.SnapshotKey(s.AuditedAt), RunID: s.RunID}
	for range 2 {
		r := d.Report(t.Context(), run, s, delivery.Locations{}).Deliveries[0]
		if r.Status != delivery.StatusDelivered || !strings.Contains(r.Detail, "1 sent with no answer (not sent again)") {
			t.Fatalf("attempt: %+v, want delivered with one uncertain", r)
		}
	}
	if n := len(rc.sent()["hung"]); n != 1 {
		t.Errorf("the unanswered event was posted %d times, want once", n)
	}
}
