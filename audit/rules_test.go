package audit

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every rule has everything the renderers read from the table: a rule
// without a title would be a blank line in Slack, one without a colour an
// invisible line in the page's trend.
func TestRuleTableIsComplete(t *testing.T) {
	t.Parallel()
	hex := regexp.MustCompile(`^#[0-9a-f]{6}$`)
	icon := regexp.MustCompile(`^[a-z0-9_+-]+$`)
	seen := map[Rule]bool{}
	for i, r := range RuleTable() {
		switch {
		case r.ID == "" || seen[r.ID]:
			t.Errorf("rule %d: ID %q is empty or listed twice", i, r.ID)
		case r.Title == "" || r.Label == "" || r.Label != strings.ToLower(r.Label):
			t.Errorf("%s: no title or lower-case label of its own (%q, %q)", r.ID, r.Title, r.Label)
		case !icon.MatchString(r.Icon):
			t.Errorf("%s: icon %q is not a Slack emoji name", r.ID, r.Icon)
		case r.Severity < SeverityLow || r.Severity > SeverityCritical:
			t.Errorf("%s: default severity %v", r.ID, r.Severity)
		case !hex.MatchString(r.Color):
			t.Errorf("%s: colour %q is not #rrggbb", r.ID, r.Color)
		case r.Urgency == nil || r.check == nil:
			t.Errorf("%s: no urgency order or no predicate", r.ID)
		case r.Fix == nil || r.Fix(&TokenReport{}) == "":
			t.Errorf("%s: no fix: a report's item would not say what to do", r.ID)
		case Order(r.ID) != i:
			t.Errorf("%s: order %d, want %d", r.ID, Order(r.ID), i)
		}
		seen[r.ID] = true
		if got, err := ParseRule(string(r.ID)); err != nil || got != r.ID {
			t.Errorf("ParseRule(%q): %v, %v", r.ID, got, err)
		}
		if DefaultSeverities()[r.ID] != r.Severity {
			t.Errorf("%s: default severity %v, the policy's %v", r.ID, r.Severity, DefaultSeverities()[r.ID])
		}
	}
	if !slices.Equal(Rules, []Rule{RuleExpiring, RuleExpired, RuleStale, RuleUnused, RuleLongLived, RuleReused, RuleWeak, RuleOrphaned, RuleOwnerDormant, RuleImplausible}) {
		t.Errorf("report order: got %v", Rules)
	}
}

// An expiring token's fix names its deadline, in UTC, with the weekday.
func TestExpiringFixNamesTheDeadline(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 17, 0, 0, 0, time.FixedZone("CST", 8*3600))
	if got, want := Info(RuleExpiring).Fix(&TokenReport{ExpireTime: &at}), "renew before Sun Nov 29 09:00 UTC, or delete"; got != want {
		t.Errorf("fix %q, want %q", got, want)
	}
}

// A rule this version does not know (read back from a snapshot a newer
// release wrote) is shown as itself, after the known rules: never blank.
func TestUnknownRuleIsShownAsItself(t *testing.T) {
	t.Parallel()
	ri := Info("leaked")
	if ri.Title != "leaked" || ri.Color == "" || ri.Icon == "" || ri.Urgency == nil || ri.Fix == nil || Order("leaked") != len(Rules) {
		t.Errorf("got %+v (order %d), want the rule shown as itself, after the known ones", ri, Order("leaked"))
	}
	if _, err := ParseRule("leaked"); err == nil {
		t.Error("a config may not name a rule this version cannot check")
	}
	if p := DefaultPolicy(); !p.Enabled("leaked") || p.severity("leaked") != SeverityMedium {
		t.Errorf("unknown rule: enabled %v, severity %v", p.Enabled("leaked"), p.severity("leaked"))
	}
}

// Which rules escalate to expired is the table's: expiring, stale and
// unused followed by expired are escalations.
func TestEscalations(t *testing.T) {
	t.Parallel()
	for _, from := range Rules {
		want := from == RuleExpiring || from == RuleStale || from == RuleUnused
		if got := escalates(from, RuleExpired); got != want {
			t.Errorf("%s → expired: escalates %v, want %v", from, got, want)
		}
		if escalates(from, RuleStale) {
			t.Errorf("%s → stale is not an escalation", from)
		}
	}
}
