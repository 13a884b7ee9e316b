package config

import (
	"cmp"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"livy-token-audit/audit"
)

// The rules' defaults are audit.DefaultPolicy's: expiringWithin 7d,
// staleAfter 30d, unusedAfter 14d, no maxLifetime, minSecretBits 128, and
// each rule's severity from the rule table.

type rawRules struct {
	rawThresholds `yaml:",inline"`
	Profiles      []rawProfile `yaml:"profiles"`
}

// rawThresholds are the thresholds of the top-level rules and of a
// profile.
type rawThresholds struct {
	ExpiringWithin string            `yaml:"expiringWithin"`
	StaleAfter     string            `yaml:"staleAfter"`
	UnusedAfter    string            `yaml:"unusedAfter"`
	MaxLifetime    string            `yaml:"maxLifetime"`
	MinSecretBits  *int              `yaml:"minSecretBits"`
	Severity       map[string]string `yaml:"severity"`
	ExpiryStages   []string          `yaml:"expiryStages"`
	// OwnerDormantAfter is rules.ownerDormantAfter (0: off).
	OwnerDormantAfter string `yaml:"ownerDormantAfter"`
	// stagesKey is the key the stages came from (a profile's "stages").
	stagesKey string
}

type rawSuppression struct {
	TokenID string   `yaml:"tokenId"`
	Name    string   `yaml:"name"`
	Gateway string   `yaml:"gateway"`
	Account string   `yaml:"account"`
	Rules   []string `yaml:"rules"`
	Reason  string   `yaml:"reason"`
	Until   string   `yaml:"until"`
}

// rules validates the rules section into the policy, and the profiles.
func (v *validator) rules(c *Config, r raw) {
	p := v.thresholds("rules", r.Rules.rawThresholds, audit.DefaultPolicy(), audit.DefaultPolicy().ExpiringWithin)
	if p.StaleAfter == 0 {
		v.fail("rules.staleAfter", "must be more than 0 (every used token would be stale)")
	}
	c.Policy = p
	c.Profiles = v.profiles(c, r.Rules.Profiles)
}

// thresholds reads a set of thresholds over base (the defaults, or the
// top-level rules for a profile); fallback is the expiring window of a
// token whose lifetime a percentage cannot size.
func (v *validator) thresholds(field string, rr rawThresholds, base audit.Policy, fallback time.Duration) audit.Policy {
	p := base
	p.Severity = maps.Clone(base.Severity)
	if rr.ExpiringWithin != "" || len(rr.ExpiryStages) > 0 {
		p.ExpiringWithin, p.ExpiringPercent, p.ExpiryStages, p.StagePercents = fallback, 0, nil, nil
	}
	if w := rr.ExpiringWithin; strings.HasSuffix(strings.TrimSpace(w), "%") {
		pc, err := audit.ParsePercent(w)
		if err != nil {
			v.fail(field+".expiringWithin", "%v", err)
		}
		p.ExpiringPercent = pc
	} else {
		p.ExpiringWithin = v.duration(field+".expiringWithin", w, p.ExpiringWithin)
	}
	p.StaleAfter = v.duration(field+".staleAfter", rr.StaleAfter, p.StaleAfter)
	p.UnusedAfter = v.duration(field+".unusedAfter", rr.UnusedAfter, p.UnusedAfter)
	p.MaxLifetime = v.duration(field+".maxLifetime", rr.MaxLifetime, p.MaxLifetime)
	if rr.OwnerDormantAfter == "0" {
		p.OwnerDormantAfter = 0
	} else {
		p.OwnerDormantAfter = v.duration(field+".ownerDormantAfter", rr.OwnerDormantAfter, p.OwnerDormantAfter)
	}
	stages := cmp.Or(rr.stagesKey, "expiryStages")
	if len(rr.ExpiryStages) > 0 && rr.ExpiringWithin != "" {
		v.fail(field+"."+stages, "set expiringWithin (one stage) or %s, not both", stages)
	}
	for i, st := range rr.ExpiryStages {
		f := fmt.Sprintf("%s.%s[%d]", field, stages, i)
		if strings.HasSuffix(strings.TrimSpace(st), "%") {
			pc, err := audit.ParsePercent(st)
			switch {
			case err != nil:
				v.fail(f, "%v", err)
			case slices.Contains(p.StagePercents, pc):
				v.fail(f, "%q is listed twice", st)
			default:
				p.StagePercents = append(p.StagePercents, pc)
			}
			continue
		}
		d := v.duration(f, st, 0)
		switch {
		case d <= 0:
			v.fail(f, "%q: a stage is a duration more than 0, like 30d, or a share of the lifetime, like 20%%", st)
		case slices.Contains(p.ExpiryStages, d):
			v.fail(f, "%q is listed twice", st)
		default:
			p.ExpiryStages = append(p.ExpiryStages, d)
		}
	}
	slices.SortFunc(p.ExpiryStages, func(a, b time.Duration) int { return cmp.Compare(b, a) }) // longest first
	slices.SortFunc(p.StagePercents, func(a, b audit.Percent) int { return cmp.Compare(b, a) })
	if n := rr.MinSecretBits; n != nil {
		if *n < 1 || *n > 1024 {
			v.fail(field+".minSecretBits", "%d is out of range (1 to 1024 bits)", *n)
		}
		p.MinSecretBits = *n
	}
	for _, k := range sortedKeys(rr.Severity) {
		f := field + ".severity." + k
		rule, err := audit.ParseRule(k)
		if err != nil {
			v.fail(f, "%v", err)
			continue
		}
		s, err := audit.ParseSeverity(rr.Severity[k])
		if err != nil {
			v.fail(f, "%v", err)
			continue
		}
		p.Severity[rule] = s
	}
	return p
}

// suppressions validates suppressions: each needs a token ID or a name
// glob, and a reason.
func (v *validator) suppressions(c *Config, r raw) {
	for i, s := range r.Suppressions {
		f := fmt.Sprintf("suppressions[%d]", i)
		sup := audit.Suppression{TokenID: s.TokenID, Name: s.Name, Gateway: s.Gateway, Account: s.Account, Reason: strings.TrimSpace(s.Reason)}
		if s.TokenID == "" && s.Name == "" {
			v.fail(f, "needs tokenId or name (a glob like ci-*)")
		}
		for field, pat := range map[string]string{f + ".name": s.Name, f + ".gateway": s.Gateway, f + ".account": s.Account} {
			if _, err := path.Match(pat, ""); err != nil {
				v.fail(field, "%q is not a valid glob", pat)
			}
		}
		for j, name := range s.Rules {
			rule, err := audit.ParseRule(name)
			if err != nil {
				v.fail(fmt.Sprintf("%s.rules[%d]", f, j), "%v", err)
			}
			sup.Rules = append(sup.Rules, rule)
		}
		if sup.Reason == "" {
			v.fail(f+".reason", "missing: every suppression needs a reason")
		}
		if s.Until != "" {
			t, err := time.Parse(time.DateOnly, s.Until)
			if err != nil {
				v.fail(f+".until", "%q is not a date like 2027-03-31", s.Until)
			}
			sup.Until = t
		}
		c.Suppressions = append(c.Suppressions, sup)
	}
}
