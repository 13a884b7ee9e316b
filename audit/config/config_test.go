package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"livy-token-audit/audit"
)

func TestParseConfigValid(t *testing.T) {
	t.Parallel()
	cfg, err := Load("../../testdata/config/valid.yaml")
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if len(cfg.Regions) != 1 || cfg.Regions[0] != "cn-hangzhou" {
		t.Errorf("regions: got %v, want [cn-hangzhou]", cfg.Regions)
	}
	want := audit.GatewayRef{Region: "cn-shanghai", WorkspaceID: "w-8adde60aa809701f", GatewayID: "lc-zm4dzdiubu73w2yx"}
	if len(cfg.Gateways) != 1 || cfg.Gateways[0] != want {
		t.Errorf("gateways: got %+v, want [%+v]", cfg.Gateways, want)
	}
	if cfg.Policy.ExpiringWithin != 7*audit.Day || cfg.Policy.StaleAfter != 30*audit.Day || cfg.Policy.UnusedAfter != 14*audit.Day || cfg.Policy.MaxLifetime != 0 {
		t.Errorf("policy: got %+v", cfg.Policy)
	}
	s := cfg.Suppressions[0]
	if s.Name != "ci-*" || len(s.Rules) != 1 || s.Rules[0] != audit.RuleUnused || !s.Until.Equal(time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("suppression: got %+v", s)
	}
	if cfg.API.Concurrency != 8 || cfg.Snapshot.Dir != "./audit-out" || cfg.Slack.Notify != "findings" || cfg.Slack.MaxItems != 10 || cfg.API.DeadlineReserve != 15*time.Second {
		t.Errorf("defaults: got api %+v snapshot %+v slack %+v", cfg.API, cfg.Snapshot, cfg.Slack)
	}
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want []string // each must appear in the error
	}{
		{"unknown-key.yaml", []string{"unknown-key.yaml:4: rules.staleAftr: unknown key (known keys: expiringWithin, staleAfter, unusedAfter, maxLifetime, minSecretBits, severity, expiryStages, ownerDormantAfter, profiles)"}},
		{"bad-duration.yaml", []string{`bad-duration.yaml:3: rules.staleAfter: "seven days" is not a duration (use 30d or 720h)`}},
		{"no-scope.yaml", []string{"no-scope.yaml: regions: missing scope: set regions"}},
		{"bad-date.yaml", []string{`bad-date.yaml:5: suppressions[0].until: "31/03/2027" is not a date like 2027-03-31`}},
		{"no-reason.yaml", []string{"no-reason.yaml:3: suppressions[0].reason: missing: every suppression needs a reason"}},
		{"wrong-type.yaml", []string{"wrong-type.yaml:3: api.concurrency: wrong type: !!str `eight`"}},
		{"secret.yaml", []string{"secret.yaml:3: slack.webhookUrl: unknown key (secrets never go in the config file: set SLACK_WEBHOOK_URL in the environment)"}},
		{"bad-gateway.yaml", []string{"bad-gateway.yaml:2: gateways[0].gateway: missing or not a gateway ID"}},
		{"bad-routes.yaml", []string{
			"bad-routes.yaml:2: rules.expiryStages: set expiringWithin (one stage) or expiryStages, not both",
			`bad-routes.yaml:2: rules.expiryStages[2]: "30d" is listed twice`,
			"bad-routes.yaml:4: accounts[0].roleArn: missing or not a RAM role ARN",
			"bad-routes.yaml:7: slack.routes[0]: set channel (posted with SLACK_BOT_TOKEN) or webhookEnv",
			`bad-routes.yaml:8: slack.routes[1].name: "team-data" is the name of another route`,
			`bad-routes.yaml:8: slack.routes[1].webhookEnv: "https://hooks.slack.com/services/T/B/X" is not an environment variable name`,
			`bad-routes.yaml:9: slack.routes[2].match.rules[0]: unknown rule "expird"`,
			`bad-routes.yaml:9: slack.routes[2].match.minSeverity: unknown severity "urgent"`,
			`bad-routes.yaml:9: slack.routes[2].match.workspaces[0]: "[bad" is not a valid glob`,
			`bad-routes.yaml:10: slack.owners.runbookUrl: "http://wiki/rotate" is not an https URL`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Load(filepath.Join("../../testdata/config", tc.file))
			var ce Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want an Error", err)
			}
			msg := strings.ReplaceAll(err.Error(), "../../testdata/config/", "")
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("got:\n%s\nwant it to contain:\n%s", msg, w)
				}
			}
		})
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := Parse("c.yaml", []byte("regions: [Hangzhou]\nrules: {expiringWithin: soon, severity: {expired: urgent}}\nslack: {notify: sometimes, mentions: {alice: alice}}\n"))
	var ce Error
	if !errors.As(err, &ce) || len(ce) != 5 {
		t.Fatalf("got %v, want 5 problems", err)
	}
	for _, w := range []string{"c.yaml:1: regions[0]", "c.yaml:2: rules.expiringWithin", "c.yaml:2: rules.severity.expired", "c.yaml:3: slack.notify", "c.yaml:3: slack.mentions.alice"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("got:\n%v\nwant it to name %s", err, w)
		}
	}
}

