package page

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/notify"
)

// The page leads with what to do: the tokens that need action, the most
// severe first and then the soonest to break, and what changed, named.

// maxActions and maxChanges bound the lists at the top of the page; the
// table below holds every token.
const (
	maxActions = 30
	maxChanges = 50
)

// action is one token that needs action: its most severe finding first.
type action struct {
	Severity, Rule, Name, TokenID, Where, Owner, What, Also string
	rank                                                    int
	deadline                                                *time.Time // when it breaks (an expiry); nil: act now
	order                                                   int
}

// actions lists the tokens with an active finding, ordered by severity,
// then by the time left to act (an expiry soonest first; findings without
// a deadline after them), then by rule and name; at most maxActions, and
// how many more.
func actions(s *audit.Snapshot) ([]action, int) {
	var out []action
	for i := range s.Gateways {
		g := &s.Gateways[i]
		for j := range g.Tokens {
			t := &g.Tokens[j]
			if len(t.Findings) == 0 {
				continue
			}
			worst := slices.MaxFunc(t.Findings, func(a, b audit.Finding) int {
				return cmp.Or(cmp.Compare(a.Severity, b.Severity), cmp.Compare(audit.Order(b.Rule), audit.Order(a.Rule)))
			})
			a := action{Severity: worst.Severity.String(), Rule: audit.Info(worst.Rule).Label, Name: cmp.Or(t.Name, t.TokenID), TokenID: t.TokenID,
				Where: notify.GatewayLabel(*g) + " / " + notify.WorkspaceLabel(*g) + " · " + g.Region, Owner: cmp.Or(t.CreatedBy, "unknown"),
				What: worst.Message, rank: severityRank[worst.Severity], order: audit.Order(worst.Rule)}
			if a.Rule == "expiring" && t.ExpireTime != nil {
				a.deadline = t.ExpireTime
			}
			var also []string
			for _, f := range t.Findings {
				if f.Rule != worst.Rule {
					also = append(also, audit.Info(f.Rule).Label)
				}
			}
			a.Also = strings.Join(also, ", ")
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(x, y action) int {
		if c := cmp.Compare(y.rank, x.rank); c != 0 {
			return c
		}
		switch {
		case x.deadline != nil && y.deadline == nil:
			return -1
		case x.deadline == nil && y.deadline != nil:
			return 1
		case x.deadline != nil && !x.deadline.Equal(*y.deadline):
			return x.deadline.Compare(*y.deadline)
		}
		return cmp.Or(cmp.Compare(x.order, y.order), cmp.Compare(x.Name, y.Name), cmp.Compare(x.TokenID, y.TokenID))
	})
	more := max(0, len(out)-maxActions)
	return out[:min(len(out), maxActions)], more
}

// changeLines names what changed since the previous audit, token by token:
// "new: etl-nightly (tk-001) · expired · etl-gateway / data-platform". The
// unknown ones (their gateway failed) are only counted, in the header.
func changeLines(s *audit.Snapshot) ([]string, int) {
	c := s.Changes
	if c == nil || c.Previous == nil {
		return nil, 0
	}
	names := map[string]string{}
	for _, g := range s.Gateways {
		names[g.Ref().Key()] = notify.GatewayLabel(g) + " / " + notify.WorkspaceLabel(g)
	}
	var out []string
	for _, k := range []struct {
		kind string
		list []audit.Change
	}{{"new", c.New}, {"escalated", c.Escalated}, {"resolved", c.Resolved}, {"removed", c.Removed}} {
		for _, ch := range k.list {
			rule := stageOf(audit.Info(ch.Rule).Label, ch.Stage)
			if ch.Rule == "" {
				rule = "no findings"
			}
			if ch.From != "" {
				rule = stageOf(audit.Info(ch.From).Label, ch.FromStage) + " → " + rule
			}
			where := names[audit.GatewayRef{AccountID: ch.AccountID, Region: ch.Region, WorkspaceID: ch.WorkspaceID, GatewayID: ch.GatewayID}.Key()]
			out = append(out, fmt.Sprintf("%s: %s (%s) · %s · %s", k.kind, cmp.Or(ch.Name, ch.TokenID), ch.TokenID, rule, cmp.Or(where, ch.GatewayID)))
		}
	}
	more := max(0, len(out)-maxChanges)
	return out[:min(len(out), maxChanges)], more
}

func stageOf(label, stage string) string {
	if stage == "" {
		return label
	}
	return label + " (" + stage + ")"
}
