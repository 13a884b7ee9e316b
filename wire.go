package main

import (
	"log/slog"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/emr"
	"livy-token-audit/audit/ossstore"
	"livy-token-audit/notify"
)

// newRunner wires the audit's dependencies from a config and a credential.
// It returns the runner and a description of the Slack destination ("" when
// none is configured).
func newRunner(cfg *audit.Config, cred credentials.Credential, getenv func(string) string, log *slog.Logger) (*audit.Runner, string, error) {
	client, err := emr.New(emr.Options{
		Endpoint: cfg.API.Endpoint, Credential: cred, Timeout: cfg.API.Timeout, Retries: cfg.API.Retries, MaxConns: cfg.API.Concurrency,
	})
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
		Config: cfg,
		Auditor: &audit.Auditor{
			API: client, Concurrency: cfg.API.Concurrency, RatePerSecond: cfg.API.RatePerSecond,
			Reserve: cfg.API.DeadlineReserve, Logger: log,
		},
		Store:    store,
		Notifier: notifier,
		Logger:   log,
	}
	return r, dest, nil
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
