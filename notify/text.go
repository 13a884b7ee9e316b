package notify

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode"

	"livy-token-audit/audit"
)

// WriteText writes the human-readable summary of a snapshot, as the CLI
// prints it. location says where the snapshot was (or would be) written.
// Control characters in names are replaced, so a hostile token name cannot
// drive the terminal.
func WriteText(w io.Writer, s *audit.Snapshot, location string) error {
	secs := sections(s)
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "Livy token audit · %s · %s\n", auditedAt(s.AuditedAt), s.RunID)
	if s.Verdict == audit.VerdictFailed {
		fmt.Fprintf(b, "AUDIT FAILED: %s — every gateway and listing in scope failed; nothing below is an all-clear\n", strings.TrimPrefix(failedHeadline(s), "audit failed: "))
	}
	fmt.Fprintf(b, "Coverage: %s", coverage(s))
	if n := s.Summary.Errors; n > 0 {
		fmt.Fprintf(b, " · %s failed", plural(n, "listing"))
	}
	if n := s.Summary.DataErrors; n > 0 {
		fmt.Fprintf(b, " · %s", plural(n, "unreadable time"))
	}
	if n := s.Summary.DuplicateTokens; n > 0 {
		fmt.Fprintf(b, " · %s dropped", plural(n, "duplicate token listing"))
	}
	if s.Scope.Partial {
		b.WriteString(" · ad-hoc (partial scope)")
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "Findings: %s", counts(secs))
	if s.Summary.Suppressed > 0 {
		fmt.Fprintf(b, " · %d suppressed", s.Summary.Suppressed)
	}
	b.WriteString("\n")
	if c := s.Changes; c != nil {
		switch {
		case c.Previous != nil:
			fmt.Fprintf(b, "Changes since %s: %s\n", auditedAt(c.Previous.AuditedAt), changeCounts(c))
		case c.PreviousError != "":
			fmt.Fprintf(b, "Changes: previous snapshot unusable (%s); compared as a first run\n", clean(c.PreviousError))
		default:
			b.WriteString("Changes: first run (no previous snapshot)\n")
		}
		if c.Overdue != nil {
			fmt.Fprintf(b, "WARNING: %s\n", c.Overdue.Message)
		}
	}
	for _, sec := range secs {
		fmt.Fprintf(b, "\n%s (%s) — %d\n", strings.ToUpper(string(sec.rule)), sec.severity, len(sec.items))
		for _, it := range sec.items {
			fmt.Fprintf(b, "  %s (%s) · %s%s / %s · %s · owner %s · %s\n", short(it.tok.Name), short(it.tok.TokenID),
				short(it.account), short(gatewayLabel(*it.gw)), short(workspaceLabel(*it.gw)), it.gw.Region, short(orUnknown(it.tok.CreatedBy)), it.f.Message)
		}
	}
	if fs := failures(s); len(fs) > 0 {
		fmt.Fprintf(b, "\nNOT AUDITED — %d\n", len(fs))
		for _, f := range fs {
			rid := ""
			if f.requestID != "" {
				rid = " (request id " + f.requestID + ")"
			}
			fmt.Fprintf(b, "  %s: %s: %s%s\n", clean(f.where), clean(f.code), clean(f.message), rid)
		}
	}
	if ls := lapsed(s); len(ls) > 0 {
		fmt.Fprintf(b, "\nLAPSED SUPPRESSIONS — %d (no longer applied; renew or remove them)\n", len(ls))
		for _, sup := range ls {
			fmt.Fprintf(b, "  %s: %s\n", clean(suppressionLabel(sup)), clean(sup.Reason))
		}
	}
	fmt.Fprintf(b, "\nSnapshot: %s\n", location)
	return b.Flush()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// short cleans a name and cuts it for a terminal line.
func short(s string) string { return clean(audit.Truncate(s, maxNameChars)) }

// clean replaces control characters (escape sequences, newlines).
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '�'
		}
		return r
	}, s)
}
