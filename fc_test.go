package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"livy-token-audit/notify/actions"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	"livy-token-audit/audit/preflight"
	"livy-token-audit/internal/standin/emulator"
	"livy-token-audit/internal/standin/ossemu"
)

// runtimeAPI emulates Function Compute's runtime API (version 2020-11-11)
// for the real fc.Start loop: /next hands out queued invocations with FC's
// headers; /response and /error take the results.
type runtimeAPI struct {
	events  chan fcInvocation
	mu      sync.Mutex
	results map[string]chan fcResult
	seq     int
}

type fcInvocation struct {
	id      string
	body    []byte
	headers map[string]string
}

type fcResult struct {
	ok   bool
	body []byte
}

func newRuntimeAPI() *runtimeAPI {
	return &runtimeAPI{events: make(chan fcInvocation), results: map[string]chan fcResult{}}
}

func (r *runtimeAPI) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	const base = "/2020-11-11/runtime/invocation/"
	rest, ok := strings.CutPrefix(req.URL.Path, base)
	switch {
	case !ok:
		http.NotFound(w, req)
	case rest == "next" && req.Method == http.MethodGet:
		select {
		case inv := <-r.events:
			w.Header().Set("x-fc-request-id", inv.id)
			for k, v := range inv.headers {
				w.Header().Set(k, v)
			}
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(inv.body)
		case <-req.Context().Done():
		}
	case req.Method == http.MethodPost && (strings.HasSuffix(rest, "/response") || strings.HasSuffix(rest, "/error")):
		id, kind, _ := strings.Cut(rest, "/")
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		ch := r.results[id]
		r.mu.Unlock()
		if ch == nil {
			http.Error(w, "unknown request id", http.StatusNotFound)
			return
		}
		ch <- fcResult{ok: kind == "response", body: body}
		w.WriteHeader(http.StatusOK) // what fc-runtime-go-sdk expects
	default:
		http.NotFound(w, req)
	}
}

