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
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"

	"livy-token-audit/audit/preflight"
	"livy-token-audit/internal/standin/emulator"
	"livy-token-audit/notify/webhook"
)

const (
	pfBotToken      = "xoxb-preflight-SECRET-bot-5d"
	pfTicketsSecret = "tickets-SECRET-whsec-never-print"
	pfSigning       = "0123456789abcdef0123456789abcdef"
	pfChannel       = "C0AUDIT001"
	pfGroup         = 4242
)

// pfSlack is slacktest's server with what the preflight asks of Slack:
// auth.test with the bot's granted scopes in X-OAuth-Scopes (as Slack
// sends them), conversations.info of the audit's channel; it counts every
// chat.postMessage (the preflight must make none).
type pfSlack struct {
	mu      sync.Mutex
	scopes  []string
	private bool
	member  bool
	badAuth bool
	posts   int
}

func (s *pfSlack) serve(t *testing.T) string {
	answer := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	srv := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/auth.test", func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			defer s.mu.Unlock()
			_ = r.ParseForm()
			if s.badAuth || r.Form.Get("token") != pfBotToken && r.Header.Get("Authorization") != "Bearer "+pfBotToken {
				answer(w, map[string]any{"ok": false, "error": "invalid_auth"})
				return
			}
			w.Header().Set("X-OAuth-Scopes", strings.Join(s.scopes, ","))
			answer(w, map[string]any{"ok": true, "team": "Acme", "user": "livy-token-audit", "team_id": "T0ACME", "user_id": "U0BOT0001"})
		})
		c.Handle("/conversations.info", func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			defer s.mu.Unlock()
			_ = r.ParseForm()
			if r.Form.Get("channel") != pfChannel {
				answer(w, map[string]any{"ok": false, "error": "channel_not_found"})
				return
			}
			answer(w, map[string]any{"ok": true, "channel": map[string]any{"id": pfChannel, "name": "platform-audit", "is_channel": true,
				"is_private": s.private, "is_member": s.member}})
		})
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.posts++
			s.mu.Unlock()
			answer(w, map[string]any{"ok": true, "channel": pfChannel, "ts": "1.000001"})
		})
	})
	srv.Start()
	t.Cleanup(srv.Stop)
	return srv.GetAPIURL()
}

// pfReceiver is a JSON webhook receiver that verifies every post as a
// receiver should (webhook.VerifyHeaders) and answers status.
type pfReceiver struct {
	mu     sync.Mutex
	status int
	pings  []map[string]any
}

func (r *pfReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := webhook.VerifyHeaders(pfTicketsSecret, req.Header, body, time.Now()); err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pings = append(r.pings, m)
	if r.status != 0 {
		w.WriteHeader(r.status)
	}
}

// pfStage is a stage (the EMR emulator, the OSS stand-in) with everything
// a preflight checks configured: the bot posting to a private channel,
// CloudMonitor, a JSON webhook, actions.
type pfStage struct {
	*stage
	ims  *emulator.IMS
	cms  *emulator.CMS
	bot  *pfSlack
	recv *pfReceiver
	env  map[string]string
}

func newPreflightStage(t *testing.T) *pfStage {
	t.Helper()
	p := &pfStage{cms: &emulator.CMS{Keys: map[string]emulator.Key{cliAK: {Secret: cliSecret}}},
		bot:  &pfSlack{scopes: []string{"chat:write", "channels:history", "groups:history", "channels:read", "groups:read"}, private: true, member: true},
		recv: &pfReceiver{}}
	cmsSrv := httptest.NewServer(p.cms)
	t.Cleanup(cmsSrv.Close)
	p.ims = &emulator.IMS{Keys: map[string]emulator.Key{cliAK: {Secret: cliSecret}}, Domain: "acme.onaliyun.com"}
	imsSrv := httptest.NewServer(p.ims)
	t.Cleanup(imsSrv.Close)
	recvSrv := httptest.NewServer(p.recv)
	t.Cleanup(recvSrv.Close)
	apiURL := p.bot.serve(t)
	p.stage = newStage(t, "", fmt.Sprintf(`slack: {channel: %s, notify: always}
metrics: {cloudMonitor: {enabled: true, endpoint: %q, groupId: %d}}
webhooks:
  - {name: tickets, urlEnv: TICKETS_URL, secretEnv: TICKETS_SECRET}
actions: {enabled: true, users: [U0ADMIN001]}
owners: {endpoint: %q, lookupEmail: false}
`, pfChannel, cmsSrv.URL, pfGroup, imsSrv.URL))
	p.healthy()
	p.env = map[string]string{"SLACK_BOT_TOKEN": pfBotToken, "SLACK_API_URL": apiURL, "TICKETS_URL": recvSrv.URL + "/hook",
		"TICKETS_SECRET": pfTicketsSecret, "SLACK_SIGNING_SECRET": pfSigning}
	for k, v := range p.creds {
		p.env[k] = v
	}
	return p
}

