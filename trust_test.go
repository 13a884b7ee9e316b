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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/store"
	"livy-token-audit/internal/slacklimits"
	"livy-token-audit/internal/standin/emulator"
	"livy-token-audit/internal/standin/ossemu"
)

// stage is a whole hostile environment on loopback for one CLI run: the EMR
// emulator (demo world, verifying signatures), the OSS stand-in (verifying
// V4 signatures), a Slack webhook receiver that records every byte it is
// sent, and a host that must never be reached (redirects point there).
type stage struct {
	emu       *emulator.Server
	oss       *ossemu.Server
	slack     *slackRecorder
	elsewhere atomic.Int32
	worldNow  atomic.Int64 // the emulated world's clock, epoch ms
	cfgPath   string
	hookURL   string
	otherURL  string
	// env is added to the run's environment; creds are the run's
	// credentials, in it too.
	env, creds map[string]string
}

// slackRecorder records every request it gets (headers and body) and
// answers with answer, or accepts a post within Slack's limits.
type slackRecorder struct {
	mu       sync.Mutex
	requests [][]byte
	accepted [][]byte
	answer   func(w http.ResponseWriter, r *http.Request)
}

func (s *slackRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var head bytes.Buffer
	_ = r.Header.Write(&head)
	s.mu.Lock()
	s.requests = append(s.requests, append(head.Bytes(), b...))
	answer := s.answer
	s.mu.Unlock()
	if answer != nil {
		answer(w, r)
		return
	}
	if r.URL.Path != testHookPath {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "no_service")
		return
	}
	if code := slacklimits.Check(b); code != "" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, code)
		return
	}
	s.mu.Lock()
	s.accepted = append(s.accepted, b)
	s.mu.Unlock()
	io.WriteString(w, "ok")
}

func (s *slackRecorder) posts() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.accepted...)
}

// newStage sets a stage up for runs in this process: the run's credentials
// are in the environment it is given (not the process's: the tests run in
// parallel).
func newStage(t *testing.T, apiExtra, extra string) *stage {
	t.Helper()
	st := buildStage(t, apiExtra, extra)
	st.creds = map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": cliAK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": cliSecret}
	return st
}

// buildStage sets a stage up; runs of the binary get the credentials in
// their own environment.
func buildStage(t *testing.T, apiExtra, extra string) *stage {
	t.Helper()
	world, err := emulator.LoadWorld(demoWorld)
	if err != nil {
		t.Fatal(err)
	}
	st := &stage{slack: &slackRecorder{}}
	st.worldNow.Store(demoStart.UnixMilli())
	st.emu = &emulator.Server{World: world, Keys: map[string]emulator.Key{cliAK: {Secret: cliSecret}}, Now: func() time.Time { return time.UnixMilli(st.worldNow.Load()).UTC() }}
	api := httptest.NewServer(st.emu)
	t.Cleanup(api.Close)
	st.oss = &ossemu.Server{Bucket: "audit-snapshots", Region: "cn-hangzhou", Keys: map[string]ossemu.Key{cliAK: {Secret: cliSecret}}}
	bucket := httptest.NewServer(st.oss)
	t.Cleanup(bucket.Close)
	slackSrv := httptest.NewServer(st.slack)
	t.Cleanup(slackSrv.Close)
	st.hookURL = slackSrv.URL + testHookPath
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { st.elsewhere.Add(1) }))
	t.Cleanup(other.Close)
	st.otherURL = other.URL
	slackCfg := "slack: {notify: always}\n"
	if strings.HasPrefix(extra, "slack:") || strings.Contains(extra, "\nslack:") {
		slackCfg = "" // the case configures Slack itself
	}
	cfg := fmt.Sprintf(`regions: [cn-hangzhou, cn-shanghai]
api: {endpoint: %q, retries: 1, ratePerSecond: 1000%s}
snapshot:
  oss: {bucket: audit-snapshots, region: cn-hangzhou, endpoint: %q, prefix: livy/}
%s%s`, api.URL, apiExtra, bucket.URL, slackCfg, extra)
	st.cfgPath = filepath.Join(t.TempDir(), "audit.yaml")
	if err := os.WriteFile(st.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return st
}

