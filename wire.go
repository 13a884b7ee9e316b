package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/config"
	"livy-token-audit/audit/emr"
	"livy-token-audit/audit/fleet"
	"livy-token-audit/audit/localstore"
	"livy-token-audit/audit/lookups"
	"livy-token-audit/audit/ossstore"
	"livy-token-audit/audit/roles"
	auditrun "livy-token-audit/audit/run"
	"livy-token-audit/audit/store"
	"livy-token-audit/internal/retry"
	"livy-token-audit/notify"
	"livy-token-audit/notify/actions"
	"livy-token-audit/notify/cloudmonitor"
	"livy-token-audit/notify/page"
	"livy-token-audit/notify/slack"
	"livy-token-audit/notify/webhook"
)

// The delivery the run hands its reports to.
var _ auditrun.Notifier = (*notify.Dispatcher)(nil)

// retrySleep waits between the retries of every client (nil: the real
// wait). The in-process tests shorten the waits (they check what is
// retried and how often, not for how long); the binary always waits.
var retrySleep func(ctx context.Context, d time.Duration) error

// sinkTimeout bounds one request to Slack or a JSON webhook, body
// included.
const sinkTimeout = 30 * time.Second

// newRunner wires the audit's dependencies from a config and a credential.
// It returns the runner and a description of the destinations ("" when
// none is configured). It makes no call.
func newRunner(cfg *config.Config, cred credentials.Credential, getenv func(string) string, log *slog.Logger, now func() time.Time) (*auditrun.Runner, string, error) {
	store, err := newStore(cfg, cred, log)
	if err != nil {
		return nil, "", err
	}
	// The owners' Slack lookups, kept across runs beside the snapshots.
	seen := &lookups.Cache{Store: store, Now: now, Logger: log}
	accounts, err := newAccounts(cfg, cred, getenv, seen)
	if err != nil {
		return nil, "", err
	}
	router, dest, err := newRouter(cfg, getenv, log)
	if err != nil {
		return nil, "", err
	}
	r := &auditrun.Runner{
		Tool: tool(), Policy: cfg.Policy, Profiles: cfg.Profiles, Assignment: assignment(cfg), Suppressions: cfg.Suppressions, ExpectEvery: cfg.Schedule.ExpectEvery,
		Accounts: accounts,
		Auditor: &fleet.Auditor{
			Concurrency: cfg.API.Concurrency, RatePerSecond: cfg.API.RatePerSecond,
			Reserve: cfg.API.DeadlineReserve, Details: cfg.API.GatewayDetails, Logger: log,
		},
		Store:     store,
		Artifacts: artifacts,
		Logger:    log,
		Now:       now,
		Keepers:   []auditrun.Keeper{keptLookups{seen}},
	}
	if cm := cfg.Metrics.CloudMonitor; cm != nil {
		c, err := cloudmonitor.New(cloudmonitor.Options{Endpoint: cm.Endpoint, Region: cm.Region, GroupID: cm.GroupID, Credential: cred,
			Timeout: cfg.API.Timeout, Sleep: retrySleep})
		if err != nil {
			return nil, "", err
		}
		r.Metrics = c
	}
	if cfg.Actions.Enabled {
		r.Actions = actions.Source{Store: store, Policy: actionsPolicy(cfg), Now: now}
	}
	if rt := cfg.Actions.Retire; rt.Enabled {
		d, err := newDeleter(cfg, cred)
		if err != nil {
			return nil, "", err
		}
		r.Retirer = actions.Retirer{Store: store, Policy: actionsPolicy(cfg), Schedule: rt.RetirePolicy, Deleter: d, Logger: log}
	}
	if router != nil {
		r.Notifier = &notify.Dispatcher{Notifiers: []notify.Notifier{router}, Claims: store, Logger: log, Now: now, LeaseSkew: cfg.Schedule.ClockSkew}
	}
	return r, dest, nil
}

// artifacts are written beside each snapshot: the report page, whose
// token rows are rendered ahead, while the fleet is audited.
var artifacts = []auditrun.Artifact{
	{Ext: ".html", Page: true, Start: func(at time.Time) auditrun.Rendering {
		rows, err := page.NewRows(at)
		if err != nil {
			return pageRendering{} // no temporary file: the rows are rendered at the end
		}
		return pageRendering{page.Page{Rows: rows}}
	}},
}

// pageRendering is the report page of one run.
type pageRendering struct{ p page.Page }

func (r pageRendering) Gateway(g audit.GatewayReport) {
	if r.p.Rows != nil {
		r.p.Rows.Add(g)
	}
}

