package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/config"
	"livy-token-audit/audit/fleet"
	auditrun "livy-token-audit/audit/run"
	"livy-token-audit/notify"
	"livy-token-audit/notify/metrics"
	"livy-token-audit/notify/slack"
)

// Exit statuses of the CLI (a contract: scripts depend on them).
const (
	exitOK       = 0 // audit complete (and the demo, when it ran as designed)
	exitFailed   = 1 // the audit could not run, or its snapshot or report could not be delivered
	exitUsage    = 2 // bad flags, bad config, or a scope outside the config
	exitPartial  = 3 // complete, but some gateways could not be audited
	exitFindings = 4 // -fail-on: an active finding at or above its severity
)

// wallClock is the CLI's clock (the tests fix it, so that they do not
// depend on the day they run).
var wallClock = time.Now

// formats are the outputs -format writes to stdout.
var formats = []string{"text", "json", "csv", "ndjson", "slack", "openmetrics", "ocsf", "retire"}

const usage = `usage: livy-token-audit [-config FILE] [-format FORMAT [-post]] [-dry-run] [scope flags] [-now RFC3339] [-timeout DURATION] [-fail-on SEVERITY] [-log-level LEVEL]
       livy-token-audit -demo [-format FORMAT] [-dry-run] [scope flags] [-now RFC3339] [-fail-on SEVERITY]
       livy-token-audit -demo -actions
       livy-token-audit -event FILE [-config FILE] [-timeout DURATION]
       livy-token-audit -check-config [-config FILE] [scope flags]
       livy-token-audit -preflight [-config FILE] [-format text|json] [-preflight-post] [-timeout DURATION]
       livy-token-audit -demo -preflight [-format text|json] [-preflight-post]
       livy-token-audit -webhook-ping NAME [-config FILE] [-timeout DURATION]
       livy-token-audit -version

Audits the Livy Gateway tokens of EMR Serverless Spark: writes a snapshot
(JSON) and a report page (HTML) beside it, and posts the report to Slack.
With any -format but text the run is an export: it writes and posts
nothing unless -post.

Exit status: 0 complete, 1 could not run or deliver (or audited nothing),
2 bad flags, config, scope or credentials, 3 complete but some gateways
could not be audited, 4 (-fail-on) an active finding at or above its
severity. -preflight: 0 every configured check ok, 1 one failed, 2 bad
flags or config. The demo exits 0 when it ran as designed (its failures are
staged). SIGTERM or Ctrl-C stops listing and writes what was audited.

Output: -format's output alone goes to stdout; everything else (the text
summary when the format is not text, logs) goes to stderr.

Environment:
  AUDIT_CONFIG                      the config file (default of -config)
  SLACK_WEBHOOK_URL                 post the main report to this incoming webhook
  SLACK_BOT_TOKEN                   post with chat.postMessage (slack.channel, routes' channels, owner DMs)
  SLACK_API_URL                     another Slack API base URL for the bot
  SLACK_LOOKUP_TOKEN                a bot token only for finding owners by email (default SLACK_BOT_TOKEN)
  SLACK_SIGNING_SECRET              the Slack app's signing secret: buttons on the reports (actions.enabled)
  (a route's webhookEnv)            the incoming webhook of that route
  (a webhook's urlEnv, secretEnv)   a JSON webhook's URL and signing secret
  ALIBABA_CLOUD_ACCESS_KEY_ID,      credentials (credentials-go's default chain: also
  ALIBABA_CLOUD_ACCESS_KEY_SECRET,  ~/.aliyun/config.json, an instance role, OIDC)
  ALIBABA_CLOUD_SECURITY_TOKEN
  ALIBABA_CLOUD_ECS_METADATA_DISABLED  true: do not probe the ECS metadata address
  GOMEMLIMIT                        the Go runtime's soft memory limit (default 96MiB)
  FC_RUNTIME_API                    set by Function Compute: serve invocations instead

Flags:
`

// listFlag is a flag that may be given more than once, or as a comma list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			return errors.New("an empty value: name one (an empty one would not narrow anything)")
		}
		*l = append(*l, s)
	}
	return nil
}