// preflight runs -preflight -format json and returns the exit status, the
// rows and what was printed.
func (p *pfStage) preflight(t *testing.T, extra ...string) (int, []preflight.Row, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), append([]string{"-config", p.cfgPath, "-preflight", "-format", "json"}, extra...), envOf(p.env), &out, &errb)
	var doc struct {
		OK   bool
		Rows []preflight.Row
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("-preflight -format json: %v\n%s\n%s", err, out.String(), errb.String())
	}
	if doc.OK != (code == exitOK) {
		t.Errorf("ok %v with exit %d", doc.OK, code)
	}
	return code, doc.Rows, out.String() + errb.String()
}

// rowsOf are the rows of a check.
func rowsOf(rows []preflight.Row, check string) []preflight.Row {
	var out []preflight.Row
	for _, r := range rows {
		if r.Check == check {
			out = append(out, r)
		}
	}
	return out
}

// wantRow checks that every row of check has result res and says want in
// what to do.
func wantRow(t *testing.T, rows []preflight.Row, check string, res preflight.Result, want string) {
	t.Helper()
	got := rowsOf(rows, check)
	if len(got) == 0 {
		t.Errorf("no %q row in %+v", check, rows)
	}
	for _, r := range got {
		if r.Result != res || !strings.Contains(r.Do, want) {
			t.Errorf("%s (%s): %s, %q; want %s, saying %q", r.Check, r.Scope, r.Result, r.Do, res, want)
		}
	}
}

// everyCheck are the checks every preflight of the stage's config lists,
// whatever fails.
var everyCheck = []string{"credentials", "emr ListWorkspaces", "emr ListLivyCompute", "emr GetLivyCompute", "emr ListLivyComputeToken", "clock",
	"store create", "store create again (must be refused)", "store copy", "store read back", "slack auth.test", "slack scope chat:write",
	"slack channel", "slack signing secret", "webhook ping", "cloudmonitor"}

