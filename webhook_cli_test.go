package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"livy-token-audit/notify/webhook"
)

const (
	ticketsPath   = "/hooks/tickets/SECRETpath77"
	ticketsSecret = "whsec-SECRET-e2e-5eed"
)

// ticketReceiver is a JSON webhook receiver that verifies every post with
// the documented scheme (webhook.Verify) and keeps what it accepted.
type ticketReceiver struct {
	mu     sync.Mutex
	bodies [][]byte
	bad    int
}

func (h *ticketReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, _ := io.ReadAll(r.Body)
	if r.URL.Path != ticketsPath || webhook.Verify(ticketsSecret, r.Header.Get(webhook.TimestampHeader), r.Header.Get(webhook.SignatureHeader), b, time.Now()) != nil {
		h.bad++
		http.Error(w, "refused", http.StatusUnauthorized)
		return
	}
	h.bodies = append(h.bodies, b)
	w.WriteHeader(http.StatusNoContent)
}

// A JSON webhook configured in webhooks: gets one signed post per run with
// its slice; a retry of the run posts nothing more; nothing secret leaks.
func TestCLIPostsToJSONWebhook(t *testing.T) {
	cfg, oss, _ := cliWorld(t, "webhooks:\n  - {name: tickets, urlEnv: TICKETS_URL, secretEnv: TICKETS_SECRET, match: {regions: [cn-hangzhou]}, notify: always}\n")
	h := &ticketReceiver{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	env := envOf(map[string]string{"TICKETS_URL": srv.URL + ticketsPath, "TICKETS_SECRET": ticketsSecret})
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-config", cfg, "-now", "2026-11-27T09:00:00Z"}, env, &out, &errb); code != exitPartial {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitPartial, errb.String())
	}
	if len(h.bodies) != 1 || h.bad != 0 || !strings.Contains(out.String(), "Webhook: webhook:tickets: delivered") {
		t.Fatalf("%d posts accepted, %d refused; stdout:\n%s", len(h.bodies), h.bad, out.String())
	}
	var body struct {
		Destination string `json:"destination"`
		Tokens      []struct {
			Region string `json:"region"`
		} `json:"tokens"`
		Coverage struct {
			Verdict string `json:"verdict"`
		} `json:"coverage"`
	}
	if err := json.Unmarshal(h.bodies[0], &body); err != nil {
		t.Fatal(err)
	}
	if body.Destination != "webhook:tickets" || len(body.Tokens) == 0 || body.Coverage.Verdict == "" {
		t.Errorf("body: %s", h.bodies[0])
	}
	for _, tk := range body.Tokens {
		if tk.Region != "cn-hangzhou" {
			t.Errorf("a token of %s is outside the webhook's slice", tk.Region)
		}
	}
	if _, ok := oss.Objects()["livy-audit/2026/11/27/20261127T090000Z.webhook.tickets.2.notified.json"]; !ok {
		t.Error("the delivery is not claimed beside the snapshot")
	}
	// A retry of the same run posts nothing more.
	out.Reset()
	if code := run(t.Context(), []string{"-config", cfg, "-now", "2026-11-27T09:00:00Z"}, env, &out, &errb); code != exitPartial {
		t.Fatalf("retry: exit %d", code)
	}
	if len(h.bodies) != 1 || !strings.Contains(out.String(), "Webhook: webhook:tickets: already") {
		t.Errorf("retry: %d posts; stdout:\n%s", len(h.bodies), out.String())
	}
	for _, b := range [][]byte{out.Bytes(), errb.Bytes(), h.bodies[0]} {
		for _, s := range []string{ticketsSecret, "SECRETpath77", cliSecret} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%q leaked", s)
			}
		}
	}
}

// A webhook whose variables are not set is an error before any call.
func TestCLIWebhookNeedsItsVariables(t *testing.T) {
	cfg, _, emu := cliWorld(t, "webhooks:\n  - {name: tickets, urlEnv: TICKETS_URL, secretEnv: TICKETS_SECRET}\n")
	var out, errb bytes.Buffer
	env := envOf(map[string]string{"TICKETS_URL": "https://tickets.example.com/hook"})
	if code := run(t.Context(), []string{"-config", cfg}, env, &out, &errb); code != exitFailed {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	if !strings.Contains(errb.String(), "webhooks[0] (tickets): TICKETS_SECRET is not set") || len(emu.Requests()) != 0 {
		t.Errorf("stderr:\n%s\n%d API requests", errb.String(), len(emu.Requests()))
	}
}