// options are the parsed command line.
type options struct {
	config  string
	now     time.Time
	timeout time.Duration
	dryRun  bool
	demo    bool
	version bool
	format  string
	narrow  audit.Narrowing
	// event is a Function Compute event to serve locally (a file, or -
	// for stdin).
	event string
	// actions serves Slack's actions on loopback after a demo run.
	actions bool
	// post makes an export (-format other than text) write and post, as a
	// text run does.
	post bool
	// failOn is -fail-on's severity (0: off).
	failOn audit.Severity
	// checkConfig validates the config and the environment, and stops.
	checkConfig bool
	// logLevel is -log-level's.
	logLevel slog.Level
	// export is a run made dry because it exports (-format, no -post).
	export bool
	// preflight runs the preflight instead of an audit; preflightPost lets
	// it post one short message to each Slack webhook.
	preflight, preflightPost bool
	// webhookPing names the JSON webhook to send one webhook.ping to.
	webhookPing string
}

// run is the CLI: parse, set up, run, report. The demo is the same run
// against an embedded emulator.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, code, ok := parseArgs(args, getenv, wallClock(), stderr)
	if !ok {
		return code
	}
	if o.version {
		t := tool()
		fmt.Fprintln(stdout, t.Name, t.Version)
		return exitOK
	}
	if o.event != "" {
		ctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		return runEvent(ctx, o, getenv, os.Stdin, stdout, stderr)
	}
	// ctx is cancelled by SIGTERM or Ctrl-C: the run is interrupted, as its
	// deadline would stop it — it lists no more and writes what it has —
	// and it is cut interruptGrace later.
	signalled := ctx
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.timeout)
	defer cancel()
	interrupt := interruptOn(signalled, ctx, cancel)
	if o.checkConfig {
		return checkConfig(o, getenv, stdout, stderr)
	}
	if o.preflight {
		return preflightCLI(ctx, o, getenv, stdout, stderr)
	}
	if o.webhookPing != "" {
		return webhookPingCLI(ctx, o, getenv, stdout, stderr)
	}
	log := newLoggerAt(stderr, false, o.logLevel)
	if o.demo {
		// The demo's failures are staged by its emulator: they are logged as
		// what they are, not as errors.
		log = slog.New(stagedHandler{log.Handler()})
	}

	s, code, err := setUp(ctx, o, getenv, log)
	if err != nil {
		fmt.Fprintf(stderr, "livy-token-audit: %v\n", err)
		return code
	}
	defer s.close()

	res, err := s.runner.Run(ctx, auditrun.Options{
		Now: s.now, Accounts: s.accounts, Asked: o.narrow, Trigger: audit.Trigger{Kind: s.kind, DryRun: o.dryRun}, DryRun: o.dryRun, Notify: true,
		Interrupt: interrupt,
	})
	code = report(o, s, res, err, stdout, stderr, log)
	if o.actions && code == exitOK {
		sctx, cancel := context.WithTimeout(signalled, o.timeout) // served until Ctrl-C or -timeout
		defer cancel()
		if err := serveDemoActions(sctx, s, res, stdout, log); err != nil {
			fmt.Fprintf(stderr, "livy-token-audit: -actions: %v\n", err)
			return exitFailed
		}
	}
	return code
}

// interruptGrace is how long an interrupted run has to write what it
// audited and deliver it before it is cut: a run stopped by SIGTERM ends
// within it.
const interruptGrace = 4 * time.Second

// interruptOn returns a channel closed when signalled is done before ctx
// (SIGTERM, Ctrl-C): the run then stops listing, and cancel cuts it
// interruptGrace later.
func interruptOn(signalled, ctx context.Context, cancel context.CancelFunc) <-chan struct{} {
	interrupt := make(chan struct{})
	go func() {
		select {
		case <-signalled.Done():
			close(interrupt)
			t := time.AfterFunc(interruptGrace, cancel)
			<-ctx.Done()
			t.Stop()
		case <-ctx.Done():
		}
	}()
	return interrupt
}

