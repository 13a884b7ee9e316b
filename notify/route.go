package notify

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
)

// Sender sends reports to one destination: it renders a Report in its
// sink's format and posts it, retrying what can succeed on retry. Each sink
// (notify/slack, notify/webhook) implements it; routing is done here, once
// for every sink.
type Sender interface {
	// Send renders and posts one destination's report.
	Send(ctx context.Context, r *Report) error
	// SendFailure posts the short notice of a run that could not do its
	// job.
	SendFailure(ctx context.Context, f delivery.FailureNotice) error
	// String describes the destination without its secret.
	String() string
}

// Report is what one destination is told by one run: its digest (the
// destination's slice of the run, and every fact its renderers show), and
// where it goes.
type Report struct {
	// Destination names where it goes, stably from run to run: "slack" (the
	// main report), "slack:route:<name>", "slack:owner:<user ID>",
	// "webhook:<name>".
	Destination string
	// Label says where it goes, for people.
	Label string
	// Skip says why nothing goes there this run.
	Skip string
	*Digest
	// Sender sends it; nil when it is only planned (a preview).
	Sender Sender
}

// Route sends the report of a slice of the fleet to one destination.
type Route struct {
	// Destination is the delivery's stable name: "slack:route:team-data",
	// "webhook:tickets".
	Destination string
	// Name is the route's name in the config: it titles its report.
	Name  string
	Match audit.Match
	// Notify is the route's notify mode (always, findings, changes).
	Notify string
	// Exclusive keeps the slice out of the main report.
	Exclusive bool
	// Failures says the route also gets failure notices when there is a
	// main destination (a JSON webhook does; a Slack route hears of them
	// only when there is no main report).
	Failures bool
	// Sender sends its reports; nil plans them without sending.
	Sender Sender
}

// Owners turns on one message per token owner listing their tokens that
// need action.
type Owners struct {
	Enabled     bool
	Rules       []audit.Rule
	MinSeverity audit.Severity
	// Recipients maps a token's createdBy to who gets the owner's message
	// (slack.mentions: a Slack user ID). Several may map to one recipient.
	Recipients map[string]string
	// Prefix names an owner's destination: Prefix + recipient.
	Prefix string
	// To is the sender of a recipient's message; nil plans the messages
	// without sending them.
	To func(recipient string) Sender
}

// Router plans a run's reports: the main report (the catch-all: every
// gateway but the slices of exclusive routes), one report per route (its
// slice of the fleet), one message per token owner. It implements Notifier
// for every sink at once.
type Router struct {
	// Notify is the main report's mode (slack.notify), and the owners'.
	Notify string
	// Main sends the main report ("slack"); nil when there is none.
	Main   Sender
	Routes []Route
	Owners Owners
	// Preview plans the main report and the owners' messages even without a
	// sender (the CLI prints them when nothing is posted).
	Preview bool
}

var _ Notifier = (*Router)(nil)

// MainDestination is the main report's destination name (the name earlier
// versions gave their only one).
const MainDestination = "slack"

// Plan returns what the run would send where: the main report, each
// route's, each owner's, in that order. Each destination's changes are
// what it has not been told, by its ledger (nil: compared with the
// previous audit, as the snapshot's are).
func (rt *Router) Plan(s *audit.Snapshot, loc delivery.Locations, l Ledger) []Report {
	v := views{s: s, l: l, by: map[*audit.Baseline]*audit.Snapshot{}}
	var owners, unowned []Owner
	if rt.Owners.Enabled {
		owners, unowned = rt.owners(s)
	}
	var out []Report
	if rt.Main != nil || rt.Preview {
		view := v.of(MainDestination, rt.Main != nil)
		out = append(out, rt.mainReport(view, loc, rt.changed(unowned, view)))
	}
	for _, r := range rt.Routes {
		view := v.of(r.Destination, r.Sender != nil)
		out = append(out, rt.routeReport(view, loc, r))
	}
	if rt.Owners.Enabled && (rt.Owners.To != nil || rt.Preview) {
		for _, o := range owners {
			id := cmp.Or(rt.Owners.Recipients[o.Name], o.SlackID)
			dest := rt.Owners.Prefix + id
			view := v.of(dest, rt.Owners.To != nil)
			o.Items = rt.changedItems(o.Items, view)
			if len(o.Items) == 0 {
				continue // nothing it has not been told
			}
			d := NewDigest(view, loc)
			d.Owner = &o
			d.Retire = retireView(view, itemTokens(o.Items))
			rep := Report{Destination: dest, Label: "owner " + o.Name + " (" + id + ")", Digest: d}
			if rt.Owners.To != nil {
				rep.Sender = rt.Owners.To(id)
			}
			out = append(out, rep)
		}
	}
	return out
}

