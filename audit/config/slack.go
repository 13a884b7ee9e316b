package config

import (
	"cmp"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"time"

	"livy-token-audit/audit"
)

// Slack holds the Slack report's settings; the secrets come from
// SLACK_WEBHOOK_URL or SLACK_BOT_TOKEN (a route's from its webhookEnv).
type Slack struct {
	Channel string
	// Notify is when the main report is posted: always, findings or
	// changes.
	Notify string
	// MaxItems is the most tokens listed per rule.
	MaxItems int
	// Mentions maps a token's createdBy to a Slack user ID.
	Mentions map[string]string
	// Routes send each slice of the fleet to its own destination; the
	// top-level destination is the catch-all.
	Routes []Route
	Owners Owners
}

// The slack section's defaults.
const (
	DefaultNotify   = "findings"
	DefaultMaxItems = 10
)

// Routing is how a destination takes its part of a run, the same for
// every kind of sink (a Slack route, a JSON webhook): its name, its slice
// of the fleet, when it is sent, and whether its slice leaves the main
// report. It is read once, for every kind.
type Routing struct {
	Name  string
	Match audit.Match
	// Notify is the destination's notify mode (default: slack.notify).
	Notify string
	// Exclusive keeps the slice out of the catch-all report.
	Exclusive bool
}

type rawRouting struct {
	Name      string   `yaml:"name"`
	Match     rawMatch `yaml:"match"`
	Notify    string   `yaml:"notify"`
	Exclusive bool     `yaml:"exclusive"`
}

// routing reads a destination's routing, its name unique among its kind
// (names).
func (v *validator) routing(field string, r rawRouting, kind string, names map[string]bool, notify string) Routing {
	v.name(field+".name", r.Name, kind, names)
	return Routing{Name: r.Name, Exclusive: r.Exclusive, Notify: v.notify(field+".notify", r.Notify, notify), Match: v.match(field+".match", r.Match)}
}

// Route sends the report of a slice of the fleet to one Slack destination:
// a channel (with the bot token) or the webhook in the environment
// variable WebhookEnv.
type Route struct {
	Routing
	Channel    string
	WebhookEnv string
}

// Owners turns on one direct message per token owner (createdBy mapped in
// slack.mentions) listing their tokens that need action.
type Owners struct {
	Enabled     bool
	MinSeverity audit.Severity
	Rules       []audit.Rule
	RunbookURL  string
	// Fallback is who is told, in order, when a token's creator cannot
	// act (audit.DefaultFallback); EscalateAfter how long a high or
	// critical finding may go unanswered before it goes to the next.
	Fallback      []string
	EscalateAfter time.Duration
}

// DefaultEscalateAfter is slack.owners.escalateAfter by default.
const DefaultEscalateAfter = 3 * audit.Day

type rawSlack struct {
	Channel  string            `yaml:"channel"`
	Notify   string            `yaml:"notify"`
	MaxItems *int              `yaml:"maxItems"`
	Mentions map[string]string `yaml:"mentions"`
	Routes   []rawRoute        `yaml:"routes"`
	Owners   *rawOwners        `yaml:"owners"`
}

type rawRoute struct {
	rawRouting `yaml:",inline"`
	Channel    string `yaml:"channel"`
	WebhookEnv string `yaml:"webhookEnv"`
}

type rawMatch struct {
	Accounts    []string `yaml:"accounts"`
	Regions     []string `yaml:"regions"`
	Workspaces  []string `yaml:"workspaces"`
	Gateways    []string `yaml:"gateways"`
	Rules       []string `yaml:"rules"`
	MinSeverity string   `yaml:"minSeverity"`
}

type rawOwners struct {
	Enabled       bool     `yaml:"enabled"`
	MinSeverity   string   `yaml:"minSeverity"`
	Rules         []string `yaml:"rules"`
	RunbookURL    string   `yaml:"runbookUrl"`
	Fallback      []string `yaml:"fallback"`
	EscalateAfter string   `yaml:"escalateAfter"`
}

var (
	slackRe = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	// envRe is an environment variable's name.
	envRe = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	modes = []string{"always", "findings", "changes"}
)

