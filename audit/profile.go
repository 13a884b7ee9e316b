package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Profile is a class of tokens with thresholds of its own
// (rules.profiles): a CI token should live 30 days, a BI service token
// 180. A token takes the first profile whose Match it meets; Policy is the
// profile's, its unset keys the top-level rules'.
type Profile struct {
	Name   string
	Match  ProfileMatch
	Policy Policy
}

// ProfileMatch says which tokens a profile is for: each list is globs (an
// empty one matches everything); accounts by ID or name (self: the run's
// own), workspaces and gateways by ID or name, kinds (livy, kyuubi), tokens
// by name.
type ProfileMatch struct {
	Accounts, Regions, Workspaces, Gateways, Kinds, Tokens []string
}

// Matches reports whether token t of gateway g is of the profile.
func (m ProfileMatch) Matches(g GatewayRef, t Token) bool {
	return matchAny(m.Accounts, accountValues(g.AccountID, g.AccountName)...) &&
		matchAny(m.Regions, g.Region) &&
		matchAny(m.Workspaces, g.WorkspaceID, g.WorkspaceName) &&
		matchAny(m.Gateways, g.GatewayID, g.GatewayName) &&
		matchAny(m.Kinds, KindOf(g.Kind)) &&
		matchAny(m.Tokens, t.Name)
}

// Empty reports whether the match names nothing (it would take every
// token).
func (m ProfileMatch) Empty() bool {
	return len(m.Accounts)+len(m.Regions)+len(m.Workspaces)+len(m.Gateways)+len(m.Kinds)+len(m.Tokens) == 0
}