// parseArgs parses the command line; ok is false when the CLI should stop
// with code (after -h, or a usage error it has printed).
func parseArgs(args []string, getenv func(string) string, clock time.Time, stderr io.Writer) (o options, code int, ok bool) {
	fs := flag.NewFlagSet("livy-token-audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	var (
		nowFlag                                string
		slackJSON                              bool
		accounts, regions, workspaces, gateway listFlag
	)
	fs.StringVar(&o.config, "config", getenv("AUDIT_CONFIG"), "config `file` (default $AUDIT_CONFIG)")
	fs.StringVar(&nowFlag, "now", "", "audit as of this RFC 3339 `time` (default: the clock; at most 5 minutes ahead of it)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "write and post nothing; say what would be written")
	fs.BoolVar(&o.demo, "demo", false, "audit the embedded emulator (no account needed)")
	fs.BoolVar(&o.actions, "actions", false, "with -demo: then serve Slack's buttons on loopback with a demo signing secret, and print a signed curl to click one")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.StringVar(&o.event, "event", "", "serve this Function Compute event `file` (- for stdin) as the function would, and print its JSON response")
	fs.StringVar(&o.format, "format", "text", "what to print on stdout: `text|json|csv|ndjson|slack|openmetrics|ocsf` (json: the snapshot; ndjson: one token per line; csv: one row per token and finding; slack: the Block Kit messages; openmetrics: the run's figures for Prometheus; ocsf: each active finding as an OCSF Detection Finding; retire: the schedule of actions.retire, what would be deleted when and why); any but text writes and posts nothing without -post")
	fs.BoolVar(&slackJSON, "slack-json", false, "same as -format slack")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "stop the run after this `duration` (api.deadlineReserve of it is kept for writing and posting)")
	fs.Var(&accounts, "account", "audit only this configured `account` (name or ID; self: the run's own); repeatable")
	fs.Var(&regions, "region", "audit only this configured `region`; repeatable")
	fs.Var(&workspaces, "workspace", "audit only this `workspace` (ID or name) of the configured regions; repeatable")
	fs.Var(&gateway, "gateway", "audit only this gateway, as `[ACCOUNT:]REGION/WORKSPACE/GATEWAY`; repeatable")
	fs.BoolVar(&o.post, "post", false, "with -format other than text: write the snapshot and post the reports too (an export writes and posts nothing)")
	fs.Func("fail-on", "exit 4 when an active finding is at or above this `severity` (low, medium, high, critical): a CI gate", func(v string) error {
		sev, err := audit.ParseSeverity(v)
		o.failOn = sev
		return err
	})
	fs.BoolVar(&o.checkConfig, "check-config", false, "validate the config and the environment (secrets, credentials) and exit, with no call")
	fs.BoolVar(&o.preflight, "preflight", false, "check that the account, the store and the destinations do what the audit relies on, and exit: one row per check (with -format json: as JSON); posts and writes no report")
	fs.StringVar(&o.webhookPing, "webhook-ping", "", "post one signed webhook.ping to the JSON webhook of this `name` (webhooks[].name), print what it answered, and exit: 0 on a 2xx answer, 1 otherwise")
	fs.BoolVar(&o.preflightPost, "preflight-post", false, "with -preflight: also post one short message to each Slack incoming webhook (they cannot be checked otherwise)")
	fs.Func("log-level", "log at this `level` and above: debug, info (default), warn, error", func(v string) error {
		return o.logLevel.UnmarshalText([]byte(v))
	})

	fail := func(format string, args ...any) (options, int, bool) {
		fmt.Fprintf(stderr, "livy-token-audit: "+format+"\n", args...)
		return o, exitUsage, false
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, exitOK, false
		}
		return o, exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "livy-token-audit: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return o, exitUsage, false
	}
	if err := checkModes(fs, &o); err != nil {
		return fail("%v", err)
	}
	if o.webhookPing != "" {
		return o, exitOK, true
	}
	if o.preflight || o.preflightPost {
		if err := checkPreflightFlags(fs, o); err != nil {
			return fail("%v", err)
		}
		return o, exitOK, true
	}
	if slackJSON {
		if o.format != "text" && o.format != "slack" {
			return fail("-slack-json is -format slack; it cannot go with -format %s", o.format)
		}
		o.format = "slack"
	}
	if !slices.Contains(formats, o.format) {
		return fail("-format %q: want one of %s", o.format, strings.Join(formats, ", "))
	}
	switch {
	case o.post && o.format == "text":
		return fail("-post goes with -format (a text run writes and posts already)")
	case o.post && o.dryRun:
		return fail("-post and -dry-run contradict each other")
	case o.format != "text" && !o.post:
		// An export writes and posts nothing, unless -post says so:
		// `-format csv > tokens.csv` must not post to Slack.
		o.export = !o.dryRun // an explicit -dry-run says so itself
		o.dryRun = true
	}
	if o.timeout <= 0 {
		return fail("-timeout %s must be more than 0", o.timeout)
	}
	if nowFlag != "" {
		t, err := parseNow(nowFlag, clock)
		if err != nil {
			return fail("%v", err)
		}
		o.now = t
	}
	o.narrow = audit.Narrowing{Accounts: accounts, Regions: regions, Workspaces: workspaces}
	for _, g := range gateway {
		ref, err := parseGatewayFlag(g, accounts)
		if err != nil {
			return fail("-gateway %q: %v", audit.Truncate(g, 200), err)
		}
		o.narrow.Gateways = append(o.narrow.Gateways, ref)
	}
	return o, exitOK, true
}

