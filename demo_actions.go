package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"

	"livy-token-audit/audit"
	auditrun "livy-token-audit/audit/run"
	"livy-token-audit/notify/actionref"
	"livy-token-audit/notify/actions"
	"livy-token-audit/notify/slack"
)

// demoSigningSecret signs the demo's buttons and clicks (-demo -actions):
// fake, like the demo's access key, and never printed.
const demoSigningSecret = "demo-signing-SECRET-DO-NOT-LEAK-41c9"

// demoActor is who clicks in the demo when the token's owner has no Slack
// user: the demo config lists it in actions.users.
const demoActor = "U0DEMOADM"

// demoActorName is its Slack name, as Slack sends it with a click.
const demoActorName = "demo.admin"

// demoBotToken is the demo's bot, which opens the snooze's modal on the
// demo's own stand-in of Slack's API: fake, and never printed.
const demoBotToken = "xoxb-demo-SECRET-DO-NOT-LEAK-77e1"

// demoReason is the reason the demo's modal submission gives.
const demoReason = "retired at the end of the sprint"

// serveDemoActions is -demo -actions: after the audit, it serves Slack's
// actions on loopback with the demo signing secret, as the function's HTTP
// trigger does, and prints a ready curl that sends a signed click — the
// first button of the report — so that the whole loop can be seen without
// Slack. Where Slack would update the message (response_url), the demo
// prints the update. It serves until interrupted, or until -timeout.
func serveDemoActions(ctx context.Context, s *session, res *auditrun.Result, stdout io.Writer, log *slog.Logger) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen on loopback: %w", err)
	}
	base := "http://" + ln.Addr().String()
	// The demo stands in for Slack too: the response_url, and the bot's
	// API (views.open, conversations.history) for the snooze's modal.
	getenv := func(k string) string {
		switch k {
		case "SLACK_RESPONSE_URL_HOSTS":
			return ln.Addr().String()
		case "SLACK_BOT_TOKEN":
			return demoBotToken
		case "SLACK_API_URL":
			return base + "/api/"
		}
		return s.getenv(k)
	}
	h, err := newActionsHandler(s.cfg, s.demo.cred, getenv, log, s.demo.clock)
	if err != nil || h == nil {
		ln.Close()
		return cmpErr(err, errors.New("the demo's actions are off"))
	}
	h.Async = true
	click, err := demoClick(s, res, base+"/demo/response_url")
	if err != nil {
		ln.Close()
		return err
	}
	file := filepath.Join(s.cfg.Snapshot.Dir, "demo-click.txt")
	if err := os.WriteFile(file, []byte(click.body), 0o600); err != nil {
		ln.Close()
		return err
	}
	var mu sync.Mutex
	mux := http.NewServeMux()
	demoSlackAPI(mux, &mu, stdout, s, click, base)
	mux.HandleFunc(actions.Path, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, actions.MaxBody+1))
		resp := h.Serve(r.Context(), actions.Request{Method: r.Method, Path: r.URL.Path, Header: r.Header, Body: body})
		w.WriteHeader(resp.Status)
	})
	mux.HandleFunc("POST /demo/response_url", func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Text   string         `json:"text"`
			Blocks slackgo.Blocks `json:"blocks"`
		}
		if json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&m) != nil {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if len(m.Blocks.BlockSet) > 0 {
			fmt.Fprintf(stdout, "\n--- Slack now shows the message updated (response_url) ---\n%s", slack.Message{Blocks: m.Blocks.BlockSet}.PlainText())
		} else {
			fmt.Fprintf(stdout, "\n--- Slack tells the clicker (response_url, only they see it) ---\n%s\n", m.Text)
		}
		fmt.Fprintln(stdout, "\nRun `go run . -demo` again: the next day's report applies it. Ctrl-C stops the endpoint.")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(stdout, "\nDemo: Slack's actions are served at %s%s with a demo signing secret, as the function's HTTP trigger serves them.\n", base, actions.Path)
	fmt.Fprintf(stdout, "Send the click Slack would send when <@%s> presses %q on %s (signed; the signature holds for 5 minutes):\n\n", click.user, click.label, click.token)
	fmt.Fprintf(stdout, "  curl -sS -X POST %s%s -H 'Content-Type: application/x-www-form-urlencoded' -H 'X-Slack-Request-Timestamp: %s' -H 'X-Slack-Signature: %s' --data-binary @%s\n\n",
		base, actions.Path, click.ts, click.signature, file)
	fmt.Fprintln(stdout, "Slack would then open a small modal asking why (the demo stands in for Slack's API too): the demo prints it, and a second curl that submits it.")
	fmt.Fprintln(stdout, "Ctrl-C stops the endpoint.")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	h.Wait()
	return nil
}

