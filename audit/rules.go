package audit

import (
	"cmp"
	"fmt"
	"strings"
	"time"
)

// Rule names one check of a token.
type Rule string

// The rules, in the order reports list them when severities tie.
const (
	RuleExpired   Rule = "expired"
	RuleExpiring  Rule = "expiring"
	RuleStale     Rule = "stale"
	RuleUnused    Rule = "unused"
	RuleLongLived Rule = "longLived"
	// RuleImplausible flags a token whose API times cannot be right.
	RuleImplausible Rule = "implausible"
	// RuleReused flags tokens that share one secret value, anywhere in the
	// run; RuleWeak a value a guesser could find.
	RuleReused Rule = "reused"
	RuleWeak   Rule = "weak"
	// RuleOrphaned flags a token whose creator left (a deleted RAM user,
	// or one no longer a member of the workspace); RuleOwnerDormant one
	// whose creator has not signed in for long.
	RuleOrphaned     Rule = "orphaned"
	RuleOwnerDormant Rule = "ownerDormant"
)

// RuleInfo is everything the audit and its reports know of one rule. Every
// renderer (the text summary, Slack, the report page) reads a rule's title
// and colour from here, so a new rule is one entry of ruleTable, its
// predicate and its test.
type RuleInfo struct {
	ID Rule
	// Title names the rule for people ("Long-lived"), and Label in a count
	// ("2 long-lived").
	Title string
	Label string
	// Icon is the Slack emoji of the rule's section ("infinity").
	Icon string
	// Severity is the severity of its findings unless rules.severity says
	// otherwise.
	Severity Severity
	// Color is the rule's colour on the report page (CSS hex).
	Color string
	// Urgency orders two tokens flagged by the rule, the most urgent first
	// (the soonest expiry, the longest unused…).
	Urgency func(a, b *TokenReport) int
	// Fix says what to do about a token the rule flags, in a few words
	// that lead a report's item ("renew before Sat Nov 29 09:00 UTC, or
	// delete").
	Fix func(t *TokenReport) string
	// Escalates says that this rule's finding followed by an expired one
	// on the same token is an escalation, whatever the severities say.
	Escalates bool
	// Exclusive says that a token this rule flags gets no other finding.
	Exclusive bool
	// Enabled says whether a policy checks the rule (nil: always).
	Enabled func(Policy) bool
	// check is the predicate: the finding's message and stage when the rule
	// flags its subject.
	check func(s Subject) (msg, stage string, ok bool)
}

