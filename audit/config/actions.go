package config

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"time"

	"livy-token-audit/audit"
)

// Actions turns on acting from Slack: buttons on flagged tokens (snooze,
// acknowledge, delete) and the endpoint that serves them (with the Slack
// app's signing secret, SLACK_SIGNING_SECRET).
type Actions struct {
	Enabled bool
	// MaxSnooze caps a snooze.
	MaxSnooze time.Duration
	// Users may snooze and acknowledge any token (Slack user IDs); a
	// token's owner (its createdBy through slack.mentions) may for theirs.
	Users []string
	// Delete, when Enabled, offers a delete on findings of Rules, to
	// DeleteUsers only, through RoleARN (the run's own account; other
	// accounts through accounts[].deleteRoleArn).
	Delete Delete
	// Retire deletes tokens flagged by its rules on a schedule, with
	// notice (actions.retire).
	Retire Retire
}

// Retire is actions.retire.
type Retire struct {
	Enabled bool
	audit.RetirePolicy
}

// actions.retire's defaults.
var (
	DefaultRetireRules   = []audit.Rule{audit.RuleUnused, audit.RuleExpired}
	DefaultRetireNotices = []time.Duration{7 * audit.Day, audit.Day}
)

// The rest of actions.retire's defaults.
const (
	DefaultRetireAfter     = 14 * audit.Day
	DefaultRetireMaxPerRun = 10
)

// retireRules are the rules a retirement may follow: those a token read
// again on its own can be checked for.
var retireRules = []audit.Rule{audit.RuleUnused, audit.RuleExpired, audit.RuleStale}

// Delete is actions.delete.
type Delete struct {
	Enabled bool
	Rules   []audit.Rule
	Users   []string
	RoleARN string
	// RoleARNs are accounts[].deleteRoleArn, by account ID.
	RoleARNs map[string]string
}

// The actions section's defaults.
const DefaultMaxSnooze = 90 * audit.Day

// DefaultDeleteRules are actions.delete.rules by default.
var DefaultDeleteRules = []audit.Rule{audit.RuleExpired}

type rawActions struct {
	Enabled   bool      `yaml:"enabled"`
	MaxSnooze string    `yaml:"maxSnooze"`
	Users     []string  `yaml:"users"`
	Delete    rawDelete `yaml:"delete"`
	Retire    rawRetire `yaml:"retire"`
}

type rawRetire struct {
	Enabled   bool     `yaml:"enabled"`
	Rules     []string `yaml:"rules"`
	After     string   `yaml:"after"`
	Notices   []string `yaml:"notices"`
	MaxPerRun *int     `yaml:"maxPerRun"`
}

type rawDelete struct {
	Enabled bool     `yaml:"enabled"`
	Rules   []string `yaml:"rules"`
	Users   []string `yaml:"users"`
	RoleARN string   `yaml:"roleArn"`
}

var slackUserRe = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

// actions validates the actions section.
func (v *validator) actions(c *Config, r raw) {
	ra := r.Actions
	a := Actions{Enabled: ra.Enabled, MaxSnooze: v.duration("actions.maxSnooze", ra.MaxSnooze, DefaultMaxSnooze),
		Delete: Delete{Enabled: ra.Delete.Enabled, RoleARN: ra.Delete.RoleARN, Rules: DefaultDeleteRules, RoleARNs: map[string]string{}}}
	if a.MaxSnooze < audit.Day {
		v.fail("actions.maxSnooze", "%s: a snooze lasts at least 1d", audit.FormatDuration(a.MaxSnooze))
	}
	a.Users = v.slackUsers("actions.users", ra.Users)
	a.Delete.Users = v.slackUsers("actions.delete.users", ra.Delete.Users)
	if len(ra.Delete.Rules) > 0 {
		a.Delete.Rules = nil
	}
	for i, name := range ra.Delete.Rules {
		rule, err := audit.ParseRule(name)
		switch {
		case err != nil:
			v.fail(fmt.Sprintf("actions.delete.rules[%d]", i), "%v", err)
		case rule == audit.RuleReused:
			// A delete re-reads the one token and checks its finding still
			// holds; a reused secret is found across tokens.
			v.fail(fmt.Sprintf("actions.delete.rules[%d]", i), "reused cannot be checked again on one token before a delete; delete one of the tokens that share the secret by another finding, or in the console")
		}
		a.Delete.Rules = append(a.Delete.Rules, rule)
	}
	if ra.Delete.RoleARN != "" && !roleARNRe.MatchString(ra.Delete.RoleARN) {
		v.fail("actions.delete.roleArn", "not a RAM role ARN like acs:ram::1234567890123456:role/livy-token-audit-deleter")
	}
	if a.Delete.Enabled && len(a.Delete.Users) == 0 {
		v.fail("actions.delete.users", "missing: nobody may delete unless listed here")
	}
	for i, acct := range r.Accounts {
		if acct.DeleteRoleARN == "" {
			continue
		}
		m := roleARNRe.FindStringSubmatch(acct.DeleteRoleARN)
		if m == nil {
			v.fail(fmt.Sprintf("accounts[%d].deleteRoleArn", i), "not a RAM role ARN like acs:ram::1234567890123456:role/livy-token-audit-deleter")
			continue
		}
		if am := roleARNRe.FindStringSubmatch(acct.RoleARN); am != nil && am[1] != m[1] {
			v.fail(fmt.Sprintf("accounts[%d].deleteRoleArn", i), "is in account %s, not the account's own (%s)", m[1], am[1])
			continue
		}
		a.Delete.RoleARNs[m[1]] = acct.DeleteRoleARN
	}
	switch {
	case a.Delete.Enabled && !a.Enabled:
		v.fail("actions.delete.enabled", "needs actions.enabled: deleting is one of the actions from Slack")
	case a.Delete.Enabled && a.Delete.RoleARN == "" && len(a.Delete.RoleARNs) == 0:
		v.fail("actions.delete.enabled", "no delete role: set actions.delete.roleArn (the function's own account) or accounts[].deleteRoleArn; the audit role stays read-only")
	}
	a.Retire = v.retire(ra.Retire, a)
	c.Actions = a
}