// parseNow reads -now. As for events, a run dated ahead of the clock would
// write a snapshot that every later run compares against as "previous".
func parseNow(v string, clock time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	switch {
	case err != nil:
		return t, fmt.Errorf("-now %q is not an RFC 3339 time like 2026-11-27T09:00:00Z", v)
	case t.Before(minAuditTime):
		return t, fmt.Errorf("-now %s is before 2000: not an audit time", t.UTC().Format(time.RFC3339))
	case t.After(clock.Add(maxFutureSkew)):
		return t, fmt.Errorf("-now %s is ahead of the clock (%s): audits are never dated in the future", t.Format(time.RFC3339), clock.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// checkModes refuses the flags that -event and -demo do not take: -event
// serves the event as the function would (the event says what to audit),
// and -demo has its own config. Exploring the demo's outputs does not move
// its story: only a run that writes (text, the default) advances it by a
// day, so any other format is a dry run.
func checkModes(fs *flag.FlagSet, o *options) error {
	set := func(except ...string) []string {
		var out []string
		fs.Visit(func(f *flag.Flag) {
			if !slices.Contains(except, f.Name) {
				out = append(out, "-"+f.Name)
			}
		})
		return out
	}
	if other := set("event", "config", "timeout"); o.event != "" && len(other) > 0 {
		return fmt.Errorf("-event serves the event as the function would: the event says what to audit, not %s", strings.Join(other, ", "))
	}
	if other := set("webhook-ping", "config", "timeout", "log-level"); o.webhookPing != "" && len(other) > 0 {
		return fmt.Errorf("-webhook-ping runs on its own (with -config, -timeout): not with %s", strings.Join(other, ", "))
	}
	if o.demo && slices.Contains(set(), "-config") {
		return errors.New("-demo audits the embedded emulator with its own config (testdata/demo/audit.yaml): -config cannot go with it")
	}
	if o.actions && (!o.demo || o.format != "text" || o.dryRun) {
		return errors.New("-actions goes with -demo alone (a run that writes, so that the next one applies the click); the function serves actions through its HTTP trigger (docs/actions.md)")
	}
	return nil
}

// parseGatewayFlag reads [ACCOUNT:]REGION/WORKSPACE/GATEWAY. Without an
// account, the gateway is in the one -account given, else the run's own.
func parseGatewayFlag(v string, accounts []string) (audit.GatewayRef, error) {
	var ref audit.GatewayRef
	if acct, rest, ok := strings.Cut(v, ":"); ok {
		ref.AccountID, v = acct, rest
	} else if len(accounts) == 1 {
		ref.AccountID = accounts[0]
	}
	parts := strings.Split(v, "/")
	if len(parts) != 3 || slices.Contains(parts, "") {
		return ref, errors.New("want REGION/WORKSPACE/GATEWAY, like cn-hangzhou/w-8adde60aa809701f/lc-zm4dzdiubu73w2yx")
	}
	ref.Region, ref.WorkspaceID, ref.GatewayID = parts[0], parts[1], parts[2]
	return ref, nil
}

// session is a run set up: its config, runner, scope and time.
type session struct {
	cfg      *config.Config
	runner   *auditrun.Runner
	dest     string // the Slack destinations ("" when none is configured)
	accounts []fleet.Account
	now      time.Time
	kind     string
	demo     *demo
	// buttons are the Slack messages' buttons (nil when the actions are
	// off), for the messages the CLI prints.
	buttons *slack.Buttons
	getenv  func(string) string
}

func (s *session) close() {
	if s.demo != nil {
		s.demo.Close()
	}
}

// setUp loads the config (or starts the demo), wires the runner and
// narrows the scope. It makes no audit call: a bad config, or a scope
// outside it, is refused with exitUsage before any.
func setUp(ctx context.Context, o options, getenv func(string) string, log *slog.Logger) (s *session, code int, err error) {
	s = &session{kind: "cli", now: o.now}
	var cred credentials.Credential
	if o.demo {
		s.kind = "demo"
		if s.demo, err = startDemo(ctx, log); err != nil {
			return nil, exitFailed, fmt.Errorf("demo: %w", err)
		}
		s.cfg, cred = s.demo.cfg, s.demo.cred
		if s.now.IsZero() {
			s.now = s.demo.nextTime(ctx)
		}
		s.demo.setClock(s.now)
		s.demo.replayRetired(ctx)
		getenv = s.demo.env(getenv, o.actions)
		if getenv("SLACK_BOT_TOKEN") == "" && slackSecret(s.cfg, getenv) {
			// Owners' direct messages need a bot: posting to a webhook, the
			// demo previews nobody's.
			s.cfg.Slack.Owners.Enabled = false
		}
	} else {
		if o.config == "" {
			return nil, exitUsage, errors.New("no config: pass -config FILE or set AUDIT_CONFIG (or try -demo)")
		}
		if s.cfg, err = config.Load(o.config); err != nil {
			return nil, exitUsage, err
		}
		// The scope is checked before the credentials: it needs no call.
		if !o.narrow.Empty() {
			if _, err := audit.Narrow(s.cfg.AuditAccounts(), o.narrow); err != nil {
				return nil, exitUsage, fmt.Errorf("scope: %w", err)
			}
		}
		if cred, err = defaultCredential(getenv); err != nil {
			return nil, exitUsage, err
		}
	}
	if s.now.IsZero() {
		s.now = wallClock()
	}
	fail := func(code int, err error) (*session, int, error) {
		s.close()
		return nil, code, err
	}
	if s.runner, s.dest, err = newRunner(s.cfg, cred, getenv, log, wallClock); err != nil {
		return fail(exitFailed, err)
	}
	if s.demo != nil {
		if err := s.demo.demoRetirer(s.runner, !slackSecret(s.cfg, getenv)); err != nil {
			return fail(exitFailed, err)
		}
	}
	s.buttons = slackButtons(s.cfg, getenv, slog.New(slog.DiscardHandler))
	s.getenv = getenv
	if !o.narrow.Empty() {
		if s.accounts, err = fleet.Narrow(s.runner.Accounts, o.narrow); err != nil {
			return fail(exitUsage, fmt.Errorf("scope: %w", err))
		}
		if audit.Whole(fleet.Identities(s.accounts), fleet.Identities(s.runner.Accounts)) {
			s.accounts = nil // the whole configured scope: a full run
		}
	}
	return s, exitOK, nil
}

// report prints the outcome of a run and maps it to an exit status. The
// chosen format goes to stdout; with any format but text, the human
// summary goes to stderr.
func report(o options, s *session, res *auditrun.Result, runErr error, stdout, stderr io.Writer, log *slog.Logger) int {
	if nf := (*auditrun.NotFoundError)(nil); errors.As(runErr, &nf) {
		fmt.Fprintf(stderr, "livy-token-audit: %v\n", runErr)
		return exitUsage
	}
	if res == nil || res.Snapshot == nil {
		fmt.Fprintf(stderr, "livy-token-audit: %v\n", runErr)
		return exitFailed
	}
	snap := res.Snapshot
	human := stdout
	if o.format != "text" {
		human = stderr
	}
	if err := writeSummary(human, o, s, res); err != nil {
		fmt.Fprintf(stderr, "livy-token-audit: write summary: %v\n", err)
		return exitFailed
	}
	var err error
	switch o.format {
	case "json":
		err = snap.Write(stdout)
	case "ndjson":
		err = notify.WriteNDJSON(stdout, snap)
	case "csv":
		err = notify.WriteCSV(stdout, snap)
	case "slack":
		err = writeSlackJSON(stdout, snap, res, s.cfg, s.buttons)
	case "openmetrics":
		err = metrics.WriteOpenMetrics(stdout, metrics.Of(snap))
	case "ocsf":
		err = notify.WriteOCSF(stdout, notify.NewDigest(snap, res.Locations()))
	case "retire":
		err = writeRetireSchedule(stdout, snap)
	}
	if err != nil {
		fmt.Fprintf(stderr, "livy-token-audit: write %s: %v\n", o.format, err)
		return exitFailed
	}
	if runErr != nil {
		log.Error("audit incomplete", "run_id", snap.RunID, "error", runErr)
		fmt.Fprintf(stderr, "livy-token-audit: %v\n", runErr)
		return exitFailed
	}
	if s.demo != nil && res.PageLocation != "" && res.Written {
		fmt.Fprintf(human, "Demo: the report page is %s: open it in a browser.\n", res.PageLocation)
	}
	if s.demo != nil && res.Written && !o.dryRun {
		fmt.Fprintf(human, "Demo: the ticket receiver (webhook tickets, mode: events) logs each post, its Standard Webhooks headers and whether they verified, in %s.\n", s.demo.ticketsLog())
	}
	if n := atOrAbove(snap, o.failOn); o.failOn > 0 && n > 0 {
		fmt.Fprintf(human, "-fail-on %s: %s at or above %s: exit %d\n", o.failOn, audit.Plural(n, "active finding"), o.failOn, exitFindings)
		return exitFindings
	}
	if !res.Partial() {
		return exitOK
	}
	if s.demo != nil && s.demo.staged(snap) {
		fmt.Fprintln(human, "Demo: the failures above are staged by the emulator (testdata/demo/world.json) to show how they are reported; a real run with them would exit 3 (partial).")
		return exitOK
	}
	return exitPartial
}

// atOrAbove counts the active findings of s at or above sev.
func atOrAbove(s *audit.Snapshot, sev audit.Severity) int {
	n := 0
	for _, g := range s.Gateways {
		for _, t := range g.Tokens {
			for _, f := range t.Findings {
				if f.Severity >= sev {
					n++
				}
			}
		}
	}
	return n
}

// checkConfig is -check-config: the config is loaded and validated, the
// scope flags checked against it, and the environment read — which
// destinations have their secrets, whether credentials are there — with no
// call. Exit 0 when all is well, 2 when something is not.
func checkConfig(o options, getenv func(string) string, stdout, stderr io.Writer) int {
	if o.config == "" {
		fmt.Fprintln(stderr, "livy-token-audit: -check-config needs a config: pass -config FILE or set AUDIT_CONFIG")
		return exitUsage
	}
	cfg, err := config.Load(o.config)
	if err != nil {
		fmt.Fprintf(stderr, "livy-token-audit: %v\n", err)
		return exitUsage
	}
	var problems []string
	if !o.narrow.Empty() {
		if _, err := audit.Narrow(cfg.AuditAccounts(), o.narrow); err != nil {
			problems = append(problems, "scope: "+err.Error())
		}
	}
	problems = append(problems, missingSecrets(cfg, getenv)...)
	if _, _, err := newRouter(cfg, getenv, slog.New(slog.DiscardHandler)); err != nil {
		problems = append(problems, err.Error())
	}
	if _, err := defaultCredential(getenv); err != nil {
		problems = append(problems, err.Error())
	}
	accounts := cfg.AuditAccounts()
	fmt.Fprintf(stdout, "Config %s: valid · %s · snapshots to %s\n", o.config, audit.Plural(len(accounts), "account"), snapshotPlace(cfg))
	for _, p := range slices.Compact(problems) {
		fmt.Fprintf(stdout, "PROBLEM: %s\n", p)
	}
	if len(problems) > 0 {
		return exitUsage
	}
	fmt.Fprintln(stdout, "Environment: every destination the config names has its secrets; credentials found. Nothing was called.")
	return exitOK
}

// snapshotPlace says where a config keeps its snapshots.
func snapshotPlace(cfg *config.Config) string {
	if o := cfg.Snapshot.OSS; o != nil {
		return "oss://" + o.Bucket + "/" + o.Prefix
	}
	return cfg.Snapshot.Dir
}

// writeSummary writes the human summary: the report as text, what was
// written, and what was posted (or the messages that would be).
func writeSummary(w io.Writer, o options, s *session, res *auditrun.Result) error {
	loc := res.Location
	if o.dryRun {
		loc = "not written (dry run; it would be " + res.Location + ")"
		if o.export {
			loc = "not written (an export; with -post it would be " + res.Location + ")"
		}
	}
	if err := notify.WriteText(w, notify.NewDigest(res.Snapshot, res.Locations()), loc); err != nil {
		return err
	}
	if res.PageLocation != "" && !o.dryRun && res.Written {
		fmt.Fprintf(w, "Report: %s\n", res.PageLocation)
	}
	writeWritten(w, o, res)
	writeRunNotes(w, res)
	if s.dest != "" && !o.dryRun {
		for _, d := range res.Deliveries {
			fmt.Fprintf(w, "%s: %s: %s", sinkLabel(d.Destination), d.Destination, d.Status)
			if d.Detail != "" {
				fmt.Fprintf(w, " (%s)", d.Detail)
			}
			fmt.Fprintln(w)
		}
		if len(res.Deliveries) == 0 && res.NotifySkipped != "" {
			fmt.Fprintf(w, "Slack: not posted: %s\n", res.NotifySkipped)
		}
		if slackSecret(s.cfg, s.getenv) {
			return nil
		}
		// Only JSON webhooks post: the Slack messages are previewed.
	}
	if o.format == "slack" {
		return nil // the messages are on stdout
	}
	why := "no SLACK_WEBHOOK_URL or SLACK_BOT_TOKEN set"
	if o.dryRun {
		why = "dry run"
	}
	plans := previewPlan(res, s.cfg, s.buttons)
	if len(plans) > 0 {
		fmt.Fprintln(w)
	}
	for _, p := range plans {
		note := why
		if p.Skip != "" {
			note += "; it would not be posted anyway: " + p.Skip
		}
		if o.actions { // the demo serves this message's buttons: it is shown whole
			fmt.Fprintf(w, "--- Slack message to %s (not posted: %s) ---\n%s\n", p.Label, note, p.Message.PlainText())
			continue
		}
		fmt.Fprintf(w, "Slack message to %s (not posted: %s): %q, %s\n", p.Label, note, p.Message.Title(), audit.Plural(len(p.Message.Blocks), "block"))
	}
	if len(plans) > 0 {
		fmt.Fprintln(w, "(-format slack prints the messages whole, in Block Kit)")
	}
	return nil
}

// writeWritten says what the run wrote, or would write: the snapshot,
// latest.json and the baseline (or why they did not move).
func writeWritten(w io.Writer, o options, res *auditrun.Result) {
	switch {
	case o.dryRun:
		written := []string{res.Location}
		if res.PageKey != "" {
			written = append(written, res.PageLocation)
		}
		if res.WouldMoveLatest {
			written = append(written, audit.LatestKey, audit.BaselineKey, audit.HistoryKey)
			if res.PageKey != "" {
				written = append(written, auditrun.LatestPageKey)
			}
		}
		if o.export {
			fmt.Fprintf(w, "\nExport (-format %s): nothing written or posted. With -post it would write %s, and post.\n", o.format, strings.Join(written, ", "))
		} else {
			fmt.Fprintf(w, "\nDry run: nothing written. Would write %s.\n", strings.Join(written, ", "))
		}
	case res.MovedLatest:
		fmt.Fprintf(w, "(%s updated)\n", audit.LatestKey)
		if res.HistoryHeld != "" {
			fmt.Fprintf(w, "(%s not moved: %s)\n", audit.HistoryKey, res.HistoryHeld)
		}
	case res.BaselineHeld != "" && res.Written:
		fmt.Fprintf(w, "(%s not moved: %s)\n", audit.LatestKey, res.BaselineHeld)
	}
}

// writeRunNotes says what became of the run's figures (CloudMonitor) and
// of its notices of deletion (actions.retire).
func writeRunNotes(w io.Writer, res *auditrun.Result) {
	switch {
	case res.MetricsSent:
		fmt.Fprintln(w, "CloudMonitor: the run's figures reported")
	case res.MetricsError != "":
		fmt.Fprintf(w, "CloudMonitor: not reported (%s); the audit is not failed for it\n", res.MetricsError)
	}
	if n := len(res.RetireUntold); n > 0 {
		names := res.RetireUntold[:min(n, 10)]
		more := ""
		if n > len(names) {
			more = fmt.Sprintf(" and %d more", n-len(names))
		}
		fmt.Fprintf(w, "Retire: the notice of deletion of %s reached no destination (%s%s): the next run tells it again, and the deletion waits for it\n",
			audit.Plural(n, "token"), strings.Join(names, ", "), more)
	}
}

// writeSlackJSON writes the Slack messages as a JSON array of
// {destination, skip, message}, message in Block Kit as posted.
func writeSlackJSON(w io.Writer, s *audit.Snapshot, res *auditrun.Result, cfg *config.Config, buttons *slack.Buttons) error {
	type planned struct {
		Destination string        `json:"destination"`
		Skip        string        `json:"skip,omitempty"`
		Message     slack.Message `json:"message"`
	}
	out := []planned{}
	for _, p := range previewPlan(res, cfg, buttons) {
		out = append(out, planned{p.Destination, p.Skip, p.Message})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// defaultCredential is credentials-go's default chain: environment
// variables, profile, instance role, OIDC. The environment is read through
// getenv (the process's, but for tests), as the chain's first provider
// reads it: an access key pair, with ALIBABA_CLOUD_SECURITY_TOKEN an STS
// one. It checks once that some credential is there, so a missing one
// fails before any audit call.
func defaultCredential(getenv func(string) string) (credentials.Credential, error) {
	var cfg *credentials.Config // the default chain
	if id, secret := getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET"); id != "" && secret != "" {
		cfg = &credentials.Config{Type: dara.String("access_key"), AccessKeyId: dara.String(id), AccessKeySecret: dara.String(secret)}
		if tok := getenv("ALIBABA_CLOUD_SECURITY_TOKEN"); tok != "" {
			cfg.Type, cfg.SecurityToken = dara.String("sts"), dara.String(tok)
		}
	}
	cred, err := credentials.NewCredential(cfg)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if _, err := cred.GetCredential(); err != nil {
		return nil, errors.New("no Alibaba Cloud credentials found: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, configure a profile (~/.aliyun/config.json), or run with an instance or OIDC role")
	}
	return cred, nil
}

// newLogger logs text on a terminal and JSON in Function Compute.
// stagedHandler logs the demo's API failures (records with the API's code)
// as information marked staged: the demo world stages them to show how
// failures are reported. Anything else keeps its level.
type stagedHandler struct{ slog.Handler }

func (h stagedHandler) Handle(ctx context.Context, r slog.Record) error {
	api := false
	r.Attrs(func(a slog.Attr) bool {
		api = api || a.Key == "code"
		return !api
	})
	if r.Level >= slog.LevelWarn && api {
		staged := slog.NewRecord(r.Time, slog.LevelInfo, "staged by the demo: "+r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool { staged.AddAttrs(a); return true })
		r = staged
	}
	return h.Handler.Handle(ctx, r)
}

func (h stagedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return stagedHandler{h.Handler.WithAttrs(as)}
}

func (h stagedHandler) WithGroup(name string) slog.Handler {
	return stagedHandler{h.Handler.WithGroup(name)}
}

func newLogger(w io.Writer, jsonFormat bool) *slog.Logger {
	return newLoggerAt(w, jsonFormat, slog.LevelInfo)
}

// newLoggerAt logs at level and above.
func newLoggerAt(w io.Writer, jsonFormat bool, level slog.Level) *slog.Logger {
	o := &slog.HandlerOptions{Level: level}
	if jsonFormat {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
