package audit

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is a validated configuration. Secrets (Slack webhook or bot token,
// access keys) are never part of it: they come from the environment.
type Config struct {
	// Regions, Workspaces and Gateways are the run's own account's scope.
	Regions    []string
	Workspaces []string
	Gateways   []GatewayRef
	// Accounts are other accounts, reached by assuming a RAM role.
	Accounts     []AccountConfig
	Policy       Policy
	Suppressions []Suppression
	API          APIConfig
	Snapshot     SnapshotConfig
	Slack        SlackConfig
	Schedule     ScheduleConfig
}

// AccountConfig is one account audited by assuming a RAM role in it.
type AccountConfig struct {
	// ID is the account ID, taken from RoleARN; Name defaults to it.
	ID         string
	Name       string
	RoleARN    string
	ExternalID string
	Scope      Scope
}

// APIConfig tunes the EMR Serverless Spark client.
type APIConfig struct {
	// Endpoint is a URL template with {region}; empty for the public one.
	Endpoint        string
	Concurrency     int
	Timeout         time.Duration
	Retries         int
	RatePerSecond   float64
	DeadlineReserve time.Duration
	// STSEndpoint is where roles are assumed (host[:port]).
	STSEndpoint string
}

// SnapshotConfig says where snapshots go: OSS when OSS is set, else Dir.
type SnapshotConfig struct {
	Dir string
	OSS *OSSConfig
}

// OSSConfig names the bucket that keeps snapshots.
type OSSConfig struct {
	Bucket               string
	Region               string
	Endpoint             string
	Internal             bool
	Prefix               string
	ServerSideEncryption string
	KMSKeyID             string
	PresignLinks         time.Duration
}

// SlackConfig holds the report's settings; the destination's secret comes
// from SLACK_WEBHOOK_URL or SLACK_BOT_TOKEN (a route's from its webhookEnv).
type SlackConfig struct {
	Channel  string
	Notify   string
	MaxItems int
	Mentions map[string]string
	// Routes send each slice of the fleet to its own destination; the
	// top-level destination is the catch-all.
	Routes []Route
	Owners Owners
}

// Route sends the report of a slice of the fleet to one destination: a
// channel (with the bot token) or the webhook in the environment variable
// WebhookEnv.
type Route struct {
	Name       string
	Channel    string
	WebhookEnv string
	Match      Match
	// Notify is the route's slack.notify ("" for the top-level one).
	Notify string
	// Exclusive keeps the slice out of the catch-all report.
	Exclusive bool
}

// Owners turns on one direct message per token owner (createdBy mapped in
// slack.mentions) listing their tokens that need action.
type Owners struct {
	Enabled     bool
	MinSeverity Severity
	Rules       []Rule
	RunbookURL  string
}

// ScheduleConfig describes the expected cadence of runs.
type ScheduleConfig struct {
	ExpectEvery time.Duration
}

// Defaults.
const (
	DefaultConcurrency     = 8
	DefaultSnapshotDir     = "audit-out"
	DefaultMaxItems        = 10
	DefaultNotify          = "findings"
	DefaultDeadlineReserve = 15 * time.Second
	DefaultSTSEndpoint     = "sts.aliyuncs.com"
)

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

// ConfigError lists every problem found in a config.
type ConfigError []FieldError

func (e ConfigError) Error() string {
	msgs := make([]string, len(e))
	for i, fe := range e {
		msgs[i] = fe.Error()
	}
	return "invalid config:\n  " + strings.Join(msgs, "\n  ")
}

type rawConfig struct {
	Regions      []string         `yaml:"regions"`
	Workspaces   []string         `yaml:"workspaces"`
	Gateways     []rawGateway     `yaml:"gateways"`
	Accounts     []rawAccount     `yaml:"accounts"`
	Rules        rawRules         `yaml:"rules"`
	Suppressions []rawSuppression `yaml:"suppressions"`
	API          rawAPI           `yaml:"api"`
	Snapshot     rawSnapshot      `yaml:"snapshot"`
	Slack        rawSlack         `yaml:"slack"`
	Schedule     rawSchedule      `yaml:"schedule"`
}

type rawGateway struct {
	Region    string `yaml:"region"`
	Workspace string `yaml:"workspace"`
	Gateway   string `yaml:"gateway"`
}

type rawAccount struct {
	Name       string       `yaml:"name"`
	RoleARN    string       `yaml:"roleArn"`
	ExternalID string       `yaml:"externalId"`
	Regions    []string     `yaml:"regions"`
	Workspaces []string     `yaml:"workspaces"`
	Gateways   []rawGateway `yaml:"gateways"`
}

type rawRules struct {
	ExpiringWithin string            `yaml:"expiringWithin"`
	StaleAfter     string            `yaml:"staleAfter"`
	UnusedAfter    string            `yaml:"unusedAfter"`
	MaxLifetime    string            `yaml:"maxLifetime"`
	Severity       map[string]string `yaml:"severity"`
	ExpiryStages   []string          `yaml:"expiryStages"`
}

type rawSuppression struct {
	TokenID string   `yaml:"tokenId"`
	Name    string   `yaml:"name"`
	Gateway string   `yaml:"gateway"`
	Account string   `yaml:"account"`
	Rules   []string `yaml:"rules"`
	Reason  string   `yaml:"reason"`
	Until   string   `yaml:"until"`
}

type rawAPI struct {
	Endpoint        string   `yaml:"endpoint"`
	Concurrency     *int     `yaml:"concurrency"`
	Timeout         string   `yaml:"timeout"`
	Retries         *int     `yaml:"retries"`
	RatePerSecond   *float64 `yaml:"ratePerSecond"`
	DeadlineReserve string   `yaml:"deadlineReserve"`
	STSEndpoint     string   `yaml:"stsEndpoint"`
}

type rawSnapshot struct {
	Dir string  `yaml:"dir"`
	OSS *rawOSS `yaml:"oss"`
}

type rawOSS struct {
	Bucket               string `yaml:"bucket"`
	Region               string `yaml:"region"`
	Endpoint             string `yaml:"endpoint"`
	Internal             bool   `yaml:"internal"`
	Prefix               string `yaml:"prefix"`
	ServerSideEncryption string `yaml:"serverSideEncryption"`
	KMSKeyID             string `yaml:"kmsKeyId"`
	PresignLinks         string `yaml:"presignLinks"`
}

type rawSlack struct {
	Channel  string            `yaml:"channel"`
	Notify   string            `yaml:"notify"`
	MaxItems *int              `yaml:"maxItems"`
	Mentions map[string]string `yaml:"mentions"`
	Routes   []rawRoute        `yaml:"routes"`
	Owners   *rawOwners        `yaml:"owners"`
}

type rawRoute struct {
	Name       string   `yaml:"name"`
	Channel    string   `yaml:"channel"`
	WebhookEnv string   `yaml:"webhookEnv"`
	Match      rawMatch `yaml:"match"`
	Notify     string   `yaml:"notify"`
	Exclusive  bool     `yaml:"exclusive"`
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
	Enabled     bool     `yaml:"enabled"`
	MinSeverity string   `yaml:"minSeverity"`
	Rules       []string `yaml:"rules"`
	RunbookURL  string   `yaml:"runbookUrl"`
}

type rawSchedule struct {
	ExpectEvery string `yaml:"expectEvery"`
}

// LoadConfig reads and validates the config file at name.
func LoadConfig(name string) (*Config, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(name, b)
}

// secretKeys are keys people may try to put in the file; the error says
// where the secret belongs instead.
var secretKeys = map[string]string{
	"webhook": "SLACK_WEBHOOK_URL", "webhookUrl": "SLACK_WEBHOOK_URL", "webhookURL": "SLACK_WEBHOOK_URL",
	"token": "SLACK_BOT_TOKEN", "botToken": "SLACK_BOT_TOKEN",
	"accessKeyId": "ALIBABA_CLOUD_ACCESS_KEY_ID", "accessKeySecret": "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
}

// ParseConfig decodes a config strictly (unknown keys and wrong types are
// errors with their line), applies defaults and validates it. Every problem
// is reported at once, as a ConfigError naming the key and line.
func ParseConfig(file string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, ConfigError{{File: file, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	lines := map[string]int{}
	var errs ConfigError
	if len(root.Content) > 0 {
		doc := root.Content[0]
		if doc.Kind != yaml.MappingNode {
			return nil, ConfigError{{File: file, Line: doc.Line, Msg: "the config must be a mapping of keys (regions, gateways, rules, ...)"}}
		}
		walkKeys(file, doc, reflect.TypeOf(rawConfig{}), "", lines, &errs)
	}
	var raw rawConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, ConfigError{{File: file, Msg: err.Error()}}
		}
		for _, m := range te.Errors {
			if strings.Contains(m, "not found in type") {
				continue // already reported by walkKeys, with the key's full name
			}
			errs = append(errs, typeError(file, m, lines))
		}
	}
	// The values are validated even when some keys are unknown or of the
	// wrong type, so that every problem is listed at once; a field whose
	// value did not decode is not validated again (its zero value would
	// only add a misleading "missing").
	v := validator{file: file, lines: lines}
	cfg := v.config(raw)
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

func lineOrder(l int) int {
	if l == 0 {
		return math.MaxInt
	}
	return l
}

// related reports whether two dotted fields are the same, or one holds the
// other (rules and rules.staleAfter, routes[0] and routes[0].name).
func related(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	holds := func(p, f string) bool {
		return strings.HasPrefix(f, p) && (len(f) == len(p) || f[len(p)] == '.' || f[len(p)] == '[')
	}
	return holds(a, b) || holds(b, a)
}

var (
	lineRe = regexp.MustCompile(`^line (\d+): (.*)$`)
	intoRe = regexp.MustCompile(` into ([\w.\[\]*]+)$`)
)

// wantOf says in words what a Go type of the raw config takes.
func wantOf(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		return "a mapping of keys"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	}
	return ""
}

// typeError rewrites a yaml type error to name the key of that line.
func typeError(file, m string, lines map[string]int) FieldError {
	sm := lineRe.FindStringSubmatch(m)
	if sm == nil {
		return FieldError{File: file, Msg: m}
	}
	line, _ := strconv.Atoi(sm[1])
	field := ""
	for k, l := range lines {
		if l == line && (field == "" || len(k) > len(field)) {
			field = k
		}
	}
	msg := sm[2]
	want := ""
	if m := intoRe.FindStringSubmatch(msg); m != nil {
		msg = strings.TrimSuffix(msg, m[0])
		want = wantOf(m[1])
	}
	if strings.HasPrefix(msg, "cannot unmarshal") {
		msg = "wrong type: " + strings.TrimPrefix(msg, "cannot unmarshal ")
		if want != "" {
			msg += ", want " + want
		}
	}
	return FieldError{File: file, Line: line, Field: field, Msg: msg}
}

// walkKeys records the line of every key and reports unknown keys with their
// full dotted name.
func walkKeys(file string, n *yaml.Node, t reflect.Type, prefix string, lines map[string]int, errs *ConfigError) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			name := k.Value
			full := join(prefix, name)
			lines[full] = k.Line
			switch t.Kind() {
			case reflect.Struct:
				f, ok := fieldByTag(t, name)
				if !ok {
					msg := "unknown key"
					if env, secret := secretKeys[name]; secret {
						msg += fmt.Sprintf(" (secrets never go in the config file: set %s in the environment)", env)
					} else if known := tags(t); len(known) > 0 {
						msg += " (known keys: " + strings.Join(known, ", ") + ")"
					}
					*errs = append(*errs, FieldError{File: file, Line: k.Line, Field: full, Msg: msg})
					continue
				}
				walkKeys(file, val, f.Type, full, lines, errs)
			case reflect.Map:
				walkKeys(file, val, t.Elem(), full, lines, errs)
			}
		}
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice {
			return
		}
		for i, item := range n.Content {
			full := fmt.Sprintf("%s[%d]", prefix, i)
			lines[full] = item.Line
			walkKeys(file, item, t.Elem(), full, lines, errs)
		}
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if strings.Split(f.Tag.Get("yaml"), ",")[0] == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tags(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		out = append(out, strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0])
	}
	return out
}

