package audit

import (
	"testing"
	"time"
)

func TestSuppressionMatches(t *testing.T) {
	t.Parallel()
	g := GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1", GatewayName: "etl"}
	tok := Token{ID: "tk-1", Name: "ci-smoke"}
	tests := []struct {
		name string
		s    Suppression
		rule Rule
		want bool
	}{
		{"by token id", Suppression{TokenID: "tk-1"}, RuleStale, true},
		{"other token id", Suppression{TokenID: "tk-2"}, RuleStale, false},
		{"by name glob", Suppression{Name: "ci-*"}, RuleUnused, true},
		{"name glob misses", Suppression{Name: "prod-*"}, RuleUnused, false},
		{"rule listed", Suppression{Name: "ci-*", Rules: []Rule{RuleUnused}}, RuleUnused, true},
		{"rule not listed", Suppression{Name: "ci-*", Rules: []Rule{RuleUnused}}, RuleExpiring, false},
		{"gateway by id", Suppression{Name: "ci-*", Gateway: "lc-1"}, RuleUnused, true},
		{"gateway by name glob", Suppression{Name: "ci-*", Gateway: "et*"}, RuleUnused, true},
		{"other gateway", Suppression{Name: "ci-*", Gateway: "lc-2"}, RuleUnused, false},
		{"id and name must both match", Suppression{TokenID: "tk-1", Name: "prod-*"}, RuleUnused, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Matches(g, tok, tc.rule); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSuppressionLapse(t *testing.T) {
	t.Parallel()
	s := Suppression{Until: time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC)}
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2027, 3, 31, 23, 59, 59, 0, time.UTC), false}, // the until day still applies
		{time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC), true},
	} {
		if got := s.Lapsed(tc.at); got != tc.want {
			t.Errorf("Lapsed(%v): got %v, want %v", tc.at, got, tc.want)
		}
	}
	if (Suppression{}).Lapsed(now) {
		t.Error("a suppression without until lapsed; want it to apply forever")
	}
}

func TestBuildSnapshotSuppression(t *testing.T) {
	t.Parallel()
	g := GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1"}
	col := Collection{Gateways: []GatewayResult{{Ref: g, Tokens: []Token{
		{ID: "tk-1", Name: "ci-a", CreateTime: now.Add(-30 * Day)},
		{ID: "tk-2", Name: "batch", CreateTime: now.Add(-90 * Day), LastUsedTime: now.Add(-60 * Day)},
	}}}}
	sups := []Suppression{
		{Name: "ci-*", Rules: []Rule{RuleUnused}, Reason: "ahead of use", Until: now.AddDate(0, 1, 0)},
		{TokenID: "tk-2", Reason: "quarterly", Until: now.AddDate(0, 0, -2)},
	}
	s := BuildSnapshot(col, Evaluation{Now: now, Policy: DefaultPolicy(), Suppressions: sups})
	if s.Summary.Suppressed != 1 || s.Summary.Findings[RuleUnused] != 0 || s.Summary.Findings[RuleStale] != 1 {
		t.Fatalf("summary: got %+v, want 1 suppressed, 0 unused, 1 stale", s.Summary)
	}
	ci := s.Gateways[0].Tokens[1]
	if ci.TokenID != "tk-1" || len(ci.Suppressed) != 1 || ci.Suppressed[0].Reason != "ahead of use" || len(ci.Findings) != 0 {
		t.Errorf("tk-1: got %+v, want its unused finding suppressed with the reason", ci)
	}
	if r := s.Suppressions[0]; r.Matched != 1 || r.Lapsed {
		t.Errorf("suppressions[0]: got %+v, want matched 1, not lapsed", r)
	}
	if r := s.Suppressions[1]; r.Matched != 1 || !r.Lapsed {
		t.Errorf("suppressions[1]: got %+v, want matched 1 (still matching), lapsed", r)
	}
}

func TestBuildSnapshotFailedGatewayHasNoTokens(t *testing.T) {
	t.Parallel()
	col := Collection{Gateways: []GatewayResult{
		{Ref: GatewayRef{Region: "r", WorkspaceID: "w", GatewayID: "b"}, Err: &APIError{Code: "ServiceUnavailable"}},
		{Ref: GatewayRef{Region: "r", WorkspaceID: "w", GatewayID: "a"}, Tokens: []Token{{ID: "t", CreateTime: now, LastUsedTime: now}}},
	}}
	s := BuildSnapshot(col, Evaluation{Now: now, Policy: DefaultPolicy()})
	if s.Summary.Gateways != 2 || s.Summary.GatewaysFailed != 1 || s.Summary.Tokens != 1 {
		t.Fatalf("summary: got %+v, want 2 gateways, 1 failed, 1 token", s.Summary)
	}
	if s.Gateways[0].GatewayID != "a" || s.Gateways[1].Error == nil || len(s.Gateways[1].Tokens) != 0 {
		t.Errorf("gateways: got %+v, want sorted, the failed one with an error and no tokens", s.Gateways)
	}
}

// Once the run's deadline has come, suppressions are no longer matched:
// the findings stay active (more is reported, never less) and are counted.
func TestSuppressionsStopAtTheDeadline(t *testing.T) {
	t.Parallel()
	sup := []Suppression{{Name: "ci-*", Reason: "r"}}
	toks := []Token{{ID: "tk-1", Name: "ci-1", CreateTime: now.Add(-90 * Day)}, {ID: "tk-2", Name: "ci-2", CreateTime: now.Add(-90 * Day)}}
	calls := 0
	b := NewBuilder(Evaluation{Now: now, Policy: DefaultPolicy(), Suppressions: sup, Stop: func() bool { calls++; return calls > 1 }})
	b.Add(GatewayResult{Ref: gwA, Tokens: toks})
	s := b.Finish(nil)
	if s.Summary.Suppressed != 1 || s.Summary.Findings[RuleUnused] != 1 || b.Unsuppressed() != 1 {
		t.Errorf("suppressed %d, active unused %d, unsuppressed %d; want 1, 1, 1", s.Summary.Suppressed, s.Summary.Findings[RuleUnused], b.Unsuppressed())
	}
}
