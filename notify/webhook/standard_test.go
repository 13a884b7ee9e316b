package webhook

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The signature is the specification's: its published test vector.
func TestStandardSignatureVector(t *testing.T) {
	t.Parallel()
	key, err := StandardKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := SignStandard(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("SignStandard = %s, want the specification's %s", got, want)
	}
	if _, err := StandardKey("whsec_not base64!"); err == nil {
		t.Error("a whsec_ secret that is not base64 was taken")
	}
}

// idReceiver verifies each post with the specification's reference Go
// library and keeps the webhook-ids it accepted, as the docs tell a
// receiver to deduplicate.
type idReceiver struct {
	mu       sync.Mutex
	wh       *standardwebhooks.Webhook
	ids      []string
	accepted int
	script   []int
	refused  []string
}

func (rc *idReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	if err := rc.wh.VerifyIgnoringTimestamp(body, r.Header); err != nil {
		rc.refused = append(rc.refused, err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	rc.ids = append(rc.ids, r.Header.Get(IDHeader))
	if len(rc.script) > 0 {
		status := rc.script[0]
		rc.script = rc.script[1:]
		http.Error(w, "later", status)
		return
	}
	rc.accepted++
	w.WriteHeader(http.StatusNoContent)
}

// Every post verifies with the reference library — a whsec_ secret
// base64-decoded, any other as its bytes — and a resend of one delivery
// (a retry after a 503, or the same report sent again) keeps its
// webhook-id, while another destination, kind or run has another.
func TestStandardWebhooks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, secret string
		wh           func(string) (*standardwebhooks.Webhook, error)
	}{
		{"whsec_ secret", "whsec_" + base64.StdEncoding.EncodeToString([]byte("a-SECRET-key-of-thirty-two-bytes")), standardwebhooks.NewWebhook},
		{"plain secret", secret, func(s string) (*standardwebhooks.Webhook, error) { return standardwebhooks.NewWebhookRaw([]byte(s)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lib, err := tc.wh(tc.secret)
			if err != nil {
				t.Fatal(err)
			}
			rc := &idReceiver{wh: lib, script: []int{http.StatusServiceUnavailable}}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			w, err := New(Options{URL: srv.URL + hookPath, URLEnv: "TICKETS_URL", Secret: tc.secret, Destination: "webhook:tickets",
				HTTPClient: NewHTTPClient(2 * time.Second), Now: func() time.Time { return t0 },
				Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Send(t.Context(), report()); err != nil {
				t.Fatal(err)
			}
			if err := w.Send(t.Context(), report()); err != nil { // the run retried: the same delivery
				t.Fatal(err)
			}
			if len(rc.refused) != 0 || len(rc.ids) != 3 || rc.ids[0] != rc.ids[1] || rc.ids[1] != rc.ids[2] {
				t.Fatalf("refused %v, ids %v; want three posts of one delivery, one webhook-id", rc.refused, rc.ids)
			}
			if id := rc.ids[0]; id != DeliveryID("audit-20261127T090000Z", "webhook:tickets", "report") {
				t.Errorf("webhook-id %s", id)
			}
		})
	}
	ids := map[string]bool{}
	for _, id := range []string{DeliveryID("audit-20261127T090000Z", "webhook:tickets", "report"), DeliveryID("audit-20261127T090000Z", "webhook:tickets", "failure"),
		DeliveryID("audit-20261127T090000Z", "webhook:other", "report"), DeliveryID("audit-20261128T090000Z", "webhook:tickets", "report"),
		DeliveryID("audit-20261127T090000Z.1a2b3c4d", "webhook:tickets", "report")} {
		ids[id] = true
	}
	if len(ids) != 5 {
		t.Errorf("delivery IDs of distinct deliveries collide: %v", ids)
	}
}

// VerifyHeaders takes either scheme, and refuses a changed body, a stale
// timestamp and a signature of another id.
func TestVerifyHeadersTakesBothSchemes(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event":"report"}`)
	ts := t0.Unix()
	key, _ := StandardKey(secret)
	standard := http.Header{}
	standard.Set(IDHeader, "msg_1")
	standard.Set(StandardTimestampHeader, strconv.FormatInt(ts, 10))
	standard.Set(StandardSignatureHeader, "v1,bm90LWl0 "+SignStandard(key, "msg_1", ts, body))
	ours := http.Header{}
	ours.Set(TimestampHeader, strconv.FormatInt(ts, 10))
	ours.Set(SignatureHeader, Sign(secret, ts, body))
	for _, h := range []http.Header{standard, ours} {
		if err := VerifyHeaders(secret, h, body, t0); err != nil {
			t.Errorf("a good post refused: %v", err)
		}
		if err := VerifyHeaders(secret, h, []byte(`{"event":"other"}`), t0); err == nil {
			t.Error("a changed body accepted")
		}
		if err := VerifyHeaders(secret, h, body, t0.Add(6*time.Minute)); err == nil {
			t.Error("a stale timestamp accepted")
		}
	}
	other := standard.Clone()
	other.Set(IDHeader, "msg_2")
	if err := VerifyHeaders(secret, other, body, t0); err == nil {
		t.Error("a signature made for another webhook-id accepted")
	}
}