func cmpErr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// click is a signed click of one of the report's buttons, and the
// message it was clicked in.
type click struct {
	body, ts, signature      string
	user, name, label, token string
	message                  []byte
}

// demoClick is the click of the first snooze button of the main report on
// a finding that the next day still has (an expiring token's snooze would
// end when it expires, and the next run would show no snooze), by the
// token's owner (slack.mentions) or the demo's actor, signed as Slack
// signs: v0 HMAC-SHA256 of "v0:{timestamp}:{body}".
func demoClick(s *session, res *auditrun.Result, responseURL string) (click, error) {
	plans := previewPlan(res, s.cfg, s.buttons)
	if len(plans) == 0 {
		return click{}, errors.New("the demo report has no message")
	}
	msg := plans[0].Message
	// The tokens marked for deletion are left to their schedule (a snooze
	// would cancel the mark: docs/actions.md shows that loop).
	marked := map[string]bool{}
	if r := res.Snapshot.Retire; r != nil {
		for _, e := range r.Scheduled {
			marked[e.TokenID] = true
		}
	}
	for _, lasting := range []bool{true, false} {
		if c, ok, err := demoClickOf(s, msg, responseURL, lasting, marked); ok || err != nil {
			return c, err
		}
	}
	return click{}, errors.New("the demo report has no snooze button")
}

// demoClickOf is the click of msg's first snooze button (on a finding
// that lasts, when lasting).
func demoClickOf(s *session, msg slack.Message, responseURL string, lasting bool, marked map[string]bool) (click, bool, error) {
	for _, b := range msg.Blocks {
		ab, ok := b.(*slackgo.ActionBlock)
		if !ok {
			continue
		}
		for _, e := range ab.Elements.ElementSet {
			btn, ok := e.(*slackgo.ButtonBlockElement)
			if !ok || !strings.HasPrefix(btn.Value, actionref.Snooze30d+"|") {
				continue
			}
			_, ref, err := actionref.NewSigner(demoSigningSecret).Parse(btn.Value)
			if err != nil {
				return click{}, false, err
			}
			if lasting && ref.Rule == audit.RuleExpiring || marked[ref.Token] {
				continue
			}
			user, name := s.cfg.Slack.Mentions[ref.Owner], ref.Owner
			if user == "" {
				user, name = demoActor, demoActorName
			}
			payload, _ := json.Marshal(map[string]any{
				"type": "block_actions", "user": map[string]string{"id": user, "username": name, "name": name}, "team": map[string]string{"id": "T0DEMO"},
				"trigger_id": "demo.trigger", "response_url": responseURL,
				"container": map[string]string{"type": "message", "channel_id": "C0DEMO", "message_ts": "1.000001"},
				"message":   map[string]any{"type": "message", "ts": "1.000001", "text": msg.Text, "blocks": msg.Blocks},
				"actions": []map[string]string{{"type": "button", "action_id": btn.ActionID, "block_id": ab.BlockID, "value": btn.Value,
					"action_ts": strconv.FormatInt(time.Now().UnixMicro(), 10)}},
			})
			body := url.Values{"payload": {string(payload)}}.Encode()
			ts, sign := demoSigner()
			message, _ := json.Marshal(map[string]any{"type": "message", "ts": "1.000001", "text": msg.Text, "blocks": msg.Blocks})
			return click{body: body, ts: ts, signature: sign(body), user: user, name: name, label: btn.Text.Text,
				token: audit.Truncate(ref.Name, 64) + " (" + ref.Token + ")", message: message}, true, nil
		}
	}
	return click{}, false, nil
}

