package page

import (
	"cmp"
	"strings"

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

// action is one token that needs action, as the page lists it.
type action struct {
	Severity, Rule, Name, TokenID, Where, Owner, What, Also string
	// Fix is what to do, in a few words ("renew before Sat Nov 29 09:00
	// UTC, or delete").
	Fix string
}

// actions lists the digest's tokens that need action, at most maxActions,
// and how many more.
func actions(d *notify.Digest) ([]action, int) {
	var out []action
	for _, a := range d.NeedsAction[:min(len(d.NeedsAction), maxActions)] {
		g, t, f := a.Gateway, a.Token, a.Finding
		also := make([]string, len(a.Also))
		for i, r := range a.Also {
			also[i] = audit.Info(r).Label
		}
		out = append(out, action{Severity: f.Severity.String(), Rule: audit.Info(f.Rule).Label, Name: cmp.Or(t.Name, t.TokenID), TokenID: t.TokenID,
			Where: notify.GatewayLabel(*g) + " / " + notify.WorkspaceLabel(*g) + " · " + g.Region, Owner: cmp.Or(t.CreatedBy, "unknown"),
			What: f.Message, Also: strings.Join(also, ", "), Fix: audit.Info(f.Rule).Fix(t)})
	}
	return out, max(0, len(d.NeedsAction)-maxActions)
}

// changeLines names what changed since the previous audit, token by token:
// "new: etl-nightly (tk-001) · expired · etl-gateway / data-platform". The
// unknown ones (their gateway failed) are only counted, in the header.
func changeLines(d *notify.Digest) ([]string, int) {
	var out []string
	for _, ch := range d.Changes[:min(len(d.Changes), maxChanges)] {
		l := ch.Text()
		if ch.Suppressed != "" {
			l += " · suppressed: " + d.Plain(ch.Suppressed)
		}
		out = append(out, l)
	}
	return out, max(0, len(d.Changes)-maxChanges)
}
