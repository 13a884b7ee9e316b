package slack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"

	"livy-token-audit/audit"
	"livy-token-audit/audit/fleet"
	"livy-token-audit/audit/localstore"
	"livy-token-audit/audit/run"
	"livy-token-audit/notify"
)

// teamAPI is a small world of two teams in one account: data-platform and
// finance, one gateway each. Each token's expiry can be moved.
type teamAPI struct {
	mu     sync.Mutex
	tokens map[string][]audit.Token
}

func newTeamAPI() *teamAPI {
	day := 24 * time.Hour
	return &teamAPI{tokens: map[string][]audit.Token{
		"lc-etl": {
			{ID: "tk-d1", Name: "nightly", CreatedBy: "alice", CreateTime: t0.Add(-90 * day), ExpireTime: t0.Add(2 * day), LastUsedTime: t0},
			{ID: "tk-d2", Name: "backfill", CreatedBy: "bob", CreateTime: t0.Add(-90 * day), LastUsedTime: t0.Add(-40 * day)},
		},
		"lc-risk": {
			{ID: "tk-f1", Name: "risk-api", CreatedBy: "alice", CreateTime: t0.Add(-90 * day), ExpireTime: t0.Add(3 * day), LastUsedTime: t0},
		},
	}}
}

func (a *teamAPI) ListWorkspaces(context.Context, string) ([]audit.Workspace, error) {
	return []audit.Workspace{{ID: "w-data", Name: "data-platform"}, {ID: "w-fin", Name: "finance"}}, nil
}

func (a *teamAPI) Kind() string { return audit.KindLivy }

func (a *teamAPI) ListGateways(_ context.Context, _, ws string) ([]audit.Gateway, error) {
	if ws == "w-data" {
		return []audit.Gateway{{ID: "lc-etl", Name: "etl"}}, nil
	}
	return []audit.Gateway{{ID: "lc-risk", Name: "risk"}}, nil
}

func (a *teamAPI) ListTokens(_ context.Context, _, _, gw string) ([]audit.Token, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Token(nil), a.tokens[gw]...), nil
}

// slackStage is the Slack side: a bot API (slacktest, with a
// chat.postMessage handler that enforces Slack's limits and records posts
// by channel or user) and the finance team's incoming webhook.
type slackStage struct {
	bot  *botServer
	hook *receiver
	n    *notify.Router
}

// teamOptions render the teams' messages.
var teamOptions = Options{MaxItems: 10, Mentions: map[string]string{"alice": "U0ALICE01"}}

// newSlackStage routes as the config would: the main report to #platform
// with the bot, the data team's route to #team-data, the finance team's
// (exclusive) to its webhook, owners' messages from the bot.
func newSlackStage(t *testing.T, mode string) *slackStage {
	t.Helper()
	st := &slackStage{bot: &botServer{}, hook: &receiver{}}
	api := slacktest.NewTestServer(func(c slacktest.Customize) { c.Handle("/chat.postMessage", st.bot.handle) })
	api.Start()
	t.Cleanup(api.Stop)
	hookSrv := httptest.NewServer(st.hook)
	t.Cleanup(hookSrv.Close)
	hc := NewHTTPClient(5 * time.Second)
	bot, err := NewBot(botToken, api.GetAPIURL(), hc)
	if err != nil {
		t.Fatal(err)
	}
	bot.Sleep, bot.Options = noSleep, teamOptions
	hook, err := NewWebhook(hookSrv.URL+hookPath, "FIN_HOOK", hc)
	if err != nil {
		t.Fatal(err)
	}
	hook.Sleep, hook.Options = noSleep, teamOptions
	st.n = &notify.Router{Notify: mode, Main: bot.To("#platform"),
		Routes: []notify.Route{
			{Destination: "slack:route:team-data", Name: "team-data", Notify: mode, Match: audit.Match{Workspaces: []string{"data-platform"}}, Sender: bot.To("#team-data")},
			{Destination: "slack:route:team-finance", Name: "team-finance", Notify: mode, Exclusive: true, Match: audit.Match{Workspaces: []string{"finance"}}, Sender: hook},
		},
		Owners: notify.Owners{Enabled: true, Recipients: teamOptions.Mentions, Prefix: "slack:owner:", To: func(id string) notify.Sender { return bot.To(id) }}}
	return st
}

func (st *slackStage) byChannel() map[string]int {
	st.bot.mu.Lock()
	defer st.bot.mu.Unlock()
	out := map[string]int{}
	for _, p := range st.bot.posts {
		out[p["channel"]]++
	}
	st.hook.mu.Lock()
	out["FIN_HOOK"] = len(st.hook.accepted)
	st.hook.mu.Unlock()
	return out
}

