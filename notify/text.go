package notify

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"strings"
	"unicode"

	"livy-token-audit/audit"
)

// maxTextChanges bounds the changes the summary names.
const maxTextChanges = 20

// WriteText writes the human-readable summary of a run's digest, as the
// CLI prints it. location says where the snapshot was (or would be)
// written. Control characters in names are replaced, so a hostile token
// name cannot drive the terminal.
func WriteText(w io.Writer, d *Digest, location string) error {
	secs := d.Sections
	b := bufio.NewWriter(w)
	writeHead(b, d)
	for _, w := range d.ActionsWarnings {
		fmt.Fprintf(b, "WARNING: actions from Slack: %s\n", Clean(w))
	}
	for _, sec := range secs {
		fmt.Fprintf(b, "\n%s (%s) — %d\n", strings.ToUpper(audit.Info(sec.Rule).Title), sec.Severity, len(sec.Items))
		if sec.Rule == audit.RuleReused {
			writeReuseGroups(b, sec)
			continue
		}
		for _, it := range sec.Items {
			fmt.Fprintf(b, "  %s (%s) · %s%s / %s · %s · owner %s · %s%s\n", Short(it.Token.Name), Short(it.Token.TokenID),
				Short(it.Account), Short(GatewayLabel(*it.Gateway)), Short(WorkspaceLabel(*it.Gateway)), it.Gateway.Region, Short(OrUnknown(it.Token.CreatedBy)), it.Finding.Message,
				Clean(d.Plain(Inherited(it.Token))))
		}
	}
	writeLists(b, d)
	writeRetire(b, d)
	if d.Remediation != "" {
		fmt.Fprintf(b, "\nRemediation: %s\n", d.Remediation)
	}
	fmt.Fprintf(b, "\nSnapshot: %s\n", location)
	return b.Flush()
}

// writeRetire writes the marks for deletion the run made or noticed, the
// tokens it retired, the marks it ended, and why due ones were not
// deleted.
func writeRetire(b *bufio.Writer, d *Digest) {
	rv := d.Retire
	if rv == nil {
		return
	}
	looks := map[bool]string{false: "; this run only looks: nothing is marked or deleted", true: ""}[rv.Acted]
	line := func(e RetireItem, what string) {
		fmt.Fprintf(b, "  %s (%s) · %s / %s · %s · %s\n", Short(e.Name()), Short(e.TokenID), Short(GatewayLabel(*e.Gateway)), Short(WorkspaceLabel(*e.Gateway)),
			e.Rule, Clean(d.Plain(what)))
	}
	if len(rv.Noticed) > 0 {
		fmt.Fprintf(b, "\nSCHEDULED FOR DELETION — %d (actions.retire%s)\n", len(rv.Noticed), looks)
		for _, e := range rv.Noticed {
			line(e, e.Notice())
		}
	}
	if len(rv.Retired) > 0 {
		fmt.Fprintf(b, "\nRETIRED — %s deleted on their date\n", audit.Plural(len(rv.Retired), "token"))
		for _, e := range rv.Retired {
			line(e, "marked "+RetireDate(e.MarkedAt))
		}
	}
	if len(rv.Ended) > 0 {
		fmt.Fprintf(b, "\nDELETION CANCELLED — %d\n", len(rv.Ended))
		for _, e := range rv.Ended {
			line(e, audit.Truncate(e.EndText(), 300))
		}
	}
	if rv.Held != "" || len(rv.Errors) > 0 {
		fmt.Fprintf(b, "\nNOT RETIRED: %s\n", Clean(cmp.Or(rv.Held, "some due tokens were not deleted")))
		for _, e := range rv.Errors {
			fmt.Fprintf(b, "  %s\n", Clean(audit.Truncate(e, 500)))
		}
	}
}

// OrUnknown is s, or "unknown" for none (an owner, a creator).
func OrUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// MaxNameChars bounds a token, gateway or workspace name, or an owner, in
// a report line.
const MaxNameChars = 80