// retire validates actions.retire.
func (v *validator) retire(r rawRetire, a Actions) Retire {
	out := Retire{Enabled: r.Enabled, RetirePolicy: audit.RetirePolicy{Rules: DefaultRetireRules, After: v.duration("actions.retire.after", r.After, DefaultRetireAfter),
		Notices: DefaultRetireNotices, MaxPerRun: DefaultRetireMaxPerRun}}
	if len(r.Rules) > 0 {
		out.Rules = nil
	}
	for i, name := range r.Rules {
		f := fmt.Sprintf("actions.retire.rules[%d]", i)
		rule, err := audit.ParseRule(name)
		switch {
		case err != nil:
			v.fail(f, "%v", err)
		case !slices.Contains(retireRules, rule):
			v.fail(f, "%s cannot be retired on a schedule: a token read again on its own is checked for unused, expired or stale only", rule)
		case slices.Contains(out.Rules, rule):
			v.fail(f, "%s is listed twice", rule)
		default:
			out.Rules = append(out.Rules, rule)
		}
	}
	if out.After < audit.Day {
		v.fail("actions.retire.after", "%s: a token is marked at least 1d before it is deleted", audit.FormatDuration(out.After))
	}
	if r.Notices != nil {
		out.Notices = []time.Duration{}
	}
	for i, n := range r.Notices {
		f := fmt.Sprintf("actions.retire.notices[%d]", i)
		d := v.duration(f, n, 0)
		switch {
		case d <= 0:
			v.fail(f, "%q: a notice is a duration before the date, like 7d", n)
		case d >= out.After:
			v.fail(f, "%s is not before the date: notices come within actions.retire.after (%s)", audit.FormatDuration(d), audit.FormatDuration(out.After))
		case slices.Contains(out.Notices, d):
			v.fail(f, "%s is listed twice", audit.FormatDuration(d))
		default:
			out.Notices = append(out.Notices, d)
		}
	}
	slices.SortFunc(out.Notices, func(x, y time.Duration) int { return cmp.Compare(y, x) }) // longest first
	if r.MaxPerRun != nil {
		out.MaxPerRun = *r.MaxPerRun
		if out.MaxPerRun < 1 {
			v.fail("actions.retire.maxPerRun", "%d: at least 1 (set enabled: false to delete none)", out.MaxPerRun)
		}
	}
	switch {
	case !out.Enabled:
	case !a.Enabled:
		v.fail("actions.retire.enabled", "needs actions.enabled: the notices carry the buttons (snooze, I own this) that cancel a mark")
	case a.Delete.RoleARN == "" && len(a.Delete.RoleARNs) == 0:
		v.fail("actions.retire.enabled", "no delete role: set actions.delete.roleArn (the function's own account) or accounts[].deleteRoleArn; the audit role stays read-only")
	}
	return out
}

func (v *validator) slackUsers(field string, ids []string) []string {
	for i, id := range ids {
		if !slackUserRe.MatchString(id) {
			v.fail(fmt.Sprintf("%s[%d]", field, i), "%q is not a Slack user ID like U012AB3CD", id)
		}
	}
	return ids
}