// TestPreflight runs the preflight against stand-ins that break each
// assumption in turn: each row fails for its own reason, names the
// permission or scope, and no preflight posts, writes a snapshot or
// deletes.
func TestPreflight(t *testing.T) {
	t.Parallel()
	allEMR := []string{"ListWorkspaces", "ListMembers", "ListLivyCompute", "GetLivyCompute", "ListLivyComputeToken", "ListKyuubiServices", "GetKyuubiService", "ListKyuubiToken"}
	tests := []struct {
		name  string
		stage func(p *pfStage)
		exit  int
		check func(t *testing.T, p *pfStage, rows []preflight.Row)
	}{
		{name: "every check ok", exit: exitOK, check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
			for _, r := range rows {
				// cn-shanghai's workspace has no Kyuubi service to call.
				if r.Result != preflight.OK && r.Result != preflight.NotConfigured && !(r.Result == preflight.NothingToCall && strings.Contains(r.Detail, "no gateway in w-sh-fin01")) {
					t.Errorf("%s (%s): %s %q %q", r.Check, r.Scope, r.Result, r.Do, r.Detail)
				}
			}
			if len(rowsOf(rows, "emr ListLivyComputeToken")) != 2 || len(rowsOf(rows, "clock")) != 2 {
				t.Errorf("want each region's calls and clock: %+v", rows)
			}
			if len(p.recv.pings) != 1 || p.recv.pings[0]["type"] != "webhook.ping" {
				t.Errorf("the receiver got %v, want one verified webhook.ping", p.recv.pings)
			}
			if ms := p.cms.Metrics(); len(ms) != 1 || ms[0].Name != "preflight" || ms[0].GroupID != pfGroup {
				t.Errorf("CloudMonitor got %+v, want one preflight metric to group %d", ms, pfGroup)
			}
		}},
		{name: "the bucket ignores forbid-overwrite", stage: func(p *pfStage) { p.oss.IgnoreForbidOverwrite = true }, exit: exitFailed,
			check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
				wantRow(t, rows, "store create again (must be refused)", preflight.Refused, "claims and the record of actions would not hold")
				wantRow(t, rows, "store create", preflight.OK, "")
			}},
		{name: "the bucket denies writes", stage: func(p *pfStage) { p.oss.DenyPrefix = "livy/" }, exit: exitFailed,
			check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
				wantRow(t, rows, "store create", preflight.MissingPermission, "oss:PutObject")
				wantRow(t, rows, "store copy", preflight.NothingToCall, "")
			}},
		{name: "the policy lacks GetLivyCompute", stage: func(p *pfStage) {
			p.emu.AddKey(cliAK, emulator.Key{Secret: cliSecret, Actions: []string{"ListWorkspaces", "ListLivyCompute", "ListLivyComputeToken", "ListKyuubiServices", "GetKyuubiService", "ListKyuubiToken"}})
		}, exit: exitFailed, check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
			wantRow(t, rows, "emr GetLivyCompute", preflight.MissingPermission, "grant emr-serverless-spark:GetLivyCompute to the run's identity")
			wantRow(t, rows, "emr ListLivyComputeToken", preflight.OK, "")
		}},
		{name: "every call denied", stage: func(p *pfStage) {
			p.emu.AddKey(cliAK, emulator.Key{Secret: cliSecret, Actions: []string{}})
			p.cms.Keys[cliAK] = emulator.Key{Secret: cliSecret, Actions: []string{}}
			p.oss.DenyPrefix = "livy/"
		}, exit: exitFailed, check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
			wantRow(t, rows, "emr ListWorkspaces", preflight.MissingPermission, "emr-serverless-spark:ListWorkspaces")
			wantRow(t, rows, "emr ListLivyCompute", preflight.NothingToCall, "")
			wantRow(t, rows, "cloudmonitor", preflight.MissingPermission, "cms:PutCustomMetric")
			wantRow(t, rows, "store create", preflight.MissingPermission, "oss:PutObject")
		}},
		{name: "the bot lacks groups:history", stage: func(p *pfStage) { p.bot.scopes = []string{"chat:write", "channels:history", "channels:read"} }, exit: exitFailed,
			check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
				wantRow(t, rows, "slack channel", preflight.MissingPermission, "add groups:history to the app's bot scopes")
			}},
		{name: "the bot lacks chat:write", stage: func(p *pfStage) { p.bot.scopes = []string{"groups:history"} }, exit: exitFailed,
			check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
				wantRow(t, rows, "slack scope chat:write", preflight.MissingPermission, "add chat:write")
			}},
		{name: "the bot is not in the channel", stage: func(p *pfStage) { p.bot.member = false }, exit: exitFailed,
			check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
				wantRow(t, rows, "slack channel", preflight.Refused, "/invite @livy-token-audit")
			}},
		{name: "the bot token is revoked", stage: func(p *pfStage) { p.bot.badAuth = true }, exit: exitFailed,
			check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
				wantRow(t, rows, "slack auth.test", preflight.Refused, "the token is not valid")
			}},
		{name: "CloudMonitor has no such group", stage: func(p *pfStage) { p.cms.RefuseGroups = []int64{pfGroup} }, exit: exitFailed,
			check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
				wantRow(t, rows, "cloudmonitor", preflight.Refused, "metrics.cloudMonitor.groupId")
			}},
		{name: "the webhook receiver refuses", stage: func(p *pfStage) { p.recv.status = http.StatusForbidden }, exit: exitFailed,
			check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
				wantRow(t, rows, "webhook ping", preflight.Refused, "HTTP 403")
			}},
		{name: "the webhook's secret is another", stage: func(p *pfStage) { p.env["TICKETS_SECRET"] = "another-SECRET-than-the-receivers" }, exit: exitFailed,
			check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
				wantRow(t, rows, "webhook ping", preflight.Refused, "HTTP 401")
			}},
		{name: "the signing secret is a token", stage: func(p *pfStage) { p.env["SLACK_SIGNING_SECRET"] = "xoxb-SECRET-not-a-signing-secret" }, exit: exitFailed,
			check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
				wantRow(t, rows, "slack signing secret", preflight.Refused, "holds a Slack token")
			}},
		{name: "the clock is 10 minutes off", stage: func(p *pfStage) { p.emu.Clock = func() time.Time { return time.Now().Add(-10 * time.Minute) } }, exit: exitFailed,
			check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
				wantRow(t, rows, "clock", preflight.Refused, "NTP")
				wantRow(t, rows, "emr ListWorkspaces", preflight.OK, "")
			}},
		{name: "no credentials", stage: func(p *pfStage) {
			delete(p.env, "ALIBABA_CLOUD_ACCESS_KEY_ID")
			delete(p.env, "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
		}, exit: exitFailed, check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
			wantRow(t, rows, "credentials", preflight.Refused, "ALIBABA_CLOUD_ACCESS_KEY_ID")
			wantRow(t, rows, "emr ListWorkspaces", preflight.Refused, "credentials")
			wantRow(t, rows, "store create", preflight.Refused, "credentials")
			wantRow(t, rows, "slack auth.test", preflight.OK, "")
		}},
		{name: "hostile answers echo credentials", stage: func(p *pfStage) {
			p.emu.Echo = true
			p.emu.Edit(func() {
				p.emu.World.Regions["cn-shanghai"].Fail = &emulator.Failure{Status: 403, Code: "Forbidden.RAM", Message: "not authorized"}
			})
			p.oss.DenyPrefix, p.oss.EchoDenied = "livy/", true
		}, exit: exitFailed, check: func(t *testing.T, p *pfStage, rows []preflight.Row) {
			wantRow(t, rows, "store create", preflight.MissingPermission, "oss:PutObject")
			echoed := false
			for _, r := range rows {
				if r.Check == "emr ListWorkspaces" && strings.Contains(r.Scope, "cn-shanghai") {
					echoed = r.Result == preflight.MissingPermission && strings.Contains(r.Detail, "[echo:")
				}
			}
			if !echoed {
				t.Errorf("the hostile answer was not in the row (the test would not see a leak): %+v", rows)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPreflightStage(t)
			if tc.stage != nil {
				tc.stage(p)
			}
			code, rows, out := p.preflight(t)
			if code != tc.exit {
				t.Errorf("exit %d, want %d\n%s", code, tc.exit, out)
			}
			for _, c := range everyCheck {
				if len(rowsOf(rows, c)) == 0 {
					t.Errorf("no %q row: every check is listed whatever fails\n%s", c, out)
				}
			}
			tc.check(t, p, rows)
			// A preflight posts nothing, writes no snapshot and deletes
			// nothing: the bucket holds its probes alone.
			for key := range p.oss.Objects() {
				if !strings.HasPrefix(key, "livy/preflight/preflight-") {
					t.Errorf("the preflight wrote %s", key)
				}
			}
			for _, r := range p.emu.Requests() {
				if !slices.Contains(allEMR, r.Action) && r.Action != "" {
					t.Errorf("the preflight called %s", r.Action)
				}
			}
			if p.bot.posts != 0 || p.slack.count() != 0 {
				t.Errorf("the preflight posted: %d bot posts, %d webhook posts", p.bot.posts, p.slack.count())
			}
			p.leaks(t, out)
			for _, s := range []string{pfBotToken, pfTicketsSecret, pfSigning, cliAK} {
				if strings.Contains(out, s) {
					t.Errorf("%q left the process", s)
				}
			}
		})
	}
}

