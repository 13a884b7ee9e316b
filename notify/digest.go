package notify

import (
	"cmp"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
)

// Digest is one destination's view of a run, built once (NewDigest, or by
// the Router for each destination it plans): every fact a report shows —
// the coverage, the counts, the sections in the rule table's order, what
// needs action first, the changes named by token, the failures, the lapsed
// suppressions, the snoozes, the warnings of the record of actions, where
// the snapshot and the page are, and the destination's place in the
// routing. Every renderer (the Slack message, the text summary, the report
// page, the JSON webhook's body) reads it and computes none of these on
// its own, so that they cannot drift apart; the rule facts they show
// (label, colour, icon, urgency) come from the rule table alone.
type Digest struct {
	// Snapshot is the destination's slice of the run, its changes compared
	// with what the destination was last told.
	Snapshot  *audit.Snapshot
	Locations delivery.Locations
	// Sections are the active findings by rule: the most severe rule first
	// (rule table order when severities tie), each rule's tokens the most
	// urgent first; a reused section's tokens also by group.
	Sections []Section
	// Counts says the sections' counts: "3 expiring · 2 stale", or "no
	// findings".
	Counts string
	// Coverage is "4/5 gateways in 4 workspaces, 2 regions · 10 tokens";
	// CoverageLine adds the audit time and everything that keeps the audit
	// from being whole.
	Coverage, CoverageLine string
	// Failures are the gateways and listings that could not be audited.
	Failures []Failure
	// Lapsed are the suppressions past their until date.
	Lapsed []audit.SuppressionReport
	// Snoozed are the findings snoozed from Slack and still snoozed, the
	// soonest to lapse first.
	Snoozed []Snooze
	// NeedsAction are the tokens with an active finding, each once (its
	// most severe finding), the most severe first, then the soonest to
	// break (an expiry), then by rule and name.
	NeedsAction []Action
	// Changes are what changed since the audit this destination compares
	// with, token by token, in the order new, escalated, resolved,
	// removed (unknown ones are only counted: their gateway failed).
	Changes []NamedChange
	// ChangeCounts says the changes' counts ("" without a comparison).
	ChangeCounts string
	// Events are the changes as findings' lifecycle events (audit.Events):
	// what the destination has not been told.
	Events []audit.Event
	// Retire is what the run did with the marks for deletion
	// (actions.retire) within the destination's slice; nil without.
	Retire *RetireView
	// Remediation is the remediation line ("30 d: 14 opened · 11 fixed ·
	// median 2d 4h to fix · oldest open 41d"); "" before any run has
	// compared with an earlier one.
	Remediation string
	// ActionsWarnings are the warnings of the record of actions, the
	// first few.
	ActionsWarnings []string
	// Users are the Slack names of the users the snapshot names (by ID),
	// as Slack sent them with their actions, for the renderers that cannot
	// show <@U…> as Slack does (Plain).
	Users map[string]string

	// The destination's place in the routing (the Router sets them):
	// Route names the route whose slice this is ("" for the main report
	// and owners' messages); Owner is set on an owner's message; Unowned
	// lists, on the main report, the owners no recipient is mapped for;
	// Routed counts the gateways exclusive routes took out of the main
	// report, RoutedTo names those routes.
	Route   string
	Owner   *Owner
	Unowned []Owner
	// NoOwner are the tokens nobody can act on (their creator left, no
	// fallback is there), and Escalations those that went to the next in
	// the chain for want of an answer: the main report lists both.
	NoOwner     []Item
	Escalations []Item
	Routed      int
	RoutedTo    []string
}

// Snooze is a finding snoozed from Slack: the token and its suppressed
// finding (Item.Finding is the suppressed finding's).
type Snooze struct {
	Item
	Suppressed *audit.SuppressedFinding
}

// Action is one token that needs action: its most severe finding (Item),
// the rules of its other findings, and when it breaks (an expiring
// token's expiry; nil: act now).
type Action struct {
	Item
	Also     []audit.Rule
	Deadline *time.Time
}

// NamedChange is one change with the names of its gateway and workspace
// as the snapshot knows them (the IDs when the gateway is not in it).
type NamedChange struct {
	// Kind is new, escalated, resolved or removed.
	Kind string
	audit.Change
	Gateway, Workspace string
}

