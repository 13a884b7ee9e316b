package audit

import (
	"strings"
	"testing"
	"time"
)

var profileNow = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// A percentage of the lifetime, exact to the millisecond: 20% of 10 days
// is 48 hours; 25% of 30 days is 7 days 12 hours.
func TestPercentOfLifetime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pct  string
		life time.Duration
		want time.Duration
	}{
		{"20%", 10 * Day, 48 * time.Hour},
		{"25%", 30 * Day, 7*Day + 12*time.Hour},
		{"20%", 14 * Day, 67*time.Hour + 12*time.Minute},
		{"12.5%", 8 * Day, Day},
		{"33%", 1001 * time.Millisecond, 330 * time.Millisecond},
	} {
		p, err := ParsePercent(tc.pct)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Of(tc.life); got != tc.want {
			t.Errorf("%s of %s: %s, want %s", tc.pct, tc.life, got, tc.want)
		}
		if p.String() != tc.pct {
			t.Errorf("%s prints as %s", tc.pct, p)
		}
	}
	for _, bad := range []string{"0%", "0.99%", "100%", "99.5%", "20", "-5%", "+5%", "20.125%", "x%", "%"} {
		if _, err := ParsePercent(bad); err == nil {
			t.Errorf("ParsePercent(%q) accepted", bad)
		}
	}
}

// A 10-day token with 20%: expiring from 48 hours before its expiry, to
// the millisecond; one with no creation time falls back to the duration
// and says so.
func TestPercentWindowBoundaries(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	p.ExpiringPercent = 2000
	tok := func(left time.Duration) Token {
		exp := profileNow.Add(left)
		return Token{ID: "t", CreateTime: exp.Add(-10 * Day), ExpireTime: exp, LastUsedTime: profileNow.Add(-time.Hour)}
	}
	for _, tc := range []struct {
		left time.Duration
		want bool
	}{{48 * time.Hour, true}, {48*time.Hour + time.Millisecond, false}, {time.Millisecond, true}} {
		q, derr := p.For(tok(tc.left))
		got := Subject{Token: tok(tc.left), Policy: q, Now: profileNow}.Findings()
		if derr != nil || (len(got) == 1 && got[0].Rule == RuleExpiring) != tc.want {
			t.Errorf("expires in %s: findings %+v (%v), want expiring %v", tc.left, got, derr, tc.want)
		}
	}
	noCreate := Token{ID: "t", ExpireTime: profileNow.Add(5 * Day), LastUsedTime: profileNow.Add(-time.Hour)}
	q, derr := p.For(noCreate)
	if derr == nil || derr.Field != FieldLifetime || !strings.Contains(derr.Message, "the expiring window is 7d, not 20% of the lifetime") || q.window() != 7*Day {
		t.Errorf("no creation time: %+v, window %s; want the 7d fallback, said", derr, q.window())
	}
	if _, derr := p.For(Token{ID: "never"}); derr != nil {
		t.Errorf("a token that never expires needs no lifetime: %+v", derr)
	}
}

// Percent stages are named by their share; they escalate like duration
// stages.
func TestPercentStages(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	p.StagePercents = []Percent{5000, 1000}
	exp := profileNow.Add(36 * time.Hour)
	tk := Token{ID: "t", CreateTime: exp.Add(-10 * Day), ExpireTime: exp, LastUsedTime: profileNow}
	q, _ := p.For(tk)
	f := Subject{Token: tk, Policy: q, Now: profileNow}.Findings()
	if len(f) != 1 || f[0].Stage != "50%" {
		t.Errorf("36h left of 10 days, stages 50%% and 10%%: %+v", f)
	}
	if StageRank("10%") <= StageRank("50%") || StageRank("50%") <= StageRank("") {
		t.Error("a nearer share must rank higher")
	}
	if th := q.thresholds(); th.ExpiringWithin != "5d" || len(th.ExpiryStages) != 2 || th.ExpiryStages[1] != "10% (1d)" {
		t.Errorf("thresholds %+v", th)
	}
}

