package actions_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	"livy-token-audit/audit/delivery"
	"livy-token-audit/audit/emr"
	"livy-token-audit/audit/localstore"
	"livy-token-audit/internal/audittest"
	"livy-token-audit/internal/slacklimits"
	"livy-token-audit/internal/standin/emulator"
	"livy-token-audit/notify"
	"livy-token-audit/notify/actionref"
	"livy-token-audit/notify/actions"
	"livy-token-audit/notify/slack"
)

// Distinctive values that must never leave the process.
const (
	signingSecret = "sign-SECRET-slack-app-7a6b5c4d"
	tokenExpired  = "lvt-SECRET-expired-1a2b3c4d5e"
	tokenUnused   = "lvt-SECRET-unused-6f7e8d9c0b"
	tokenOld      = "lvt-SECRET-old-3c4d5e6f7a8b"
	tokenKyuubi   = "kyuubi-SECRET-old-9e8d7c6b5a4f"
	deleteKey     = "LTAI5tDeleteRole01"
	deleteSecret  = "delete-secret-never-print-5e"
	readKey       = "LTAI5tReadOnly0001"
	readSecret    = "read-secret-never-print-6f"
)

// Slack user IDs.
const (
	alice   = "U0ALICE01" // owns the tokens created by alice (slack.mentions)
	bob     = "U0BOB0002" // owns bob's tokens
	admin   = "U0ADMIN03" // in actions.users and actions.delete.users
	outside = "U0NOBODY4" // in no list
)

var now = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

func world() *emulator.World {
	ms := func(t time.Time) emulator.Time { return emulator.At(t) }
	return &emulator.World{Regions: map[string]*emulator.Region{"cn-hangzhou": {Workspaces: []*emulator.Workspace{
		{ID: "w-1", Name: "analytics", Gateways: []*emulator.Gateway{{ID: "lc-1", Name: "etl-gw", Status: "Running", Tokens: []*emulator.Token{
			{TokenID: "tk-exp", Name: "nightly-etl", Token: tokenExpired, CreatedBy: "alice",
				CreateTime: ms(now.Add(-200 * audit.Day)), ExpireTime: ms(now.Add(-3 * audit.Day)), LastUsedTime: ms(now.Add(-4 * audit.Day))},
			{TokenID: "tk-unused", Name: "ci-bot", Token: tokenUnused, CreatedBy: "bob",
				CreateTime: ms(now.Add(-120 * audit.Day)), ExpireTime: ms(now.Add(200 * audit.Day))},
			{TokenID: "tk-old", Name: "legacy", Token: tokenOld, CreatedBy: "bob",
				CreateTime: ms(now.Add(-400 * audit.Day)), ExpireTime: ms(now.Add(-1 * audit.Day)), LastUsedTime: ms(now.Add(-2 * audit.Day))},
		}}}},
		{ID: "w-2", Name: "bi", Kyuubi: []*emulator.Gateway{{ID: "kb-1", Name: "bi-sql", Status: "RUNNING", Tokens: []*emulator.Token{
			{TokenID: "kt-exp", Name: "tableau-old", Token: tokenKyuubi, CreatedBy: "alice",
				CreateTime: ms(now.Add(-100 * audit.Day)), ExpireTime: ms(now.Add(-2 * audit.Day)), LastUsedTime: ms(now.Add(-3 * audit.Day))},
		}}}},
	}}}}
}

// bench is an action endpoint wired to an EMR stand-in (which checks the
// ACS3 signature and the delete role's policy), a store on disk, and a
// response_url receiver; clicks are signed as Slack signs them.
type bench struct {
	t        testing.TB
	h        *actions.Handler
	emu      *emulator.Server
	dir      string
	store    *localstore.Store
	msg      slack.Message
	hook     *receiver
	hookURL  string
	policy   actionref.Policy
	actionTS int
	endpoint string
	// names are the users' Slack names, as Slack sends them with a click.
	names map[string]string
}