// invoke queues an event with FC's per-invocation headers and waits for
// the function's answer.
func (r *runtimeAPI) invoke(t *testing.T, body string, timeout time.Duration, retry int, creds [3]string) fcResult {
	t.Helper()
	r.mu.Lock()
	r.seq++
	id := fmt.Sprintf("req-%04d", r.seq)
	ch := make(chan fcResult, 1)
	r.results[id] = ch
	r.mu.Unlock()
	inv := fcInvocation{id: id, body: []byte(body), headers: map[string]string{
		"x-fc-access-key-id": creds[0], "x-fc-access-key-secret": creds[1], "x-fc-security-token": creds[2],
		"x-fc-function-deadline": strconv.FormatInt(time.Now().Add(timeout).UnixMilli(), 10),
		"x-fc-function-timeout":  strconv.Itoa(int(timeout / time.Second)),
		"x-fc-retry-count":       strconv.Itoa(retry),
		"x-fc-region":            "cn-hangzhou", "x-fc-account-id": "1234567890",
		"x-fc-function-name": "livy-token-audit", "x-fc-function-handler": "main", "x-fc-function-memory": "256",
	}}
	select {
	case r.events <- inv:
	case <-time.After(30 * time.Second):
		t.Fatal("the function never asked for the next invocation")
	}
	select {
	case res := <-ch:
		return res
	case <-time.After(60 * time.Second):
		t.Fatalf("no answer to %s", id)
	}
	return fcResult{}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds the real function binary once per test run, with the
// flags and environment of the test build itself, so that the build cache
// serves every package the tests compiled and only the link is new (s.yaml's
// -trimpath and CGO_ENABLED=0 would each recompile the standard library and
// every dependency: TestPreDeployPackage checks them as text).
func buildBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "livy-token-audit-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "main")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// syncBuffer is a bytes.Buffer safe for the process's writes and our reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startFunction starts the real binary under a local runtime-API emulator,
// as Function Compute would, and returns the emulator and the process's
// output.
func startFunction(t *testing.T, bin, cfgPath, hookURL string, env ...string) (*runtimeAPI, *syncBuffer) {
	t.Helper()
	rt := newRuntimeAPI()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rtSrv := &http.Server{Handler: rt}
	go rtSrv.Serve(ln)
	t.Cleanup(func() { rtSrv.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"FC_RUNTIME_API=" + ln.Addr().String(), "AUDIT_CONFIG=" + cfgPath,
		"SLACK_WEBHOOK_URL=" + hookURL, "ALIBABA_CLOUD_ECS_METADATA_DISABLED=true", "HOME=" + filepath.Dir(cfgPath)}
	cmd.Env = append(cmd.Env, env...)
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	return rt, stderr
}

func TestFunctionComputeHandler(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	role := [3]string{"STS.FcRoleKey01", "fc-role-secret-never-print-3b", "fc-sts-token-never-print-9z"}

	// The EMR API and the bucket accept only the role's STS credentials, which
	// arrive in each invocation's headers: nothing else could sign.
	var worldNow atomic.Int64
	worldNow.Store(demoStart.UnixMilli())
	world, err := emulator.LoadWorld(demoWorld)
	if err != nil {
		t.Fatal(err)
	}
	for _, ws := range world.Regions["cn-hangzhou"].Workspaces {
		for _, g := range ws.Gateways {
			if g.ID == "lc-hz-etl" { // hangs from 2026-11-27 11:00, for the deadline case
				from := time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC)
				g.Fail = &emulator.Failure{Status: 503, Code: "ServiceUnavailable", Delay: emulator.Duration(20 * time.Second), From: &from}
			}
		}
	}
	emu := &emulator.Server{World: world, Keys: map[string]emulator.Key{role[0]: {Secret: role[1], SecurityToken: role[2]}},
		Now: func() time.Time { return time.UnixMilli(worldNow.Load()).UTC() }}
	api := httptest.NewServer(emu)
	defer api.Close()
	oss := &ossemu.Server{Bucket: "audit-snapshots", Region: "cn-hangzhou", Keys: map[string]ossemu.Key{role[0]: {Secret: role[1], SecurityToken: role[2]}}}
	bucket := httptest.NewServer(oss)
	defer bucket.Close()
	hook := &hookReceiver{}
	slackSrv := httptest.NewServer(hook)
	defer slackSrv.Close()

	dir := t.TempDir()
	cfg := fmt.Sprintf(`regions: [cn-hangzhou, cn-shanghai]
rules: {maxLifetime: 365d}
api: {endpoint: %q, retries: 1, deadlineReserve: 2s, ratePerSecond: 1000}
snapshot:
  oss: {bucket: audit-snapshots, region: cn-hangzhou, endpoint: %q, prefix: livy/}
slack: {notify: always}
`, api.URL, bucket.URL)
	cfgPath := filepath.Join(dir, "audit.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	rt, stderr := startFunction(t, bin, cfgPath, slackSrv.URL+testHookPath)
	timer := `{"triggerTime":"2026-11-27T09:00:00Z","triggerName":"daily","payload":""}`
	putsOf := func(key string) int {
		n := 0
		for _, r := range oss.Requests() {
			if r.Method == "PUT" && r.Key == key && r.Status == 200 {
				n++
			}
		}
		return n
	}
	const dated = "livy/2026/11/27/20261127T090000Z.json"

	t.Run("timer event audits with the invocation's credentials", func(t *testing.T) {
		res := rt.invoke(t, timer, 60*time.Second, 0, role)
		if !res.ok {
			t.Fatalf("error response: %s\nlogs:\n%s", res.body, stderr.String())
		}
		var resp fcResponse
		if err := json.Unmarshal(res.body, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.RunID != "audit-20261127T090000Z" || !resp.Notified || !resp.Partial || resp.Summary.Tokens != 12 || resp.Summary.GatewaysFailed != 1 ||
			!strings.Contains(resp.Snapshot, "path=livy%2F2026%2F11%2F27%2F20261127T090000Z.json") ||
			!strings.Contains(resp.Page, "path=livy%2F2026%2F11%2F27%2F20261127T090000Z.html") {
			t.Errorf("response: got %s", res.body)
		}
		if putsOf("livy/2026/11/27/20261127T090000Z.html") != 1 || putsOf("livy/latest.html") != 1 {
			t.Error("the function did not write the report page and latest.html")
		}
		if putsOf(dated) != 1 || putsOf("livy/latest.json") != 1 || len(hook.posts()) != 1 {
			t.Errorf("got %d dated puts, %d latest puts, %d posts; want 1 each", putsOf(dated), putsOf("livy/latest.json"), len(hook.posts()))
		}
		for _, r := range emu.Requests() {
			if r.AccessKeyID != role[0] || r.SecurityToken != role[2] {
				t.Fatalf("an API request was signed with %q/%q, not the invocation's role", r.AccessKeyID, r.SecurityToken)
			}
		}
		var snap struct {
			Trigger map[string]any `json:"trigger"`
		}
		_ = json.Unmarshal(oss.Objects()[dated].Data, &snap)
		if snap.Trigger["kind"] != "timer" || snap.Trigger["name"] != "daily" || snap.Trigger["requestId"] != "req-0001" {
			t.Errorf("snapshot trigger: got %v", snap.Trigger)
		}
	})

	t.Run("a retry of the same firing writes and posts nothing again", func(t *testing.T) {
		calls := len(emu.Requests())
		res := rt.invoke(t, timer, 60*time.Second, 1, role)
		if !res.ok || !bytes.Contains(res.body, []byte(`"reused":true`)) {
			t.Fatalf("got %v %s, want a successful reused run", res.ok, res.body)
		}
		if putsOf(dated) != 1 || len(hook.posts()) != 1 || len(emu.Requests()) != calls {
			t.Errorf("after the retry: %d dated puts, %d posts, %d new API calls; want 1, 1, 0", putsOf(dated), len(hook.posts()), len(emu.Requests())-calls)
		}
	})

	t.Run("a malformed event gets an error and the next one succeeds", func(t *testing.T) {
		for body, want := range map[string]string{
			"this is not json":               "not JSON",
			`{"dryRun":"yes"}`:               `field \"dryRun\" must be a JSON boolean`,
			`{"bogus":1}`:                    `unknown field \"bogus\"`,
			`{"now":"2099-01-01T00:00:00Z"}`: "is in the future",
			`{"regions":["eu-central-1"]}`:   `region \"eu-central-1\" is not in the configured regions`,
		} {
			res := rt.invoke(t, body, 30*time.Second, 0, role)
			if res.ok || !strings.Contains(string(res.body), want) {
				t.Errorf("event %s: got ok=%v %s, want an error containing %s", body, res.ok, res.body, want)
			}
		}
		objects := len(oss.Objects())
		res := rt.invoke(t, `{"dryRun":true,"now":"2026-11-27T10:00:00Z"}`, 60*time.Second, 0, role)
		if !res.ok || !bytes.Contains(res.body, []byte(`"dryRun":true`)) {
			t.Fatalf("dry run: got %v %s", res.ok, res.body)
		}
		if len(oss.Objects()) != objects || len(hook.posts()) != 1 {
			t.Error("the dry run wrote or posted")
		}
	})

	t.Run("a short deadline still writes a partial snapshot", func(t *testing.T) {
		worldNow.Store(time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC).UnixMilli())
		start := time.Now()
		res := rt.invoke(t, `{"triggerTime":"2026-11-27T11:00:00Z","triggerName":"daily"}`, 5*time.Second, 0, role)
		if !res.ok {
			t.Fatalf("error response: %s\nlogs:\n%s", res.body, stderr.String())
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("answered after %v, past the function's deadline", time.Since(start))
		}
		data := oss.Objects()["livy/2026/11/27/20261127T110000Z.json"].Data
		if !bytes.Contains(data, []byte(`"code": "DeadlineExceeded"`)) || !bytes.Contains(res.body, []byte(`"partial":true`)) {
			t.Errorf("snapshot or response lacks the DeadlineExceeded gateway:\n%s", res.body)
		}
	})

	t.Run("a timer event with fields this version does not know is served", func(t *testing.T) {
		res := rt.invoke(t, `{"triggerTime":"2026-11-27T09:00:00Z","triggerName":"daily","eventSource":"acs:fc","x":1}`, 60*time.Second, 1, role)
		if !res.ok || !bytes.Contains(res.body, []byte(`"reused":true`)) {
			t.Fatalf("got %v %s", res.ok, res.body)
		}
		if !strings.Contains(stderr.String(), `"fields":["eventSource","x"]`) {
			t.Error("the unknown fields were not logged")
		}
	})

	t.Run("a timer event from the future is refused", func(t *testing.T) {
		future := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
		res := rt.invoke(t, `{"triggerTime":"`+future+`","triggerName":"daily"}`, 30*time.Second, 0, role)
		if res.ok || !bytes.Contains(res.body, []byte("is in the future")) {
			t.Errorf("got %v %s, want an error", res.ok, res.body)
		}
	})

	t.Run("one timer event delivered twice at once posts once", func(t *testing.T) {
		worldNow.Store(time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC).UnixMilli())
		posts := len(hook.posts())
		const event = `{"triggerTime":"2026-11-27T10:30:00Z","triggerName":"daily"}`
		var wg sync.WaitGroup
		results := make([]fcResult, 3)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = rt.invoke(t, event, 60*time.Second, 0, role)
			}()
		}
		wg.Wait()
		notified := 0
		for _, r := range results {
			if !r.ok {
				t.Fatalf("a delivery failed: %s", r.body)
			}
			if bytes.Contains(r.body, []byte(`"notified":true`)) {
				notified++
			}
		}
		if got := len(hook.posts()) - posts; got != 1 || notified != 1 {
			t.Errorf("got %d posts and %d responses saying notified; want 1 and 1", got, notified)
		}
		if _, ok := oss.Objects()["livy/2026/11/27/20261127T103000Z.slack.2.notified.json"]; !ok {
			t.Error("no delivery record")
		}
	})

	// Logs: JSON, the request id on every invocation line, no secret.
	logs := stderr.String()
	if strings.Contains(logs, "failed to invoke function") {
		t.Errorf("the runtime SDK could not deliver a result:\n%s", logs)
	}
	sc := bufio.NewScanner(strings.NewReader(logs))
	lines := 0
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue // the runtime SDK's own log lines
		}
		lines++
		if rec["request_id"] == nil || rec["request_id"] == "" {
			t.Errorf("log line without request_id: %s", sc.Text())
		}
	}
	if lines < 5 {
		t.Errorf("got %d JSON log lines, want the run's logs:\n%s", lines, logs)
	}
	for _, secret := range []string{role[1], role[2], "hookSECRET", "lvt-SECRET"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs leak %q", secret)
		}
		for _, b := range hook.posts() {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("a Slack post leaks %q", secret)
			}
		}
		for k, o := range oss.Objects() {
			if bytes.Contains(o.Data, []byte(secret)) {
				t.Errorf("%s leaks %q", k, secret)
			}
		}
	}
}

