package audit

import (
	"cmp"
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

// Check refuses a narrowing that names an empty value, or one with path
// characters (/, \, ?, #, %, control characters, "." or ".."): such a name
// is no account, region, workspace or gateway, and it must never reach an
// API path.
func (n Narrowing) Check() error {
	check := func(what, v string) error {
		switch {
		case strings.TrimSpace(v) == "":
			return fmt.Errorf("%s: an empty value", what)
		case v == "." || v == "..":
			return fmt.Errorf("%s %q is not a name", what, v)
		case strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f || strings.ContainsRune(`/\?#%`, r) }):
			return fmt.Errorf("%s %q has a character that no name has (/, \\, ?, #, %%, control)", what, Truncate(v, 64))
		case len(v) > MaxText:
			return fmt.Errorf("%s %q is longer than any name", what, Truncate(v, 64))
		}
		return nil
	}
	for _, list := range []struct {
		what   string
		values []string
	}{{"account", n.Accounts}, {"region", n.Regions}, {"workspace", n.Workspaces}} {
		for _, v := range list.values {
			if err := check(list.what, v); err != nil {
				return err
			}
		}
	}
	for i, g := range n.Gateways {
		for _, f := range []struct{ what, v string }{{"region", g.Region}, {"workspace", g.WorkspaceID}, {"gateway", g.GatewayID}} {
			if err := check(fmt.Sprintf("gateways[%d] %s", i, f.what), f.v); err != nil {
				return err
			}
		}
		if g.AccountID != "" {
			if err := check(fmt.Sprintf("gateways[%d] account", i), g.AccountID); err != nil {
				return err
			}
		}
	}
	return nil
}

// Empty reports whether the narrowing narrows nothing.
func (n Narrowing) Empty() bool {
	return len(n.Accounts) == 0 && len(n.Regions) == 0 && len(n.Workspaces) == 0 && len(n.Gateways) == 0
}