// gateway returns the demo world's gateway (Livy or Kyuubi) with that ID.
func (st *stage) gateway(id string) *emulator.Gateway {
	for _, r := range st.emu.World.Regions {
		for _, ws := range r.Workspaces {
			for _, g := range append(slices.Clip(ws.Gateways), ws.Kyuubi...) {
				if g.ID == id {
					return g
				}
			}
		}
	}
	panic("no gateway " + id)
}

// workspace returns the demo world's workspace with that ID.
func (st *stage) workspace(id string) *emulator.Workspace {
	for _, r := range st.emu.World.Regions {
		for _, ws := range r.Workspaces {
			if ws.ID == id {
				return ws
			}
		}
	}
	panic("no workspace " + id)
}

// healthy removes the demo world's staged failures, so that a case injects
// its own.
func (st *stage) healthy() {
	st.emu.Edit(func() {
		for _, r := range st.emu.World.Regions {
			r.Fail = nil
			for _, ws := range r.Workspaces {
				ws.Fail = nil
				ws.KyuubiFail = nil
				for _, g := range append(slices.Clip(ws.Gateways), ws.Kyuubi...) {
					g.Fail = nil
				}
			}
		}
	})
}

// run runs the CLI at an audit time, the world's clock set to it.
func (st *stage) run(t *testing.T, now string, extraArgs ...string) (int, string, string) {
	t.Helper()
	at, err := time.Parse(time.RFC3339, now)
	if err != nil {
		t.Fatal(err)
	}
	st.worldNow.Store(at.UnixMilli())
	var out, errb bytes.Buffer
	args := append([]string{"-config", st.cfgPath, "-now", now}, extraArgs...)
	env := map[string]string{"SLACK_WEBHOOK_URL": st.hookURL}
	for k, v := range st.creds {
		env[k] = v
	}
	for k, v := range st.env {
		env[k] = v
	}
	code := run(t.Context(), args, envOf(env), &out, &errb)
	return code, out.String(), errb.String()
}

// stsToken is the STS token of stages that use STS credentials.
const stsToken = "CAIS-sts-SECRET-token-b7e1"

// useSTS makes the run's credentials STS credentials, which the stand-ins
// require with their token.
func (st *stage) useSTS(t *testing.T) {
	st.emu.AddKey(cliAK, emulator.Key{Secret: cliSecret, SecurityToken: stsToken})
	st.oss.AddKey(cliAK, ossemu.Key{Secret: cliSecret, SecurityToken: stsToken})
	st.creds["ALIBABA_CLOUD_SECURITY_TOKEN"] = stsToken
}

// leaks searches every byte that left the process — stdout, stderr, every
// object written, every request Slack got — for the token values, the
// access key secret and the webhook's secret path.
func (st *stage) leaks(t *testing.T, outputs ...string) {
	t.Helper()
	secrets := []string{"lvt-SECRET", cliSecret, "hookSECRET", "T0SECRET", "B0SECRET", stsToken}
	var all [][]byte
	for _, o := range outputs {
		all = append(all, []byte(o))
	}
	for _, o := range st.oss.Objects() {
		all = append(all, o.Data)
	}
	st.slack.mu.Lock()
	all = append(all, st.slack.requests...)
	st.slack.mu.Unlock()
	for _, b := range all {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				i := bytes.Index(b, []byte(s))
				t.Errorf("%q left the process: …%s…", s, b[max(0, i-60):min(len(b), i+60)])
			}
		}
	}
}

func (st *stage) snapshot(t *testing.T, key string) *audit.Snapshot {
	t.Helper()
	o, ok := st.oss.Objects()["livy/"+key]
	if !ok {
		return nil
	}
	s, err := audit.ReadSnapshot(o.Data)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return s
}

const (
	day1    = "2026-11-27T09:00:00Z"
	day1Key = "2026/11/27/20261127T090000Z.json"
)

