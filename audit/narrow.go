package audit

import (
	"fmt"
	"slices"
	"strings"
)

// SelfAccount names the run's own account in a Narrowing.
const SelfAccount = "self"

// Narrowing narrows a run to part of the configured scope (an ad-hoc audit
// from a manual event or the CLI); it can never widen it.
type Narrowing struct {
	// Accounts are names or IDs of configured accounts (SelfAccount for the
	// run's own); empty means every account.
	Accounts []string
	// Regions keeps only these regions of each account's discovery, and the
	// explicit gateways in them.
	Regions []string
	// Workspaces keeps only these workspaces (IDs or names) of each
	// account's discovery, and the explicit gateways in them.
	Workspaces []string
	// Gateways are single gateways to audit; each one's AccountID holds the
	// name or ID of its account as given (empty for the run's own).
	Gateways []GatewayRef
}

// Empty reports whether the narrowing narrows nothing.
func (n Narrowing) Empty() bool {
	return len(n.Accounts) == 0 && len(n.Regions) == 0 && len(n.Workspaces) == 0 && len(n.Gateways) == 0
}

// Narrow applies n to the configured accounts. It returns an error naming
// the first thing that is outside the configured scope; nothing is called.
func Narrow(accounts []Account, n Narrowing) ([]Account, error) {
	label := func(a Account) string {
		if a.ID == "" {
			return SelfAccount
		}
		return a.Name
	}
	find := func(nameOrID string) int {
		return slices.IndexFunc(accounts, func(a Account) bool {
			if nameOrID == "" || nameOrID == SelfAccount {
				return a.ID == ""
			}
			return a.ID == nameOrID || a.Name == nameOrID
		})
	}
	selected := make([]bool, len(accounts))
	if len(n.Accounts) == 0 {
		for i := range selected {
			selected[i] = true
		}
	}
	for _, name := range n.Accounts {
		i := find(name)
		if i < 0 {
			var known []string
			for _, a := range accounts {
				known = append(known, label(a))
			}
			return nil, fmt.Errorf("account %q is not a configured account (configured: %s)", Truncate(name, 64), strings.Join(known, ", "))
		}
		selected[i] = true
	}
	out := make([]Account, 0, len(accounts))
	for i, a := range accounts {
		if selected[i] {
			out = append(out, a)
		}
	}
	if len(n.Regions) == 0 && len(n.Workspaces) == 0 && len(n.Gateways) == 0 {
		return out, nil
	}

	// A region is in the scope when it is discovered, or holds an explicit
	// gateway.
	var all []string
	for _, a := range out {
		all = append(all, a.Scope.Regions...)
		for _, g := range a.Scope.Gateways {
			all = append(all, g.Region)
		}
	}
	all = dedupe(all)
	for _, r := range n.Regions {
		if !slices.Contains(all, r) {
			return nil, fmt.Errorf("region %q is not in the configured regions %v", Truncate(r, 64), all)
		}
	}
	scopes := make([]Scope, len(out))
	switch {
	case len(n.Regions) > 0:
		for i, a := range out {
			for _, r := range a.Scope.Regions {
				if slices.Contains(n.Regions, r) {
					scopes[i].Regions = append(scopes[i].Regions, r)
				}
			}
			if len(scopes[i].Regions) > 0 {
				scopes[i].Workspaces = a.Scope.Workspaces
			}
			for _, g := range a.Scope.Gateways {
				if slices.Contains(n.Regions, g.Region) {
					scopes[i].Gateways = append(scopes[i].Gateways, g)
				}
			}
		}
	case len(n.Workspaces) > 0:
		for i, a := range out {
			scopes[i] = a.Scope
		}
	}
	if len(n.Workspaces) > 0 {
		allowed := false
		for i, a := range out {
			sc := &scopes[i]
			var ws []string
			for _, w := range n.Workspaces {
				if len(sc.Regions) > 0 && (len(a.Scope.Workspaces) == 0 || slices.Contains(a.Scope.Workspaces, w)) {
					ws = append(ws, w)
				}
			}
			keep := sc.Gateways[:0:0]
			for _, g := range sc.Gateways {
				if slices.Contains(n.Workspaces, g.WorkspaceID) {
					keep = append(keep, g)
				}
			}
			sc.Gateways = keep
			if len(ws) == 0 {
				sc.Regions, sc.Workspaces = nil, nil
			} else {
				sc.Workspaces = ws
			}
			allowed = allowed || len(ws) > 0 || len(keep) > 0
		}
		if !allowed {
			return nil, fmt.Errorf("workspaces %v are outside the configured scope (discovered regions and their workspaces filter, or explicit gateways)", n.Workspaces)
		}
	}
	for i, g := range n.Gateways {
		if g.Region == "" || g.WorkspaceID == "" || g.GatewayID == "" {
			return nil, fmt.Errorf("gateways[%d] needs region, workspace and gateway", i)
		}
		j := slices.IndexFunc(out, func(a Account) bool {
			if g.AccountID == "" || g.AccountID == SelfAccount {
				return a.ID == ""
			}
			return a.ID == g.AccountID || a.Name == g.AccountID
		})
		if j < 0 {
			return nil, fmt.Errorf("gateways[%d]: account %q is not among the accounts of this run", i, Truncate(cmpOr(g.AccountID, SelfAccount), 64))
		}
		a := out[j]
		ref := GatewayRef{AccountID: a.ID, AccountName: a.Name, Region: g.Region, WorkspaceID: g.WorkspaceID, GatewayID: g.GatewayID}
		explicit := slices.ContainsFunc(a.Scope.Gateways, func(c GatewayRef) bool {
			return c.Region == ref.Region && c.WorkspaceID == ref.WorkspaceID && c.GatewayID == ref.GatewayID
		})
		discoverable := slices.Contains(a.Scope.Regions, g.Region) && (len(a.Scope.Workspaces) == 0 || slices.Contains(a.Scope.Workspaces, g.WorkspaceID))
		if !explicit && !discoverable {
			return nil, fmt.Errorf("gateways[%d] %s is outside the configured scope", i, Truncate(ref.Key(), 200))
		}
		scopes[j].Gateways = append(scopes[j].Gateways, GatewayRef{Region: g.Region, WorkspaceID: g.WorkspaceID, GatewayID: g.GatewayID})
	}
	narrowed := out[:0]
	for i, a := range out {
		if len(scopes[i].Regions) == 0 && len(scopes[i].Gateways) == 0 {
			continue
		}
		a.Scope = scopes[i]
		narrowed = append(narrowed, a)
	}
	return narrowed, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// scopeReport records what a run over accounts was asked to audit.
func scopeReport(accounts []Account, partial bool) ScopeReport {
	r := ScopeReport{Regions: []string{}, Workspaces: []string{}, Gateways: []string{}, Partial: partial}
	for _, a := range accounts {
		if a.ID == "" {
			r.Regions, r.Workspaces, r.Gateways = nonNil(dedupe(a.Scope.Regions)), nonNil(a.Scope.Workspaces), gatewayKeys(a.Scope.Gateways)
			continue
		}
		r.Accounts = append(r.Accounts, AccountScopeReport{ID: a.ID, Name: a.Name, RoleARN: a.RoleARN,
			Regions: nonNil(dedupe(a.Scope.Regions)), Workspaces: nonNil(a.Scope.Workspaces), Gateways: gatewayKeys(a.Scope.Gateways)})
	}
	return r
}
