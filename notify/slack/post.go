package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"

	"livy-token-audit/audit/safehttp"
	"livy-token-audit/internal/retry"
	"livy-token-audit/internal/scrub"
	"livy-token-audit/notify"
)

// Slack is one Slack destination: an incoming webhook, or a channel (or a
// user's direct messages) posted to with a bot token and chat.postMessage
// (then the full lists can follow in the message's thread). It retries 429s (honouring Retry-After up to
// retry.MaxServerWait), 5xx and network failures within the context's
// deadline. Its errors and logs never carry the webhook URL, its path or the
// token: an error body is reduced to Slack's error code or a short scrubbed
// excerpt. Give it a safehttp client: it must not follow redirects.
type Slack struct {
	webhookURL string
	bot        *slackgo.Client
	channel    string
	httpClient *http.Client
	// MaxAttempts bounds the tries of one post (default 4).
	MaxAttempts int
	// Sleep waits between tries (default retry.SleepContext).
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
	// Options shape the messages it renders.
	Options Options
	// scrubber removes from anything that leaves the webhook URL, its path
	// and path segments, the bot token, and whatever has a secret's shape.
	scrubber scrub.Scrubber
}

// webhookSecrets lists what of a webhook URL must never be shown: the URL,
// its path and every path segment long enough to be a key.
func webhookSecrets(u *url.URL, raw string) []string {
	out := []string{raw, u.Path}
	if u.RawQuery != "" {
		out = append(out, u.RawQuery)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= 6 && seg != "services" {
			out = append(out, seg)
		}
	}
	return out
}

// NewHTTPClient is the client Slack posts should go through: no redirects
// (a redirect would carry the webhook's secret path away, in the Referer
// too), the given time bound per request, answers capped at 64 KiB.
func NewHTTPClient(timeout time.Duration) *http.Client {
	return safehttp.NewClient(safehttp.Options{Timeout: timeout, MaxBody: 64 << 10, MaxConnsPerHost: 2})
}

// NewWebhook returns a destination that posts to an incoming webhook. what
// names where the URL came from (SLACK_WEBHOOK_URL, a route's webhookEnv)
// for errors, which never repeat the URL.
func NewWebhook(webhookURL, what string, hc *http.Client) (*Slack, error) {
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Scheme == "http" && !safehttp.Loopback(u.Hostname()) {
		// The URL is a secret: the error does not repeat it.
		return nil, fmt.Errorf("slack: %s is not an https URL (http is accepted on loopback only)", what)
	}
	return &Slack{webhookURL: webhookURL, httpClient: hc, scrubber: scrub.New(webhookSecrets(u, webhookURL)...)}, nil
}

// NewBot returns a bot that posts with chat.postMessage; To names where.
// apiURL overrides Slack's API base URL when not empty (tests, proxies).
func NewBot(token, apiURL string, hc *http.Client) (*Slack, error) {
	// slack-go gives up on a 429 whose Retry-After is missing or not a
	// whole number of seconds: the transport makes it one, so that the
	// bot's 429s are retried like the webhook's.
	bc := *hc
	bc.Transport = retryAfterTransport{hc.Transport}
	o := []slackgo.Option{slackgo.OptionHTTPClient(&bc)}
	if apiURL != "" {
		u, err := url.Parse(apiURL)
		if err != nil || u.Host == "" || u.Scheme != "https" && !(u.Scheme == "http" && safehttp.Loopback(u.Hostname())) {
			return nil, errors.New("slack: SLACK_API_URL is not an https URL (http is accepted on loopback only)")
		}
		if !strings.HasSuffix(apiURL, "/") {
			apiURL += "/"
		}
		o = append(o, slackgo.OptionAPIURL(apiURL))
	}
	return &Slack{bot: slackgo.New(token, o...), httpClient: hc, scrubber: scrub.New(token)}, nil
}

// API is the bot's Slack client (nil for a webhook): the actions' modal
// uses it.
func (n *Slack) API() *slackgo.Client { return n.bot }

// retryAfterTransport makes a 429's Retry-After a whole number of seconds
// (rounded up; 1 when it is missing or unreadable).
type retryAfterTransport struct{ base http.RoundTripper }

func (t retryAfterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		resp.Header.Set("Retry-After", strconv.Itoa(int(math.Ceil(safehttp.RetryAfter(resp.Header.Get("Retry-After")).Seconds()))))
	}
	return resp, err
}

// To returns the bot posting to a channel, or to a user's direct messages
// (a user ID).
func (n *Slack) To(channel string) *Slack {
	cp := *n
	cp.channel = channel
	return &cp
}

// String describes the destination without its secret.
func (n *Slack) String() string {
	if n.bot != nil {
		return "Slack " + n.channel
	}
	return "Slack incoming webhook"
}

