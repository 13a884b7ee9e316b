package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// -format retire prints the schedule the first demo day makes, as an
// export: it only looks.
func TestFormatRetire(t *testing.T) {
	out, _ := demoFormat(t, "-format", "retire")
	for _, want := range []string{
		"Retire schedule · 2026-11-27 09:00 UTC · rules unused · after 2d · notices 1d · at most 10 per run\n",
		"(this run only looks: nothing is marked, told or deleted)\n",
		"SCHEDULED — 2 (the soonest first)\n",
		"  2026-11-29 · analyst-laptop (tk-012) · cn-hangzhou / w-hz-data01 / lc-hz-bi · unused since 2026-11-27 · created by frank · deleted on 2026-11-29 · told: marked\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("-format retire does not say %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat("demo-out"); !os.IsNotExist(err) {
		t.Errorf("-format retire wrote demo-out (stat: %v)", err)
	}
}

// -webhook-ping posts one signed webhook.ping that the reference library
// verifies, and exits 0 on 2xx, 1 on a refusal, 2 for a name the config
// does not have.
func TestWebhookPing(t *testing.T) {
	t.Parallel()
	const secret = "whsec_ZGVtby10aWNrZXRzLXNpZ25pbmcta2V5LTMyYnl0ZXM="
	lib, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var bodies []string
	refuse := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := lib.Verify(b, r.Header); err != nil || refuse {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		bodies = append(bodies, string(b))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "audit.yaml")
	if err := os.WriteFile(cfg, []byte("regions: [cn-hangzhou]\nwebhooks:\n  - {name: tickets, urlEnv: T_URL, secretEnv: T_SECRET, mode: events}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		return map[string]string{"T_URL": srv.URL + "/hook", "T_SECRET": secret}[k]
	}
	ping := func(name string) (int, string) {
		var out, errb bytes.Buffer
		code := run(t.Context(), []string{"-webhook-ping", name, "-config", cfg}, env, &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := ping("tickets"); code != exitOK || !strings.Contains(out, "webhook tickets: the receiver answered 2xx to a signed webhook.ping") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if len(bodies) != 1 || !strings.Contains(bodies[0], `"type":"webhook.ping"`) {
		t.Errorf("the receiver got %v", bodies)
	}
	mu.Lock()
	refuse = true
	mu.Unlock()
	if code, out := ping("tickets"); code != exitFailed || !strings.Contains(out, "answered HTTP 401") || strings.Contains(out, secret) {
		t.Errorf("a refusal: exit %d:\n%s", code, out)
	}
	if code, out := ping("jira"); code != exitUsage || !strings.Contains(out, `-webhook-ping "jira": no such webhook`) {
		t.Errorf("an unknown name: exit %d:\n%s", code, out)
	}
}
