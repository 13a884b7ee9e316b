package notify

import (
	"cmp"
	"time"

	"livy-token-audit/audit"
)

// RetireView is what a run did with the marks for deletion
// (actions.retire) within one destination's slice: the marks made or
// reaching a notice stage in this run (their owners are told now), the
// tokens it deleted, the marks it ended otherwise, and why due tokens
// were not deleted.
type RetireView struct {
	// Acted is false for a run that only looks (dry, narrowed, a preview).
	Acted bool
	// Noticed, Retired and Ended are the slice's entries, each with its
	// token as this run saw it when the token is in the slice.
	Noticed, Retired, Ended []RetireItem
	// Scheduled are the slice's standing marks, the soonest first.
	Scheduled []RetireItem
	// Held says why no due token was deleted; Errors why each of the
	// slice's due tokens was not (the permission a delete role lacks).
	// Both only when the slice has a due token.
	Held   string
	Errors []string
}

// RetireItem is one mark, with its token's Item when the token is in
// the slice (Item.Token nil otherwise).
type RetireItem struct {
	audit.RetireEntry
	Item
}

// Notice says what its owner is told: "will be deleted on 2026-12-21
// unless someone snoozes it or says I own this".
func (e RetireItem) Notice() string {
	return "will be deleted on " + RetireDate(e.DeleteOn) + " unless someone snoozes it or says I own this"
}

// RetireDate is the day a mark's token may be deleted: the first audit on
// or after DeleteOn deletes it.
func RetireDate(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// EndText says how a mark ended: "snoozed by <@U…>: …", "kept: used
// since it was marked".
func (e RetireItem) EndText() string {
	en := e.Ended
	if en == nil {
		return ""
	}
	t := en.How
	if en.By != "" {
		t += " by <@" + en.By + ">"
	}
	if en.Detail != "" {
		t += ": " + en.Detail
	}
	return t
}

// Name is the mark's token name, or its ID.
func (e RetireItem) Name() string { return cmp.Or(e.RetireMark.Name, e.TokenID) }

// retireView is the view of s's retire report within s (a destination's
// slice: its gateways); keep, when set, further keeps only the tokens it
// names (an owner's).
func retireView(s *audit.Snapshot, keep map[*audit.TokenReport]bool) *RetireView {
	r := s.Retire
	if r == nil {
		return nil
	}
	gws := map[string]*audit.GatewayReport{}
	toks := map[string]Item{}
	for i := range s.Gateways {
		g := &s.Gateways[i]
		gws[g.Ref().Key()] = g
		for j := range g.Tokens {
			t := &g.Tokens[j]
			it := Item{Gateway: g, Token: t, Account: AccountLabel(s, g.AccountID, g.AccountName)}
			toks[audit.TokenKey(g.Ref(), t.TokenID)] = it
		}
	}
	in := func(es []audit.RetireEntry) []RetireItem {
		var out []RetireItem
		for _, e := range es {
			g := gws[e.Ref().Key()]
			if g == nil {
				continue
			}
			it, ok := toks[e.Key()]
			if keep != nil && (!ok || !keep[it.Token]) {
				continue
			}
			if !ok {
				it = Item{Gateway: g, Account: AccountLabel(s, g.AccountID, g.AccountName)}
			}
			if it.Token != nil {
				for k := range it.Token.Findings {
					if it.Token.Findings[k].Rule == e.Rule {
						it.Finding = &it.Token.Findings[k]
					}
				}
			}
			out = append(out, RetireItem{RetireEntry: e, Item: it})
		}
		return out
	}
	v := &RetireView{Acted: r.Acted, Noticed: in(r.Noticed), Retired: in(r.Retired), Ended: in(r.Ended), Scheduled: in(r.Scheduled)}
	for _, e := range in(r.Due) {
		if v.Held = r.Held; e.Error != "" {
			v.Errors = append(v.Errors, e.Name()+" ("+e.TokenID+"): "+e.Error)
		}
	}
	return v
}

// News reports whether the view has something to tell: a notice, a
// deletion, a mark ended, or a due token not deleted.
func (v *RetireView) News() bool {
	return v != nil && (len(v.Noticed)+len(v.Retired)+len(v.Ended)+len(v.Errors) > 0 || v.Held != "")
}

// noticedKeys are the tokens and rules (changeKey) whose mark was made,
// noticed or carried out in the run of r: news to their owners whatever
// else changed.
func noticedKeys(r *audit.RetireReport) map[string]bool {
	out := map[string]bool{}
	if r == nil {
		return out
	}
	for _, l := range [][]audit.RetireEntry{r.Noticed, r.Retired} {
		for _, e := range l {
			out[changeKey(e.AccountID, e.Region, e.WorkspaceID, e.GatewayID, e.TokenID, e.Rule)] = true
		}
	}
	return out
}

// noticedMarks are the keys (audit.RetireMark.Key) of the marks whose
// notice the view carries: a report that carries them tells them once it
// is delivered.
func (v *RetireView) noticedMarks() []string {
	if v == nil || !v.Acted {
		return nil
	}
	var out []string
	for _, e := range v.Noticed {
		out = append(out, e.Key())
	}
	return out
}
