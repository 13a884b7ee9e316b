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
	"livy-token-audit/notify/actions"
	"livy-token-audit/notify/slack"
)

// demoSigningSecret signs the demo's buttons and clicks (-demo -actions):
// fake, like the demo's access key, and never printed.
const demoSigningSecret = "demo-signing-SECRET-DO-NOT-LEAK-41c9"

// demoActor is who clicks in the demo when the token's owner has no Slack
// user: the demo config lists it in actions.users.
const demoActor = "U0DEMOADM"

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
	getenv := func(k string) string {
		if k == "SLACK_RESPONSE_URL_HOSTS" {
			return ln.Addr().String()
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
	mux.HandleFunc(actions.Path, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, actions.MaxBody+1))
		resp := h.Serve(r.Context(), actions.Request{Method: r.Method, Path: r.URL.Path, Header: r.Header, Body: body})
		w.WriteHeader(resp.Status)
		_, _ = io.WriteString(w, resp.Body)
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

// click is a signed click of one of the report's buttons.
type click struct {
	body, ts, signature string
	user, label, token  string
}

// demoClick is the click of the first snooze button of the main report, by
// the token's owner (slack.mentions) or the demo's actor, signed as Slack
// signs: v0 HMAC-SHA256 of "v0:{timestamp}:{body}".
func demoClick(s *session, res *auditrun.Result, responseURL string) (click, error) {
	plans := previewPlan(res, s.cfg, s.buttons)
	if len(plans) == 0 {
		return click{}, errors.New("the demo report has no message")
	}
	msg := plans[0].Message
	for _, b := range msg.Blocks {
		ab, ok := b.(*slackgo.ActionBlock)
		if !ok {
			continue
		}
		for _, e := range ab.Elements.ElementSet {
			btn, ok := e.(*slackgo.ButtonBlockElement)
			if !ok || !strings.HasPrefix(btn.Value, actions.Snooze30d+"|") {
				continue
			}
			_, ref, err := actions.NewSigner(demoSigningSecret).Parse(btn.Value)
			if err != nil {
				return click{}, err
			}
			user := s.cfg.Slack.Mentions[ref.Owner]
			if user == "" {
				user = demoActor
			}
			payload, _ := json.Marshal(map[string]any{
				"type": "block_actions", "user": map[string]string{"id": user}, "team": map[string]string{"id": "T0DEMO"},
				"trigger_id": "demo.trigger", "response_url": responseURL,
				"container": map[string]string{"type": "message", "channel_id": "C0DEMO", "message_ts": "1.000001"},
				"message":   map[string]any{"type": "message", "ts": "1.000001", "text": msg.Text, "blocks": msg.Blocks},
				"actions": []map[string]string{{"type": "button", "action_id": btn.ActionID, "block_id": ab.BlockID, "value": btn.Value,
					"action_ts": strconv.FormatInt(time.Now().UnixMicro(), 10)}},
			})
			body := url.Values{"payload": {string(payload)}}.Encode()
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			m := hmac.New(sha256.New, []byte(demoSigningSecret))
			m.Write([]byte("v0:" + ts + ":" + body))
			return click{body: body, ts: ts, signature: "v0=" + hex.EncodeToString(m.Sum(nil)), user: user, label: btn.Text.Text,
				token: audit.Truncate(ref.Name, 64) + " (" + ref.Token + ")"}, nil
		}
	}
	return click{}, errors.New("the demo report has no snooze button")
}