func teamRunner(t *testing.T, api fleet.API, n notify.Notifier, dir string) *run.Runner {
	t.Helper()
	st := &localstore.Store{Dir: dir}
	return &run.Runner{
		Policy:   audit.DefaultPolicy(),
		Accounts: []fleet.Account{{API: api, Account: audit.Account{Scope: audit.Scope{Regions: []string{"cn-hangzhou"}}}}},
		Auditor:  &fleet.Auditor{Concurrency: 8, RatePerSecond: 1000},
		Store:    st,
		Notifier: &notify.Dispatcher{Notifiers: []notify.Notifier{n}, Claims: st},
	}
}

// Each route and each owner gets its message; a retry after one
// destination failed posts only to that one; concurrent deliveries of the
// same run post once per destination.
func TestDeliveryPerDestination(t *testing.T) {
	t.Parallel()
	st := newSlackStage(t, "findings")
	dir := t.TempDir()
	r := teamRunner(t, newTeamAPI(), st.n, dir)

	// The finance webhook is down for the first run.
	st.hook.script = []int{503, 503, 503, 503}
	res, err := r.Run(t.Context(), run.Options{Now: t0, Notify: true})
	if err == nil || !strings.Contains(err.Error(), "notify slack:route:team-finance") {
		t.Fatalf("got %v, want the finance route's failure", err)
	}
	want := map[string]int{"#platform": 1, "#team-data": 1, "U0ALICE01": 1, "FIN_HOOK": 0}
	if got := st.byChannel(); !equal(got, want) {
		t.Fatalf("posts after the first run: got %v, want %v (%+v)", got, want, res.Deliveries)
	}
	// The retry posts to finance only.
	res, err = r.Run(t.Context(), run.Options{Now: t0, Notify: true, Retry: true})
	if err != nil {
		t.Fatalf("retry: %v (%+v)", err, res.Deliveries)
	}
	want["FIN_HOOK"] = 1
	if got := st.byChannel(); !equal(got, want) {
		t.Fatalf("posts after the retry: got %v, want %v", got, want)
	}
	// The main report kept finance out (exclusive), and alice's message
	// lists only her tokens.
	for _, p := range st.bot.posts {
		switch p["channel"] {
		case "#platform":
			if strings.Contains(p["blocks"], "risk-api") || !strings.Contains(p["blocks"], "nightly") || !strings.Contains(p["blocks"], "No Slack owner") {
				t.Errorf("main report: %s", p["blocks"])
			}
		case "U0ALICE01":
			if !strings.Contains(p["blocks"], "nightly") || !strings.Contains(p["blocks"], "risk-api") || strings.Contains(p["blocks"], "backfill") {
				t.Errorf("alice's message: %s", p["blocks"])
			}
		}
	}

	// Five concurrent deliveries of the next day's run: each destination
	// once.
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = teamRunner(t, newTeamAPI(), st.n, dir).Run(context.Background(), run.Options{Now: t0.Add(24 * time.Hour), Notify: true})
		}()
	}
	wg.Wait()
	want = map[string]int{"#platform": 2, "#team-data": 2, "U0ALICE01": 2, "FIN_HOOK": 2}
	if got := st.byChannel(); !equal(got, want) {
		t.Errorf("after concurrent deliveries: got %v, want %v", got, want)
	}
}

