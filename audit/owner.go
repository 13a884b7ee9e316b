package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Who owns a token, as the platform says: its creator's RAM user (IMS
// GetUser; one that was deleted is in the recycle bin), whether they are
// still a member of the token's workspace (ListMembers), the Slack user
// who is them (slack.mentions, or their email through Slack), and — when
// the creator cannot act — who is told instead (the gateway's creator, the
// workspace's admins, the main report), escalating when nobody acts.

// The statuses of an owner.
const (
	OwnerActive  = "active"
	OwnerLeft    = "left"
	OwnerUnknown = "unknown"
)

// How an owner's Slack user was found.
const (
	ViaMentions = "mentions"
	ViaEmail    = "email"
	ViaNone     = "none"
)

// Owner is a token's (or a gateway's) creator as resolved: the name is the
// createdBy the API gave.
type Owner struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	// RAMUserID is the RAM user's ID; LeftAt when a deleted one was
	// deleted; LastLogin their last sign-in (for ownerDormant).
	RAMUserID string     `json:"ramUserId,omitempty"`
	LeftAt    *time.Time `json:"leftAt,omitempty"`
	LastLogin *time.Time `json:"lastLogin,omitempty"`
	// SlackID is the Slack user who is them, found Via mentions or email
	// (none: not found, and NoSlack says why).
	SlackID string `json:"slackId,omitempty"`
	Via     string `json:"via"`
	NoSlack string `json:"noSlack,omitempty"`
	// Member says whether they are a member of the token's workspace (nil:
	// not known).
	Member *bool `json:"member,omitempty"`
	// Error says why the status is unknown (a lookup denied, throttled,
	// no such user).
	Error string `json:"-"`
}

// Member is a workspace member (ListMembers): a RAM principal name
// (name@alias.onaliyun.com) and its roles.
type Member struct {
	UserName string
	Roles    []string
}

// Admin reports whether a member has an admin role (Owner or Admin, by
// the role's name or ARN).
func (m Member) Admin() bool {
	return slices.ContainsFunc(m.Roles, func(r string) bool {
		name := strings.ToLower(r[strings.LastIndexAny(r, "/:")+1:])
		return name == "owner" || name == "admin" || name == "administrator"
	})
}

// Is reports whether the member is the RAM user name (createdBy): the
// whole principal name, or its part before the @.
func (m Member) Is(name string) bool {
	local, _, _ := strings.Cut(m.UserName, "@")
	return name != "" && (strings.EqualFold(m.UserName, name) || strings.EqualFold(local, name))
}

// Owners is what the run found of one gateway's people: each createdBy
// resolved (the tokens' and the gateway's own), and the workspace's
// members (nil: not listed).
type Owners struct {
	ByName  map[string]Owner
	Members []Member
	// MembersError says why the members are not known.
	MembersError string
}

// member says whether name is a member (nil: not known).
func (o *Owners) member(name string) *bool {
	if o == nil || o.Members == nil || name == "" {
		return nil
	}
	in := slices.ContainsFunc(o.Members, func(m Member) bool { return m.Is(name) })
	return &in
}

// owner is name's resolution, with its membership of the workspace.
func (o *Owners) owner(name string) (*Owner, string) {
	if o == nil || name == "" {
		return nil, ""
	}
	ow, ok := o.ByName[name]
	if !ok {
		return nil, ""
	}
	ow.Member = o.member(name)
	errText := ow.Error
	return &ow, errText
}

// admins are the workspace's admins, resolved (by their principal name's
// part before the @, as createdBy names them), by name.
func (o *Owners) admins() []Owner {
	if o == nil {
		return nil
	}
	var out []Owner
	for _, m := range o.Members {
		if !m.Admin() {
			continue
		}
		local, _, _ := strings.Cut(m.UserName, "@")
		ow, ok := o.ByName[local]
		if !ok {
			ow = Owner{Name: local, Status: OwnerUnknown, Via: ViaNone}
		}
		ow.Error = ""
		out = append(out, ow)
	}
	slices.SortFunc(out, func(a, b Owner) int { return cmp.Compare(a.Name, b.Name) })
	return slices.CompactFunc(out, func(a, b Owner) bool { return a.Name == b.Name })
}

