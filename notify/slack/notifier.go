package slack

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	slackgo "github.com/slack-go/slack"

	"livy-token-audit/audit"
	"livy-token-audit/notify"
)

// Notifier plans a run's Slack messages — the main report (the catch-all),
// one report per route (its slice of the fleet), one direct message per
// token owner — and sends them through their destinations. It implements
// audit.Notifier: the Runner claims each message in the store before it is
// sent, so a retry sends only what has not gone out.
type Notifier struct {
	Config audit.SlackConfig
	// Main is the catch-all destination; nil when only routes and owners
	// are posted to.
	Main *Slack
	// Routes are the routes' destinations, by route name.
	Routes map[string]*Slack
	// Bot posts the owners' direct messages (nil: none are sent).
	Bot *Slack
	// Preview plans every message whether or not it has a destination (the
	// CLI prints them when nothing is posted).
	Preview bool
}

var _ audit.Notifier = (*Notifier)(nil)

// Planned is one message of a run to one destination.
type Planned struct {
	// Destination names where it goes, stably from run to run: "slack" (the
	// main report), "slack:route:<name>", "slack:owner:<user ID>".
	Destination string
	// Label says where it goes, for people.
	Label string
	// Skip says why nothing goes there this run.
	Skip    string
	Message Message
	// Thread are replies that follow the message (the full lists, with a
	// bot, when the message had to cut them).
	Thread []Message
	dest   *Slack
}

// Plan returns what the run would send where.
func (n *Notifier) Plan(s *audit.Snapshot, loc audit.Locations) []Planned {
	cfg := n.Config
	link := loc.Snapshot
	opts := RenderOptions{MaxItems: cfg.MaxItems, Mentions: cfg.Mentions, Link: link, PageLink: loc.Page}
	var out []Planned

	var owners, unowned []notify.Owner
	if cfg.Owners.Enabled {
		owners, unowned = n.owners(s)
	}

	if n.Main != nil || n.Preview {
		main := s
		if slices.ContainsFunc(cfg.Routes, func(r audit.Route) bool { return r.Exclusive }) {
			main = n.catchAll(s)
		}
		o := opts
		o.Unowned = unowned
		p := Planned{Destination: "slack", Label: "the main report", dest: n.Main}
		if n.Main != nil {
			p.Label += " (" + n.Main.String() + ")"
		}
		if p.Skip = notify.Reason(cfg.Notify, main); p.Skip == "" || n.Preview {
			p.Message = Render(main, o)
			if p.Message.Cut > 0 && n.Main != nil && n.Main.bot != nil {
				p.Thread = RenderThread(main, o)
			}
		}
		out = append(out, p)
	}

	for _, r := range cfg.Routes {
		dest := n.Routes[r.Name]
		if dest == nil && !n.Preview {
			continue
		}
		slice := audit.Slice(s, r.Match.Gateway, func(g *audit.GatewayReport, f *audit.Finding) bool { return r.Match.Gateway(g) && r.Match.Finding(f) },
			r.Match.ScopeError, r.Match.Change)
		mode := cmp.Or(r.Notify, cfg.Notify)
		p := Planned{Destination: "slack:route:" + r.Name, Label: "route " + r.Name, dest: dest}
		if dest != nil {
			p.Label += " (" + dest.String() + ")"
		}
		empty := len(slice.Gateways) == 0 && len(slice.Errors) == 0
		switch {
		case empty && mode != "always":
			p.Skip = "nothing in route " + r.Name + "'s slice"
		case !empty:
			p.Skip = notify.Reason(mode, slice)
		}
		if p.Skip == "" || n.Preview {
			o := opts
			o.Route = r.Name
			p.Message = Render(slice, o)
			if p.Message.Cut > 0 && dest != nil && dest.bot != nil {
				p.Thread = RenderThread(slice, o)
			}
		}
		out = append(out, p)
	}

	if cfg.Owners.Enabled && (n.Bot != nil || n.Preview) {
		for _, o := range owners {
			id := cfg.Mentions[o.Name]
			p := Planned{Destination: "slack:owner:" + id, Label: "owner " + o.Name + " (" + id + ")",
				Message: RenderOwner(o, s, cfg.Owners.RunbookURL, loc)}
			if n.Bot != nil {
				p.dest = n.Bot.To(id)
			}
			out = append(out, p)
		}
	}
	return out
}

// owners returns the owners to message (their names are the Slack user IDs'
// createdBy; one per user ID) and those slack.mentions does not map.
func (n *Notifier) owners(s *audit.Snapshot) (mapped, unmapped []notify.Owner) {
	cfg := n.Config
	all := notify.Owners(s, cfg.Owners.Rules, cfg.Owners.MinSeverity)
	// With notify: changes an owner hears of a token when it changes (a new
	// finding, entering a nearer expiry stage), not every day in between.
	if cfg.Notify == "changes" && s.Changes != nil && s.Changes.Previous != nil {
		changed := map[string]bool{}
		for _, c := range append(slices.Clone(s.Changes.New), s.Changes.Escalated...) {
			changed[changeKey(c.AccountID, c.Region, c.WorkspaceID, c.GatewayID, c.TokenID, c.Rule)] = true
		}
		for i := range all {
			all[i].Items = slices.DeleteFunc(all[i].Items, func(it notify.Item) bool {
				g := it.Gateway
				return !changed[changeKey(g.AccountID, g.Region, g.WorkspaceID, g.GatewayID, it.Token.TokenID, it.Finding.Rule)]
			})
		}
		all = slices.DeleteFunc(all, func(o notify.Owner) bool { return len(o.Items) == 0 })
	}
	byID := map[string]*notify.Owner{}
	var ids []string
	for _, o := range all {
		id, ok := cfg.Mentions[o.Name]
		if !ok {
			unmapped = append(unmapped, o)
			continue
		}
		if m, ok := byID[id]; ok {
			m.Items = append(m.Items, o.Items...)
			continue
		}
		cp := o
		byID[id] = &cp
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		mapped = append(mapped, *byID[id])
	}
	return mapped, unmapped
}

