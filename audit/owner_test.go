package audit

import (
	"testing"
	"time"
)

var ownerNow = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

func ownerTime(t time.Time) *time.Time { return &t }

// build audits one gateway with owners resolved, against an earlier
// baseline (nil: none), under assignment a.
func build(t *testing.T, tokens []Token, owners *Owners, createdBy string, earlier *Baseline, a *Assignment, acks map[string]Acknowledgement) *GatewayReport {
	t.Helper()
	ref := GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", WorkspaceName: "data", GatewayID: "lc-1", GatewayName: "etl"}
	ev := Evaluation{Now: ownerNow, Policy: DefaultPolicy(), Assignment: a, Acks: acks}
	if earlier != nil {
		ev.Earlier = func() *Baseline { return earlier }
	}
	s := BuildSnapshot(Collection{Gateways: []GatewayResult{{Ref: ref, Tokens: tokens, Details: &GatewayDetails{CreatedBy: createdBy}, Owners: owners}}}, ev)
	return &s.Gateways[0]
}

func people() *Owners {
	active := func(name, slack string, login time.Time) Owner {
		return Owner{Name: name, Status: OwnerActive, SlackID: slack, Via: ViaEmail, LastLogin: &login}
	}
	return &Owners{ByName: map[string]Owner{
		"alice": active("alice", "U0ALICE01", ownerNow.Add(-Day)),
		"bob":   {Name: "bob", Status: OwnerLeft, LeftAt: ownerTime(time.Date(2026, 10, 1, 10, 0, 0, 0, time.UTC)), Via: ViaNone},
		"frank": active("frank", "", ownerNow.Add(-200*Day)),
		"dave":  active("dave", "U0DAVE001", ownerNow),
		"grace": active("grace", "U0GRACE01", ownerNow),
		"ghost": {Name: "ghost", Status: OwnerUnknown, Via: ViaNone, Error: "GetUser: NoPermission"},
	}, Members: []Member{{UserName: "alice@acme.onaliyun.com"}, {UserName: "frank@acme.onaliyun.com"}, {UserName: "dave@acme.onaliyun.com"},
		{UserName: "grace@acme.onaliyun.com", Roles: []string{"acs:emr::w-1:role/Owner"}}, {UserName: "carol@acme.onaliyun.com"}}}
}

func rulesOf(tr TokenReport) map[Rule]string {
	out := map[Rule]string{}
	for _, f := range tr.Findings {
		out[f.Rule] = f.Message
	}
	return out
}

// The orphaned rule: a creator deleted from RAM, or no longer a member of
// the workspace; ownerDormant: one who has not signed in for 90 days; an
// owner not found is reported apart, never as a finding.
func TestOrphanedAndDormant(t *testing.T) {
	t.Parallel()
	tok := func(id, by string) Token {
		return Token{ID: id, Name: id, CreatedBy: by, CreateTime: ownerNow.Add(-30 * Day), ExpireTime: ownerNow.Add(200 * Day), LastUsedTime: ownerNow}
	}
	ow := people()
	ow.ByName["carl"] = Owner{Name: "carl", Status: OwnerActive, Via: ViaNone}
	g := build(t, []Token{tok("a", "alice"), tok("b", "bob"), tok("f", "frank"), tok("c", "carl"), tok("g", "ghost")}, ow, "dave", nil, nil, nil)
	by := map[string]TokenReport{}
	for _, tr := range g.Tokens {
		by[tr.TokenID] = tr
	}
	if m := rulesOf(by["b"]); m[RuleOrphaned] != "created by bob, who left on 2026-10-01" {
		t.Errorf("bob's token: %v", m)
	}
	if m := rulesOf(by["c"]); m[RuleOrphaned] != "created by carl, who is no longer a member of workspace data" {
		t.Errorf("carl's token (not a member): %v", m)
	}
	if m := rulesOf(by["f"]); m[RuleOwnerDormant] != "created by frank, who last signed in 200d ago" || m[RuleOrphaned] != "" {
		t.Errorf("frank's token: %v", m)
	}
	if m := rulesOf(by["a"]); len(m) != 0 {
		t.Errorf("alice's token: %v, want no finding", m)
	}
	if m := rulesOf(by["g"]); len(m) != 0 || by["g"].OwnerError != "GetUser: NoPermission" || by["g"].Owner.Status != OwnerUnknown {
		t.Errorf("an unknown owner: %v, %+v", m, by["g"])
	}
}

