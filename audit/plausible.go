package audit

import (
	"fmt"
	"slices"
	"time"
)

// MaxSkew is how far ahead of the audit time a time of the API may be
// (clocks differ) before it is implausible.
const MaxSkew = 5 * time.Minute

// The bounds of a time in seconds that was sent as milliseconds: as
// milliseconds it is before 2001; as seconds it is between 2001 and 2100.
var (
	msBefore2001 = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	s2001        = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	s2100        = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
)

// Plausible checks a token's times against each other and the audit time:
// a time that reads as seconds rather than milliseconds, a last use after
// the audit time (beyond MaxSkew), a creation after the expiry. Each such
// time becomes unknown (a data error), so that no rule claims a state it
// cannot know, and the implausible rule flags the token.
func Plausible(t Token, now time.Time) Token {
	mark := func(field string, v *time.Time, msg string) {
		t.DataErrors = append(slices.Clip(t.DataErrors), DataError{Field: field, Message: msg, implausible: true})
		*v = time.Time{}
	}
	for _, f := range []struct {
		name string
		v    *time.Time
	}{{FieldCreateTime, &t.CreateTime}, {FieldExpireTime, &t.ExpireTime}, {FieldLastUsedTime, &t.LastUsedTime}} {
		if ms := f.v.UnixMilli(); !f.v.IsZero() && ms < msBefore2001 && ms >= s2001 && ms <= s2100 {
			mark(f.name, f.v, fmt.Sprintf("%d reads as seconds (%s), not milliseconds", ms, time.Unix(ms, 0).UTC().Format(time.DateOnly)))
		}
	}
	if !t.LastUsedTime.IsZero() && t.LastUsedTime.After(now.Add(MaxSkew)) {
		mark(FieldLastUsedTime, &t.LastUsedTime, "last used "+Span(t.LastUsedTime.Sub(now))+" after the audit time")
	}
	if !t.CreateTime.IsZero() && !t.ExpireTime.IsZero() && t.CreateTime.After(t.ExpireTime) {
		mark(FieldCreateTime, &t.CreateTime, "created "+Span(t.CreateTime.Sub(t.ExpireTime))+" after it expires")
	}
	return t
}

// implausible is the implausible rule's predicate: the token has a time
// that Plausible found could not be right.
func implausible(s Subject) (string, string, bool) {
	t := s.Token
	var fields []string
	for _, e := range t.DataErrors {
		if e.implausible && !slices.Contains(fields, e.Field) {
			fields = append(fields, e.Field)
		}
	}
	if len(fields) == 0 {
		return "", "", false
	}
	msg := "implausible " + fields[0]
	for _, f := range fields[1:] {
		msg += ", " + f
	}
	return msg + " (see dataErrors; the rules that need it did not apply)", "", true
}