// NewDigest builds the digest of s, whose snapshot and page are at loc.
func NewDigest(s *audit.Snapshot, loc delivery.Locations) *Digest {
	d := &Digest{Snapshot: s, Locations: loc, Sections: sections(s), Coverage: coverage(s), CoverageLine: coverageLine(s),
		Failures: failures(s), Lapsed: lapsed(s), ActionsWarnings: actionsWarnings(s)}
	d.Counts = counts(d.Sections)
	d.Snoozed = snoozed(s)
	d.NeedsAction = needsAction(s)
	d.Changes = namedChanges(s)
	d.Events = audit.Events(s)
	d.Retire = retireView(s, nil)
	if r := s.Summary.Remediation; r != nil && len(r.Runs) > 0 {
		d.Remediation = r.Line() // none before a run has compared
	}
	d.Users = slackUsers(s)
	d.NoOwner, d.Escalations = assignees(s)
	if c := s.Changes; c != nil && c.Previous != nil {
		d.ChangeCounts = changeCounts(c)
	}
	return d
}

// assignees are the tokens with an active finding whose assignee is
// nobody, and those whose assignee escalated, each once (its most severe
// finding), most severe first.
func assignees(s *audit.Snapshot) (none, escalated []Item) {
	for _, a := range needsAction(s) {
		switch as := a.Token.Assignee; {
		case as == nil:
		case as.As == "none":
			none = append(none, a.Item)
		case as.Step > 0 && (s.Changes == nil || s.Changes.Previous == nil || as.At == nil || as.At.After(s.Changes.Previous.AuditedAt)):
			// Told once per step: in the first report after it began.
			escalated = append(escalated, a.Item)
		}
	}
	return none, escalated
}

// slackUsers are the names of the Slack users that s knows: those who
// acted, snoozed or acknowledged.
func slackUsers(s *audit.Snapshot) map[string]string {
	users := map[string]string{}
	add := func(id, name string) {
		if id != "" && name != "" && users[id] == "" {
			users[id] = name
		}
	}
	for i := len(s.Actions) - 1; i >= 0; i-- { // the latest name first
		add(s.Actions[i].By, s.Actions[i].ByName)
	}
	for _, sup := range s.Suppressions {
		add(sup.SnoozedBy, sup.SnoozedByName)
	}
	for i := range s.Gateways {
		for j := range s.Gateways[i].Tokens {
			t := &s.Gateways[i].Tokens[j]
			for _, f := range t.Suppressed {
				add(f.SnoozedBy, f.SnoozedByName)
			}
			if a := t.Acknowledged; a != nil {
				add(a.By, a.ByName)
			}
			if o := t.Owner; o != nil {
				add(o.SlackID, o.Name)
			}
			if a := t.Assignee; a != nil {
				for _, p := range append(slices.Clip(a.To), a.EscalatedFrom...) {
					add(p.SlackID, p.Name)
				}
			}
		}
	}
	return users
}

// mentionRe is a Slack user mention, as reasons and notes carry them.
var mentionRe = regexp.MustCompile(`<@([UW][A-Z0-9]{2,31})>`)

// Plain writes the Slack user mentions in text (<@U0123ABCD>) as people
// read them outside Slack: @name when the user's name is known, else @ID.
func (d *Digest) Plain(text string) string { return PlainUsers(text, d.Users) }

// User is the Slack user id as people read it outside Slack: @name when
// known, else @ID.
func (d *Digest) User(id string) string { return "@" + cmp.Or(d.Users[id], id) }

// PlainUsers is Plain with the names in users.
func PlainUsers(text string, users map[string]string) string {
	if !strings.Contains(text, "<@") {
		return text
	}
	return mentionRe.ReplaceAllStringFunc(text, func(m string) string {
		id := m[2 : len(m)-1]
		return "@" + cmp.Or(users[id], id)
	})
}

