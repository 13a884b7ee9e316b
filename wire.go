package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/emr"
	"livy-token-audit/audit/ossstore"
	"livy-token-audit/audit/roles"
	"livy-token-audit/notify/page"
	"livy-token-audit/notify/slack"
)

// retrySleep waits between the retries of every client (nil: the real
// wait). The in-process tests shorten the waits (they check what is
// retried and how often, not for how long); the binary always waits.
var retrySleep func(ctx context.Context, d time.Duration) error

// newRunner wires the audit's dependencies from a config and a credential.
// It returns the runner and a description of the Slack destination ("" when
// none is configured). It makes no call.
func newRunner(cfg *audit.Config, cred credentials.Credential, getenv func(string) string, log *slog.Logger) (*audit.Runner, string, error) {
	accounts, err := newAccounts(cfg, cred)
	if err != nil {
		return nil, "", err
	}
	store, err := newStore(cfg, cred, log)
	if err != nil {
		return nil, "", err
	}
	notifier, dest, err := newNotifier(cfg, getenv, log)
	if err != nil {
		return nil, "", err
	}
	r := &audit.Runner{
		Tool:     tool(),
		Page:     page.Page{},
		Config:   cfg,
		Accounts: accounts,
		Auditor: &audit.Auditor{
			Concurrency: cfg.API.Concurrency, RatePerSecond: cfg.API.RatePerSecond,
			Reserve: cfg.API.DeadlineReserve, Logger: log,
		},
		Store:  store,
		Logger: log,
	}
	if notifier != nil {
		r.Notifiers = []audit.Notifier{notifier}
	}
	return r, dest, nil
}

// newAccounts returns the accounts the config audits, each with an API
// client signed by its credentials: the run's own (when the config gives it
// a scope), and each of accounts: through its assumed role.
func newAccounts(cfg *audit.Config, cred credentials.Credential) ([]audit.Account, error) {
	client := func(c credentials.Credential) (*emr.Client, error) {
		return emr.New(emr.Options{
			Endpoint: cfg.API.Endpoint, Credential: c, Timeout: cfg.API.Timeout, Retries: cfg.API.Retries, MaxConns: cfg.API.Concurrency,
			Sleep: retrySleep,
		})
	}
	var out []audit.Account
	if len(cfg.Regions)+len(cfg.Gateways) > 0 {
		api, err := client(cred)
		if err != nil {
			return nil, err
		}
		out = append(out, audit.Account{API: api, Scope: audit.Scope{Regions: cfg.Regions, Workspaces: cfg.Workspaces, Gateways: cfg.Gateways}})
	}
	for _, a := range cfg.Accounts {
		role, err := roles.Assume(cred, roles.Options{AccountName: a.Name, RoleARN: a.RoleARN, ExternalID: a.ExternalID, STSEndpoint: cfg.API.STSEndpoint})
		if err != nil {
			return nil, err
		}
		api, err := client(role.Credential())
		if err != nil {
			return nil, err
		}
		out = append(out, audit.Account{ID: a.ID, Name: a.Name, RoleARN: a.RoleARN, API: api, Scope: a.Scope,
			Prepare: func(context.Context) error { return role.Check() }})
	}
	return out, nil
}

// newStore returns the snapshot store the config names: OSS when
// snapshot.oss is set, else the local folder snapshot.dir.
func newStore(cfg *audit.Config, cred credentials.Credential, log *slog.Logger) (audit.Store, error) {
	if cfg.Snapshot.OSS == nil {
		return &audit.LocalStore{Dir: cfg.Snapshot.Dir}, nil
	}
	return ossstore.New(ossstore.Options{Config: *cfg.Snapshot.OSS, Credential: cred, Logger: log, Retrier: audit.Retrier{Sleep: retrySleep}})
}

// newNotifier returns the Slack notifier the environment configures, or nil
// when no Slack secret is set at all (the CLI then prints the messages). The
// main report goes to slack.channel with SLACK_BOT_TOKEN, or to
// SLACK_WEBHOOK_URL; each route to its channel (with the bot token) or to
// the webhook in its webhookEnv; owner messages with the bot token. A
// destination the config needs but the environment lacks is an error, so
// that no team's messages are dropped without a word. The description it
// returns never holds a secret.
func newNotifier(cfg *audit.Config, getenv func(string) string, log *slog.Logger) (*slack.Notifier, string, error) {
	token, hook := getenv("SLACK_BOT_TOKEN"), getenv("SLACK_WEBHOOK_URL")
	routeHooks := false
	for _, r := range cfg.Slack.Routes {
		if r.WebhookEnv != "" && getenv(r.WebhookEnv) != "" {
			routeHooks = true
		}
	}
	if token == "" && hook == "" && !routeHooks {
		return nil, "", nil
	}
	hc := slack.NewHTTPClient(15 * time.Second)
	n := &slack.Notifier{Config: cfg.Slack, Routes: map[string]*slack.Slack{}}
	var bot *slack.Slack
	if token != "" {
		bot = slack.NewBot(token, getenv("SLACK_API_URL"), hc)
		bot.Logger, bot.Sleep = log, retrySleep
	}
	var dests []string
	switch {
	case bot != nil && cfg.Slack.Channel != "":
		if hook != "" {
			log.Warn("both SLACK_BOT_TOKEN and SLACK_WEBHOOK_URL are set; posting the main report with the bot token")
		}
		n.Main = bot.To(cfg.Slack.Channel)
	case hook != "":
		w, err := slack.NewWebhook(hook, "SLACK_WEBHOOK_URL", hc)
		if err != nil {
			return nil, "", err
		}
		w.Logger, w.Sleep = log, retrySleep
		n.Main = w
	}
	if n.Main != nil {
		dests = append(dests, "main: "+n.Main.String())
	}
	for i, r := range cfg.Slack.Routes {
		field := fmt.Sprintf("slack.routes[%d] (%s)", i, r.Name)
		switch {
		case r.Channel != "" && bot == nil:
			return nil, "", fmt.Errorf("%s posts to %s, which needs SLACK_BOT_TOKEN", field, r.Channel)
		case r.Channel != "":
			n.Routes[r.Name] = bot.To(r.Channel)
		case getenv(r.WebhookEnv) == "":
			return nil, "", fmt.Errorf("%s: %s is not set (it holds the route's webhook URL)", field, r.WebhookEnv)
		default:
			w, err := slack.NewWebhook(getenv(r.WebhookEnv), r.WebhookEnv, hc)
			if err != nil {
				return nil, "", err
			}
			w.Logger, w.Sleep = log, retrySleep
			n.Routes[r.Name] = w
		}
		dests = append(dests, "route "+r.Name+": "+n.Routes[r.Name].String())
	}
	if cfg.Slack.Owners.Enabled {
		if bot == nil {
			return nil, "", errors.New("slack.owners.enabled needs SLACK_BOT_TOKEN: owner messages are direct messages from the bot")
		}
		n.Bot = bot
		dests = append(dests, "owners: direct messages")
	}
	if bot != nil && n.Main == nil && n.Bot == nil && !slices.ContainsFunc(cfg.Slack.Routes, func(r audit.Route) bool { return r.Channel != "" }) {
		return nil, "", errors.New("slack: SLACK_BOT_TOKEN is set but nothing posts with it: set slack.channel (the main report), a route's channel, or slack.owners")
	}
	return n, strings.Join(dests, "; "), nil
}
