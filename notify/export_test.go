package notify

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"livy-token-audit/audit"
)

func hostileSnapshot() *audit.Snapshot {
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	exp := at.Add(48 * time.Hour)
	return &audit.Snapshot{RunID: "audit-20261127T090000Z", AuditedAt: at, Gateways: []audit.GatewayReport{{
		Region: "cn-hangzhou", WorkspaceID: "w-1", WorkspaceName: "=cmd|' /C calc'!A0", GatewayID: "lc-1", GatewayName: "gw, \"quoted\"\nsecond line",
		Tokens: []audit.TokenReport{
			{TokenID: "tk-1", Name: "=HYPERLINK(\"http://evil.example\",\"x\")", CreatedBy: "+1", ExpireTime: &exp,
				Findings: []audit.Finding{{Rule: audit.RuleExpiring, Severity: audit.SeverityHigh, Message: "expires in 2d"}}},
			{TokenID: "tk-2", Name: "-2+3", CreatedBy: "@SUM(A1)", Findings: []audit.Finding{},
				Suppressed: []audit.SuppressedFinding{{Finding: audit.Finding{Rule: audit.RuleUnused, Severity: audit.SeverityMedium, Message: "never used"}, Reason: "\tlaptop"}}},
			{TokenID: "tk-3", Name: "plain", CreatedBy: "alice", Findings: []audit.Finding{}},
		},
	}}}
}

func TestWriteCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCSV(&buf, hostileSnapshot()); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("not RFC 4180: %v", err)
	}
	if len(records) != 4 || !slices.Equal(records[0], CSVHeader) {
		t.Fatalf("got %d records (header %v), want the header and one row per token and finding", len(records), records[0])
	}
	col := func(name string) int { return slices.Index(CSVHeader, name) }
	for i, want := range []map[string]string{
		{"name": `'=HYPERLINK("http://evil.example","x")`, "created_by": "'+1", "rule": "expiring", "workspace_name": `'=cmd|' /C calc'!A0`,
			"gateway_name": "gw, \"quoted\"\nsecond line", "expire_time": "2026-11-29T09:00:00Z", "suppressed": "false"},
		{"name": "'-2+3", "created_by": "'@SUM(A1)", "rule": "unused", "suppressed": "true", "suppression_reason": "'\tlaptop"},
		{"name": "plain", "rule": "", "suppressed": "false", "expire_time": ""},
	} {
		row := records[i+1]
		for k, v := range want {
			if got := row[col(k)]; got != v {
				t.Errorf("row %d %s = %q, want %q", i+1, k, got, v)
			}
		}
	}
	// No cell a spreadsheet would evaluate.
	for _, r := range records[1:] {
		for i, c := range r {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Errorf("%s cell %q starts a formula", CSVHeader[i], c)
			}
		}
	}
}

func TestWriteNDJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteNDJSON(&buf, hostileSnapshot()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want one per token", len(lines))
	}
	var first TokenLine
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Name != `=HYPERLINK("http://evil.example","x")` || first.GatewayName != "gw, \"quoted\"\nsecond line" || first.ExpireTime == nil || len(first.Findings) != 1 {
		t.Errorf("first line decodes to %+v: JSON keeps values as they are", first)
	}
}
