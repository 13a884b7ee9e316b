package notify

import (
	"bytes"
	"context"
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

	"github.com/slack-go/slack"

	"livy-token-audit/audit"
)

// Slack posts the report through an incoming webhook or, with a bot token,
// chat.postMessage (then the full lists go in the message's thread when the
// message had to cut them). It retries 429s (honouring Retry-After), 5xx and
// network failures within the context's deadline. Its errors and logs never
// carry the webhook URL or the token.
type Slack struct {
	webhookURL string
	bot        *slack.Client
	channel    string
	httpClient *http.Client
	opts       RenderOptions
	// MaxAttempts bounds the tries of one post (default 4).
	MaxAttempts int
	// Sleep waits between tries (default audit.SleepContext).
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
	secret string
}

var _ audit.Notifier = (*Slack)(nil)

// NewWebhook returns a notifier that posts to an incoming webhook.
func NewWebhook(webhookURL string, hc *http.Client, opts RenderOptions) (*Slack, error) {
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// The URL is a secret: the error does not repeat it.
		return nil, errors.New("slack: SLACK_WEBHOOK_URL is not an https URL")
	}
	return &Slack{webhookURL: webhookURL, httpClient: hc, opts: opts, secret: webhookURL}, nil
}

// NewBot returns a notifier that posts with a bot token to a channel.
// apiURL overrides Slack's API base URL when not empty (tests, proxies).
func NewBot(token, channel, apiURL string, hc *http.Client, opts RenderOptions) (*Slack, error) {
	if channel == "" {
		return nil, errors.New("slack: SLACK_BOT_TOKEN is set but slack.channel is not: name the channel to post to")
	}
	o := []slack.Option{slack.OptionHTTPClient(hc)}
	if apiURL != "" {
		if !strings.HasSuffix(apiURL, "/") {
			apiURL += "/"
		}
		o = append(o, slack.OptionAPIURL(apiURL))
	}
	return &Slack{bot: slack.New(token, o...), channel: channel, httpClient: hc, opts: opts, secret: token}, nil
}

// String describes the destination without its secret.
func (n *Slack) String() string {
	if n.bot != nil {
		return "Slack channel " + n.channel
	}
	return "Slack incoming webhook"
}

// Notify renders the snapshot and posts it.
func (n *Slack) Notify(ctx context.Context, s *audit.Snapshot, link string) error {
	o := n.opts
	o.Link = link
	msg := RenderSlack(s, o)
	if n.bot == nil {
		return n.redact(n.retry(ctx, "post webhook", func() error { return n.postWebhook(ctx, msg) }))
	}
	var ts string
	err := n.retry(ctx, "chat.postMessage", func() (err error) {
		ts, err = n.post(ctx, msg, "")
		return err
	})
	if err != nil {
		return n.redact(err)
	}
	if msg.Cut == 0 {
		return nil
	}
	for i, reply := range RenderThread(s, o) {
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

func (n *Slack) logger() *slog.Logger {
	if n.Logger != nil {
		return n.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// redact removes the secret from an error, as a last line of defence.
func (n *Slack) redact(err error) error {
	if err == nil || n.secret == "" || !strings.Contains(err.Error(), n.secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), n.secret, "[redacted]"))
}

func (n *Slack) post(ctx context.Context, m Message, threadTS string) (string, error) {
	opts := []slack.MsgOption{slack.MsgOptionText(m.Text, false), slack.MsgOptionBlocks(m.Blocks...)}
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	_, ts, err := n.bot.PostMessageContext(ctx, n.channel, opts...)
	return ts, err
}

// webhookError is a webhook's refusal: Slack answers with a status and an
// error code as the body (invalid_blocks, no_text, ...), which slack-go's
// webhook helper discards; that is why the webhook is posted here.
type webhookError struct {
	status     int
	code       string
	retryAfter time.Duration
}

func (e *webhookError) Error() string {
	if e.code == "" {
		return fmt.Sprintf("HTTP %d", e.status)
	}
	return fmt.Sprintf("HTTP %d %s", e.status, e.code)
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
	resp, err := n.httpClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // *url.Error repeats the URL, which is the secret
		}
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	e := &webhookError{status: resp.StatusCode, code: strings.TrimSpace(string(b))}
	if len(e.code) > 100 || strings.ContainsAny(e.code, "<\n") {
		e.code = "" // an HTML error page, not a Slack error code
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		e.retryAfter = time.Duration(s) * time.Second
	}
	return e
}

// retryable says whether err can succeed on retry, and after how long the
// server asked to wait.
func retryable(err error) (bool, time.Duration) {
	var rl *slack.RateLimitedError
	var sc slack.StatusCodeError
	var we *webhookError
	var se slack.SlackErrorResponse
	var ne net.Error
	switch {
	case errors.As(err, &rl):
		return true, max(rl.RetryAfter, time.Second)
	case errors.As(err, &we):
		if we.status == http.StatusTooManyRequests {
			return true, max(we.retryAfter, time.Second)
		}
		return we.status >= 500, 0
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
	r := audit.Retrier{Attempts: n.MaxAttempts, Base: time.Second, Max: 30 * time.Second, Sleep: n.Sleep}
	attempt := 0
	err := r.Do(ctx, retryable, func() error {
		attempt++
		err := f()
		if err != nil {
			if ok, _ := retryable(err); ok {
				n.logger().Warn("slack: post failed", "what", what, "attempt", attempt, "error", n.redact(err))
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: %s: %w", what, err)
	}
	return nil
}