// Short cleans a name and cuts it for a terminal line.
func Short(s string) string { return Clean(audit.Truncate(s, MaxNameChars)) }

// Clean replaces control characters (escape sequences, newlines).
func Clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '�'
		}
		return r
	}, s)
}

// writeReuseGroups writes a reused section one group per line: "2 tokens
// share one secret: a (tk-1) · etl / data · cn-hangzhou; b (tk-2) · …".
func writeReuseGroups(b *bufio.Writer, sec Section) {
	for _, g := range sec.Groups {
		var members []string
		for _, it := range g.Items {
			members = append(members, fmt.Sprintf("%s (%s) · %s%s / %s · %s · owner %s", Short(it.Token.Name), Short(it.Token.TokenID),
				Short(it.Account), Short(GatewayLabel(*it.Gateway)), Short(WorkspaceLabel(*it.Gateway)), it.Gateway.Region, Short(OrUnknown(it.Token.CreatedBy))))
		}
		fmt.Fprintf(b, "  %d tokens share one secret: %s", g.Size, strings.Join(members, "; "))
		if out := g.Size - len(g.Items); out > 0 {
			fmt.Fprintf(b, " · %d outside this report", out)
		}
		b.WriteString("\n")
	}
}

// writeHead writes the summary's head: the run, the coverage, the
// findings' counts and what changed.
func writeHead(b *bufio.Writer, d *Digest) {
	s := d.Snapshot
	fmt.Fprintf(b, "Livy token audit · %s · %s\n", AuditedAt(s.AuditedAt), s.RunID)
	if s.Verdict == audit.VerdictFailed {
		fmt.Fprintf(b, "AUDIT FAILED: %s — every gateway and listing in scope failed; nothing below is an all-clear\n", strings.TrimPrefix(FailedHeadline(s), "audit failed: "))
	}
	fmt.Fprintf(b, "Coverage: %s", d.Coverage)
	if n := s.Summary.Errors; n > 0 {
		fmt.Fprintf(b, " · %s failed", audit.Plural(n, "listing"))
	}
	if n := s.Summary.DataErrors; n > 0 {
		fmt.Fprintf(b, " · %s", audit.Plural(n, "unreadable time"))
	}
	if n := s.Summary.DuplicateTokens; n > 0 {
		fmt.Fprintf(b, " · %s dropped", audit.Plural(n, "duplicate token listing"))
	}
	if n := s.Summary.SecretNotVisible; n > 0 {
		fmt.Fprintf(b, " · %s with masked values (Kyuubi: weak and reused not checked)", audit.Plural(n, "token"))
	}
	if n := s.Summary.OwnersUnknown; n > 0 {
		fmt.Fprintf(b, " · owners unknown: %d", n)
	}
	if len(s.Summary.Profiles) > 0 {
		fmt.Fprintf(b, " · profiles: %s", ProfileCounts(s.Summary.Profiles))
	}
	if s.Scope.Partial {
		b.WriteString(" · ad-hoc (partial scope)")
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "Findings: %s", d.Counts)
	if s.Summary.Suppressed > 0 {
		fmt.Fprintf(b, " · %d suppressed", s.Summary.Suppressed)
	}
	b.WriteString("\n")
	if c := s.Changes; c != nil {
		switch {
		case c.Previous != nil && c.Note != "":
			fmt.Fprintf(b, "Changes since %s, %s: %s\n", AuditedAt(c.Previous.AuditedAt), Clean(c.Note), d.ChangeCounts)
		case c.Previous != nil:
			fmt.Fprintf(b, "Changes since %s: %s\n", AuditedAt(c.Previous.AuditedAt), d.ChangeCounts)
		case c.Note != "":
			fmt.Fprintf(b, "Changes: %s\n", Clean(c.Note))
		case c.PreviousError != "":
			fmt.Fprintf(b, "Changes: previous snapshot unusable (%s); compared as a first run\n", Clean(c.PreviousError))
		default:
			b.WriteString("Changes: first run (no previous snapshot)\n")
		}
		for _, ch := range d.Changes[:min(len(d.Changes), maxTextChanges)] {
			l := ch.Text()
			if ch.Suppressed != "" {
				l += " · suppressed: " + d.Plain(ch.Suppressed)
			}
			fmt.Fprintf(b, "  %s\n", Clean(audit.Truncate(l, 300)))
		}
		if more := len(d.Changes) - maxTextChanges; more > 0 {
			fmt.Fprintf(b, "  and %d more (the snapshot's changes, the report page)\n", more)
		}
		if n := c.Counts().Unknown; n > 0 && c.Previous != nil {
			fmt.Fprintf(b, "  (%s unknown: on gateways or listings that could not be audited this run, so whether they changed is not known; they are compared again when those are)\n",
				audit.Plural(n, "finding"))
		}
		if c.Overdue != nil {
			fmt.Fprintf(b, "WARNING: %s\n", c.Overdue.Message)
		}
	}
}

