package audit

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func rules(fs []Finding) []Rule {
	out := []Rule{}
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	return out
}

func TestClassifyBoundaries(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy() // expiring 7d, stale 30d, unused 14d
	ms := time.Millisecond
	used := now.Add(-time.Hour)
	created := now.Add(-100 * Day)
	tests := []struct {
		name string
		tok  Token
		want []Rule
	}{
		{"expires exactly now is expired", Token{CreateTime: created, ExpireTime: now, LastUsedTime: used}, []Rule{RuleExpired}},
		{"expired 1ms ago", Token{CreateTime: created, ExpireTime: now.Add(-ms), LastUsedTime: used}, []Rule{RuleExpired}},
		{"expires 1ms from now is expiring", Token{CreateTime: created, ExpireTime: now.Add(ms), LastUsedTime: used}, []Rule{RuleExpiring}},
		{"expires exactly at the window's end is expiring", Token{CreateTime: created, ExpireTime: now.Add(7 * Day), LastUsedTime: used}, []Rule{RuleExpiring}},
		{"expires 1ms past the window is fine", Token{CreateTime: created, ExpireTime: now.Add(7*Day + ms), LastUsedTime: used}, []Rule{}},
		{"expired and never used gets only expired", Token{CreateTime: created, ExpireTime: now.Add(-Day)}, []Rule{RuleExpired}},
		{"expired and stale gets only expired", Token{CreateTime: created, ExpireTime: now.Add(-Day), LastUsedTime: now.Add(-90 * Day)}, []Rule{RuleExpired}},
		{"last used exactly staleAfter ago is stale", Token{CreateTime: created, LastUsedTime: now.Add(-30 * Day)}, []Rule{RuleStale}},
		{"last used 1ms inside staleAfter is fine", Token{CreateTime: created, LastUsedTime: now.Add(-30*Day + ms)}, []Rule{}},
		{"never used, created exactly unusedAfter ago", Token{CreateTime: now.Add(-14 * Day)}, []Rule{RuleUnused}},
		{"never used, created 1ms inside the grace", Token{CreateTime: now.Add(-14*Day + ms)}, []Rule{}},
		{"never used, creation unknown", Token{}, []Rule{RuleUnused}},
		{"expiring and unused", Token{CreateTime: created, ExpireTime: now.Add(Day)}, []Rule{RuleExpiring, RuleUnused}},
		{"expiring and stale", Token{CreateTime: created, ExpireTime: now.Add(Day), LastUsedTime: now.Add(-40 * Day)}, []Rule{RuleExpiring, RuleStale}},
		{"no expiry and no maxLifetime is fine", Token{CreateTime: created, LastUsedTime: used}, []Rule{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rules(Classify(tc.tok, p, now)); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClassifyLongLived(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	p.MaxLifetime = 365 * Day
	created := now.Add(-10 * Day)
	used := now.Add(-time.Hour)
	tests := []struct {
		name string
		tok  Token
		want []Rule
	}{
		{"never expires", Token{CreateTime: created, LastUsedTime: used}, []Rule{RuleLongLived}},
		{"lifetime exactly max is fine", Token{CreateTime: created, ExpireTime: created.Add(365 * Day), LastUsedTime: used}, []Rule{}},
		{"lifetime 1ms over max", Token{CreateTime: created, ExpireTime: created.Add(365*Day + time.Millisecond), LastUsedTime: used}, []Rule{RuleLongLived}},
		{"creation unknown with an expiry cannot be judged", Token{ExpireTime: now.Add(900 * Day), LastUsedTime: used}, []Rule{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rules(Classify(tc.tok, p, now)); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if got := rules(Classify(Token{CreateTime: created, LastUsedTime: used}, DefaultPolicy(), now)); len(got) != 0 {
		t.Errorf("longLived is off without maxLifetime: got %v, want none", got)
	}
}

func TestClassifySeverityAndMessages(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	p.Severity[RuleExpired] = SeverityCritical
	fs := Classify(Token{CreateTime: now.Add(-20 * Day), ExpireTime: now.Add(-3 * Day)}, p, now)
	if len(fs) != 1 || fs[0].Severity != SeverityCritical || fs[0].Message != "expired 3d ago" {
		t.Fatalf("got %+v, want one critical finding 'expired 3d ago'", fs)
	}
	fs = Classify(Token{CreateTime: now.Add(-20 * Day), ExpireTime: now.Add(2*Day + 3*time.Hour)}, DefaultPolicy(), now)
	if fs[0].Message != "expires in 2d 3h" || fs[0].Severity != SeverityHigh {
		t.Errorf("got %+v, want high 'expires in 2d 3h'", fs[0])
	}
	if fs[1].Message != "never used · created 20d ago" {
		t.Errorf("got %q, want 'never used · created 20d ago'", fs[1].Message)
	}
}

func TestEpochMillis(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   int64
		zero bool
		err  string
	}{
		{0, true, ""}, {-1, true, ""}, {1764234000000, false, ""},
		{253402300799999, false, ""}, // 9999-12-31T23:59:59.999Z
		{253402300800000, true, "past year 9999"},
		{-2, true, "negative"}, {math.MinInt64, true, "negative"}, {math.MaxInt64, true, "past year 9999"},
	} {
		got, err := EpochMillis(tc.in)
		if got.IsZero() != tc.zero || (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("EpochMillis(%d): got %v, %v; want zero=%v and error %q", tc.in, got, err, tc.zero, tc.err)
		}
	}
}

func TestClassifyUnknownTimes(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	p.MaxLifetime = 365 * Day
	unknown := func(fields ...string) []DataError {
		var out []DataError
		for _, f := range fields {
			out = append(out, DataError{Field: f, Message: "past year 9999"})
		}
		return out
	}
	created := now.Add(-100 * Day)
	for _, tc := range []struct {
		name string
		tok  Token
		want []Rule
	}{
		// An unreadable expiry is not "never expires": no longLived, no expiry rule.
		{"expiry unknown", Token{CreateTime: created, LastUsedTime: now.Add(-time.Hour), DataErrors: unknown(FieldExpireTime)}, []Rule{}},
		// An unreadable last use is not "never used": neither unused nor stale.
		{"last use unknown", Token{CreateTime: created, ExpireTime: now.Add(30 * Day), DataErrors: unknown(FieldLastUsedTime)}, []Rule{}},
		{"creation unknown, never used", Token{ExpireTime: now.Add(30 * Day), DataErrors: unknown(FieldCreateTime)}, []Rule{RuleUnused}},
		{"everything unknown", Token{DataErrors: unknown(FieldCreateTime, FieldExpireTime, FieldLastUsedTime)}, []Rule{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rules(Classify(tc.tok, p, now)); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"7d": 7 * Day, "36h": 36 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute, "0d": 0} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q): got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"seven days", "7", "d", "7dd", "-3d", "1.5d", "7 d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q): got no error, want one", in)
		}
	}
	for d, want := range map[time.Duration]string{7 * Day: "7d", 36 * time.Hour: "36h", 90 * time.Minute: "90m"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v): got %q, want %q", d, got, want)
		}
	}
}

func TestSpan(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		30 * time.Second: "under a minute", 45 * time.Minute: "45m", 5*time.Hour + 10*time.Minute: "5h 10m",
		21 * time.Hour: "21h", 2*Day + 3*time.Hour: "2d 3h", 45 * Day: "45d", 8*Day + 5*time.Hour: "8d",
	} {
		if got := Span(d); got != want {
			t.Errorf("Span(%v): got %q, want %q", d, got, want)
		}
	}
}

// A duration too long for a time.Duration is refused, never wrapped round
// to a short one (213504d would be 25m26s, and every token stale).
func TestParseDurationOverflow(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"213504d", "106752d", "106751d24h", "999999d"} {
		if d, err := ParseDuration(in); err == nil || !strings.Contains(err.Error(), "too long") {
			t.Errorf("ParseDuration(%q): got %v, %v; want too long", in, d, err)
		}
	}
	if d, err := ParseDuration("106751d"); err != nil || d <= 0 {
		t.Errorf("106751d: got %v, %v", d, err)
	}
}

