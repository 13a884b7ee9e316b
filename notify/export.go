package notify

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"strings"
	"time"

	"livy-token-audit/audit"
)

// TokenLine is one token with its gateway's fields: a line of the NDJSON
// export. The token's fields are the snapshot's (embedded, so the line has
// them in the same order and under the same names).
type TokenLine struct {
	AccountID     string `json:"accountId,omitempty"`
	AccountName   string `json:"accountName,omitempty"`
	Region        string `json:"region"`
	WorkspaceID   string `json:"workspaceId"`
	WorkspaceName string `json:"workspaceName"`
	GatewayID     string `json:"gatewayId"`
	GatewayName   string `json:"gatewayName"`
	// Kind is the gateway's: livy or kyuubi; Secret "not visible" where
	// the listing masks the values.
	Kind          string `json:"kind"`
	Secret        string `json:"secret,omitempty"`
	GatewayStatus string `json:"gatewayStatus,omitempty"`
	// Public and AuthType are the gateway's exposure (absent when unknown).
	Public   *bool  `json:"public,omitempty"`
	AuthType string `json:"authType,omitempty"`
	audit.TokenReport
	AuditedAt time.Time `json:"auditedAt"`
	RunID     string    `json:"runId"`
}

// LineOf is token t of gateway g in snapshot s, as an NDJSON line.
func LineOf(s *audit.Snapshot, g *audit.GatewayReport, t audit.TokenReport) TokenLine {
	return TokenLine{
		AccountID: g.AccountID, AccountName: g.AccountName, Region: g.Region, WorkspaceID: g.WorkspaceID, WorkspaceName: g.WorkspaceName,
		GatewayID: g.GatewayID, GatewayName: g.GatewayName, Kind: audit.KindOf(g.Kind), Secret: g.Secret, GatewayStatus: g.Status, Public: g.Public, AuthType: g.AuthType,
		TokenReport: t, AuditedAt: s.AuditedAt, RunID: s.RunID,
	}
}

// WriteNDJSON writes one JSON object per token, with its gateway's fields,
// one per line (gateways that could not be audited have no tokens: they are
// in the snapshot's errors).
func WriteNDJSON(w io.Writer, s *audit.Snapshot) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, g := range s.Gateways {
		for _, t := range g.Tokens {
			if err := enc.Encode(LineOf(s, &g, t)); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// CSVHeader is the header row of the CSV export.
var CSVHeader = []string{"account_id", "account_name", "region", "workspace_id", "workspace_name", "gateway_id", "gateway_name",
	"token_id", "name", "created_by", "create_time", "expire_time", "last_used_time",
	"rule", "severity", "stage", "message", "suppressed", "suppression_reason", "audited_at",
	"public", "auth_type", "kind", "fingerprint", "first_seen"}

// WriteCSV writes one row per token and finding (RFC 4180, a header row;
// columns are only ever appended):
// a token with no finding is one row with an empty rule; a suppressed
// finding is a row with suppressed "true". Cells that a spreadsheet would
// take for a formula (starting with =, +, -, @, a tab or a carriage return)
// are prefixed with a quote.
func WriteCSV(w io.Writer, s *audit.Snapshot) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	ts := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	at := s.AuditedAt.UTC().Format(time.RFC3339)
	for _, g := range s.Gateways {
		public := "" // unknown
		if g.Public != nil {
			public = map[bool]string{true: "true", false: "false"}[*g.Public]
		}
		for _, t := range g.Tokens {
			base := []string{g.AccountID, g.AccountName, g.Region, g.WorkspaceID, g.WorkspaceName, g.GatewayID, g.GatewayName,
				t.TokenID, t.Name, t.CreatedBy, ts(t.CreateTime), ts(t.ExpireTime), ts(t.LastUsedTime)}
			row := func(f *audit.Finding, suppressed bool, reason string) error {
				r := append([]string(nil), base...)
				fp, first := "", ""
				if f == nil {
					r = append(r, "", "", "", "", "false", "")
				} else {
					r = append(r, string(f.Rule), f.Severity.String(), f.Stage, f.Message, map[bool]string{true: "true", false: "false"}[suppressed], reason)
					fp, first = f.Fingerprint, ts(f.FirstSeen)
				}
				r = append(r, at, public, g.AuthType, audit.KindOf(g.Kind), fp, first)
				for i := range r {
					r[i] = neutralize(r[i])
				}
				return cw.Write(r)
			}
			if len(t.Findings) == 0 && len(t.Suppressed) == 0 {
				if err := row(nil, false, ""); err != nil {
					return err
				}
			}
			for i := range t.Findings {
				if err := row(&t.Findings[i], false, ""); err != nil {
					return err
				}
			}
			for i := range t.Suppressed {
				if err := row(&t.Suppressed[i].Finding, true, t.Suppressed[i].Reason); err != nil {
					return err
				}
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// neutralize keeps a spreadsheet from reading a cell as a formula (CSV
// injection): such a cell gets a leading quote.
func neutralize(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
