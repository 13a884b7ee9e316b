package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const testHookPath = "/services/T0SECRET/B0SECRET/hookSECRET1234"

// hookReceiver accepts webhook posts on testHookPath, or refuses them all
// with status/code.
type hookReceiver struct {
	mu     sync.Mutex
	bodies [][]byte
	status int
	code   string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, _ := io.ReadAll(r.Body)
	if r.URL.Path != testHookPath {
		w.WriteHeader(404)
		io.WriteString(w, "no_service")
		return
	}
	if h.status != 0 {
		w.WriteHeader(h.status)
		io.WriteString(w, h.code)
		return
	}
	var p struct {
		Text   string            `json:"text"`
		Blocks []json.RawMessage `json:"blocks"`
	}
	if json.Unmarshal(b, &p) != nil || p.Text == "" || len(p.Blocks) == 0 || len(p.Blocks) > 50 {
		w.WriteHeader(400)
		io.WriteString(w, "invalid_blocks")
		return
	}
	h.bodies = append(h.bodies, b)
	io.WriteString(w, "ok")
}

func TestDemoPostsToWebhook(t *testing.T) {
	t.Chdir(t.TempDir())
	h := &hookReceiver{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	env := map[string]string{"SLACK_WEBHOOK_URL": srv.URL + testHookPath}
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-demo"}, envOf(env), &out, &errb); code != exitOK {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitOK, errb.String())
	}
	// The main report, and the finance team's (the demo posts its route to
	// the same webhook).
	if len(h.bodies) != 2 {
		t.Fatalf("got %d posts, want 2", len(h.bodies))
	}
	if !strings.Contains(out.String(), "Slack: slack: delivered") || !strings.Contains(out.String(), "Slack: slack:route:team-finance: delivered") {
		t.Errorf("stdout does not say it posted both:\n%s", out.String())
	}
	var main, finance any
	if err := json.Unmarshal(h.bodies[0], &main); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(h.bodies[1], &finance); err != nil {
		t.Fatal(err)
	}
	if text := fmt.Sprint(main); !strings.Contains(text, "2 expiring") || !strings.Contains(text, "&lt;!channel&gt;") || strings.Contains(text, "<!channel>") || strings.Contains(text, "risk-api") {
		t.Errorf("the main report lacks the counts or escaping, or holds finance's tokens:\n%s", h.bodies[0])
	}
	if text := fmt.Sprint(finance); !strings.Contains(text, "team-finance") || !strings.Contains(text, "risk-api") || strings.Contains(text, "etl-nightly") {
		t.Errorf("finance's report is not its slice:\n%s", h.bodies[1])
	}
	secrets := append(secrets, "hookSECRET")
	for _, b := range [][]byte{out.Bytes(), errb.Bytes(), h.bodies[0], h.bodies[1]} {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("output leaks %q", s)
			}
		}
	}
	// Each delivery is recorded beside the snapshot.
	for _, f := range []string{"20261127T090000Z.slack.2.notified.json", "20261127T090000Z.slack.route.team-finance.2.notified.json"} {
		if _, err := os.Stat(filepath.Join("demo-out", "2026", "11", "27", f)); err != nil {
			t.Errorf("no delivery record: %v", err)
		}
	}
}

func TestSlackFailureExitsOneAfterWritingTheSnapshot(t *testing.T) {
	t.Chdir(t.TempDir())
	h := &hookReceiver{status: 403, code: "invalid_token"}
	srv := httptest.NewServer(h)
	defer srv.Close()
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"-demo"}, envOf(map[string]string{"SLACK_WEBHOOK_URL": srv.URL + testHookPath}), &out, &errb)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	if !strings.Contains(errb.String(), "slack: post webhook: HTTP 403 invalid_token (gave up after 1 attempt)") {
		t.Errorf("stderr does not name Slack's error:\n%s", errb.String())
	}
	if strings.Contains(errb.String(), "hookSECRET") || strings.Contains(out.String(), "hookSECRET") {
		t.Error("the webhook URL leaked")
	}
	if _, err := os.Stat(filepath.Join("demo-out", "latest.json")); err != nil {
		t.Errorf("the snapshot was not written before the post: %v", err)
	}
}

// posts returns a copy of the accepted payloads.
func (h *hookReceiver) posts() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...)
}

// An export (-format csv, json…) on a real config writes nothing and posts
// nothing — `-format csv > tokens.csv` is a report, not a run — unless
// -post says so; stdout holds the export either way.
func TestExportsDoNotPost(t *testing.T) {
	st := newStage(t, "", "")
	for _, format := range []string{"csv", "json", "ndjson", "slack", "openmetrics"} {
		code, out, errb := st.run(t, day1, "-format", format)
		if code != exitPartial || out == "" || len(st.slack.posts()) != 0 || len(st.oss.Objects()) != 0 || !strings.Contains(errb, "Export (-format "+format+"): nothing written or posted") {
			t.Fatalf("-format %s: exit %d, %d posts, %d objects written; want an export that writes and posts nothing\n%s", format, code, len(st.slack.posts()), len(st.oss.Objects()), errb)
		}
	}
	code, out, errb := st.run(t, day1, "-format", "csv", "-post")
	if code != exitPartial || !strings.HasPrefix(out, "account_id,") || len(st.slack.posts()) != 1 || st.snapshot(t, day1Key) == nil {
		t.Errorf("-format csv -post: exit %d, %d posts; want the CSV, the snapshot written and one post\n%s", code, len(st.slack.posts()), errb)
	}
	st.leaks(t, out, errb)
}
