// Package config reads livy-token-audit's YAML config: it decodes strictly
// (unknown keys and wrong types are errors with their line), applies the
// defaults — each defined once, in the file of its section, next to its key
// — and validates every section, reporting every problem at once by file,
// line and dotted key. Adapters get fully resolved values from it and hold
// no defaults of their own.
//
// One file per section: scope.go (regions, workspaces, gateways, accounts),
// rules.go (rules, suppressions), api.go, snapshot.go, slack.go,
// webhooks.go, schedule.go.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"livy-token-audit/audit"
)

// Config is a validated configuration. Secrets (Slack webhook or bot token,
// webhook signing secrets, access keys) are never part of it: they come
// from the environment.
type Config struct {
	// Regions, Workspaces and Gateways are the run's own account's scope.
	Regions    []string
	Workspaces []string
	Gateways   []audit.GatewayRef
	// Accounts are other accounts, reached by assuming a RAM role.
	Accounts []Account
	Policy   audit.Policy
	// Profiles are rules.profiles, resolved: each a class of tokens with
	// its policy (unset keys the top-level rules').
	Profiles     []audit.Profile
	Suppressions []audit.Suppression
	API          API
	Snapshot     Snapshot
	Slack        Slack
	Webhooks     []Webhook
	Schedule     Schedule
	Metrics      Metrics
	Actions      Actions
	// Owners says how tokens' creators are resolved.
	Owners OwnersLookup
}

// AuditAccounts are the accounts the config audits, with their scopes: the
// run's own first (when the config gives it a scope), then each of
// accounts:.
func (c *Config) AuditAccounts() []audit.Account {
	var out []audit.Account
	if len(c.Regions)+len(c.Gateways) > 0 {
		out = append(out, audit.Account{Scope: audit.Scope{Regions: c.Regions, Workspaces: c.Workspaces, Gateways: c.Gateways}})
	}
	for _, a := range c.Accounts {
		out = append(out, a.Account)
	}
	return out
}

// FieldError is one problem with a config, located by key and line.
type FieldError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e FieldError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Field == "" {
		return loc + ": " + e.Msg
	}
	return loc + ": " + e.Field + ": " + e.Msg
}

// Error lists every problem found in a config.
type Error []FieldError

func (e Error) Error() string {
	msgs := make([]string, len(e))
	for i, fe := range e {
		msgs[i] = fe.Error()
	}
	return "invalid config:\n  " + strings.Join(msgs, "\n  ")
}

// raw is the config as written; each section's raw type is in its file.
type raw struct {
	Regions      []string         `yaml:"regions"`
	Workspaces   []string         `yaml:"workspaces"`
	Gateways     []rawGateway     `yaml:"gateways"`
	Accounts     []rawAccount     `yaml:"accounts"`
	Rules        rawRules         `yaml:"rules"`
	Suppressions []rawSuppression `yaml:"suppressions"`
	API          rawAPI           `yaml:"api"`
	Snapshot     rawSnapshot      `yaml:"snapshot"`
	Slack        rawSlack         `yaml:"slack"`
	Webhooks     []rawWebhook     `yaml:"webhooks"`
	Schedule     rawSchedule      `yaml:"schedule"`
	Metrics      rawMetrics       `yaml:"metrics"`
	Actions      rawActions       `yaml:"actions"`
	Owners       rawOwnersLookup  `yaml:"owners"`
}

// Load reads and validates the config file at name.
func Load(name string) (*Config, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(name, b)
}

// secretKeys are keys people may try to put in the file; the error says
// where the secret belongs instead.
var secretKeys = map[string]string{
	"webhook": "set SLACK_WEBHOOK_URL in the environment", "webhookUrl": "set SLACK_WEBHOOK_URL in the environment",
	"webhookURL": "set SLACK_WEBHOOK_URL in the environment",
	"token":      "set SLACK_BOT_TOKEN in the environment", "botToken": "set SLACK_BOT_TOKEN in the environment",
	"accessKeyId":     "set ALIBABA_CLOUD_ACCESS_KEY_ID in the environment",
	"accessKeySecret": "set ALIBABA_CLOUD_ACCESS_KEY_SECRET in the environment",
	"url":             "put the URL in an environment variable and name it in urlEnv",
	"secret":          "put the secret in an environment variable and name it in secretEnv",
}

