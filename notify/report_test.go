package notify

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
)

// unknownRuleSnapshot holds a finding of a rule this version does not know
// (a snapshot written by a newer release), beside a known one.
func unknownRuleSnapshot() *audit.Snapshot {
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	return &audit.Snapshot{RunID: "audit-20261127T090000Z", AuditedAt: at, Summary: audit.Summary{Gateways: 1, Tokens: 2},
		Gateways: []audit.GatewayReport{{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1", Tokens: []audit.TokenReport{
			{TokenID: "tk-1", Name: "shared", Findings: []audit.Finding{{Rule: "leaked", Severity: audit.SeverityHigh, Message: "shares its secret"}}},
			{TokenID: "tk-2", Name: "old", Findings: []audit.Finding{{Rule: audit.RuleStale, Severity: audit.SeverityHigh, Message: "last used 40d ago"}}},
		}}}}
}

// An unknown rule is reported as itself, after the known rules of its
// severity, never dropped or blank.
func TestUnknownRuleIsReported(t *testing.T) {
	t.Parallel()
	s := unknownRuleSnapshot()
	var rules []audit.Rule
	for _, sec := range sections(s) {
		rules = append(rules, sec.Rule)
	}
	if !slices.Equal(rules, []audit.Rule{audit.RuleStale, "leaked"}) {
		t.Errorf("sections %v, want stale then the unknown rule", rules)
	}
	var buf bytes.Buffer
	if err := WriteText(&buf, NewDigest(s, delivery.Locations{}), "x.json"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"LEAKED (high) — 1", "shared (tk-1)", "1 stale · 1 leaked"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the text lacks %q:\n%s", want, buf.String())
		}
	}
}
