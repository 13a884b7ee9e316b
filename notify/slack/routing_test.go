package slack

import (
	"cmp"
	"strings"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/internal/audittest"
	"livy-token-audit/notify"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// teams is a fleet of two teams in two accounts: data (own account,
// workspace data-platform) and finance (account 222, workspace finance),
// with a failed listing in finance's account.
func teams() *audit.Snapshot {
	day := 24 * time.Hour
	data := audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-data", WorkspaceName: "data-platform", GatewayID: "lc-etl", GatewayName: "etl"}
	fin := audit.GatewayRef{AccountID: "2222222222222222", AccountName: "finance", Region: "cn-shanghai", WorkspaceID: "w-fin", WorkspaceName: "finance", GatewayID: "lc-risk", GatewayName: "risk"}
	col := audittest.Collection{
		Gateways: []audit.GatewayResult{
			{Ref: data, Tokens: []audit.Token{
				{ID: "tk-d1", Name: "nightly", CreatedBy: "alice", CreateTime: t0.Add(-90 * day), ExpireTime: t0.Add(2 * day), LastUsedTime: t0}, // expiring (high)
				{ID: "tk-d2", Name: "backfill", CreatedBy: "bob", CreateTime: t0.Add(-90 * day), LastUsedTime: t0.Add(-40 * day)},                // stale (medium)
			}},
			{Ref: fin, Tokens: []audit.Token{
				{ID: "tk-f1", Name: "risk-api", CreatedBy: "alice", CreateTime: t0.Add(-90 * day), ExpireTime: t0.Add(3 * day), LastUsedTime: t0}, // expiring (high)
				{ID: "tk-f2", Name: "risk-batch", CreatedBy: "carol", CreateTime: t0.Add(-90 * day)},                                              // unused (medium)
			}},
		},
		Errors: []audit.ScopeError{{AccountID: "2222222222222222", AccountName: "finance", Region: "cn-shanghai", WorkspaceID: "w-ops", WorkspaceName: "finance-ops", Code: "Forbidden.RAM"}},
	}
	s := audittest.BuildSnapshot(col, audit.Evaluation{Now: t0, Policy: audit.DefaultPolicy(),
		Scope: audit.ScopeReport{Regions: []string{"cn-hangzhou"}, Accounts: []audit.AccountScopeReport{{ID: "2222222222222222", Name: "finance", Regions: []string{"cn-shanghai"}}}}})
	audit.Compare(s, nil, nil, 0)
	return s
}

// planned is one destination's report rendered for Slack.
type planned struct {
	notify.Report
	Message Message
}

// plan routes the teams' snapshot as the config would (routes named
// slack:route:<name>, notify modes defaulting to findings, owners mapped by
// Mentions) and renders every report.
func plan(t *testing.T, rt notify.Router, mentions map[string]string) map[string]planned {
	t.Helper()
	return planOf(t, rt, mentions, teams())
}

// planOf routes snapshot s as plan does.
func planOf(t *testing.T, rt notify.Router, mentions map[string]string, s *audit.Snapshot) map[string]planned {
	t.Helper()
	rt.Notify, rt.Preview = cmp.Or(rt.Notify, "findings"), true
	rt.Owners.Recipients, rt.Owners.Prefix = mentions, "slack:owner:"
	for i := range rt.Routes {
		r := &rt.Routes[i]
		r.Destination, r.Notify = "slack:route:"+r.Name, cmp.Or(r.Notify, rt.Notify)
	}
	out := map[string]planned{}
	for _, r := range rt.Plan(s, delivery.Locations{Snapshot: "audit-out/x.json"}, nil) {
		msg, _ := Messages(&r, Options{MaxItems: 10, Mentions: mentions}, false)
		out[r.Destination] = planned{r, msg}
	}
	return out
}

func text(p planned) string { return p.Message.PlainText() }

func TestRouting(t *testing.T) {
	t.Parallel()
	dataRoute := notify.Route{Name: "team-data", Match: audit.Match{Workspaces: []string{"data-*"}}}
	expiring := notify.Route{Name: "expiring", Match: audit.Match{Rules: []audit.Rule{audit.RuleExpiring}}}
	tests := []struct {
		name     string
		cfg      notify.Router
		mentions map[string]string
		want     map[string][]string // destination -> texts it must hold
		notWant  map[string][]string // destination -> texts it must not hold
		skip     map[string]string   // destination -> skip reason
	}{
		{name: "overlapping routes each get their slice, the catch-all gets all",
			cfg: notify.Router{Routes: []notify.Route{dataRoute, expiring}},
			want: map[string][]string{
				"slack":                 {"2 expiring · 1 stale · 1 unused", "nightly", "risk-api", "finance-ops"},
				"slack:route:team-data": {"team-data · 1 expiring · 1 stale", "1/1 gateways", "nightly", "backfill"},
				"slack:route:expiring":  {"expiring · 2 expiring", "nightly", "risk-api"},
			},
			notWant: map[string][]string{
				"slack:route:team-data": {"risk-api", "finance-ops"},
				"slack:route:expiring":  {"backfill", "risk-batch"},
			}},
		{name: "an exclusive route keeps its slice out of the catch-all",
			cfg: notify.Router{Routes: []notify.Route{{Name: "team-finance", Exclusive: true, Match: audit.Match{Accounts: []string{"finance"}}}}},
			want: map[string][]string{
				"slack":                    {"1 expiring · 1 stale", "1/1 gateways", "nightly"},
				"slack:route:team-finance": {"team-finance · 1 expiring · 1 unused", "1/1 gateways", "risk-api", "finance-ops"},
			},
			notWant: map[string][]string{"slack": {"risk-api", "risk-batch", "finance-ops"}}},
		{name: "minSeverity filters what a route lists",
			cfg:     notify.Router{Routes: []notify.Route{{Name: "high", Match: audit.Match{MinSeverity: audit.SeverityHigh}}}},
			want:    map[string][]string{"slack:route:high": {"high · 2 expiring"}},
			notWant: map[string][]string{"slack:route:high": {"stale", "unused"}}},
		{name: "a route that matches nothing gets nothing",
			cfg:  notify.Router{Routes: []notify.Route{{Name: "nobody", Match: audit.Match{Regions: []string{"eu-*"}}}}},
			skip: map[string]string{"slack:route:nobody": "nothing in route nobody's slice"}},
		{name: "…and says so with notify: always",
			cfg:  notify.Router{Routes: []notify.Route{{Name: "nobody", Notify: "always", Match: audit.Match{Regions: []string{"eu-*"}}}}},
			want: map[string][]string{"slack:route:nobody": {"Livy token audit · nobody · nothing here"}}},
		{name: "owners: one message each, only their tokens; unmapped owners are listed",
			cfg: notify.Router{Owners: notify.Owners{Enabled: true}}, mentions: map[string]string{"alice": "U0ALICE01"},
			want: map[string][]string{
				"slack":                 {"No Slack owner* — 2", "bob · 1 finding", "carol · 1 finding"},
				"slack:owner:U0ALICE01": {"your tokens · 2 expiring", "nightly", "risk-api", "How to rotate"},
			},
			notWant: map[string][]string{"slack:owner:U0ALICE01": {"backfill", "risk-batch"}}},
		{name: "owners with a minimum severity",
			cfg: notify.Router{Owners: notify.Owners{Enabled: true, MinSeverity: audit.SeverityHigh}}, mentions: map[string]string{"alice": "U0ALICE01", "bob": "U0BOB0001"},
			want:    map[string][]string{"slack:owner:U0ALICE01": {"nightly"}},
			notWant: map[string][]string{"slack": {"No Slack owner"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := plan(t, tc.cfg, tc.mentions)
			for dest, wants := range tc.want {
				p, ok := got[dest]
				if !ok {
					t.Fatalf("no message to %s (got %v)", dest, keys(got))
				}
				if p.Skip != "" {
					t.Errorf("%s skipped: %s", dest, p.Skip)
				}
				for _, w := range wants {
					if !strings.Contains(text(p), w) {
						t.Errorf("%s lacks %q:\n%s", dest, w, text(p))
					}
				}
			}
			for dest, nots := range tc.notWant {
				for _, w := range nots {
					if strings.Contains(text(got[dest]), w) {
						t.Errorf("%s holds %q, which is not its:\n%s", dest, w, text(got[dest]))
					}
				}
			}
			for dest, why := range tc.skip {
				if got[dest].Skip != why {
					t.Errorf("%s: skip %q, want %q", dest, got[dest].Skip, why)
				}
			}
			if _, ok := got["slack:owner:U0BOB0001"]; ok && tc.name == "owners with a minimum severity" {
				t.Error("bob, who has only a medium finding, got a message")
			}
		})
	}
}

func keys(m map[string]planned) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Every destination whose slice a failure may hide hears of it, the main
// report always among them; when exclusive routes take every gateway, the
// main report says where they went, never "0 gateways found".
func TestRoutingFailuresAndAllRouted(t *testing.T) {
	t.Parallel()
	s := teams()
	// The own account's region listing failed too: it may hide a gateway
	// of any workspace there, the main report's among them.
	s.Errors = append(s.Errors, audit.ScopeError{Region: "cn-hangzhou", Code: "Forbidden.RAM", Message: "region denied"})
	s.Summary.Errors = len(s.Errors)
	dataOnly := notify.Route{Name: "team-data", Exclusive: true, Match: audit.Match{Workspaces: []string{"data-platform"}}}
	got := planOf(t, notify.Router{Routes: []notify.Route{dataOnly}}, nil, s)
	for _, dest := range []string{"slack", "slack:route:team-data"} {
		if !strings.Contains(text(got[dest]), "region denied") {
			t.Errorf("%s does not hear of the region's failure:\n%s", dest, text(got[dest]))
		}
	}
	// Every gateway routed away: the main report says so.
	finance := notify.Route{Name: "team-finance", Exclusive: true, Match: audit.Match{Accounts: []string{"finance"}}}
	got = planOf(t, notify.Router{Notify: "always", Routes: []notify.Route{dataOnly, finance}}, nil, s)
	main := text(got["slack"])
	if !strings.Contains(main, "all 2 gateways reported to team-data, team-finance") || strings.Contains(main, "0 gateways found") {
		t.Errorf("the main report, everything routed away:\n%s", main)
	}
}

// One direct message per person per run: an owner found by email (no
// slack.mentions entry) with tokens in three accounts and two regions gets
// exactly one, listing them all; a token whose creator left goes to the
// gateway's creator.
func TestOneDigestPerPerson(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	erin := audit.Owner{Name: "erin", Status: audit.OwnerActive, SlackID: "U0ERIN001", Via: audit.ViaEmail}
	bob := audit.Owner{Name: "bob", Status: audit.OwnerLeft, Via: audit.ViaNone}
	dave := audit.Owner{Name: "dave", Status: audit.OwnerActive, SlackID: "U0DAVE001", Via: audit.ViaEmail}
	owners := &audit.Owners{ByName: map[string]audit.Owner{"erin": erin, "bob": bob, "dave": dave}}
	var col audittest.Collection
	for i, where := range []struct{ account, region string }{{"", "cn-hangzhou"}, {"1111111111111111", "cn-shanghai"}, {"2222222222222222", "cn-hangzhou"}} {
		ref := audit.GatewayRef{AccountID: where.account, Region: where.region, WorkspaceID: "w-" + where.region, WorkspaceName: "bi", GatewayID: "lc-" + string(rune('a'+i)), GatewayName: "gw"}
		toks := []audit.Token{{ID: "tk-e" + string(rune('a'+i)), Name: "dash", CreatedBy: "erin", CreateTime: t0.Add(-90 * day), ExpireTime: t0.Add(2 * day), LastUsedTime: t0}}
		if i == 0 {
			toks = append(toks, audit.Token{ID: "tk-b", Name: "left-behind", CreatedBy: "bob", CreateTime: t0.Add(-90 * day), ExpireTime: t0.Add(2 * day), LastUsedTime: t0})
		}
		col.Gateways = append(col.Gateways, audit.GatewayResult{Ref: ref, Tokens: toks, Details: &audit.GatewayDetails{CreatedBy: "dave"}, Owners: owners})
	}
	s := audittest.BuildSnapshot(col, audit.Evaluation{Now: t0, Policy: audit.DefaultPolicy(), Assignment: &audit.Assignment{EscalateAfter: 3 * day}})
	audit.Compare(s, nil, nil, 0)
	p := planOf(t, notify.Router{Owners: notify.Owners{Enabled: true}}, nil, s)
	var toErin []planned
	for dest, pl := range p {
		if strings.HasPrefix(dest, "slack:owner:U0ERIN001") {
			toErin = append(toErin, pl)
		}
	}
	if len(toErin) != 1 || len(toErin[0].Digest.Owner.Items) != 3 {
		t.Fatalf("erin gets %d messages (%v), want one with her 3 tokens", len(toErin), p)
	}
	if d, ok := p["slack:owner:U0DAVE001"]; !ok || len(d.Digest.Owner.Items) != 2 || !strings.Contains(text(d), "left-behind") || !strings.Contains(text(d), "yours as created gateway gw") {
		t.Errorf("dave (the gateway's creator) does not get bob's token: %+v", d)
	}
	if _, ok := p["slack:owner:"]; ok {
		t.Error("a message to nobody was planned")
	}
}