// Parse decodes a config strictly (unknown keys and wrong types are errors
// with their line), applies defaults and validates it. Every problem is
// reported at once, as an Error naming the key and line.
func Parse(file string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Error{syntaxError(file, data, err)}
	}
	if len(root.Content) == 0 {
		return nil, Error{{File: file, Line: 1, Msg: "the config is empty (or holds only comments): it needs a scope at least — regions, gateways or accounts"}}
	}
	lines, scalars := map[string]int{}, map[string]string{}
	var errs Error
	if len(root.Content) > 0 {
		doc := root.Content[0]
		if doc.Kind != yaml.MappingNode {
			return nil, Error{{File: file, Line: doc.Line, Msg: "the config must be a mapping of keys (regions, gateways, rules, ...)"}}
		}
		walkKeys(file, doc, reflect.TypeOf(raw{}), "", keyInfo{lines, scalars}, &errs)
	}
	var r raw
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, Error{{File: file, Msg: err.Error()}}
		}
		for _, m := range te.Errors {
			if strings.Contains(m, "not found in type") {
				continue // already reported by walkKeys, with the key's full name
			}
			errs = append(errs, typeError(file, m, keyInfo{lines, scalars}))
		}
	}
	// The values are validated even when some keys are unknown or of the
	// wrong type, so that every problem is listed at once; a field whose
	// value did not decode is not validated again (its zero value would
	// only add a misleading "missing").
	v := validator{file: file, lines: lines}
	cfg := &Config{}
	for _, section := range []func(*Config, raw){v.scope, v.rules, v.suppressions, v.api, v.snapshot, v.slack, v.webhooks, v.schedule, v.metrics, v.actions, v.owners} {
		section(cfg, r)
	}
	decodeErrs := slices.Clone(errs)
	for _, fe := range v.errs {
		if !slices.ContainsFunc(decodeErrs, func(e FieldError) bool { return related(e.Field, fe.Field) }) {
			errs = append(errs, fe)
		}
	}
	if len(errs) > 0 {
		// By line; problems with no line (a missing key) last.
		slices.SortStableFunc(errs, func(a, b FieldError) int {
			return cmp.Compare(lineOrder(a.Line), lineOrder(b.Line))
		})
		return nil, errs
	}
	return cfg, nil
}

// validator collects the problems of the sections it validates.
type validator struct {
	file  string
	lines map[string]int
	errs  Error
}

// fail records a problem with field, located at its line (or the line of
// the nearest key that holds it).
func (v *validator) fail(field, format string, args ...any) {
	line, ok := v.lines[field]
	for f := field; !ok && f != ""; {
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
		line, ok = v.lines[f]
	}
	v.errs = append(v.errs, FieldError{File: v.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// duration reads a duration, def when it is not set.
func (v *validator) duration(field, s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := audit.ParseDuration(s)
	if err != nil {
		v.fail(field, "%v", err)
		return def
	}
	return d
}

// ruleList reads a list of rule names.
func (v *validator) ruleList(field string, raw []string) []audit.Rule {
	var out []audit.Rule
	for i, r := range raw {
		rule, err := audit.ParseRule(r)
		if err != nil {
			v.fail(fmt.Sprintf("%s[%d]", field, i), "%v", err)
			continue
		}
		out = append(out, rule)
	}
	return out
}

// severity reads a severity's name; 0 when it is not set.
func (v *validator) severity(field, raw string) audit.Severity {
	if raw == "" {
		return 0
	}
	s, err := audit.ParseSeverity(raw)
	if err != nil {
		v.fail(field, "%v", err)
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
