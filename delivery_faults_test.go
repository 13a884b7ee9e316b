package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/internal/standin/emulator"
	"livy-token-audit/internal/standin/ossemu"
)

// Days of the demo world: etl-nightly (tk-001) is expiring on day 1 and
// expired from day 4.
const (
	day4 = "2026-11-30T09:00:00Z"
	day5 = "2026-12-01T09:00:00Z"
)

// claimKeys returns the keys of the claim records written for day 1.
func (st *stage) claimKeys() []string {
	var out []string
	for k := range st.oss.Objects() {
		if strings.HasPrefix(k, "livy/2026/11/27/") && strings.HasSuffix(k, ".notified.json") {
			out = append(out, strings.TrimPrefix(k, "livy/2026/11/27/20261127T090000Z."))
		}
	}
	return out
}

// requests returns how many requests Slack got.
func (s *slackRecorder) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// TestDeliveryFaults runs the CLI through the delivery and state rows of
// the README's fault matrix: each case asserts the posts the stand-ins
// received, the exit status, the files left in the store, and searches
// every byte that left the process for secrets.
func TestDeliveryFaults(t *testing.T) {
	t.Parallel()
	type out struct {
		code        int
		stdout, err string
	}
	tests := []struct {
		name  string
		extra string // config
		run   func(t *testing.T, st *stage) []out
	}{
		{name: "slow webhook answers after 2s: one post", run: func(t *testing.T, st *stage) []out {
			st.slack.answer = func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(2 * time.Second) // Slack has taken the message; the bound is 30 s
				io.WriteString(w, "ok")
			}
			code, o, e := st.run(t, day1)
			if code != exitOK || st.slack.count() != 1 || !strings.Contains(o, "Slack: slack: delivered") {
				t.Errorf("exit %d, %d requests; want 0 and one post\n%s%s", code, st.slack.count(), o, e)
			}
			return []out{{code, o, e}}
		}},
		{name: "claims refused (403)", run: func(t *testing.T, st *stage) []out {
			st.oss.SetFault(func(method, key string) int {
				if method == http.MethodPut && strings.HasSuffix(key, ".notified.json") {
					return http.StatusForbidden
				}
				return 0
			})
			code, o, e := st.run(t, day1)
			if code != exitOK || len(st.slack.posts()) != 1 || !strings.Contains(o, "sent without a claim: the store takes none") || strings.Contains(o+e, "the first attempt posted") {
				t.Errorf("exit %d, %d posts; want 0 and one post that says it had no claim\n%s%s", code, len(st.slack.posts()), o, e)
			}
			return []out{{code, o, e}}
		}},
		{name: "route names a.b and a-b", extra: `slack:
  notify: always
  routes:
    - {name: team.data, webhookEnv: TEAM_DOT_HOOK, match: {workspaces: [data-platform]}}
    - {name: team-data, webhookEnv: TEAM_DASH_HOOK, match: {workspaces: [data-platform]}}
`, run: func(t *testing.T, st *stage) []out {
			st.env = map[string]string{"TEAM_DOT_HOOK": st.hookURL, "TEAM_DASH_HOOK": st.hookURL}
			code, o, e := st.run(t, day1)
			if code != exitOK || len(st.slack.posts()) != 3 {
				t.Errorf("exit %d, %d posts; want 0 and 3 (main and both routes)\n%s%s", code, len(st.slack.posts()), o, e)
			}
			keys := strings.Join(st.claimKeys(), " ")
			for _, k := range []string{"slack.route.team_2edata.1.notified.json", "slack.route.team-data.1.notified.json"} {
				if !strings.Contains(keys, k) {
					t.Errorf("no claim %s among %s", k, keys)
				}
			}
			code2, o2, e2 := st.run(t, day1)
			if code2 != exitOK || len(st.slack.posts()) != 3 {
				t.Errorf("a second run posted again: %d posts\n%s", len(st.slack.posts()), o2)
			}
			return []out{{code, o, e}, {code2, o2, e2}}
		}},
		{name: "notify changes with Slack down on the day of a change", extra: "slack: {notify: changes}\n", run: func(t *testing.T, st *stage) []out {
			var outs []out
			step := func(now string, status int) string {
				st.slack.mu.Lock()
				st.slack.answer = nil
				if status != 0 {
					st.slack.answer = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }
				}
				st.slack.mu.Unlock()
				before := len(st.slack.posts())
				code, o, e := st.run(t, now)
				outs = append(outs, out{code, o, e})
				if p := st.slack.posts(); len(p) > before {
					return string(p[len(p)-1])
				}
				return ""
			}
			if step(day1, 0) == "" {
				t.Fatal("day 1: no report")
			}
			step(day4, 503) // etl-nightly expired: Slack is down
			p := step(day5, 0)
			if !strings.Contains(p, "etl-nightly") || !strings.Contains(p, "→ expired") || !strings.Contains(p, "the last audit reported here") {
				t.Errorf("day 5 does not carry the expiry that day 4 could not post:\n%s", p)
			}
			if p := step("2026-12-02T09:00:00Z", 0); strings.Contains(p, "→ expired") {
				t.Errorf("day 6 told the expiry again:\n%s", p)
			}
			return outs
		}},
		{name: "exclusive route and a region listing failure", extra: `slack:
  notify: always
  routes:
    - {name: team-data, webhookEnv: TEAM_HOOK, exclusive: true, match: {workspaces: [data-platform]}}
`, run: func(t *testing.T, st *stage) []out {
			st.env = map[string]string{"TEAM_HOOK": st.hookURL}
			st.emu.World.Regions["cn-shanghai"].Fail = &emulator.Failure{Status: 403, Code: "Forbidden.RAM", Message: "not authorized"}
			code, o, e := st.run(t, day1)
			posts := st.slack.posts()
			main := 0
			for _, p := range posts {
				if !bytes.Contains(p, []byte("Livy token audit · team-data ·")) {
					main++
					if !bytes.Contains(p, []byte("Forbidden.RAM")) {
						t.Errorf("the main report hides the region's failure:\n%s", p)
					}
				}
			}
			if len(posts) != 2 || main != 1 {
				t.Errorf("%d posts (%d main); want the main report and the route's\n%s%s", len(posts), main, o, e)
			}
			return []out{{code, o, e}}
		}},
		{name: "exclusive routes take every gateway", extra: `slack:
  notify: always
  routes:
    - {name: team-hz, webhookEnv: TEAM_HOOK, exclusive: true, match: {regions: [cn-hangzhou]}}
    - {name: team-sh, webhookEnv: TEAM_HOOK, exclusive: true, match: {regions: [cn-shanghai]}}
`, run: func(t *testing.T, st *stage) []out {
			st.env = map[string]string{"TEAM_HOOK": st.hookURL}
			code, o, e := st.run(t, day1)
			found := false // the main report says where the gateways went
			for _, p := range st.slack.posts() {
				if bytes.Contains(p, []byte("gateways reported to team-hz, team-sh")) {
					found = true
				}
				if bytes.Contains(p, []byte("0 gateways found")) {
					t.Errorf("a report says 0 gateways found:\n%s", p)
				}
			}
			if !found {
				t.Errorf("the main report does not say where the gateways went\n%s%s", o, e)
			}
			return []out{{code, o, e}}
		}},
		{name: "narrowed and full runs at one audit time after a failed post", run: func(t *testing.T, st *stage) []out {
			st.slack.answer = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }
			c1, o1, e1 := st.run(t, day1)
			st.slack.mu.Lock()
			st.slack.answer = nil
			st.slack.mu.Unlock()
			c2, o2, e2 := st.run(t, day1, "-workspace", "data-platform")
			c3, o3, e3 := st.run(t, day1)
			if c1 != exitFailed || len(st.slack.posts()) != 2 {
				t.Errorf("exits %d %d %d, %d posts; want the narrowed report and then the full one\n%s%s", c1, c2, c3, len(st.slack.posts()), o3, e3)
			}
			if s := st.snapshot(t, day1Key); s == nil || len(s.Scope.Regions) != 2 || s.Scope.Partial {
				t.Errorf("the full run's snapshot was overwritten: %+v", s)
			}
			return []out{{c1, o1, e1}, {c2, o2, e2}, {c3, o3, e3}}
		}},
		{name: "history read 503", run: func(t *testing.T, st *stage) []out {
			c1, o1, e1 := st.run(t, day1)
			before := st.oss.Objects()["livy/history.json"].Data
			st.oss.SetFault(func(method, key string) int {
				if method == http.MethodGet && key == "livy/history.json" {
					return http.StatusServiceUnavailable
				}
				return 0
			})
			c2, o2, e2 := st.run(t, "2026-11-28T09:00:00Z")
			if !bytes.Equal(st.oss.Objects()["livy/history.json"].Data, before) || !strings.Contains(o2, "history.json not moved: history.json could not be read") {
				t.Errorf("history.json was replaced, or the run does not say it held it\n%s%s", o2, e2)
			}
			return []out{{c1, o1, e1}, {c2, o2, e2}}
		}},
		{name: "baseline of a newer release", run: func(t *testing.T, st *stage) []out {
			newer := []byte(`{"schemaVersion": 2, "auditedAt": "2026-11-26T09:00:00Z", "gateways": []}`)
			st.oss.PutObject("livy/baseline.json", newer)
			code, o, e := st.run(t, day1)
			if code != exitFailed || !strings.Contains(o+e, "written by a newer release (schemaVersion 2") || !bytes.Equal(st.oss.Objects()["livy/baseline.json"].Data, newer) {
				t.Errorf("exit %d; want 1, naming the version, the baseline untouched\n%s%s", code, o, e)
			}
			if _, ok := st.oss.Objects()["livy/latest.json"]; ok {
				t.Error("latest.json was written")
			}
			return []out{{code, o, e}}
		}},
		{name: "baseline from 2099", run: func(t *testing.T, st *stage) []out {
			st.oss.PutObject("livy/baseline.json", []byte(`{"schemaVersion": 1, "auditedAt": "2099-01-01T00:00:00Z", "key": "2099/01/01/20990101T000000Z.json", "gateways": []}`))
			code, o, e := st.run(t, day1)
			base, err := audit.ReadBaseline(st.oss.Objects()["livy/baseline.json"].Data)
			if code != exitOK || !strings.Contains(o+e, "ahead of the clock") || err != nil || base.Key != day1Key {
				t.Errorf("exit %d, baseline %+v; want it reported and replaced by day 1's\n%s%s", code, base, o, e)
			}
			return []out{{code, o, e}}
		}},
		{name: "truncated baseline with a good latest.json", run: func(t *testing.T, st *stage) []out {
			c1, o1, e1 := st.run(t, day1)
			b := st.oss.Objects()["livy/baseline.json"].Data
			st.oss.PutObject("livy/baseline.json", b[:len(b)/2])
			c2, o2, e2 := st.run(t, "2026-11-28T09:00:00Z")
			s := st.snapshot(t, "2026/11/28/20261128T090000Z.json")
			if c2 != exitOK || s == nil || s.Changes.Previous == nil || s.Changes.Previous.Key != day1Key || strings.Contains(o2, "previous snapshot unusable") {
				t.Errorf("exit %d; want day 2 compared with day 1 (rebuilt from latest.json)\n%s%s", c2, o2, e2)
			}
			return []out{{c1, o1, e1}, {c2, o2, e2}}
		}},
		{name: "two takers of one stale claim with store latency", run: func(t *testing.T, st *stage) []out {
			st.oss.Latency = 20 * time.Millisecond
			// An attempt died posting, long ago.
			st.oss.PutObject("livy/2026/11/27/20261127T090000Z.slack.1.notified.json",
				[]byte(`{"runId":"audit-20261127T090000Z","kind":"report","destination":"slack","state":"posting","nonce":"dead","at":"2026-11-27T09:00:30Z","leaseEnds":"2026-11-27T09:10:00Z"}`))
			var mu sync.Mutex
			var outs []out
			var wg sync.WaitGroup
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, o, e := st.run(t, day1)
					mu.Lock()
					outs = append(outs, out{code, o, e})
					mu.Unlock()
				}()
			}
			wg.Wait()
			if n := len(st.slack.posts()); n != 1 {
				t.Errorf("%d posts, want 1", n)
			}
			return outs
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStage(t, "", tc.extra)
			st.healthy()
			var all []string
			for _, o := range tc.run(t, st) {
				all = append(all, o.stdout, o.err)
			}
			if n := st.elsewhere.Load(); n != 0 {
				t.Errorf("a redirect was followed: %d requests to the other host", n)
			}
			st.leaks(t, all...)
		})
	}
}