// Who is told: the creator when they can act; else the gateway's creator,
// then the workspace's admins, then nobody (the main report) — and a high
// finding unanswered for escalateAfter goes one step on, once per step,
// until an acknowledgement stops it.
func TestAssignAndEscalate(t *testing.T) {
	t.Parallel()
	expiring := func(by string) Token {
		return Token{ID: "tk-" + by, Name: "etl-" + by, CreatedBy: by, CreateTime: ownerNow.Add(-100 * Day), ExpireTime: ownerNow.Add(2 * Day), LastUsedTime: ownerNow}
	}
	a := &Assignment{EscalateAfter: 3 * Day}
	assignee := func(g *GatewayReport) *Assignee { return g.Tokens[0].Assignee }

	if as := assignee(build(t, []Token{expiring("alice")}, people(), "dave", nil, a, nil)); as.As != StepCreator || as.To[0].SlackID != "U0ALICE01" {
		t.Errorf("an active creator: %+v", as)
	}
	as := assignee(build(t, []Token{expiring("bob")}, people(), "dave", nil, a, nil))
	if as.As != StepGatewayCreator || as.To[0].Name != "dave" || as.Because != "created by bob, who left on 2026-10-01" {
		t.Errorf("a creator who left: %+v, want the gateway's creator", as)
	}
	if as := assignee(build(t, []Token{expiring("bob")}, people(), "", nil, a, nil)); as.As != StepWorkspaceAdmins || len(as.To) != 1 || as.To[0].Name != "grace" {
		t.Errorf("no gateway creator: %+v, want the workspace's admin", as)
	}
	none := people()
	none.Members = []Member{{UserName: "alice@acme.onaliyun.com"}}
	if as := assignee(build(t, []Token{expiring("bob")}, none, "", nil, a, nil)); as.As != "none" || as.Why != "no owner: created by bob, who left on 2026-10-01" {
		t.Errorf("nobody: %+v", as)
	}

	// Escalation: alice's expiring token was first seen 3 days ago; the
	// baseline says so.
	earlier := func(since time.Time) *Baseline {
		return &Baseline{AuditedAt: ownerNow.Add(-Day), Gateways: []BaselineGateway{{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1", AuditedAt: ownerNow.Add(-Day),
			Tokens: []BaselineToken{{TokenID: "tk-alice", Findings: []BaselineFinding{{Rule: RuleExpiring, Severity: SeverityHigh, Since: &since}}}}}}}
	}
	g := build(t, []Token{expiring("alice")}, people(), "dave", earlier(ownerNow.Add(-3*Day)), a, nil)
	as = assignee(g)
	if f := g.Tokens[0].Findings[0]; !f.FirstSeen.Equal(ownerNow.Add(-3 * Day)) {
		t.Errorf("firstSeen %v, want the baseline's", f.FirstSeen)
	}
	if as.As != StepGatewayCreator || as.Step != 1 || as.To[0].Name != "dave" || as.Escalation != "no answer from <@U0ALICE01> for 3d" || !as.At.Equal(ownerNow) {
		t.Errorf("after 3 days: %+v", as)
	}
	as = assignee(build(t, []Token{expiring("alice")}, people(), "dave", earlier(ownerNow.Add(-7*Day)), a, nil))
	if as.As != StepWorkspaceAdmins || as.Step != 2 || as.EscalatedFrom[0].Name != "dave" || !as.At.Equal(ownerNow.Add(-Day)) {
		t.Errorf("after 7 days: %+v, want the admins, the step begun a day ago", as)
	}
	as = assignee(build(t, []Token{expiring("alice")}, people(), "dave", earlier(ownerNow.Add(-30*Day)), a, nil))
	if as.As != "none" || as.Why != "no answer from anyone in the chain" {
		t.Errorf("past the chain: %+v", as)
	}
	// An acknowledgement stops it.
	acks := map[string]Acknowledgement{TokenKey(GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1"}, "tk-alice"): {By: "U0CAROL01", ByName: "carol", At: ownerNow}}
	as = assignee(build(t, []Token{expiring("alice")}, people(), "dave", earlier(ownerNow.Add(-7*Day)), a, acks))
	if as.As != "acknowledged" || as.Step != 0 || as.To[0].SlackID != "U0CAROL01" {
		t.Errorf("acknowledged: %+v", as)
	}
	// A finding below high, or of a rule the owners are not told of, does
	// not escalate.
	a.Rules = []Rule{RuleOrphaned}
	if as := assignee(build(t, []Token{expiring("alice")}, people(), "dave", earlier(ownerNow.Add(-7*Day)), a, nil)); as.Step != 0 {
		t.Errorf("a rule outside slack.owners.rules escalated: %+v", as)
	}
}