// orphaned is the orphaned rule's predicate: the creator is a RAM user who
// was deleted, or who is no longer a member of the token's workspace.
func orphaned(s Subject) (string, string, bool) {
	o := s.Owner
	switch {
	case o == nil:
	case o.Status == OwnerLeft && o.LeftAt != nil:
		return fmt.Sprintf("created by %s, who left on %s", o.Name, o.LeftAt.UTC().Format(time.DateOnly)), "", true
	case o.Status == OwnerLeft:
		return fmt.Sprintf("created by %s, who left", o.Name), "", true
	case o.Status == OwnerActive && o.Member != nil && !*o.Member:
		ws := cmp.Or(s.Gateway.WorkspaceName, s.Gateway.WorkspaceID)
		return fmt.Sprintf("created by %s, who is no longer a member of workspace %s", o.Name, ws), "", true
	}
	return "", "", false
}

// ownerDormant is the ownerDormant rule's predicate: the creator has not
// signed in for rules.ownerDormantAfter.
func ownerDormant(s Subject) (string, string, bool) {
	o, p := s.Owner, s.Policy
	if o == nil || o.Status != OwnerActive || o.LastLogin == nil || p.OwnerDormantAfter <= 0 || o.LastLogin.After(s.Now.Add(-p.OwnerDormantAfter)) {
		return "", "", false
	}
	return fmt.Sprintf("created by %s, who last signed in %s", o.Name, Ago(s.Now.Sub(*o.LastLogin))), "", true
}

// DefaultOwnerDormantAfter is rules.ownerDormantAfter by default.
const DefaultOwnerDormantAfter = 90 * Day

// The steps of slack.owners.fallback.
const (
	StepCreator         = "creator"
	StepGatewayCreator  = "gatewayCreator"
	StepWorkspaceAdmins = "workspaceAdmins"
)

// DefaultFallback is slack.owners.fallback by default.
var DefaultFallback = []string{StepCreator, StepGatewayCreator, StepWorkspaceAdmins}

// Assignment says who a token's findings are for: slack.owners.fallback,
// and how long a high or critical finding may go unanswered (no "I own
// this", no snooze) before it goes to the next in the chain.
type Assignment struct {
	Fallback      []string
	EscalateAfter time.Duration
	// EscalateFrom is the least severity that escalates (default high);
	// Rules, when set, the findings that do (the owners' messages' rules).
	EscalateFrom Severity
	Rules        []Rule
}

// Person is someone told of a token: a name, and their Slack user when
// known.
type Person struct {
	Name    string `json:"name"`
	SlackID string `json:"slackId,omitempty"`
}

// Assignee says who was told of a token and why: as (creator,
// gatewayCreator, workspaceAdmins, acknowledged, or none — the main
// report), the people, and, when it escalated, from whom and after how
// long.
type Assignee struct {
	As  string   `json:"as"`
	To  []Person `json:"to,omitempty"`
	Why string   `json:"why"`
	// Because says why the creator is not the one told ("created by bob,
	// who left on 2026-10-01").
	Because       string   `json:"because,omitempty"`
	EscalatedFrom []Person `json:"escalatedFrom,omitempty"`
	// Step counts the escalations (0: not escalated); Escalation says why
	// ("no answer from <@U0ALICE01> for 3d").
	Step       int    `json:"step,omitempty"`
	Escalation string `json:"escalation,omitempty"`
	// At is when this step began (firstSeen + step × escalateAfter): a
	// report tells of the step once, in the first audit after it.
	At *time.Time `json:"at,omitempty"`
}

// Names are the people for Slack: <@U…> when their Slack user is known,
// else their names.
func (a *Assignee) Names() string { return names(a.To) }

// candidate is one step of the chain with the people it names.
type candidate struct {
	as  string
	to  []Person
	why string
}