// Post posts a message and, with a bot, the replies in its thread. A reply
// that cannot be posted is logged, not returned: the message itself is out,
// and a retry would post it twice.
//
// A post that went out whole and got no answer is uncertain: through a
// webhook it is never sent again (a *notify.UncertainError: at most once);
// with the bot, the channel's history is read for the message's metadata
// first, and it is posted again only when it is not there (exactly once),
// or not at all when the history cannot be read.
func (n *Slack) Post(ctx context.Context, msg Message, thread []Message) error {
	if n.bot == nil {
		return n.redact(n.retry(ctx, "post webhook", func() error { return n.postWebhook(ctx, msg) }))
	}
	var ts string
	since := time.Now().Add(-time.Minute)
	err := n.retry(ctx, "chat.postMessage", func() (err error) {
		sctx, sent := safehttp.WithSent(ctx)
		ts, err = n.post(sctx, msg, "")
		if err != nil && sent.Whole() && !answered(err) && !safehttp.Answered(err) {
			ts, err = n.afterNoAnswer(ctx, msg, since, err)
		}
		return err
	})
	if err != nil {
		return n.redact(err)
	}
	for i, reply := range thread {
		if err := n.retry(ctx, "chat.postMessage (thread)", func() error {
			_, err := n.post(ctx, reply, ts)
			return err
		}); err != nil {
			// The report itself is posted; a missing reply is logged, not
			// retried by re-posting the whole report.
			n.logger().Warn("slack: full lists not posted in the thread", "part", i+1, "error", n.redact(err))
			return nil
		}
	}
	return nil
}

// answered reports whether Slack answered the call (an error of Slack's,
// a status): then it was not a lost answer.
func answered(err error) bool {
	var rl *slackgo.RateLimitedError
	var sc slackgo.StatusCodeError
	var se slackgo.SlackErrorResponse
	return errors.As(err, &rl) || errors.As(err, &sc) || errors.As(err, &se)
}

// afterNoAnswer looks for a post whose answer was lost in the channel's
// history: there, it is delivered; not there, the error is retried (the
// post goes again); the history unreadable, it is uncertain.
func (n *Slack) afterNoAnswer(ctx context.Context, msg Message, since time.Time, lost error) (string, error) {
	if msg.Meta == nil {
		return "", &notify.UncertainError{Err: lost}
	}
	ts, found, err := n.posted(ctx, msg.Meta, since)
	switch {
	case err != nil:
		n.logger().Warn("slack: no answer to a post, and its channel's history cannot be read: not posting again", "error", n.redact(err))
		return "", &notify.UncertainError{Err: lost}
	case found:
		return ts, nil
	}
	return "", lost
}

// metaEventType marks the messages a run posts, in their metadata.
const metaEventType = "livy_token_audit"

// posted looks in the bot's channel's history (since a time) for a message
// whose metadata names the run and the destination.
func (n *Slack) posted(ctx context.Context, meta *Meta, since time.Time) (ts string, found bool, err error) {
	ch, err := n.channelID(ctx)
	if err != nil {
		return "", false, err
	}
	hist, err := n.bot.GetConversationHistoryContext(ctx, &slackgo.GetConversationHistoryParameters{
		ChannelID: ch, Oldest: strconv.FormatInt(since.Unix(), 10) + ".000000", Limit: 100, IncludeAllMetadata: true})
	if err != nil {
		return "", false, fmt.Errorf("conversations.history: %w", err)
	}
	for _, m := range hist.Messages {
		p := m.Metadata.EventPayload
		if m.Metadata.EventType == metaEventType && p["run_id"] == meta.RunID && p["destination"] == meta.Destination {
			return m.Timestamp, true, nil
		}
	}
	return "", false, nil
}

var (
	channelIDRe = regexp.MustCompile(`^[CGD][A-Z0-9]{6,}$`)
	userIDRe    = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
)