func TestParseConfigOSS(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("c.yaml", []byte("regions: [cn-hangzhou]\nsnapshot:\n  oss: {bucket: audit-snapshots, region: cn-hangzhou, prefix: livy, serverSideEncryption: KMS, kmsKeyId: key-1, presignLinks: 24h}\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Snapshot.OSS
	if o.Prefix != "livy/" || o.PresignLinks != 24*time.Hour || o.ServerSideEncryption != "KMS" {
		t.Errorf("oss: got %+v, want prefix livy/, presign 24h, KMS", o)
	}
	_, err = Parse("c.yaml", []byte("regions: [cn-hangzhou]\nsnapshot:\n  oss: {bucket: B, region: cn-hangzhou, serverSideEncryption: DES, presignLinks: 8d}\n"))
	for _, w := range []string{"snapshot.oss.bucket", "snapshot.oss.serverSideEncryption", "snapshot.oss.presignLinks: at most 7d"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("got %v, want it to name %s", err, w)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"valid.yaml", "unknown-key.yaml", "bad-date.yaml", "wrong-type.yaml"} {
		b, err := os.ReadFile(filepath.Join("../../testdata/config", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := Parse("f.yaml", b)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("got config %v and error %v; want exactly one", cfg, err)
		}
		if cfg != nil && len(cfg.Regions) == 0 && len(cfg.Gateways) == 0 {
			t.Fatal("a config without scope was accepted")
		}
	})
}

func TestParseConfigRoutesAccountsStages(t *testing.T) {
	t.Parallel()
	cfg, err := Load("../../testdata/config/routes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Accounts; len(a) != 1 || a[0].ID != "2222222222222222" || a[0].Name != "finance" || a[0].ExternalID != "fin-42" || a[0].Scope.Regions[0] != "cn-shanghai" {
		t.Errorf("accounts: got %+v", a)
	}
	if got := cfg.Policy.ExpiryStages; len(got) != 4 || got[0] != 30*audit.Day || got[3] != audit.Day {
		t.Errorf("stages: got %v, want 30d, 14d, 7d, 1d (longest first)", got)
	}
	r := cfg.Slack.Routes
	if len(r) != 2 || r[0].Channel != "#team-data" || r[0].Match.MinSeverity != audit.SeverityMedium || r[1].WebhookEnv != "FINANCE_SLACK_WEBHOOK" ||
		!r[1].Exclusive || r[1].Notify != "changes" || r[1].Match.Accounts[0] != "finance" {
		t.Errorf("routes: got %+v", r)
	}
	if o := cfg.Slack.Owners; !o.Enabled || o.MinSeverity != audit.SeverityHigh || len(o.Rules) != 2 {
		t.Errorf("owners: got %+v", o)
	}
	if cfg.API.STSEndpoint != DefaultSTSEndpoint {
		t.Errorf("stsEndpoint: got %q", cfg.API.STSEndpoint)
	}
}

func TestParseConfigWebhooks(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("c.yaml", []byte(`regions: [cn-hangzhou]
slack: {notify: changes}
webhooks:
  - name: tickets
    urlEnv: TICKETS_WEBHOOK_URL
    secretEnv: TICKETS_WEBHOOK_SECRET
    match: {workspaces: [finance], minSeverity: high}
    exclusive: true
  - {name: alerts, urlEnv: ALERTS_URL, secretEnv: ALERTS_SECRET, notify: always}
`))
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Webhooks
	if len(w) != 2 || w[0].Name != "tickets" || w[0].URLEnv != "TICKETS_WEBHOOK_URL" || w[0].SecretEnv != "TICKETS_WEBHOOK_SECRET" || !w[0].Exclusive ||
		w[0].Match.MinSeverity != audit.SeverityHigh || w[0].Notify != "changes" || w[1].Notify != "always" {
		t.Errorf("webhooks: got %+v, want tickets (notify from slack.notify) and alerts", w)
	}
	_, err = Parse("c.yaml", []byte(`regions: [cn-hangzhou]
webhooks:
  - {name: tickets, urlEnv: "https://hooks.example.com/x", notify: sometimes, match: {rules: [expird]}}
  - {name: tickets, urlEnv: A, secretEnv: B, url: "https://hooks.example.com/x"}
`))
	for _, w := range []string{
		`c.yaml:3: webhooks[0].urlEnv: "https://hooks.example.com/x" is not an environment variable name like TICKETS_WEBHOOK_URL (the URL itself never goes in this file)`,
		"c.yaml:3: webhooks[0].secretEnv: missing",
		`c.yaml:3: webhooks[0].notify: "sometimes" is not one of always, findings, changes`,
		`c.yaml:3: webhooks[0].match.rules[0]: unknown rule "expird"`,
		`c.yaml:4: webhooks[1].name: "tickets" is the name of another webhook`,
		"c.yaml:4: webhooks[1].url: unknown key (secrets never go in the config file: put the URL in an environment variable and name it in urlEnv)",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("got:\n%v\nwant it to contain:\n%s", err, w)
		}
	}
}

// Each default is resolved here, once: the adapters get values, not zeros.
func TestDefaultsAreResolved(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("c.yaml", []byte("regions: [cn-hangzhou]\nslack: {routes: [{name: r, channel: '#r'}]}\nsnapshot: {oss: {bucket: b-1, region: cn-shanghai}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := API{Endpoint: DefaultEndpoint, Concurrency: DefaultConcurrency, Timeout: DefaultTimeout, Retries: DefaultRetries,
		RatePerSecond: DefaultRatePerSecond, DeadlineReserve: DefaultDeadlineReserve, STSEndpoint: DefaultSTSEndpoint, GatewayDetails: DefaultGatewayDetails, Kyuubi: DefaultKyuubi}
	if cfg.API != want {
		t.Errorf("api: got %+v, want %+v", cfg.API, want)
	}
	if cfg.Slack.Notify != DefaultNotify || cfg.Slack.MaxItems != DefaultMaxItems || cfg.Slack.Routes[0].Notify != DefaultNotify {
		t.Errorf("slack: got %+v", cfg.Slack)
	}
	if cfg.Snapshot.Dir != DefaultSnapshotDir || cfg.Snapshot.OSS.Endpoint != "https://oss-cn-shanghai.aliyuncs.com" {
		t.Errorf("snapshot: got %+v, %+v", cfg.Snapshot, cfg.Snapshot.OSS)
	}
	cfg, err = Parse("c.yaml", []byte("regions: [cn-hangzhou]\napi: {retries: 0}\nsnapshot: {oss: {bucket: b-1, region: cn-shanghai, internal: true}}\n"))
	if err != nil || cfg.API.Retries != 0 || cfg.Snapshot.OSS.Endpoint != "https://oss-cn-shanghai-internal.aliyuncs.com" {
		t.Errorf("retries 0 and internal: got %v, %+v, %+v", err, cfg.API, cfg.Snapshot.OSS)
	}
}

// A wrong type in a flow mapping names its own key, not the longest key of
// the line: api: {concurrency: "eight", ratePerSecond: 100}.
func TestFlowStyleTypeErrorNamesItsKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, want, not string }{
		{"regions: [cn-hangzhou]\napi: {concurrency: \"eight\", ratePerSecond: 100}\n", "c.yaml:2: api.concurrency: wrong type: !!str `eight`", "ratePerSecond"},
		{"regions: [cn-hangzhou]\napi: {ratePerSecond: fast, concurrency: 8}\n", "c.yaml:2: api.ratePerSecond: wrong type: !!str `fast`", "concurrency"},
		{"regions: [cn-hangzhou]\nrules: {staleAfter: 30d, minSecretBits: lots}\n", "c.yaml:2: rules.minSecretBits: wrong type: !!str `lots`", "staleAfter"},
	} {
		_, err := Parse("c.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.not) {
			t.Errorf("%q: got %v, want only %q", tc.yaml, err, tc.want)
		}
	}
}