func (r pageRendering) Render(w io.Writer, v auditrun.View) error {
	return r.p.WritePage(w, notify.NewDigest(v.Snapshot, v.Locations), v.History)
}

func (r pageRendering) Close() {
	if r.p.Rows != nil {
		_ = r.p.Rows.Close()
	}
}

// sources are the kinds of gateway that hand out tokens, a row each: the
// config that turns it on, its listing by an account's API client, and the
// API actions of its listing, as RAM names them (the preflight calls each
// and names the one a policy lacks) (docs/development.md, "Add a token
// source").
var sources = []struct {
	kind    string
	on      func(cfg *config.Config) bool
	of      func(c *emr.Client) fleet.Source
	actions sourceActions
}{
	{audit.KindLivy, func(*config.Config) bool { return true }, func(c *emr.Client) fleet.Source { return c },
		sourceActions{Gateways: "ListLivyCompute", Details: "GetLivyCompute", Tokens: "ListLivyComputeToken"}},
	{audit.KindKyuubi, func(cfg *config.Config) bool { return cfg.API.Kyuubi }, func(c *emr.Client) fleet.Source { return c.Kyuubi() },
		sourceActions{Gateways: "ListKyuubiServices", Details: "GetKyuubiService", Tokens: "ListKyuubiToken"}},
}

// sourceActions are a source's API actions: its gateways' listing, one
// gateway's details (its exposure), one gateway's tokens.
type sourceActions struct{ Gateways, Details, Tokens string }

// sourcesOf are the sources the config turns on, listed through c.
func sourcesOf(cfg *config.Config, c *emr.Client) []fleet.Source {
	var out []fleet.Source
	for _, s := range sources {
		if s.on(cfg) {
			out = append(out, s.of(c))
		}
	}
	return out
}