// hangingHook is a Slack webhook that takes each post and, while hang is
// set, never answers (until the client gives up).
type hangingHook struct {
	mu       sync.Mutex
	hang     bool
	requests int
	accepted int
}

func (h *hangingHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(r.Body)
	h.mu.Lock()
	h.requests++
	hang := h.hang
	if !hang {
		h.accepted++
	}
	h.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	io.WriteString(w, "ok")
}

func (h *hangingHook) counts() (requests, accepted int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests, h.accepted
}

// Through the real fc.Start loop: a post that hangs past the function's
// deadline is uncertain (recorded before the deadline), and Function
// Compute's retries 1 and 2 do not post it again; a store that refuses
// claims lets the first attempt post, saying so, and a retry refuses to
// post blindly, failing.
func TestFunctionComputeDeliveryFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	role := [3]string{"STS.FcRoleKey02", "fc-role-secret-never-print-4c", "fc-sts-token-never-print-8y"}
	world, err := emulator.LoadWorld(demoWorld)
	if err != nil {
		t.Fatal(err)
	}
	emu := &emulator.Server{World: world, Keys: map[string]emulator.Key{role[0]: {Secret: role[1], SecurityToken: role[2]}},
		Now: func() time.Time { return demoStart }}
	api := httptest.NewServer(emu)
	defer api.Close()
	oss := &ossemu.Server{Bucket: "audit-snapshots", Region: "cn-hangzhou", Keys: map[string]ossemu.Key{role[0]: {Secret: role[1], SecurityToken: role[2]}}}
	bucket := httptest.NewServer(oss)
	defer bucket.Close()
	hook := &hangingHook{hang: true}
	slackSrv := httptest.NewServer(hook)
	defer slackSrv.Close()
	cfgPath := filepath.Join(t.TempDir(), "audit.yaml")
	cfg := fmt.Sprintf(`regions: [cn-hangzhou, cn-shanghai]
api: {endpoint: %q, retries: 1, deadlineReserve: 1s, ratePerSecond: 1000}
snapshot:
  oss: {bucket: audit-snapshots, region: cn-hangzhou, endpoint: %q, prefix: livy/}
slack: {notify: always}
`, api.URL, bucket.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	rt, stderr := startFunction(t, bin, cfgPath, slackSrv.URL+testHookPath)
	chain := func(prefix string) []string {
		var states []string
		for n := 1; ; n++ {
			o, ok := oss.Objects()[fmt.Sprintf("%s.slack.%d.notified.json", prefix, n)]
			if !ok {
				return states
			}
			var rec struct{ State string }
			_ = json.Unmarshal(o.Data, &rec)
			states = append(states, rec.State)
		}
	}

	t.Run("a post that hangs past the deadline, then retries 1 and 2", func(t *testing.T) {
		const event = `{"triggerTime":"2026-11-27T09:00:00Z","triggerName":"daily"}`
		first := rt.invoke(t, event, 4*time.Second, 0, role)
		if !first.ok || !bytes.Contains(first.body, []byte(`"status":"uncertain"`)) {
			t.Fatalf("first attempt: %v %s", first.ok, first.body)
		}
		hook.mu.Lock()
		hook.hang = false
		hook.mu.Unlock()
		for retry := 1; retry <= 2; retry++ {
			res := rt.invoke(t, event, 60*time.Second, retry, role)
			if !res.ok || !bytes.Contains(res.body, []byte(`"status":"uncertain"`)) || !bytes.Contains(res.body, []byte("is not sent again")) {
				t.Errorf("retry %d: %v %s", retry, res.ok, res.body)
			}
		}
		if req, _ := hook.counts(); req != 1 {
			t.Errorf("the webhook got %d posts, want 1 (at most once)", req)
		}
		if got := strings.Join(chain("livy/2026/11/27/20261127T090000Z"), ","); got != "posting,uncertain" {
			t.Errorf("claim chain %s, want posting,uncertain", got)
		}
	})

	t.Run("claims refused (403), then a retry", func(t *testing.T) {
		oss.SetFault(func(method, key string) int {
			if method == http.MethodPut && strings.HasSuffix(key, ".notified.json") {
				return http.StatusForbidden
			}
			return 0
		})
		defer oss.SetFault(nil)
		const event = `{"triggerTime":"2026-11-28T09:00:00Z","triggerName":"daily"}`
		_, before := hook.counts()
		first := rt.invoke(t, event, 60*time.Second, 0, role)
		if !first.ok || !bytes.Contains(first.body, []byte("sent without a claim")) {
			t.Errorf("first attempt: %v %s", first.ok, first.body)
		}
		retry := rt.invoke(t, event, 60*time.Second, 1, role)
		if retry.ok || !bytes.Contains(retry.body, []byte("the store takes no delivery claim")) || bytes.Contains(retry.body, []byte("the first attempt posted")) {
			t.Errorf("retry: %v %s; want an error saying the store takes no claim", retry.ok, retry.body)
		}
		if _, after := hook.counts(); after-before != 1 {
			t.Errorf("%d posts, want 1", after-before)
		}
	})

	for _, s := range []string{role[1], role[2], "hookSECRET", "lvt-SECRET"} {
		if strings.Contains(stderr.String(), s) {
			t.Errorf("%q leaked to the logs", s)
		}
		for k, o := range oss.Objects() {
			if bytes.Contains(o.Data, []byte(s)) {
				t.Errorf("%q leaked into %s", s, k)
			}
		}
	}
}

