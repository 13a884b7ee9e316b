package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/emr"
	"livy-token-audit/audit/ossstore"
	"livy-token-audit/audit/roles"
	"livy-token-audit/notify"
)

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
		r.Notifier = notifier
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
	return ossstore.New(ossstore.Options{Config: *cfg.Snapshot.OSS, Credential: cred, Logger: log})
}

// newNotifier returns the Slack notifier the environment configures:
// SLACK_BOT_TOKEN (with slack.channel) or SLACK_WEBHOOK_URL; none when
// neither is set. The description it returns never holds the secret.
func newNotifier(cfg *audit.Config, getenv func(string) string, log *slog.Logger) (audit.Notifier, string, error) {
	opts := notify.RenderOptions{MaxItems: cfg.Slack.MaxItems, Mentions: cfg.Slack.Mentions}
	hc := notify.NewHTTPClient(15 * time.Second)
	var n *notify.Slack
	var err error
	switch token, hook := getenv("SLACK_BOT_TOKEN"), getenv("SLACK_WEBHOOK_URL"); {
	case token != "":
		if hook != "" {
			log.Warn("both SLACK_BOT_TOKEN and SLACK_WEBHOOK_URL are set; posting with the bot token")
		}
		n, err = notify.NewBot(token, cfg.Slack.Channel, getenv("SLACK_API_URL"), hc, opts)
	case hook != "":
		n, err = notify.NewWebhook(hook, hc, opts)
	default:
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	n.Logger = log
	return n, n.String(), nil
}