// ruleTable is every rule, in report order (when severities tie).
var ruleTable = []RuleInfo{
	{ID: RuleExpiring, Title: "Expiring", Label: "expiring", Icon: "hourglass_flowing_sand", Severity: SeverityHigh, Color: "#d4762c", Escalates: true,
		Urgency: byTime(func(t *TokenReport) *time.Time { return t.ExpireTime }, false), check: expiring, Fix: renewBefore},
	{ID: RuleExpired, Title: "Expired", Label: "expired", Icon: "no_entry", Severity: SeverityLow, Color: "#b3261e", Exclusive: true,
		Urgency: byTime(func(t *TokenReport) *time.Time { return t.ExpireTime }, true), check: expired, Fix: says("delete, or renew if a job still needs it")}, // just broke first
	{ID: RuleStale, Title: "Stale", Label: "stale", Icon: "zzz", Severity: SeverityMedium, Color: "#7a5cc7", Escalates: true,
		Urgency: byTime(func(t *TokenReport) *time.Time { return t.LastUsedTime }, false), check: stale, Fix: says("delete, or snooze if it is still needed")},
	{ID: RuleUnused, Title: "Unused", Label: "unused", Icon: "ghost", Severity: SeverityMedium, Color: "#2a7ab0", Escalates: true,
		Urgency: byTime(func(t *TokenReport) *time.Time { return t.CreateTime }, false), check: unused, Fix: says("delete: it has never been used")},
	{ID: RuleLongLived, Title: "Long-lived", Label: "long-lived", Icon: "infinity", Severity: SeverityMedium, Color: "#5f7d3a",
		Urgency: byTime(func(t *TokenReport) *time.Time { return t.CreateTime }, false), check: longLived, Fix: says("replace with a token that expires"),
		Enabled: func(p Policy) bool { return p.MaxLifetime > 0 }},
	{ID: RuleReused, Title: "Reused secret", Label: "reused", Icon: "recycle", Severity: SeverityHigh, Color: "#c2185b",
		Urgency: byTime(func(t *TokenReport) *time.Time { return t.CreateTime }, false), check: never, Fix: says("rotate: a token of its own for each user")}, // decided once the whole run is in: Builder.Finish
	{ID: RuleWeak, Title: "Weak secret", Label: "weak", Icon: "unlock", Severity: SeverityMedium, Color: "#6d4c41",
		Urgency: byTime(func(t *TokenReport) *time.Time { return t.CreateTime }, false), check: weak, Fix: says("rotate: its secret could be guessed")},
	{ID: RuleOrphaned, Title: "Orphaned", Label: "orphaned", Icon: "bust_in_silhouette", Severity: SeverityHigh, Color: "#455a64",
		Urgency: byTime(func(t *TokenReport) *time.Time { return t.CreateTime }, false), check: orphaned, Fix: says("hand it to an owner who can act, or delete")},
	{ID: RuleOwnerDormant, Title: "Owner dormant", Label: "owner dormant", Icon: "sleeping", Severity: SeverityLow, Color: "#8d6e63",
		Urgency: byTime(func(t *TokenReport) *time.Time { return t.CreateTime }, false), check: ownerDormant, Fix: says("confirm the owner still needs it"),
		Enabled: func(p Policy) bool { return p.OwnerDormantAfter > 0 }},
	{ID: RuleImplausible, Title: "Implausible times", Label: "implausible", Icon: "warning", Severity: SeverityMedium, Color: "#8a5a00",
		Urgency: byTime(func(t *TokenReport) *time.Time { return t.CreateTime }, false), check: implausible, Fix: says("check its times in the console")},
}

// says is a fix that is the same words for every token.
func says(words string) func(*TokenReport) string { return func(*TokenReport) string { return words } }

// renewBefore is an expiring token's fix: renew it before it breaks.
func renewBefore(t *TokenReport) string {
	if t.ExpireTime == nil {
		return "renew, or delete"
	}
	return "renew before " + t.ExpireTime.UTC().Format("Mon Jan 2 15:04 UTC") + ", or delete"
}

// Rules lists every rule in report order.
var Rules = func() []Rule {
	out := make([]Rule, len(ruleTable))
	for i, r := range ruleTable {
		out[i] = r.ID
	}
	return out
}()

// RuleTable returns every rule's metadata, in report order.
func RuleTable() []RuleInfo { return append([]RuleInfo(nil), ruleTable...) }

// neutral is the colour of a rule this version does not know.
const neutral = "#6e6e73"

// Info returns what is known of rule r. A rule this version does not know
// (read back from a snapshot written by a newer one) is shown as itself:
// its ID is its title, in a neutral colour, ordered after the known rules.
func Info(r Rule) RuleInfo {
	for _, ri := range ruleTable {
		if ri.ID == r {
			return ri
		}
	}
	return RuleInfo{ID: r, Title: string(r), Label: string(r), Icon: "grey_question", Severity: SeverityMedium, Color: neutral,
		Urgency: func(a, b *TokenReport) int { return 0 }, Fix: says("")}
}

// Order is r's place in report order; rules this version does not know
// come after every known one.
func Order(r Rule) int {
	for i, ri := range ruleTable {
		if ri.ID == r {
			return i
		}
	}
	return len(ruleTable)
}

