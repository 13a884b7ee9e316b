// Package webhook is a generic JSON webhook sink, for ticketing and
// alerting systems (an EventBridge HTTP source, an automation webhook): one
// signed POST per run and destination, with the flagged tokens of its
// slice. It renders and posts; routing, claims and retries of the whole
// delivery are notify's.
//
// The body is JSON (Content-Type: application/json):
//
//	{schemaVersion, event: "report", tool, runId, auditedAt, destination,
//	 coverage, summary, changes, tokens, tokensOmitted, failures, links}
//
// or, for a run that could not do its job, {schemaVersion, event:
// "failure", tool, runId, auditedAt, destination, failure: {cause}}. It
// never holds a token's secret value.
//
// Every post is signed twice. As the Standard Webhooks specification
// defines it: webhook-id names the delivery (the same on every resend of
// one delivery: one run's report or failure notice to one destination, so
// a receiver deduplicates by it), webhook-timestamp is Unix seconds, and
// webhook-signature is "v1," and the base64 HMAC-SHA256 of
// "{id}.{timestamp}.{body}", keyed by the secret (a "whsec_" secret is
// base64-decoded first, as the specification's libraries do; any other is
// taken as its bytes). And, as earlier releases did: X-Livy-Audit-Timestamp
// is Unix seconds, and X-Livy-Audit-Signature is "v1=" followed by the hex
// HMAC-SHA256, keyed by the secret, of "v1:{timestamp}:{body}". A receiver
// recomputes either over the raw body, compares it in constant time, and
// refuses a timestamp more than five minutes from its clock
// (VerifyHeaders does all of that for both; Verify for the second).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/audit/safehttp"
	"livy-token-audit/internal/retry"
	"livy-token-audit/internal/scrub"
	"livy-token-audit/notify"
)

// Headers of a signed post.
const (
	TimestampHeader = "X-Livy-Audit-Timestamp"
	SignatureHeader = "X-Livy-Audit-Signature"
	// The Standard Webhooks headers.
	IDHeader                = "webhook-id"
	StandardTimestampHeader = "webhook-timestamp"
	StandardSignatureHeader = "webhook-signature"
)

// MaxBodyBytes caps a post's body: past it, the least urgent tokens are
// left out (counted in tokensOmitted), never the counts or the failures.
const MaxBodyBytes = 1 << 20

// MaxSkew is how far from the receiver's clock a signed timestamp may be.
const MaxSkew = 5 * time.Minute

// Options configure a Webhook.
type Options struct {
	// URL is where posts go: https, or http on loopback (tests and local
	// stand-ins).
	URL string
	// URLEnv names the environment variable the URL came from, for
	// messages (which never repeat the URL).
	URLEnv string
	// Secret keys the signature.
	Secret string
	// Destination is the delivery's name ("webhook:tickets"), in the body.
	Destination string
	// Events posts one post per finding event (webhooks[].mode: events)
	// instead of one per run.
	Events bool
	// HTTPClient must not follow redirects: NewHTTPClient.
	HTTPClient *http.Client
	// Retrier retries 408, 429, 5xx and network failures; MaxAttempts…
	Attempts int
	// Sleep waits between attempts (nil: the real wait); Now is the clock
	// of the signatures (nil: time.Now).
	Sleep  func(ctx context.Context, d time.Duration) error
	Now    func() time.Time
	Logger *slog.Logger
}

// Webhook is one JSON webhook destination; it implements notify.Sender.
type Webhook struct {
	o        Options
	key      []byte // the Standard Webhooks key
	scrubber scrub.Scrubber
}

var _ notify.Sender = (*Webhook)(nil)

// NewHTTPClient is the client posts go through: no redirects (a redirect
// would carry the post, and the URL's secrets, elsewhere), the given time
// bound per request, answers read up to 64 KiB.
func NewHTTPClient(timeout time.Duration) *http.Client {
	return safehttp.NewClient(safehttp.Options{Timeout: timeout, MaxBody: 64 << 10, MaxConnsPerHost: 2})
}

// New returns a webhook destination. It makes no call. Its errors never
// repeat the URL.
func New(o Options) (*Webhook, error) {
	u, err := url.Parse(o.URL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, fmt.Errorf("webhook: %s is not an https URL", o.URLEnv)
	case u.Scheme == "http" && !safehttp.Loopback(u.Hostname()):
		return nil, fmt.Errorf("webhook: %s is an http URL: posts carry the audit's findings, so it must be https (http is accepted on loopback only)", o.URLEnv)
	case o.Secret == "":
		return nil, errors.New("webhook: no signing secret")
	case o.HTTPClient == nil:
		return nil, errors.New("webhook: no HTTP client")
	}
	key, err := StandardKey(o.Secret)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	secrets := []string{o.URL, o.Secret, u.Path}
	if u.RawQuery != "" {
		secrets = append(secrets, u.RawQuery)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= 8 {
			secrets = append(secrets, seg)
		}
	}
	return &Webhook{o: o, key: key, scrubber: scrub.New(secrets...)}, nil
}