// Narrow applies n to the configured accounts. It returns an error naming
// the first thing that is outside the configured scope; nothing is called.
func Narrow(accounts []Account, n Narrowing) ([]Account, error) {
	if err := n.Check(); err != nil {
		return nil, err
	}
	out, err := narrowAccounts(accounts, n.Accounts)
	if err != nil || len(n.Regions) == 0 && len(n.Workspaces) == 0 && len(n.Gateways) == 0 {
		return out, err
	}
	scopes, err := narrowRegions(out, n)
	if err != nil {
		return nil, err
	}
	if len(n.Workspaces) > 0 {
		if err := narrowWorkspaces(out, scopes, n.Workspaces); err != nil {
			return nil, err
		}
	}
	if err := narrowGateways(out, scopes, n.Gateways); err != nil {
		return nil, err
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

// accountLabel names an account as a narrowing does.
func accountLabel(a Account) string {
	if a.ID == "" {
		return SelfAccount
	}
	return a.Name
}

// isAccount reports whether a is the account a narrowing names (by name or
// ID; "" and SelfAccount name the run's own).
func isAccount(a Account, nameOrID string) bool {
	if nameOrID == "" || nameOrID == SelfAccount {
		return a.ID == ""
	}
	return a.ID == nameOrID || a.Name == nameOrID
}

// narrowAccounts keeps the accounts named (all when none is).
func narrowAccounts(accounts []Account, names []string) ([]Account, error) {
	selected := make([]bool, len(accounts))
	for i := range selected {
		selected[i] = len(names) == 0
	}
	for _, name := range names {
		i := slices.IndexFunc(accounts, func(a Account) bool { return isAccount(a, name) })
		if i < 0 {
			var known []string
			for _, a := range accounts {
				known = append(known, accountLabel(a))
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
	return out, nil
}

// narrowRegions checks the regions asked for and returns each account's
// scope narrowed to them: with regions, the discovered regions among them
// (and the workspace filter with them) and the explicit gateways in them;
// with workspaces only, the whole scope (narrowed next); with gateways
// only, nothing yet.
func narrowRegions(out []Account, n Narrowing) ([]Scope, error) {
	// A region is in the scope when it is discovered, or holds an explicit
	// gateway.
	var all []string
	for _, a := range out {
		all = append(all, a.Scope.Regions...)
		for _, g := range a.Scope.Gateways {
			all = append(all, g.Region)
		}
	}
	all = Dedupe(all)
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
	return scopes, nil
}

// narrowWorkspaces narrows each scope to the workspaces asked for: those
// its discovery may find (within the account's workspace filter) and its
// explicit gateways in them. At least one account must have one.
func narrowWorkspaces(out []Account, scopes []Scope, workspaces []string) error {
	allowed := false
	for i, a := range out {
		sc := &scopes[i]
		var ws []string
		for _, w := range workspaces {
			if len(sc.Regions) > 0 && (len(a.Scope.Workspaces) == 0 || slices.Contains(a.Scope.Workspaces, w)) {
				ws = append(ws, w)
			}
		}
		keep := sc.Gateways[:0:0]
		for _, g := range sc.Gateways {
			if slices.Contains(workspaces, g.WorkspaceID) {
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
		return fmt.Errorf("workspaces %v are outside the configured scope (discovered regions and their workspaces filter, or explicit gateways)", workspaces)
	}
	return nil
}

// narrowGateways adds each gateway asked for to its account's scope: it
// must be an explicit gateway of the config, or one its discovery may find.
func narrowGateways(out []Account, scopes []Scope, gateways []GatewayRef) error {
	for i, g := range gateways {
		if g.Region == "" || g.WorkspaceID == "" || g.GatewayID == "" {
			return fmt.Errorf("gateways[%d] needs region, workspace and gateway", i)
		}
		j := slices.IndexFunc(out, func(a Account) bool { return isAccount(a, g.AccountID) })
		if j < 0 {
			return fmt.Errorf("gateways[%d]: account %q is not among the accounts of this run", i, Truncate(cmp.Or(g.AccountID, SelfAccount), 64))
		}
		a := out[j]
		ref := GatewayRef{AccountID: a.ID, AccountName: a.Name, Region: g.Region, WorkspaceID: g.WorkspaceID, GatewayID: g.GatewayID}
		explicit := slices.ContainsFunc(a.Scope.Gateways, func(c GatewayRef) bool {
			return c.Region == ref.Region && c.WorkspaceID == ref.WorkspaceID && c.GatewayID == ref.GatewayID
		})
		discoverable := slices.Contains(a.Scope.Regions, g.Region) && (len(a.Scope.Workspaces) == 0 || slices.Contains(a.Scope.Workspaces, g.WorkspaceID))
		if !explicit && !discoverable {
			return fmt.Errorf("gateways[%d] %s is outside the configured scope", i, Truncate(ref.Key(), 200))
		}
		scopes[j].Gateways = append(scopes[j].Gateways, GatewayRef{Region: g.Region, WorkspaceID: g.WorkspaceID, GatewayID: g.GatewayID})
	}
	return nil
}

// Whole reports whether narrowed, a narrowing of accounts, is all of it:
// every account, with every region, workspace filter and gateway (in any
// order). Such a narrowing (-account self on a one-account config, every
// configured region) is a full run.
func Whole(narrowed, accounts []Account) bool {
	if len(narrowed) != len(accounts) {
		return false
	}
	same := func(a, b []string) bool {
		a, b = slices.Clone(a), slices.Clone(b)
		slices.Sort(a)
		slices.Sort(b)
		return slices.Equal(slices.Compact(a), slices.Compact(b))
	}
	keys := func(gs []GatewayRef) []string {
		out := make([]string, len(gs))
		for i, g := range gs {
			out[i] = g.Key()
		}
		return out
	}
	for i := range accounts {
		n, a := narrowed[i].Scope, accounts[i].Scope
		if narrowed[i].ID != accounts[i].ID || !same(n.Regions, a.Regions) || !same(n.Workspaces, a.Workspaces) || !same(keys(n.Gateways), keys(a.Gateways)) {
			return false
		}
	}
	return true
}
