package main

import (
	"log/slog"
	"strings"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/config"
	"livy-token-audit/audit/emr"
	"livy-token-audit/audit/roles"
	"livy-token-audit/notify/actionref"
	"livy-token-audit/notify/actions"
	"livy-token-audit/notify/slack"
)

// The environment: SLACK_SIGNING_SECRET holds the Slack app's signing
// secret (it verifies every action, and keys the references the buttons
// carry); SLACK_RESPONSE_URL_HOSTS lists, comma-separated, the hosts
// besides Slack's that an action's response_url may name (a proxy, or a
// stand-in in tests): the handler posts nowhere else.

// actionsOn says whether the config and the environment turn the actions
// on: actions.enabled and the signing secret. Without the secret, the
// buttons are off (and a warning says why).
func actionsOn(cfg *config.Config, getenv func(string) string, log *slog.Logger) bool {
	if !cfg.Actions.Enabled {
		return false
	}
	if getenv("SLACK_SIGNING_SECRET") == "" {
		log.Warn("actions.enabled is set but SLACK_SIGNING_SECRET is not: the reports carry no buttons, and the endpoint answers 404")
		return false
	}
	return true
}

// actionsPolicy is who may do what, from the config.
func actionsPolicy(cfg *config.Config) actionref.Policy {
	a := cfg.Actions
	p := actionref.Policy{
		Users: a.Users, Owners: cfg.Slack.Mentions, MaxSnooze: a.MaxSnooze,
		Delete: a.Delete.Enabled, DeleteUsers: a.Delete.Users, DeleteRules: a.Delete.Rules, Rules: cfg.Policy, Profiles: cfg.Profiles,
	}
	if a.Delete.RoleARN != "" {
		p.DeleteAccounts = append(p.DeleteAccounts, "")
	}
	for _, acct := range cfg.Accounts {
		if a.Delete.RoleARNs[acct.ID] != "" {
			p.DeleteAccounts = append(p.DeleteAccounts, acct.ID)
		}
	}
	return p
}

// slackButtons are the buttons the reports carry (nil when the actions are
// off).
func slackButtons(cfg *config.Config, getenv func(string) string, log *slog.Logger) *slack.Buttons {
	if !actionsOn(cfg, getenv, log) {
		return nil
	}
	return &slack.Buttons{Signer: actionref.NewSigner(getenv("SLACK_SIGNING_SECRET")), Policy: actionsPolicy(cfg)}
}

// newActionsHandler wires the endpoint Slack sends the clicks to, or
// returns nil when the actions are off. Deletes go through the delete
// roles only: actions.delete.roleArn for the function's own account,
// accounts[].deleteRoleArn for the others; the audit's credential and
// roles never delete.
func newActionsHandler(cfg *config.Config, cred credentials.Credential, getenv func(string) string, log *slog.Logger, now func() time.Time) (*actions.Handler, error) {
	if !actionsOn(cfg, getenv, log) {
		return nil, nil
	}
	store, err := newStore(cfg, cred, log)
	if err != nil {
		return nil, err
	}
	h := &actions.Handler{
		SigningSecret: getenv("SLACK_SIGNING_SECRET"), Policy: actionsPolicy(cfg), Store: store,
		HTTPClient: slack.NewHTTPClient(10 * time.Second), Now: now, Logger: log,
	}
	for _, host := range strings.Split(getenv("SLACK_RESPONSE_URL_HOSTS"), ",") {
		if host = strings.TrimSpace(host); host != "" {
			h.ResponseHosts = append(h.ResponseHosts, host)
		}
	}
	if token := getenv("SLACK_BOT_TOKEN"); token != "" {
		bot, err := slack.NewBot(token, getenv("SLACK_API_URL"), slack.NewHTTPClient(5*time.Second))
		if err != nil {
			return nil, err
		}
		h.Bot = bot.API() // a snooze asks its reason in a modal
	}
	if cfg.Actions.Delete.Enabled {
		d, err := newDeleter(cfg, cred)
		if err != nil {
			return nil, err
		}
		h.Deleter = d
	}
	return h, nil
}

// newDeleter is an API client per account that has a delete role, signed
// with that role's credentials.
func newDeleter(cfg *config.Config, cred credentials.Credential) (actions.APIDeleter, error) {
	key, err := audit.NewSecretKey() // the weak rule is checked again before a delete
	if err != nil {
		return actions.APIDeleter{}, err
	}
	d := actions.APIDeleter{Accounts: map[string]map[string]actions.TokenAPI{}}
	add := func(account, name, roleARN, externalID string) error {
		role, err := roles.Assume(cred, roles.Options{AccountName: name, RoleARN: roleARN, ExternalID: externalID, STSEndpoint: cfg.API.STSEndpoint})
		if err != nil {
			return err
		}
		c, err := emr.New(emr.Options{Endpoint: cfg.API.Endpoint, Credential: role.Credential(), Timeout: cfg.API.Timeout, Retries: cfg.API.Retries,
			Sleep: retrySleep, SecretKey: key})
		if err != nil {
			return err
		}
		d.Accounts[account] = map[string]actions.TokenAPI{audit.KindLivy: c, audit.KindKyuubi: c.Kyuubi()}
		return nil
	}
	if arn := cfg.Actions.Delete.RoleARN; arn != "" {
		if err := add("", "own account", arn, ""); err != nil {
			return d, err
		}
	}
	for _, a := range cfg.Accounts {
		if arn := cfg.Actions.Delete.RoleARNs[a.ID]; arn != "" {
			if err := add(a.ID, a.Name, arn, a.ExternalID); err != nil {
				return d, err
			}
		}
	}
	return d, nil
}