// TestFaultMatrix runs the CLI against each fault of the README's fault
// matrix and checks what the audit does, what the report says, the exit
// status and latest.json, and that nothing secret left the process.
func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		apiExtra string
		stage    func(st *stage)
		args     []string
		sts      bool // the run's credentials are STS credentials
		exit     int
		verdict  audit.Verdict // "" when no snapshot is written
		latest   bool          // latest.json moved
		posts    int           // reports accepted by Slack
		want     []string      // in stdout + stderr
		check    func(t *testing.T, st *stage, s *audit.Snapshot)
	}{
		{name: "EMR throttled once", stage: func(st *stage) {
			st.healthy()
			st.gateway("lc-hz-etl").Fail = &emulator.Failure{Status: 400, Code: "Throttling.User", Message: "flow control", Times: 1}
		}, exit: exitOK, verdict: audit.VerdictComplete, latest: true, posts: 1},
		{name: "EMR 5xx with JSON", stage: func(st *stage) {
			st.healthy()
			st.gateway("lc-hz-etl").Fail = &emulator.Failure{Status: 503, Code: "ServiceUnavailable", Message: "later"}
		}, exit: exitPartial, verdict: audit.VerdictPartial, latest: true, posts: 1, want: []string{"ServiceUnavailable: later"}},
		{name: "EMR 5xx with an HTML body", stage: func(st *stage) {
			st.healthy()
			st.gateway("lc-hz-etl").Fail = &emulator.Failure{Status: 502, Body: "<html>Bad Gateway</html>"}
		}, exit: exitPartial, verdict: audit.VerdictPartial, latest: true, posts: 1, want: []string{"HTTP502", "(gave up after 2 attempts)"}},
		{name: "EMR denied", stage: func(st *stage) {
			st.healthy()
			st.emu.World.Regions["cn-shanghai"].Fail = &emulator.Failure{Status: 403, Code: "Forbidden.RAM", Message: "not authorized"}
		}, exit: exitPartial, verdict: audit.VerdictPartial, latest: true, posts: 1, want: []string{"Forbidden.RAM"}},
		{name: "EMR hangs", apiExtra: ", timeout: 300ms", stage: func(st *stage) {
			st.healthy()
			st.gateway("lc-hz-etl").Fail = &emulator.Failure{Status: 200, Delay: emulator.Duration(time.Minute)}
		}, exit: exitPartial, verdict: audit.VerdictPartial, latest: true, posts: 1, want: []string{"RequestFailed"}},
		{name: "EMR answer drips", apiExtra: ", timeout: 300ms", stage: func(st *stage) {
			st.healthy()
			st.gateway("lc-hz-etl").Drip = emulator.Duration(50 * time.Millisecond)
		}, exit: exitPartial, verdict: audit.VerdictPartial, latest: true, posts: 1, want: []string{"RequestFailed"}},
		{name: "EMR answer oversized", stage: func(st *stage) {
			st.healthy()
			st.gateway("lc-hz-etl").Pad = 64 << 20
		}, exit: exitPartial, verdict: audit.VerdictPartial, latest: true, posts: 1, want: []string{"InvalidResponse", "larger than 4 MiB"}},
		{name: "EMR redirects", stage: func(st *stage) {
			st.healthy()
			st.gateway("lc-hz-etl").Fail = &emulator.Failure{Status: 302, Location: st.otherURL + "/x"}
		}, exit: exitPartial, verdict: audit.VerdictPartial, latest: true, posts: 1, want: []string{"HTTP302", "refused"}},
		{name: "EMR empty 200 everywhere", stage: func(st *stage) {
			st.healthy()
			for _, r := range st.emu.World.Regions {
				r.Fail = &emulator.Failure{Status: 200, Empty: true}
			}
		}, exit: exitFailed, verdict: audit.VerdictFailed, posts: 1,
			want: []string{"AUDIT FAILED: 2 listings failed, no gateway audited", "audit failed: 2 listings failed, no gateway audited —", "ListWorkspaces: empty response body"},
			check: func(t *testing.T, st *stage, s *audit.Snapshot) {
				if b := st.slack.posts(); !bytes.Contains(b[0], []byte("Livy token audit · audit failed")) || bytes.Contains(b[0], []byte("no findings")) || bytes.Contains(b[0], []byte("all clear")) {
					t.Errorf("the report does not say the audit failed:\n%s", b[0])
				}
			}},
		{name: "EMR garbage 200", stage: func(st *stage) {
			st.healthy()
			for _, r := range st.emu.World.Regions {
				r.Fail = &emulator.Failure{Status: 200, Body: `{"status":"ok"}`}
			}
		}, exit: exitFailed, verdict: audit.VerdictFailed, posts: 1, want: []string{"neither workspaces nor a requestId"}},
		{name: "out-of-range times", stage: func(st *stage) {
			st.healthy()
			g := st.gateway("lc-hz-etl")
			g.Tokens[0].ExpireTime, g.Tokens[1].LastUsedTime = emulator.Raw("253402300800000"), emulator.Raw("1.5e12")
		}, exit: exitOK, verdict: audit.VerdictComplete, latest: true, posts: 1, want: []string{"2 unreadable times"},
			check: func(t *testing.T, st *stage, s *audit.Snapshot) {
				if s.Summary.DataErrors != 2 || s.Summary.Tokens != 13 {
					t.Errorf("got %d data errors over %d tokens, want 2 over 13", s.Summary.DataErrors, s.Summary.Tokens)
				}
			}},
		{name: "Kyuubi listing denied", stage: func(st *stage) {
			st.healthy()
			st.workspace("w-hz-data01").KyuubiFail = &emulator.Failure{Status: 403, Code: "Forbidden.RAM", Message: "not authorized to ListKyuubiServices"}
		}, exit: exitPartial, verdict: audit.VerdictPartial, latest: true, posts: 1, want: []string{"data-platform (Kyuubi listing): Forbidden.RAM"},
			check: func(t *testing.T, st *stage, s *audit.Snapshot) {
				if s.Summary.Kinds[audit.KindKyuubi] != 0 || s.Summary.Kinds[audit.KindLivy] != 5 || len(s.Errors) != 1 || s.Errors[0].Kind != audit.KindKyuubi {
					t.Errorf("a failed Kyuubi listing: kinds %v, errors %+v; want the Livy gateways audited and the listing's failure, named", s.Summary.Kinds, s.Errors)
				}
			}},
		{name: "Kyuubi tokens hang", apiExtra: ", timeout: 300ms", stage: func(st *stage) {
			st.healthy()
			st.gateway("kb-hz-sql").Fail = &emulator.Failure{Status: 200, Delay: emulator.Duration(time.Minute)}
		}, exit: exitPartial, verdict: audit.VerdictPartial, latest: true, posts: 1, want: []string{"bi-sql (Kyuubi) (kb-hz-sql): RequestFailed"}},
		{name: "Kyuubi answers with Livy's shape", stage: func(st *stage) {
			st.healthy()
			st.workspace("w-hz-data01").KyuubiFail = &emulator.Failure{Status: 200, Body: `{"code":"1000000","requestId":"r-1","data":{"livyComputes":[]}}`}
		}, exit: exitPartial, verdict: audit.VerdictPartial, latest: true, posts: 1, want: []string{"the answer is a Livy listing (data.livyComputes), not Kyuubi's"}},
		{name: "Kyuubi answers without its data", stage: func(st *stage) {
			st.healthy()
			st.workspace("w-hz-data01").KyuubiFail = &emulator.Failure{Status: 200, Body: `{"requestId":"r-2"}`}
		}, exit: exitPartial, verdict: audit.VerdictPartial, latest: true, posts: 1, want: []string{"ListKyuubiServices: the response carries no data.kyuubiServices"}},
		{name: "Kyuubi values unmasked", stage: func(st *stage) {
			st.healthy()
			// Values that would be weak, and shared with a Livy token, if
			// they were ever measured.
			for _, tk := range st.gateway("kb-hz-sql").Tokens {
				tk.Unmasked, tk.Token = true, st.gateway("lc-hz-etl").Tokens[0].Token
			}
			st.gateway("kb-hz-sql").Tokens[0].Token = "aaaaaaaaaaaaaaaa"
		}, exit: exitOK, verdict: audit.VerdictComplete, latest: true, posts: 1,
			check: func(t *testing.T, st *stage, s *audit.Snapshot) {
				for _, g := range s.Gateways {
					for _, tr := range g.Tokens {
						for _, f := range tr.Findings {
							if g.Kind == audit.KindKyuubi && (f.Rule == audit.RuleWeak || f.Rule == audit.RuleReused) || tr.TokenID == "tk-001" && f.Rule == audit.RuleReused {
								t.Errorf("a Kyuubi value was measured: %s %s", tr.TokenID, f.Rule)
							}
						}
					}
				}
				if s.Summary.SecretNotVisible != 2 {
					t.Errorf("secretNotVisible %d, want 2", s.Summary.SecretNotVisible)
				}
			}},
		{name: "duplicate token ids", stage: func(st *stage) {
			st.healthy()
			g := st.gateway("lc-hz-etl")
			g.Tokens = append(g.Tokens, g.Tokens[0], g.Tokens[1])
		}, exit: exitOK, verdict: audit.VerdictComplete, latest: true, posts: 1, want: []string{"2 duplicate token listings dropped"}},
		{name: "OSS down", stage: func(st *stage) {
			st.healthy()
			st.oss.FailPuts = 100
		}, exit: exitFailed, want: []string{"write snapshot", "ServiceUnavailable", "gave up after 4 attempts"},
			check: func(t *testing.T, st *stage, _ *audit.Snapshot) {
				if b := st.slack.posts(); len(b) != 1 || !bytes.Contains(b[0], []byte("The audit could not do its job")) {
					t.Errorf("want one failure notice, got %d posts", len(b))
				}
			}},
		{name: "OSS denied", stage: func(st *stage) {
			st.healthy()
			st.oss.DenyPrefix = "livy/"
		}, exit: exitFailed, posts: 1, want: []string{"AccessDenied", "need oss:PutObject"}},
		{name: "OSS 403 echoing the STS token and mrkdwn", sts: true, stage: func(st *stage) {
			st.healthy()
			st.oss.DenyPrefix, st.oss.EchoDenied = "livy/", true
		}, exit: exitFailed, want: []string{"AccessDenied", "need oss:PutObject", "[redacted]"},
			check: func(t *testing.T, st *stage, _ *audit.Snapshot) {
				b := st.slack.posts()
				if len(b) != 1 || !bytes.Contains(b[0], []byte("The audit could not do its job")) {
					t.Fatalf("want one failure notice, got %d posts", len(b))
				}
				// Every text of the notice, its top-level text included, is
				// escaped: no mention, no link.
				for _, raw := range []string{"<!channel>", "<https://evil.example"} {
					if bytes.Contains(b[0], []byte(raw)) || bytes.Contains(b[0], []byte(strings.NewReplacer("<", `\u003c`, ">", `\u003e`).Replace(raw))) {
						t.Errorf("the notice carries %q raw:\n%s", raw, b[0])
					}
				}
			}},
		{name: "OSS slow", stage: func(st *stage) {
			st.healthy()
			st.oss.Latency = 50 * time.Millisecond
		}, exit: exitOK, verdict: audit.VerdictComplete, latest: true, posts: 1},
		{name: "OSS corrupt baseline", stage: func(st *stage) {
			st.healthy()
			st.oss.PutObject("livy/baseline.json", []byte("{not json"))
		}, exit: exitOK, verdict: audit.VerdictComplete, latest: true, posts: 1, want: []string{"previous snapshot unusable"}},
		{name: "OSS oversized baseline", stage: func(st *stage) {
			st.healthy()
			st.oss.PutObject("livy/baseline.json", make([]byte, store.MaxObjectBytes+1))
		}, exit: exitOK, verdict: audit.VerdictComplete, latest: true, posts: 1, want: []string{"larger than 32 MiB"}},
		{name: "Slack 429 asking for an hour", stage: func(st *stage) {
			st.healthy()
			st.slack.answer = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "3600")
				w.WriteHeader(429)
			}
		}, exit: exitFailed, verdict: audit.VerdictComplete, latest: true, want: []string{"HTTP 429", "the server asked to wait 1h0m0s"}},
		{name: "Slack 4xx", stage: func(st *stage) {
			st.healthy()
			st.slack.answer = func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(404)
				io.WriteString(w, "channel_not_found")
			}
		}, exit: exitFailed, verdict: audit.VerdictComplete, latest: true, want: []string{"HTTP 404 channel_not_found (gave up after 1 attempt)"}},
		{name: "Slack 5xx", stage: func(st *stage) {
			st.healthy()
			st.slack.answer = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }
		}, exit: exitFailed, verdict: audit.VerdictComplete, latest: true, want: []string{"HTTP 503", "gave up after"}},
		{name: "Slack redirects", stage: func(st *stage) {
			st.healthy()
			st.slack.answer = func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, st.otherURL+"/x", http.StatusFound) }
		}, exit: exitFailed, verdict: audit.VerdictComplete, latest: true, want: []string{"HTTP 302 redirect", "refused"}},
		{name: "deadline near", args: []string{"-timeout", "1500ms"}, apiExtra: ", deadlineReserve: 1s", stage: func(st *stage) {
			st.healthy()
			st.gateway("lc-hz-etl").Fail = &emulator.Failure{Status: 200, Delay: emulator.Duration(time.Minute)}
		}, exit: exitPartial, verdict: audit.VerdictPartial, latest: true, posts: 1, want: []string{"DeadlineExceeded"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStage(t, tc.apiExtra, "")
			if tc.sts {
				st.useSTS(t)
			}
			tc.stage(st)
			code, out, errb := st.run(t, day1, tc.args...)
			if code != tc.exit {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.exit, out, errb)
			}
			for _, w := range tc.want {
				if !strings.Contains(out+errb, w) {
					t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", w, out, errb)
				}
			}
			s := st.snapshot(t, day1Key)
			switch {
			case tc.verdict == "" && s != nil:
				t.Errorf("a snapshot was written (verdict %s), want none", s.Verdict)
			case tc.verdict != "" && (s == nil || s.Verdict != tc.verdict):
				t.Errorf("snapshot %v, want verdict %s", s, tc.verdict)
			}
			_, moved := st.oss.Objects()["livy/latest.json"]
			if moved != tc.latest {
				t.Errorf("latest.json written: %v, want %v", moved, tc.latest)
			}
			if n := len(st.slack.posts()); n != tc.posts && tc.check == nil {
				t.Errorf("Slack accepted %d posts, want %d", n, tc.posts)
			}
			if n := st.elsewhere.Load(); n != 0 {
				t.Errorf("a redirect was followed: %d requests to the other host", n)
			}
			if tc.check != nil {
				tc.check(t, st, s)
			}
			st.leaks(t, out, errb)
		})
	}
}

