package config

import (
	"cmp"
	"fmt"
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
	ExpiringWithin string            `yaml:"expiringWithin"`
	StaleAfter     string            `yaml:"staleAfter"`
	UnusedAfter    string            `yaml:"unusedAfter"`
	MaxLifetime    string            `yaml:"maxLifetime"`
	MinSecretBits  *int              `yaml:"minSecretBits"`
	Severity       map[string]string `yaml:"severity"`
	ExpiryStages   []string          `yaml:"expiryStages"`
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

// rules validates the rules section into the policy.
func (v *validator) rules(c *Config, r raw) {
	rr := r.Rules
	p := audit.DefaultPolicy()
	p.ExpiringWithin = v.duration("rules.expiringWithin", rr.ExpiringWithin, p.ExpiringWithin)
	p.StaleAfter = v.duration("rules.staleAfter", rr.StaleAfter, p.StaleAfter)
	p.UnusedAfter = v.duration("rules.unusedAfter", rr.UnusedAfter, p.UnusedAfter)
	p.MaxLifetime = v.duration("rules.maxLifetime", rr.MaxLifetime, 0)
	if len(rr.ExpiryStages) > 0 && rr.ExpiringWithin != "" {
		v.fail("rules.expiryStages", "set expiringWithin (one stage) or expiryStages, not both")
	}
	for i, st := range rr.ExpiryStages {
		f := fmt.Sprintf("rules.expiryStages[%d]", i)
		d := v.duration(f, st, 0)
		switch {
		case d <= 0:
			v.fail(f, "%q: a stage is a duration more than 0, like 30d", st)
		case slices.Contains(p.ExpiryStages, d):
			v.fail(f, "%q is listed twice", st)
		default:
			p.ExpiryStages = append(p.ExpiryStages, d)
		}
	}
	slices.SortFunc(p.ExpiryStages, func(a, b time.Duration) int { return cmp.Compare(b, a) }) // longest first
	if p.StaleAfter == 0 {
		v.fail("rules.staleAfter", "must be more than 0 (every used token would be stale)")
	}
	if n := rr.MinSecretBits; n != nil {
		if *n < 1 || *n > 1024 {
			v.fail("rules.minSecretBits", "%d is out of range (1 to 1024 bits)", *n)
		}
		p.MinSecretBits = *n
	}
	for _, k := range sortedKeys(rr.Severity) {
		f := "rules.severity." + k
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
	c.Policy = p
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