func TestParseEvent(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	inv, unknown, err := parseEvent([]byte(`{"triggerTime":"2026-11-27T01:00:00Z","triggerName":"daily","payload":"{\"notify\":false,\"regions\":[\"cn-hangzhou\"],\"workspaces\":[\"finance\"]}"}`), now)
	if err != nil || inv.kind != "timer" || !inv.now.Equal(time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)) || *inv.opts.Notify || inv.opts.Regions[0] != "cn-hangzhou" || unknown != nil ||
		fmt.Sprint(narrowing(inv.opts).Workspaces) != "[finance]" {
		t.Errorf("timer: got %+v, %v, %v", inv, unknown, err)
	}
	for _, body := range []string{"", "{}", "  \n"} {
		if inv, _, err := parseEvent([]byte(body), now); err != nil || inv.kind != "manual" || !inv.now.Equal(now) {
			t.Errorf("%q: got %+v, %v; want a manual run now", body, inv, err)
		}
	}
	// The platform may add fields to timer events: they are accepted and
	// named, so they can be logged.
	inv, unknown, err = parseEvent([]byte(`{"triggerTime":"2026-11-27T01:00:00Z","triggerName":"daily","eventId":"e-1","x":{"y":1}}`), now)
	if err != nil || inv.kind != "timer" || fmt.Sprint(unknown) != "[eventId x]" {
		t.Errorf("timer with new fields: got %+v, %v, %v; want accepted, naming eventId and x", inv, unknown, err)
	}
	// A trigger time a few minutes ahead (clock skew) is fine; more is not.
	if _, _, err := parseEvent([]byte(`{"triggerTime":"2026-11-27T12:04:00Z"}`), now); err != nil {
		t.Errorf("4 minutes ahead: got %v, want accepted", err)
	}
	for body, want := range map[string]string{
		`[1,2]`:                                                            "must be a JSON object",
		`{"triggerTime":"yesterday"}`:                                      "triggerTime is not an RFC 3339 time",
		`{"lvt-SECRET-x":1}`:                                               "manual event: unknown field (a field name that is not shown)",
		`{"triggerTime":"2026-11-27T12:06:00Z"}`:                           "timer event: triggerTime 2026-11-27T12:06:00Z is in the future",
		`{"triggerTime":"2099-01-01T00:00:00Z"}`:                           "is in the future",
		`{"triggerTime":"2026-11-27T01:00:00Z","payload":"{"}`:             "timer payload",
		`{"triggerTime":"2026-11-27T01:00:00Z","payload":"{\"bogus\":1}"}`: `timer payload: unknown field "bogus"`,
		`{"gateways":[{"region":"cn-hangzhou"}],"extra":true}`:             `manual event: unknown field "extra"`,
		`{"now":"2026-11-27T12:06:00Z"}`:                                   "is in the future",
		`{"dryRun":true}{"dryRun":false}`:                                  "not JSON",
	} {
		if _, _, err := parseEvent([]byte(body), now); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", body, err, want)
		}
	}
}