// The baseline over three runs with an outage in the middle: the report
// after the outage shows what really changed.
func TestBaselineAcrossAnOutage(t *testing.T) {
	st := newStage(t, "", "")
	st.healthy()
	if code, out, errb := st.run(t, day1); code != exitOK {
		t.Fatalf("day 1: exit %d\n%s%s", code, out, errb)
	}
	// Day 2: every listing fails. The dated snapshot is written, latest.json
	// and the baseline stay on day 1.
	latest := st.oss.Objects()["livy/latest.json"].Data
	for _, r := range st.emu.World.Regions {
		r.Fail = &emulator.Failure{Status: 503, Code: "ServiceUnavailable", Message: "down"}
	}
	code, out, _ := st.run(t, "2026-11-28T09:00:00Z")
	if code != exitFailed || !strings.Contains(out, "latest.json not moved: nothing was audited") {
		t.Errorf("day 2: exit %d, want %d, latest.json held:\n%s", code, exitFailed, out)
	}
	if !bytes.Equal(st.oss.Objects()["livy/latest.json"].Data, latest) {
		t.Error("day 2 moved latest.json")
	}
	// Day 3: back. Compared with day 1: a use of tk-002 resolved its
	// staleness, tk-004 was revoked, tk-031 expired, tk-040 appeared and
	// expired.
	for _, r := range st.emu.World.Regions {
		r.Fail = nil
	}
	code, _, errb := st.run(t, "2026-11-29T09:00:00Z")
	s := st.snapshot(t, "2026/11/29/20261129T090000Z.json")
	if code != exitOK || s == nil {
		t.Fatalf("day 3: exit %d\n%s", code, errb)
	}
	c := s.Changes
	if c.Previous == nil || c.Previous.Key != day1Key {
		t.Fatalf("day 3 compared with %+v, want day 1", c.Previous)
	}
	if n := c.Counts(); n.New != 1 || n.Resolved != 1 || n.Removed != 1 || n.Escalated != 1 || n.Unknown != 0 {
		t.Errorf("day 3 changes: got %+v\nnew %v\nresolved %v\nremoved %v\nescalated %v", n, c.New, c.Resolved, c.Removed, c.Escalated)
	}
	st.leaks(t)
}

