package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/audit/localstore"
	"livy-token-audit/internal/slacklimits"
	"livy-token-audit/notify"
)

const (
	hookPath = "/services/T0SECRET/B0SECRET/hookSECRETpath9x"
	botToken = "xoxb-SECRET-bot-token-77aa"
)

// receiver is an incoming-webhook stand-in that enforces Slack's documented
// limits and answers with Slack's error strings.
type receiver struct {
	mu       sync.Mutex
	accepted [][]byte
	calls    atomic.Int32
	// script answers the first calls: a status and Retry-After; 0 = accept.
	script []int
	// answer, when set, answers every call instead (hostile peers).
	answer func(w http.ResponseWriter, r *http.Request)
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls.Add(1)
	if rc.answer != nil {
		rc.answer(w, r)
		return
	}
	if r.URL.Path != hookPath || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "no_service")
		return
	}
	if len(rc.script) > 0 {
		status := rc.script[0]
		rc.script = rc.script[1:]
		if status != 0 {
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			w.WriteHeader(status)
			io.WriteString(w, "rate_limited")
			return
		}
	}
	body, _ := io.ReadAll(r.Body)
	if code := slacklimits.Check(body); code != "" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, code)
		return
	}
	rc.accepted = append(rc.accepted, body)
	io.WriteString(w, "ok")
}

func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func newHook(t *testing.T, rc *receiver, log *bytes.Buffer) (*Slack, string) {
	t.Helper()
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	url := srv.URL + hookPath
	n, err := NewWebhook(url, "SLACK_WEBHOOK_URL", NewHTTPClient(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n.Logger = slog.New(slog.NewTextHandler(log, nil))
	return n, url
}

func assertClean(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, secret := range []string{"SECRET", "lvt-"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q leaks a secret", s)
			}
		}
	}
}

func TestWebhookPostsWithinLimits(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 10000} {
		rc := &receiver{}
		var log bytes.Buffer
		hook, _ := newHook(t, rc, &log)
		if err := send(t.Context(), hook, fleetOf(n, 0), "audit-out/x.json"); err != nil {
			t.Fatalf("%d findings: %v", n, err)
		}
		if len(rc.accepted) != 1 {
			t.Fatalf("%d findings: got %d posts, want 1", n, len(rc.accepted))
		}
		assertClean(t, string(rc.accepted[0]), log.String())
	}
}

func TestWebhookRetriesAfter429(t *testing.T) {
	t.Parallel()
	rc := &receiver{script: []int{http.StatusTooManyRequests}}
	var log bytes.Buffer
	hook, _ := newHook(t, rc, &log)
	var waited []time.Duration
	hook.Sleep = func(ctx context.Context, d time.Duration) error { waited = append(waited, d); return nil }
	if err := send(t.Context(), hook, fleetOf(3, 0), ""); err != nil {
		t.Fatal(err)
	}
	if rc.calls.Load() != int32(2) || len(rc.accepted) != 1 {
		t.Errorf("got %d calls and %d accepted, want 2 and 1", rc.calls.Load(), len(rc.accepted))
	}
	if len(waited) != 1 || waited[0] != time.Second {
		t.Errorf("waited %v, want [1s] (Retry-After: 1)", waited)
	}
	assertClean(t, log.String())
}

func TestWebhookRetriesAfter429RealWait(t *testing.T) {
	t.Parallel()
	rc := &receiver{script: []int{http.StatusTooManyRequests}}
	var log bytes.Buffer
	hook, _ := newHook(t, rc, &log)
	if err := send(t.Context(), hook, fleetOf(1, 0), ""); err != nil || rc.calls.Load() != int32(2) {
		t.Errorf("got %v after %d calls, want success on the second", err, rc.calls.Load())
	}
}