// The probes are named per run: a second preflight meets none of the
// first's, and both pass.
func TestPreflightRerun(t *testing.T) {
	t.Parallel()
	p := newPreflightStage(t)
	for i := range 2 {
		if code, rows, out := p.preflight(t); code != exitOK {
			t.Fatalf("run %d: exit %d %+v\n%s", i+1, code, rows, out)
		}
	}
	if n := len(p.oss.Objects()); n != 4 {
		t.Errorf("%d objects, want two runs' two probes", n)
	}
}

// The RAM policies in deploy/ pass the preflight against the stand-ins'
// action enforcement, which holds each policy's actions as the allowed
// set: a policy without an action the audit calls fails here, naming it.
func TestDeployPolicyPassesThePreflight(t *testing.T) {
	t.Parallel()
	emr, cms, ram := policyActions(t, "ram-policy.json", "emr-serverless-spark:"), policyActions(t, "ram-policy.json", "cms:"), policyActions(t, "ram-policy.json", "ram:")
	run := func(t *testing.T, emrActions []string) []preflight.Row {
		p := newPreflightStage(t)
		p.emu.AddKey(cliAK, emulator.Key{Secret: cliSecret, Actions: emrActions})
		p.cms.Keys[cliAK] = emulator.Key{Secret: cliSecret, Actions: cms}
		p.ims.Keys[cliAK] = emulator.Key{Secret: cliSecret, Actions: ram}
		_, rows, _ := p.preflight(t)
		return rows
	}
	for _, r := range run(t, emr) {
		if r.Result.Failed() {
			t.Errorf("with deploy/ram-policy.json: %s (%s): %s %q", r.Check, r.Scope, r.Result, r.Do)
		}
	}
	for _, drop := range emr {
		rows := run(t, slices.DeleteFunc(slices.Clone(emr), func(a string) bool { return a == drop }))
		denied := 0
		for _, r := range rowsOf(rows, "emr "+drop) {
			switch {
			case r.Result == preflight.MissingPermission && strings.Contains(r.Do, "emr-serverless-spark:"+drop):
				denied++
			case r.Result != preflight.NothingToCall: // a region with nothing of the kind to call it on
				t.Errorf("without %s: %s (%s): %s %q", drop, r.Check, r.Scope, r.Result, r.Do)
			}
		}
		if denied == 0 {
			t.Errorf("without %s: no row names it", drop)
		}
	}
}