// channelID is the ID of the bot's channel: as configured, the direct
// messages of a user (conversations.open), or a channel's by its name
// (conversations.list).
func (n *Slack) channelID(ctx context.Context) (string, error) {
	switch c := n.channel; {
	case channelIDRe.MatchString(c):
		return c, nil
	case userIDRe.MatchString(c):
		ch, _, _, err := n.bot.OpenConversationContext(ctx, &slackgo.OpenConversationParameters{Users: []string{c}})
		if err != nil {
			return "", fmt.Errorf("conversations.open: %w", err)
		}
		return ch.ID, nil
	}
	name := strings.TrimPrefix(n.channel, "#")
	cursor := ""
	for range 20 {
		chs, next, err := n.bot.GetConversationsContext(ctx, &slackgo.GetConversationsParameters{Cursor: cursor, Limit: 200, ExcludeArchived: true,
			Types: []string{"public_channel", "private_channel"}})
		if err != nil {
			return "", fmt.Errorf("conversations.list: %w", err)
		}
		for _, ch := range chs {
			if ch.Name == name {
				return ch.ID, nil
			}
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	return "", fmt.Errorf("channel %s not found among the bot's conversations", n.channel)
}

func (n *Slack) logger() *slog.Logger {
	if n.Logger != nil {
		return n.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// redact removes the secrets from an error, as a last line of defence.
func (n *Slack) redact(err error) error { return n.scrubber.Err(err) }

func (n *Slack) scrub(s string) string { return n.scrubber.Text(s) }

func (n *Slack) post(ctx context.Context, m Message, threadTS string) (string, error) {
	opts := []slackgo.MsgOption{slackgo.MsgOptionText(m.Text, false), slackgo.MsgOptionBlocks(m.Blocks...)}
	if m.Meta != nil && threadTS == "" {
		opts = append(opts, slackgo.MsgOptionMetadata(slackgo.SlackMetadata{EventType: metaEventType,
			EventPayload: map[string]any{"run_id": m.Meta.RunID, "destination": m.Meta.Destination}}))
	}
	if threadTS != "" {
		opts = append(opts, slackgo.MsgOptionTS(threadTS))
	}
	_, ts, err := n.bot.PostMessageContext(ctx, n.channel, opts...)
	return ts, err
}

func (n *Slack) postWebhook(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.webhookURL, bytes.NewReader(body))
	if err != nil {
		return errors.New("build request: invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	sctx, sent := safehttp.WithSent(ctx)
	resp, err := n.httpClient.Do(req.WithContext(sctx))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // *url.Error repeats the URL, which is the secret
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			err = &timeoutError{after: n.httpClient.Timeout}
			if ctx.Err() != nil {
				err = errRunDeadline
			}
		}
		if sent.Whole() && !safehttp.Answered(err) {
			// Slack may have the message: it is not sent again.
			return &notify.UncertainError{Err: err}
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil // Slack took it, whatever the rest of the body does
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	e := &safehttp.StatusError{Status: resp.StatusCode, Detail: n.errorCode(b)}
	if resp.StatusCode == http.StatusTooManyRequests {
		e.RetryAfter = safehttp.RetryAfter(resp.Header.Get("Retry-After"))
	}
	return e
}

// errRunDeadline is a post cut by the run's own deadline.
var errRunDeadline = errors.New("no answer before the run's deadline")

// timeoutError is a post that got no answer in time.
type timeoutError struct{ after time.Duration }

func (e *timeoutError) Error() string   { return fmt.Sprintf("no answer within %s", e.after) }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }

// slackCodeRe is what a Slack error code looks like: invalid_blocks,
// channel_not_found, no_service.
var slackCodeRe = regexp.MustCompile(`^[a-z][a-z0-9_]{1,63}$`)

// errorCode reduces a webhook's error body to Slack's error code, or to a
// short scrubbed excerpt when it is something else (a proxy's page may
// echo the URL, which is the secret).
func (n *Slack) errorCode(body []byte) string {
	s := strings.TrimSpace(string(body))
	if slackCodeRe.MatchString(s) {
		return s
	}
	if s == "" || strings.HasPrefix(s, "<") {
		return "" // empty, or an HTML page: the status says enough
	}
	s = notify.Clean(n.scrub(s))
	return "(body: " + truncate(s, 60) + ")"
}

// retryable says whether err can succeed on retry, and after how long the
// server asked to wait.
func retryable(err error) (bool, time.Duration) {
	var rl *slackgo.RateLimitedError
	var sc slackgo.StatusCodeError
	var we *safehttp.StatusError
	var se slackgo.SlackErrorResponse
	var ne net.Error
	switch {
	case errors.As(err, new(*notify.UncertainError)):
		return false, 0 // never sent again blindly
	case errors.As(err, &rl):
		return true, max(rl.RetryAfter, time.Second)
	case errors.As(err, &we):
		if we.Status == http.StatusTooManyRequests {
			return true, max(we.RetryAfter, time.Second)
		}
		return we.Status >= 500, 0
	case errors.As(err, &sc):
		return sc.Code >= 500, 0
	case errors.As(err, &se):
		switch se.Err {
		case "internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited":
			return true, 0
		}
		return false, 0
	case errors.Is(err, context.Canceled):
		return false, 0
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF):
		return true, 0
	}
	return false, 0
}

func (n *Slack) retry(ctx context.Context, what string, f func() error) error {
	r := retry.Retrier{Attempts: n.MaxAttempts, Base: time.Second, Max: 30 * time.Second, Sleep: n.Sleep}
	attempt := 0
	err := r.Do(ctx, retryable, func() error {
		attempt++
		err := f()
		if err != nil {
			if ok, _ := retryable(err); ok {
				n.logger().Warn("slack: call failed; retrying", "what", what, "attempt", attempt, "error", n.redact(err))
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: %s: %w", what, err)
	}
	return nil
}
