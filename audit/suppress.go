package audit

import (
	"path"
	"slices"
	"strings"
	"time"
)

// Suppression exempts findings from being counted as active. A config
// suppression matches a token by ID or by a name glob (path.Match syntax),
// optionally only on one gateway (ID or name, glob allowed), in one account
// (ID or name, glob allowed) and only for some rules. A snooze from Slack
// (Exact) names one token of one gateway exactly. It stops applying after
// Until (a whole UTC day: a suppression until 2027-03-31 still applies on
// that day and lapses at 2027-04-01T00:00Z).
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
	// SnoozedByName is that user's Slack name, when known.
	SnoozedByName string
	// Exact, when set, is the one gateway the suppression applies on,
	// compared by value (account ID, "" for the run's own; region;
	// workspace and gateway IDs), never as globs: a snooze from Slack
	// names one token, not every token of that ID.
	Exact *GatewayRef
	// CreatedBy, when set, is the creator the token must still have: a
	// snooze by the token's owner (slack.mentions) holds only while the
	// token is theirs.
	CreatedBy string
}

// Lapsed reports whether the suppression no longer applies at now.
func (s Suppression) Lapsed(now time.Time) bool {
	return !s.Until.IsZero() && !now.Before(s.Until.Add(Day))
}

// Matches reports whether s covers finding rule r of token t on gateway g,
// whether or not it has lapsed.
func (s Suppression) Matches(g GatewayRef, t Token, r Rule) bool {
	return s.matchesToken(g, t) && (len(s.Rules) == 0 || slices.Contains(s.Rules, r))
}

// matchesToken reports whether s names token t on gateway g, whatever the
// rule.
func (s Suppression) matchesToken(g GatewayRef, t Token) bool {
	if s.Exact != nil {
		e := s.Exact
		return e.AccountID == g.AccountID && e.Region == g.Region && e.WorkspaceID == g.WorkspaceID && e.GatewayID == g.GatewayID &&
			s.TokenID == t.ID && (s.CreatedBy == "" || s.CreatedBy == t.CreatedBy)
	}
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
	return s.CreatedBy == "" || s.CreatedBy == t.CreatedBy
}

func glob(pattern, s string) bool {
	if s == "" {
		return false
	}
	return Glob(pattern, s)
}

// Glob reports whether name matches pattern, as path.Match does ('*' any
// run of characters but '/', '?' one character but '/', '[…]' a class,
// '\\' escapes). A malformed pattern matches nothing (configs are checked
// with path.Match when they are loaded). path.Match takes each chunk at its
// earliest place and never backtracks into an earlier star, so its time is
// bounded by the pattern's length times the name's (BENCHMARKS.md).
func Glob(pattern, name string) bool {
	ok, err := path.Match(pattern, name)
	return ok && err == nil
}

// untilDate renders Until as a date, or nil.
func (s Suppression) untilDate() *string {
	if s.Until.IsZero() {
		return nil
	}
	d := s.Until.Format(time.DateOnly)
	return &d
}

// suppressionIndex holds a run's suppressions so that a token is checked
// only against those that can match it: a snooze by its token's key, a
// config suppression by its token ID, its literal name, or the literal
// start or end of its name glob; only the others (a gateway or an account
// alone, a glob with a glob character at each end) are checked against
// every token. 10,000 suppressions against
// 3,000 tokens are then matched in well under a second (BENCHMARKS.md).
type suppressionIndex struct {
	all      []Suppression
	exact    map[string][]int // by TokenKey
	byID     map[string][]int // by token ID
	byName   map[string][]int // by a name without glob characters
	byPrefix map[string][]int // by the literal start of a name glob
	bySuffix map[string][]int // by the literal end of a name glob that starts with one
	// prefixLens and suffixLens are the lengths of the keys, each once.
	prefixLens, suffixLens []int
	rest                   []int
	// need is, for each of rest, a literal the name must contain ("" for
	// none).
	need map[int]string
}

