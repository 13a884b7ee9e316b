package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/notify"
	"livy-token-audit/notify/slack"
)

// Exit statuses of the CLI (a contract: scripts depend on them).
const (
	exitOK      = 0 // audit complete
	exitFailed  = 1 // the audit could not run, or its snapshot or report could not be delivered
	exitUsage   = 2 // bad flags or bad config
	exitPartial = 3 // complete, but some gateways could not be audited
)

const usage = `usage: livy-token-audit [-config FILE] [-now RFC3339] [-timeout DURATION] [-dry-run] [-slack-json]
       livy-token-audit -demo [-now RFC3339] [-dry-run] [-slack-json]

Audits the Livy Gateway tokens of EMR Serverless Spark and writes a snapshot.
Exit status: 0 complete, 1 could not run or deliver (or audited nothing),
2 bad flags or config, 3 complete but some gateways could not be audited.

`

// run is the CLI: it parses flags, runs one audit and maps the outcome to an
// exit status. The demo is the same run against an embedded emulator.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("livy-token-audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	configPath := fs.String("config", getenv("AUDIT_CONFIG"), "config `file` (default $AUDIT_CONFIG)")
	nowFlag := fs.String("now", "", "audit as of this RFC 3339 `time` (default: the clock)")
	dryRun := fs.Bool("dry-run", false, "write and post nothing; print what would be written")
	demo := fs.Bool("demo", false, "audit the embedded emulator (no account needed)")
	slackJSON := fs.Bool("slack-json", false, "print the Slack message as Block Kit JSON when it is not posted")
	timeout := fs.Duration("timeout", 10*time.Minute, "stop the run after this `duration` (api.deadlineReserve of it is kept for writing and posting)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "livy-token-audit: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "livy-token-audit: -timeout %s must be more than 0\n", *timeout)
		return exitUsage
	}
	log := newLogger(stderr, false)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	var now time.Time
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			fmt.Fprintf(stderr, "livy-token-audit: -now %q is not an RFC 3339 time like 2026-11-27T09:00:00Z\n", *nowFlag)
			return exitUsage
		}
		now = t
	}

	var (
		cfg  *audit.Config
		cred credentials.Credential
		kind = "cli"
		err  error
	)
	if *demo {
		kind = "demo"
		d, err := startDemo(ctx, log)
		if err != nil {
			fmt.Fprintf(stderr, "livy-token-audit: demo: %v\n", err)
			return exitFailed
		}
		defer d.Close()
		cfg, cred = d.cfg, d.cred
		if now.IsZero() {
			now = d.nextTime(ctx)
		}
		d.setClock(now)
		getenv = d.env(getenv)
	} else {
		if *configPath == "" {
			fmt.Fprintln(stderr, "livy-token-audit: no config: pass -config FILE or set AUDIT_CONFIG (or try -demo)")
			return exitUsage
		}
		cfg, err = audit.LoadConfig(*configPath)
		if err != nil {
			fmt.Fprintf(stderr, "livy-token-audit: %v\n", err)
			return exitUsage
		}
		cred, err = defaultCredential()
		if err != nil {
			fmt.Fprintf(stderr, "livy-token-audit: %v\n", err)
			return exitFailed
		}
	}
	if now.IsZero() {
		now = time.Now()
	}

	runner, dest, err := newRunner(cfg, cred, getenv, log)
	if err != nil {
		fmt.Fprintf(stderr, "livy-token-audit: %v\n", err)
		return exitFailed
	}
	res, err := runner.Run(ctx, audit.RunOptions{
		Now: now, Trigger: audit.Trigger{Kind: kind, DryRun: *dryRun}, DryRun: *dryRun, Notify: true,
	})
	if res == nil || res.Snapshot == nil {
		fmt.Fprintf(stderr, "livy-token-audit: %v\n", err)
		return exitFailed
	}
	if werr := notify.WriteText(stdout, res.Snapshot, res.Location); werr != nil {
		return exitFailed
	}
	switch {
	case *dryRun:
		fmt.Fprintf(stdout, "\nDry run: nothing written. Would write %s", res.Location)
		if !res.Snapshot.Scope.Partial {
			fmt.Fprintf(stdout, " and %s", audit.LatestKey)
		}
		fmt.Fprint(stdout, ":\n")
		if err := res.Snapshot.Write(stdout); err != nil {
			return exitFailed
		}
	case res.MovedLatest:
		fmt.Fprintf(stdout, "(%s updated)\n", audit.LatestKey)
	case res.BaselineHeld != "" && res.Written:
		fmt.Fprintf(stdout, "(%s not moved: %s)\n", audit.LatestKey, res.BaselineHeld)
	}
	if dest == "" || *dryRun {
		printSlack(stdout, res.Snapshot, res.Location, cfg, *slackJSON, *dryRun)
	} else {
		for _, d := range res.Deliveries {
			fmt.Fprintf(stdout, "Slack: %s: %s", d.Destination, d.Status)
			if d.Detail != "" {
				fmt.Fprintf(stdout, " (%s)", d.Detail)
			}
			fmt.Fprintln(stdout)
		}
		if len(res.Deliveries) == 0 && res.NotifySkipped != "" {
			fmt.Fprintf(stdout, "Slack: not posted: %s\n", res.NotifySkipped)
		}
	}
	if err != nil {
		log.Error("audit incomplete", "run_id", res.Snapshot.RunID, "error", err)
		fmt.Fprintf(stderr, "livy-token-audit: %v\n", err)
		return exitFailed
	}
	if res.Partial() {
		return exitPartial
	}
	return exitOK
}

// printSlack shows the Slack messages that would be posted — the main
// report, each route's, each owner's — as readable text, or as Block Kit
// JSON with -slack-json.
func printSlack(w io.Writer, s *audit.Snapshot, location string, cfg *audit.Config, asJSON, dryRun bool) {
	plans := (&slack.Notifier{Config: cfg.Slack, Preview: true}).Plan(s, location)
	why := "no SLACK_WEBHOOK_URL or SLACK_BOT_TOKEN set"
	if dryRun {
		why = "dry run"
	}
	if asJSON {
		type planned struct {
			Destination string        `json:"destination"`
			Skip        string        `json:"skip,omitempty"`
			Message     slack.Message `json:"message"`
		}
		out := []planned{}
		for _, p := range plans {
			out = append(out, planned{p.Destination, p.Skip, p.Message})
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintf(w, "\nSlack messages (not posted: %s):\n%s\n", why, b)
		return
	}
	for _, p := range plans {
		label := ""
		if len(plans) > 1 {
			label = " to " + p.Label
		}
		note := why
		if p.Skip != "" {
			note += "; it would not be posted anyway: " + p.Skip
		}
		fmt.Fprintf(w, "\n--- Slack message%s (not posted: %s) ---\n%s", label, note, p.Message.PlainText())
	}
}

// defaultCredential is credentials-go's default chain: environment
// variables, profile, instance role, OIDC. It checks once that some
// credential is there, so a missing one fails before any audit call.
func defaultCredential() (credentials.Credential, error) {
	cred, err := credentials.NewCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if _, err := cred.GetCredential(); err != nil {
		return nil, errors.New("no Alibaba Cloud credentials found: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, configure a profile (~/.aliyun/config.json), or run with an instance or OIDC role")
	}
	return cred, nil
}

// newLogger logs text on a terminal and JSON in Function Compute.
func newLogger(w io.Writer, jsonFormat bool) *slog.Logger {
	if jsonFormat {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