func TestWebhookFailures(t *testing.T) {
	t.Parallel()
	t.Run("5xx until it gives up", func(t *testing.T) {
		rc := &receiver{script: []int{500, 502, 503, 500}}
		var log bytes.Buffer
		hook, url := newHook(t, rc, &log)
		hook.Sleep = noSleep
		err := send(t.Context(), hook, fleetOf(1, 0), "")
		if err == nil || !strings.Contains(err.Error(), "HTTP 500") || !strings.Contains(err.Error(), "gave up after 4 attempts") {
			t.Fatalf("got %v, want HTTP 500 after 4 attempts", err)
		}
		assertClean(t, err.Error(), log.String())
		if strings.Contains(err.Error(), url) {
			t.Error("the error names the webhook URL")
		}
	})
	t.Run("refused payload is not retried and names Slack's code", func(t *testing.T) {
		rc := &receiver{}
		var log bytes.Buffer
		hook, _ := newHook(t, rc, &log)
		err := hook.postWebhook(t.Context(), Message{})
		if err == nil || !strings.Contains(err.Error(), "HTTP 400 no_text") {
			t.Fatalf("got %v, want HTTP 400 no_text", err)
		}
		if ok, _ := retryable(err); ok {
			t.Error("a 400 is retryable; want not")
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		hook, err := NewWebhook("http://127.0.0.1:1"+hookPath, "SLACK_WEBHOOK_URL", &http.Client{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		hook.Sleep = noSleep
		err = send(t.Context(), hook, fleetOf(1, 0), "")
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("got %v, want connection refused", err)
		}
		assertClean(t, err.Error())
	})
	t.Run("bad URL is not repeated", func(t *testing.T) {
		_, err := NewWebhook("hooks.slack.com/services/T0SECRET", "SLACK_WEBHOOK_URL", nil)
		if err == nil {
			t.Fatal("got no error")
		}
		assertClean(t, err.Error())
	})
}

// botServer is slacktest's server with a chat.postMessage handler that
// records and checks what is posted.
type botServer struct {
	mu    sync.Mutex
	posts []map[string]string
	fail  string
	// limit answers the first calls with a 429 and this Retry-After ("-"
	// for none).
	limit []string
	calls int
}

func (b *botServer) handle(w http.ResponseWriter, r *http.Request) {
	// slack-go sends chat.postMessage's token as a form field.
	if err := r.ParseForm(); err != nil || r.Form.Get("token") != botToken {
		w.Write([]byte(`{"ok":false,"error":"invalid_auth"}`))
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if len(b.limit) > 0 {
		if ra := b.limit[0]; ra != "-" {
			w.Header().Set("Retry-After", ra)
		}
		b.limit = b.limit[1:]
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	if b.fail != "" {
		w.Write([]byte(`{"ok":false,"error":"` + b.fail + `"}`))
		return
	}
	post := map[string]string{"channel": r.Form.Get("channel"), "text": r.Form.Get("text"), "blocks": r.Form.Get("blocks"), "thread_ts": r.Form.Get("thread_ts")}
	payload, _ := json.Marshal(map[string]json.RawMessage{"text": json.RawMessage(`"x"`), "blocks": json.RawMessage(post["blocks"])})
	if code := slacklimits.Check(payload); code != "" {
		w.Write([]byte(`{"ok":false,"error":"` + code + `"}`))
		return
	}
	b.posts = append(b.posts, post)
	w.Write([]byte(`{"ok":true,"channel":"C0AUDIT","ts":"1764234000.000100"}`))
}

func newBot(t *testing.T, b *botServer) *Slack {
	t.Helper()
	srv := slacktest.NewTestServer(func(c slacktest.Customize) { c.Handle("/chat.postMessage", b.handle) })
	srv.Start()
	t.Cleanup(srv.Stop)
	bot, err := NewBot(botToken, srv.GetAPIURL(), NewHTTPClient(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := bot.To("#platform-alerts")
	n.Sleep = noSleep
	return n
}

func TestBotPostsAndThreadsTheFullLists(t *testing.T) {
	t.Parallel()
	b := &botServer{}
	bot := newBot(t, b)
	if err := send(t.Context(), bot, fleetOf(200, 0), "audit-out/x.json"); err != nil {
		t.Fatal(err)
	}
	if len(b.posts) < 2 {
		t.Fatalf("got %d posts, want the report and thread replies", len(b.posts))
	}
	if p := b.posts[0]; p["channel"] != "#platform-alerts" || p["thread_ts"] != "" || !strings.Contains(p["blocks"], "+190 more") {
		t.Errorf("report: got %+v", p)
	}
	all := ""
	for _, p := range b.posts[1:] {
		if p["thread_ts"] != "1764234000.000100" {
			t.Errorf("reply not in the report's thread: %+v", p)
		}
		all += p["blocks"]
	}
	if !strings.Contains(all, "tk-00199") {
		t.Error("the thread lacks the last token")
	}
	for _, p := range b.posts {
		assertClean(t, p["blocks"], p["text"])
	}
}

func TestBotErrorNamesSlackCode(t *testing.T) {
	t.Parallel()
	b := &botServer{fail: "channel_not_found"}
	bot := newBot(t, b)
	err := send(t.Context(), bot, fleetOf(1, 0), "")
	if err == nil || !strings.Contains(err.Error(), "channel_not_found") || !strings.Contains(err.Error(), "gave up after 1 attempt") {
		t.Fatalf("got %v, want channel_not_found after 1 attempt", err)
	}
	assertClean(t, err.Error())
}

// Hostile or broken Slack answers: the post ends, within bounds, and the
// error names what happened without the webhook's secret path.
func TestWebhookHostileAnswers(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	var referer atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		referer.Store(r.Header.Get("Referer"))
	}))
	defer other.Close()
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		want   string
		calls  int
	}{
		{"429 asking for an hour", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(429)
			io.WriteString(w, "rate_limited")
		}, "the server asked to wait 1h0m0s, more than the 1m0s the audit waits", 1},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/collect", http.StatusTemporaryRedirect)
		}, "HTTP 307 redirect to " + strings.TrimPrefix(other.URL, "http://") + " refused", 1},
		{"a proxy echoes the URL", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(404)
			io.WriteString(w, "no route for POST http://"+r.Host+r.URL.Path+" (T0SECRET)")
		}, "HTTP 404 (body: no route for POST [redacted] ([redacted]))", 1},
		{"HTML 502", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			io.WriteString(w, "<html><body>Bad gateway "+r.URL.Path+"</body></html>")
		}, "HTTP 502 (gave up after 4 attempts)", 4},
		{"an endless answer", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			for range 1 << 12 {
				if _, err := io.WriteString(w, strings.Repeat("x", 1024)); err != nil {
					return
				}
			}
		}, "HTTP 400 (body: xxxx", 1},
		// The post went out whole and no answer came: Slack may have it. It
		// is not sent again (at most once), and the error says uncertain.
		{"hangs", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body) // then the server notices the client leave
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, "no answer after the request was sent (it may have been delivered; not sent again): no answer within 300ms (gave up after 1 attempt)", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := &receiver{answer: tc.answer}
			var log bytes.Buffer
			hook, url := newHook(t, rc, &log)
			hook.httpClient = NewHTTPClient(300 * time.Millisecond)
			hook.Sleep = noSleep
			start := time.Now()
			err := send(t.Context(), hook, fleetOf(1, 0), "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want it to contain %q", err, tc.want)
			}
			if rc.calls.Load() != int32(tc.calls) {
				t.Errorf("got %d calls, want %d", rc.calls.Load(), tc.calls)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			for _, s := range []string{url, hookPath, "T0SECRET", "B0SECRET", "hookSECRETpath9x"} {
				if strings.Contains(err.Error(), s) || strings.Contains(log.String(), s) {
					t.Errorf("%q leaked: %v\n%s", s, err, log.String())
				}
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests (Referer %v)", n, referer.Load())
	}
}