// FuzzParseEvent: no event makes the decoder panic, echo a secret-like
// value, or accept an audit time in the future.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"dryRun":true,"notify":false,"regions":["cn-hangzhou"],"gateways":[{"region":"cn-hangzhou","workspace":"w","gateway":"g"}],"now":"2026-11-27T09:00:00Z"}`))
	f.Add([]byte(`{"triggerTime":"2026-11-27T01:00:00Z","triggerName":"daily","payload":"{\"dryRun\":true}"}`))
	f.Add([]byte(`{"triggerTime":"2026-11-27T01:00:00Z","newField":"lvt-SECRET"}`))
	f.Add([]byte(`lvt-SECRET-not-json`))
	f.Add([]byte(`{"now":"lvt-SECRET"}`))
	f.Add([]byte(`{"version":"v1","rawPath":"/slack/actions","body":"cGF5bG9hZA==","isBase64Encoded":true,"headers":{"X-Slack-Signature":"v0=1"},"requestContext":{"http":{"method":"POST","path":"/slack/actions"}}}`))
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		// The three shapes are apart: an HTTP trigger's event is never an
		// audit's, and reading its request never panics.
		if httpEvent(b) {
			if _, _, err := parseEvent(b, now); err == nil {
				t.Fatalf("an HTTP event parses as an audit's: %q", b)
			}
			var ev events.HTTPTriggerEvent
			if json.Unmarshal(b, &ev) == nil {
				if req, status := httpRequest(&ev); status == 0 && len(req.Body) > actions.MaxBody {
					t.Fatalf("a body of %d bytes was let through", len(req.Body))
				}
			}
			return
		}
		inv, _, err := parseEvent(b, now)
		if err != nil {
			if strings.Contains(err.Error(), "lvt-SECRET") {
				t.Fatalf("the error echoes the event: %v", err)
			}
			if len(err.Error()) > 400 {
				t.Fatalf("the error is %d bytes long: %.100s…", len(err.Error()), err)
			}
			return
		}
		if inv.now.After(now.Add(maxFutureSkew)) {
			t.Fatalf("accepted an audit time in the future: %v", inv.now)
		}
		if len(inv.name) > 4*128 {
			t.Fatalf("kept a trigger name of %d bytes", len(inv.name))
		}
	})
}