// needsAction orders the tokens with an active finding (see
// Digest.NeedsAction).
func needsAction(s *audit.Snapshot) []Action {
	var out []Action
	for i := range s.Gateways {
		g := &s.Gateways[i]
		account := AccountLabel(s, g.AccountID, g.AccountName)
		for j := range g.Tokens {
			t := &g.Tokens[j]
			if len(t.Findings) == 0 {
				continue
			}
			worst := &t.Findings[0]
			for k := range t.Findings {
				f := &t.Findings[k]
				if cmp.Or(cmp.Compare(f.Severity, worst.Severity), cmp.Compare(audit.Order(worst.Rule), audit.Order(f.Rule))) > 0 {
					worst = f
				}
			}
			a := Action{Item: Item{g, t, worst, account}}
			if worst.Rule == audit.RuleExpiring && t.ExpireTime != nil {
				a.Deadline = t.ExpireTime
			}
			for _, f := range t.Findings {
				if f.Rule != worst.Rule {
					a.Also = append(a.Also, f.Rule)
				}
			}
			out = append(out, a)
		}
	}
	// Sorted by keys computed once, compared one at a time: a large fleet
	// has tens of thousands of tokens that need action.
	type key struct {
		sev      audit.Severity
		deadline int64 // ms; math.MaxInt64 for none
		order    int
		name     string
	}
	keys := make([]key, len(out))
	idx := make([]int, len(out))
	for i, a := range out {
		k := key{sev: a.Finding.Severity, deadline: math.MaxInt64, order: audit.Order(a.Finding.Rule), name: cmp.Or(a.Token.Name, a.Token.TokenID)}
		if a.Deadline != nil {
			k.deadline = a.Deadline.UnixNano()
		}
		keys[i], idx[i] = k, i
	}
	slices.SortFunc(idx, func(x, y int) int {
		kx, ky := &keys[x], &keys[y]
		switch {
		case kx.sev != ky.sev:
			return cmp.Compare(ky.sev, kx.sev)
		case kx.deadline != ky.deadline:
			return cmp.Compare(kx.deadline, ky.deadline)
		case kx.order != ky.order:
			return cmp.Compare(kx.order, ky.order)
		case kx.name != ky.name:
			return cmp.Compare(kx.name, ky.name)
		}
		return cmp.Compare(out[x].Token.TokenID, out[y].Token.TokenID)
	})
	sorted := make([]Action, len(out))
	for i, j := range idx {
		sorted[i] = out[j]
	}
	out = sorted
	return out
}

// namedChanges are the snapshot's changes, token by token, with their
// gateways' names.
func namedChanges(s *audit.Snapshot) []NamedChange {
	c := s.Changes
	if c == nil || c.Previous == nil {
		return nil
	}
	names := make(map[string]*audit.GatewayReport, len(s.Gateways))
	for i := range s.Gateways {
		names[s.Gateways[i].Ref().Key()] = &s.Gateways[i]
	}
	var out []NamedChange
	for _, k := range []struct {
		kind string
		list []audit.Change
	}{{"new", c.New}, {"escalated", c.Escalated}, {"resolved", c.Resolved}, {"removed", c.Removed}} {
		for _, ch := range k.list {
			nc := NamedChange{Kind: k.kind, Change: ch, Gateway: ch.GatewayID}
			if g := names[audit.GatewayRef{AccountID: ch.AccountID, Region: ch.Region, WorkspaceID: ch.WorkspaceID, GatewayID: ch.GatewayID}.Key()]; g != nil {
				nc.Gateway, nc.Workspace = GatewayLabel(*g), WorkspaceLabel(*g)
			}
			out = append(out, nc)
		}
	}
	return out
}

// Text says a change in words: "new: etl-nightly (tk-001) · expired ·
// etl-gateway / data-platform", "escalated: … · expiring (7d) → expired".
func (nc NamedChange) Text() string {
	stage := func(label, st string) string {
		if st == "" {
			return label
		}
		return label + " (" + st + ")"
	}
	rule := stage(audit.Info(nc.Rule).Label, nc.Stage)
	if nc.Rule == "" {
		rule = "no findings"
	}
	if nc.From != "" {
		rule = stage(audit.Info(nc.From).Label, nc.FromStage) + " → " + rule
	}
	where := nc.GatewayID
	if nc.Workspace != "" {
		where = nc.Gateway + " / " + nc.Workspace
	}
	return nc.Kind + ": " + cmp.Or(nc.Name, nc.TokenID) + " (" + nc.TokenID + ") · " + rule + " · " + where
}