// demoSigner signs a body as Slack would now: the timestamp, and the
// signature of a body at it.
func demoSigner() (string, func(body string) string) {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	return ts, func(body string) string {
		m := hmac.New(sha256.New, []byte(demoSigningSecret))
		m.Write([]byte("v0:" + ts + ":" + body))
		return "v0=" + hex.EncodeToString(m.Sum(nil))
	}
}

// demoSlackAPI stands in for the two calls of Slack's API the snooze's
// modal makes: views.open prints the modal and a ready curl that submits
// it with a reason, as Slack would send it; conversations.history answers
// the clicked message, so that its buttons can be replaced.
func demoSlackAPI(mux *http.ServeMux, mu *sync.Mutex, stdout io.Writer, s *session, c click, base string) {
	authorized := func(r *http.Request) bool {
		_ = r.ParseForm()
		return r.Header.Get("Authorization") == "Bearer "+demoBotToken || r.Form.Get("token") == demoBotToken
	}
	answer := func(w http.ResponseWriter, v any) { _ = json.NewEncoder(w).Encode(v) }
	mux.HandleFunc("POST /api/views.open", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			TriggerID string                   `json:"trigger_id"`
			View      slackgo.ModalViewRequest `json:"view"`
		}
		if !authorized(r) || json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req) != nil || req.TriggerID == "" {
			answer(w, map[string]any{"ok": false, "error": "invalid_arguments"})
			return
		}
		payload, _ := json.Marshal(map[string]any{
			"type": "view_submission", "user": map[string]string{"id": c.user, "username": c.name, "name": c.name}, "team": map[string]string{"id": "T0DEMO"},
			"view": map[string]any{"id": "V0DEMO", "type": "modal", "callback_id": req.View.CallbackID, "private_metadata": req.View.PrivateMetadata,
				"state": map[string]any{"values": map[string]any{"reason": map[string]any{"reason": map[string]string{"type": "plain_text_input", "value": demoReason}}}}},
		})
		body := url.Values{"payload": {string(payload)}}.Encode()
		file := filepath.Join(s.cfg.Snapshot.Dir, "demo-submit.txt")
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			answer(w, map[string]any{"ok": false, "error": "internal_error"})
			return
		}
		ts, sign := demoSigner()
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stdout, "\n--- Slack opens the modal %q (views.open) ---\n%s\n", req.View.Title.Text, slack.Message{Blocks: req.View.Blocks.BlockSet}.PlainText())
		fmt.Fprintf(stdout, "Submit it with the reason %q, as Slack would send it (signed; 5 minutes):\n\n", demoReason)
		fmt.Fprintf(stdout, "  curl -sS -X POST %s%s -H 'Content-Type: application/x-www-form-urlencoded' -H 'X-Slack-Request-Timestamp: %s' -H 'X-Slack-Signature: %s' --data-binary @%s\n\n",
			base, actions.Path, ts, sign(body), file)
		answer(w, map[string]any{"ok": true, "view": map[string]string{"id": "V0DEMO"}})
	})
	mux.HandleFunc("POST /api/conversations.history", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r) || r.Form.Get("channel") != "C0DEMO" {
			answer(w, map[string]any{"ok": false, "error": "channel_not_found"})
			return
		}
		answer(w, map[string]any{"ok": true, "messages": []json.RawMessage{c.message}})
	})
}