func assign(g *GatewayReport, t *TokenReport, a Assignment, now time.Time) *Assignee {
	if ack := t.Acknowledged; ack != nil {
		return &Assignee{As: "acknowledged", To: []Person{{Name: cmp.Or(ack.ByName, ack.By), SlackID: ack.By}}, Why: "acknowledged the token in Slack"}
	}
	var chain []candidate
	gone := "" // why the creator cannot act
	for _, step := range a.Fallback {
		switch step {
		case StepCreator:
			switch o := t.Owner; {
			case o == nil && t.CreatedBy != "":
				chain = append(chain, candidate{StepCreator, []Person{{Name: t.CreatedBy}}, "created the token"})
			case o != nil && (o.Status == OwnerUnknown || o.Status == OwnerActive && (o.Member == nil || *o.Member)):
				chain = append(chain, candidate{StepCreator, []Person{{Name: o.Name, SlackID: o.SlackID}}, "created the token"})
			case o != nil:
				gone = ownerGone(o, g)
			}
		case StepGatewayCreator:
			if c := g.Creator; c != nil && c.Status == OwnerActive && c.Name != t.CreatedBy {
				chain = append(chain, candidate{StepGatewayCreator, []Person{{Name: c.Name, SlackID: c.SlackID}}, "created gateway " + cmp.Or(g.GatewayName, g.GatewayID)})
			}
		case StepWorkspaceAdmins:
			var to []Person
			for _, ad := range g.Admins {
				if ad.Status == OwnerActive && ad.Name != t.CreatedBy {
					to = append(to, Person{Name: ad.Name, SlackID: ad.SlackID})
				}
			}
			if len(to) > 0 {
				chain = append(chain, candidate{StepWorkspaceAdmins, to, "admin of workspace " + cmp.Or(g.WorkspaceName, g.WorkspaceID)})
			}
		}
	}
	chain = distinct(chain)
	step, since, first := escalation(t, a, now)
	none := &Assignee{As: "none", Why: "no owner"}
	if gone != "" {
		none.Why = "no owner: " + gone
	}
	if len(chain) == 0 {
		return none
	}
	pick := min(step, len(chain))
	var out *Assignee
	if pick == len(chain) {
		out = none
		out.Why = "no answer from anyone in the chain"
	} else {
		c := chain[pick]
		out = &Assignee{As: c.as, To: c.to, Why: c.why}
		if c.as != StepCreator {
			out.Because = gone
		}
	}
	if pick > 0 {
		at := first.Add(time.Duration(pick) * a.EscalateAfter)
		out.Step, out.At = pick, &at
		out.EscalatedFrom = chain[pick-1].to
		out.Escalation = fmt.Sprintf("no answer from %s for %s", names(chain[pick-1].to), Span(since))
	}
	return out
}

// distinct drops the steps whose people are all in earlier steps (the
// gateway's creator who is also the workspace's admin is told once).
func distinct(chain []candidate) []candidate {
	seen := map[string]bool{}
	var out []candidate
	for _, c := range chain {
		var fresh []Person
		for _, p := range c.to {
			if !seen[p.Name] {
				fresh = append(fresh, p)
			}
		}
		for _, p := range c.to {
			seen[p.Name] = true
		}
		if len(fresh) > 0 {
			c.to = fresh
			out = append(out, c)
		}
	}
	return out
}

// ownerGone says why a creator cannot act: "created by bob, who left".
func ownerGone(o *Owner, g *GatewayReport) string {
	switch {
	case o.Status == OwnerLeft && o.LeftAt != nil:
		return fmt.Sprintf("created by %s, who left on %s", o.Name, o.LeftAt.UTC().Format(time.DateOnly))
	case o.Status == OwnerLeft:
		return fmt.Sprintf("created by %s, who left", o.Name)
	}
	return fmt.Sprintf("created by %s, who is no longer a member of workspace %s", o.Name, cmp.Or(g.WorkspaceName, g.WorkspaceID))
}

// escalation is how many escalateAfter have passed since the token's
// earliest unanswered finding at or above EscalateFrom was first seen, and
// that time.
func escalation(t *TokenReport, a Assignment, now time.Time) (int, time.Duration, time.Time) {
	if a.EscalateAfter <= 0 {
		return 0, 0, time.Time{}
	}
	var first *time.Time
	for _, f := range t.Findings {
		if f.Severity >= a.EscalateFrom && (len(a.Rules) == 0 || slices.Contains(a.Rules, f.Rule)) && f.FirstSeen != nil && (first == nil || f.FirstSeen.Before(*first)) {
			first = f.FirstSeen
		}
	}
	if first == nil {
		return 0, 0, time.Time{}
	}
	since := now.Sub(*first)
	return int(since / a.EscalateAfter), since, *first
}

