// Package notify turns a snapshot into what people read: a text summary for
// the terminal and a Slack message, and delivers the Slack message.
package notify

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"livy-token-audit/audit"
)

// item is one active finding, with where it is. account labels the
// gateway's account when the report covers more than one.
type item struct {
	gw      *audit.GatewayReport
	tok     *audit.TokenReport
	f       *audit.Finding
	account string
}

// section is one rule's findings, most urgent first.
type section struct {
	rule     audit.Rule
	severity audit.Severity
	items    []item
}

// sections groups the active findings by rule, the most severe rule first,
// and inside a rule the most urgent tokens first: the soonest expiry, the
// longest unused, the oldest never used.
func sections(s *audit.Snapshot) []section {
	by := map[audit.Rule]*section{}
	for i := range s.Gateways {
		g := &s.Gateways[i]
		account := accountLabel(s, g.AccountID, g.AccountName)
		for j := range g.Tokens {
			t := &g.Tokens[j]
			for k := range t.Findings {
				f := &t.Findings[k]
				sec, ok := by[f.Rule]
				if !ok {
					sec = &section{rule: f.Rule, severity: f.Severity}
					by[f.Rule] = sec
				}
				sec.severity = max(sec.severity, f.Severity)
				sec.items = append(sec.items, item{g, t, f, account})
			}
		}
	}
	var out []section
	for _, r := range audit.Rules {
		if sec, ok := by[r]; ok {
			slices.SortFunc(sec.items, func(a, b item) int { return urgency(r, a, b) })
			out = append(out, *sec)
		}
	}
	slices.SortStableFunc(out, func(a, b section) int { return cmp.Compare(b.severity, a.severity) })
	return out
}

func urgency(r audit.Rule, a, b item) int {
	t := func(p *time.Time) int64 {
		if p == nil {
			return 0
		}
		return p.UnixMilli()
	}
	var c int
	switch r {
	case audit.RuleExpiring:
		c = cmp.Compare(t(a.tok.ExpireTime), t(b.tok.ExpireTime))
	case audit.RuleExpired:
		c = cmp.Compare(t(b.tok.ExpireTime), t(a.tok.ExpireTime)) // just broke first
	case audit.RuleStale:
		c = cmp.Compare(t(a.tok.LastUsedTime), t(b.tok.LastUsedTime))
	case audit.RuleUnused, audit.RuleLongLived:
		c = cmp.Compare(t(a.tok.CreateTime), t(b.tok.CreateTime))
	}
	return cmp.Or(c, cmp.Compare(a.gw.Region, b.gw.Region), cmp.Compare(a.tok.Name, b.tok.Name), cmp.Compare(a.tok.TokenID, b.tok.TokenID),
		cmp.Compare(a.gw.AccountID, b.gw.AccountID), cmp.Compare(a.gw.WorkspaceID, b.gw.WorkspaceID), cmp.Compare(a.gw.GatewayID, b.gw.GatewayID))
}

// counts renders "3 expiring · 2 stale" in section order; "no findings"
// when there are none.
func counts(secs []section) string {
	var parts []string
	for _, sec := range secs {
		parts = append(parts, fmt.Sprintf("%d %s", len(sec.items), sec.rule))
	}
	if len(parts) == 0 {
		return "no findings"
	}
	return strings.Join(parts, " · ")
}

// coverage renders "4/5 gateways in 4 workspaces, 2 regions · 10 tokens".
// With more than one account: "12/13 gateways in 3 accounts, 5 regions".
func coverage(s *audit.Snapshot) string {
	ws, regions := map[string]bool{}, map[string]bool{}
	for _, g := range s.Gateways {
		ws[g.AccountID+"/"+g.Region+"/"+g.WorkspaceID] = true
		regions[g.Region] = true
	}
	for _, e := range s.Errors {
		if e.WorkspaceID != "" {
			ws[e.AccountID+"/"+e.Region+"/"+e.WorkspaceID] = true
		}
		if e.Region != "" {
			regions[e.Region] = true
		}
	}
	for _, r := range s.Scope.Regions {
		regions[r] = true
	}
	for _, a := range s.Scope.Accounts {
		for _, r := range a.Regions {
			regions[r] = true
		}
	}
	sum := s.Summary
	where := plural(len(ws), "workspace")
	if n := accounts(s); n > 1 {
		where = plural(n, "account")
	}
	return fmt.Sprintf("%d/%d gateways in %s, %s · %s", sum.Gateways-sum.GatewaysFailed, sum.Gateways,
		where, plural(len(regions), "region"), plural(sum.Tokens, "token"))
}