// A bad config fails every invocation, and says so in Slack once per run:
// not again on a retry, nor on a second delivery of the same event.
func TestFunctionComputeBadConfigSaysSoOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	hook := &hookReceiver{}
	slackSrv := httptest.NewServer(hook)
	defer slackSrv.Close()
	cfgPath := filepath.Join(t.TempDir(), "audit.yaml")
	if err := os.WriteFile(cfgPath, []byte("regions: [cn-hangzhou]\nrules:\n  staleAftr: 30d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rt, stderr := startFunction(t, bin, cfgPath, slackSrv.URL+testHookPath)
	role := [3]string{"STS.FcRoleKey01", "fc-role-secret-never-print-3b", "fc-sts-token-never-print-9z"}
	const event = `{"triggerTime":"2026-11-27T09:00:00Z","triggerName":"daily"}`
	for i, retry := range []int{0, 1, 0, 2} {
		res := rt.invoke(t, event, 30*time.Second, retry, role)
		if res.ok || !bytes.Contains(res.body, []byte("audit.yaml:3: rules.staleAftr: unknown key")) {
			t.Errorf("invocation %d: got %v %s, want the config error", i, res.ok, res.body)
		}
	}
	posts := hook.posts()
	if len(posts) != 1 || !bytes.Contains(posts[0], []byte("rules.staleAftr: unknown key")) || !bytes.Contains(posts[0], []byte("audit-20261127T090000Z")) {
		t.Errorf("got %d posts, want one notice naming the key:\n%s", len(posts), bytes.Join(posts, []byte("\n")))
	}
	for _, s := range []string{role[1], role[2], "hookSECRET"} {
		if strings.Contains(stderr.String(), s) || bytes.Contains(bytes.Join(posts, nil), []byte(s)) {
			t.Errorf("%q leaked", s)
		}
	}
}

// A deployed function whose config names destinations whose secrets are
// not in its environment refuses to run, naming each variable, before any
// call: it would post nowhere and answer ok. A dry run, which posts
// nothing, still runs.
func TestFunctionComputeRefusesDestinationsWithoutSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	var calls atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, `{"Code":"Forbidden.RAM","Message":"no"}`, http.StatusForbidden)
	}))
	defer api.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "audit.yaml")
	cfg := fmt.Sprintf(`regions: [cn-hangzhou]
api: {endpoint: %q, retries: 1}
snapshot: {dir: %q}
slack:
  routes:
    - {name: team-data, webhookEnv: TEAM_DATA_WEBHOOK, match: {workspaces: [data]}}
webhooks:
  - {name: tickets, urlEnv: TICKETS_URL, secretEnv: TICKETS_SECRET}
`, api.URL, filepath.Join(dir, "out"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	rt, stderr := startFunction(t, bin, cfgPath, "") // no secret at all: before, it ran and posted nowhere
	role := [3]string{"STS.FcRoleKey01", "fc-role-secret-never-print-3b", "fc-sts-token-never-print-9z"}
	res := rt.invoke(t, `{"triggerTime":"2026-11-27T09:00:00Z","triggerName":"daily"}`, 30*time.Second, 0, role)
	for _, want := range []string{"route team-data needs TEAM_DATA_WEBHOOK", "webhook tickets needs TICKETS_URL", "webhook tickets needs TICKETS_SECRET"} {
		if res.ok || !bytes.Contains(res.body, []byte(want)) {
			t.Errorf("got ok=%v %s; want the invocation refused, saying %q", res.ok, res.body, want)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d API calls before the refusal; want none", n)
	}
	res = rt.invoke(t, `{"dryRun":true}`, 30*time.Second, 0, role)
	if bytes.Contains(res.body, []byte("without their secrets")) || calls.Load() == 0 { // it audits (the stand-in denies it)
		t.Errorf("a dry run: ok=%v %s, %d calls; want it to run (it posts nothing)\n%s", res.ok, res.body, calls.Load(), stderr.String())
	}
	// The preflight runs with the function's own role and environment, and
	// answers its rows: what the deploy lacks, each named.
	res = rt.invoke(t, `{"preflight": true}`, 30*time.Second, 0, role)
	var pf preflightResponse
	if err := json.Unmarshal(res.body, &pf); err != nil || !res.ok || !pf.Preflight || pf.OK || len(pf.Rows) < 10 {
		t.Fatalf("preflight: ok=%v %s (%v)", res.ok, res.body, err)
	}
	want := map[string]preflight.Result{"credentials": preflight.OK, "emr ListWorkspaces": preflight.MissingPermission, "webhook ping": preflight.Refused,
		"slack webhook": preflight.Refused, "store create": preflight.OK}
	for _, r := range pf.Rows {
		if r.Check == "slack webhook" && !strings.Contains(r.Scope, "team-data") {
			continue // the main report's: not configured
		}
		if w, ok := want[r.Check]; ok && r.Result != w {
			t.Errorf("preflight %s (%s): %s %q, want %s", r.Check, r.Scope, r.Result, r.Do, w)
		}
	}
	if res = rt.invoke(t, `{"preflight": true, "dryRun": true}`, 30*time.Second, 0, role); res.ok || !bytes.Contains(res.body, []byte("preflight takes no other field")) {
		t.Errorf("a preflight with an audit's field: ok=%v %s", res.ok, res.body)
	}
	if bytes.Contains(res.body, []byte(role[1])) || strings.Contains(stderr.String(), role[1]) {
		t.Error("the role's secret left the function")
	}
}