func newBench(t testing.TB, deleteOn bool) *bench {
	t.Helper()
	emu := &emulator.Server{World: world(), Now: func() time.Time { return now }, Keys: map[string]emulator.Key{
		deleteKey: {Secret: deleteSecret, Actions: []string{"ListLivyComputeToken", "DeleteLivyComputeToken", "ListKyuubiToken", "DeleteKyuubiToken"}},
		readKey:   {Secret: readSecret, Actions: []string{"ListLivyComputeToken"}},
	}}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	api, err := emr.New(emr.Options{Endpoint: srv.URL, Credential: audittest.Credential(t, deleteKey, deleteSecret), Timeout: 5 * time.Second, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b := &bench{t: t, emu: emu, dir: dir, store: &localstore.Store{Dir: dir}, hook: &receiver{}, endpoint: srv.URL}
	hs := httptest.NewServer(b.hook)
	t.Cleanup(hs.Close)
	b.hookURL = hs.URL + "/actions/T0001/123/abc"
	b.policy = actionref.Policy{Users: []string{admin}, Owners: map[string]string{"alice": alice, "bob": bob}, MaxSnooze: 90 * audit.Day,
		Delete: deleteOn, DeleteUsers: []string{admin}, DeleteRules: []audit.Rule{audit.RuleExpired}, DeleteAccounts: []string{""}, Rules: audit.DefaultPolicy()}
	b.h = &actions.Handler{SigningSecret: signingSecret, Policy: b.policy, Store: b.store, HTTPClient: slack.NewHTTPClient(5 * time.Second),
		ResponseHosts: []string{strings.TrimPrefix(hs.URL, "http://")}, Now: func() time.Time { return now }}
	if deleteOn {
		b.h.Deleter = actions.APIDeleter{Accounts: map[string]map[string]actions.TokenAPI{"": {audit.KindLivy: api, audit.KindKyuubi: api.Kyuubi()}}}
	}
	b.msg = b.report(api)
	return b
}

// report audits the stand-in's gateway and renders the Slack report with
// its buttons, as the audit posts it.
func (b *bench) report(api *emr.Client) slack.Message {
	b.t.Helper()
	toks, err := api.ListTokens(context.Background(), "cn-hangzhou", "w-1", "lc-1")
	if err != nil {
		b.t.Fatal(err)
	}
	ktoks, err := api.Kyuubi().ListTokens(context.Background(), "cn-hangzhou", "w-2", "kb-1")
	if err != nil {
		b.t.Fatal(err)
	}
	s := audittest.BuildSnapshot(audittest.Collection{Gateways: []audit.GatewayResult{{
		Ref: audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", WorkspaceName: "analytics", GatewayID: "lc-1", GatewayName: "etl-gw"}, Tokens: toks,
	}, {
		Ref: audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-2", WorkspaceName: "bi", GatewayID: "kb-1", GatewayName: "bi-sql", Kind: audit.KindKyuubi}, Tokens: ktoks,
	}}}, audit.Evaluation{Now: now, Policy: audit.DefaultPolicy()})
	m := slack.Render(notify.NewDigest(s, delivery.Locations{}), slack.RenderOptions{MaxItems: 10, Mentions: b.policy.Owners, Buttons: &slack.Buttons{Signer: actionref.NewSigner(signingSecret), Policy: b.policy}})
	body, _ := json.Marshal(m)
	if code := slacklimits.Check(body); code != "" {
		b.t.Fatalf("the report with buttons is over Slack's limits: %s", code)
	}
	return m
}

// button finds the value and block of the report's button doing verb to
// the token.
func (b *bench) button(tokenID, verb string) (value, blockID string) {
	b.t.Helper()
	var raw struct {
		Blocks []struct {
			Type     string `json:"type"`
			BlockID  string `json:"block_id"`
			Elements []struct {
				ActionID string `json:"action_id"`
				Value    string `json:"value"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	body, _ := json.Marshal(b.msg)
	_ = json.Unmarshal(body, &raw)
	signer := actionref.NewSigner(signingSecret)
	for _, bl := range raw.Blocks {
		for _, e := range bl.Elements {
			if !strings.HasPrefix(e.ActionID, "lta_") {
				continue
			}
			v, ref, err := signer.Parse(e.Value)
			if err == nil && v == verb && ref.Token == tokenID {
				return e.Value, bl.BlockID
			}
		}
	}
	b.t.Fatalf("the report has no %s button for %s", verb, tokenID)
	return "", ""
}

// payload is a block_actions interaction as Slack sends it.
func (b *bench) payload(user, value, blockID string) string {
	b.actionTS++
	p := map[string]any{
		"type": "block_actions", "user": map[string]string{"id": user, "username": b.names[user], "name": b.names[user]}, "api_app_id": "A0APP", "token": "legacy-unused",
		"trigger_id": "1.2.3", "response_url": b.hookURL, "team": map[string]string{"id": "T0001"},
		"container": map[string]any{"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0AUDIT"},
		"channel":   map[string]string{"id": "C0AUDIT"},
		"message":   map[string]any{"type": "message", "ts": "1700000000.000100", "text": b.msg.Text, "blocks": b.msg.Blocks},
		"actions": []map[string]any{{"type": "button", "action_id": "lta_x", "block_id": blockID, "value": value,
			"action_ts": fmt.Sprintf("1700000100.%06d", b.actionTS)}},
	}
	js, _ := json.Marshal(p)
	return url.Values{"payload": {string(js)}}.Encode()
}

// signed is a request as Slack sends it: v0 HMAC-SHA256 of
// "v0:{timestamp}:{body}" with the signing secret, made here from the
// published algorithm (not with slack-go, which the handler uses).
func signed(secret, body string, at time.Time) actions.Request {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":" + body))
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	return actions.Request{Method: http.MethodPost, Path: actions.Path, Header: h, Body: []byte(body)}
}

// click sends a signed click of the report's button and returns the
// status and what the receiver got for it.
func (b *bench) click(user, tokenID, verb string) (int, post) {
	b.t.Helper()
	value, block := b.button(tokenID, verb)
	return b.send(signed(signingSecret, b.payload(user, value, block), time.Now()))
}

func (b *bench) send(req actions.Request) (int, post) {
	b.t.Helper()
	n := b.hook.count()
	resp := b.h.Serve(context.Background(), req)
	return resp.Status, b.hook.after(n)
}

func (b *bench) state() actions.State {
	b.t.Helper()
	h, err := actions.Read(context.Background(), b.store)
	if err != nil {
		b.t.Fatal(err)
	}
	return h.State
}

func (b *bench) tokens() []string {
	var ids []string
	b.emu.Edit(func() {
		for _, tk := range b.emu.World.Regions["cn-hangzhou"].Workspaces[0].Gateways[0].Tokens {
			ids = append(ids, tk.TokenID)
		}
	})
	return ids
}

func (b *bench) deletes() int {
	n := 0
	for _, r := range b.emu.Requests() {
		if r.Action == "DeleteLivyComputeToken" && r.Status == 200 {
			n++
		}
	}
	return n
}

// receiver is a response_url stand-in: it takes Slack's documented
// payloads (an ephemeral text, or replace_original with blocks within
// Slack's limits) and refuses anything else.
type receiver struct {
	mu    sync.Mutex
	posts []post
}

type post struct {
	ResponseType    string            `json:"response_type"`
	ReplaceOriginal bool              `json:"replace_original"`
	Text            string            `json:"text"`
	Blocks          []json.RawMessage `json:"blocks"`
	raw             string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var p post
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &p) != nil ||
		!strings.HasPrefix(req.URL.Path, "/actions/") || slacklimits.Check(body) != "" {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	p.raw = string(body)
	r.mu.Lock()
	r.posts = append(r.posts, p)
	r.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.posts)
}

// after is the one post received since n posts (zero when none came).
func (r *receiver) after(n int) post {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.posts) == n+1 {
		return r.posts[n]
	}
	return post{}
}

func TestRefusedRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	b := newBench(t, true)
	value, block := b.button("tk-exp", actionref.Delete)
	body := b.payload(admin, value, block)
	forged := signed("not-the-signing-secret", body, time.Now())
	old := signed(signingSecret, body, time.Now().Add(-6*time.Minute))
	get := signed(signingSecret, body, time.Now())
	get.Method = http.MethodGet
	other := signed(signingSecret, body, time.Now())
	other.Path = "/slack/other"
	big := signed(signingSecret, body+"&pad="+strings.Repeat("x", actions.MaxBody), time.Now())
	tampered := signed(signingSecret, body, time.Now())
	tampered.Body = []byte(strings.Replace(string(tampered.Body), "U0ADMIN03", "U0NOBODY4", 1))
	for _, tc := range []struct {
		name string
		req  actions.Request
		want int
	}{
		{"forged signature", forged, 401},
		{"timestamp 6 minutes old", old, 401},
		{"body changed after signing", tampered, 401},
		{"GET", get, 405},
		{"another path", other, 404},
		{"body over 64 KB", big, 413},
	} {
		status, p := b.send(tc.req)
		if status != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, status, tc.want)
		}
		if p.raw != "" {
			t.Errorf("%s: told the clicker %q; a refused request tells nothing", tc.name, p.raw)
		}
	}
	if got := b.tokens(); len(got) != 3 || b.deletes() != 0 {
		t.Errorf("tokens %v after refused requests, %d deletes; nothing may change", got, b.deletes())
	}
	if h, _ := actions.Read(context.Background(), b.store); h.N != 0 {
		t.Errorf("the record has %d states; a request that fails verification is not recorded", h.N)
	}
	entries, _ := os.ReadDir(filepath.Join(b.dir, "actions"))
	if len(entries) != 0 {
		t.Errorf("refused requests wrote %d entries under actions/", len(entries))
	}
	// A signed request that is not one of our buttons: 400, nothing done.
	notOurs := signed(signingSecret, url.Values{"payload": {`{"type":"view_submission","user":{"id":"U0ADMIN03"}}`}}.Encode(), time.Now())
	if status, _ := b.send(notOurs); status != 400 {
		t.Errorf("a view_submission: status %d, want 400", status)
	}
}

func TestSnoozeAndAcknowledgeRules(t *testing.T) {
	t.Parallel()
	b := newBench(t, false)
	for _, tc := range []struct {
		name, user, token, verb, outcome string
	}{
		{"owner snoozes their own token", alice, "tk-exp", actionref.Snooze7d, "done"},
		{"owner snoozes someone else's", alice, "tk-unused", actionref.Snooze30d, "refused"},
		{"a user of actions.users snoozes any", admin, "tk-unused", actionref.Snooze90d, "done"},
		{"a user in no list", outside, "tk-old", actionref.Snooze7d, "refused"},
		{"owner acknowledges", bob, "tk-unused", actionref.Ack, "done"},
		{"someone else acknowledges", alice, "tk-old", actionref.Ack, "refused"},
	} {
		status, p := b.click(tc.user, tc.token, tc.verb)
		if status != 200 {
			t.Fatalf("%s: status %d, want 200 (Slack shows an error otherwise)", tc.name, status)
		}
		rec := b.state().Recent
		last := rec[len(rec)-1]
		if last.Outcome != tc.outcome || last.By != tc.user || last.Verb != tc.verb || !strings.HasSuffix(last.Token, "/"+tc.token) {
			t.Errorf("%s: recorded %+v, want outcome %s", tc.name, last, tc.outcome)
		}
		switch tc.outcome {
		case "done":
			if !p.ReplaceOriginal || !strings.Contains(p.raw, "by \\u003c@"+tc.user+"\\u003e") && !strings.Contains(p.raw, "by <@"+tc.user+">") {
				t.Errorf("%s: the message was not updated to say who did it: %s", tc.name, p.raw)
			}
		default:
			if p.ResponseType != "ephemeral" || p.ReplaceOriginal || !strings.Contains(p.Text, "Not done") {
				t.Errorf("%s: a refusal is an ephemeral note saying why; got %s", tc.name, p.raw)
			}
		}
	}
	s := b.state()
	if len(s.Snoozes) != 2 || len(s.Acks) != 1 || len(s.Recent) != 6 {
		t.Fatalf("state: %d snoozes, %d acks, %d records; want 2, 1, 6", len(s.Snoozes), len(s.Acks), len(s.Recent))
	}
	if z := s.Snoozes[0]; z.By != alice || z.Token != "tk-exp" || z.Rule != audit.RuleExpired || !z.Until.Equal(now.Add(7*audit.Day)) {
		t.Errorf("snooze %+v", z)
	}
	if a := s.Acks[0]; a.By != bob || a.Token != "tk-unused" {
		t.Errorf("acknowledgement %+v", a)
	}
}

func TestDeleteIsCareful(t *testing.T) {
	t.Parallel()
	b := newBench(t, true)
	expDelete, expBlock := b.button("tk-exp", actionref.Delete)
	// Not allowed: a user of actions.users who is not in actions.delete.users.
	b.h.Policy.Users = append(b.h.Policy.Users, outside)
	if _, p := b.click(outside, "tk-exp", actionref.Delete); !strings.Contains(p.Text, "actions.delete.users") {
		t.Errorf("a delete by a user not in actions.delete.users: %s", p.raw)
	}
	// The report offers no delete for an unused token; a value made for one
	// (with the key) is still refused by the rules on the server.
	signer := actionref.NewSigner(signingSecret)
	_, ref, _ := signer.Parse(b.mustValue("tk-unused", actionref.Ack))
	unusedDelete, _ := signer.Value(actionref.Delete, ref)
	if _, p := b.send(signed(signingSecret, b.payload(admin, unusedDelete, "lta_9"), time.Now())); !strings.Contains(p.Text, "cannot be deleted") {
		t.Errorf("a delete of a non-expired (unused) token: %s", p.raw)
	}
	// A reference that says expired of a token that is not: refused on the
	// re-read.
	ref.Rule = audit.RuleExpired
	fakeExpired, _ := signer.Value(actionref.Delete, ref)
	if _, p := b.send(signed(signingSecret, b.payload(admin, fakeExpired, "lta_9"), time.Now())); !strings.Contains(p.Text, "no longer expired") {
		t.Errorf("a delete of a token that is not expired: %s", p.raw)
	}
	// Refreshed since the report: a new expiry, refused.
	b.emu.Edit(func() {
		tk := b.emu.World.Regions["cn-hangzhou"].Workspaces[0].Gateways[0].Tokens[2]
		tk.ExpireTime = emulator.At(now.Add(90 * audit.Day))
	})
	if _, p := b.click(admin, "tk-old", actionref.Delete); !strings.Contains(p.Text, "changed since the report") {
		t.Errorf("a delete of a token refreshed since the report: %s", p.raw)
	}
	if b.deletes() != 0 || len(b.tokens()) != 3 {
		t.Fatalf("refused deletes deleted: %d calls, tokens %v", b.deletes(), b.tokens())
	}
	// Allowed: deleted once, the message says so.
	status, p := b.send(signed(signingSecret, b.payload(admin, expDelete, expBlock), time.Now()))
	if status != 200 || !p.ReplaceOriginal || !strings.Contains(p.raw, "deleted by") {
		t.Fatalf("delete: status %d, told %s", status, p.raw)
	}
	if ids := b.tokens(); slices.Contains(ids, "tk-exp") || b.deletes() != 1 {
		t.Fatalf("after the delete: tokens %v, %d delete calls; want tk-exp gone after one", ids, b.deletes())
	}
	// The same request again (Slack's retry, or a replay): nothing more.
	req := signed(signingSecret, b.payload(admin, expDelete, expBlock), time.Now())
	b.send(req)
	if _, p := b.send(req); !strings.Contains(p.Text, "already handled") {
		t.Errorf("a replayed request: %s", p.raw)
	}
	// A second click (a new action_ts): the token is already gone.
	if _, p := b.send(signed(signingSecret, b.payload(admin, expDelete, expBlock), time.Now())); !strings.Contains(p.raw, "already gone") {
		t.Errorf("a delete of a token already gone: %s", p.raw)
	}
	if b.deletes() != 1 {
		t.Errorf("%d delete calls; a token is deleted once", b.deletes())
	}
	outcomes := map[string]int{}
	for _, r := range b.state().Recent {
		outcomes[r.Outcome]++
		if r.Verb != actionref.Delete || r.By == "" || r.At.IsZero() || r.Token == "" {
			t.Errorf("record %+v lacks who, when, what or the token", r)
		}
	}
	if outcomes["refused"] != 4 || outcomes["done"] != 3 {
		t.Errorf("records by outcome %v; want 4 refused and 3 done (one delete, its repeat, already gone)", outcomes)
	}
	b.noLeak()
}

func TestDeleteDisabled(t *testing.T) {
	t.Parallel()
	b := newBench(t, false)
	if _, _, err := actionref.NewSigner(signingSecret).Parse(b.mustValue("tk-exp", actionref.Ack)); err != nil {
		t.Fatal(err)
	}
	for _, bl := range b.msg.Blocks {
		if js, _ := json.Marshal(bl); strings.Contains(string(js), "lta_delete") {
			t.Fatal("the report offers a delete while deleting is off")
		}
	}
	_, ref, _ := actionref.NewSigner(signingSecret).Parse(b.mustValue("tk-exp", actionref.Ack))
	v, _ := actionref.NewSigner(signingSecret).Value(actionref.Delete, ref)
	if _, p := b.send(signed(signingSecret, b.payload(admin, v, "lta_0"), time.Now())); !strings.Contains(p.Text, "actions.delete.enabled") {
		t.Errorf("a delete while deleting is off: %s", p.raw)
	}
	if b.deletes() != 0 || b.state().Recent[0].Outcome != "refused" {
		t.Errorf("a delete while deleting is off: %d calls, record %+v", b.deletes(), b.state().Recent)
	}
}

func TestSnoozeAppliesToTheNextAuditThenLapses(t *testing.T) {
	t.Parallel()
	b := newBench(t, false)
	b.names = map[string]string{alice: "alice.w"}
	b.click(alice, "tk-exp", actionref.Snooze7d)
	acts, err := actions.Source{Store: b.store, Policy: b.policy, Now: func() time.Time { return now }}.ReadActions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	config := audit.Suppression{TokenID: "tk-exp", Rules: []audit.Rule{audit.RuleExpired}, Reason: "migrating in December"}
	toks := []audit.Token{{ID: "tk-exp", Name: "nightly-etl", CreatedBy: "alice", CreateTime: now.Add(-200 * audit.Day), ExpireTime: now.Add(-3 * audit.Day), LastUsedTime: now.Add(-4 * audit.Day)}}
	audit1 := func(at time.Time, sups []audit.Suppression) *audit.Snapshot {
		return audittest.BuildSnapshot(audittest.Collection{Gateways: []audit.GatewayResult{{Ref: audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1"}, Tokens: toks}}},
			audit.Evaluation{Now: at, Policy: audit.DefaultPolicy(), Suppressions: sups, Acks: acts.Acks, Actions: acts.Recent})
	}
	next := audit1(now.Add(audit.Day), acts.Snoozes)
	tr := next.Gateways[0].Tokens[0]
	if len(tr.Findings) != 0 || len(tr.Suppressed) != 1 || !strings.Contains(tr.Suppressed[0].Reason, "snoozed by <@"+alice+"> until 2026-12-07") {
		t.Errorf("the next audit: findings %+v, suppressed %+v; want expired snoozed by alice until 2026-12-07", tr.Findings, tr.Suppressed)
	}
	if len(next.Actions) != 1 || next.Actions[0].By != alice || next.Actions[0].ByName != "alice.w" || tr.Suppressed[0].SnoozedByName != "alice.w" {
		t.Errorf("the snapshot's recent actions: %+v, suppressed %+v; want alice, named alice.w", next.Actions, tr.Suppressed)
	}
	// Outside Slack (the text summary, the page), the user is shown by name.
	if got := notify.NewDigest(next, delivery.Locations{}).Plain(tr.Suppressed[0].Reason); !strings.HasPrefix(got, "snoozed by @alice.w until") {
		t.Errorf("plain reason %q, want the user by name", got)
	}
	// Config suppressions win over snoozes.
	both := audit1(now.Add(audit.Day), append([]audit.Suppression{config}, acts.Snoozes...))
	if r := both.Gateways[0].Tokens[0].Suppressed[0].Reason; r != config.Reason {
		t.Errorf("config and snooze: suppressed by %q, want the config's", r)
	}
	// After its day the snooze lapses: the finding is back and the snooze
	// is reported as lapsed.
	later := audit1(now.Add(8*audit.Day), acts.Snoozes)
	tr = later.Gateways[0].Tokens[0]
	if len(tr.Findings) != 1 || len(later.Suppressions) != 1 || !later.Suppressions[0].Lapsed {
		t.Errorf("after the snooze: findings %+v, suppressions %+v; want the finding back and the snooze lapsed", tr.Findings, later.Suppressions)
	}
	if text := slack.Render(notify.NewDigest(later, delivery.Locations{}), slack.RenderOptions{MaxItems: 10}).PlainText(); !strings.Contains(text, "snoozed by <@"+alice+"> until 2026-12-07 (a snooze from Slack: snooze it again") {
		t.Errorf("the report does not say the snooze lapsed:\n%s", text)
	}
}

func TestAcknowledgedOwnerIsShown(t *testing.T) {
	t.Parallel()
	b := newBench(t, false)
	// A name that is not a Slack user name is not kept; an owner is known
	// by the token's createdBy.
	b.names = map[string]string{bob: `<b onclick=x>bob</b>`}
	b.click(bob, "tk-unused", actionref.Ack)
	acts, err := actions.Source{Store: b.store, Policy: b.policy, Now: func() time.Time { return now }}.ReadActions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := audittest.BuildSnapshot(audittest.Collection{Gateways: []audit.GatewayResult{{Ref: audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1"},
		Tokens: []audit.Token{{ID: "tk-unused", CreatedBy: "bob", CreateTime: now.Add(-120 * audit.Day)}}}}}, audit.Evaluation{Now: now, Policy: audit.DefaultPolicy(), Acks: acts.Acks})
	if a := s.Gateways[0].Tokens[0].Acknowledged; a == nil || a.By != bob || a.ByName != "bob" || len(acts.Recent) != 1 || acts.Recent[0].ByName != "" {
		t.Errorf("acknowledged %+v (recent %+v), want by %s, named bob (the owner), the payload's name dropped", a, acts.Recent, bob)
	}
	if got := notify.NewDigest(s, delivery.Locations{}).User(bob); got != "@bob" {
		t.Errorf("user %q, want @bob", got)
	}
}

func (b *bench) mustValue(tokenID, verb string) string {
	v, _ := b.button(tokenID, verb)
	return v
}

// noLeak searches every byte the actions wrote or sent: the store's files
// and the posts to response_url.
func (b *bench) noLeak() {
	b.t.Helper()
	var out strings.Builder
	_ = filepath.Walk(b.dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			data, _ := os.ReadFile(p)
			out.Write(data)
		}
		return nil
	})
	b.hook.mu.Lock()
	for _, p := range b.hook.posts {
		out.WriteString(p.raw)
	}
	b.hook.mu.Unlock()
	for _, secret := range []string{signingSecret, tokenExpired, tokenUnused, tokenOld, tokenKyuubi, deleteSecret, readSecret, botToken} {
		if strings.Contains(out.String(), secret) {
			b.t.Errorf("%q left the process", secret)
		}
	}
}

// failingStore refuses to create anything (a bucket that denies writes).
type failingStore struct{ actions.Store }

func (failingStore) Create(context.Context, string, []byte) error {
	return fmt.Errorf("oss: put actions/claims/x.json: %w", errors.New("403 AccessDenied"))
}

func TestActionFaults(t *testing.T) {
	t.Parallel()
	t.Run("the store refuses the claim: nothing is done", func(t *testing.T) {
		b := newBench(t, true)
		b.h.Store = failingStore{b.store}
		if _, p := b.click(admin, "tk-exp", actionref.Delete); !strings.Contains(p.Text, "could not be claimed") {
			t.Errorf("told %s", p.raw)
		}
		if b.deletes() != 0 || len(b.tokens()) != 3 {
			t.Errorf("a click that could not be claimed deleted (%d calls)", b.deletes())
		}
	})
	t.Run("the delete fails: recorded as failed, the token stays", func(t *testing.T) {
		b := newBench(t, true)
		ro, err := emr.New(emr.Options{Endpoint: b.endpoint, Credential: audittest.Credential(t, readKey, readSecret), Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		b.h.Deleter = actions.APIDeleter{Accounts: map[string]map[string]actions.TokenAPI{"": {audit.KindLivy: ro}}} // a role without DeleteLivyComputeToken
		if _, p := b.click(admin, "tk-exp", actionref.Delete); !strings.Contains(p.Text, "Forbidden.RAM") {
			t.Errorf("told %s", p.raw)
		}
		if rec := b.state().Recent; len(rec) != 1 || rec[0].Outcome != "failed" || !slices.Contains(b.tokens(), "tk-exp") {
			t.Errorf("record %+v, tokens %v", rec, b.tokens())
		}
	})
	t.Run("an account without a delete role: refused", func(t *testing.T) {
		b := newBench(t, true)
		b.h.Deleter = actions.APIDeleter{Accounts: map[string]map[string]actions.TokenAPI{}}
		if _, p := b.click(admin, "tk-exp", actionref.Delete); !strings.Contains(p.Text, "no delete role") {
			t.Errorf("told %s", p.raw)
		}
		if rec := b.state().Recent; len(rec) != 1 || rec[0].Outcome != "refused" {
			t.Errorf("record %+v", rec)
		}
	})
	t.Run("a response_url that is not Slack's: done and recorded, posted nowhere", func(t *testing.T) {
		b := newBench(t, false)
		b.h.ResponseHosts = nil // the receiver is on loopback, not hooks.slack.com
		if _, p := b.click(alice, "tk-exp", actionref.Ack); p.raw != "" {
			t.Errorf("posted to a response_url that is not Slack's: %s", p.raw)
		}
		if rec := b.state().Recent; len(rec) != 1 || rec[0].Outcome != "done" {
			t.Errorf("record %+v", rec)
		}
	})
}

// A Kyuubi token is deleted from Slack like a Livy one: through the delete
// role, with the same careful re-read, by DeleteKyuubiToken.
func TestDeleteKyuubiToken(t *testing.T) {
	t.Parallel()
	b := newBench(t, true)
	value, block := b.button("kt-exp", actionref.Delete)
	if _, ref, err := actionref.NewSigner(signingSecret).Parse(value); err != nil || ref.Kind != audit.KindKyuubi {
		t.Fatalf("the button's reference %+v (%v): want the Kyuubi kind in it", ref, err)
	}
	status, p := b.send(signed(signingSecret, b.payload(admin, value, block), time.Now()))
	if status != 200 || !strings.Contains(p.raw, "deleted by") {
		t.Fatalf("delete: status %d, told %s", status, p.raw)
	}
	kyuubiDeletes, livyDeletes := 0, 0
	for _, r := range b.emu.Requests() {
		switch {
		case r.Action == "DeleteKyuubiToken" && r.Status == 200:
			kyuubiDeletes++
		case r.Action == "DeleteLivyComputeToken":
			livyDeletes++
		}
	}
	var left int
	b.emu.Edit(func() { left = len(b.emu.World.Regions["cn-hangzhou"].Workspaces[1].Kyuubi[0].Tokens) })
	if kyuubiDeletes != 1 || livyDeletes != 0 || left != 0 {
		t.Errorf("%d Kyuubi deletes, %d Livy deletes, %d tokens left; want the one Kyuubi token deleted once", kyuubiDeletes, livyDeletes, left)
	}
	b.noLeak()
}