// accounts counts the accounts a snapshot covers: the run's own (when it
// had a scope) and each other.
func accounts(s *audit.Snapshot) int {
	n := len(s.Scope.Accounts)
	if len(s.Scope.Regions)+len(s.Scope.Gateways) > 0 {
		n++
	}
	return n
}

// accountLabel names an account in a report line when the report covers
// more than one ("analytics / "), else "".
func accountLabel(s *audit.Snapshot, id, name string) string {
	if accounts(s) < 2 {
		return ""
	}
	if id == "" {
		return "own account / "
	}
	return cmp.Or(name, id) + " / "
}

// coverageLine is the report's context line: coverage, audit time, and
// everything that keeps the audit from being whole.
func coverageLine(s *audit.Snapshot) string {
	cov := coverage(s) + " · audited " + auditedAt(s.AuditedAt)
	sum := s.Summary
	if n := sum.Errors; n > 0 {
		cov += " · " + plural(n, "listing") + " failed"
	}
	if sum.Suppressed > 0 {
		cov += fmt.Sprintf(" · %d suppressed", sum.Suppressed)
	}
	if sum.DataErrors > 0 {
		cov += " · " + plural(sum.DataErrors, "unreadable time") + " (see the snapshot)"
	}
	if sum.DuplicateTokens > 0 {
		cov += " · " + plural(sum.DuplicateTokens, "duplicate token listing") + " dropped"
	}
	if s.Scope.Partial {
		cov += " · ad-hoc audit of part of the scope"
	}
	return cov
}

// failedHeadline is "audit failed: 0/5 gateways audited".
func failedHeadline(s *audit.Snapshot) string { return "audit failed: " + s.Summary.FailedCoverage() }

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// gatewayLabel names a gateway for people: its name when known, else its ID.
func gatewayLabel(g audit.GatewayReport) string {
	return cmp.Or(g.GatewayName, g.GatewayID)
}

func workspaceLabel(g audit.GatewayReport) string {
	return cmp.Or(g.WorkspaceName, g.WorkspaceID)
}

// lapsed returns the suppressions past their until date.
func lapsed(s *audit.Snapshot) []audit.SuppressionReport {
	var out []audit.SuppressionReport
	for _, sup := range s.Suppressions {
		if sup.Lapsed {
			out = append(out, sup)
		}
	}
	return out
}

// failure is a gateway or listing that could not be audited.
type failure struct {
	where     string
	code      string
	message   string
	requestID string
}

func failures(s *audit.Snapshot) []failure {
	var out []failure
	for _, e := range s.Errors {
		acct := accountLabel(s, e.AccountID, e.AccountName)
		where := acct + e.Region + " (workspace listing)"
		switch {
		case e.Region == "":
			where = "account " + cmp.Or(e.AccountName, e.AccountID) + " (every region: its role could not be assumed)"
		case e.WorkspaceID != "":
			where = acct + e.Region + " / " + cmp.Or(e.WorkspaceName, e.WorkspaceID) + " (gateway listing)"
		}
		out = append(out, failure{where, e.Code, e.Message, e.RequestID})
	}
	for _, g := range s.Gateways {
		if g.Error != nil {
			out = append(out, failure{accountLabel(s, g.AccountID, g.AccountName) + g.Region + " / " + workspaceLabel(g) + " / " + gatewayLabel(g) + " (" + g.GatewayID + ")",
				g.Error.Code, g.Error.Message, g.Error.RequestID})
		}
	}
	return out
}

func suppressionLabel(sup audit.SuppressionReport) string {
	var parts []string
	if sup.TokenID != "" {
		parts = append(parts, "tokenId "+sup.TokenID)
	}
	if sup.Name != "" {
		parts = append(parts, "name "+sup.Name)
	}
	if sup.Gateway != "" {
		parts = append(parts, "gateway "+sup.Gateway)
	}
	if sup.Account != "" {
		parts = append(parts, "account "+sup.Account)
	}
	if len(sup.Rules) > 0 {
		rs := make([]string, len(sup.Rules))
		for i, r := range sup.Rules {
			rs[i] = string(r)
		}
		parts = append(parts, "rules "+strings.Join(rs, ","))
	}
	until := ""
	if sup.Until != nil {
		until = " (until " + *sup.Until + ")"
	}
	return strings.Join(parts, " · ") + until
}

func changeCounts(c *audit.Changes) string {
	n := c.Counts()
	return fmt.Sprintf("%d new · %d escalated · %d resolved · %d removed · %d unknown", n.New, n.Escalated, n.Resolved, n.Removed, n.Unknown)
}

func auditedAt(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
