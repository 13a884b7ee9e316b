package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/internal/slacklimits"
	"livy-token-audit/internal/standin/emulator"
	"livy-token-audit/notify/actionref"
	"livy-token-audit/notify/actions"
)

// Distinctive values of the actions' FC test: none may leave the process.
const (
	fcSigningSecret = "fc-sign-SECRET-slack-app-2d8e"
	ownExpiredValue = "lvt-SECRET-own-expired-91ab"
	ownUnusedValue  = "lvt-SECRET-own-unused-27cd"
	acctValue       = "lvt-SECRET-analytics-exp-5e3f"
)

const (
	ownDeleter  = "acs:ram::1234567890123456:role/livy-token-audit-deleter"
	acctReader  = "acs:ram::1111111111111111:role/livy-token-audit-reader"
	acctDeleter = "acs:ram::1111111111111111:role/livy-token-audit-deleter"
)

var (
	readActions   = []string{"ListWorkspaces", "ListLivyCompute", "GetLivyCompute", "ListLivyComputeToken"}
	deleteActions = []string{"ListLivyComputeToken", "DeleteLivyComputeToken"}
)

func actionsWorld(ws, gw string, toks ...*emulator.Token) *emulator.World {
	return &emulator.World{Regions: map[string]*emulator.Region{"cn-hangzhou": {Workspaces: []*emulator.Workspace{
		{ID: ws, Name: ws + "-name", Gateways: []*emulator.Gateway{{ID: gw, Name: gw + "-name", Status: "Running", Tokens: toks}}},
	}}}}
}

// responseReceiver stands in for Slack's response_url: it takes the
// documented payloads within Slack's limits, and refuses anything else.
type responseReceiver struct {
	mu    sync.Mutex
	posts []string
}

func (r *responseReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" || slacklimits.Check(b) != "" {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.posts = append(r.posts, string(b))
	r.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}

func (r *responseReceiver) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.posts) == 0 {
		return ""
	}
	return r.posts[len(r.posts)-1]
}

