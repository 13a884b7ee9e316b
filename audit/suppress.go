package audit

import (
	"slices"
	"time"
)

// Suppression exempts findings from being counted as active. It matches a
// token by ID or by a name glob (path.Match syntax, matched by Glob), optionally only on one
// gateway (ID or name, glob allowed), in one account (ID or name, glob
// allowed) and only for some rules. It stops
// applying after Until (a whole UTC day: a suppression until 2027-03-31
// still applies on that day and lapses at 2027-04-01T00:00Z).
type Suppression struct {
	TokenID string
	Name    string
	Gateway string
	Account string
	Rules   []Rule
	Reason  string
	// Until is midnight UTC of the last day the suppression applies; zero for
	// no end.
	Until time.Time
	// SnoozedBy is the Slack user who snoozed the finding from Slack (""
	// for a config suppression).
	SnoozedBy string
}

// Lapsed reports whether the suppression no longer applies at now.
func (s Suppression) Lapsed(now time.Time) bool {
	return !s.Until.IsZero() && !now.Before(s.Until.Add(Day))
}

// Matches reports whether s covers finding rule r of token t on gateway g,
// whether or not it has lapsed.
func (s Suppression) Matches(g GatewayRef, t Token, r Rule) bool {
	if s.TokenID != "" && s.TokenID != t.ID {
		return false
	}
	if s.Name != "" && !glob(s.Name, t.Name) {
		return false
	}
	if s.Gateway != "" && !glob(s.Gateway, g.GatewayID) && !glob(s.Gateway, g.GatewayName) {
		return false
	}
	if s.Account != "" && !glob(s.Account, g.AccountID) && !glob(s.Account, g.AccountName) {
		return false
	}
	return len(s.Rules) == 0 || slices.Contains(s.Rules, r)
}

func glob(pattern, s string) bool {
	if s == "" {
		return false
	}
	return Glob(pattern, s)
}

// untilDate renders Until as a date, or nil.
func (s Suppression) untilDate() *string {
	if s.Until.IsZero() {
		return nil
	}
	d := s.Until.Format(time.DateOnly)
	return &d
}
