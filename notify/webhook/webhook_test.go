package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/notify"
)

const (
	hookPath = "/hooks/T0SECRETpath/4f9c2e1d"
	secret   = "whsec-SECRET-signing-key-31337"
)

// receiver is a JSON webhook receiver as the docs tell people to write
// one, written here from the documented scheme (not from Sign): it checks
// the method, the type, the timestamp (within 5 minutes of its clock) and
// the signature over the raw body, and refuses a signature it has seen
// before (a replay).
type receiver struct {
	mu       sync.Mutex
	now      func() time.Time
	seen     map[string]bool
	accepted [][]byte
	refused  []string
	calls    int
	// script answers the first calls with these statuses (0: go on).
	script []int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls++
	body, _ := io.ReadAll(r.Body)
	refuse := func(status int, why string) {
		rc.refused = append(rc.refused, why)
		http.Error(w, why, status)
	}
	if r.Method != http.MethodPost || r.URL.Path != hookPath || r.Header.Get("Content-Type") != "application/json" {
		refuse(http.StatusNotFound, "not a post to the hook")
		return
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-Livy-Audit-Timestamp"), 10, 64)
	if err != nil || rc.now().Sub(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		refuse(http.StatusUnauthorized, "stale or missing timestamp")
		return
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v1:" + strconv.FormatInt(ts, 10) + ":"))
	mac.Write(body)
	sig := r.Header.Get("X-Livy-Audit-Signature")
	if !hmac.Equal([]byte(sig), []byte("v1="+hex.EncodeToString(mac.Sum(nil)))) {
		refuse(http.StatusUnauthorized, "bad signature")
		return
	}
	if rc.seen[sig] {
		refuse(http.StatusConflict, "replayed")
		return
	}
	if len(rc.script) > 0 {
		status := rc.script[0]
		rc.script = rc.script[1:]
		if status != 0 {
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "0.5")
			}
			http.Error(w, "try later "+r.URL.Path, status)
			return
		}
	}
	rc.seen[sig] = true
	rc.accepted = append(rc.accepted, body)
	w.WriteHeader(http.StatusAccepted)
}

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	rc := &receiver{now: func() time.Time { return t0 }, seen: map[string]bool{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func newHook(t *testing.T, url string) *Webhook {
	t.Helper()
	w, err := New(Options{URL: url + hookPath, URLEnv: "TICKETS_URL", Secret: secret, Destination: "webhook:tickets",
		HTTPClient: NewHTTPClient(2 * time.Second), Now: func() time.Time { return t0 },
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// report is a slice with one expiring and one expired token, one clean
// token and one failed gateway.
func report() *notify.Report {
	exp := t0.Add(-24 * time.Hour)
	soon := t0.Add(3 * time.Hour)
	s := &audit.Snapshot{SchemaVersion: 1, Tool: audit.Tool{Name: "livy-token-audit", Version: "v1.2.3"}, RunID: "audit-20261127T090000Z", AuditedAt: t0,
		Verdict: audit.VerdictPartial, Summary: audit.Summary{Gateways: 2, GatewaysFailed: 1, Tokens: 3, Findings: map[audit.Rule]int{audit.RuleExpiring: 1, audit.RuleExpired: 1}},
		Gateways: []audit.GatewayReport{
			{Region: "cn-hangzhou", WorkspaceID: "w-1", WorkspaceName: "data", GatewayID: "lc-1", GatewayName: "etl", Tokens: []audit.TokenReport{
				{TokenID: "tk-old", Name: "old", ExpireTime: &exp, Findings: []audit.Finding{{Rule: audit.RuleExpired, Severity: audit.SeverityLow, Message: "expired 1d ago"}}},
				{TokenID: "tk-soon", Name: "nightly", ExpireTime: &soon, Findings: []audit.Finding{{Rule: audit.RuleExpiring, Severity: audit.SeverityHigh, Message: "expires in 3h"}}},
				{TokenID: "tk-ok", Name: "fine", Findings: []audit.Finding{}},
			}},
			{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-2", Error: &audit.APIError{Code: "ServiceUnavailable", Message: "later"}, Tokens: []audit.TokenReport{}},
		},
		Changes: &audit.Changes{New: []audit.Change{{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1", TokenID: "tk-soon", Name: "nightly", Rule: audit.RuleExpiring}},
			Escalated: []audit.Change{}, Resolved: []audit.Change{}, Removed: []audit.Change{}, Unknown: []audit.Change{}},
	}
	return &notify.Report{Destination: "webhook:tickets", Digest: notify.NewDigest(s, delivery.Locations{Snapshot: "oss://x.json", Page: "oss://x.html"})}
}

// One signed post, with the contract's fields; the receiver verifies it,
// and refuses the same request sent again.
func TestPostIsSignedAndCarriesTheSlice(t *testing.T) {
	t.Parallel()
	rc, srv := newReceiver(t)
	w := newHook(t, srv.URL)
	if err := w.Send(t.Context(), report()); err != nil {
		t.Fatal(err)
	}
	if len(rc.accepted) != 1 || len(rc.refused) != 0 {
		t.Fatalf("accepted %d, refused %v", len(rc.accepted), rc.refused)
	}
	var body struct {
		SchemaVersion int                `json:"schemaVersion"`
		Event         string             `json:"event"`
		Tool          audit.Tool         `json:"tool"`
		RunID         string             `json:"runId"`
		AuditedAt     time.Time          `json:"auditedAt"`
		Destination   string             `json:"destination"`
		Coverage      map[string]any     `json:"coverage"`
		Summary       audit.Summary      `json:"summary"`
		Changes       *audit.Changes     `json:"changes"`
		Tokens        []notify.TokenLine `json:"tokens"`
		Failures      []notify.Failure   `json:"failures"`
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(rc.accepted[0], &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schemaVersion", "tool", "runId", "auditedAt", "destination", "coverage", "summary", "changes", "tokens"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("the body has no %q", k)
		}
	}
	if err := json.Unmarshal(rc.accepted[0], &body); err != nil {
		t.Fatal(err)
	}
	if body.SchemaVersion != 1 || body.Event != "report" || body.RunID != "audit-20261127T090000Z" || !body.AuditedAt.Equal(t0) ||
		body.Destination != "webhook:tickets" || body.Tool.Version != "v1.2.3" || body.Summary.GatewaysFailed != 1 || len(body.Changes.New) != 1 {
		t.Errorf("body: %+v", body)
	}
	if body.Coverage["verdict"] != "partial" || body.Coverage["gatewaysFailed"] != float64(1) || !strings.Contains(fmt.Sprint(body.Coverage["text"]), "1/2 gateways") {
		t.Errorf("coverage: %v", body.Coverage)
	}
	// The flagged tokens only, the most severe first, with their gateway.
	if len(body.Tokens) != 2 || body.Tokens[0].TokenID != "tk-soon" || body.Tokens[1].TokenID != "tk-old" || body.Tokens[0].GatewayName != "etl" {
		t.Errorf("tokens: %+v", body.Tokens)
	}
	if len(body.Failures) != 1 || body.Failures[0].Code != "ServiceUnavailable" {
		t.Errorf("failures: %+v", body.Failures)
	}
	// A replay of the same request is refused by the receiver.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+hookPath, bytes.NewReader(rc.accepted[0]))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TimestampHeader, strconv.FormatInt(t0.Unix(), 10))
	req.Header.Set(SignatureHeader, Sign(secret, t0.Unix(), rc.accepted[0]))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || len(rc.accepted) != 1 {
		t.Errorf("replay: HTTP %d, %d accepted; want 409 and still 1", resp.StatusCode, len(rc.accepted))
	}
	// Verify agrees with the receiver, and refuses a stale timestamp or a
	// changed body.
	ts := strconv.FormatInt(t0.Unix(), 10)
	sig := Sign(secret, t0.Unix(), rc.accepted[0])
	if err := Verify(secret, ts, sig, rc.accepted[0], t0.Add(time.Minute)); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if Verify(secret, ts, sig, rc.accepted[0], t0.Add(6*time.Minute)) == nil || Verify(secret, ts, sig, append([]byte(" "), rc.accepted[0]...), t0) == nil {
		t.Error("Verify accepted a stale timestamp or a changed body")
	}
}

// A receiver whose clock is 6 minutes ahead refuses the post: the
// timestamp is checked, and a refusal (401) is not retried.
func TestStalePostIsRefused(t *testing.T) {
	t.Parallel()
	rc, srv := newReceiver(t)
	rc.now = func() time.Time { return t0.Add(6 * time.Minute) }
	err := newHook(t, srv.URL).Send(t.Context(), report())
	if err == nil || rc.calls != 1 || len(rc.accepted) != 0 || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("got %v after %d calls; want one refused call", err, rc.calls)
	}
}

// 408, 429 (after its Retry-After) and 5xx are retried; another 4xx is
// not; every error is free of the URL and the secret.
func TestRetries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		script []int
		calls  int
		ok     bool
	}{
		{[]int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusRequestTimeout}, 4, true},
		{[]int{http.StatusBadRequest}, 1, false},
		{[]int{500, 500, 500, 500}, 4, false},
	} {
		rc, srv := newReceiver(t)
		rc.script = tc.script
		err := newHook(t, srv.URL).Send(t.Context(), report())
		if (err == nil) != tc.ok || rc.calls != tc.calls {
			t.Errorf("%v: got %v after %d calls, want ok=%v after %d", tc.script, err, rc.calls, tc.ok, tc.calls)
		}
		if err != nil && (strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), hookPath) || strings.Contains(err.Error(), "4f9c2e1d")) {
			t.Errorf("the error leaks the URL: %v", err)
		}
	}
}

// A redirect is refused (it would carry the post elsewhere), and an http
// URL is refused unless it is on loopback; no error repeats the URL.
func TestTransportRules(t *testing.T) {
	t.Parallel()
	other, _ := newReceiver(t)
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	redir := httptest.NewServer(http.RedirectHandler(otherSrv.URL+hookPath, http.StatusTemporaryRedirect))
	defer redir.Close()
	err := newHook(t, redir.URL).Send(t.Context(), report())
	if err == nil || !strings.Contains(err.Error(), "redirect") || other.calls != 0 {
		t.Errorf("redirect: got %v, %d calls elsewhere", err, other.calls)
	}
	for _, u := range []string{"http://tickets.example.com/hooks/T0SECRETpath", "ftp://x/T0SECRETpath", "::not a url T0SECRETpath"} {
		_, err := New(Options{URL: u, URLEnv: "TICKETS_URL", Secret: secret, HTTPClient: NewHTTPClient(time.Second)})
		if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "TICKETS_URL") {
			t.Errorf("%s: got %v, want a refusal naming the variable, not the URL", u, err)
		}
	}
}

// The body stays within MaxBodyBytes: the least severe tokens are left
// out and counted, never the counts.
func TestBodyIsCapped(t *testing.T) {
	t.Parallel()
	r := report()
	g := &r.Snapshot.Gateways[0]
	for i := range 20000 {
		sev := audit.SeverityMedium
		if i%1000 == 0 {
			sev = audit.SeverityCritical
		}
		g.Tokens = append(g.Tokens, audit.TokenReport{TokenID: fmt.Sprintf("tk-%05d", i), Name: strings.Repeat("n", 40),
			Findings: []audit.Finding{{Rule: audit.RuleStale, Severity: sev, Message: "last used 90d ago"}}})
	}
	r.Digest = notify.NewDigest(r.Snapshot, r.Locations) // the slice changed: its digest is built again
	b, err := Render(r, "webhook:tickets")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Tokens        []notify.TokenLine `json:"tokens"`
		TokensOmitted int                `json:"tokensOmitted"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxBodyBytes || body.TokensOmitted == 0 || len(body.Tokens)+body.TokensOmitted != 20002 {
		t.Fatalf("%d bytes, %d tokens + %d omitted", len(b), len(body.Tokens), body.TokensOmitted)
	}
	for i := range 20 {
		if body.Tokens[i].Findings[0].Severity != audit.SeverityCritical {
			t.Fatalf("token %d is %v: the most severe do not come first", i, body.Tokens[i].Findings[0].Severity)
		}
	}
}

// A failure notice is a post of its own kind, signed like a report.
func TestFailureNotice(t *testing.T) {
	t.Parallel()
	rc, srv := newReceiver(t)
	err := newHook(t, srv.URL).SendFailure(t.Context(), delivery.FailureNotice{Tool: audit.Tool{Name: "livy-token-audit"}, RunID: "audit-x", AuditedAt: t0,
		Cause: "write snapshot: oss: AccessDenied\n\x1b[31m"})
	if err != nil || len(rc.accepted) != 1 {
		t.Fatalf("got %v, %d accepted", err, len(rc.accepted))
	}
	var body struct {
		Event   string `json:"event"`
		Failure struct {
			Cause string `json:"cause"`
		} `json:"failure"`
	}
	if err := json.Unmarshal(rc.accepted[0], &body); err != nil || body.Event != "failure" || !strings.HasPrefix(body.Failure.Cause, "write snapshot: oss: AccessDenied") ||
		strings.ContainsAny(body.Failure.Cause, "\n\x1b") {
		t.Errorf("got %s (%v)", rc.accepted[0], err)
	}
}

// A receiver that takes the post but answers after the client's time: the
// post is uncertain, and not sent again (at most once).
func TestSlowReceiverGetsOnePost(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer srv.Close()
	w := newHook(t, srv.URL)
	w.o.HTTPClient = NewHTTPClient(200 * time.Millisecond)
	err := w.Send(t.Context(), report())
	var ue *notify.UncertainError
	if !errors.As(err, &ue) || calls.Load() != 1 || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("got %v after %d calls; want one post, uncertain", err, calls.Load())
	}
}