// StandardKey is the Standard Webhooks key of a secret: a "whsec_" one
// base64-decoded, any other as its bytes.
func StandardKey(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return []byte(secret), nil
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook: the secret starts with whsec_ but the rest is not base64 (Standard Webhooks secrets are whsec_ and base64)")
	}
	return key, nil
}

// DeliveryID is the webhook-id of one delivery: the same for every send of
// kind ("report" or "failure") of a run to a destination.
func DeliveryID(runID, destination, kind string) string {
	sum := sha256.Sum256([]byte("livy-token-audit delivery\x00" + runID + "\x00" + destination + "\x00" + kind))
	return "msg_" + hex.EncodeToString(sum[:16])
}

// EventDeliveryID is the webhook-id of one finding event's post to a
// destination: the same in every run that sends it.
func EventDeliveryID(destination, eventID string) string {
	sum := sha256.Sum256([]byte("livy-token-audit event delivery\x00" + destination + "\x00" + eventID))
	return "msg_" + hex.EncodeToString(sum[:16])
}

// String describes the destination without its secret.
func (w *Webhook) String() string { return "JSON webhook (" + w.o.URLEnv + ")" }

// events is a Webhook in events mode: one post per finding event, each
// claimed, retried and recorded on its own (notify.Splitter).
type events struct{ *Webhook }

var _ notify.Splitter = events{}

// Splitting is the webhook as notify delivers it: in parts (one per
// event) in events mode, whole otherwise.
func (w *Webhook) Splitting() notify.Sender {
	if w.o.Events {
		return events{w}
	}
	return w
}

// Parts are the report's events, one post each.
func (e events) Parts(r *notify.Report) ([]notify.Part, error) {
	var out []notify.Part
	for _, ev := range r.Events {
		body, err := RenderEvent(r, e.o.Destination, ev)
		if err != nil {
			return nil, fmt.Errorf("webhook: %w", err)
		}
		id := EventDeliveryID(e.o.Destination, ev.ID)
		out = append(out, notify.Part{ID: ev.ID, Send: func(ctx context.Context) error { return e.post(ctx, id, body) }})
	}
	return out, nil
}

// Send posts a report.
func (w *Webhook) Send(ctx context.Context, r *notify.Report) error {
	body, err := Render(r, w.o.Destination)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	return w.post(ctx, DeliveryID(r.Snapshot.RunID, w.o.Destination, "report"), body)
}

// SendFailure posts the notice of a run that could not do its job.
func (w *Webhook) SendFailure(ctx context.Context, f delivery.FailureNotice) error {
	body, err := json.Marshal(failureBody{SchemaVersion: SchemaVersion, Event: "failure", Tool: f.Tool, RunID: f.RunID, AuditedAt: f.AuditedAt,
		Destination: w.o.Destination, Failure: failure{Cause: notify.Clean(audit.Truncate(f.Cause, 2000))}})
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	return w.post(ctx, DeliveryID(f.RunID, w.o.Destination, "failure"), body)
}

// SignStandard returns the Standard Webhooks signature of body with id at
// timestamp ts under key: "v1," and the base64 HMAC-SHA256 of
// "{id}.{ts}.{body}".
func SignStandard(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, ts)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// VerifyHeaders checks a post as a receiver should, by whichever scheme
// its headers carry: Standard Webhooks (webhook-id, webhook-timestamp,
// webhook-signature, any of its space-separated v1 signatures), or
// X-Livy-Audit-Timestamp and X-Livy-Audit-Signature (Verify). The
// timestamp must be within MaxSkew of now.
func VerifyHeaders(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get(IDHeader), h.Get(StandardTimestampHeader), h.Get(StandardSignatureHeader)
	if id == "" && ts == "" && sigs == "" {
		return Verify(secret, h.Get(TimestampHeader), h.Get(SignatureHeader), body, now)
	}
	t, err := checkTimestamp(ts, now)
	if err != nil {
		return err
	}
	key, err := StandardKey(secret)
	if err != nil {
		return err
	}
	want := SignStandard(key, id, t, body)
	for _, sig := range strings.Fields(sigs) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("webhook: the signature does not match")
}

func checkTimestamp(timestamp string, now time.Time) (int64, error) {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return 0, errors.New("webhook: the timestamp is not Unix seconds")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > MaxSkew || d < -MaxSkew {
		return 0, errors.New("webhook: the timestamp is more than 5 minutes from the clock (a replay?)")
	}
	return ts, nil
}