// views are the snapshot as each destination sees it: its changes
// compared with what the destination was last told.
type views struct {
	s  *audit.Snapshot
	l  Ledger
	by map[*audit.Baseline]*audit.Snapshot
}

// of returns dest's view of the snapshot. sends is false for a
// destination that is only previewed: it is compared with the previous
// audit.
func (v views) of(dest string, sends bool) *audit.Snapshot {
	if v.l == nil || !sends {
		return v.s
	}
	t := v.l.Told(dest)
	switch {
	case t.Lost != "":
		return v.compare(nil, t.Lost+": everything is told once")
	case t.Base != nil:
		if view, ok := v.by[t.Base]; ok {
			return view
		}
		view := v.compare(t.Base, "the last audit reported here")
		v.by[t.Base] = view
		return view
	}
	return v.s
}

// compare is the snapshot with its changes compared with base instead
// (nil: everything is new); the overdue check stays the run's.
func (v views) compare(base *audit.Baseline, note string) *audit.Snapshot {
	view := *v.s
	audit.Compare(&view, base, nil, 0)
	if v.s.Changes != nil {
		view.Changes.Overdue = v.s.Changes.Overdue
	}
	view.Changes.Note = note
	return &view
}

func (rt *Router) mainReport(s *audit.Snapshot, loc delivery.Locations, unowned []Owner) Report {
	main := s
	var routedTo []string
	if slices.ContainsFunc(rt.Routes, func(r Route) bool { return r.Exclusive }) {
		main, routedTo = rt.catchAll(s)
	}
	d := NewDigest(main, loc)
	d.Unowned, d.Routed, d.RoutedTo = unowned, s.Summary.Gateways-main.Summary.Gateways, routedTo
	rep := Report{Destination: MainDestination, Label: "the main report", Digest: d, Sender: rt.Main}
	if rt.Main != nil {
		rep.Label += " (" + rt.Main.String() + ")"
	}
	rep.Skip = Reason(rt.Notify, main)
	return rep
}

func (rt *Router) routeReport(s *audit.Snapshot, loc delivery.Locations, r Route) Report {
	m := r.Match
	slice := audit.Slice(s, m.Gateway, func(g *audit.GatewayReport, f *audit.Finding) bool { return m.Gateway(g) && m.Finding(f) },
		m.ScopeError, m.Change)
	d := NewDigest(slice, loc)
	d.Route = r.Name
	rep := Report{Destination: r.Destination, Label: "route " + r.Name, Digest: d, Sender: r.Sender}
	if r.Sender != nil {
		rep.Label += " (" + r.Sender.String() + ")"
	}
	empty := len(slice.Gateways) == 0 && len(slice.Errors) == 0
	switch {
	case empty && r.Notify != "always":
		rep.Skip = "nothing in route " + r.Name + "'s slice"
	case !empty:
		rep.Skip = Reason(r.Notify, slice)
	}
	return rep
}

// owners returns the owners to message (one per recipient, in recipient
// order) and those no recipient is mapped for.
func (rt *Router) owners(s *audit.Snapshot) (mapped, unmapped []Owner) {
	o := rt.Owners
	byID := map[string]*Owner{}
	var ids []string
	for _, ow := range ownersOf(s, o.Rules, o.MinSeverity) {
		id := o.Recipients[ow.Name]
		if id == "" {
			id = ow.SlackID // found by the audit (their email)
		}
		if id == "" {
			unmapped = append(unmapped, ow)
			continue
		}
		if m, ok := byID[id]; ok {
			m.Items = append(m.Items, ow.Items...)
			continue
		}
		cp := ow
		byID[id] = &cp
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		mapped = append(mapped, *byID[id])
	}
	return mapped, unmapped
}

// changed keeps, with notify: changes, the owners' items that changed in
// view (a new finding, a nearer expiry stage): an owner hears of a token
// when it changes, not every day in between.
func (rt *Router) changed(owners []Owner, view *audit.Snapshot) []Owner {
	var out []Owner
	for _, o := range owners {
		if o.Items = rt.changedItems(o.Items, view); len(o.Items) > 0 {
			out = append(out, o)
		}
	}
	return out
}

func (rt *Router) changedItems(items []Item, view *audit.Snapshot) []Item {
	c := view.Changes
	if rt.Notify != "changes" || c == nil || c.Previous == nil {
		return items
	}
	changed := noticedKeys(view.Retire) // a notice of deletion is news, changed or not
	for _, l := range [][]audit.Change{c.New, c.Escalated} {
		for _, ch := range l {
			changed[changeKey(ch.AccountID, ch.Region, ch.WorkspaceID, ch.GatewayID, ch.TokenID, ch.Rule)] = true
		}
	}
	return slices.DeleteFunc(slices.Clone(items), func(it Item) bool {
		g := it.Gateway
		return !changed[changeKey(g.AccountID, g.Region, g.WorkspaceID, g.GatewayID, it.Token.TokenID, it.Finding.Rule)]
	})
}

