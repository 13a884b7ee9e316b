package audit

import "slices"

// Match selects a slice of the fleet: gateways by account, region,
// workspace and gateway (IDs or names, globs allowed; an empty list matches
// all), and their findings by rule and minimum severity. It only filters
// what is reported: the snapshot stays complete.
type Match struct {
	Accounts    []string
	Regions     []string
	Workspaces  []string
	Gateways    []string
	Rules       []Rule
	MinSeverity Severity
}

// matchAny reports whether a pattern of pats matches one of the values; an
// empty pats matches everything.
func matchAny(pats []string, values ...string) bool {
	if len(pats) == 0 {
		return true
	}
	for _, p := range pats {
		for _, v := range values {
			if v == "" && p != SelfAccount {
				continue
			}
			if Glob(p, v) {
				return true
			}
		}
	}
	return false
}

func accountValues(id, name string) []string {
	if id == "" {
		return []string{SelfAccount}
	}
	return []string{id, name}
}

// Gateway reports whether g is in the slice.
func (m Match) Gateway(g *GatewayReport) bool {
	return matchAny(m.Accounts, accountValues(g.AccountID, g.AccountName)...) &&
		matchAny(m.Regions, g.Region) &&
		matchAny(m.Workspaces, g.WorkspaceID, g.WorkspaceName) &&
		matchAny(m.Gateways, g.GatewayID, g.GatewayName)
}

// Finding reports whether f is of the slice's rules and severity.
func (m Match) Finding(f *Finding) bool {
	return (len(m.Rules) == 0 || slices.Contains(m.Rules, f.Rule)) && f.Severity >= m.MinSeverity
}

// ScopeError reports whether a failure above the gateway level may hide
// gateways of the slice (its gateway filter cannot tell, so it is not
// consulted).
func (m Match) ScopeError(e *ScopeError) bool {
	return matchAny(m.Accounts, accountValues(e.AccountID, e.AccountName)...) &&
		(e.Region == "" || matchAny(m.Regions, e.Region)) &&
		(e.WorkspaceID == "" || matchAny(m.Workspaces, e.WorkspaceID, e.WorkspaceName))
}

// Covers reports whether every gateway that a failure above the gateway
// level may hide is in the slice: then the slice's destination is the only
// one that needs to hear of it. A region's failure may hide a gateway of
// any of its workspaces, an account's one of any region.
func (m Match) Covers(e *ScopeError) bool {
	switch {
	case len(m.Gateways) > 0 || !matchAny(m.Accounts, accountValues(e.AccountID, e.AccountName)...):
		return false
	case e.Region == "":
		return len(m.Regions) == 0 && len(m.Workspaces) == 0
	case !matchAny(m.Regions, e.Region):
		return false
	case e.WorkspaceID == "":
		return len(m.Workspaces) == 0
	}
	return matchAny(m.Workspaces, e.WorkspaceID, e.WorkspaceName)
}

// Change reports whether a change is of the slice; g is the change's
// gateway in the snapshot (nil when it is not there: then only its IDs can
// match).
func (m Match) Change(c *Change, g *GatewayReport) bool {
	if g == nil {
		g = &GatewayReport{AccountID: c.AccountID, AccountName: c.AccountName, Region: c.Region, WorkspaceID: c.WorkspaceID, GatewayID: c.GatewayID}
	}
	if !m.Gateway(g) {
		return false
	}
	sev := SeverityLow
	if c.Severity != nil {
		sev = *c.Severity
	}
	return c.Rule == "" || m.Finding(&Finding{Rule: c.Rule, Severity: sev})
}