type validator struct {
	file  string
	lines map[string]int
	errs  ConfigError
}

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

func (v *validator) duration(field, s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := ParseDuration(s)
	if err != nil {
		v.fail(field, "%v", err)
		return def
	}
	return d
}

var (
	regionRe = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)
	idRe     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	nameRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	slackRe  = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
)

func (v *validator) config(raw rawConfig) *Config {
	c := &Config{Workspaces: raw.Workspaces}
	c.Regions = v.regions("regions", raw.Regions)
	c.Gateways = v.gateways("gateways", raw.Gateways)
	if len(raw.Workspaces) > 0 && len(raw.Regions) == 0 {
		v.fail("workspaces", "filters discovered workspaces, so it needs regions")
	}
	c.Accounts = v.accounts(raw.Accounts)
	if len(c.Regions) == 0 && len(c.Gateways) == 0 && len(c.Accounts) == 0 {
		v.fail("regions", "missing scope: set regions (audit every gateway there), gateways (explicit region, workspace, gateway) and/or accounts (other accounts, by RAM role)")
	}

	p := DefaultPolicy()
	p.ExpiringWithin = v.duration("rules.expiringWithin", raw.Rules.ExpiringWithin, p.ExpiringWithin)
	p.StaleAfter = v.duration("rules.staleAfter", raw.Rules.StaleAfter, p.StaleAfter)
	p.UnusedAfter = v.duration("rules.unusedAfter", raw.Rules.UnusedAfter, p.UnusedAfter)
	p.MaxLifetime = v.duration("rules.maxLifetime", raw.Rules.MaxLifetime, 0)
	if len(raw.Rules.ExpiryStages) > 0 && raw.Rules.ExpiringWithin != "" {
		v.fail("rules.expiryStages", "set expiringWithin (one stage) or expiryStages, not both")
	}
	for i, st := range raw.Rules.ExpiryStages {
		f := fmt.Sprintf("rules.expiryStages[%d]", i)
		d := v.duration(f, st, 0)
		switch {
		case d <= 0:
			v.fail(f, "%q: a stage is a duration more than 0, like 30d", st)
		case slices.Contains(p.ExpiryStages, d):
			v.fail(f, "%q is listed twice", st)
		default:
			p.ExpiryStages = append(p.ExpiryStages, d)
		}
	}
	slices.SortFunc(p.ExpiryStages, func(a, b time.Duration) int { return cmp.Compare(b, a) }) // longest first
	if p.StaleAfter == 0 {
		v.fail("rules.staleAfter", "must be more than 0 (every used token would be stale)")
	}
	for _, k := range sortedKeys(raw.Rules.Severity) {
		f := "rules.severity." + k
		r, err := ParseRule(k)
		if err != nil {
			v.fail(f, "%v", err)
			continue
		}
		s, err := ParseSeverity(raw.Rules.Severity[k])
		if err != nil {
			v.fail(f, "%v", err)
			continue
		}
		p.Severity[r] = s
	}
	c.Policy = p

	for i, s := range raw.Suppressions {
		f := fmt.Sprintf("suppressions[%d]", i)
		sup := Suppression{TokenID: s.TokenID, Name: s.Name, Gateway: s.Gateway, Account: s.Account, Reason: strings.TrimSpace(s.Reason)}
		if s.TokenID == "" && s.Name == "" {
			v.fail(f, "needs tokenId or name (a glob like ci-*)")
		}
		for field, pat := range map[string]string{f + ".name": s.Name, f + ".gateway": s.Gateway, f + ".account": s.Account} {
			if _, err := path.Match(pat, ""); err != nil {
				v.fail(field, "%q is not a valid glob", pat)
			}
		}
		for j, r := range s.Rules {
			rule, err := ParseRule(r)
			if err != nil {
				v.fail(fmt.Sprintf("%s.rules[%d]", f, j), "%v", err)
			}
			sup.Rules = append(sup.Rules, rule)
		}
		if sup.Reason == "" {
			v.fail(f+".reason", "missing: every suppression needs a reason")
		}
		if s.Until != "" {
			t, err := time.Parse(time.DateOnly, s.Until)
			if err != nil {
				v.fail(f+".until", "%q is not a date like 2027-03-31", s.Until)
			}
			sup.Until = t
		}
		c.Suppressions = append(c.Suppressions, sup)
	}

	c.API = APIConfig{
		Endpoint: raw.API.Endpoint, Concurrency: DefaultConcurrency, Retries: 3, RatePerSecond: 10,
		Timeout:         v.duration("api.timeout", raw.API.Timeout, 10*time.Second),
		DeadlineReserve: v.duration("api.deadlineReserve", raw.API.DeadlineReserve, DefaultDeadlineReserve),
	}
	c.API.STSEndpoint = raw.API.STSEndpoint
	if c.API.STSEndpoint == "" {
		c.API.STSEndpoint = DefaultSTSEndpoint
	} else if u, err := url.Parse("https://" + c.API.STSEndpoint); strings.Contains(c.API.STSEndpoint, "/") || err != nil || u.Host != c.API.STSEndpoint {
		v.fail("api.stsEndpoint", "%q is not a host[:port] like sts.aliyuncs.com (the STS client speaks HTTPS only)", raw.API.STSEndpoint)
	}
	if raw.API.Endpoint != "" {
		u, err := url.Parse(strings.ReplaceAll(raw.API.Endpoint, "{region}", "cn-hangzhou"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail("api.endpoint", "%q is not a URL like https://emr-serverless-spark.{region}.aliyuncs.com", raw.API.Endpoint)
		}
	}
	if n := raw.API.Concurrency; n != nil {
		if *n < 1 || *n > 64 {
			v.fail("api.concurrency", "%d is out of range (1 to 64)", *n)
		}
		c.API.Concurrency = *n
	}
	if n := raw.API.Retries; n != nil {
		if *n < 0 || *n > 10 {
			v.fail("api.retries", "%d is out of range (0 to 10)", *n)
		}
		c.API.Retries = *n
		if *n == 0 {
			c.API.Retries = -1 // the client reads 0 as "default"
		}
	}
	if r := raw.API.RatePerSecond; r != nil {
		if *r <= 0 {
			v.fail("api.ratePerSecond", "must be more than 0")
		}
		c.API.RatePerSecond = *r
	}

	c.Snapshot.Dir = raw.Snapshot.Dir
	if c.Snapshot.Dir == "" {
		c.Snapshot.Dir = DefaultSnapshotDir
	}
	if o := raw.Snapshot.OSS; o != nil {
		c.Snapshot.OSS = v.oss(*o)
	}

	c.Slack = SlackConfig{Channel: raw.Slack.Channel, Notify: raw.Slack.Notify, MaxItems: DefaultMaxItems, Mentions: raw.Slack.Mentions}
	if c.Slack.Notify == "" {
		c.Slack.Notify = DefaultNotify
	} else if !slices.Contains([]string{"always", "findings", "changes"}, c.Slack.Notify) {
		v.fail("slack.notify", "%q is not one of always, findings, changes", c.Slack.Notify)
	}
	if n := raw.Slack.MaxItems; n != nil {
		if *n < 1 || *n > 50 {
			v.fail("slack.maxItems", "%d is out of range (1 to 50)", *n)
		}
		c.Slack.MaxItems = *n
	}
	for _, k := range sortedKeys(raw.Slack.Mentions) {
		if id := raw.Slack.Mentions[k]; !slackRe.MatchString(id) {
			v.fail("slack.mentions."+k, "%q is not a Slack user ID like U012AB3CD", id)
		}
	}
	c.Slack.Routes = v.routes(raw.Slack.Routes)
	if o := raw.Slack.Owners; o != nil {
		c.Slack.Owners = Owners{Enabled: o.Enabled, Rules: v.rules("slack.owners.rules", o.Rules), RunbookURL: o.RunbookURL,
			MinSeverity: v.severity("slack.owners.minSeverity", o.MinSeverity)}
		if o.RunbookURL != "" {
			if u, err := url.Parse(o.RunbookURL); err != nil || u.Scheme != "https" || u.Host == "" {
				v.fail("slack.owners.runbookUrl", "%q is not an https URL", o.RunbookURL)
			}
		}
	}
	c.Schedule.ExpectEvery = v.duration("schedule.expectEvery", raw.Schedule.ExpectEvery, 0)
	return c
}

// envRe is an environment variable's name.
var envRe = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

func (v *validator) routes(raw []rawRoute) []Route {
	var out []Route
	names := map[string]bool{}
	for i, r := range raw {
		f := fmt.Sprintf("slack.routes[%d]", i)
		rt := Route{Name: r.Name, Channel: r.Channel, WebhookEnv: r.WebhookEnv, Notify: r.Notify, Exclusive: r.Exclusive}
		switch {
		case !nameRe.MatchString(r.Name):
			v.fail(f+".name", "missing or not a name of letters, digits, '.', '_' or '-'")
		case names[r.Name]:
			v.fail(f+".name", "%q is the name of another route", r.Name)
		}
		names[r.Name] = true
		switch {
		case (r.Channel == "") == (r.WebhookEnv == ""):
			v.fail(f, "set channel (posted with SLACK_BOT_TOKEN) or webhookEnv (the environment variable that holds the route's webhook URL), one of them")
		case r.WebhookEnv != "" && !envRe.MatchString(r.WebhookEnv):
			v.fail(f+".webhookEnv", "%q is not an environment variable name like TEAM_DATA_WEBHOOK (the URL itself never goes in this file)", r.WebhookEnv)
		}
		if r.Notify != "" && !slices.Contains([]string{"always", "findings", "changes"}, r.Notify) {
			v.fail(f+".notify", "%q is not one of always, findings, changes", r.Notify)
		}
		m := r.Match
		rt.Match = Match{Accounts: m.Accounts, Regions: m.Regions, Workspaces: m.Workspaces, Gateways: m.Gateways,
			Rules: v.rules(f+".match.rules", m.Rules), MinSeverity: v.severity(f+".match.minSeverity", m.MinSeverity)}
		for key, pats := range map[string][]string{"accounts": m.Accounts, "regions": m.Regions, "workspaces": m.Workspaces, "gateways": m.Gateways} {
			for j, pat := range pats {
				if _, err := path.Match(pat, ""); err != nil || pat == "" {
					v.fail(fmt.Sprintf("%s.match.%s[%d]", f, key, j), "%q is not a valid glob", pat)
				}
			}
		}
		out = append(out, rt)
	}
	return out
}

func (v *validator) rules(field string, raw []string) []Rule {
	var out []Rule
	for i, r := range raw {
		rule, err := ParseRule(r)
		if err != nil {
			v.fail(fmt.Sprintf("%s[%d]", field, i), "%v", err)
			continue
		}
		out = append(out, rule)
	}
	return out
}

func (v *validator) severity(field, raw string) Severity {
	if raw == "" {
		return 0
	}
	s, err := ParseSeverity(raw)
	if err != nil {
		v.fail(field, "%v", err)
	}
	return s
}

func (v *validator) regions(field string, raw []string) []string {
	for i, r := range raw {
		if !regionRe.MatchString(r) {
			v.fail(fmt.Sprintf("%s[%d]", field, i), "%q is not a region ID like cn-hangzhou", r)
		}
	}
	return dedupe(raw)
}

func (v *validator) gateways(field string, raw []rawGateway) []GatewayRef {
	var out []GatewayRef
	for i, g := range raw {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case g.Region == "":
			v.fail(f+".region", "missing (each gateway needs region, workspace and gateway)")
		case !regionRe.MatchString(g.Region):
			v.fail(f+".region", "%q is not a region ID like cn-hangzhou", g.Region)
		}
		if !idRe.MatchString(g.Workspace) {
			v.fail(f+".workspace", "missing or not a workspace ID like w-8adde60aa809701f")
		}
		if !idRe.MatchString(g.Gateway) {
			v.fail(f+".gateway", "missing or not a gateway ID like lc-zm4dzdiubu73w2yx")
		}
		out = append(out, GatewayRef{Region: g.Region, WorkspaceID: g.Workspace, GatewayID: g.Gateway})
	}
	return out
}

