package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit/config"
	"livy-token-audit/audit/preflight"
)

// checkPreflightFlags refuses what -preflight does not take: it audits
// nothing, so it takes no scope, time or output but text and json.
func checkPreflightFlags(fs *flag.FlagSet, o options) error {
	if o.preflightPost && !o.preflight {
		return errors.New("-preflight-post goes with -preflight")
	}
	var other []string
	fs.Visit(func(f *flag.Flag) {
		if !slices.Contains([]string{"preflight", "preflight-post", "config", "demo", "format", "timeout", "log-level"}, f.Name) {
			other = append(other, "-"+f.Name)
		}
	})
	if len(other) > 0 {
		return fmt.Errorf("-preflight checks the deployment and audits nothing: it takes -config (or -demo), -format text|json, -timeout, -log-level and -preflight-post, not %s", strings.Join(other, ", "))
	}
	if o.format != "text" && o.format != "json" {
		return fmt.Errorf("-preflight -format %q: want text or json", o.format)
	}
	return nil
}

// preflightCLI runs the preflight and prints its rows: exit 0 when every
// configured check is ok, 1 when one fails, 2 for a bad config.
func preflightCLI(ctx context.Context, o options, getenv func(string) string, stdout, stderr io.Writer) int {
	log := newLoggerAt(stderr, false, o.logLevel)
	p := preflightRun{getenv: getenv, post: o.preflightPost, log: log}
	name := o.config
	var d *demo
	if o.demo {
		var err error
		if d, err = startPreflightDemo(ctx, log); err != nil {
			fmt.Fprintf(stderr, "livy-token-audit: demo: %v\n", err)
			return exitFailed
		}
		defer d.Close()
		p.cfg, p.cred, p.getenv, name = d.cfg, d.cred, d.preflightEnv(getenv), "the demo's config"
	} else {
		if o.config == "" {
			fmt.Fprintln(stderr, "livy-token-audit: -preflight needs a config: pass -config FILE or set AUDIT_CONFIG (or try -demo)")
			return exitUsage
		}
		cfg, err := config.Load(o.config)
		if err != nil {
			fmt.Fprintf(stderr, "livy-token-audit: %v\n", err)
			return exitUsage
		}
		p.cfg = cfg
		var cred credentials.Credential
		if cred, p.credOK = defaultCredential(getenv); p.credOK == nil {
			p.cred = cred
		}
	}
	p.runID = preflightRunID(wallClock())
	rows := runPreflight(ctx, p)
	if d != nil {
		d.markStaged(rows)
	}
	failed, staged := preflight.Failures(rows)
	var err error
	if o.format == "json" {
		err = preflight.WriteJSON(stdout, rows)
	} else {
		fmt.Fprintf(stdout, "Preflight of %s (%s): what the audit relies on, checked against the real thing\n\n", name, p.runID)
		err = preflight.WriteTable(stdout, rows)
		fmt.Fprintf(stdout, "\n%s.\n", preflight.Summary(rows))
		fmt.Fprintf(stdout, "Nothing was posted%s, no snapshot written, nothing deleted; the store holds two probes under preflight/ (%s).\n", postedNote(p.post), p.runID)
		if staged > 0 {
			fmt.Fprintln(stdout, "Demo: the failure marked staged is the demo's on purpose (its Slack stand-in's bot lacks a scope), to show how a failure reads; the demo exits 0.")
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "livy-token-audit: write: %v\n", err)
		return exitFailed
	}
	if failed > 0 {
		return exitFailed
	}
	return exitOK
}

func postedNote(post bool) string {
	if post {
		return " but one short message to each Slack webhook"
	}
	return ""
}
