// Package notify turns a snapshot into what people read and gets it to
// them. It holds the report model that every renderer reads (findings by
// rule, most urgent first; the coverage in words; failures; lapsed
// suppressions), the text summary the CLI prints and its exports (CSV,
// NDJSON); and delivery, once for every sink: the Router plans what each
// destination is told (the main report, routes, owners' messages, slices),
// the Dispatcher claims and sends each delivery once per run and keeps
// each destination's ledger. The sinks (notify/slack, notify/webhook)
// render and post; the page (notify/page) renders the run's HTML.
package notify

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"livy-token-audit/audit"
)

// Item is one active finding, with where it is. account labels the
// gateway's account when the report covers more than one.
type Item struct {
	Gateway *audit.GatewayReport
	Token   *audit.TokenReport
	Finding *audit.Finding
	Account string
}

// Section is one rule's findings, most urgent first; a reused section's
// also by group of tokens that share one secret (Groups).
type Section struct {
	Rule     audit.Rule
	Severity audit.Severity
	Items    []Item
	Groups   []ReuseGroup
}

// sections groups the active findings by rule, the most severe rule first,
// and inside a rule the most urgent tokens first: the soonest expiry, the
// longest unused, the oldest never used.
func sections(s *audit.Snapshot) []Section {
	out := group(s)
	for i := range out {
		r := out[i].Rule
		u := audit.Info(r).Urgency
		slices.SortFunc(out[i].Items, func(a, b Item) int { return urgency(u, a, b) })
		if r == audit.RuleReused {
			out[i].Groups = reuseGroups(out[i])
		}
	}
	return out
}

// ReuseGroup is one group of tokens that share a secret, as a report's
// slice holds it: its items (the group's tokens in the slice), and how many
// tokens the whole group has.
type ReuseGroup struct {
	Items []Item
	Size  int
}

// reuseGroups groups a reused section's items by their group, in group
// order.
func reuseGroups(sec Section) []ReuseGroup {
	by := map[int]*ReuseGroup{}
	var order []int
	for _, it := range sec.Items {
		n := it.Finding.ReuseGroup
		g, ok := by[n]
		if !ok {
			g = &ReuseGroup{Size: it.Finding.SharedWith + 1}
			by[n] = g
			order = append(order, n)
		}
		g.Items = append(g.Items, it)
	}
	slices.Sort(order)
	out := make([]ReuseGroup, len(order))
	for i, n := range order {
		out[i] = *by[n]
	}
	return out
}

// group groups the active findings by rule, the most severe rule first,
// then in report order (a rule this version does not know comes after the
// known ones, by name); the items of a rule are in snapshot order.
func group(s *audit.Snapshot) []Section {
	by := map[audit.Rule]*Section{}
	for i := range s.Gateways {
		g := &s.Gateways[i]
		account := AccountLabel(s, g.AccountID, g.AccountName)
		for j := range g.Tokens {
			t := &g.Tokens[j]
			for k := range t.Findings {
				f := &t.Findings[k]
				sec, ok := by[f.Rule]
				if !ok {
					sec = &Section{Rule: f.Rule, Severity: f.Severity}
					by[f.Rule] = sec
				}
				sec.Severity = max(sec.Severity, f.Severity)
				sec.Items = append(sec.Items, Item{g, t, f, account})
			}
		}
	}
	out := make([]Section, 0, len(by))
	for _, sec := range by {
		out = append(out, *sec)
	}
	slices.SortFunc(out, func(a, b Section) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), cmp.Compare(audit.Order(a.Rule), audit.Order(b.Rule)), cmp.Compare(a.Rule, b.Rule))
	})
	return out
}

// urgency orders two items by the urgency of their rule u, the most urgent
// first (the rule table says how: the soonest expiry, the longest unused…),
// then by where they are.
func urgency(u func(a, b *audit.TokenReport) int, a, b Item) int {
	// Compared one key at a time (cmp.Or would compare them all): the
	// sections of a large fleet sort tens of thousands of items.
	if c := u(a.Token, b.Token); c != 0 {
		return c
	}
	for _, k := range [...][2]string{{a.Gateway.Region, b.Gateway.Region}, {a.Token.Name, b.Token.Name}, {a.Token.TokenID, b.Token.TokenID},
		{a.Gateway.AccountID, b.Gateway.AccountID}, {a.Gateway.WorkspaceID, b.Gateway.WorkspaceID}, {a.Gateway.GatewayID, b.Gateway.GatewayID}} {
		if c := cmp.Compare(k[0], k[1]); c != 0 {
			return c
		}
	}
	return 0
}