// roleARNRe is a RAM role ARN: acs:ram::<account id>:role/<name>.
var roleARNRe = regexp.MustCompile(`^acs:ram::(\d{6,20}):role/([A-Za-z0-9._@-]{1,64})$`)

func (v *validator) accounts(raw []rawAccount) []AccountConfig {
	var out []AccountConfig
	ids, names := map[string]string{}, map[string]string{}
	for i, a := range raw {
		f := fmt.Sprintf("accounts[%d]", i)
		m := roleARNRe.FindStringSubmatch(a.RoleARN)
		if m == nil {
			v.fail(f+".roleArn", "missing or not a RAM role ARN like acs:ram::1234567890123456:role/livy-token-audit-reader")
			continue
		}
		ac := AccountConfig{ID: m[1], Name: a.Name, RoleARN: a.RoleARN, ExternalID: a.ExternalID}
		if ac.Name == "" {
			ac.Name = ac.ID
		}
		if !nameRe.MatchString(ac.Name) || ac.Name == SelfAccount {
			v.fail(f+".name", "%q is not a name of letters, digits, '.', '_' or '-' (and not %q)", ac.Name, SelfAccount)
		}
		if prev, dup := ids[ac.ID]; dup {
			v.fail(f+".roleArn", "account %s is already audited by %s", ac.ID, prev)
		}
		if prev, dup := names[ac.Name]; dup {
			v.fail(f+".name", "%q is already the name of %s", ac.Name, prev)
		}
		ids[ac.ID], names[ac.Name] = f, f
		ac.Scope = Scope{Regions: v.regions(f+".regions", a.Regions), Workspaces: a.Workspaces, Gateways: v.gateways(f+".gateways", a.Gateways)}
		if len(ac.Scope.Regions) == 0 && len(ac.Scope.Gateways) == 0 {
			v.fail(f, "needs regions (audit every gateway there) and/or gateways")
		}
		if len(a.Workspaces) > 0 && len(a.Regions) == 0 {
			v.fail(f+".workspaces", "filters discovered workspaces, so it needs regions")
		}
		out = append(out, ac)
	}
	return out
}