// TestPeakMemoryUnderHostileAnswers runs the real binary against an API that
// answers one gateway with 256 MiB and a bucket whose baseline and
// latest.json are 40 MiB each: both are refused as they stream in, and the
// process's peak RSS stays far under the function's 256 MB.
func TestPeakMemoryUnderHostileAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	bin := buildBinary(t)
	st := newStage(t, "", "")
	st.healthy()
	st.gateway("lc-hz-etl").Pad = 256 << 20
	big := bytes.Repeat([]byte(" "), 40<<20)
	st.oss.PutObject("livy/baseline.json", big)
	st.oss.PutObject("livy/latest.json", big)
	cmd := exec.Command(bin, "-config", st.cfgPath, "-now", day1)
	cmd.Env = []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=" + cliAK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + cliSecret,
		"ALIBABA_CLOUD_ECS_METADATA_DISABLED=true", "HOME=" + t.TempDir(), "SLACK_WEBHOOK_URL=" + st.hookURL}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	peak, err := runMeasuringPeakRSS(cmd)
	if code := cmd.ProcessState.ExitCode(); code != exitPartial {
		t.Fatalf("exit %d (%v), want %d\n%s%s", code, err, exitPartial, out.String(), errb.String())
	}
	for _, want := range []string{"InvalidResponse", "larger than 4 MiB", "previous snapshot unusable", "larger than 32 MiB"} {
		if !strings.Contains(out.String()+errb.String(), want) {
			t.Errorf("output lacks %q:\n%s%s", want, out.String(), errb.String())
		}
	}
	if peak == 0 {
		t.Skip("no /proc/<pid>/status on this platform")
	}
	t.Logf("peak RSS %d MiB", peak>>20)
	if peak > 96<<20 {
		t.Errorf("peak RSS %d MiB, want under 96 MiB", peak>>20)
	}
	st.leaks(t, out.String(), errb.String())
}