// The real binary killed (SIGKILL) between two attempts of a post leaves
// its claim "posting"; the next run waits for the dead attempt's lease to
// end (its -timeout, and schedule.clockSkew, here 1 s, for the clocks),
// takes the claim over and
// posts once.
func TestKilledBetweenAttempts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	st := buildStage(t, ", deadlineReserve: 100ms", "schedule: {clockSkew: 1s}\n")
	st.healthy()
	firstPost := make(chan struct{})
	var once sync.Once
	st.slack.answer = func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() {
			w.WriteHeader(http.StatusServiceUnavailable) // the sink backs off before its next attempt
			close(firstPost)
		})
	}
	env := []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=" + cliAK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + cliSecret, "SLACK_WEBHOOK_URL=" + st.hookURL,
		"HOME=" + t.TempDir(), "ALIBABA_CLOUD_ECS_METADATA_DISABLED=true"}
	st.worldNow.Store(demoStart.UnixMilli())
	first := exec.Command(bin, "-config", st.cfgPath, "-now", day1, "-timeout", "2s")
	first.Env = env
	var out1 bytes.Buffer
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-firstPost:
	case <-time.After(30 * time.Second):
		t.Fatalf("the first run never posted:\n%s", out1.String())
	}
	_ = first.Process.Kill()
	_ = first.Wait()
	if got := st.claimKeys(); len(got) != 1 {
		t.Fatalf("claims after the kill: %v, want the dead attempt's posting record", got)
	}

	st.slack.mu.Lock()
	st.slack.answer = nil
	st.slack.mu.Unlock()
	second := exec.Command(bin, "-config", st.cfgPath, "-now", day1, "-timeout", "2m")
	second.Env = env
	out2, err := second.CombinedOutput()
	if err != nil || len(st.slack.posts()) != 1 || !strings.Contains(string(out2), "Slack: slack: delivered") {
		t.Errorf("the next run: %v, %d posts; want it to post once\n%s", err, len(st.slack.posts()), out2)
	}
	if got := st.claimKeys(); len(got) != 3 {
		t.Errorf("claims: %v, want the dead attempt's, the takeover and its outcome", got)
	}
	st.leaks(t, out1.String(), string(out2))
}