func (v *validator) oss(o rawOSS) *OSSConfig {
	c := &OSSConfig{Bucket: o.Bucket, Region: o.Region, Endpoint: o.Endpoint, Internal: o.Internal,
		Prefix: o.Prefix, ServerSideEncryption: o.ServerSideEncryption, KMSKeyID: o.KMSKeyID}
	if !regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`).MatchString(o.Bucket) {
		v.fail("snapshot.oss.bucket", "missing or not a bucket name (3-63 lower-case letters, digits, hyphens)")
	}
	if !regionRe.MatchString(o.Region) {
		v.fail("snapshot.oss.region", "missing or not a region ID like cn-hangzhou")
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail("snapshot.oss.endpoint", "%q is not a URL like https://oss-cn-hangzhou.aliyuncs.com", o.Endpoint)
		}
		if o.Internal {
			v.fail("snapshot.oss.internal", "set either endpoint or internal, not both")
		}
	}
	c.Prefix = strings.TrimPrefix(c.Prefix, "/")
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	switch o.ServerSideEncryption {
	case "", "AES256":
		if o.KMSKeyID != "" {
			v.fail("snapshot.oss.kmsKeyId", "only applies with serverSideEncryption: KMS")
		}
	case "KMS":
	default:
		v.fail("snapshot.oss.serverSideEncryption", "%q is not AES256 or KMS", o.ServerSideEncryption)
	}
	c.PresignLinks = v.duration("snapshot.oss.presignLinks", o.PresignLinks, 0)
	if c.PresignLinks > 7*Day {
		v.fail("snapshot.oss.presignLinks", "at most 7d (OSS refuses longer presigned URLs)")
	}
	return c
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
