package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/config"
	"livy-token-audit/audit/emr"
	"livy-token-audit/audit/fleet"
	"livy-token-audit/audit/ims"
	"livy-token-audit/audit/preflight"
	"livy-token-audit/audit/roles"
	"livy-token-audit/audit/safehttp"
	"livy-token-audit/audit/store"
	"livy-token-audit/notify/cloudmonitor"
	"livy-token-audit/notify/slack"
)

// The preflight: the checks of what the audit relies on, built from the
// config like the run's adapters are (this file is wire.go's companion),
// each a real call through the same adapter the audit uses. Nothing here
// posts a report, writes a snapshot, moves latest.json or deletes; the
// store gets two probes of a few bytes under preflight/, named by the
// preflight's run, and Slack's webhooks one short message only with
// -preflight-post.

// preflightRun is what the checks are built from.
type preflightRun struct {
	cfg    *config.Config
	cred   credentials.Credential // nil: no credentials were found
	credOK error                  // why not, when cred is nil
	getenv func(string) string
	post   bool
	runID  string
	log    *slog.Logger
	// clock is the run's clock, compared with the API's (time.Now: the
	// signatures use it).
	clock func() time.Time
}

// preflightRunID names one preflight, and its probes: unique per run, so a
// rerun never meets an earlier one's.
func preflightRunID(now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "preflight-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// preflightChecks are every check the config calls for, in the order of
// the table: credentials and roles, the EMR API per account and region,
// the clocks, the store, Slack, the signing secret, the JSON webhooks,
// CloudMonitor.
func preflightChecks(p preflightRun) []preflight.Check {
	var checks []preflight.Check
	accounts, accErr := []fleet.Account(nil), p.credOK
	if p.cred != nil {
		accounts, accErr = newAccounts(p.cfg, p.cred, p.getenv, nil)
	}
	checks = append(checks, credentialCheck(p))
	checks = append(checks, roleChecks(p, accounts)...)
	checks = append(checks, emrChecks(p, accounts, accErr)...)
	checks = append(checks, ownerChecks(p, accounts)...)
	checks = append(checks, clockChecks(p, accounts)...)
	checks = append(checks, storeCheck(p))
	checks = append(checks, slackChecks(p)...)
	checks = append(checks, signingSecretCheck(p))
	checks = append(checks, webhookChecks(p)...)
	checks = append(checks, cloudMonitorCheck(p))
	return checks
}

// row is a row of one result.
func row(res preflight.Result, do, detail string) []preflight.Row {
	return []preflight.Row{{Result: res, Do: do, Detail: detail}}
}

// noCredentials is the row of a check that needs credentials there are
// not.
func noCredentials(p preflightRun) []preflight.Row {
	return row(preflight.Refused, "see the credentials row: no call can be signed", "")
}

func credentialCheck(p preflightRun) preflight.Check {
	return preflight.Check{Name: "credentials", Scope: "the run", Run: func(ctx context.Context) []preflight.Row {
		if p.cred == nil {
			return row(preflight.Refused, "set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, configure a profile, or run with an instance or OIDC role (in Function Compute: the function's role)",
				errText(p.credOK))
		}
		if _, err := p.cred.GetCredential(); err != nil {
			return row(preflight.Refused, "the credential chain found credentials but could not use them: check them", errText(err))
		}
		return row(preflight.OK, "", "credential type "+dara.StringValue(p.cred.GetType()))
	}}
}

// roleChecks assume each account's role (and each delete role) once.
func roleChecks(p preflightRun, accounts []fleet.Account) []preflight.Check {
	var out []preflight.Check
	for _, a := range p.cfg.Accounts {
		i := slices.IndexFunc(accounts, func(f fleet.Account) bool { return f.ID == a.ID })
		out = append(out, preflight.Check{Name: "assume role", Scope: accountLabel(a.Account), Run: func(ctx context.Context) []preflight.Row {
			if i < 0 || accounts[i].Prepare == nil {
				return noCredentials(p)
			}
			return roleRow(accounts[i].Prepare(ctx), a.RoleARN, "deploy/ram-reader-trust-policy.json")
		}})
	}
	if d := p.cfg.Actions.Delete; p.cfg.Actions.Enabled && (d.Enabled || p.cfg.Actions.Retire.Enabled) { // a retirement deletes too
		arns := map[string]string{}
		if d.RoleARN != "" {
			arns["the run's account"] = d.RoleARN
		}
		for id, arn := range d.RoleARNs {
			arns[accountName(p.cfg, id)] = arn
		}
		for _, who := range slices.Sorted(maps.Keys(arns)) {
			arn := arns[who]
			out = append(out, preflight.Check{Name: "assume delete role", Scope: who, Run: func(ctx context.Context) []preflight.Row {
				if p.cred == nil {
					return noCredentials(p)
				}
				r, err := roles.Assume(p.cred, roles.Options{AccountName: who, RoleARN: arn, STSEndpoint: p.cfg.API.STSEndpoint})
				if err != nil {
					return row(preflight.Refused, "check actions.delete.roleArn / accounts[].deleteRoleArn", errText(err))
				}
				return roleRow(r.Check(), arn, "the delete role's trust policy")
			}})
		}
	}
	return out
}

func roleRow(err error, arn, trust string) []preflight.Row {
	if err == nil {
		return row(preflight.OK, "", "assumed "+arn)
	}
	msg := errText(err)
	switch {
	case strings.Contains(msg, "NoPermission") || strings.Contains(msg, "Forbidden"):
		return row(preflight.MissingPermission, "allow sts:AssumeRole on "+arn+" to the run's identity (deploy/ram-policy-assume.json), and trust it in the role ("+trust+"; its externalId too)", msg)
	case strings.Contains(msg, "EntityNotExist"):
		return row(preflight.Refused, "no such role: check the roleArn in the config", msg)
	case strings.Contains(msg, "DurationSeconds"):
		return row(preflight.Refused, "raise the role's maximum session duration to 1 hour or more", msg)
	case unreachable(err, msg):
		return row(preflight.Unreachable, "check the network path to STS (api.stsEndpoint)", msg)
	}
	return row(preflight.Refused, "see the detail", msg)
}

// emrChecks call, in each account and region, the API's listings once
// each: the workspaces, then for each source its gateways of one
// workspace, one gateway's details and tokens (decoded, counted and let
// go: no value is kept). A denied call names its RAM action; a call with
// nothing to call it on (no workspace, no gateway) says so, and every row
// is there whatever fails.
func emrChecks(p preflightRun, accounts []fleet.Account, accErr error) []preflight.Check {
	var out []preflight.Check
	for _, id := range p.cfg.AuditAccounts() {
		i := slices.IndexFunc(accounts, func(f fleet.Account) bool { return f.ID == id.ID })
		for _, region := range accountRegions(id) {
			scope := accountLabel(id) + " / " + region
			out = append(out, preflight.Check{Name: "emr", Scope: scope, Run: func(ctx context.Context) []preflight.Row {
				names := emrActionNames(p.cfg)
				if i < 0 {
					rows := make([]preflight.Row, len(names))
					for k, n := range names {
						rows[k] = preflight.Row{Check: "emr " + n, Result: preflight.Refused, Do: "see the credentials row: no call can be signed", Detail: errText(accErr)}
					}
					return rows
				}
				return emrRows(ctx, p, accounts[i], region)
			}})
		}
	}
	return out
}

// emrActionNames are the actions emrRows calls, in its order.
func emrActionNames(cfg *config.Config) []string {
	names := []string{"ListWorkspaces"}
	if cfg.Owners.Resolve {
		names = append(names, "ListMembers")
	}
	for _, s := range sources {
		if s.on(cfg) {
			names = append(names, s.actions.Gateways, s.actions.Details, s.actions.Tokens)
		}
	}
	return names
}

func emrRows(ctx context.Context, p preflightRun, a fleet.Account, region string) []preflight.Row {
	grant := "the run's identity (deploy/ram-policy.json)"
	if a.RoleARN != "" {
		grant = "role " + a.RoleARN + " (deploy/ram-reader-policy.json)"
	}
	call := func(action string, err error, ok string) preflight.Row {
		r := preflight.Row{Check: "emr " + action}
		if err == nil {
			r.Result, r.Detail = preflight.OK, ok
			return r
		}
		r.Detail = errText(err)
		var ae *audit.APIError
		code := ""
		if errors.As(err, &ae) {
			code = ae.Code
		}
		switch {
		case code == "Forbidden.RAM" || code == "NoPermission" || strings.HasPrefix(code, "Forbidden"):
			r.Result, r.Do = preflight.MissingPermission, "grant emr-serverless-spark:"+action+" to "+grant
		case code == roles.CodeAssumeRoleFailed:
			r.Result, r.Do = preflight.Refused, "the account's role could not be assumed: see the assume role row"
		case strings.HasPrefix(code, "InvalidAccessKeyId") || code == "SignatureDoesNotMatch" || strings.HasPrefix(code, "InvalidSecurityToken"):
			r.Result, r.Do = preflight.Refused, "the credentials are not valid for the API: check them"
		case code == audit.CodeRequestFailed || code == audit.CodeInterrupted || unreachable(err, r.Detail):
			r.Result, r.Do = preflight.Unreachable, "check the network path to the API (api.endpoint) and api.timeout"
		default:
			r.Result, r.Do = preflight.Refused, "see the detail (the API's own code)"
		}
		return r
	}
	skip := func(action, why string) preflight.Row {
		return preflight.Row{Check: "emr " + action, Result: preflight.NothingToCall, Detail: why}
	}
	if a.Prepare != nil {
		if err := a.Prepare(ctx); err != nil {
			var rows []preflight.Row
			for _, n := range emrActionNames(p.cfg) {
				rows = append(rows, call(n, err, ""))
			}
			return rows
		}
	}
	var rows []preflight.Row
	wss, err := a.API.ListWorkspaces(ctx, region)
	rows = append(rows, call("ListWorkspaces", err, audit.Plural(len(wss), "workspace")))
	if m, ok := a.Members.(*emr.Client); ok && m != nil {
		if ws, _ := probeTargets(a.Account, region, audit.KindLivy, wss); ws == "" {
			rows = append(rows, skip("ListMembers", "no workspace in "+region))
		} else {
			members, err := m.ListMembers(ctx, region, ws)
			rows = append(rows, call("ListMembers", err, audit.Plural(len(members), "member")+" in "+ws))
		}
	}
	api, _ := a.API.(*emr.Client)
	for _, s := range sources {
		if !s.on(p.cfg) || api == nil {
			continue
		}
		src := s.of(api)
		wsID, gwID := probeTargets(a.Account, region, s.kind, wss)
		if wsID == "" {
			why := "no workspace in " + region
			rows = append(rows, skip(s.actions.Gateways, why), skip(s.actions.Details, why), skip(s.actions.Tokens, why))
			continue
		}
		gws, err := src.ListGateways(ctx, region, wsID)
		rows = append(rows, call(s.actions.Gateways, err, audit.Plural(len(gws), "gateway")+" in "+wsID))
		target := gwID
		if target == "" && len(gws) > 0 {
			target = gws[0].ID
		}
		if target == "" {
			why := "no gateway in " + wsID
			rows = append(rows, skip(s.actions.Details, why), skip(s.actions.Tokens, why))
			continue
		}
		if d, ok := src.(fleet.DetailsAPI); ok && p.cfg.API.GatewayDetails {
			_, err := d.GatewayDetails(ctx, region, wsID, target)
			rows = append(rows, call(s.actions.Details, err, "gateway "+target))
		} else {
			rows = append(rows, preflight.Row{Check: "emr " + s.actions.Details, Result: preflight.NotConfigured, Detail: "api.gatewayDetails is off"})
		}
		toks, err := src.ListTokens(ctx, region, wsID, target)
		rows = append(rows, call(s.actions.Tokens, err, audit.Plural(len(toks), "token")+" on "+target+" (counted; no value kept)"))
	}
	return rows
}

// probeTargets picks what to call a source's listings on in region: a
// configured gateway of its kind there, else the first workspace the scope
// audits.
func probeTargets(a audit.Account, region, kind string, wss []audit.Workspace) (ws, gw string) {
	for _, g := range a.Scope.Gateways {
		if g.Region == region && audit.KindOf(g.Kind) == kind {
			return g.WorkspaceID, g.GatewayID
		}
	}
	for _, w := range wss {
		if len(a.Scope.Workspaces) == 0 || slices.Contains(a.Scope.Workspaces, w.ID) || slices.Contains(a.Scope.Workspaces, w.Name) {
			return w.ID, ""
		}
	}
	return "", ""
}

// accountRegions are the regions an account's scope reaches: its regions
// and those of its gateways.
func accountRegions(a audit.Account) []string {
	out := slices.Clone(a.Scope.Regions)
	for _, g := range a.Scope.Gateways {
		out = append(out, g.Region)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func accountLabel(a audit.Account) string { return cmp0(a.Name, a.ID, "own") }

func accountName(cfg *config.Config, id string) string {
	for _, a := range cfg.Accounts {
		if a.ID == id {
			return cmp0(a.Name, a.ID)
		}
	}
	return id
}

func cmp0(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// maxClockSkew is how far the run's clock may be from the API's: signed
// requests are refused at 15 minutes, and claims, leases and -now rely
// on the clock too.
const maxClockSkew = 5 * time.Minute

// clockChecks compare the run's clock with the API's Date, once per region.
func clockChecks(p preflightRun, accounts []fleet.Account) []preflight.Check {
	var api *emr.Client
	for _, a := range accounts {
		if c, ok := a.API.(*emr.Client); ok {
			api = c
			break
		}
	}
	var regions []string
	for _, a := range p.cfg.AuditAccounts() {
		regions = append(regions, accountRegions(a)...)
	}
	slices.Sort(regions)
	var out []preflight.Check
	for _, region := range slices.Compact(regions) {
		out = append(out, preflight.Check{Name: "clock", Scope: region, Run: func(ctx context.Context) []preflight.Row {
			if api == nil {
				return noCredentials(p)
			}
			at, err := api.ServerDate(ctx, region)
			if err != nil {
				return row(preflight.Unreachable, "check the network path to the API (api.endpoint)", errText(err))
			}
			skew := p.clock().Sub(at).Round(time.Second)
			detail := fmt.Sprintf("the API's clock %s, this one's %+v from it", at.UTC().Format(time.RFC3339), skew)
			if skew.Abs() > maxClockSkew {
				return row(preflight.Refused, "set the clock right (NTP): claims, leases and signed calls depend on it", detail)
			}
			return row(preflight.OK, "", detail)
		}})
	}
	return out
}

// storeCheck creates a probe, requires that a second create of it is
// refused (claims and the record of actions rely on it), copies it
// server-side and reads both back. Nothing is deleted: the probes are a
// few bytes under preflight/.
func storeCheck(p preflightRun) preflight.Check {
	where := snapshotPlace(p.cfg)
	return preflight.Check{Name: "store", Scope: where, Run: func(ctx context.Context) []preflight.Row {
		names := []string{"store create", "store create again (must be refused)", "store copy", "store read back"}
		if p.cred == nil && p.cfg.Snapshot.OSS != nil {
			var rows []preflight.Row
			for _, n := range names {
				rows = append(rows, preflight.Row{Check: n, Result: preflight.Refused, Do: "see the credentials row: no call can be signed"})
			}
			return rows
		}
		st, err := newStore(p.cfg, p.cred, p.log)
		if err != nil {
			return []preflight.Row{{Check: names[0], Result: preflight.Refused, Do: "check snapshot.*", Detail: errText(err)}}
		}
		return storeRows(ctx, p, st, names)
	}}
}

func storeRows(ctx context.Context, p preflightRun, st store.Store, names []string) []preflight.Row {
	key, copyKey := "preflight/"+p.runID+".json", "preflight/"+p.runID+".copy.json"
	data, _ := json.Marshal(map[string]string{"preflight": p.runID, "tool": tool().Name + " " + tool().Version})
	grant := "oss:PutObject and oss:GetObject on the bucket's prefix (deploy/ram-policy.json)"
	if p.cfg.Snapshot.OSS == nil {
		grant = "write access to snapshot.dir"
	}
	res := func(name string, err error, ok string) preflight.Row {
		r := preflight.Row{Check: name, Result: preflight.OK, Detail: ok}
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrPermission):
			r.Result, r.Do, r.Detail = preflight.MissingPermission, "grant "+grant, errText(err)
		case unreachable(err, err.Error()):
			r.Result, r.Do, r.Detail = preflight.Unreachable, "check the network path to the bucket (snapshot.oss.endpoint)", errText(err)
		default:
			r.Result, r.Do, r.Detail = preflight.Refused, "see the detail", errText(err)
		}
		return r
	}
	created := st.Create(ctx, key, data)
	rows := []preflight.Row{res(names[0], created, key)}
	if created != nil {
		for _, n := range names[1:] {
			rows = append(rows, preflight.Row{Check: n, Result: preflight.NothingToCall, Detail: "the probe could not be created"})
		}
		return rows
	}
	again := preflight.Row{Check: names[1], Result: preflight.OK, Detail: "refused, as claims need"}
	switch err := st.Create(ctx, key, []byte(`{"overwritten":true}`)); {
	case err == nil:
		again.Result = preflight.Refused
		again.Do = "the store overwrote an object it was told not to (x-oss-forbid-overwrite): claims and the record of actions would not hold, and a report could be posted twice. Turn bucket versioning off (OSS ignores the header on versioned buckets: docs/deploy.md), or check what sits in front of the bucket"
		again.Detail = "the second create of " + key + " succeeded"
	case !errors.Is(err, fs.ErrExist):
		again = res(names[1], err, "")
	}
	rows = append(rows, again, res(names[2], st.Copy(ctx, key, copyKey), copyKey))
	back := preflight.Row{Check: names[3], Result: preflight.OK, Detail: "both probes read back as written"}
	for _, k := range []string{key, copyKey} {
		b, err := st.Get(ctx, k)
		switch {
		case err != nil:
			back = res(names[3], err, "")
		case !bytes.Equal(b, data) && back.Result == preflight.OK:
			back = preflight.Row{Check: names[3], Result: preflight.Refused, Do: "the store did not keep what was written: check the bucket (versioning, a proxy)",
				Detail: k + " reads back other bytes"}
		}
	}
	return append(rows, back)
}

// botChannel is a channel the bot posts to, and what for.
type botChannel struct{ what, channel string }

func botChannels(cfg *config.Config) []botChannel {
	var out []botChannel
	if cfg.Slack.Channel != "" {
		out = append(out, botChannel{"the main report", cfg.Slack.Channel})
	}
	for _, r := range cfg.Slack.Routes {
		if r.Channel != "" {
			out = append(out, botChannel{"route " + r.Name, r.Channel})
		}
	}
	return out
}

// slackScope is a scope the config's features need of the bot.
type slackScope struct{ scope, what string }

// slackChecks check the bot (who it is, the scopes the config's features
// need, each channel it posts to) and the incoming webhooks (only by
// posting, with -preflight-post).
func slackChecks(p preflightRun) []preflight.Check {
	var out []preflight.Check
	token := p.getenv("SLACK_BOT_TOKEN")
	chans := botChannels(p.cfg)
	needsBot := len(chans) > 0 || p.cfg.Slack.Owners.Enabled
	switch {
	case token == "" && needsBot:
		out = append(out, preflight.Check{Name: "slack bot", Scope: "SLACK_BOT_TOKEN", Run: func(context.Context) []preflight.Row {
			return row(preflight.Refused, "set SLACK_BOT_TOKEN: the config posts with the bot ("+strings.Join(missingSecrets(p.cfg, p.getenv), "; ")+")", "")
		}})
	case token != "":
		out = append(out, botCheck(p, token, chans))
	}
	hooks := slackHooks(p.cfg, chans)
	for _, h := range hooks {
		out = append(out, preflight.Check{Name: "slack webhook", Scope: h.what + " (" + h.env + ")", Run: func(ctx context.Context) []preflight.Row {
			url := p.getenv(h.env)
			switch {
			case url == "" && h.required:
				return row(preflight.Refused, "set "+h.env, "")
			case url == "":
				return row(preflight.NotConfigured, "", "")
			case !p.post:
				return row(preflight.NeedsPost, "run with -preflight-post to post one short message there (a webhook cannot be checked without posting)", "")
			}
			w, err := slack.NewWebhook(url, h.env, slack.NewHTTPClient(sinkTimeout))
			if err != nil {
				return row(preflight.Refused, "check "+h.env, errText(err))
			}
			return slackPostRow(w.Ping(ctx), h.env)
		}})
	}
	if token == "" && len(hooks) == 0 && !needsBot {
		out = append(out, preflight.Check{Name: "slack", Scope: "-", Run: func(context.Context) []preflight.Row { return row(preflight.NotConfigured, "", "") }})
	}
	return out
}

// slackHook is an incoming webhook the config posts to.
type slackHook struct {
	what, env string
	required  bool
}

func slackHooks(cfg *config.Config, chans []botChannel) []slackHook {
	var out []slackHook
	if cfg.Slack.Channel == "" {
		out = append(out, slackHook{"the main report", "SLACK_WEBHOOK_URL", false})
	}
	for _, r := range cfg.Slack.Routes {
		if r.Channel == "" {
			out = append(out, slackHook{"route " + r.Name, r.WebhookEnv, true})
		}
	}
	return out
}

func slackPostRow(err error, env string) []preflight.Row {
	if err == nil {
		return row(preflight.OK, "", "posted: "+slack.PingText)
	}
	var se *safehttp.StatusError
	msg := errText(err)
	switch {
	case errors.As(err, &se):
		return row(preflight.Refused, "Slack refused the post: check "+env+" (a revoked or mistyped webhook answers 403/404)", msg)
	case unreachable(err, msg):
		return row(preflight.Unreachable, "check the network path to Slack", msg)
	}
	return row(preflight.Refused, "see the detail", msg)
}

// botCheck tests the bot token, the scopes the config needs, and each
// channel it posts to: the bot in it, and the history scope of its kind
// (exactly-once posting reads the channel's history).
func botCheck(p preflightRun, token string, chans []botChannel) preflight.Check {
	return preflight.Check{Name: "slack bot", Scope: "SLACK_BOT_TOKEN", Run: func(ctx context.Context) []preflight.Row {
		bot, err := slack.NewBot(token, p.getenv("SLACK_API_URL"), slack.NewHTTPClient(sinkTimeout))
		if err != nil {
			return row(preflight.Refused, "check SLACK_API_URL", errText(err))
		}
		id, err := bot.Identity(ctx)
		if err != nil {
			r := preflight.Row{Check: "slack auth.test", Result: preflight.Refused, Do: "the token is not valid: install the app again and set SLACK_BOT_TOKEN to its Bot User OAuth Token", Detail: errText(err)}
			if unreachable(err, r.Detail) {
				r.Result, r.Do = preflight.Unreachable, "check the network path to Slack"
			}
			rows := []preflight.Row{r}
			for _, s := range neededScopes(p.cfg, chans) {
				rows = append(rows, preflight.Row{Check: "slack scope " + s.scope, Result: preflight.NothingToCall, Detail: "auth.test failed"})
			}
			for _, c := range chans {
				rows = append(rows, preflight.Row{Check: "slack channel", Scope: c.channel + " (" + c.what + ")", Result: preflight.NothingToCall, Detail: "auth.test failed"})
			}
			return rows
		}
		rows := []preflight.Row{{Check: "slack auth.test", Result: preflight.OK, Detail: "workspace " + id.Team + ", bot @" + id.User}}
		for _, s := range neededScopes(p.cfg, chans) {
			rows = append(rows, scopeRow(id, s))
		}
		for _, c := range chans {
			rows = append(rows, channelRow(ctx, bot.To(c.channel), id, c))
		}
		return rows
	}}
}

var channelIDRe = regexp.MustCompile(`^[CGD][A-Z0-9]{6,}$`)

// neededScopes are the scopes the config's bot features need, beside the
// history scope of each channel (channelRow).
func neededScopes(cfg *config.Config, chans []botChannel) []slackScope {
	out := []slackScope{{"chat:write", "posting the reports"}}
	if slices.ContainsFunc(chans, func(c botChannel) bool {
		return !channelIDRe.MatchString(c.channel) && !strings.HasPrefix(c.channel, "U")
	}) {
		out = append(out, slackScope{"channels:read", "finding a channel by its #name"}, slackScope{"groups:read", "finding a private channel by its #name"})
	}
	if cfg.Slack.Owners.Enabled {
		out = append(out, slackScope{"im:write", "owners' direct messages"}, slackScope{"im:history", "posting owners' messages exactly once"})
	}
	if cfg.Owners.Resolve && cfg.Owners.LookupEmail {
		out = append(out, slackScope{"users:read.email", "finding owners' Slack users by email (users.lookupByEmail; else only slack.mentions)"})
	}
	return out
}

func scopeRow(id slack.Identity, s slackScope) preflight.Row {
	r := preflight.Row{Check: "slack scope " + s.scope, Scope: "bot @" + id.User, Result: preflight.OK, Detail: "for " + s.what}
	if !id.Has(s.scope) {
		r.Result = preflight.MissingPermission
		r.Do = "add " + s.scope + " to the app's bot scopes (deploy/slack-app.yaml), reinstall it and update SLACK_BOT_TOKEN: " + s.what + " needs it"
		r.Detail = "granted: " + strings.Join(id.Scopes, ", ")
	}
	return r
}

func channelRow(ctx context.Context, bot *slack.Slack, id slack.Identity, c botChannel) preflight.Row {
	r := preflight.Row{Check: "slack channel", Scope: c.channel + " (" + c.what + ")"}
	ch, err := bot.Channel(ctx)
	switch code := slack.SlackCode(err); {
	case err == nil:
	case code == "missing_scope":
		r.Result, r.Do, r.Detail = preflight.MissingPermission, "add channels:read and groups:read to the bot's scopes (deploy/slack-app.yaml) so that its channels can be seen", errText(err)
		return r
	case code == "channel_not_found" || strings.Contains(errText(err), "not found"):
		r.Result, r.Do, r.Detail = preflight.Refused, "no such channel for the bot: check the channel in the config, and invite the bot to it (/invite @"+id.User+")", errText(err)
		return r
	case unreachable(err, errText(err)):
		r.Result, r.Do, r.Detail = preflight.Unreachable, "check the network path to Slack", errText(err)
		return r
	default:
		r.Result, r.Do, r.Detail = preflight.Refused, "see the detail", errText(err)
		return r
	}
	history := "channels:history"
	switch {
	case ch.IM:
		history = "im:history"
	case ch.Private:
		history = "groups:history"
	}
	switch {
	case !ch.Member:
		r.Result, r.Do = preflight.Refused, "invite the bot to the channel (/invite @"+id.User+"): it posts there and reads its history to post exactly once"
	case !id.Has(history):
		r.Result = preflight.MissingPermission
		r.Do = "add " + history + " to the app's bot scopes (deploy/slack-app.yaml), reinstall it and update SLACK_BOT_TOKEN: posting exactly once reads the channel's history"
	default:
		r.Result = preflight.OK
	}
	kind := "public"
	if ch.Private {
		kind = "private"
	}
	r.Detail = fmt.Sprintf("%s channel %s (%s), bot member: %v, needs %s", kind, ch.Name, ch.ID, ch.Member, history)
	return r
}

// slackSigningSecretRe is the shape Slack's signing secrets have been seen
// to have (32 lower-case hex characters); Slack does not document it, so
// another shape is only noted, and only what cannot be a signing secret is
// refused.
var slackSigningSecretRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

func signingSecretCheck(p preflightRun) preflight.Check {
	return preflight.Check{Name: "slack signing secret", Scope: "SLACK_SIGNING_SECRET", Run: func(context.Context) []preflight.Row {
		s := p.getenv("SLACK_SIGNING_SECRET")
		switch {
		case !p.cfg.Actions.Enabled:
			return row(preflight.NotConfigured, "", "actions.enabled is off")
		case s == "":
			return row(preflight.Refused, "set SLACK_SIGNING_SECRET to the app's Signing Secret (Basic Information → App Credentials): every click is verified with it", "")
		case strings.HasPrefix(s, "xox"):
			return row(preflight.Refused, "SLACK_SIGNING_SECRET holds a Slack token, not the app's Signing Secret (Basic Information → App Credentials)", "")
		case len(s) < 16 || strings.ContainsAny(s, " \t\r\n\"'"):
			return row(preflight.Refused, "SLACK_SIGNING_SECRET cannot be a signing secret (too short, or with spaces or quotes): copy the app's Signing Secret again", "")
		case !slackSigningSecretRe.MatchString(s):
			return row(preflight.OK, "", fmt.Sprintf("%d characters, not the 32 hex characters Slack's have been seen to have: if clicks are refused, check it is the Signing Secret, not the Client Secret", len(s)))
		}
		return row(preflight.OK, "", "32 hex characters, as Slack's are")
	}}
}

// webhookChecks post one signed webhook.ping to each JSON webhook.
func webhookChecks(p preflightRun) []preflight.Check {
	var out []preflight.Check
	for _, wc := range p.cfg.Webhooks {
		out = append(out, preflight.Check{Name: "webhook ping", Scope: "webhook " + wc.Name, Run: func(ctx context.Context) []preflight.Row {
			w, err := newWebhook(wc, p.getenv, p.log)
			if err != nil {
				return row(preflight.Refused, "set the webhook's variables ("+wc.URLEnv+", "+wc.SecretEnv+")", errText(err))
			}
			err = w.Ping(ctx, tool(), p.runID)
			var se *safehttp.StatusError
			switch {
			case err == nil:
				return row(preflight.OK, "", "the receiver answered 2xx to a signed webhook.ping")
			case errors.As(err, &se):
				return row(preflight.Refused, fmt.Sprintf("the receiver answered HTTP %d: check that it verifies with %s's secret and takes webhook.ping", se.Status, wc.SecretEnv), errText(err))
			case unreachable(err, errText(err)):
				return row(preflight.Unreachable, "check the network path to the receiver", errText(err))
			}
			return row(preflight.Refused, "see the detail", errText(err))
		}})
	}
	return out
}

func cloudMonitorCheck(p preflightRun) preflight.Check {
	cm := p.cfg.Metrics.CloudMonitor
	scope := "-"
	if cm != nil {
		scope = fmt.Sprintf("group %d in %s", cm.GroupID, cm.Region)
	}
	return preflight.Check{Name: "cloudmonitor", Scope: scope, Run: func(ctx context.Context) []preflight.Row {
		switch {
		case cm == nil:
			return row(preflight.NotConfigured, "", "")
		case p.cred == nil:
			return noCredentials(p)
		}
		c, err := cloudmonitor.New(cloudmonitor.Options{Endpoint: cm.Endpoint, Region: cm.Region, GroupID: cm.GroupID, Credential: p.cred,
			Timeout: p.cfg.API.Timeout, Sleep: retrySleep, Attempts: 1})
		if err != nil {
			return row(preflight.Refused, "check metrics.cloudMonitor", errText(err))
		}
		err = c.Put(ctx, []cloudmonitor.Entry{{Name: "preflight", Dimensions: map[string]string{"tool": tool().Name}, Value: 1}}, p.clock())
		msg := errText(err)
		switch {
		case err == nil:
			return row(preflight.OK, "", "accepted a preflight metric")
		case strings.Contains(msg, "Forbidden") || strings.Contains(msg, "NoPermission"):
			return row(preflight.MissingPermission, "grant cms:PutCustomMetric to the run's identity (deploy/ram-policy.json)", msg)
		case strings.Contains(msg, "ResourceNotFound") || strings.Contains(msg, "Group"):
			return row(preflight.Refused, "check metrics.cloudMonitor.groupId: the application group must exist in "+cm.Region, msg)
		case unreachable(err, msg):
			return row(preflight.Unreachable, "check the network path to CloudMonitor (metrics.cloudMonitor.endpoint)", msg)
		}
		return row(preflight.Refused, "see the detail", msg)
	}}
}

// unreachable reports whether err is the network's: no answer, or a
// timeout.
func unreachable(err error, msg string) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "no such host") || strings.Contains(msg, "i/o timeout")
}