func TestNotifyFailure(t *testing.T) {
	t.Parallel()
	rc := &receiver{}
	var log bytes.Buffer
	hook, _ := newHook(t, rc, &log)
	err := hook.Post(t.Context(), RenderFailure(delivery.FailureNotice{RunID: "audit-20261127T090000Z", AuditedAt: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC),
		Trigger: audit.Trigger{Kind: "timer"}, Cause: "invalid config:\n  audit.yaml:4: rules.staleAftr: unknown key <!channel>"}), nil)
	if err != nil || len(rc.accepted) != 1 {
		t.Fatalf("got %v and %d posts", err, len(rc.accepted))
	}
	var msg struct {
		Text   string
		Blocks []struct {
			Text     struct{ Text string }
			Elements []struct{ Text string }
		}
	}
	if err := json.Unmarshal(rc.accepted[0], &msg); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprint(msg)
	for _, want := range []string{"audit failed", "audit.yaml:4: rules.staleAftr: unknown key", "&lt;!channel&gt;", "audit-20261127T090000Z"} {
		if !strings.Contains(body, want) {
			t.Errorf("the notice lacks %q:\n%s", want, body)
		}
	}
}

// send renders a report and posts it, as the Notifier does for the main
// report.
func send(ctx context.Context, n *Slack, s *audit.Snapshot, link string) error {
	o := RenderOptions{MaxItems: 10}
	d := notify.NewDigest(s, delivery.Locations{Snapshot: link})
	m := Render(d, o)
	var thread []Message
	if m.Cut > 0 && n.bot != nil {
		thread = RenderThread(d, o)
	}
	return n.Post(ctx, m, thread)
}