func newSuppressionIndex(sups []Suppression) *suppressionIndex {
	x := &suppressionIndex{all: sups, exact: map[string][]int{}, byID: map[string][]int{}, byName: map[string][]int{},
		byPrefix: map[string][]int{}, bySuffix: map[string][]int{}, need: map[int]string{}}
	add := func(m map[string][]int, lens *[]int, key string, i int) {
		if _, ok := m[key]; !ok && !slices.Contains(*lens, len(key)) {
			*lens = append(*lens, len(key))
		}
		m[key] = append(m[key], i)
	}
	for i, s := range sups {
		switch {
		case s.Exact != nil:
			k := TokenKey(*s.Exact, s.TokenID)
			x.exact[k] = append(x.exact[k], i)
		case s.TokenID != "":
			x.byID[s.TokenID] = append(x.byID[s.TokenID], i)
		case s.Name != "" && !strings.ContainsAny(s.Name, `*?[\`):
			x.byName[s.Name] = append(x.byName[s.Name], i)
		case s.Name != "":
			// What stands before the first glob character, or after the
			// last (']' counted as one), is literal: the name must start, or
			// end, with it.
			prefix := s.Name[:strings.IndexAny(s.Name, `*?[\`)]
			suffix := s.Name[strings.LastIndexAny(s.Name, `*?[]\`)+1:]
			switch {
			case prefix != "":
				add(x.byPrefix, &x.prefixLens, prefix, i)
			case suffix != "":
				add(x.bySuffix, &x.suffixLens, suffix, i)
			default:
				x.rest = append(x.rest, i)
				x.need[i] = requiredLiteral(s.Name)
			}
		default:
			x.rest = append(x.rest, i)
		}
	}
	slices.Sort(x.prefixLens)
	slices.Sort(x.suffixLens)
	return x
}

// candidates appends to buf the indices, in configured order, of the
// suppressions that may match token t on gateway g.
func (x *suppressionIndex) candidates(g GatewayRef, t Token, buf []int) []int {
	buf = append(buf, x.exact[TokenKey(g, t.ID)]...)
	buf = append(buf, x.byID[t.ID]...)
	buf = append(buf, x.byName[t.Name]...)
	for _, n := range x.prefixLens {
		if n > len(t.Name) {
			break
		}
		buf = append(buf, x.byPrefix[t.Name[:n]]...)
	}
	for _, n := range x.suffixLens {
		if n > len(t.Name) {
			break
		}
		buf = append(buf, x.bySuffix[t.Name[len(t.Name)-n:]]...)
	}
	for _, i := range x.rest {
		if need := x.need[i]; need == "" || strings.Contains(t.Name, need) {
			buf = append(buf, i)
		}
	}
	slices.Sort(buf)
	return buf
}

// requiredLiteral is the longest run of literal characters of a glob that
// stands outside any class: a name that matches contains it.
func requiredLiteral(p string) string {
	best, start := "", 0
	flush := func(end int) {
		if start < end && end-start > len(best) {
			best = p[start:end]
		}
	}
	for i := 0; i < len(p); {
		switch p[i] {
		case '*', '?':
			flush(i)
			i++
		case '\\': // an escaped character ends the run (it is not kept)
			flush(i)
			i += 2
		case '[':
			flush(i)
			i++
			if i < len(p) && p[i] == '^' {
				i++
			}
			for first := true; i < len(p) && (p[i] != ']' || first); first = false {
				if p[i] == '\\' {
					i++
				}
				i++
			}
			i++ // ']'
		default:
			i++
			continue
		}
		start = i
	}
	flush(len(p))
	return best
}

// suppressionFor returns the first suppression of cands (indices into the
// index, in configured order) that applies to finding r of t on g,
// counting every one (lapsed or not) that matches it.
func (x *suppressionIndex) suppressionFor(cands []int, matched []int, g GatewayRef, t Token, r Rule, now time.Time) (Suppression, bool) {
	var found Suppression
	ok := false
	for _, i := range cands {
		s := x.all[i]
		if !s.Matches(g, t, r) {
			continue
		}
		matched[i]++
		if !ok && !s.Lapsed(now) {
			found, ok = s, true
		}
	}
	return found, ok
}
