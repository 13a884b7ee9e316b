package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/config"
	"livy-token-audit/audit/safehttp"
	"livy-token-audit/notify"
)

// writeRetireSchedule writes -format retire: the schedule of
// actions.retire as this run sees it — each standing mark, the day its
// token would be deleted and why, the notices told — and what the run did
// or would do with them (an export only looks: nothing is marked or
// deleted).
func writeRetireSchedule(w io.Writer, s *audit.Snapshot) error {
	b := bufio.NewWriter(w)
	r := s.Retire
	if r == nil {
		fmt.Fprintln(b, "actions.retire is off: no token is marked or deleted (set actions.retire.enabled: true)")
		return b.Flush()
	}
	fmt.Fprintf(b, "Retire schedule · %s · rules %s · after %s · notices %s · at most %d per run\n", notify.AuditedAt(s.AuditedAt),
		joinRules(r.Rules), r.After, strings.Join(r.Notices, ", "), r.MaxPerRun)
	if !r.Acted {
		fmt.Fprintln(b, "(this run only looks: nothing is marked, told or deleted)")
	}
	due := map[string]string{}
	for _, e := range r.Due {
		due[e.Key()] = e.Error
	}
	if len(r.Scheduled) == 0 {
		fmt.Fprintln(b, "\nNothing is scheduled for deletion.")
	} else {
		fmt.Fprintf(b, "\nSCHEDULED — %d (the soonest first)\n", len(r.Scheduled))
		for _, e := range r.Scheduled {
			when := "deleted on " + notify.RetireDate(e.DeleteOn)
			if msg, ok := due[e.Key()]; ok {
				when = "due now"
				if msg != "" {
					when += " (" + msg + ")"
				}
			}
			fmt.Fprintf(b, "  %s · %s (%s) · %s / %s / %s · %s since %s · created by %s · %s · told: %s\n", notify.RetireDate(e.DeleteOn),
				notify.Short(e.Name), notify.Short(e.TokenID), e.Region, notify.Short(e.WorkspaceID), notify.Short(e.GatewayID), e.Rule, notify.RetireDate(e.MarkedAt),
				notify.Short(notify.OrUnknown(e.CreatedBy)), when, strings.Join(e.Notices, ", "))
		}
	}
	for _, l := range []struct {
		title string
		list  []audit.RetireEntry
	}{{"RETIRED IN THIS RUN", r.Retired}, {"ENDED IN THIS RUN", r.Ended}} {
		if len(l.list) == 0 {
			continue
		}
		fmt.Fprintf(b, "\n%s — %d\n", l.title, len(l.list))
		for _, e := range l.list {
			fmt.Fprintf(b, "  %s (%s) · %s · %s\n", notify.Short(e.Name), notify.Short(e.TokenID), e.Rule, notify.Clean(notify.RetireItem{RetireEntry: e}.EndText()))
		}
	}
	if r.Held != "" {
		fmt.Fprintf(b, "\nHELD: %s\n", notify.Clean(r.Held))
	}
	for _, e := range r.Errors {
		fmt.Fprintf(b, "  %s\n", notify.Clean(e))
	}
	fmt.Fprintln(b, "\nA snooze or \"I own this\" from Slack, an acknowledgement, a suppression, or the finding resolving cancels a mark.")
	return b.Flush()
}

func joinRules(rs []audit.Rule) string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r))
	}
	return strings.Join(out, ", ")
}

// webhookPingCLI posts one signed webhook.ping to the JSON webhook named
// by -webhook-ping, as the preflight does, and says what it answered.
func webhookPingCLI(ctx context.Context, o options, getenv func(string) string, stdout, stderr io.Writer) int {
	if o.config == "" {
		fmt.Fprintln(stderr, "livy-token-audit: -webhook-ping needs a config: pass -config FILE or set AUDIT_CONFIG")
		return exitUsage
	}
	cfg, err := config.Load(o.config)
	if err != nil {
		fmt.Fprintf(stderr, "livy-token-audit: %v\n", err)
		return exitUsage
	}
	var names []string
	for _, wc := range cfg.Webhooks {
		names = append(names, wc.Name)
		if wc.Name != o.webhookPing {
			continue
		}
		w, err := newWebhook(wc, getenv, slog.New(slog.DiscardHandler))
		if err != nil {
			fmt.Fprintf(stderr, "livy-token-audit: webhook %s: %v\n", wc.Name, err)
			return exitUsage
		}
		runID := preflightRunID(wallClock())
		start := time.Now()
		err = w.Ping(ctx, tool(), runID)
		var se *safehttp.StatusError
		switch {
		case err == nil:
			fmt.Fprintf(stdout, "webhook %s: the receiver answered 2xx to a signed webhook.ping (run %s, %s)\n", wc.Name, runID, time.Since(start).Round(time.Millisecond))
			return exitOK
		case errors.As(err, &se):
			fmt.Fprintf(stdout, "webhook %s: the receiver answered HTTP %d: check that it verifies with %s's secret and takes webhook.ping\n", wc.Name, se.Status, wc.SecretEnv)
		default:
			fmt.Fprintf(stdout, "webhook %s: %v\n", wc.Name, err)
		}
		return exitFailed
	}
	fmt.Fprintf(stderr, "livy-token-audit: -webhook-ping %q: no such webhook in %s (webhooks: %s)\n", o.webhookPing, o.config, strings.Join(names, ", "))
	return exitUsage
}