// policyActions are the actions a policy in deploy/ allows with a prefix,
// the prefix cut.
func policyActions(t *testing.T, file, prefix string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", file))
	if err != nil {
		t.Fatal(err)
	}
	var pol struct {
		Statement []struct {
			Action json.RawMessage
		}
	}
	if err := json.Unmarshal(b, &pol); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, st := range pol.Statement {
		var list []string
		if json.Unmarshal(st.Action, &list) != nil {
			var one string
			_ = json.Unmarshal(st.Action, &one)
			list = []string{one}
		}
		for _, a := range list {
			if rest, ok := strings.CutPrefix(a, prefix); ok {
				out = append(out, rest)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("deploy/%s allows no %s action", file, prefix)
	}
	return out
}

// -demo -preflight checks the demo's stand-ins and shows one staged
// failure, with what to do, and exits 0 as the demo does.
func TestDemoPreflight(t *testing.T) {
	t.Chdir(t.TempDir())
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-demo", "-preflight"}, noEnv, &out, &errb); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"missing permission (staged)", "add groups:history to the app's bot scopes", "failed (staged by the demo)",
		"skipped: needs -preflight-post", "Nothing was posted"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's preflight lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Count(out.String(), "(staged)") != 1 {
		t.Errorf("want exactly one staged failure:\n%s", out.String())
	}
	entries, _ := os.ReadDir("demo-out")
	for _, e := range entries {
		if e.Name() != "preflight" {
			t.Errorf("the preflight wrote demo-out/%s", e.Name())
		}
	}
	// With -preflight-post, the webhook is posted to, and passes.
	out.Reset()
	if code := run(t.Context(), []string{"-demo", "-preflight", "-preflight-post", "-format", "json"}, noEnv, &out, &errb); code != exitOK ||
		!strings.Contains(out.String(), `"result": "ok",`+"\n      \"whatToDo\": \"\",\n      \"detail\": \"posted: ") {
		t.Errorf("-preflight-post: exit %d\n%s", code, out.String())
	}
	for _, secret := range []string{demoBotToken, demoSigningSecret, demoAccessKeySecret} {
		if strings.Contains(out.String()+errb.String(), secret) {
			t.Errorf("%q left the process", secret)
		}
	}
}

// -preflight takes no flag that audits.
func TestPreflightFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-preflight", "-dry-run"}, {"-preflight", "-format", "csv"}, {"-preflight-post"}, {"-preflight", "-region", "cn-hangzhou"}} {
		var out, errb bytes.Buffer
		if code := run(t.Context(), append([]string{"-demo"}, args...), noEnv, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "preflight") {
			t.Errorf("%v: exit %d, want 2 naming the preflight\n%s", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-config", filepath.Join(repoRoot, "testdata", "config", "unknown-key.yaml"), "-preflight"}, noEnv, &out, &errb); code != exitUsage {
		t.Errorf("a bad config: exit %d, want 2\n%s", code, errb.String())
	}
}

// With actions.retire on and the Delete button off, the preflight still
// assumes every delete role (a retirement deletes through them): an
// assumable role is a row that says so, a denied one names its ARN and the
// policy to fix; with neither retire nor delete on, no delete role is
// assumed at all. Run through the real binary: the STS stand-in speaks
// HTTPS with a test CA, which the binary trusts through SSL_CERT_FILE.
func TestPreflightRetireAssumesTheDeleteRole(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	emu := &emulator.Server{World: accountWorld("w-own", "lc-own", "tk-o1"),
		Worlds: map[string]*emulator.World{"1111111111111111": accountWorld("w-acct", "lc-acct", "tk-a1")},
		Keys:   map[string]emulator.Key{cliAK: {Secret: cliSecret}}, Now: func() time.Time { return demoStart }}
	api := httptest.NewServer(emu)
	defer api.Close()
	sts := &emulator.STS{Keys: map[string]emulator.Key{cliAK: {Secret: cliSecret}}, API: emu,
		Roles: map[string]emulator.Role{
			acctReader:  {Account: "1111111111111111", Actions: readActions},
			acctDeleter: {Account: "1111111111111111", Actions: deleteActions, Deny: true},
			ownDeleter:  {Actions: deleteActions},
		}}
	stsHost, caFile := serveSTS(t, sts)
	dir := t.TempDir()
	preflightWith := func(t *testing.T, actions string) (int, []preflight.Row, string) {
		cfg := fmt.Sprintf(`regions: [cn-hangzhou]
accounts:
  - {name: analytics, roleArn: %q, deleteRoleArn: %q, regions: [cn-hangzhou]}
api: {endpoint: %q, stsEndpoint: %q, retries: 1, ratePerSecond: 1000}
snapshot: {dir: %q}
slack: {notify: always}
%s`, acctReader, acctDeleter, api.URL, stsHost, filepath.Join(dir, "out"), actions)
		cfgPath := filepath.Join(t.TempDir(), "audit.yaml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-config", cfgPath, "-preflight", "-format", "json")
		cmd.Env = []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=" + cliAK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + cliSecret,
			"ALIBABA_CLOUD_ECS_METADATA_DISABLED=true", "HOME=" + dir, "SSL_CERT_FILE=" + caFile, "SLACK_SIGNING_SECRET=" + pfSigning}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		_ = cmd.Run()
		var doc struct{ Rows []preflight.Row }
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("-preflight -format json: %v\n%s\n%s", err, out.String(), errb.String())
		}
		return cmd.ProcessState.ExitCode(), doc.Rows, out.String() + errb.String()
	}

	t.Run("retire on, delete off", func(t *testing.T) {
		code, rows, printed := preflightWith(t, fmt.Sprintf(`actions:
  enabled: true
  users: [U0ADMIN03]
  delete: {roleArn: %q}
  retire: {enabled: true}
`, ownDeleter))
		got := map[string]preflight.Row{}
		for _, r := range rowsOf(rows, "assume delete role") {
			got[r.Scope] = r
		}
		if r := got["the run's account"]; r.Result != preflight.OK || !strings.Contains(r.Detail, ownDeleter) {
			t.Errorf("the run's delete role: %+v, want assumed %s", r, ownDeleter)
		}
		if r := got["analytics"]; r.Result != preflight.MissingPermission || !strings.Contains(r.Do, acctDeleter) || !strings.Contains(r.Do, "ram-policy-assume.json") {
			t.Errorf("analytics' denied delete role: %+v, want MissingPermission naming %s and the policy", r, acctDeleter)
		}
		if len(got) != 2 || code != exitFailed {
			t.Errorf("exit %d and %d delete-role rows, want %d and 2:\n%s", code, len(got), exitFailed, printed)
		}
		for _, secret := range []string{cliSecret, pfSigning, "lvt-SECRET"} {
			if strings.Contains(printed, secret) {
				t.Errorf("%q left the process:\n%s", secret, printed)
			}
		}
	})
	t.Run("neither retire nor delete", func(t *testing.T) {
		_, rows, printed := preflightWith(t, "actions: {enabled: true, users: [U0ADMIN03]}\n")
		if n := len(rowsOf(rows, "assume delete role")); n != 0 {
			t.Errorf("%d delete-role rows; nothing deletes, so none is assumed:\n%s", n, printed)
		}
		if len(rowsOf(rows, "assume role")) != 1 {
			t.Errorf("want the reader role's row:\n%s", printed)
		}
	})
}