// Times that cannot be right become unknown, and the token is flagged
// implausible; the rules that need those times do not claim a state.
func TestImplausibleTimes(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	secs := time.UnixMilli(now.Add(-40 * Day).Unix()).UTC() // seconds sent as milliseconds: 1970
	for _, tc := range []struct {
		name   string
		tok    Token
		want   []Rule
		fields []string
	}{
		{"last used 200 days ahead is not recent use", Token{CreateTime: now.Add(-400 * Day), LastUsedTime: now.Add(200 * Day)}, []Rule{RuleImplausible}, []string{FieldLastUsedTime}},
		{"last used within the clock skew is fine", Token{CreateTime: now.Add(-400 * Day), LastUsedTime: now.Add(4 * time.Minute)}, []Rule{}, nil},
		{"an expiry in seconds is not 'expired 20,000 days ago'", Token{CreateTime: now.Add(-90 * Day), ExpireTime: secs, LastUsedTime: now}, []Rule{RuleImplausible}, []string{FieldExpireTime}},
		{"a last use in seconds is not stale", Token{CreateTime: now.Add(-90 * Day), LastUsedTime: secs}, []Rule{RuleImplausible}, []string{FieldLastUsedTime}},
		{"created after it expires", Token{CreateTime: now.Add(10 * Day), ExpireTime: now.Add(5 * Day), LastUsedTime: now}, []Rule{RuleExpiring, RuleImplausible}, []string{FieldCreateTime}},
		{"1999 as milliseconds is a time, if an old one", Token{CreateTime: time.Date(1999, 5, 1, 0, 0, 0, 0, time.UTC), LastUsedTime: now}, []Rule{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := Plausible(tc.tok, now)
			if got := rules(Classify(tok, p, now)); !slices.Equal(got, tc.want) {
				t.Errorf("findings %v, want %v", got, tc.want)
			}
			var fields []string
			for _, e := range tok.DataErrors {
				fields = append(fields, e.Field)
			}
			if !slices.Equal(fields, tc.fields) {
				t.Errorf("data errors on %v, want %v (%+v)", fields, tc.fields, tok.DataErrors)
			}
		})
	}
}
