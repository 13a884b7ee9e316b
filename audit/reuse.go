package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// reuse tracks, while a run is built, which tokens share one secret value:
// by digest, the chain of tokens (gateway and token index in the snapshot)
// that have it. It holds one map entry per distinct value and 12 bytes per
// token; it is dropped once the run is finished.
type reuse struct {
	first   map[[digestSize]byte]int32 // digest → its first member
	members []reuseMember
}

type reuseMember struct {
	gw, tok int32
	next    int32 // the next member with the same digest, -1 for none
}

func (r *reuse) add(d [digestSize]byte, gw, tok int) {
	if r.first == nil {
		r.first = map[[digestSize]byte]int32{}
	}
	i := int32(len(r.members))
	m := reuseMember{gw: int32(gw), tok: int32(tok), next: -1}
	if head, ok := r.first[d]; ok {
		m.next, r.members[head].next = r.members[head].next, i
	} else {
		r.first[d] = i
	}
	r.members = append(r.members, m)
}

// groups returns the groups of two or more members.
func (r *reuse) groups() [][]reuseMember {
	var out [][]reuseMember
	for _, head := range r.first {
		if r.members[head].next < 0 {
			continue
		}
		var g []reuseMember
		for i := head; i >= 0; i = r.members[i].next {
			g = append(g, r.members[i])
		}
		out = append(out, g)
	}
	return out
}

// maxReuseNamed is how many of the other tokens a reused finding names.
const maxReuseNamed = 5

// markReused gives every token of a group that shares one secret a reused
// finding (one step more severe on a public gateway) naming the others —
// never the value or a digest — and records the gateways it changed. An
// expired token (whose finding is exclusive) is named, not flagged. A
// narrowed run compares only within its scope, and says so. Groups are
// numbered in the order of their first member (by gateway, then token).
func (b *Builder) markReused() {
	s := b.s
	groups := b.reuse.groups()
	b.reuse = reuse{}
	key := func(m reuseMember) string {
		g := &s.Gateways[m.gw]
		return g.Ref().Key() + "\x00" + g.Tokens[m.tok].Name + "\x00" + g.Tokens[m.tok].TokenID
	}
	for _, g := range groups {
		slices.SortFunc(g, func(x, y reuseMember) int { return cmp.Compare(key(x), key(y)) })
	}
	slices.SortFunc(groups, func(x, y []reuseMember) int { return cmp.Compare(key(x[0]), key(y[0])) })
	// The gateways were handed over (to renderings that may still be
	// reading them): their tokens are amended in a copy.
	cloned := map[int32]bool{}
	for _, g := range groups {
		for _, m := range g {
			if !cloned[m.gw] {
				cloned[m.gw] = true
				s.Gateways[m.gw].Tokens = slices.Clone(s.Gateways[m.gw].Tokens)
			}
		}
	}
	changed := map[int32]bool{}
	for n, g := range groups {
		for _, m := range g {
			if b.flagReused(g, m, n+1) {
				changed[m.gw] = true
			}
		}
	}
	for gi := range changed {
		b.amended = append(b.amended, s.Gateways[gi])
	}
	slices.SortFunc(b.amended, func(x, y GatewayReport) int { return cmp.Compare(x.Ref().Key(), y.Ref().Key()) })
}

// flagReused gives member m of group g (numbered n) its finding; false
// when it has an exclusive one already.
func (b *Builder) flagReused(g []reuseMember, m reuseMember, n int) bool {
	s, ev := b.s, b.ev
	gw := &s.Gateways[m.gw]
	tr := &gw.Tokens[m.tok]
	if slices.ContainsFunc(tr.Findings, func(f Finding) bool { return Info(f.Rule).Exclusive }) {
		return false
	}
	var others []string
	for _, o := range g {
		if o != m {
			og := &s.Gateways[o.gw]
			others = append(others, reuseName(og, &og.Tokens[o.tok]))
		}
	}
	msg := fmt.Sprintf("shares its secret with %s: %s", Plural(len(others), "other token"), strings.Join(others[:min(len(others), maxReuseNamed)], "; "))
	if len(others) > maxReuseNamed {
		msg += fmt.Sprintf("; and %d more", len(others)-maxReuseNamed)
	}
	if ev.Scope.Partial {
		msg += " (compared within this run's narrowed scope only)"
	}
	f := Finding{Rule: RuleReused, Severity: ev.Policy.severity(RuleReused), Message: msg, ReuseGroup: n, SharedWith: len(others)}
	if gw.Public != nil && *gw.Public {
		exposed(&f)
	}
	t := Token{ID: tr.TokenID, Name: tr.Name, CreatedBy: tr.CreatedBy}
	b.cands = b.sups.candidates(gw.Ref(), t, b.cands[:0])
	if sup, ok := b.sups.suppressionFor(b.cands, b.matched, gw.Ref(), t, RuleReused, b.now); ok {
		tr.Suppressed = append(tr.Suppressed, SuppressedFinding{Finding: f, Reason: sup.Reason, Until: sup.untilDate(), SnoozedBy: sup.SnoozedBy, SnoozedByName: sup.SnoozedByName})
		s.Summary.Suppressed++
		return true
	}
	i := slices.IndexFunc(tr.Findings, func(x Finding) bool { return Order(x.Rule) > Order(RuleReused) })
	if i < 0 {
		i = len(tr.Findings)
	}
	tr.Findings = slices.Insert(slices.Clip(tr.Findings), i, f)
	s.Summary.Findings[RuleReused]++
	b.dateAndAssign(gw, tr)
	return true
}

// reuseName names a token for a reused finding: its name and ID, and its
// gateway's account, region, workspace and gateway.
func reuseName(g *GatewayReport, t *TokenReport) string {
	where := g.Region + " / " + cmp.Or(g.WorkspaceName, g.WorkspaceID) + " / " + cmp.Or(g.GatewayName, g.GatewayID)
	if g.AccountID != "" {
		where = cmp.Or(g.AccountName, g.AccountID) + " / " + where
	}
	return fmt.Sprintf("%s (%s) on %s", cmp.Or(t.Name, t.TokenID), t.TokenID, where)
}

// Amended returns the gateways Finish changed after Add handed them over
// (their tokens share a secret with others), as the snapshot holds them:
// a rendering made while the fleet was audited takes them again.
func (b *Builder) Amended() []GatewayReport { return b.amended }