// counts renders "3 expiring · 2 stale" in Section order; "no findings"
// when there are none.
func counts(secs []Section) string {
	var parts []string
	for _, sec := range secs {
		parts = append(parts, fmt.Sprintf("%d %s", len(sec.Items), audit.Info(sec.Rule).Label))
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
	where := audit.Plural(len(ws), "workspace")
	if n := Accounts(s); n > 1 {
		where = audit.Plural(n, "account")
	}
	return fmt.Sprintf("%d/%d gateways%s in %s, %s · %s", sum.Gateways-sum.GatewaysFailed, sum.Gateways, kinds(sum),
		where, audit.Plural(len(regions), "region"), audit.Plural(sum.Tokens, "token"))
}

// kinds says the gateways of each kind, when there is another kind than
// Livy: " (5 Livy, 2 Kyuubi)".
func kinds(sum audit.Summary) string {
	if len(sum.Kinds) == 0 || len(sum.Kinds) == 1 && sum.Kinds[audit.KindLivy] > 0 {
		return ""
	}
	ks := slices.Sorted(maps.Keys(sum.Kinds))
	slices.SortStableFunc(ks, func(a, b string) int { return cmp.Compare(b2i(a != audit.KindLivy), b2i(b != audit.KindLivy)) }) // Livy first
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%d %s", sum.Kinds[k], KindTitle(k)))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// Accounts counts the accounts a snapshot covers: the run's own (when it
// had a scope) and each other.
func Accounts(s *audit.Snapshot) int {
	n := len(s.Scope.Accounts)
	if len(s.Scope.Regions)+len(s.Scope.Gateways) > 0 {
		n++
	}
	return n
}

// AccountLabel names an account in a report line when the report covers
// more than one ("analytics / "), else "".
func AccountLabel(s *audit.Snapshot, id, name string) string {
	if Accounts(s) < 2 {
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
	cov := coverage(s) + " · audited " + AuditedAt(s.AuditedAt)
	sum := s.Summary
	if n := sum.Errors; n > 0 {
		cov += " · " + audit.Plural(n, "listing") + " failed"
	}
	if sum.Suppressed > 0 {
		cov += fmt.Sprintf(" · %d suppressed", sum.Suppressed)
	}
	if sum.PublicGateways > 0 {
		cov += " · " + audit.Plural(sum.PublicGateways, "public gateway")
	}
	if n := sum.DetailsErrors; n > 0 {
		cov += fmt.Sprintf(" · exposure unknown for %s (their details could not be read)", audit.Plural(n, "gateway"))
	}
	if sum.DataErrors > 0 {
		cov += " · " + audit.Plural(sum.DataErrors, "unreadable time") + " (see the snapshot)"
	}
	if n := sum.OwnersUnknown; n > 0 {
		cov += fmt.Sprintf(" · owners unknown: %d", n)
	}
	if n := sum.SecretNotVisible; n > 0 {
		cov += fmt.Sprintf(" · %s with masked values (Kyuubi: weak and reused not checked)", audit.Plural(n, "token"))
	}
	if sum.DuplicateTokens > 0 {
		cov += " · " + audit.Plural(sum.DuplicateTokens, "duplicate token listing") + " dropped"
	}
	if s.Scope.Partial {
		cov += " · ad-hoc audit of part of the scope"
	}
	return cov
}

// FailedHeadline is "audit failed: 0/5 gateways audited".
func FailedHeadline(s *audit.Snapshot) string { return "audit failed: " + s.Summary.FailedCoverage() }

// GatewayLabel names a gateway for people: its name when known, else its ID.
// A gateway of another kind than Livy says its kind: "bi-sql (Kyuubi)".
func GatewayLabel(g audit.GatewayReport) string {
	l := cmp.Or(g.GatewayName, g.GatewayID)
	if k := audit.KindOf(g.Kind); k != audit.KindLivy {
		l += " (" + KindTitle(k) + ")"
	}
	return l
}

// KindTitle names a kind of gateway for people: Livy, Kyuubi.
func KindTitle(kind string) string {
	switch kind := audit.KindOf(kind); kind {
	case audit.KindLivy:
		return "Livy"
	case audit.KindKyuubi:
		return "Kyuubi"
	default:
		return kind
	}
}

// WorkspaceLabel names a workspace for people: its name when known, else
// its ID.
func WorkspaceLabel(g audit.GatewayReport) string {
	return cmp.Or(g.WorkspaceName, g.WorkspaceID)
}

// lapsed returns the suppressions past their until date.
func lapsed(s *audit.Snapshot) []audit.SuppressionReport {
	var out []audit.SuppressionReport
	for _, sup := range s.Suppressions {
		if sup.Lapsed || sup.Ended != "" {
			out = append(out, sup)
		}
	}
	return out
}

// Failure is a gateway or listing that could not be audited.
type Failure struct {
	Where     string `json:"where"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId,omitempty"`
}

// failures are the gateways and listings of s that could not be audited,
// each with where it is in words: listings first, then gateways.
func failures(s *audit.Snapshot) []Failure {
	var out []Failure
	for _, e := range s.Errors {
		acct := AccountLabel(s, e.AccountID, e.AccountName)
		where := acct + e.Region + " (workspace listing)"
		switch {
		case e.Region == "":
			where = "account " + cmp.Or(e.AccountName, e.AccountID) + " (every region: its role could not be assumed)"
		case e.WorkspaceID != "":
			what := "gateway listing"
			if e.Kind != "" {
				what = KindTitle(e.Kind) + " listing"
			}
			where = acct + e.Region + " / " + cmp.Or(e.WorkspaceName, e.WorkspaceID) + " (" + what + ")"
		}
		out = append(out, Failure{where, e.Code, e.Message, e.RequestID})
	}
	for _, g := range s.Gateways {
		if g.Error != nil {
			out = append(out, Failure{AccountLabel(s, g.AccountID, g.AccountName) + g.Region + " / " + WorkspaceLabel(g) + " / " + GatewayLabel(g) + " (" + g.GatewayID + ")",
				g.Error.Code, g.Error.Message, g.Error.RequestID})
		}
	}
	return out
}

// SuppressionLabel names a suppression by what it matches: "tokenId tk-1 ·
// rules stale (until 2027-03-31)".
func SuppressionLabel(sup audit.SuppressionReport) string {
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

// changeCounts renders a comparison's counts: "1 new · 0 escalated · …".
func changeCounts(c *audit.Changes) string {
	n := c.Counts()
	return fmt.Sprintf("%d new · %d escalated · %d resolved · %d removed · %d unknown", n.New, n.Escalated, n.Resolved, n.Removed, n.Unknown)
}

// AuditedAt renders an audit time for people: "2026-11-27 09:00 UTC".
func AuditedAt(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// Reason applies a notify mode (slack.notify, a route's notify) to a report:
// it returns "" when the report is to be sent, or why not. A failed audit
// is always sent.
//   - always: every run;
//   - findings: when there is an active finding or a failure, or the
//     previous audit is overdue;
//   - changes: when anything changed since the previous audit (an expiring
//     token entering a nearer stage is a change), on a first run, on
//     failures, or when the previous audit is overdue.
//
// In either of the last two, a mark for deletion made, noticed or ended,
// a token retired or a due one not deleted (actions.retire) is sent too.
func Reason(mode string, s *audit.Snapshot) string {
	failures := s.Summary.GatewaysFailed + s.Summary.Errors
	switch mode {
	case "always":
		return ""
	case "changes":
		c := s.Changes
		if c == nil || c.Previous == nil || c.Overdue != nil || failures > 0 || c.Counts().New+c.Counts().Escalated+c.Counts().Resolved+c.Counts().Removed > 0 ||
			retireView(s, nil).News() {
			return ""
		}
		return "nothing changed since the previous audit (notify: changes)"
	default:
		if s.Summary.ActiveFindings() > 0 || failures > 0 || (s.Changes != nil && s.Changes.Overdue != nil) || retireView(s, nil).News() {
			return ""
		}
		return "no active findings or failures (notify: findings)"
	}
}

// Owner is one token owner (a createdBy) and their findings that need
// action, most urgent first.
type Owner struct {
	Name string
	// SlackID is who they are in Slack when the audit found it (their
	// email, slack.mentions); the router's recipients map may name them too.
	SlackID string
	Items   []Item
}

// peopleOf are who a token's findings are for: its assignee's people
// (audit.Assign: the creator, or a fallback), else its creator; none when
// the assignee is nobody (the main report lists it).
func peopleOf(t *audit.TokenReport) []audit.Person {
	switch a := t.Assignee; {
	case a != nil && a.As == "none":
		return nil
	case a != nil && len(a.To) > 0:
		return a.To
	case t.CreatedBy != "":
		return []audit.Person{{Name: t.CreatedBy}}
	}
	return nil
}

// ownersOf groups the active findings of the given rules (all when empty) and
// of at least minSeverity by owner, the most urgent finding of each owner
// first, owners by name. Findings of tokens without an owner are left out.
func ownersOf(s *audit.Snapshot, rules []audit.Rule, minSeverity audit.Severity) []Owner {
	by := map[string]*Owner{}
	// A token whose deletion is noticed in this run is its owner's news,
	// whatever the owners' rules (actions.retire).
	noticed := noticedKeys(s.Retire)
	for _, sec := range sections(s) {
		for _, it := range sec.Items {
			g := it.Gateway
			retiring := noticed[changeKey(g.AccountID, g.Region, g.WorkspaceID, g.GatewayID, it.Token.TokenID, it.Finding.Rule)]
			if !retiring && (len(rules) > 0 && !slices.Contains(rules, sec.Rule) || it.Finding.Severity < minSeverity) {
				continue
			}
			for _, p := range peopleOf(it.Token) {
				key := p.Name + "\x00" + p.SlackID
				o, ok := by[key]
				if !ok {
					o = &Owner{Name: p.Name, SlackID: p.SlackID}
					by[key] = o
				}
				o.Items = append(o.Items, it)
			}
		}
	}
	out := make([]Owner, 0, len(by))
	for _, o := range by {
		// Sections are most severe first, most urgent first within: an
		// owner's items keep that order.
		out = append(out, *o)
	}
	slices.SortFunc(out, func(a, b Owner) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// snoozed are the findings snoozed from Slack and still snoozed, the
// soonest to lapse first.
func snoozed(s *audit.Snapshot) []Snooze {
	var all []Snooze
	for i := range s.Gateways {
		g := &s.Gateways[i]
		account := AccountLabel(s, g.AccountID, g.AccountName)
		for j := range g.Tokens {
			t := &g.Tokens[j]
			for k := range t.Suppressed {
				if sf := &t.Suppressed[k]; sf.SnoozedBy != "" {
					all = append(all, Snooze{Item{g, t, &sf.Finding, account}, sf})
				}
			}
		}
	}
	slices.SortStableFunc(all, func(a, b Snooze) int {
		return cmp.Or(cmp.Compare(deref(a.Suppressed.Until), deref(b.Suppressed.Until)), cmp.Compare(a.Token.Name, b.Token.Name))
	})
	return all
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// maxActionsWarnings bounds the warnings of the record of actions a report
// lists (the snapshot has them all).
const maxActionsWarnings = 3

// actionsWarnings are the snapshot's warnings on the record of actions as
// a report lists them: the first few, then how many more.
func actionsWarnings(s *audit.Snapshot) []string {
	w := s.ActionsWarnings
	if len(w) <= maxActionsWarnings {
		return w
	}
	return append(slices.Clip(w[:maxActionsWarnings]), fmt.Sprintf("and %d more (the snapshot's actionsWarnings)", len(w)-maxActionsWarnings))
}

// EndedNote says why a snooze from Slack no longer holds although its day
// has not come: "the snooze on expiring ended: the token is now expired;
// snooze that, or act on the token" ("" for any other suppression).
func EndedNote(sup audit.SuppressionReport) string {
	if sup.Ended == "" {
		return ""
	}
	rules := make([]string, len(sup.Rules))
	for i, r := range sup.Rules {
		rules[i] = string(r)
	}
	return "the snooze on " + strings.Join(rules, ", ") + " ended: " + sup.Ended + "; snooze that, or act on the token"
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ProfileCounts says the tokens per rules profile, the default last:
// "ci 1, finance 3, default 8".
func ProfileCounts(counts map[string]int) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		if name != audit.DefaultProfile {
			parts = append(parts, fmt.Sprintf("%s %d", name, counts[name]))
		}
	}
	if n, ok := counts[audit.DefaultProfile]; ok {
		parts = append(parts, fmt.Sprintf("%s %d", audit.DefaultProfile, n))
	}
	return strings.Join(parts, ", ")
}

// Inherited says who a token went to when its creator cannot act: " · now
// for <@U0DAVE001> (created gateway etl-gateway)"; "" otherwise.
func Inherited(t *audit.TokenReport) string {
	a := t.Assignee
	if a == nil || a.Step > 0 || (a.As != audit.StepGatewayCreator && a.As != audit.StepWorkspaceAdmins) {
		return ""
	}
	return " · now for " + a.Names() + " (" + a.Why + ")"
}