func changeKey(account, region, ws, gw, token string, rule audit.Rule) string {
	return strings.Join([]string{account, region, ws, gw, token, string(rule)}, "\x00")
}

// catchAll is the snapshot without the slices of exclusive routes: a route
// without a rule or severity filter takes its gateways out; one with a
// filter takes out only its findings.
func (n *Notifier) catchAll(s *audit.Snapshot) *audit.Snapshot {
	var excl []audit.Match
	for _, r := range n.Config.Routes {
		if r.Exclusive {
			excl = append(excl, r.Match)
		}
	}
	whole := func(m audit.Match) bool { return len(m.Rules) == 0 && m.MinSeverity == 0 }
	return audit.Slice(s,
		func(g *audit.GatewayReport) bool {
			return !slices.ContainsFunc(excl, func(m audit.Match) bool { return whole(m) && m.Gateway(g) })
		},
		func(g *audit.GatewayReport, f *audit.Finding) bool {
			return !slices.ContainsFunc(excl, func(m audit.Match) bool { return m.Gateway(g) && m.Finding(f) })
		},
		func(e *audit.ScopeError) bool {
			return !slices.ContainsFunc(excl, func(m audit.Match) bool { return whole(m) && m.ScopeError(e) })
		},
		func(c *audit.Change, g *audit.GatewayReport) bool {
			return !slices.ContainsFunc(excl, func(m audit.Match) bool { return m.Change(c, g) })
		})
}

// Deliveries are the planned messages with a destination.
func (n *Notifier) Deliveries(s *audit.Snapshot, loc audit.Locations) []audit.Delivery {
	var out []audit.Delivery
	for _, p := range n.Plan(s, loc) {
		if p.dest == nil {
			continue
		}
		d := audit.Delivery{Destination: p.Destination, Skip: p.Skip}
		if p.Skip == "" {
			p := p
			d.Send = func(ctx context.Context) error { return p.dest.Post(ctx, p.Message, p.Thread) }
		}
		out = append(out, d)
	}
	return out
}

// FailureDeliveries send a failure notice to the main destination, or, when
// there is none, to every route.
func (n *Notifier) FailureDeliveries(f audit.FailureNotice) []audit.Delivery {
	msg := RenderFailure(f)
	send := func(dest *Slack) func(context.Context) error {
		return func(ctx context.Context) error { return dest.Post(ctx, msg, nil) }
	}
	if n.Main != nil {
		return []audit.Delivery{{Destination: "slack", Send: send(n.Main)}}
	}
	var out []audit.Delivery
	for _, r := range n.Config.Routes {
		if dest := n.Routes[r.Name]; dest != nil {
			out = append(out, audit.Delivery{Destination: "slack:route:" + r.Name, Send: send(dest)})
		}
	}
	return out
}

// howToRotate is what an owner is told to do.
const howToRotate = "*How to rotate:* create a new token on the same Livy Gateway (EMR Serverless Spark console → your workspace → Livy Gateway → Tokens), " +
	"move the jobs that use the old token to the new one, then delete the old one. A token that is unused or stale can simply be deleted."

// RenderOwner renders an owner's direct message: their tokens that need
// action, the most urgent first, and how to rotate.
func RenderOwner(o notify.Owner, s *audit.Snapshot, runbookURL string, loc audit.Locations) Message {
	mrkdwn := func(t string) *slackgo.TextBlockObject {
		return slackgo.NewTextBlockObject(slackgo.MarkdownType, t, false, false)
	}
	rules := map[audit.Rule]int{}
	var order []audit.Rule
	for _, it := range o.Items {
		if rules[it.Finding.Rule] == 0 {
			order = append(order, it.Finding.Rule)
		}
		rules[it.Finding.Rule]++
	}
	var counts []string
	for _, r := range order {
		counts = append(counts, fmt.Sprintf("%d %s", rules[r], r))
	}
	title := truncate("Livy token audit · your tokens · "+strings.Join(counts, " · "), maxHeaderChars)
	text, _ := list(fmt.Sprintf("*Tokens created by %s that need action* — %d", name(o.Name), len(o.Items)), len(o.Items),
		func(i int) string { return itemLine(o.Items[i], nil) }, 25)
	rotate := howToRotate
	if runbookURL != "" {
		rotate += " Runbook: " + linkTo(runbookURL)
	}
	blocks := []slackgo.Block{
		slackgo.NewHeaderBlock(slackgo.NewTextBlockObject(slackgo.PlainTextType, title, true, false)),
		slackgo.NewContextBlock("", mrkdwn("audited "+notify.AuditedAt(s.AuditedAt)+" · you get this because slack.mentions maps "+name(o.Name)+" to you")),
		slackgo.NewSectionBlock(mrkdwn(text), nil, nil),
		slackgo.NewSectionBlock(mrkdwn(rotate), nil, nil),
		slackgo.NewContextBlock("", mrkdwn(footer(s, RenderOptions{Link: loc.Snapshot, PageLink: loc.Page}))),
	}
	return Message{Text: "Livy token audit: " + strings.Join(counts, ", ") + " on tokens you created", Blocks: blocks}
}