func names(ps []Person) string {
	var out []string
	for _, p := range ps {
		if p.SlackID != "" {
			out = append(out, "<@"+p.SlackID+">")
		} else {
			out = append(out, p.Name)
		}
	}
	return strings.Join(out, ", ")
}

// prior is what the earlier audit knew of one finding: open since Since
// (At: the audit's time, when the baseline kept no date: an earlier
// release), or resolved (a Reopened count carried either way).
type prior struct {
	open     bool
	since    time.Time
	atLeast  bool
	reopened int
}

// priors reads the earlier baseline once, at the first finding (the run
// reads it while the fleet is listed).
func (b *Builder) priors() map[string]map[Rule]prior {
	if b.prev != nil {
		return b.prev
	}
	b.prev = map[string]map[Rule]prior{}
	if b.ev.Earlier == nil {
		return b.prev
	}
	base := b.ev.Earlier()
	if base == nil {
		return b.prev
	}
	for _, g := range base.Gateways {
		for _, t := range g.Tokens {
			m := map[Rule]prior{}
			for _, r := range t.Resolved {
				m[r.Rule] = prior{reopened: r.Reopened}
			}
			for _, f := range t.Findings {
				p := prior{open: true, since: g.AuditedAt.UTC(), atLeast: true, reopened: f.Reopened}
				if f.Since != nil {
					p.since, p.atLeast = f.Since.UTC(), false
				}
				m[f.Rule] = p
			}
			b.prev[g.key()+"/"+t.TokenID] = m
		}
	}
	return b.prev
}

// lifecycle dates finding f of token tokenID of gateway g and names it:
// a finding the earlier audit had open keeps its firstSeen and reopened
// count (at least that audit's time, when the baseline kept no date), and
// an escalation keeps the firstSeen of what it escalates; one it had
// resolved is reopened (firstSeen now, reopened one more); any other is
// first seen now.
func (b *Builder) lifecycle(g GatewayRef, tokenID string, f *Finding) {
	f.Fingerprint = Fingerprint(g, tokenID, f.Rule)
	first := b.now
	f.FirstSeenAtLeast, f.Reopened = false, 0
	priors := b.priors()[g.Key()+"/"+tokenID]
	p, ok := priors[f.Rule]
	if !ok {
		// An escalation (expiring, stale or unused, now expired) goes on
		// from the finding it escalates.
		for r, q := range priors {
			if q.open && escalates(r, f.Rule) && (!ok || q.since.Before(p.since)) {
				p, ok = prior{open: true, since: q.since, atLeast: q.atLeast}, true
			}
		}
	}
	if ok {
		switch {
		case !p.open:
			f.Reopened = p.reopened + 1
		case !p.since.IsZero() && p.since.Before(b.now):
			first, f.FirstSeenAtLeast, f.Reopened = p.since, p.atLeast, p.reopened
		default:
			f.Reopened = p.reopened
		}
	}
	f.FirstSeen = &first
}

// dateAndAssign dates and names a token's findings (and its suppressed
// ones) and says who it is for.
func (b *Builder) dateAndAssign(g *GatewayReport, t *TokenReport) {
	ref := g.Ref()
	for k := range t.Findings {
		b.lifecycle(ref, t.TokenID, &t.Findings[k])
	}
	for k := range t.Suppressed {
		t.Suppressed[k].Fingerprint = Fingerprint(ref, t.TokenID, t.Suppressed[k].Rule)
	}
	if a := b.ev.Assignment; a != nil && len(t.Findings) > 0 {
		t.Assignee = assign(g, t, a.resolved(), b.now)
	}
}

// resolved is a with its defaults.
func (a *Assignment) resolved() Assignment {
	out := *a
	if out.EscalateFrom == 0 {
		out.EscalateFrom = SeverityHigh
	}
	if len(out.Fallback) == 0 {
		out.Fallback = DefaultFallback
	}
	return out
}