func equal(a, b map[string]int) bool {
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// expiryWorld is one token 35 days from expiry, audited daily with notify:
// changes and stages of 30, 14, 7 and 1 days.
func expiryWorld(t *testing.T) (*slackStage, *run.Runner, string) {
	t.Helper()
	day := 24 * time.Hour
	st := newSlackStage(t, "changes")
	st.n.Routes = nil
	api := &teamAPI{tokens: map[string][]audit.Token{"lc-etl": {{ID: "tk-1", Name: "nightly", CreatedBy: "alice", CreateTime: t0.Add(-300 * day), ExpireTime: t0.Add(35 * day)}}}}
	dir := t.TempDir()
	r := teamRunner(t, api, st.n, dir)
	r.Policy.ExpiryStages = []time.Duration{30 * day, 14 * day, 7 * day, day}
	r.Policy.UnusedAfter = 1000 * day // only expiry matters here
	return st, r, dir
}

// daily runs the audit on days from..to, calling before each run, and
// returns the days the channel and the owner got a message.
func daily(t *testing.T, st *slackStage, r *run.Runner, from, to int, before func(d int)) (posted, owner []int) {
	t.Helper()
	for d := from; d <= to; d++ {
		b := st.byChannel()
		now := t0.Add(time.Duration(d) * 24 * time.Hour)
		r.Now = func() time.Time { return now } // the wall clock moves with the audits
		r.Notifier.(*notify.Dispatcher).Now = r.Now
		if before != nil {
			before(d)
		}
		_, _ = r.Run(t.Context(), run.Options{Now: now, Notify: true})
		a := st.byChannel()
		if a["#platform"] > b["#platform"] {
			posted = append(posted, d)
		}
		if a["U0ALICE01"] > b["U0ALICE01"] {
			owner = append(owner, d)
		}
	}
	return posted, owner
}

// posts returns the blocks of the bot's posts to channel.
func (st *slackStage) posts(channel string) []string {
	st.bot.mu.Lock()
	defer st.bot.mu.Unlock()
	var out []string
	for _, p := range st.bot.posts {
		if p["channel"] == channel {
			out = append(out, p["blocks"])
		}
	}
	return out
}

// A token 35 days from expiry, audited daily for 36 days with notify:
// changes and stages of 30, 14, 7 and 1 days, is posted when the audit
// starts, when it enters each of the 4 stages, and once when it expires —
// not every day in between. Its owner hears of it at the same moments.
func TestExpiryStagesOverDailyRuns(t *testing.T) {
	t.Parallel()
	st, r, _ := expiryWorld(t)
	posted, owner := daily(t, st, r, 0, 36, nil)
	if want := []int{0, 5, 21, 28, 34, 35}; !slicesEqual(posted, want) {
		t.Errorf("the channel got the report on days %v, want %v (the first audit, 4 stages, expired)", posted, want)
	}
	if want := []int{5, 21, 28, 34, 35}; !slicesEqual(owner, want) {
		t.Errorf("the owner was messaged on days %v, want %v", owner, want)
	}
	var stages []string
	for _, p := range st.posts("#platform") {
		for _, s := range []string{"new: *nightly* `tk-1` · expiring (30d)", "(30d) → expiring (14d)", "(14d) → expiring (7d)", "(7d) → expiring (1d)", "expiring (1d) → expired"} {
			if strings.Contains(p, s) {
				stages = append(stages, s)
			}
		}
	}
	if len(stages) != 5 {
		t.Errorf("the reports name the stages %v, want the 4 entries and the expiry", stages)
	}
}

// With notify: changes, a change whose report failed is told by the next
// report (the delivery ledger): Slack is down on the day the token enters
// its 30-day stage, and the channel and the owner hear of it the day
// after, then of each later stage once. A lost ledger is said, and
// everything is told once.
func TestChangeOfAFailedReportIsCarried(t *testing.T) {
	t.Parallel()
	st, r, dir := expiryWorld(t)
	posted, owner := daily(t, st, r, 0, 22, func(d int) {
		st.bot.mu.Lock()
		defer st.bot.mu.Unlock()
		st.bot.fail = map[bool]string{true: "fatal_error"}[d == 5]
	})
	if want := []int{0, 6, 21}; !slicesEqual(posted, want) {
		t.Errorf("the channel got the report on days %v, want %v (the first audit, the day after the outage, the next stage)", posted, want)
	}
	if want := []int{6, 21}; !slicesEqual(owner, want) {
		t.Errorf("the owner was messaged on days %v, want %v", owner, want)
	}
	ps := st.posts("#platform")
	if len(ps) < 2 || !strings.Contains(ps[1], "new: *nightly* `tk-1` · expiring (30d)") || !strings.Contains(ps[1], "the last audit reported here") {
		t.Errorf("the report after the outage does not carry the change:\n%v", ps)
	}
	if ps := st.posts("U0ALICE01"); len(ps) == 0 || !strings.Contains(ps[0], "nightly") {
		t.Errorf("the owner's message after the outage: %v", ps)
	}

	// The channel's ledger is lost: the next report says so and tells
	// everything once; the owner's ledger is intact, so they hear nothing.
	if err := os.Remove(filepath.Join(dir, notify.LedgerKey(notify.MainDestination))); err != nil {
		t.Fatal(err)
	}
	posted, owner = daily(t, st, r, 23, 24, nil)
	if !slicesEqual(posted, []int{23}) || len(owner) != 0 {
		t.Errorf("after the ledger was lost: the channel got reports on days %v, the owner on %v; want day 23 only, and none", posted, owner)
	}
	ps = st.posts("#platform")
	if last := ps[len(ps)-1]; !strings.Contains(last, "no earlier report to this destination is recorded") || !strings.Contains(last, "everything is told once") {
		t.Errorf("the report after the ledger was lost does not say so:\n%s", last)
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var _ http.Handler = (*receiver)(nil)