// itemTokens are the tokens of items.
func itemTokens(items []Item) map[*audit.TokenReport]bool {
	out := make(map[*audit.TokenReport]bool, len(items))
	for _, it := range items {
		out[it.Token] = true
	}
	return out
}

func changeKey(account, region, ws, gw, token string, rule audit.Rule) string {
	return strings.Join([]string{account, region, ws, gw, token, string(rule)}, "\x00")
}

// catchAll is the snapshot without the slices of exclusive routes: a route
// without a rule or severity filter takes its gateways out; one with a
// filter takes out only its findings. A failure above the gateway level
// stays unless an exclusive route takes every gateway it may hide (a
// region's failed listing may hide a gateway of any of its workspaces): the
// main report hears of every failure that may hide one of its gateways. It
// also returns the routes that took gateways out.
func (rt *Router) catchAll(s *audit.Snapshot) (*audit.Snapshot, []string) {
	whole := func(m audit.Match) bool { return len(m.Rules) == 0 && m.MinSeverity == 0 }
	var excl []Route
	for _, r := range rt.Routes {
		if r.Exclusive {
			excl = append(excl, r)
		}
	}
	took := map[string]bool{}
	main := audit.Slice(s,
		func(g *audit.GatewayReport) bool {
			i := slices.IndexFunc(excl, func(r Route) bool { return whole(r.Match) && r.Match.Gateway(g) })
			if i >= 0 {
				took[excl[i].Name] = true
			}
			return i < 0
		},
		func(g *audit.GatewayReport, f *audit.Finding) bool {
			return !slices.ContainsFunc(excl, func(r Route) bool { return r.Match.Gateway(g) && r.Match.Finding(f) })
		},
		func(e *audit.ScopeError) bool {
			return !slices.ContainsFunc(excl, func(r Route) bool { return whole(r.Match) && r.Match.Covers(e) })
		},
		func(c *audit.Change, g *audit.GatewayReport) bool {
			return !slices.ContainsFunc(excl, func(r Route) bool { return r.Match.Change(c, g) })
		})
	var names []string
	for _, r := range excl {
		if took[r.Name] {
			names = append(names, r.Name)
		}
	}
	return main, names
}

// Deliveries are the planned reports that have a sender.
func (rt *Router) Deliveries(s *audit.Snapshot, loc delivery.Locations, l Ledger) []Delivery {
	var out []Delivery
	for _, r := range rt.Plan(s, loc, l) {
		if r.Sender == nil {
			continue
		}
		d := Delivery{Destination: r.Destination, Skip: r.Skip, Posted: posted(r.Sender, s.RunID, r.Destination)}
		if sp, ok := r.Sender.(Splitter); ok {
			d = splitDelivery(sp, &r)
		} else if r.Skip == "" {
			d.Send = func(ctx context.Context) error { return r.Sender.Send(ctx, &r) }
			if r.Digest != nil {
				d.Tells = r.Retire.noticedMarks()
			}
		}
		out = append(out, d)
	}
	return out
}

// splitDelivery is the delivery of a report in parts: its notify mode does
// not apply (each part is sent once, when it happens), and with no part
// there is nothing to send.
func splitDelivery(sp Splitter, r *Report) Delivery {
	d := Delivery{Destination: r.Destination}
	parts, err := sp.Parts(r)
	switch {
	case err != nil:
		d.Send = func(context.Context) error { return err }
	case len(parts) == 0:
		d.Skip = "no finding event it has not been told"
	default:
		d.Parts = parts
	}
	return d
}

// FailureDeliveries send a failure notice to the main destination and the
// routes that ask for them, or, when there is no main destination, to
// every route.
func (rt *Router) FailureDeliveries(f delivery.FailureNotice) []Delivery {
	send := func(dest Sender) func(context.Context) error {
		return func(ctx context.Context) error { return dest.SendFailure(ctx, f) }
	}
	var out []Delivery
	if rt.Main != nil {
		out = append(out, Delivery{Destination: MainDestination, Send: send(rt.Main), Posted: posted(rt.Main, f.RunID, FailureDestination)})
	}
	for _, r := range rt.Routes {
		if r.Sender != nil && (rt.Main == nil || r.Failures) {
			out = append(out, Delivery{Destination: r.Destination, Send: send(r.Sender), Posted: posted(r.Sender, f.RunID, FailureDestination)})
		}
	}
	return out
}

// FailureDestination names a failure notice in its message's metadata.
const FailureDestination = "failure"

// posted is the look of a sender that can look for its message (nil when
// it cannot).
func posted(s Sender, runID, dest string) func(context.Context, time.Time) (bool, error) {
	l, ok := s.(Looker)
	if !ok {
		return nil
	}
	return func(ctx context.Context, since time.Time) (bool, error) { return l.Posted(ctx, runID, dest, since) }
}
