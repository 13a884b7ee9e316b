package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"livy-token-audit/audit"
	"livy-token-audit/internal/audittest"
)

// snapshotSchema compiles docs/snapshot.schema.json, asserting formats.
func snapshotSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "docs", "snapshot.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("snapshot.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("snapshot.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validateSnapshot(t *testing.T, sch *jsonschema.Schema, name string, b []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("%s does not match docs/snapshot.schema.json:\n%v", name, err)
	}
}

// Every golden snapshot, and a snapshot with every optional field this
// release writes, validate against the published schema (which allows no
// field it does not name): the schema is the snapshot's contract.
func TestSnapshotsMatchTheSchema(t *testing.T) {
	t.Parallel()
	sch := snapshotSchema(t)
	golden, _ := filepath.Glob(filepath.Join(repoRoot, "testdata", "golden", "*snapshot*.json"))
	if len(golden) < 2 {
		t.Fatalf("found %d golden snapshots", len(golden))
	}
	for _, g := range golden {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		validateSnapshot(t, sch, filepath.Base(g), b)
	}

	// Every optional field at once: accounts, a gateway's exposure and its
	// details' failure, duplicate token IDs, data errors, an
	// acknowledgement, a snooze, stages, an overdue previous audit, the
	// record of actions and its warnings.
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tok := func(id string) audit.Token {
		return audit.Token{ID: id, Name: "n-" + id, CreatedBy: "alice", CreateTime: now.Add(-400 * day), ExpireTime: now.Add(3 * day)}
	}
	bad := tok("tk-bad")
	bad.DataErrors = []audit.DataError{{Field: audit.FieldLastUsedTime, Message: "not a time"}}
	own := audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", WorkspaceName: "data", GatewayID: "lc-1", GatewayName: "etl", GatewayStatus: "Running"}
	other := audit.GatewayRef{AccountID: "1111111111111111", AccountName: "analytics", Region: "cn-shanghai", WorkspaceID: "w-2", GatewayID: "lc-2"}
	policy := audit.DefaultPolicy()
	policy.ExpiryStages = []time.Duration{7 * day, day}
	policy.MaxLifetime = 90 * day
	ev := audit.Evaluation{Now: now, Policy: policy, Tool: audit.Tool{Name: "livy-token-audit", Version: "v1.0.0"},
		Trigger: audit.Trigger{Kind: "timer", Name: "daily", TriggerTime: &now, RequestID: "req-1", RetryCount: 1},
		Scope: audit.ScopeReportOf([]audit.Account{{Scope: audit.Scope{Regions: []string{"cn-hangzhou"}}},
			{ID: "1111111111111111", Name: "analytics", RoleARN: "acs:ram::1111111111111111:role/reader", Scope: audit.Scope{Regions: []string{"cn-shanghai"}}}}, false),
		Suppressions: []audit.Suppression{{TokenID: "tk-2", Reason: "migrating", Until: now.Add(30 * day), SnoozedBy: "U0ALICE01", SnoozedByName: "alice.w", Exact: &other},
			{TokenID: "tk-2", Rules: []audit.Rule{audit.RuleStale}, Reason: "snoozed", Until: now.Add(30 * day), SnoozedBy: "U0ALICE01", SnoozedByName: "alice.w", Exact: &other}},
		Acks:            map[string]audit.Acknowledgement{audit.TokenKey(own, "tk-1"): {By: "U0ALICE01", ByName: "alice.w", At: now.Add(-day)}},
		Actions:         []audit.ActionReport{{At: now.Add(-day), By: "U0ALICE01", ByName: "alice.w", Verb: "ack", Token: audit.TokenKey(own, "tk-1"), Name: "n-tk-1", Outcome: "done"}},
		ActionsWarnings: []string{"the record of actions' actions/state.3.json is not JSON: actions recorded only there are not applied"}}
	s := audittest.BuildSnapshot(audittest.Collection{
		Gateways: []audit.GatewayResult{
			{Ref: own, Tokens: []audit.Token{tok("tk-1"), tok("tk-1"), bad}, Details: &audit.GatewayDetails{Public: true, AuthType: "Token"}},
			{Ref: other, Tokens: []audit.Token{tok("tk-2")}, DetailsErr: &audit.APIError{Code: "Forbidden.RAM", Message: "denied", RequestID: "r"}},
		},
		Errors: []audit.ScopeError{{Region: "cn-hangzhou", WorkspaceID: "w-3", WorkspaceName: "ml", Code: "ServiceUnavailable", Message: "later", RequestID: "r2"}},
	}, ev)
	prev := audit.BaselineOf(audittest.BuildSnapshot(audittest.Collection{Gateways: []audit.GatewayResult{{Ref: own, Tokens: []audit.Token{tok("tk-1")}}}},
		audit.Evaluation{Now: now.Add(-3 * day), Policy: policy}))
	audit.Compare(s, prev, nil, day)
	var buf bytes.Buffer
	if err := s.Write(&buf); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"accounts"`, `"public"`, `"detailsError"`, `"duplicateTokenIds"`, `"dataErrors"`, `"acknowledged"`, `"snoozedBy"`, `"stage"`, `"overdue"`, `"actions"`, `"actionsWarnings"`, `"ended"`} {
		if !bytes.Contains(buf.Bytes(), []byte(field)) {
			t.Errorf("the snapshot meant to hold every optional field lacks %s", field)
		}
	}
	validateSnapshot(t, sch, "a snapshot with every optional field", buf.Bytes())
}
