package config

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"livy-token-audit/audit"
)

// rawProfile is one of rules.profiles: a class of tokens (match) and the
// thresholds that differ from the top-level rules' (stages is
// expiryStages by its short name).
type rawProfile struct {
	Name          string          `yaml:"name"`
	Match         rawProfileMatch `yaml:"match"`
	rawThresholds `yaml:",inline"`
	Stages        []string `yaml:"stages"`
}

type rawProfileMatch struct {
	Accounts   []string `yaml:"accounts"`
	Regions    []string `yaml:"regions"`
	Workspaces []string `yaml:"workspaces"`
	Gateways   []string `yaml:"gateways"`
	Kinds      []string `yaml:"kinds"`
	Tokens     []string `yaml:"tokens"`
}

// profiles validates rules.profiles: each has a name of its own and a
// match that names something, within the config's scope; one that an
// earlier profile covers could never match, and is refused.
func (v *validator) profiles(c *Config, raw []rawProfile) []audit.Profile {
	var out []audit.Profile
	names := map[string]bool{audit.DefaultProfile: true}
	for i, rp := range raw {
		f := fmt.Sprintf("rules.profiles[%d]", i)
		switch {
		case !nameRe.MatchString(rp.Name):
			v.fail(f+".name", "missing or not a name like ci (letters, digits, . _ -)")
		case names[rp.Name]:
			v.fail(f+".name", "%q is another profile's name (or the default's)", rp.Name)
		}
		names[rp.Name] = true
		m := audit.ProfileMatch{Accounts: rp.Match.Accounts, Regions: rp.Match.Regions, Workspaces: rp.Match.Workspaces,
			Gateways: rp.Match.Gateways, Kinds: rp.Match.Kinds, Tokens: rp.Match.Tokens}
		if m.Empty() {
			v.fail(f+".match", "missing or empty: a profile names the tokens it is for (accounts, regions, workspaces, gateways, kinds, tokens)")
		}
		v.profileMatch(c, f+".match", rp.Match)
		for j, earlier := range out {
			if !m.Empty() && earlier.Match.Covers(m) {
				v.fail(f+".match", "can never match: rules.profiles[%d] (%s) comes first and matches every token this one does", j, earlier.Name)
				break
			}
		}
		th := rp.rawThresholds
		if len(rp.Stages) > 0 {
			if len(th.ExpiryStages) > 0 {
				v.fail(f+".stages", "set stages or expiryStages, not both")
			}
			th.ExpiryStages, th.stagesKey = rp.Stages, "stages"
		}
		fallback := c.Policy.ExpiringWithin
		p := v.thresholds(f, th, c.Policy, fallback)
		if p.StaleAfter == 0 {
			v.fail(f+".staleAfter", "must be more than 0 (every used token would be stale)")
		}
		out = append(out, audit.Profile{Name: rp.Name, Match: m, Policy: p})
	}
	return out
}

// profileMatch checks a profile's match: valid globs, known kinds, and
// literal accounts and regions that the config audits.
func (v *validator) profileMatch(c *Config, field string, m rawProfileMatch) {
	lists := []struct {
		key  string
		pats []string
	}{{"accounts", m.Accounts}, {"regions", m.Regions}, {"workspaces", m.Workspaces}, {"gateways", m.Gateways}, {"kinds", m.Kinds}, {"tokens", m.Tokens}}
	accounts := []string{audit.SelfAccount}
	var regions []string
	for _, a := range c.AuditAccounts() {
		accounts = append(accounts, a.ID, a.Name)
		regions = append(regions, a.Scope.Regions...)
		for _, g := range a.Scope.Gateways {
			regions = append(regions, g.Region)
		}
	}
	for _, l := range lists {
		for j, pat := range l.pats {
			f := fmt.Sprintf("%s.%s[%d]", field, l.key, j)
			if _, err := path.Match(pat, ""); err != nil || pat == "" {
				v.fail(f, "%q is not a valid glob", pat)
				continue
			}
			literal := !strings.ContainsAny(pat, `*?[\`)
			switch {
			case l.key == "kinds" && pat != audit.KindLivy && pat != audit.KindKyuubi:
				v.fail(f, "%q is not a kind of gateway: livy or kyuubi", pat)
			case l.key == "accounts" && literal && !slices.Contains(accounts, pat):
				v.fail(f, "%q is not an audited account (self, or a name or ID of accounts:)", pat)
			case l.key == "regions" && literal && !slices.Contains(regions, pat):
				v.fail(f, "%q is not an audited region %v", pat, compactSorted(regions))
			case l.key == "workspaces" && literal && !v.workspaceInScope(c, pat):
				v.fail(f, "%q is outside the configured workspaces", pat)
			}
		}
	}
}

// workspaceInScope reports whether a workspace may be audited: every
// workspace may, unless each audited account lists its workspaces (or
// names its gateways) and none names it.
func (v *validator) workspaceInScope(c *Config, ws string) bool {
	for _, a := range c.AuditAccounts() {
		if len(a.Scope.Regions) > 0 && len(a.Scope.Workspaces) == 0 {
			return true // discovered: any workspace may be there
		}
		if slices.Contains(a.Scope.Workspaces, ws) || slices.ContainsFunc(a.Scope.Gateways, func(g audit.GatewayRef) bool { return g.WorkspaceID == ws }) {
			return true
		}
	}
	return false
}

func compactSorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
