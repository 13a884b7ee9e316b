package actions_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"

	"livy-token-audit/audit"
	"livy-token-audit/notify/actionref"
	"livy-token-audit/notify/actions"
)

const botToken = "xoxb-SECRET-bot-token-0042"

// slackAPI is slack-go's own slacktest server with views.open and
// conversations.history as Slack documents them: the bot's token, a
// trigger, and a modal within Slack's limits (title, submit and close of
// 24 characters at most, 100 blocks, private_metadata of 3,000, an input
// of 3,000); the history answers the report as it was posted.
type slackAPI struct {
	srv     *slacktest.Server
	mu      sync.Mutex
	views   []slackgo.ModalViewRequest
	failing string // views.open answers this error
	msg     json.RawMessage
}

func newSlackAPI(t testing.TB, b *bench) *slackAPI {
	a := &slackAPI{srv: slacktest.NewTestServer()}
	a.msg, _ = json.Marshal(map[string]any{"type": "message", "ts": "1700000000.000100", "text": b.msg.Text, "blocks": b.msg.Blocks})
	a.srv.Handle("/views.open", a.viewsOpen)
	a.srv.Handle("/conversations.history", a.history)
	a.srv.Start()
	t.Cleanup(a.srv.Stop)
	return a
}

// authorized accepts the token as Slack does: a bearer header, or the
// form's token.
func (a *slackAPI) authorized(r *http.Request) bool {
	return r.Header.Get("Authorization") == "Bearer "+botToken || r.Form.Get("token") == botToken
}

func (a *slackAPI) viewsOpen(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	_ = r.ParseForm()
	var req struct {
		TriggerID string                   `json:"trigger_id"`
		View      slackgo.ModalViewRequest `json:"view"`
	}
	fail := func(code string) { _ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": code}) }
	switch {
	case !a.authorized(r):
		fail("not_authed")
		return
	case json.Unmarshal(body, &req) != nil || req.TriggerID == "":
		fail("invalid_arguments")
		return
	case a.failing != "":
		fail(a.failing)
		return
	}
	v := req.View
	within := func(t *slackgo.TextBlockObject, n int) bool {
		return t != nil && t.Type == "plain_text" && utf8.RuneCountInString(t.Text) <= n
	}
	if v.Type != slackgo.VTModal || !within(v.Title, 24) || !within(v.Submit, 24) || !within(v.Close, 24) || len(v.Blocks.BlockSet) > 100 ||
		len(v.PrivateMetadata) > 3000 || len(v.CallbackID) > 255 {
		fail("invalid_arguments")
		return
	}
	for _, b := range v.Blocks.BlockSet {
		if in, ok := b.(*slackgo.InputBlock); ok {
			el, ok := in.Element.(*slackgo.PlainTextInputBlockElement)
			if !ok || el.MaxLength > 3000 || !within(in.Label, 2000) {
				fail("invalid_arguments")
				return
			}
		}
	}
	a.mu.Lock()
	a.views = append(a.views, v)
	a.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "view": map[string]string{"id": "V0SNOOZE1"}})
}

func (a *slackAPI) history(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	if !a.authorized(r) || r.Form.Get("channel") != "C0AUDIT" || r.Form.Get("latest") != "1700000000.000100" || r.Form.Get("inclusive") != "1" {
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "channel_not_found"})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "messages": []json.RawMessage{a.msg}})
}

// submission is the view_submission Slack sends when the modal is
// submitted with reason.
func submission(user, viewID, meta, reason string) string {
	p, _ := json.Marshal(map[string]any{
		"type": "view_submission", "user": map[string]string{"id": user}, "team": map[string]string{"id": "T0001"}, "trigger_id": "2.3.4",
		"view": map[string]any{"id": viewID, "type": "modal", "callback_id": actions.SnoozeCallbackID, "private_metadata": meta,
			"state": map[string]any{"values": map[string]any{"reason": map[string]any{"reason": map[string]string{"type": "plain_text_input", "value": reason}}}}},
	})
	return url.Values{"payload": {string(p)}}.Encode()
}

