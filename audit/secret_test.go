package audit

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func secretOf(t *testing.T, k *SecretKey, v string) Secret {
	t.Helper()
	b := []byte(v)
	s := k.Measure(b)
	clear(b)
	return s
}

func newKey(t *testing.T) *SecretKey {
	t.Helper()
	k, err := NewSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// weak: the estimate is length × log2(alphabet), below rules.minSecretBits;
// fewer than 6 distinct characters is weak whatever the length.
func TestWeakBoundaries(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	tok := func(v string) Token {
		return Token{ID: "tk", CreateTime: now.Add(-Day), LastUsedTime: now, ExpireTime: now.Add(100 * Day), Secret: secretOf(t, k, v)}
	}
	others := strings.Repeat("!@#$%^&*()", 3)[:25] // 25 characters of the 32 "others": 125 bits
	tests := []struct {
		name    string
		value   string
		minBits int
		weak    bool
	}{
		{"125 bits against 125", others, 125, false},
		{"125 bits against 126", others, 126, true},
		{"21 alphanumerics (125 bits) against 128", "aB3dE5gH7jK9mN1pQ3sT5", 128, true},
		{"22 alphanumerics (131 bits) against 128", "aB3dE5gH7jK9mN1pQ3sT5v", 128, false},
		{"5 distinct characters, however long", strings.Repeat("aB3!z", 40), 128, true},
		{"6 distinct characters, long enough", strings.Repeat("aB3!z9", 40), 128, false},
	}
	for _, tc := range tests {
		p := DefaultPolicy()
		p.MinSecretBits = tc.minBits
		fs := Classify(tok(tc.value), p, now)
		got := len(fs) == 1 && fs[0].Rule == RuleWeak
		if got != tc.weak {
			t.Errorf("%s: findings %+v, want weak %v", tc.name, fs, tc.weak)
		}
		for _, f := range fs {
			if strings.Contains(f.Message, tc.value) || regexp.MustCompile(fmt.Sprintf(`\b%d\b`, len(tc.value))).MatchString(f.Message) {
				t.Errorf("%s: the finding says the value or its length: %q", tc.name, f.Message)
			}
		}
	}
	if fs := Classify(Token{ID: "tk", CreateTime: now.Add(-Day), LastUsedTime: now, ExpireTime: now.Add(100 * Day)}, DefaultPolicy(), now); len(fs) != 0 {
		t.Errorf("a token whose value the API did not return: %+v, want no finding", fs)
	}
}

// A Secret never shows its digest, however it is printed, and cannot be
// encoded.
func TestSecretNeverShows(t *testing.T) {
	t.Parallel()
	s := secretOf(t, newKey(t), "lvt-SECRET-value-0123456789")
	tok := Token{ID: "tk", Secret: s}
	digest := hex.EncodeToString(s.digest[:])
	for _, out := range []string{fmt.Sprint(tok), fmt.Sprintf("%+v", tok), fmt.Sprintf("%#v", tok), fmt.Sprintf("%x", s), fmt.Sprintf("%d", s)} {
		if strings.Contains(out, digest) || strings.Contains(out, "lvt-SECRET") || !strings.Contains(out, "[secret]") {
			t.Errorf("printed: %s", out)
		}
	}
	if _, err := json.Marshal(tok); err == nil {
		t.Error("a token with its secret was encoded")
	}
	// A run's key is its own: the same value has another digest next run.
	if a, b := secretOf(t, newKey(t), "same-value-0123456789"), secretOf(t, newKey(t), "same-value-0123456789"); a.digest == b.digest {
		t.Error("two runs' keys gave the same digest")
	}
}

// Tokens sharing one value are flagged anywhere in the run — across
// accounts, and within one gateway — each naming the others, numbered in
// groups; an expired one is named, not flagged; a public gateway makes the
// finding one step more severe.
func TestReused(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	tok := func(id, v string, expire time.Time) Token {
		return Token{ID: id, Name: "job-" + id, CreateTime: now.Add(-Day), LastUsedTime: now, ExpireTime: expire, Secret: secretOf(t, k, v)}
	}
	live := now.Add(100 * Day)
	shared, pair := "shared-Value-0123456789-abcdefXYZ", "pair-Value-9876543210-zyxwvuABC"
	own := GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", WorkspaceName: "data", GatewayID: "lc-1", GatewayName: "etl"}
	other := GatewayRef{AccountID: "222", AccountName: "finance", Region: "cn-shanghai", WorkspaceID: "w-9", GatewayID: "lc-9"}
	col := Collection{Gateways: []GatewayResult{
		{Ref: own, Tokens: []Token{tok("a", shared, live), tok("b", pair, live), tok("c", pair, live), tok("d", "lonely-Value-0123456789-abcdefXYZ", live)}},
		{Ref: other, Details: &GatewayDetails{Public: true, AuthType: "Token"}, Tokens: []Token{tok("e", shared, live), tok("f", shared, now.Add(-Day))}},
	}}
	b := NewBuilder(Evaluation{Now: now, Policy: DefaultPolicy(), Scope: ScopeReport{Regions: []string{"cn-hangzhou"}}})
	for _, r := range col.Gateways {
		b.Add(r)
	}
	s := b.Finish(nil)
	find := func(id string) (*GatewayReport, *TokenReport) {
		for gi := range s.Gateways {
			for ti := range s.Gateways[gi].Tokens {
				if s.Gateways[gi].Tokens[ti].TokenID == id {
					return &s.Gateways[gi], &s.Gateways[gi].Tokens[ti]
				}
			}
		}
		t.Fatalf("no token %s", id)
		return nil, nil
	}
	reused := func(id string) *Finding {
		_, tr := find(id)
		for i := range tr.Findings {
			if tr.Findings[i].Rule == RuleReused {
				return &tr.Findings[i]
			}
		}
		return nil
	}
	// Group 1: a (lc-1), e and f (account 222); group 2: b and c.
	if f := reused("a"); f == nil || f.ReuseGroup != 1 || f.Severity != SeverityHigh ||
		!strings.Contains(f.Message, "shares its secret with 2 other tokens") || !strings.Contains(f.Message, "job-e (e) on finance / cn-shanghai / w-9 / lc-9") {
		t.Errorf("a: %+v", f)
	}
	if f := reused("e"); f == nil || f.ReuseGroup != 1 || f.Severity != SeverityCritical || !strings.Contains(f.Message, "public endpoint") {
		t.Errorf("e, on a public gateway: %+v", f)
	}
	if f := reused("f"); f != nil {
		t.Errorf("f, expired: %+v, want no reused finding (it is named by the others)", f)
	}
	if f := reused("b"); f == nil || f.ReuseGroup != 2 || !strings.Contains(f.Message, "job-c (c) on cn-hangzhou / data / etl") {
		t.Errorf("b: %+v", f)
	}
	if f := reused("d"); f != nil {
		t.Errorf("d shares nothing: %+v", f)
	}
	if s.Summary.Findings[RuleReused] != 4 || s.Summary.PublicGateways != 1 {
		t.Errorf("summary: %d reused, %d public; want 4 and 1", s.Summary.Findings[RuleReused], s.Summary.PublicGateways)
	}
	if got := b.Amended(); len(got) != 2 {
		t.Errorf("amended %d gateways, want both", len(got))
	}
	for _, sh := range []string{shared, pair} {
		var out strings.Builder
		_ = s.Write(&out)
		if strings.Contains(out.String(), sh) {
			t.Errorf("the snapshot holds a value")
		}
	}
}

// A narrowed run compares only within its scope, and says so.
func TestReusedInANarrowedRun(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	v := "narrow-Value-0123456789-abcdefXYZ"
	tok := func(id string) Token {
		return Token{ID: id, CreateTime: now.Add(-Day), LastUsedTime: now, ExpireTime: now.Add(100 * Day), Secret: secretOf(t, k, v)}
	}
	s := BuildSnapshot(Collection{Gateways: []GatewayResult{{Ref: GatewayRef{Region: "r", WorkspaceID: "w", GatewayID: "g"}, Tokens: []Token{tok("a"), tok("b")}}}},
		Evaluation{Now: now, Policy: DefaultPolicy(), Scope: ScopeReport{Partial: true}})
	f := s.Gateways[0].Tokens[0].Findings
	if len(f) != 1 || !strings.Contains(f[0].Message, "within this run's narrowed scope only") {
		t.Errorf("findings %+v", f)
	}
}

// A failed details call leaves the gateway audited, its exposure unknown.
func TestDetailsError(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	s := BuildSnapshot(Collection{Gateways: []GatewayResult{{Ref: GatewayRef{Region: "r", WorkspaceID: "w", GatewayID: "g"},
		DetailsErr: &APIError{Code: "Forbidden.RAM", Message: "no GetLivyCompute"},
		Tokens:     []Token{{ID: "tk", CreateTime: now.Add(-100 * Day), LastUsedTime: now.Add(-60 * Day)}}}}},
		Evaluation{Now: now, Policy: DefaultPolicy()})
	g := s.Gateways[0]
	if g.Public != nil || g.DetailsError == nil || len(g.Tokens) != 1 || g.Tokens[0].Findings[0].Severity != SeverityMedium ||
		s.Summary.DetailsErrors != 1 || s.Verdict != VerdictComplete {
		t.Errorf("got %+v, summary %+v, verdict %s", g, s.Summary, s.Verdict)
	}
}
