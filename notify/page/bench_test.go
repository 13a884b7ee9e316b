package page

import (
	"fmt"
	"io"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
	"livy-token-audit/notify"
)

// BenchmarkPage renders the page of a fleet of 1,000 gateways and 50,000
// tokens (BENCHMARKS.md).
func BenchmarkPage(b *testing.B) {
	s := fleet()
	b.ReportAllocs()
	for b.Loop() {
		if err := (Page{}).WritePage(io.Discard, notify.NewDigest(s, delivery.Locations{}), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPageRowsAhead is the same page with its rows rendered ahead
// (while the fleet is audited): what is left for the end of the run.
func BenchmarkPageRowsAhead(b *testing.B) {
	s := fleet()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		rows, err := NewRows(s.AuditedAt)
		if err != nil {
			b.Fatal(err)
		}
		for _, g := range s.Gateways {
			rows.Add(g)
		}
		_ = rows.finish()
		b.StartTimer()
		if err := (Page{Rows: rows}).WritePage(io.Discard, notify.NewDigest(s, delivery.Locations{}), nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		rows.Close()
		b.StartTimer()
	}
}

func fleet() *audit.Snapshot {
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	s := &audit.Snapshot{RunID: "x", AuditedAt: at}
	for g := range 1000 {
		gr := audit.GatewayReport{Region: "cn-hangzhou", WorkspaceID: "w", GatewayID: fmt.Sprint("lc-", g)}
		for i := range 50 {
			e := at.Add(time.Duration(i) * 24 * time.Hour)
			gr.Tokens = append(gr.Tokens, audit.TokenReport{TokenID: fmt.Sprint("tk-", g, "-", i), Name: "name", CreatedBy: "bob", ExpireTime: &e, CreateTime: &at, LastUsedTime: &at,
				Findings: []audit.Finding{{Rule: audit.RuleStale, Severity: audit.SeverityMedium, Message: "last used 40d ago"}}})
		}
		s.Gateways = append(s.Gateways, gr)
	}
	return s
}