// slack validates the slack section.
func (v *validator) slack(c *Config, r raw) {
	rs := r.Slack
	c.Slack = Slack{Channel: rs.Channel, Notify: cmp.Or(rs.Notify, DefaultNotify), MaxItems: DefaultMaxItems, Mentions: rs.Mentions}
	if rs.Notify != "" && !slices.Contains(modes, rs.Notify) {
		v.fail("slack.notify", "%q is not one of always, findings, changes", rs.Notify)
	}
	if n := rs.MaxItems; n != nil {
		if *n < 1 || *n > 50 {
			v.fail("slack.maxItems", "%d is out of range (1 to 50)", *n)
		}
		c.Slack.MaxItems = *n
	}
	for _, k := range sortedKeys(rs.Mentions) {
		if id := rs.Mentions[k]; !slackRe.MatchString(id) {
			v.fail("slack.mentions."+k, "%q is not a Slack user ID like U012AB3CD", id)
		}
	}
	c.Slack.Routes = v.routes(rs.Routes, c.Slack.Notify)
	c.Slack.Owners = Owners{Fallback: audit.DefaultFallback, EscalateAfter: DefaultEscalateAfter}
	if o := rs.Owners; o != nil {
		c.Slack.Owners = Owners{Enabled: o.Enabled, Rules: v.ruleList("slack.owners.rules", o.Rules), RunbookURL: o.RunbookURL,
			MinSeverity: v.severity("slack.owners.minSeverity", o.MinSeverity), Fallback: audit.DefaultFallback,
			EscalateAfter: v.duration("slack.owners.escalateAfter", o.EscalateAfter, DefaultEscalateAfter)}
		if len(o.Fallback) > 0 {
			c.Slack.Owners.Fallback = nil
			for i, step := range o.Fallback {
				if !slices.Contains(audit.DefaultFallback, step) || slices.Contains(c.Slack.Owners.Fallback, step) {
					v.fail(fmt.Sprintf("slack.owners.fallback[%d]", i), "%q is not one of creator, gatewayCreator, workspaceAdmins (each once)", step)
					continue
				}
				c.Slack.Owners.Fallback = append(c.Slack.Owners.Fallback, step)
			}
		}
		if o.RunbookURL != "" {
			if u, err := url.Parse(o.RunbookURL); err != nil || u.Scheme != "https" || u.Host == "" {
				v.fail("slack.owners.runbookUrl", "%q is not an https URL", o.RunbookURL)
			}
		}
	}
}

func (v *validator) routes(raw []rawRoute, notify string) []Route {
	var out []Route
	names := map[string]bool{}
	for i, r := range raw {
		f := fmt.Sprintf("slack.routes[%d]", i)
		rt := Route{Routing: v.routing(f, r.rawRouting, "route", names, notify), Channel: r.Channel, WebhookEnv: r.WebhookEnv}
		switch {
		case (r.Channel == "") == (r.WebhookEnv == ""):
			v.fail(f, "set channel (posted with SLACK_BOT_TOKEN) or webhookEnv (the environment variable that holds the route's webhook URL), one of them")
		case r.WebhookEnv != "":
			v.env(f+".webhookEnv", r.WebhookEnv, "TEAM_DATA_WEBHOOK", "the URL")
		}
		out = append(out, rt)
	}
	return out
}

// name checks a destination's name: letters, digits, '.', '_' or '-',
// unique among its kind (seen).
func (v *validator) name(field, name, kind string, seen map[string]bool) {
	switch {
	case !nameRe.MatchString(name):
		v.fail(field, "missing or not a name of letters, digits, '.', '_' or '-'")
	case seen[name]:
		v.fail(field, "%q is the name of another %s", name, kind)
	}
	seen[name] = true
}

// env checks the name of an environment variable that holds a secret.
func (v *validator) env(field, name, example, what string) {
	if !envRe.MatchString(name) {
		v.fail(field, "%q is not an environment variable name like %s (%s itself never goes in this file)", name, example, what)
	}
}

// notify reads a destination's notify mode; def when it is not set.
func (v *validator) notify(field, mode, def string) string {
	if mode == "" {
		return def
	}
	if !slices.Contains(modes, mode) {
		v.fail(field, "%q is not one of always, findings, changes", mode)
	}
	return mode
}

// match reads a destination's slice of the fleet.
func (v *validator) match(field string, m rawMatch) audit.Match {
	out := audit.Match{Accounts: m.Accounts, Regions: m.Regions, Workspaces: m.Workspaces, Gateways: m.Gateways,
		Rules: v.ruleList(field+".rules", m.Rules), MinSeverity: v.severity(field+".minSeverity", m.MinSeverity)}
	for _, key := range []string{"accounts", "regions", "workspaces", "gateways"} {
		pats := map[string][]string{"accounts": m.Accounts, "regions": m.Regions, "workspaces": m.Workspaces, "gateways": m.Gateways}[key]
		for j, pat := range pats {
			if _, err := path.Match(pat, ""); err != nil || pat == "" {
				v.fail(fmt.Sprintf("%s.%s[%d]", field, key, j), "%q is not a valid glob", pat)
			}
		}
	}
	return out
}