// The bot retries a 429 like the webhook: without a Retry-After, and with a
// fractional one.
func TestBotRetries429(t *testing.T) {
	t.Parallel()
	b := &botServer{limit: []string{"-", "1.5"}}
	bot := newBot(t, b)
	if err := send(t.Context(), bot, fleetOf(1, 0), ""); err != nil || len(b.posts) != 1 || b.calls != 3 {
		t.Errorf("got %v after %d calls, %d posts; want the third call to post", err, b.calls, len(b.posts))
	}
}

// A destination over plain http is refused unless it is on loopback: the
// webhook's URL is a secret, and the bot's token goes in the body.
func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	hc := NewHTTPClient(time.Second)
	for _, u := range []string{"http://hooks.example.com/services/T0SECRET/B0/x", "http://10.0.0.1/services/T0SECRET/B0/x"} {
		if _, err := NewWebhook(u, "SLACK_WEBHOOK_URL", hc); err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: got %v, want a refusal that does not repeat the URL", u, err)
		}
	}
	if _, err := NewBot(botToken, "http://slack.example.com/api/", hc); err == nil {
		t.Error("an http SLACK_API_URL off loopback was accepted")
	}
	for _, u := range []string{"http://127.0.0.1:8080/services/x", "http://localhost/services/x", "https://hooks.slack.com/services/T/B/x"} {
		if _, err := NewWebhook(u, "SLACK_WEBHOOK_URL", hc); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// lossyBot is a Slack API whose chat.postMessage keeps the message (or
// not) and then gives no answer, and whose conversations.history shows
// what it kept, with its metadata.
type lossyBot struct {
	mu      sync.Mutex
	calls   int
	kept    []map[string]any
	lose    bool // it hangs without keeping
	noScope bool // conversations.history answers missing_scope
}

func (b *lossyBot) post(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	b.mu.Lock()
	b.calls++
	call := b.calls
	var meta map[string]any
	_ = json.Unmarshal([]byte(r.Form.Get("metadata")), &meta)
	if !b.lose || call > 1 {
		b.kept = append(b.kept, map[string]any{"type": "message", "ts": fmt.Sprintf("1764234000.00010%d", call), "text": r.Form.Get("text"), "metadata": meta})
	}
	b.mu.Unlock()
	if call == 1 { // the first answer is lost
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	}
	io.WriteString(w, `{"ok":true,"channel":"C0AUDIT01","ts":"1764234000.000102"}`)
}

func (b *lossyBot) history(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.noScope {
		io.WriteString(w, `{"ok":false,"error":"missing_scope"}`)
		return
	}
	if r.Form.Get("channel") != "C0AUDIT01" || r.Form.Get("include_all_metadata") != "1" {
		io.WriteString(w, `{"ok":false,"error":"channel_not_found"}`)
		return
	}
	out, _ := json.Marshal(map[string]any{"ok": true, "messages": b.kept})
	w.Write(out)
}

func (b *lossyBot) list(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, `{"ok":true,"channels":[{"id":"C0OTHER01","name":"general"},{"id":"C0AUDIT01","name":"platform-alerts"}],"response_metadata":{"next_cursor":""}}`)
}

// serve starts slacktest with the lossy bot's handlers, and returns a bot
// client of it whose requests get 300 ms to answer.
func (b *lossyBot) serve(t *testing.T) *Slack {
	t.Helper()
	srv := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", b.post)
		c.Handle("/conversations.history", b.history)
		c.Handle("/conversations.list", b.list)
	})
	srv.Start()
	t.Cleanup(srv.Stop)
	bot, err := NewBot(botToken, srv.GetAPIURL(), NewHTTPClient(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return bot
}

// A bot's post whose answer is lost is looked for in the channel's history
// before it is posted again: found, it is delivered once; not there, it is
// posted again, once; the history unreadable, it is uncertain and not
// posted again.
func TestBotPostWithoutAnswer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		bot         *lossyBot
		calls, kept int
		uncertain   bool
	}{
		{"Slack has it", &lossyBot{}, 1, 1, false},
		{"Slack lost it", &lossyBot{lose: true}, 2, 1, false},
		{"no history scope", &lossyBot{noScope: true}, 1, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bot := tc.bot.serve(t)
			n := bot.To("#platform-alerts")
			n.Sleep = noSleep
			msg := Render(notify.NewDigest(fleetOf(1, 0), delivery.Locations{}), RenderOptions{MaxItems: 10})
			msg.Meta = &Meta{RunID: "audit-20261127T090000Z", Destination: "slack"}
			err := n.Post(t.Context(), msg, nil)
			var ue *notify.UncertainError
			if errors.As(err, &ue) != tc.uncertain || !tc.uncertain && err != nil {
				t.Errorf("got %v, want uncertain: %v", err, tc.uncertain)
			}
			tc.bot.mu.Lock()
			defer tc.bot.mu.Unlock()
			if tc.bot.calls != tc.calls || len(tc.bot.kept) != tc.kept {
				t.Errorf("%d posts, %d kept; want %d and %d", tc.bot.calls, len(tc.bot.kept), tc.calls, tc.kept)
			}
			if m := tc.bot.kept[0]["metadata"].(map[string]any); m["event_type"] != "livy_token_audit" {
				t.Errorf("metadata: %v", m)
			}
		})
	}
}