// Sign returns the signature of body at timestamp ts under secret: "v1="
// and the hex HMAC-SHA256 of "v1:{ts}:{body}".
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v1:%d:", ts)
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a post as a receiver should: the timestamp is within
// MaxSkew of now, and the signature is the body's under secret (compared
// in constant time).
func Verify(secret, timestamp, signature string, body []byte, now time.Time) error {
	ts, err := checkTimestamp(timestamp, now)
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature)) {
		return errors.New("webhook: the signature does not match")
	}
	return nil
}

// post signs and posts a body, retrying 408, 429, 5xx and network
// failures within the context's deadline.
func (w *Webhook) post(ctx context.Context, id string, body []byte) error {
	r := retry.Retrier{Attempts: w.o.Attempts, Base: time.Second, Max: 30 * time.Second, Sleep: w.o.Sleep}
	attempt := 0
	err := r.Do(ctx, retryable, func() error {
		attempt++
		err := w.once(ctx, id, body)
		if ok, _ := retryable(err); err != nil && ok {
			w.o.Logger.Warn("webhook: post failed", "destination", w.o.Destination, "attempt", attempt, "error", w.scrub(err.Error()))
		}
		return err
	})
	if err != nil {
		return w.scrubber.Err(fmt.Errorf("webhook: post: %w", err))
	}
	return nil
}

func (w *Webhook) once(ctx context.Context, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("build request: invalid webhook URL")
	}
	ts := w.o.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TimestampHeader, strconv.FormatInt(ts, 10))
	req.Header.Set(SignatureHeader, Sign(w.o.Secret, ts, body))
	req.Header.Set(IDHeader, id)
	req.Header.Set(StandardTimestampHeader, strconv.FormatInt(ts, 10))
	req.Header.Set(StandardSignatureHeader, SignStandard(w.key, id, ts, body))
	sctx, sent := safehttp.WithSent(ctx)
	resp, err := w.o.HTTPClient.Do(req.WithContext(sctx))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // *url.Error repeats the URL, which may hold a secret
		}
		if sent.Whole() && !safehttp.Answered(err) {
			// The receiver may have acted on it: it is not sent again.
			return &notify.UncertainError{Err: err}
		}
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &safehttp.StatusError{Status: resp.StatusCode, RetryAfter: safehttp.RetryAfter(resp.Header.Get("Retry-After"))}
	if excerpt := audit.Truncate(notify.Clean(w.scrub(strings.TrimSpace(string(b)))), 60); excerpt != "" && !strings.HasPrefix(excerpt, "<") {
		e.Detail = "(body: " + excerpt + ")" // an HTML page: the status says enough
	}
	return e
}

// retryable: 408, 429 (after its Retry-After), 5xx and network failures;
// any other 4xx is the receiver refusing the post, and is not retried.
func retryable(err error) (bool, time.Duration) {
	var se *safehttp.StatusError
	var ne net.Error
	switch {
	case err == nil, errors.As(err, new(*notify.UncertainError)):
		return false, 0 // an uncertain post is never sent again blindly
	case errors.As(err, &se):
		switch {
		case se.Status == http.StatusTooManyRequests:
			return true, max(se.RetryAfter, time.Second)
		case se.Status == http.StatusRequestTimeout || se.Status >= 500:
			return true, 0
		}
		return false, 0
	case errors.Is(err, context.Canceled), errors.As(err, new(*safehttp.RedirectError)):
		return false, 0
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF):
		return true, 0
	}
	return false, 0
}

// scrub removes the URL, its path and query, the secret, and whatever has
// a secret's shape from text.
func (w *Webhook) scrub(s string) string { return w.scrubber.Text(s) }

// pingBody is the body of a webhook.ping: no findings, only who asks and
// when, so that a receiver can answer it like any post.
type pingBody struct {
	SchemaVersion int        `json:"schemaVersion"`
	Type          string     `json:"type"`
	Event         string     `json:"event"`
	Tool          audit.Tool `json:"tool"`
	RunID         string     `json:"runId"`
	At            time.Time  `json:"at"`
	Destination   string     `json:"destination"`
}

// PingEvent is the ping's type (and event).
const PingEvent = "webhook.ping"

// Ping posts one signed webhook.ping, once (not retried): a 2xx answer
// says that the receiver takes the posts and their signatures. Its error
// is a *safehttp.StatusError for any other answer.
func (w *Webhook) Ping(ctx context.Context, tool audit.Tool, runID string) error {
	body, err := json.Marshal(pingBody{SchemaVersion: SchemaVersion, Type: PingEvent, Event: PingEvent, Tool: tool, RunID: runID,
		At: w.o.Now().UTC().Truncate(time.Second), Destination: w.o.Destination})
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	if err := w.once(ctx, DeliveryID(runID, w.o.Destination, PingEvent), body); err != nil {
		return w.scrubber.Err(fmt.Errorf("webhook: ping: %w", err))
	}
	return nil
}