// Covers reports whether every token m matches is matched by o too, as far
// as their patterns tell: each of o's lists is empty, or covers each of
// m's patterns (the same pattern, or a glob that matches it as a name). A
// profile after one that covers it never matches.
func (o ProfileMatch) Covers(m ProfileMatch) bool {
	covers := func(outer, inner []string) bool {
		if len(outer) == 0 {
			return true
		}
		if len(inner) == 0 {
			return false
		}
		for _, q := range inner {
			if !slices.ContainsFunc(outer, func(p string) bool { return p == q || !strings.ContainsAny(q, `*?[\`) && Glob(p, q) }) {
				return false
			}
		}
		return true
	}
	return covers(o.Accounts, m.Accounts) && covers(o.Regions, m.Regions) && covers(o.Workspaces, m.Workspaces) &&
		covers(o.Gateways, m.Gateways) && covers(o.Kinds, m.Kinds) && covers(o.Tokens, m.Tokens)
}

// DefaultProfile names the tokens no profile matched, when profiles are
// configured.
const DefaultProfile = "default"

// profileFor is the profile token t of gateway g takes: its name and
// policy (the top-level policy and DefaultProfile when none matches).
func profileFor(profiles []Profile, top Policy, g GatewayRef, t Token) (string, Policy) {
	for i := range profiles {
		if profiles[i].Match.Matches(g, t) {
			return profiles[i].Name, profiles[i].Policy
		}
	}
	return DefaultProfile, top
}

// Percent is a share of a token's lifetime, in hundredths of a percent
// (2000: 20%).
type Percent int

// ParsePercent reads "20%" or "12.5%": 1% to 99%, to a hundredth of a
// percent.
func ParsePercent(s string) (Percent, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	if !ok {
		return 0, fmt.Errorf("%q is not a percentage like 20%%", s)
	}
	whole, frac, _ := strings.Cut(num, ".")
	if len(frac) > 2 {
		return 0, fmt.Errorf("%q: at most two decimals", s)
	}
	frac += strings.Repeat("0", 2-len(frac))
	w, err1 := strconv.Atoi(whole)
	f, err2 := strconv.Atoi(frac)
	if err1 != nil || err2 != nil || w < 0 || f < 0 || strings.HasPrefix(whole, "+") {
		return 0, fmt.Errorf("%q is not a percentage like 20%%", s)
	}
	p := Percent(w*100 + f)
	if p < 100 || p > 9900 {
		return 0, fmt.Errorf("%q is outside 1%% to 99%% of the token's lifetime", s)
	}
	return p, nil
}

// String is "20%" or "12.5%".
func (p Percent) String() string {
	s := strconv.Itoa(int(p) / 100)
	if f := int(p) % 100; f != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%02d", f), "0")
	}
	return s + "%"
}

// Of is p of a lifetime, to the millisecond (rounded down): 20% of 10 days
// is 48 hours exactly.
func (p Percent) Of(life time.Duration) time.Duration {
	return time.Duration(life.Milliseconds()*int64(p)/10000) * time.Millisecond
}

// FieldLifetime is the dataErrors field of a token whose lifetime a
// percentage needs and that has none that can be trusted.
const FieldLifetime = "lifetime"

// For is the policy as it applies to token t: a percentage of the
// lifetime (ExpiringPercent, StagePercents) becomes that token's duration.
// A token with an expiry but no plausible creation time has no lifetime:
// the policy's duration applies (ExpiringWithin: the profile's, the
// top-level rules', or the default), and the DataError says so.
func (p Policy) For(t Token) (Policy, *DataError) {
	if p.ExpiringPercent == 0 && len(p.StagePercents) == 0 {
		return p, nil
	}
	q := p
	q.ExpiringPercent, q.StagePercents = 0, nil
	q.ExpiryStages = slices.Clone(p.ExpiryStages)
	q.stageNames = nil
	life := t.ExpireTime.Sub(t.CreateTime)
	if t.ExpireTime.IsZero() {
		return q, nil // never expires: no window to size
	}
	if t.CreateTime.IsZero() || t.Unknown(FieldCreateTime) || life <= 0 {
		return q, &DataError{Field: FieldLifetime, Message: fmt.Sprintf("no plausible creation time: the expiring window is %s, not %s of the lifetime", FormatDuration(q.window()), p.percents())}
	}
	if p.ExpiringPercent > 0 {
		q.ExpiringWithin = p.ExpiringPercent.Of(life)
	}
	type stage struct {
		d    time.Duration
		name string
	}
	var stages []stage
	for _, d := range p.ExpiryStages {
		stages = append(stages, stage{d, StageName(d)})
	}
	for _, pc := range p.StagePercents {
		stages = append(stages, stage{pc.Of(life), pc.String()})
	}
	slices.SortStableFunc(stages, func(a, b stage) int { return cmp.Compare(b.d, a.d) }) // longest first
	q.ExpiryStages = q.ExpiryStages[:0]
	for _, s := range stages {
		q.ExpiryStages = append(q.ExpiryStages, s.d)
		q.stageNames = append(q.stageNames, s.name)
	}
	return q, nil
}

// percents says the policy's percentages: "20%", "50%, 10%".
func (p Policy) percents() string {
	var out []string
	if p.ExpiringPercent > 0 {
		out = append(out, p.ExpiringPercent.String())
	}
	for _, pc := range p.StagePercents {
		out = append(out, pc.String())
	}
	return strings.Join(out, ", ")
}

// Thresholds are the thresholds that applied to one token (its profile's,
// a percentage resolved for its lifetime), as the snapshot records them.
type Thresholds struct {
	ExpiringWithin string   `json:"expiringWithin"`
	ExpiryStages   []string `json:"expiryStages,omitempty"`
	StaleAfter     string   `json:"staleAfter"`
	UnusedAfter    string   `json:"unusedAfter"`
	MaxLifetime    *string  `json:"maxLifetime"`
	MinSecretBits  int      `json:"minSecretBits"`
}

// thresholds records a resolved policy (Policy.For's).
func (p Policy) thresholds() *Thresholds {
	t := &Thresholds{ExpiringWithin: FormatThreshold(p.window()), StaleAfter: FormatThreshold(p.StaleAfter), UnusedAfter: FormatThreshold(p.UnusedAfter),
		MinSecretBits: int(p.minSecretBits())}
	if p.MaxLifetime > 0 {
		m := FormatThreshold(p.MaxLifetime)
		t.MaxLifetime = &m
	}
	for i, s := range p.ExpiryStages {
		name := StageName(s)
		if i < len(p.stageNames) {
			name = p.stageNames[i] + " (" + FormatThreshold(s) + ")"
		}
		t.ExpiryStages = append(t.ExpiryStages, name)
	}
	return t
}

// FormatThreshold writes a duration as ParseDuration reads it, exactly
// to the millisecond: "7d", "2d19h12m", "48h", "1h0m0.5s" is "1h0.5s".
func FormatThreshold(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	d = d.Truncate(time.Millisecond)
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{Day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.unit
		}
	}
	if d > 0 {
		ms := d.Milliseconds()
		sec := strings.TrimRight(strings.TrimRight(fmt.Sprintf("%d.%03d", ms/1000, ms%1000), "0"), ".")
		b.WriteString(sec + "s")
	}
	return b.String()
}

// ProfileReport records one profile in the snapshot's rules.
type ProfileReport struct {
	Name  string           `json:"name"`
	Match ProfileMatchJSON `json:"match"`
	RulesReport
}

// ProfileMatchJSON is a profile's match as the snapshot records it.
type ProfileMatchJSON struct {
	Accounts   []string `json:"accounts,omitempty"`
	Regions    []string `json:"regions,omitempty"`
	Workspaces []string `json:"workspaces,omitempty"`
	Gateways   []string `json:"gateways,omitempty"`
	Kinds      []string `json:"kinds,omitempty"`
	Tokens     []string `json:"tokens,omitempty"`
}
