package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoActionsLoop is the loop a new user tries: -demo -actions audits,
// serves the buttons on loopback and prints a signed curl; sending it
// snoozes the finding (the message update is printed where Slack would
// show it); the next -demo run shows it snoozed, by whom and until when.
func TestDemoActionsLoop(t *testing.T) {
	t.Chdir(t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &syncBuffer{}
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-demo", "-actions"}, noEnv, out, &errb) }()
	curlRe := regexp.MustCompile(`curl -sS -X POST (\S+) -H 'Content-Type: (\S+)' -H 'X-Slack-Request-Timestamp: (\d+)' -H 'X-Slack-Signature: (\S+)' --data-binary @(\S+)`)
	var m []string
	for deadline := time.Now().Add(30 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m = curlRe.FindStringSubmatch(out.String())
	}
	if m == nil {
		t.Fatalf("no curl printed:\n%s\n%s", out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "[Snooze 7d] [Snooze 30d] [Snooze 90d] [I own this]") {
		t.Error("the report printed has no buttons")
	}
	body, err := os.ReadFile(m[5])
	if err != nil {
		t.Fatal(err)
	}
	// The curl, as a shell would send it.
	send := func(sig string) int {
		req, _ := http.NewRequest(http.MethodPost, m[1], bytes.NewReader(body))
		req.Header.Set("Content-Type", m[2])
		req.Header.Set("X-Slack-Request-Timestamp", m[3])
		req.Header.Set("X-Slack-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send("v0=" + strings.Repeat("0", 64)); code != http.StatusUnauthorized {
		t.Errorf("a forged signature: %d, want 401", code)
	}
	if code := send(m[4]); code != http.StatusOK {
		t.Fatalf("the printed curl: %d, want 200", code)
	}
	waitFor := func(what string) {
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), what) && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(out.String(), what) {
			t.Fatalf("the demo never printed %q:\n%s\n%s", what, out.String(), errb.String())
		}
	}
	// The click opens the modal (the demo stands in for views.open) and
	// prints the curl that submits it.
	waitFor("--- Slack opens the modal \"Snooze a finding\" (views.open) ---")
	all := curlRe.FindAllStringSubmatch(out.String(), -1)
	if len(all) != 2 {
		t.Fatalf("want a second curl for the modal's submission:\n%s", out.String())
	}
	m = all[1]
	if body, err = os.ReadFile(m[5]); err != nil {
		t.Fatal(err)
	}
	if code := send(m[4]); code != http.StatusOK {
		t.Fatalf("the submission's curl: %d, want 200", code)
	}
	waitFor("Slack now shows the message updated")
	if !strings.Contains(out.String(), ":white_check_mark: trainer snoozed by <@U0DEMOADM> · until 2026-12-27, retired at the end of the sprint") {
		t.Errorf("the message update is not shown:\n%s", out.String())
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("-demo -actions exited %d:\n%s", code, errb.String())
	}
	var next, errb2 bytes.Buffer
	if code := run(t.Context(), []string{"-demo"}, noEnv, &next, &errb2); code != exitOK {
		t.Fatalf("the next demo run exited %d:\n%s", code, errb2.String())
	}
	for _, want := range []string{
		"SNOOZED FROM SLACK — 1",
		// A finding that lasts (reused), so the next day still shows it
		// snoozed: an expiring token's snooze would end when it expired.
		"trainer (tk-020) · training / ml-research · reused · snoozed by @demo.admin until 2026-12-27, retired at the end of the sprint",
		"resolved: trainer (tk-020) · reused · training / ml-research · suppressed: snoozed by @demo.admin until 2026-12-27, retired at the end of the sprint",
	} {
		if !strings.Contains(next.String(), want) {
			t.Errorf("the next demo run does not show %q:\n%s", want, next.String())
		}
	}
	for _, secret := range []string{demoSigningSecret, demoAccessKeySecret, demoBotToken, "lvt-"} {
		if strings.Contains(out.String()+errb.String()+next.String()+errb2.String()+string(body), secret) {
			t.Errorf("%q left the process", secret)
		}
	}
	// -actions goes with -demo alone.
	var e bytes.Buffer
	if code := run(t.Context(), []string{"-actions"}, noEnv, &e, &e); code != exitUsage || !strings.Contains(e.String(), "-actions goes with -demo") {
		t.Errorf("-actions without -demo: exit %d, %s", code, e.String())
	}
}