// reportButton finds, in a posted report, the block and value of the
// button doing verb to the token.
func reportButton(t *testing.T, report []byte, verb, tokenID string) (blockID, value string) {
	t.Helper()
	var m struct {
		Blocks []struct {
			BlockID  string `json:"block_id"`
			Elements []struct {
				ActionID string `json:"action_id"`
				Value    string `json:"value"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(report, &m); err != nil {
		t.Fatal(err)
	}
	for _, b := range m.Blocks {
		for _, e := range b.Elements {
			v, ref, err := actionref.NewSigner(fcSigningSecret).Parse(e.Value)
			if err == nil && strings.HasPrefix(e.ActionID, "lta_") && v == verb && ref.Token == tokenID {
				return b.BlockID, e.Value
			}
		}
	}
	t.Fatalf("the report has no %s button for %s:\n%s", verb, tokenID, report)
	return "", ""
}

// httpTriggerEvent is the event an FC 3.0 HTTP trigger hands the function
// for a request of Slack's, signed as Slack signs (v0 HMAC-SHA256 of
// "v0:{timestamp}:{body}"), made here from the published algorithm.
func httpTriggerEvent(method, path, secret, body string, at time.Time, b64 bool) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":" + body))
	if b64 {
		body = base64.StdEncoding.EncodeToString([]byte(body))
	}
	ev := map[string]any{
		"version": "v1", "rawPath": path, "body": body, "isBase64Encoded": b64,
		"headers": map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
			"X-Slack-Signature": "v0=" + hex.EncodeToString(m.Sum(nil)), "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"},
		"queryParameters": map[string]string{},
		"requestContext": map[string]any{"accountId": "1234567890123456", "domainName": "livy-token-audit-abc.cn-hangzhou.fcapp.run",
			"domainPrefix": "livy-token-audit-abc", "requestId": "http-req-1", "time": at.UTC().Format(time.RFC3339), "timeEpoch": strconv.FormatInt(at.UnixMilli(), 10),
			"http": map[string]string{"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "54.1.2.3", "userAgent": "Slackbot 1.0"}},
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

// clickBody is a block_actions payload of one click.
func clickBody(user, blockID, value, responseURL string, n int) string {
	p, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]string{"id": user}, "team": map[string]string{"id": "T0001"}, "trigger_id": "1.2.3",
		"response_url": responseURL, "container": map[string]string{"type": "message", "channel_id": "C0AUDIT", "message_ts": "1.000100"},
		"message": map[string]any{"type": "message", "ts": "1.000100", "text": "report", "blocks": []any{}},
		"actions": []map[string]string{{"type": "button", "action_id": "lta_x", "block_id": blockID, "value": value, "action_ts": fmt.Sprintf("1700000100.%06d", n)}},
	})
	return url.Values{"payload": {string(p)}}.Encode()
}

// TestFunctionComputeSlackActions serves Slack's clicks through the real
// fc.Start loop with HTTP trigger httpAnswer: the timer's audit posts a report
// with buttons; clicks on them snooze a finding and delete expired tokens
// in the function's own account and in another, each through its delete
// role (assumed with STS, ACS3-verified by the EMR stand-in, which refuses
// a delete to any other key); requests that fail verification get 401 and
// change nothing; no HTTP event starts an audit; the next audit applies the
// snooze and lists the actions.
func TestFunctionComputeSlackActions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	role := [3]string{"STS.FcRoleKey02", "fc-role-secret-never-print-4c", "fc-sts-token-never-print-8y"}
	ms := func(d time.Duration) emulator.Time { return emulator.At(demoStart.Add(d)) }
	day := 24 * time.Hour
	own := actionsWorld("w-own", "lc-own",
		&emulator.Token{TokenID: "tk-own-exp", Name: "old-etl", Token: ownExpiredValue, CreatedBy: "carol", CreateTime: ms(-300 * day), ExpireTime: ms(-2 * day), LastUsedTime: ms(-3 * day)},
		&emulator.Token{TokenID: "tk-own-unused", Name: "ci-bot", Token: ownUnusedValue, CreatedBy: "alice", CreateTime: ms(-60 * day), ExpireTime: ms(200 * day)})
	acct := actionsWorld("w-acct", "lc-acct",
		&emulator.Token{TokenID: "tk-acct-exp", Name: "legacy", Token: acctValue, CreatedBy: "dave", CreateTime: ms(-400 * day), ExpireTime: ms(-5 * day), LastUsedTime: ms(-6 * day)})
	emu := &emulator.Server{World: own, Worlds: map[string]*emulator.World{"1111111111111111": acct},
		Keys: map[string]emulator.Key{role[0]: {Secret: role[1], SecurityToken: role[2], Actions: readActions}},
		Now:  func() time.Time { return demoStart }}
	api := httptest.NewServer(emu)
	defer api.Close()
	sts := &emulator.STS{Keys: map[string]emulator.Key{role[0]: {Secret: role[1], SecurityToken: role[2]}}, API: emu,
		Roles: map[string]emulator.Role{
			acctReader:  {Account: "1111111111111111", Actions: readActions},
			acctDeleter: {Account: "1111111111111111", Actions: deleteActions},
			ownDeleter:  {Actions: deleteActions},
		}}
	stsHost, caFile := serveSTS(t, sts)
	hook := &hookReceiver{}
	slackSrv := httptest.NewServer(hook)
	defer slackSrv.Close()
	resp := &responseReceiver{}
	respSrv := httptest.NewServer(resp)
	defer respSrv.Close()
	responseURL := respSrv.URL + "/actions/T0001/1/abc"

	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cfg := fmt.Sprintf(`regions: [cn-hangzhou]
accounts:
  - {name: analytics, roleArn: %q, deleteRoleArn: %q, regions: [cn-hangzhou]}
api: {endpoint: %q, stsEndpoint: %q, retries: 1, ratePerSecond: 1000}
snapshot: {dir: %q}
slack: {notify: always, mentions: {alice: U0ALICE01}}
actions:
  enabled: true
  users: [U0ADMIN03]
  delete: {enabled: true, users: [U0ADMIN03], roleArn: %q}
`, acctReader, acctDeleter, api.URL, stsHost, out, ownDeleter)
	cfgPath := filepath.Join(dir, "audit.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	rt, stderr := startFunction(t, bin, cfgPath, slackSrv.URL+testHookPath, "SLACK_SIGNING_SECRET="+fcSigningSecret,
		"SLACK_RESPONSE_URL_HOSTS="+strings.TrimPrefix(respSrv.URL, "http://"), "SSL_CERT_FILE="+caFile)

	res := rt.invoke(t, `{"triggerTime":"2026-11-27T09:00:00Z","triggerName":"daily"}`, 60*time.Second, 0, role)
	if !res.ok || len(hook.bodies) != 1 {
		t.Fatalf("the timer's audit: %s, %d posts\n%s", res.body, len(hook.bodies), stderr.String())
	}
	report := hook.bodies[0]
	if code := slacklimits.Check(report); code != "" {
		t.Fatalf("the report with buttons: %s", code)
	}
	discoveries := func() int {
		n := 0
		for _, r := range emu.Requests() {
			if r.Action == "ListWorkspaces" {
				n++
			}
		}
		return n
	}
	lists0 := discoveries()
	snapshots := func() int {
		n := 0
		_ = filepath.Walk(out, func(p string, info os.FileInfo, err error) error {
			if err == nil && strings.HasSuffix(p, "Z.json") {
				n++
			}
			return nil
		})
		return n
	}
	httpInvoke := func(ev string) httpAnswer {
		t.Helper()
		r := rt.invoke(t, ev, 30*time.Second, 0, role)
		var e httpAnswer
		if !r.ok || json.Unmarshal(r.body, &e) != nil {
			t.Fatalf("HTTP event: want an HTTP trigger's response, got ok=%v %s", r.ok, r.body)
		}
		return e
	}
	n := 0
	click := func(user, verb, token string, at time.Time, b64 bool) (httpAnswer, string) {
		t.Helper()
		n++
		block, value := reportButton(t, report, verb, token)
		before := resp.last()
		e := httpInvoke(httpTriggerEvent("POST", actions.Path, fcSigningSecret, clickBody(user, block, value, responseURL, n), at, b64))
		told := resp.last()
		if told == before {
			told = ""
		}
		return e, told
	}
	block, value := reportButton(t, report, actionref.Delete, "tk-own-exp")
	body := clickBody("U0ADMIN03", block, value, responseURL, 0)

	t.Run("requests that fail verification get 401 and change nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name, ev string
			want     int
		}{
			{"forged signature", httpTriggerEvent("POST", actions.Path, "not-the-secret", body, time.Now(), false), 401},
			{"timestamp 6 minutes old", httpTriggerEvent("POST", actions.Path, fcSigningSecret, body, time.Now().Add(-6*time.Minute), false), 401},
			{"a GET", httpTriggerEvent("GET", actions.Path, fcSigningSecret, body, time.Now(), false), 405},
			{"another path", httpTriggerEvent("POST", "/", fcSigningSecret, body, time.Now(), false), 404},
			{"a body over 64 KB", httpTriggerEvent("POST", actions.Path, fcSigningSecret, body+"&x="+strings.Repeat("a", 70<<10), time.Now(), false), 413},
		} {
			if e := httpInvoke(tc.ev); e.StatusCode != tc.want || e.Body != "" {
				t.Errorf("%s: status %d body %q, want %d and no detail", tc.name, e.StatusCode, e.Body, tc.want)
			}
		}
		if _, err := os.Stat(filepath.Join(out, "actions")); !os.IsNotExist(err) {
			t.Errorf("refused requests wrote under actions/ (%v)", err)
		}
	})

	t.Run("an owner snoozes their token; someone else may not", func(t *testing.T) {
		if e, told := click("U0ALICE01", actionref.Snooze30d, "tk-own-unused", time.Now(), true); e.StatusCode != 200 || !strings.Contains(told, "snoozed by") {
			t.Errorf("owner's snooze: status %d, told %s", e.StatusCode, told)
		}
		if e, told := click("U0NOBODY4", actionref.Snooze7d, "tk-own-exp", time.Now(), false); e.StatusCode != 200 || !strings.Contains(told, "Not done") {
			t.Errorf("a stranger's snooze: status %d, told %s", e.StatusCode, told)
		}
	})

	t.Run("deletes go through each account's delete role, once", func(t *testing.T) {
		for _, tok := range []string{"tk-own-exp", "tk-acct-exp"} {
			if e, told := click("U0ADMIN03", actionref.Delete, tok, time.Now(), false); e.StatusCode != 200 || !strings.Contains(told, "deleted by") {
				t.Errorf("delete %s: status %d, told %s\n%s", tok, e.StatusCode, told, stderr.String())
			}
		}
		if _, told := click("U0ADMIN03", actionref.Delete, "tk-acct-exp", time.Now(), false); !strings.Contains(told, "already gone") {
			t.Errorf("a second delete: told %s", told)
		}
		deletes := map[string]int{}
		for _, r := range emu.Requests() {
			if r.Action == "DeleteLivyComputeToken" {
				deletes[r.Account]++
				if !strings.HasPrefix(r.AccessKeyID, "STS.") || r.Status != 200 {
					t.Errorf("a delete by %s (status %d): only the delete roles' keys delete", r.AccessKeyID, r.Status)
				}
			}
		}
		if deletes[""] != 1 || deletes["1111111111111111"] != 1 {
			t.Errorf("deletes by account %v, want one in each", deletes)
		}
		arns := map[string]bool{}
		for _, r := range sts.Requests() {
			arns[r.RoleARN] = true
		}
		if !arns[ownDeleter] || !arns[acctDeleter] {
			t.Errorf("roles assumed %v, want both delete roles", arns)
		}
	})

	t.Run("no HTTP event starts an audit", func(t *testing.T) {
		if got := snapshots(); got != 1 {
			t.Errorf("%d snapshots after the HTTP httpAnswer, want the timer's one", got)
		}
		if got := discoveries(); got != lists0 {
			t.Errorf("%d ListWorkspaces calls after the HTTP httpAnswer, %d before: an HTTP event discovered the fleet", got, lists0)
		}
	})

	t.Run("the next audit applies the snooze and lists the actions", func(t *testing.T) {
		res := rt.invoke(t, `{"triggerTime":"2026-11-28T09:00:00Z","triggerName":"daily"}`, 60*time.Second, 0, role)
		if !res.ok {
			t.Fatalf("%s\n%s", res.body, stderr.String())
		}
		b, err := os.ReadFile(filepath.Join(out, "2026/11/28/20261128T090000Z.json"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := audit.ReadSnapshot(b)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, g := range s.Gateways {
			for _, tk := range g.Tokens {
				ids = append(ids, tk.TokenID)
				if tk.TokenID == "tk-own-unused" && (len(tk.Findings) != 0 || len(tk.Suppressed) != 1 || tk.Suppressed[0].SnoozedBy != "U0ALICE01") {
					t.Errorf("the snoozed token: findings %+v, suppressed %+v", tk.Findings, tk.Suppressed)
				}
			}
		}
		if !slices.Equal(ids, []string{"tk-own-unused"}) {
			t.Errorf("tokens %v after the deletes, want only tk-own-unused", ids)
		}
		outcomes := map[string]int{}
		for _, a := range s.Actions {
			outcomes[a.Verb+" "+a.Outcome]++
		}
		if outcomes["snooze:30d done"] != 1 || outcomes["snooze:7d refused"] != 1 || outcomes["delete done"] != 3 {
			t.Errorf("the snapshot's actions %v", outcomes)
		}
		if len(hook.bodies) != 2 || !strings.Contains(string(hook.bodies[1]), "Snoozed from Slack") {
			t.Errorf("the next report does not show the snooze:\n%s", hook.bodies[len(hook.bodies)-1])
		}
	})

	t.Run("an unusable head: clicks go on, and the next audit says what it skipped", func(t *testing.T) {
		head := func() int {
			var p struct{ N int }
			b, err := os.ReadFile(filepath.Join(out, "actions", "head.json"))
			if err != nil || json.Unmarshal(b, &p) != nil || p.N == 0 {
				t.Fatalf("the record's pointer: %s, %v", b, err)
			}
			return p.N
		}
		corrupt := func(n int) string {
			key := fmt.Sprintf("actions/state.%d.json", n)
			if err := os.WriteFile(filepath.Join(out, key), []byte(`{"schemaVersion":1,"snoozes":[{`), 0o644); err != nil {
				t.Fatal(err)
			}
			return key
		}
		corrupt(head() + 1)
		if e, told := click("U0ALICE01", actionref.Ack, "tk-own-unused", time.Now(), false); e.StatusCode != 200 ||
			!strings.Contains(told, "acknowledged by") || !strings.Contains(told, "could not be read") || strings.Contains(told, "invalid character") {
			t.Errorf("a click after a corrupt head: status %d, told %s; want it done, saying so in plain words", e.StatusCode, told)
		}
		key := corrupt(head() + 1)
		res := rt.invoke(t, `{"triggerTime":"2026-11-29T09:00:00Z","triggerName":"daily"}`, 60*time.Second, 0, role)
		var r struct {
			ActionsWarnings []string `json:"actionsWarnings"`
		}
		if !res.ok || json.Unmarshal(res.body, &r) != nil || len(r.ActionsWarnings) != 1 || !strings.Contains(r.ActionsWarnings[0], key+" is not JSON") {
			t.Fatalf("the FC response after a corrupt head: %s", res.body)
		}
		b, err := os.ReadFile(filepath.Join(out, "2026/11/29/20261129T090000Z.json"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := audit.ReadSnapshot(b)
		if err != nil {
			t.Fatal(err)
		}
		tk := s.Gateways[0].Tokens[0]
		if tk.TokenID != "tk-own-unused" || len(tk.Suppressed) != 1 || tk.Acknowledged == nil || tk.Acknowledged.By != "U0ALICE01" || len(s.ActionsWarnings) != 1 {
			t.Errorf("the audit after a corrupt head: %+v, warnings %q; want the snooze and the acknowledgement from the last good state", tk, s.ActionsWarnings)
		}
		if last := hook.bodies[len(hook.bodies)-1]; !strings.Contains(string(last), "Actions from Slack not all applied") {
			t.Errorf("the report does not say what of the record was skipped:\n%s", last)
		}
	})

	t.Run("nothing secret left the process", func(t *testing.T) {
		var all bytes.Buffer
		all.WriteString(stderr.String())
		for _, b := range hook.bodies {
			all.Write(b)
		}
		resp.mu.Lock()
		all.WriteString(strings.Join(resp.posts, "\n"))
		resp.mu.Unlock()
		_ = filepath.Walk(out, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				b, _ := os.ReadFile(p)
				all.Write(b)
			}
			return nil
		})
		for _, secret := range []string{fcSigningSecret, ownExpiredValue, ownUnusedValue, acctValue, role[1], role[2], "sts-secret-", "sts-token-", testHookPath} {
			if bytes.Contains(all.Bytes(), []byte(secret)) {
				t.Errorf("%q left the process", secret)
			}
		}
	})
}

// httpAnswer is an HTTP trigger's response as the function answers it.
type httpAnswer struct {
	StatusCode      int               `json:"statusCode"`
	Headers         map[string]string `json:"headers"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	Body            string            `json:"body"`
}
