package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"livy-token-audit/audit/preflight"
)

// The demo's preflight: the same checks against the demo's stand-ins —
// the EMR emulator (its world's staged failures lifted: the preflight is
// about permissions, not the world), the local store, and a Slack of its
// own whose bot lacks one scope (groups:history, which posting exactly
// once to the demo's private channel needs): the one staged failure.

// demoChannel is the demo's private channel, where its bot posts the main
// report during the preflight.
const demoChannel = "C0DEMOAUDIT"

// demoBotScopes are what the demo's bot was granted: groups:history is
// missing on purpose.
var demoBotScopes = []string{"chat:write", "channels:history", "channels:read", "groups:read", "im:history", "im:write", "users:read", "users:read.email"}

// startPreflightDemo starts the demo with its Slack stand-in.
func startPreflightDemo(ctx context.Context, log *slog.Logger) (*demo, error) {
	d, err := startDemo(ctx, log)
	if err != nil {
		return nil, err
	}
	d.tickets.setDir("") // its webhook.ping is answered, not logged
	// The demo retires with its own key on the emulator: there is no
	// delete role to assume (a real config's is checked).
	d.cfg.Actions.Delete.RoleARN = ""
	d.emu.Edit(func() {
		for _, r := range d.emu.World.Regions {
			r.Fail = nil
			for _, ws := range r.Workspaces {
				ws.Fail = nil
				for _, g := range ws.Gateways {
					g.Fail, g.DetailsFail = nil, nil
				}
			}
		}
	})
	d.cfg.Slack.Channel = demoChannel
	return d, nil
}

// demoSlack answers the calls the demo makes of Slack: users.lookupByEmail
// (the demo's people, by email), and the preflight's — auth.test (with the
// bot's scopes in X-OAuth-Scopes, as Slack sends them),
// conversations.info of the demo's channel, and posts to its incoming
// webhooks (-preflight-post).
func demoSlack(byEmail map[string]string) http.Handler {
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	authorized := func(r *http.Request) bool {
		_ = r.ParseForm()
		return r.Header.Get("Authorization") == "Bearer "+demoBotToken || r.Form.Get("token") == demoBotToken
	}
	mux.HandleFunc("POST /api/auth.test", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r) {
			answer(w, map[string]any{"ok": false, "error": "invalid_auth"})
			return
		}
		w.Header().Set("X-OAuth-Scopes", strings.Join(demoBotScopes, ","))
		answer(w, map[string]any{"ok": true, "url": "https://demo.slack.com/", "team": "Demo", "user": "livy-token-audit", "team_id": "T0DEMO", "user_id": "U0DEMOBOT", "bot_id": "B0DEMO"})
	})
	mux.HandleFunc("POST /api/conversations.info", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !authorized(r):
			answer(w, map[string]any{"ok": false, "error": "invalid_auth"})
		case r.Form.Get("channel") != demoChannel:
			answer(w, map[string]any{"ok": false, "error": "channel_not_found"})
		default:
			answer(w, map[string]any{"ok": true, "channel": map[string]any{"id": demoChannel, "name": "livy-audit", "is_channel": true, "is_private": true, "is_member": true}})
		}
	})
	mux.HandleFunc("POST /api/users.lookupByEmail", func(w http.ResponseWriter, r *http.Request) {
		id, ok := byEmail[r.FormValue("email")]
		switch {
		case !authorized(r):
			answer(w, map[string]any{"ok": false, "error": "invalid_auth"})
		case !ok:
			answer(w, map[string]any{"ok": false, "error": "users_not_found"})
		default:
			answer(w, map[string]any{"ok": true, "user": map[string]any{"id": id, "name": r.FormValue("email"), "deleted": false}})
		}
	})
	mux.HandleFunc("POST /hooks/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
		_, _ = io.WriteString(w, "ok")
	})
	return mux
}

// preflightEnv is the demo's environment for the preflight: its bot and
// webhooks are the stand-in's, whatever the caller's environment holds.
func (d *demo) preflightEnv(getenv func(string) string) func(string) string {
	return func(k string) string {
		switch k {
		case "SLACK_BOT_TOKEN":
			return demoBotToken
		case "SLACK_API_URL":
			return d.slackURL + "/api/"
		case "SLACK_WEBHOOK_URL", "DEMO_FINANCE_WEBHOOK":
			return d.slackURL + "/hooks/demo"
		case "SLACK_SIGNING_SECRET":
			return demoSigningSecret
		case demoTicketsURLEnv:
			return d.ticketsURL
		case demoTicketsSecretEnv:
			return demoTicketsSecret
		}
		return getenv(k)
	}
}

// markStaged marks the demo's staged failure: its bot's missing
// groups:history.
func (d *demo) markStaged(rows []preflight.Row) {
	for i, r := range rows {
		if r.Result == preflight.MissingPermission && strings.Contains(r.Do, "groups:history") {
			rows[i].Staged = true
		}
	}
}