// runMeasuringPeakRSS runs cmd and returns its peak resident set size, read
// from /proc/<pid>/status (VmHWM) while it runs. (The rusage of a child is
// no use here: a child forked from a large test process inherits its
// parent's high-water mark until exec.) It returns 0 where /proc is missing.
func runMeasuringPeakRSS(cmd *exec.Cmd) (int64, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	read := func() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				var kb int64
				if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
					peak = max(peak, kb<<10)
				}
			}
		}
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return peak, err
		case <-tick.C:
			read()
		}
	}
}

// DEBUG=dara,tea asks the SDKs to print every request, its signed headers
// included, to stdout: the binary turns that off whatever DEBUG says, so
// -format json stays JSON and nothing secret is printed.
func TestSDKDebugIsOff(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	bin := buildBinary(t)
	st := newStage(t, "", "")
	st.useSTS(t)
	st.healthy()
	cmd := exec.Command(bin, "-config", st.cfgPath, "-now", day1, "-format", "json")
	cmd.Env = []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=" + cliAK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + cliSecret, "ALIBABA_CLOUD_SECURITY_TOKEN=" + stsToken,
		"ALIBABA_CLOUD_ECS_METADATA_DISABLED=true", "HOME=" + t.TempDir(), "SLACK_WEBHOOK_URL=" + st.hookURL, "DEBUG=dara,tea,other"}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var snap audit.Snapshot
	if err := json.Unmarshal(out.Bytes(), &snap); err != nil || snap.RunID != "audit-20261127T090000Z" {
		t.Errorf("stdout is not the snapshot's JSON (%v):\n%.600s", err, out.String())
	}
	for _, b := range []string{out.String(), errb.String()} {
		if strings.Contains(b, "x-acs-") || strings.Contains(b, "Authorization") {
			t.Errorf("the SDKs printed their requests:\n%.600s", b)
		}
	}
	st.leaks(t, out.String(), errb.String())
}