// Slice returns a copy of s that holds only a slice of it: the gateways
// keepGateway keeps (with the findings keepFinding keeps), the failures
// keepErr keeps and the changes keepChange keeps, counted again.
func Slice(s *Snapshot, keepGateway func(*GatewayReport) bool, keepFinding func(*GatewayReport, *Finding) bool,
	keepErr func(*ScopeError) bool, keepChange func(*Change, *GatewayReport) bool) *Snapshot {
	out := *s
	byKey := make(map[string]*GatewayReport, len(s.Gateways))
	out.Gateways = make([]GatewayReport, 0, len(s.Gateways))
	for i := range s.Gateways {
		g := &s.Gateways[i]
		byKey[g.Ref().Key()] = g
		if !keepGateway(g) {
			continue
		}
		cp := *g
		cp.Tokens = make([]TokenReport, 0, len(g.Tokens))
		for j := range g.Tokens {
			t := g.Tokens[j]
			t.Findings = slices.DeleteFunc(slices.Clone(t.Findings), func(f Finding) bool { return !keepFinding(g, &f) })
			cp.Tokens = append(cp.Tokens, t)
		}
		out.Gateways = append(out.Gateways, cp)
	}
	out.Errors = slices.DeleteFunc(slices.Clone(s.Errors), func(e ScopeError) bool { return !keepErr(&e) })
	if s.Changes != nil {
		c := *s.Changes
		for _, l := range []*[]Change{&c.New, &c.Escalated, &c.Resolved, &c.Removed, &c.Unknown} {
			*l = slices.DeleteFunc(slices.Clone(*l), func(ch Change) bool {
				return !keepChange(&ch, byKey[gatewayKey(ch.AccountID, ch.Region, ch.WorkspaceID, ch.GatewayID)])
			})
		}
		out.Changes = &c
	}
	out.Scope = sliceScope(s.Scope, out.Gateways, out.Errors)
	out.recount()
	return &out
}

// sliceScope keeps of a scope what a slice still holds: the accounts and
// regions of its gateways and failures, so that its coverage counts them
// and not the whole run's.
func sliceScope(sc ScopeReport, gws []GatewayReport, errs []ScopeError) ScopeReport {
	regions := map[string]map[string]bool{} // account -> regions
	add := func(account, region string) {
		if regions[account] == nil {
			regions[account] = map[string]bool{}
		}
		if region != "" {
			regions[account][region] = true
		}
	}
	for _, g := range gws {
		add(g.AccountID, g.Region)
	}
	for _, e := range errs {
		add(e.AccountID, e.Region)
	}
	keep := func(account string, rs []string) []string {
		out := []string{}
		for _, r := range rs {
			if regions[account][r] {
				out = append(out, r)
			}
		}
		return out
	}
	out := sc
	out.Regions, out.Gateways, out.Workspaces = keep("", sc.Regions), []string{}, sc.Workspaces
	if _, ok := regions[""]; ok && len(out.Regions) == 0 {
		out.Gateways = sc.Gateways // explicit gateways only
	}
	out.Accounts = nil
	for _, a := range sc.Accounts {
		if _, ok := regions[a.ID]; ok {
			a.Regions = keep(a.ID, a.Regions)
			out.Accounts = append(out.Accounts, a)
		}
	}
	return out
}

// recount computes the summary and the verdict again from the gateways,
// errors and changes.
func (s *Snapshot) recount() {
	sum := Summary{Findings: map[Rule]int{}}
	for r := range s.Summary.Findings {
		sum.Findings[r] = 0
	}
	for _, g := range s.Gateways {
		sum.Gateways++
		if g.Public != nil && *g.Public {
			sum.PublicGateways++
		}
		if g.DetailsError != nil {
			sum.DetailsErrors++
		}
		if g.Error != nil {
			sum.GatewaysFailed++
			continue
		}
		for _, t := range g.Tokens {
			sum.Tokens++
			sum.Suppressed += len(t.Suppressed)
			sum.DataErrors += len(t.DataErrors)
			for _, f := range t.Findings {
				sum.Findings[f.Rule]++
			}
		}
		sum.DuplicateTokens += len(g.DuplicateTokenIDs)
	}
	sum.Errors = len(s.Errors)
	if s.Changes != nil {
		n := s.Changes.Counts()
		sum.Changes = &n
	}
	s.Summary = sum
	s.Verdict = sum.verdict()
}