// metrics.cloudMonitor: off unless enabled; the region defaults to the
// first of regions, the endpoint to the region's.
func TestParseConfigMetrics(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("c.yaml", []byte("regions: [cn-shanghai]\nmetrics: {cloudMonitor: {enabled: true, groupId: 7}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cm := cfg.Metrics.CloudMonitor; cm == nil || cm.Region != "cn-shanghai" || cm.Endpoint != "https://metrics.cn-shanghai.aliyuncs.com" || cm.GroupID != 7 {
		t.Errorf("got %+v", cfg.Metrics.CloudMonitor)
	}
	if cfg, _ := Parse("c.yaml", []byte("regions: [cn-hangzhou]\n")); cfg.Metrics.CloudMonitor != nil {
		t.Error("CloudMonitor is on without metrics.cloudMonitor.enabled")
	}
	for yaml, want := range map[string]string{
		"gateways: [{region: cn-hangzhou, workspace: w, gateway: g}]\nmetrics: {cloudMonitor: {enabled: true}}\n": "c.yaml:2: metrics.cloudMonitor.region: missing",
		"regions: [cn-hangzhou]\nmetrics: {cloudMonitor: {enabled: true, groupId: -1}}\n":                         "metrics.cloudMonitor.groupId: -1",
		"regions: [cn-hangzhou]\nmetrics: {cloudMonitor: {enabled: true, endpoint: \"metrics\"}}\n":               "metrics.cloudMonitor.endpoint: \"metrics\" is not a URL",
	} {
		if _, err := Parse("c.yaml", []byte(yaml)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", yaml, err, want)
		}
	}
}

func TestParseConfigActions(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("c.yaml", []byte(`regions: [cn-hangzhou]
accounts:
  - {name: analytics, regions: [cn-hangzhou], roleArn: "acs:ram::1111222233334444:role/auditor", deleteRoleArn: "acs:ram::1111222233334444:role/deleter"}
actions:
  enabled: true
  users: [U0ADMIN03]
  delete: {enabled: true, users: [U0ADMIN03], roleArn: "acs:ram::5555666677778888:role/deleter"}
`))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Actions
	if !a.Enabled || a.MaxSnooze != DefaultMaxSnooze || !slices.Equal(a.Delete.Rules, DefaultDeleteRules) ||
		a.Delete.RoleARNs["1111222233334444"] != "acs:ram::1111222233334444:role/deleter" || a.Delete.RoleARN == "" {
		t.Errorf("got %+v", a)
	}
	if cfg, _ := Parse("c.yaml", []byte("regions: [cn-hangzhou]\n")); cfg.Actions.Enabled || cfg.Actions.Delete.Enabled {
		t.Error("actions are on by default")
	}
	for yaml, want := range map[string]string{
		"actions: {enabled: true, users: [alice]}\n":                                                               `c.yaml:2: actions.users[0]: "alice" is not a Slack user ID like U012AB3CD`,
		"actions:\n  enabled: true\n  delete: {enabled: true, roleArn: \"acs:ram::5555666677778888:role/d\"}\n":    "c.yaml:4: actions.delete.users: missing: nobody may delete unless listed here",
		"actions:\n  enabled: true\n  delete: {enabled: true, users: [U0ADMIN03]}\n":                               "actions.delete.enabled: no delete role",
		"actions:\n  delete: {enabled: true, users: [U0ADMIN03], roleArn: \"acs:ram::5555666677778888:role/d\"}\n": "actions.delete.enabled: needs actions.enabled",
		"actions:\n  enabled: true\n  delete: {rules: [reused]}\n":                                                 "actions.delete.rules[0]: reused cannot be checked again",
		"actions:\n  enabled: true\n  maxSnooze: 12h\n":                                                            "c.yaml:4: actions.maxSnooze: 12h: a snooze lasts at least 1d",
		"actions: {enabled: true}\naccounts: [{name: a, regions: [cn-hangzhou], roleArn: \"acs:ram::1111222233334444:role/r\", deleteRoleArn: \"acs:ram::9999222233334444:role/d\"}]\n": "accounts[0].deleteRoleArn: is in account 9999222233334444",
	} {
		if _, err := Parse("c.yaml", []byte("regions: [cn-hangzhou]\n"+yaml)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", yaml, err, want)
		}
	}
}

// actions.retire: defaults, and each wrong value refused by its key and
// line; webhooks[].mode.
func TestParseConfigRetireAndEventsMode(t *testing.T) {
	t.Parallel()
	const on = "actions:\n  enabled: true\n  delete: {roleArn: \"acs:ram::5555666677778888:role/d\"}\n"
	cfg, err := Parse("c.yaml", []byte("regions: [cn-hangzhou]\n"+on+"  retire: {enabled: true}\n"+
		"webhooks:\n  - {name: tickets, urlEnv: T_URL, secretEnv: T_SECRET, mode: events}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Actions.Retire
	if !r.Enabled || !slices.Equal(r.Rules, DefaultRetireRules) || r.After != 14*audit.Day || !slices.Equal(r.Notices, []time.Duration{7 * audit.Day, audit.Day}) || r.MaxPerRun != 10 {
		t.Errorf("retire defaults: %+v", r)
	}
	if cfg.Webhooks[0].Mode != WebhookEvents {
		t.Errorf("mode %q", cfg.Webhooks[0].Mode)
	}
	if cfg, _ := Parse("c.yaml", []byte("regions: [cn-hangzhou]\n")); cfg.Actions.Retire.Enabled {
		t.Error("retire is on by default")
	}
	for yaml, want := range map[string]string{
		on + "  retire: {enabled: true, rules: [weak]}\n":                                    "c.yaml:5: actions.retire.rules[0]: weak cannot be retired on a schedule",
		on + "  retire: {enabled: true, after: 12h}\n":                                       "c.yaml:5: actions.retire.after: 12h: a token is marked at least 1d before it is deleted",
		on + "  retire: {enabled: true, after: 7d, notices: [7d]}\n":                         "actions.retire.notices[0]: 7d is not before the date",
		on + "  retire: {enabled: true, notices: [1d, 1d]}\n":                                "actions.retire.notices[1]: 24h is listed twice",
		on + "  retire: {enabled: true, maxPerRun: 0}\n":                                     "c.yaml:5: actions.retire.maxPerRun: 0: at least 1",
		"actions:\n  retire: {enabled: true}\n":                                              "actions.retire.enabled: needs actions.enabled",
		"actions:\n  enabled: true\n  retire: {enabled: true}\n":                             "actions.retire.enabled: no delete role",
		"webhooks:\n  - {name: t, urlEnv: U, secretEnv: S, mode: tickets}\n":                 `c.yaml:3: webhooks[0].mode: "tickets" is not a mode`,
		"webhooks:\n  - {name: t, urlEnv: U, secretEnv: S, mode: events, notify: changes}\n": "webhooks[0].notify: does not apply with mode: events",
	} {
		if _, err := Parse("c.yaml", []byte("regions: [cn-hangzhou]\n"+yaml)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", yaml, err, want)
		}
	}
}

// A YAML syntax error, a key written twice and an empty file are refused
// like every other problem: by file, line and key.
func TestSyntaxDuplicateEmptyAndEndpointErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, yaml, want string }{
		{"syntax", "regions: [cn-hangzhou]\nslack:\n  notify: [changes\n", "c.yaml:2: slack: not valid YAML: "},
		{"duplicate top-level key", "regions: [cn-hangzhou]\nregions: [cn-shanghai]\n", "c.yaml:2: regions: mapping key \"regions\" already defined at line 1"},
		{"duplicate nested key", "regions: [cn-hangzhou]\nslack:\n  notify: always\n  notify: changes\n", "c.yaml:4: slack.notify: mapping key \"notify\" already defined at line 3"},
		{"empty", "", "c.yaml:1: the config is empty"},
		{"comments only", "# regions: [cn-hangzhou]\n", "c.yaml:1: the config is empty"},
		{"an endpoint with a path", "regions: [cn-hangzhou]\napi: {endpoint: \"https://emr-serverless-spark.{region}.aliyuncs.com/api/v1\"}\n", "c.yaml:2: api.endpoint: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// Profiles resolve over the top-level rules; a profile that can never
// match, has no match or a duplicate name, or names what the config does
// not audit is refused with its line, as are percentages outside 1-99%.
func TestProfiles(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("c.yaml", []byte(`regions: [cn-hangzhou, cn-shanghai]
gateways: [{region: cn-shanghai, workspace: w-1, gateway: kb-1, kind: kyuubi}]
rules:
  staleAfter: 45d
  profiles:
    - {name: ci, match: {tokens: ["ci-*"]}, maxLifetime: 30d, expiringWithin: 25%}
    - {name: bi, match: {kinds: [kyuubi]}, stages: [50%, 3d]}
    - name: finance
      match: {workspaces: [finance]}
      severity: {stale: critical}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Profiles) != 3 || cfg.Gateways[0].Kind != "kyuubi" {
		t.Fatalf("profiles %+v, gateways %+v", cfg.Profiles, cfg.Gateways)
	}
	ci, bi, fin := cfg.Profiles[0].Policy, cfg.Profiles[1].Policy, cfg.Profiles[2].Policy
	if ci.ExpiringPercent != 2500 || ci.MaxLifetime != 30*audit.Day || ci.StaleAfter != 45*audit.Day || ci.ExpiringWithin != 7*audit.Day {
		t.Errorf("ci: %+v (unset keys the top-level rules', the fallback window 7d)", ci)
	}
	if len(bi.StagePercents) != 1 || bi.StagePercents[0] != 5000 || len(bi.ExpiryStages) != 1 || bi.ExpiryStages[0] != 3*audit.Day {
		t.Errorf("bi: %+v", bi)
	}
	if fin.Severity[audit.RuleStale] != audit.SeverityCritical || cfg.Policy.Severity[audit.RuleStale] != audit.SeverityMedium {
		t.Errorf("finance's severity leaked into the top-level rules, or is missing: %v / %v", fin.Severity, cfg.Policy.Severity)
	}
	for _, tc := range []struct{ name, profiles, want string }{
		{"shadowed", "- {name: a, match: {workspaces: [finance]}}\n    - {name: b, match: {workspaces: [finance], tokens: [ci-*]}}",
			"c.yaml:5: rules.profiles[1].match: can never match: rules.profiles[0] (a) comes first"},
		{"empty match", "- {name: a, match: {}}", "c.yaml:4: rules.profiles[0].match: missing or empty"},
		{"duplicate name", "- {name: a, match: {tokens: [x]}}\n    - {name: a, match: {tokens: [y]}}", `c.yaml:5: rules.profiles[1].name: "a" is another profile's name`},
		{"the default's name", "- {name: default, match: {tokens: [x]}}", `rules.profiles[0].name: "default" is another profile's name (or the default's)`},
		{"a region outside the config", "- {name: a, match: {regions: [eu-central-1]}}", `c.yaml:4: rules.profiles[0].match.regions[0]: "eu-central-1" is not an audited region [cn-hangzhou]`},
		{"an account outside the config", "- {name: a, match: {accounts: [analytics]}}", `rules.profiles[0].match.accounts[0]: "analytics" is not an audited account`},
		{"a bad kind", "- {name: a, match: {kinds: [spark]}}", `rules.profiles[0].match.kinds[0]: "spark" is not a kind of gateway`},
		{"0%", "- {name: a, match: {tokens: [x]}, expiringWithin: 0%}", `rules.profiles[0].expiringWithin: "0%" is outside 1% to 99%`},
		{"100%", "- {name: a, match: {tokens: [x]}, stages: [100%]}", `c.yaml:4: rules.profiles[0].stages[0]: "100%" is outside 1% to 99%`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte("regions: [cn-hangzhou]\nrules:\n  profiles:\n    "+tc.profiles+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Parse("c.yaml", []byte("regions: [cn-hangzhou]\ngateways: [{region: cn-hangzhou, workspace: w, gateway: g, kind: spark}]\n")); err == nil || !strings.Contains(err.Error(), `gateways[0].kind: "spark" is not a kind of gateway`) {
		t.Errorf("a bad gateway kind: %v", err)
	}
}
