package audit

import "time"

// Policy holds the thresholds of the rules. A zero MaxLifetime turns the
// longLived rule off.
type Policy struct {
	// ExpiringWithin is the expiring window; with ExpiryStages (longest
	// first), the window is the longest stage.
	ExpiringWithin time.Duration
	ExpiryStages   []time.Duration
	StaleAfter     time.Duration
	UnusedAfter    time.Duration
	MaxLifetime    time.Duration
	// MinSecretBits is the least estimated strength of a secret value that
	// is not weak (0: DefaultMinSecretBits).
	MinSecretBits int
	Severity      map[Rule]Severity
	// ExpiringPercent, when set, sizes the expiring window as a share of
	// each token's lifetime (ExpiringWithin is then the window of a token
	// whose lifetime is unknown); StagePercents are stages so sized, beside
	// ExpiryStages. Policy.For resolves them for one token.
	ExpiringPercent Percent
	StagePercents   []Percent
	// stageNames name ExpiryStages once resolved ("20%" for a share).
	stageNames []string
	// OwnerDormantAfter flags a token whose creator has not signed in for
	// that long (0: off).
	OwnerDormantAfter time.Duration
}

// DefaultMinSecretBits is rules.minSecretBits by default.
const DefaultMinSecretBits = 128

func (p Policy) minSecretBits() float64 {
	if p.MinSecretBits <= 0 {
		return DefaultMinSecretBits
	}
	return float64(p.MinSecretBits)
}

// DefaultPolicy returns the thresholds and severities used when the config
// sets none.
func DefaultPolicy() Policy {
	return Policy{
		ExpiringWithin:    7 * Day,
		OwnerDormantAfter: DefaultOwnerDormantAfter,
		StaleAfter:        30 * Day,
		UnusedAfter:       14 * Day,
		MinSecretBits:     DefaultMinSecretBits,
		Severity:          DefaultSeverities(),
	}
}

// DefaultSeverities returns the severity of each rule's findings by default
// (the rule table's).
func DefaultSeverities() map[Rule]Severity {
	m := make(map[Rule]Severity, len(ruleTable))
	for _, r := range ruleTable {
		m[r.ID] = r.Severity
	}
	return m
}

// Enabled reports whether rule r is checked under p.
func (p Policy) Enabled(r Rule) bool {
	ri := Info(r)
	return ri.Enabled == nil || ri.Enabled(p)
}

func (p Policy) severity(r Rule) Severity {
	if s, ok := p.Severity[r]; ok {
		return s
	}
	return Info(r).Severity
}

// Subject is what the rules look at: one token, the gateway it is on, the
// policy that applies to it, and the audit time. A rule that needs the
// gateway (its kind, its name) reads it here, so that it is one row of the
// rule table and its predicate.
type Subject struct {
	Token   Token
	Gateway GatewayRef
	Policy  Policy
	Now     time.Time
	// Owner is the token's creator as resolved (nil: not resolved).
	Owner *Owner
}

// Findings returns the subject's findings, in rule order. It is pure: the
// same subject always gives the same findings.
//
// The boundaries are: expired when expireTime ≤ now (and then nothing else);
// expiring when now < expireTime ≤ now+ExpiringWithin; unused when the token
// was never used and createTime ≤ now−UnusedAfter (or its creation time is
// unknown); stale when lastUsedTime ≤ now−StaleAfter; longLived when
// MaxLifetime is set and the token never expires or expireTime−createTime >
// MaxLifetime. Each rule's predicate is beside its entry in the rule table.
func (s Subject) Findings() []Finding {
	p := s.Policy
	var out []Finding
	for _, r := range ruleTable {
		if r.Enabled != nil && !r.Enabled(p) {
			continue
		}
		msg, stage, ok := r.check(s)
		f := Finding{Rule: r.ID, Severity: p.severity(r.ID), Message: msg, Stage: stage}
		switch {
		case !ok:
		case r.Exclusive:
			return []Finding{f}
		default:
			out = append(out, f)
		}
	}
	return out
}

// Classify returns the findings of token t under policy p at time now, on
// no gateway in particular (Subject.Findings).
func Classify(t Token, p Policy, now time.Time) []Finding {
	return Subject{Token: t, Policy: p, Now: now}.Findings()
}

// ClassifyIn returns the findings of token t on gateway g at time now
// under the policy that applies to it: its profile's (the first of
// profiles that matches), else top; a share of the lifetime resolved for
// it.
func ClassifyIn(t Token, g GatewayRef, top Policy, profiles []Profile, now time.Time) []Finding {
	_, p := profileFor(profiles, top, g, t)
	p, _ = p.For(t)
	return Subject{Token: t, Gateway: g, Policy: p, Now: now}.Findings()
}

// window is the expiring window: the longest stage, or ExpiringWithin.
func (p Policy) window() time.Duration {
	if len(p.ExpiryStages) > 0 {
		return p.ExpiryStages[0]
	}
	return p.ExpiringWithin
}

// stage is the nearest stage a token left expiring with left has entered,
// or "" without stages.
func (p Policy) stage(left time.Duration) string {
	st := ""
	for i, s := range p.ExpiryStages { // longest first
		if left <= s {
			st = StageName(s)
			if i < len(p.stageNames) {
				st = p.stageNames[i]
			}
		}
	}
	return st
}