// writeLists writes what is not a finding: the failures, the lapsed
// suppressions, the tokens with no owner, the escalations, the snoozes.
func writeLists(b *bufio.Writer, d *Digest) {
	if fs := d.Failures; len(fs) > 0 {
		fmt.Fprintf(b, "\nNOT AUDITED — %d\n", len(fs))
		for _, f := range fs {
			rid := ""
			if f.RequestID != "" {
				rid = " (request id " + f.RequestID + ")"
			}
			fmt.Fprintf(b, "  %s: %s: %s%s\n", Clean(f.Where), Clean(f.Code), Clean(f.Message), rid)
		}
	}
	if ls := d.Lapsed; len(ls) > 0 {
		fmt.Fprintf(b, "\nLAPSED SUPPRESSIONS — %d (no longer applied; renew or remove them)\n", len(ls))
		for _, sup := range ls {
			fmt.Fprintf(b, "  %s: %s", Clean(SuppressionLabel(sup)), Clean(d.Plain(sup.Reason)))
			if n := EndedNote(sup); n != "" {
				fmt.Fprintf(b, " (%s)", Clean(n))
			}
			b.WriteString("\n")
		}
	}
	if d.Owner == nil && len(d.NoOwner) > 0 {
		fmt.Fprintf(b, "\nNO OWNER — %d (nobody who can act was found: hand them over, or delete)\n", len(d.NoOwner))
		for _, it := range d.NoOwner {
			fmt.Fprintf(b, "  %s (%s) · %s / %s · %s\n", Short(it.Token.Name), Short(it.Token.TokenID), Short(GatewayLabel(*it.Gateway)), Short(WorkspaceLabel(*it.Gateway)),
				Clean(it.Token.Assignee.Why))
		}
	}
	if d.Owner == nil && len(d.Escalations) > 0 {
		fmt.Fprintf(b, "\nESCALATED — %d (high or critical, unanswered)\n", len(d.Escalations))
		for _, it := range d.Escalations {
			a := it.Token.Assignee
			fmt.Fprintf(b, "  %s (%s) · escalated to %s (%s)\n", Short(it.Token.Name), Short(it.Token.TokenID), Clean(d.Plain(a.Names())), Clean(d.Plain(a.Escalation)))
		}
	}
	if zs := d.Snoozed; len(zs) > 0 {
		fmt.Fprintf(b, "\nSNOOZED FROM SLACK — %d (they come back when the snooze ends)\n", len(zs))
		for _, z := range zs {
			fmt.Fprintf(b, "  %s (%s) · %s / %s · %s · %s\n", Short(z.Token.Name), Short(z.Token.TokenID), Short(GatewayLabel(*z.Gateway)), Short(WorkspaceLabel(*z.Gateway)),
				z.Suppressed.Rule, Clean(audit.Truncate(d.Plain(z.Suppressed.Reason), 300)))
		}
	}
}
