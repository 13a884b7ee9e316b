package audit

import "slices"

// Scope says what to audit in one account: every gateway of every workspace
// in Regions (only the workspaces named in Workspaces, by ID or name, when
// set), plus the explicit Gateways, which need no discovery calls.
type Scope struct {
	Regions    []string
	Workspaces []string
	Gateways   []GatewayRef
}

// Account is one Alibaba Cloud account of an audit and its scope. ID and
// Name are empty for the run's own account; the others are reached by
// assuming RoleARN.
type Account struct {
	ID      string
	Name    string
	RoleARN string
	Scope   Scope
}

// ScopeReportOf records what a run over accounts was asked to audit;
// partial says it was narrowed to part of the configured scope.
func ScopeReportOf(accounts []Account, partial bool) ScopeReport {
	r := ScopeReport{Regions: []string{}, Workspaces: []string{}, Gateways: []string{}, Partial: partial}
	for _, a := range accounts {
		if a.ID == "" {
			r.Regions, r.Workspaces, r.Gateways = nonNil(Dedupe(a.Scope.Regions)), nonNil(a.Scope.Workspaces), gatewayKeys(a.Scope.Gateways)
			continue
		}
		r.Accounts = append(r.Accounts, AccountScopeReport{ID: a.ID, Name: a.Name, RoleARN: a.RoleARN,
			Regions: nonNil(Dedupe(a.Scope.Regions)), Workspaces: nonNil(a.Scope.Workspaces), Gateways: gatewayKeys(a.Scope.Gateways)})
	}
	return r
}

func gatewayKeys(g []GatewayRef) []string {
	out := []string{}
	for _, r := range g {
		out = append(out, r.Key())
	}
	slices.Sort(out)
	return out
}

// Dedupe returns s sorted, each value once.
func Dedupe(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