func TestSnoozeAsksItsReasonInAModal(t *testing.T) {
	t.Parallel()
	b := newBench(t, false)
	api := newSlackAPI(t, b)
	b.h.Bot = slackgo.New(botToken, slackgo.OptionAPIURL(api.srv.GetAPIURL()))

	// The click opens the modal and snoozes nothing yet.
	if status, p := b.click(alice, "tk-exp", actionref.Snooze30d); status != 200 || p.raw != "" {
		t.Fatalf("the click: status %d, told %s", status, p.raw)
	}
	if len(api.views) != 1 || api.views[0].CallbackID != actions.SnoozeCallbackID {
		t.Fatalf("views opened: %+v", api.views)
	}
	if s := b.state(); len(s.Snoozes) != 0 {
		t.Fatalf("snoozed before the modal was submitted: %+v", s.Snoozes)
	}
	meta := api.views[0].PrivateMetadata

	// The submission snoozes with the reason (on one line, without angle
	// brackets: it cannot mention or link), and the message shows it.
	sub := signed(signingSecret, submission(alice, "V0SNOOZE1", meta, "retiring it next week\n<!channel>"), time.Now())
	status, p := b.send(sub)
	if status != 200 {
		t.Fatalf("the submission: status %d", status)
	}
	s := b.state()
	if len(s.Snoozes) != 1 || s.Snoozes[0].Reason != "retiring it next week !channel" || s.Snoozes[0].By != alice {
		t.Fatalf("snoozes %+v", s.Snoozes)
	}
	if !p.ReplaceOriginal || !strings.Contains(p.raw, "snoozed by \\u003c@"+alice+"\\u003e · until 2026-12-30, retiring it next week !channel") ||
		!strings.Contains(p.raw, "lta_snooze_7d") { // the other tokens keep their buttons
		t.Errorf("the message update: %s", p.raw)
	}
	acts, err := actions.Source{Store: b.store, Policy: b.policy, Now: func() time.Time { return now }}.ReadActions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sups := acts.Snoozes
	if len(sups) != 1 || sups[0].Reason != "snoozed by <@"+alice+"> until 2026-12-30, retiring it next week !channel" {
		t.Errorf("as the audit applies it: %+v", sups)
	}

	// Slack's retry of the submission: once.
	b.send(sub)
	if s := b.state(); len(s.Snoozes) != 1 {
		t.Errorf("a retried submission snoozed again: %+v", s.Snoozes)
	}
	// Metadata that is not ours: nothing.
	var st map[string]string
	_ = json.Unmarshal([]byte(meta), &st)
	st["v"] = strings.Replace(st["v"], "snooze:30d", "snooze:90d", 1)
	forged, _ := json.Marshal(st)
	b.send(signed(signingSecret, submission(alice, "V0SNOOZE2", string(forged), "x"), time.Now()))
	// Someone else submitting alice's modal (its metadata leaked): refused.
	b.send(signed(signingSecret, submission(outside, "V0SNOOZE3", meta, "x"), time.Now()))
	s = b.state()
	if len(s.Snoozes) != 1 || len(s.Recent) != 2 || s.Recent[1].Outcome != "refused" || s.Recent[1].By != outside {
		t.Errorf("after a forged and a foreign submission: snoozes %+v, records %+v", s.Snoozes, s.Recent)
	}
	b.noLeak()

	// views.open fails (the trigger expired): the click snoozes at once,
	// without a reason.
	api.failing = "expired_trigger_id"
	if _, p := b.click(alice, "tk-exp", actionref.Snooze7d); !p.ReplaceOriginal || !strings.Contains(p.raw, "snoozed by") {
		t.Errorf("a click whose modal could not open: %s", p.raw)
	}
	// It replaces the earlier snooze of that finding: one per token and
	// rule, the latest.
	if s := b.state(); len(s.Snoozes) != 1 || s.Snoozes[0].Reason != "" || !s.Snoozes[0].Until.Equal(now.Add(7*audit.Day)) {
		t.Errorf("snoozes %+v", s.Snoozes)
	}
}
