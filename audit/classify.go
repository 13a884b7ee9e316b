package audit

import (
	"fmt"
	"math"
	"time"
)

// Day is 24 hours; configs and messages count in days.
const Day = 24 * time.Hour

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
	Severity       map[Rule]Severity
}

// DefaultPolicy returns the thresholds and severities used when the config
// sets none.
func DefaultPolicy() Policy {
	return Policy{
		ExpiringWithin: 7 * Day,
		StaleAfter:     30 * Day,
		UnusedAfter:    14 * Day,
		Severity:       DefaultSeverities(),
	}
}

// DefaultSeverities returns the severity of each rule's findings by default.
func DefaultSeverities() map[Rule]Severity {
	return map[Rule]Severity{
		RuleExpiring:  SeverityHigh,
		RuleStale:     SeverityMedium,
		RuleUnused:    SeverityMedium,
		RuleLongLived: SeverityMedium,
		RuleExpired:   SeverityLow,
	}
}

// Enabled reports whether rule r is checked under p.
func (p Policy) Enabled(r Rule) bool {
	return r != RuleLongLived || p.MaxLifetime > 0
}

func (p Policy) severity(r Rule) Severity {
	if s, ok := p.Severity[r]; ok {
		return s
	}
	return DefaultSeverities()[r]
}

// Classify returns the findings of token t under policy p at time now, in
// rule order. It is pure: the same inputs always give the same findings.
//
// The boundaries are: expired when expireTime ≤ now (and then nothing else);
// expiring when now < expireTime ≤ now+ExpiringWithin; unused when the token
// was never used and createTime ≤ now−UnusedAfter (or its creation time is
// unknown); stale when lastUsedTime ≤ now−StaleAfter; longLived when
// MaxLifetime is set and the token never expires or expireTime−createTime >
// MaxLifetime.
func Classify(t Token, p Policy, now time.Time) []Finding {
	var out []Finding
	add := func(r Rule, msg string) {
		out = append(out, Finding{Rule: r, Severity: p.severity(r), Message: msg})
	}
	// A field the API answered with something that is not a time is
	// unknown: no rule that needs it applies (an unknown expiry is not
	// "never expires", an unknown last use is not "never used").
	expiryKnown := !t.Unknown(FieldExpireTime)
	useKnown := !t.Unknown(FieldLastUsedTime)
	if expiryKnown && !t.ExpireTime.IsZero() && !t.ExpireTime.After(now) {
		add(RuleExpired, "expired "+Ago(now.Sub(t.ExpireTime)))
		return out
	}
	if expiryKnown && !t.ExpireTime.IsZero() && !t.ExpireTime.After(now.Add(p.window())) {
		add(RuleExpiring, "expires in "+Span(t.ExpireTime.Sub(now)))
		out[len(out)-1].Stage = p.stage(t.ExpireTime.Sub(now))
	}
	switch {
	case !useKnown:
	case t.LastUsedTime.IsZero():
		switch {
		case t.CreateTime.IsZero():
			add(RuleUnused, "never used · creation time unknown")
		case !t.CreateTime.After(now.Add(-p.UnusedAfter)):
			add(RuleUnused, "never used · created "+Ago(now.Sub(t.CreateTime)))
		}
	case !t.LastUsedTime.After(now.Add(-p.StaleAfter)):
		add(RuleStale, "last used "+Ago(now.Sub(t.LastUsedTime)))
	}
	if p.MaxLifetime > 0 && expiryKnown {
		switch {
		case t.ExpireTime.IsZero():
			add(RuleLongLived, "never expires (max lifetime "+FormatDuration(p.MaxLifetime)+")")
		case !t.CreateTime.IsZero() && t.ExpireTime.Sub(t.CreateTime) > p.MaxLifetime:
			add(RuleLongLived, fmt.Sprintf("lifetime %s exceeds %s", Span(t.ExpireTime.Sub(t.CreateTime)), FormatDuration(p.MaxLifetime)))
		}
	}
	return out
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
	for _, s := range p.ExpiryStages { // longest first
		if left <= s {
			st = StageName(s)
		}
	}
	return st
}

// StageName names an expiry stage as configs spell it: "30d", "1d", "12h".
func StageName(d time.Duration) string {
	if d%Day == 0 {
		return fmt.Sprintf("%dd", d/Day)
	}
	return FormatDuration(d)
}

// StageRank orders stages: a nearer stage ranks higher ("1d" > "7d"); ""
// ranks lowest.
func StageRank(stage string) time.Duration {
	if stage == "" {
		return math.MinInt64
	}
	d, err := ParseDuration(stage)
	if err != nil {
		return math.MinInt64
	}
	return -d
}

// Span renders a positive duration for people: "2d 3h", "5h 10m", "45m",
// "under a minute".
func Span(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	days := int64(d / Day)
	hours := int64(d % Day / time.Hour)
	mins := int64(d % time.Hour / time.Minute)
	switch {
	case days >= 7:
		return fmt.Sprintf("%dd", days)
	case days > 0 && hours > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case hours > 0 && mins > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case hours > 0:
		return fmt.Sprintf("%dh", hours)
	case mins > 0:
		return fmt.Sprintf("%dm", mins)
	}
	return "under a minute"
}

// Ago renders how long ago something happened: "45d ago", "just now".
func Ago(d time.Duration) string {
	s := Span(d)
	if s == "under a minute" {
		return "just now"
	}
	return s + " ago"
}

// FormatDuration writes a threshold the way configs spell it: "7d", "24h",
// "36h", "90m", or Go's form for anything finer.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%Day == 0 && d > Day:
		return fmt.Sprintf("%dd", d/Day)
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// ParseDuration reads a threshold: a whole number of days ("7d"), a Go
// duration ("36h", "90m"), or days followed by a Go duration ("1d12h").
func ParseDuration(s string) (time.Duration, error) {
	in := s
	var days int64
	if i := indexDay(s); i >= 0 {
		n, err := parseDigits(s[:i])
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (use 30d or 720h)", in)
		}
		days, s = n, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (use 30d or 720h)", in)
		}
		rest = d
	}
	d := time.Duration(days)*Day + rest
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", in)
	}
	return d, nil
}

func indexDay(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == 'd' {
			return i
		}
		if s[i] < '0' || s[i] > '9' {
			return -1
		}
	}
	return -1
}

func parseDigits(s string) (int64, error) {
	if s == "" || len(s) > 6 {
		return 0, fmt.Errorf("bad number")
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad number")
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}