// A retry looks in the channel's history before it posts what an earlier
// attempt may have posted: after an attempt that got no answer and could
// not read the history (uncertain), and after one that died mid-post (its
// claim left "posting", its lease ended). Found, nothing is posted again;
// not there, it is posted once.
func TestRetryLooksBeforePostingAgain(t *testing.T) {
	t.Parallel()
	const runID, key = "audit-20261127T090000Z", "2026/11/27/20261127T090000Z.json"
	stale := `{"runId":"` + runID + `","kind":"report","destination":"slack","state":"posting","nonce":"dead","at":"2026-11-27T09:00:10Z","leaseEnds":"2026-11-27T09:10:00Z"}`
	meta := map[string]any{"event_type": "livy_token_audit", "event_payload": map[string]any{"run_id": runID, "destination": "slack"}}
	for _, tc := range []struct {
		name      string
		bot       *lossyBot
		head      string // a claim record left by the earlier attempt ("": run it)
		calls     int    // posts over both attempts
		status    string // the retry's
		uncertain bool   // the first attempt's
	}{
		{name: "uncertain, then the scope is granted: found", bot: &lossyBot{noScope: true}, calls: 1, status: delivery.StatusAlready, uncertain: true},
		{name: "died mid-post, Slack has it", bot: &lossyBot{kept: []map[string]any{{"type": "message", "ts": "1764234000.000101", "metadata": meta}}}, head: stale, calls: 0, status: delivery.StatusAlready},
		{name: "died mid-post, Slack does not have it", bot: &lossyBot{lose: true}, head: stale, calls: 2, status: delivery.StatusDelivered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bot := tc.bot.serve(t)
			bot.Sleep = noSleep
			store := &localstore.Store{Dir: t.TempDir()}
			d := &notify.Dispatcher{Claims: store, Notifiers: []notify.Notifier{&notify.Router{Notify: "always", Main: bot.To("#platform-alerts")}}}
			s := fleetOf(1, 0)
			s.RunID = runID
			run := delivery.Run{Key: key, RunID: runID}
			if tc.head == "" {
				out := d.Report(t.Context(), run, s, delivery.Locations{})
				if got := out.Deliveries[0].Status == delivery.StatusUncertain; got != tc.uncertain {
					t.Fatalf("first attempt: %+v, want uncertain %v", out.Deliveries, tc.uncertain)
				}
				tc.bot.mu.Lock()
				tc.bot.noScope = false // the bot is given the history scope
				tc.bot.mu.Unlock()
			} else if err := store.Create(t.Context(), "2026/11/27/20261127T090000Z.slack.1.notified.json", []byte(tc.head)); err != nil {
				t.Fatal(err)
			}
			run.Retry = true
			out := d.Report(t.Context(), run, s, delivery.Locations{})
			if len(out.Deliveries) != 1 || out.Deliveries[0].Status != tc.status {
				t.Errorf("the retry: %+v, want %s", out.Deliveries, tc.status)
			}
			tc.bot.mu.Lock()
			defer tc.bot.mu.Unlock()
			if tc.bot.calls != tc.calls || len(tc.bot.kept) != 1 {
				t.Errorf("%d posts, %d in the channel; want %d posts and 1 message", tc.bot.calls, len(tc.bot.kept), tc.calls)
			}
			// A third attempt finds the delivery recorded: it neither looks
			// nor posts.
			if out := d.Report(t.Context(), run, s, delivery.Locations{}); out.Deliveries[0].Status != delivery.StatusAlready {
				t.Errorf("a third attempt: %+v", out.Deliveries)
			}
		})
	}
}