// ParseRule returns the rule named s.
func ParseRule(s string) (Rule, error) {
	for _, r := range ruleTable {
		if string(r.ID) == s {
			return r.ID, nil
		}
	}
	names := make([]string, len(ruleTable))
	for i, r := range ruleTable {
		names[i] = string(r.ID)
	}
	return "", fmt.Errorf("unknown rule %q (want one of %s)", s, strings.Join(names, ", "))
}

// byTime orders tokens by one of their times, earliest first (latest first
// when desc); a token without that time sorts as the epoch.
func byTime(field func(*TokenReport) *time.Time, desc bool) func(a, b *TokenReport) int {
	ms := func(t *TokenReport) int64 {
		if p := field(t); p != nil {
			return p.UnixMilli()
		}
		return 0
	}
	return func(a, b *TokenReport) int {
		if desc {
			return cmp.Compare(ms(b), ms(a))
		}
		return cmp.Compare(ms(a), ms(b))
	}
}

// The predicates. A field the API answered with something that is not a
// time is unknown: no rule that needs it applies (an unknown expiry is not
// "never expires", an unknown last use is not "never used").

func expired(s Subject) (string, string, bool) {
	t, now := s.Token, s.Now
	if t.Unknown(FieldExpireTime) || t.ExpireTime.IsZero() || t.ExpireTime.After(now) {
		return "", "", false
	}
	return "expired " + Ago(now.Sub(t.ExpireTime)), "", true
}

func expiring(s Subject) (string, string, bool) {
	t, p, now := s.Token, s.Policy, s.Now
	if t.Unknown(FieldExpireTime) || t.ExpireTime.IsZero() || !t.ExpireTime.After(now) || t.ExpireTime.After(now.Add(p.window())) {
		return "", "", false
	}
	left := t.ExpireTime.Sub(now)
	return "expires in " + Span(left), p.stage(left), true
}

func stale(s Subject) (string, string, bool) {
	t, p, now := s.Token, s.Policy, s.Now
	if t.Unknown(FieldLastUsedTime) || t.LastUsedTime.IsZero() || t.LastUsedTime.After(now.Add(-p.StaleAfter)) {
		return "", "", false
	}
	return "last used " + Ago(now.Sub(t.LastUsedTime)), "", true
}

func unused(s Subject) (string, string, bool) {
	t, p, now := s.Token, s.Policy, s.Now
	switch {
	case t.Unknown(FieldLastUsedTime) || !t.LastUsedTime.IsZero():
		return "", "", false
	case t.CreateTime.IsZero():
		return "never used · creation time unknown", "", true
	case !t.CreateTime.After(now.Add(-p.UnusedAfter)):
		return "never used · created " + Ago(now.Sub(t.CreateTime)), "", true
	}
	return "", "", false
}

// never is the predicate of a rule no single token decides (reused).
func never(Subject) (string, string, bool) { return "", "", false }

func weak(s Subject) (string, string, bool) {
	t, p := s.Token, s.Policy
	switch sec := t.Secret; {
	case !SecretVisible(s.Gateway.Kind) || !sec.Known():
	case sec.Distinct() < MinDistinctChars:
		return fmt.Sprintf("secret drawn from fewer than %d distinct characters", MinDistinctChars), "", true
	case sec.Bits() < p.minSecretBits():
		return fmt.Sprintf("secret strength about %d bits, below %d (rules.minSecretBits)", int(sec.Bits()), int(p.minSecretBits())), "", true
	}
	return "", "", false
}

func longLived(s Subject) (string, string, bool) {
	t, p := s.Token, s.Policy
	switch {
	case t.Unknown(FieldExpireTime):
	case t.ExpireTime.IsZero():
		return "never expires (max lifetime " + FormatDuration(p.MaxLifetime) + ")", "", true
	case !t.CreateTime.IsZero() && t.ExpireTime.Sub(t.CreateTime) > p.MaxLifetime:
		return fmt.Sprintf("lifetime %s exceeds %s", Span(t.ExpireTime.Sub(t.CreateTime)), FormatDuration(p.MaxLifetime)), "", true
	}
	return "", "", false
}