// newAccounts returns the accounts the config audits, each with an API
// client signed by its credentials: the run's own (when the config gives it
// a scope), and each of accounts: through its assumed role.
//
// One secret key serves every account's client: it is the run's (drawn for
// each call), so a value shared across accounts is found, and a digest
// means nothing outside the run.
func newAccounts(cfg *config.Config, cred credentials.Credential, getenv func(string) string, seen *lookups.Cache) ([]fleet.Account, error) {
	key, err := audit.NewSecretKey()
	if err != nil {
		return nil, err
	}
	client := func(c credentials.Credential) (*emr.Client, error) {
		return emr.New(emr.Options{
			Endpoint: cfg.API.Endpoint, Credential: c, Timeout: cfg.API.Timeout, Retries: cfg.API.Retries, MaxConns: cfg.API.Concurrency,
			Sleep: retrySleep, SecretKey: key,
		})
	}
	// people are an account's owner lookups (RAM, Slack) and members.
	people := func(a *fleet.Account, c credentials.Credential, api *emr.Client) error {
		r, err := newOwnerResolver(cfg, c, getenv, seen)
		if err != nil || r == nil {
			return err
		}
		a.Owners, a.Members = r, api
		return nil
	}
	var out []fleet.Account
	for _, id := range cfg.AuditAccounts() {
		if id.ID == "" {
			api, err := client(cred)
			if err != nil {
				return nil, err
			}
			a := fleet.Account{Account: id, API: api, Sources: sourcesOf(cfg, api)}
			if err := people(&a, cred, api); err != nil {
				return nil, err
			}
			out = append(out, a)
			continue
		}
		i := slices.IndexFunc(cfg.Accounts, func(a config.Account) bool { return a.ID == id.ID })
		role, err := roles.Assume(cred, roles.Options{AccountName: id.Name, RoleARN: id.RoleARN, ExternalID: cfg.Accounts[i].ExternalID, STSEndpoint: cfg.API.STSEndpoint})
		if err != nil {
			return nil, err
		}
		api, err := client(role.Credential())
		if err != nil {
			return nil, err
		}
		a := fleet.Account{Account: id, API: api, Sources: sourcesOf(cfg, api), Prepare: func(context.Context) error { return role.Check() }}
		if err := people(&a, role.Credential(), api); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// newStore returns the snapshot store the config names: OSS when
// snapshot.oss is set, else the local folder snapshot.dir.
func newStore(cfg *config.Config, cred credentials.Credential, log *slog.Logger) (store.Store, error) {
	o := cfg.Snapshot.OSS
	if o == nil {
		return &localstore.Store{Dir: cfg.Snapshot.Dir}, nil
	}
	return ossstore.New(ossstore.Options{
		Bucket: o.Bucket, Region: o.Region, Endpoint: o.Endpoint, Prefix: o.Prefix,
		ServerSideEncryption: o.ServerSideEncryption, KMSKeyID: o.KMSKeyID, PresignLinks: o.PresignLinks,
		Credential: cred, Logger: log, Retrier: retry.Retrier{Sleep: retrySleep},
	})
}

// sinks are the kinds of destination a route of the config has, a row
// each: where the config lists its routes, its destinations' prefix (a
// route's destination is the prefix and the route's name: its claims and
// ledger are named after it), its labels for people, whether it also gets
// the failure notices when there is a main report, and the constructor of
// a route's sender from the environment (docs/development.md, "Add a
// sink"). Routing — the slice, when it is sent, exclusivity — is read
// once, by notify.Router, for every kind.
var sinks = []struct {
	prefix, label, what string
	failures            bool
	routes              func(cfg *config.Config) []config.Routing
	sender              func(cfg *config.Config, i int, env *senders) (notify.Sender, error)
	// needs are the environment variables route i needs; secret is the
	// one that says the environment means to post there.
	needs  func(cfg *config.Config, i int) []string
	secret func(cfg *config.Config, i int) string
}{
	{prefix: "slack:route:", label: "Slack", what: "route",
		routes: func(cfg *config.Config) []config.Routing {
			return routings(cfg.Slack.Routes, func(r config.Route) config.Routing { return r.Routing })
		},
		sender: func(cfg *config.Config, i int, env *senders) (notify.Sender, error) {
			return env.slack.route(i, cfg.Slack.Routes[i])
		},
		needs: func(cfg *config.Config, i int) []string {
			if r := cfg.Slack.Routes[i]; r.Channel == "" {
				return []string{r.WebhookEnv}
			}
			return []string{"SLACK_BOT_TOKEN"} // it posts to a channel
		},
		secret: func(cfg *config.Config, i int) string { return cfg.Slack.Routes[i].WebhookEnv }},
	{prefix: "webhook:", label: "Webhook", what: "webhook", failures: true,
		routes: func(cfg *config.Config) []config.Routing {
			return routings(cfg.Webhooks, func(w config.Webhook) config.Routing { return w.Routing })
		},
		sender: func(cfg *config.Config, i int, env *senders) (notify.Sender, error) {
			w, err := newWebhook(cfg.Webhooks[i], env.getenv, env.log)
			if err != nil {
				return nil, fmt.Errorf("webhooks[%d] (%s): %w", i, cfg.Webhooks[i].Name, err)
			}
			return w.Splitting(), nil
		},
		needs: func(cfg *config.Config, i int) []string {
			return []string{cfg.Webhooks[i].URLEnv, cfg.Webhooks[i].SecretEnv}
		},
		secret: func(cfg *config.Config, i int) string { return cfg.Webhooks[i].URLEnv }},
}

func routings[T any](items []T, of func(T) config.Routing) []config.Routing {
	out := make([]config.Routing, len(items))
	for i, it := range items {
		out[i] = of(it)
	}
	return out
}

// sinkLabel is the label of a destination's kind of sink ("Slack" for the
// main report and the owners' messages).
func sinkLabel(dest string) string {
	for _, k := range sinks {
		if strings.HasPrefix(dest, k.prefix) {
			return k.label
		}
	}
	return "Slack"
}

// senders are what the routes' senders are made of: the environment, and
// the Slack destinations it configures.
type senders struct {
	getenv func(string) string
	log    *slog.Logger
	slack  *slackSenders
	// noSlack: no Slack secret is set at all, so the Slack destinations
	// are planned without a sender (the CLI previews them) while the JSON
	// webhooks post.
	noSlack bool
}

// routes is the plan of the config's destinations without their senders:
// the main report, each sink's routes, and the owners' messages. With env,
// each route gets its sender (an error names the route that cannot have
// one).
func routes(cfg *config.Config, env *senders) (*notify.Router, []string, error) {
	s := cfg.Slack
	rt := &notify.Router{Notify: s.Notify, Owners: notify.Owners{Enabled: s.Owners.Enabled, Rules: s.Owners.Rules,
		MinSeverity: s.Owners.MinSeverity, Recipients: s.Mentions, Prefix: ownerDestination}}
	var dests []string
	for _, k := range sinks {
		for i, r := range k.routes(cfg) {
			route := notify.Route{Destination: k.prefix + r.Name, Name: r.Name, Match: r.Match, Notify: r.Notify, Exclusive: r.Exclusive, Failures: k.failures}
			if env != nil && !(env.noSlack && k.label == "Slack") {
				sender, err := k.sender(cfg, i, env)
				if err != nil {
					return nil, nil, err
				}
				route.Sender = sender
				dests = append(dests, k.what+" "+r.Name+": "+sender.String())
			}
			rt.Routes = append(rt.Routes, route)
		}
	}
	return rt, dests, nil
}

// newRouter returns the router the environment configures, or nil when no
// destination's secret is set at all (the CLI then prints the Slack
// messages). The main report goes to slack.channel with SLACK_BOT_TOKEN, or
// to SLACK_WEBHOOK_URL; with no Slack secret at all, the Slack
// destinations are planned without a sender (the CLI previews them) and
// the JSON webhooks post; each route to its sink's destination (a Slack
// route to its channel with the bot token or to the webhook in its
// webhookEnv; a JSON webhook to the URL in its urlEnv); owner messages
// with the bot token. A destination the config needs but the environment
// lacks is an error, so that no team's messages are dropped without a
// word. The description it returns never holds a secret.
func newRouter(cfg *config.Config, getenv func(string) string, log *slog.Logger) (*notify.Router, string, error) {
	if !anySecret(cfg, getenv) {
		return nil, "", nil
	}
	noSlack := !slackSecret(cfg, getenv)
	sl := &slackSenders{getenv: getenv}
	if !noSlack {
		var err error
		if sl, err = newSlack(cfg, getenv, log); err != nil {
			return nil, "", err
		}
	}
	rt, routed, err := routes(cfg, &senders{getenv: getenv, log: log, slack: sl, noSlack: noSlack})
	if err != nil {
		return nil, "", err
	}
	var dests []string
	if sl.main != nil { // a nil *slack.Slack must not become a non-nil Sender
		rt.Main = sl.main
		dests = append(dests, "main: "+rt.Main.String())
	}
	dests = append(dests, routed...)
	if cfg.Slack.Owners.Enabled && !noSlack {
		if sl.bot == nil {
			return nil, "", errors.New("slack.owners.enabled needs SLACK_BOT_TOKEN: owner messages are direct messages from the bot")
		}
		rt.Owners.To = func(id string) notify.Sender { return sl.bot.To(id) }
		dests = append(dests, "owners: direct messages")
	}
	if sl.bot != nil && rt.Main == nil && !cfg.Slack.Owners.Enabled && !slices.ContainsFunc(cfg.Slack.Routes, func(r config.Route) bool { return r.Channel != "" }) {
		return nil, "", errors.New("slack: SLACK_BOT_TOKEN is set but nothing posts with it: set slack.channel (the main report), a route's channel, or slack.owners")
	}
	return rt, strings.Join(dests, "; "), nil
}

// missingSecrets names, for each destination the config names (the main
// report's slack.channel, each route, each JSON webhook, the owners'
// messages), what it needs of the environment and lacks. The function
// refuses to run with any (it would post nowhere and answer ok); the CLI
// previews instead.
func missingSecrets(cfg *config.Config, getenv func(string) string) []string {
	var out []string
	bot := getenv("SLACK_BOT_TOKEN") != ""
	if cfg.Slack.Channel != "" && !bot && getenv("SLACK_WEBHOOK_URL") == "" {
		out = append(out, "slack.channel needs SLACK_BOT_TOKEN")
	}
	for _, k := range sinks {
		for i, r := range k.routes(cfg) {
			for _, v := range k.needs(cfg, i) {
				if getenv(v) == "" {
					out = append(out, fmt.Sprintf("%s %s needs %s", k.what, r.Name, v))
				}
			}
		}
	}
	if cfg.Slack.Owners.Enabled && !bot {
		out = append(out, "slack.owners.enabled needs SLACK_BOT_TOKEN")
	}
	return out
}

// slackSecret reports whether the environment holds any Slack
// destination's secret (the bot token, the main webhook, a route's).
func slackSecret(cfg *config.Config, getenv func(string) string) bool {
	if getenv("SLACK_BOT_TOKEN") != "" || getenv("SLACK_WEBHOOK_URL") != "" {
		return true
	}
	for _, r := range cfg.Slack.Routes {
		if r.WebhookEnv != "" && getenv(r.WebhookEnv) != "" {
			return true
		}
	}
	return false
}

// anySecret reports whether the environment holds any destination's
// secret.
func anySecret(cfg *config.Config, getenv func(string) string) bool {
	if getenv("SLACK_BOT_TOKEN") != "" || getenv("SLACK_WEBHOOK_URL") != "" {
		return true
	}
	for _, k := range sinks {
		for i := range k.routes(cfg) {
			if v := k.secret(cfg, i); v != "" && getenv(v) != "" {
				return true
			}
		}
	}
	return false
}

// slackSenders are the Slack destinations the environment configures.
type slackSenders struct {
	bot    *slack.Slack // nil without SLACK_BOT_TOKEN
	main   *slack.Slack // nil when the main report has no destination
	getenv func(string) string
	// webhook makes an incoming webhook's destination.
	webhook func(url, what string) (*slack.Slack, error)
}

func newSlack(cfg *config.Config, getenv func(string) string, log *slog.Logger) (*slackSenders, error) {
	token, hook := getenv("SLACK_BOT_TOKEN"), getenv("SLACK_WEBHOOK_URL")
	hc := slack.NewHTTPClient(sinkTimeout)
	opts := slack.Options{MaxItems: cfg.Slack.MaxItems, Mentions: cfg.Slack.Mentions, RunbookURL: cfg.Slack.Owners.RunbookURL,
		Buttons: slackButtons(cfg, getenv, log)}
	sl := &slackSenders{getenv: getenv, webhook: func(url, what string) (*slack.Slack, error) {
		w, err := slack.NewWebhook(url, what, hc)
		if err != nil {
			return nil, err
		}
		w.Logger, w.Sleep, w.Options = log, retrySleep, opts
		return w, nil
	}}
	if token != "" {
		bot, err := slack.NewBot(token, getenv("SLACK_API_URL"), hc)
		if err != nil {
			return nil, err
		}
		sl.bot = bot
		sl.bot.Logger, sl.bot.Sleep, sl.bot.Options = log, retrySleep, opts
	}
	switch {
	case sl.bot != nil && cfg.Slack.Channel != "":
		if hook != "" {
			log.Warn("both SLACK_BOT_TOKEN and SLACK_WEBHOOK_URL are set; posting the main report with the bot token")
		}
		sl.main = sl.bot.To(cfg.Slack.Channel)
	case hook != "":
		w, err := sl.webhook(hook, "SLACK_WEBHOOK_URL")
		if err != nil {
			return nil, err
		}
		sl.main = w
	}
	return sl, nil
}

// route is the destination of Slack route i: its channel with the bot, or
// the webhook in its webhookEnv.
func (sl *slackSenders) route(i int, r config.Route) (notify.Sender, error) {
	field := fmt.Sprintf("slack.routes[%d] (%s)", i, r.Name)
	switch {
	case r.Channel != "" && sl.bot == nil:
		return nil, fmt.Errorf("%s posts to %s, which needs SLACK_BOT_TOKEN", field, r.Channel)
	case r.Channel != "":
		return sl.bot.To(r.Channel), nil
	case sl.getenv(r.WebhookEnv) == "":
		return nil, fmt.Errorf("%s: %s is not set (it holds the route's webhook URL)", field, r.WebhookEnv)
	}
	return sl.webhook(sl.getenv(r.WebhookEnv), r.WebhookEnv)
}

// newWebhook is a JSON webhook's sender, its URL and secret read from the
// environment variables the config names.
func newWebhook(w config.Webhook, getenv func(string) string, log *slog.Logger) (*webhook.Webhook, error) {
	url, secret := getenv(w.URLEnv), getenv(w.SecretEnv)
	switch {
	case url == "":
		return nil, fmt.Errorf("%s is not set (it holds the webhook's URL)", w.URLEnv)
	case secret == "":
		return nil, fmt.Errorf("%s is not set (it holds the secret the posts are signed with)", w.SecretEnv)
	}
	return webhook.New(webhook.Options{URL: url, URLEnv: w.URLEnv, Secret: secret, Destination: "webhook:" + w.Name,
		Events: w.Mode == config.WebhookEvents, HTTPClient: webhook.NewHTTPClient(sinkTimeout), Logger: log, Sleep: retrySleep})
}

// previewPlan is the Slack messages of the run — the main report, each
// route's, each owner's — as they were or would be posted.
func previewPlan(res *auditrun.Result, cfg *config.Config, buttons *slack.Buttons) []slackPlan {
	rt, _, _ := routes(cfg, nil)
	rt.Preview = true
	var out []slackPlan
	for _, r := range rt.Plan(res.Snapshot, res.Locations(), nil) {
		if !strings.HasPrefix(r.Destination, "slack") {
			continue
		}
		msg, _ := slack.Messages(&r, slack.Options{MaxItems: cfg.Slack.MaxItems, Mentions: cfg.Slack.Mentions, RunbookURL: cfg.Slack.Owners.RunbookURL,
			Buttons: buttons}, false)
		out = append(out, slackPlan{Destination: r.Destination, Label: r.Label, Skip: r.Skip, Message: msg})
	}
	return out
}

// slackPlan is one Slack message of a run, as the CLI shows it.
type slackPlan struct {
	Destination string
	Label       string
	Skip        string
	Message     slack.Message
}