// A token takes the first profile that matches; the snapshot records the
// profile and the thresholds that applied, and the summary counts tokens
// per profile.
func TestProfilesFirstMatchWins(t *testing.T) {
	t.Parallel()
	top := DefaultPolicy()
	ci := DefaultPolicy()
	ci.MaxLifetime, ci.ExpiringPercent = 30*Day, 2500
	fin := DefaultPolicy()
	fin.Severity = DefaultSeverities()
	fin.Severity[RuleStale] = SeverityCritical
	profiles := []Profile{
		{Name: "ci", Match: ProfileMatch{Tokens: []string{"ci-*"}}, Policy: ci},
		{Name: "finance", Match: ProfileMatch{Workspaces: []string{"finance"}}, Policy: fin},
	}
	ref := GatewayRef{Region: "cn-shanghai", WorkspaceID: "w-fin", WorkspaceName: "finance", GatewayID: "lc-1"}
	toks := []Token{
		{ID: "a", Name: "ci-deploy", CreateTime: profileNow.Add(-50 * Day), ExpireTime: profileNow.Add(40 * Day), LastUsedTime: profileNow.Add(-40 * Day)},
		{ID: "b", Name: "risk-batch", CreateTime: profileNow.Add(-50 * Day), ExpireTime: profileNow.Add(40 * Day), LastUsedTime: profileNow.Add(-40 * Day)},
	}
	other := GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-data", WorkspaceName: "data", GatewayID: "lc-2"}
	s := BuildSnapshot(Collection{Gateways: []GatewayResult{{Ref: ref, Tokens: toks}, {Ref: other, Tokens: toks[1:]}}},
		Evaluation{Now: profileNow, Policy: top, Profiles: profiles})
	byID := map[string]TokenReport{}
	for _, g := range s.Gateways {
		for _, tr := range g.Tokens {
			byID[g.WorkspaceName+"/"+tr.TokenID] = tr
		}
	}
	a, b, c := byID["finance/a"], byID["finance/b"], byID["data/b"]
	if a.Profile != "ci" || b.Profile != "finance" || c.Profile != DefaultProfile {
		t.Fatalf("profiles: %q %q %q, want ci (first match, though in finance), finance, default", a.Profile, b.Profile, c.Profile)
	}
	if a.Thresholds == nil || a.Thresholds.ExpiringWithin != "22d12h" || a.Thresholds.MaxLifetime == nil || *a.Thresholds.MaxLifetime != "30d" {
		t.Errorf("ci's thresholds: %+v (25%% of 90 days is 22d12h)", a.Thresholds)
	}
	sev := func(tr TokenReport, r Rule) Severity {
		for _, f := range tr.Findings {
			if f.Rule == r {
				return f.Severity
			}
		}
		return 0
	}
	if sev(b, RuleStale) != SeverityCritical || sev(c, RuleStale) != SeverityMedium || sev(a, RuleLongLived) == 0 {
		t.Errorf("findings: ci %+v, finance %+v, default %+v", a.Findings, b.Findings, c.Findings)
	}
	if s.Summary.Profiles["ci"] != 1 || s.Summary.Profiles["finance"] != 1 || s.Summary.Profiles[DefaultProfile] != 1 {
		t.Errorf("summary profiles %v", s.Summary.Profiles)
	}
	if len(s.Rules.Profiles) != 2 || s.Rules.Profiles[0].ExpiringWithin != "25%" || s.Rules.Profiles[0].ExpiringFallback != "7d" {
		t.Errorf("rules.profiles %+v", s.Rules.Profiles)
	}
}

// A profile covers another when each of its lists is empty or holds the
// other's patterns.
func TestProfileCovers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		outer, inner ProfileMatch
		want         bool
	}{
		{ProfileMatch{Workspaces: []string{"finance"}}, ProfileMatch{Workspaces: []string{"finance"}, Tokens: []string{"ci-*"}}, true},
		{ProfileMatch{Tokens: []string{"ci-*"}}, ProfileMatch{Tokens: []string{"ci-deploy"}}, true},
		{ProfileMatch{Tokens: []string{"ci-*"}}, ProfileMatch{Tokens: []string{"c*"}}, false},
		{ProfileMatch{Workspaces: []string{"finance"}}, ProfileMatch{Kinds: []string{"kyuubi"}}, false},
		{ProfileMatch{Kinds: []string{"kyuubi", "livy"}}, ProfileMatch{Kinds: []string{"kyuubi"}}, true},
	} {
		if got := tc.outer.Covers(tc.inner); got != tc.want {
			t.Errorf("%+v covers %+v: %v, want %v", tc.outer, tc.inner, got, tc.want)
		}
	}
}

// No Kyuubi value is ever measured: the kind decides, not the value's
// look — an adapter that measured one anyway is overruled — and weak and
// reused never flag Kyuubi tokens; the gateway says its secrets are not
// visible and the summary counts them.
func TestKyuubiValuesAreNeverMeasured(t *testing.T) {
	t.Parallel()
	key, err := NewSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	weakSecret := key.Measure([]byte("aaaaaaaa"))
	kyuubi := GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w", GatewayID: "kb-1", Kind: KindKyuubi}
	livy := GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w", GatewayID: "lc-1"}
	tok := func(id string) Token {
		return Token{ID: id, Name: id, Secret: weakSecret, CreateTime: profileNow.Add(-Day), ExpireTime: profileNow.Add(90 * Day), LastUsedTime: profileNow}
	}
	s := BuildSnapshot(Collection{Gateways: []GatewayResult{{Ref: kyuubi, Tokens: []Token{tok("k1"), tok("k2")}}, {Ref: livy, Tokens: []Token{tok("l1")}}}},
		Evaluation{Now: profileNow, Policy: DefaultPolicy()})
	for _, g := range s.Gateways {
		for _, tr := range g.Tokens {
			for _, f := range tr.Findings {
				if g.Kind == KindKyuubi && (f.Rule == RuleWeak || f.Rule == RuleReused) {
					t.Errorf("kyuubi token %s: %s", tr.TokenID, f.Rule)
				}
			}
		}
		if want := map[string]string{KindKyuubi: SecretNotVisible, KindLivy: ""}[g.Kind]; g.Secret != want {
			t.Errorf("%s gateway: secret %q, want %q", g.Kind, g.Secret, want)
		}
	}
	if s.Summary.SecretNotVisible != 2 || s.Summary.Kinds[KindKyuubi] != 1 || s.Summary.Kinds[KindLivy] != 1 {
		t.Errorf("summary: %+v", s.Summary)
	}
	if s.Summary.Findings[RuleWeak] != 1 || s.Summary.Findings[RuleReused] != 0 {
		t.Errorf("the livy token alone is weak, and nothing is reused across kinds: %v", s.Summary.Findings)
	}
}