// errText is an error's text, bounded ("" for nil).
func errText(err error) string {
	if err == nil {
		return ""
	}
	return audit.BoundText(err.Error())
}

// runPreflight runs every check the config calls for, within ctx, at the
// config's concurrency and rate.
func runPreflight(ctx context.Context, p preflightRun) []preflight.Row {
	if p.clock == nil {
		p.clock = time.Now
	}
	if p.runID == "" {
		p.runID = preflightRunID(p.clock())
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	// A check is a few calls, each bounded by api.timeout and retried
	// api.retries times.
	per := time.Duration(4*(p.cfg.API.Retries+1))*p.cfg.API.Timeout + 10*time.Second
	return preflight.Run(ctx, preflightChecks(p), preflight.Options{Concurrency: p.cfg.API.Concurrency, RatePerSecond: p.cfg.API.RatePerSecond, Timeout: per})
}

// ownerProbe is a user name no account has: asked for, IMS answers
// EntityNotExist.User when the call is allowed, NoPermission when not.
const ownerProbe = "livy-token-audit-preflight-probe"

// ownerChecks ask IMS, per account, what owner resolution calls:
// GetDefaultDomain, GetUser and ListUsersInRecycleBin (with a name no one
// has: the answer says whether the call is allowed).
func ownerChecks(p preflightRun, accounts []fleet.Account) []preflight.Check {
	if !p.cfg.Owners.Resolve {
		return []preflight.Check{{Name: "owners", Scope: "RAM", Run: func(context.Context) []preflight.Row {
			return row(preflight.NotConfigured, "", "owners.resolve is off")
		}}}
	}
	var out []preflight.Check
	for _, a := range accounts {
		r, _ := a.Owners.(*ownerResolver)
		out = append(out, preflight.Check{Name: "owners", Scope: accountLabel(a.Account), Run: func(ctx context.Context) []preflight.Row {
			names := []string{"ram GetDefaultDomain", "ram GetUser", "ram ListUsersInRecycleBin"}
			if r == nil || r.ims == nil {
				var rows []preflight.Row
				for _, n := range names {
					rows = append(rows, preflight.Row{Check: n, Result: preflight.Refused, Do: "see the credentials row: no call can be signed"})
				}
				return rows
			}
			grant := func(action string, err error, ok string) preflight.Row {
				rr := preflight.Row{Check: "ram " + action, Result: preflight.OK, Detail: ok}
				var ae *audit.APIError
				switch {
				case err == nil:
				case errors.As(err, &ae) && ae.Code == ims.CodeNoSuchUser:
					rr.Detail = "allowed (asked for a user no one has)"
				case errors.As(err, &ae) && (strings.Contains(ae.Code, "NoPermission") || strings.Contains(ae.Code, "Forbidden")):
					rr.Result, rr.Do, rr.Detail = preflight.MissingPermission, "grant ram:"+action+" to the run's identity (deploy/ram-policy.json): owners are unknown without it", errText(err)
				case unreachable(err, errText(err)):
					rr.Result, rr.Do, rr.Detail = preflight.Unreachable, "check the network path to IMS (owners.endpoint)", errText(err)
				default:
					rr.Result, rr.Do, rr.Detail = preflight.Refused, "see the detail", errText(err)
				}
				return rr
			}
			domain, err := r.ims.DefaultDomain(ctx)
			rows := []preflight.Row{grant("GetDefaultDomain", err, domain)}
			if err != nil {
				return append(rows, preflight.Row{Check: names[1], Result: preflight.NothingToCall, Detail: "no default domain"},
					preflight.Row{Check: names[2], Result: preflight.NothingToCall, Detail: "no default domain"})
			}
			upn := ownerProbe + "@" + domain
			_, err = r.ims.User(ctx, upn)
			rows = append(rows, grant("GetUser", err, ""))
			_, err = r.ims.InRecycleBin(ctx, upn)
			return append(rows, grant("ListUsersInRecycleBin", err, "allowed"))
		}})
	}
	return out
}
