package metrics

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"livy-token-audit/audit"
	"livy-token-audit/internal/audittest"
)

var at = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func fleet() *audit.Snapshot {
	day := 24 * time.Hour
	col := audittest.Collection{Gateways: []audit.GatewayResult{
		{Ref: audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-1"}, Tokens: []audit.Token{
			{ID: "tk-1", CreateTime: at.Add(-90 * day), LastUsedTime: at, ExpireTime: at.Add(27 * time.Hour)}, // expiring (high)
			{ID: "tk-2", CreateTime: at.Add(-90 * day), LastUsedTime: at.Add(-40 * day)},                      // stale (medium)
		}},
		{Ref: audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w-1", GatewayID: "lc-2"}, Err: &audit.APIError{Code: "ServiceUnavailable"}},
		{Ref: audit.GatewayRef{AccountID: "2222", AccountName: "finance", Region: "cn-shanghai", WorkspaceID: "w-9", GatewayID: "lc-9"}, Tokens: []audit.Token{
			{ID: "tk-9", CreateTime: at.Add(-90 * day), LastUsedTime: at, ExpireTime: at.Add(-day)}, // expired (low)
		}},
	}, Errors: []audit.ScopeError{{Region: "cn-beijing", Code: "Forbidden.RAM"}}}
	return audittest.BuildSnapshot(col, audit.Evaluation{Now: at, Policy: audit.DefaultPolicy()})
}

func describe(f Figure) string {
	parts := []string{f.Name, f.Account, f.Region, string(f.Verdict), string(f.Rule)}
	if f.Severity != 0 {
		parts = append(parts, f.Severity.String())
	}
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ") + "=" + strconv.FormatFloat(f.Value, 'f', -1, 64)
}

// The figures of a run: its heartbeat, then by account and region the
// gateways, tokens, findings and the soonest expiry.
func TestOf(t *testing.T) {
	t.Parallel()
	var got []string
	for _, f := range Of(fleet()) {
		got = append(got, describe(f))
	}
	want := []string{
		"audit_run partial=1",
		"gateways_audited 2222 cn-shanghai=1", "gateways_failed 2222 cn-shanghai=0", "tokens 2222 cn-shanghai=1", "findings 2222 cn-shanghai expired low=1",
		"gateways_audited self cn-beijing=0", "gateways_failed self cn-beijing=0", "tokens self cn-beijing=0",
		"gateways_audited self cn-hangzhou=1", "gateways_failed self cn-hangzhou=1", "tokens self cn-hangzhou=2",
		"findings self cn-hangzhou expiring high=1", "findings self cn-hangzhou stale medium=1", "min_hours_to_expiry self cn-hangzhou=27",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("figures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The OpenMetrics text is read back by expfmt's strict OpenMetrics 1.0
// parser: gauges with their types, every figure, then # EOF.
func TestWriteOpenMetrics(t *testing.T) {
	t.Parallel()
	figs := Of(fleet())
	var buf bytes.Buffer
	if err := WriteOpenMetrics(&buf, figs); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(buf.String(), "\n# EOF\n") {
		t.Errorf("no # EOF at the end:\n%s", buf.String())
	}
	dec := expfmt.NewDecoder(bytes.NewReader(buf.Bytes()), expfmt.FmtOpenMetrics_1_0_0)
	samples := 0
	types := map[string]dto.MetricType{}
	for {
		var mf dto.MetricFamily
		err := dec.Decode(&mf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the strict parser refuses it: %v\n%s", err, buf.String())
		}
		types[mf.GetName()] = mf.GetType()
		samples += len(mf.GetMetric())
	}
	if samples != len(figs) || types["livy_token_audit_run"] != dto.MetricType_GAUGE || types["livy_token_audit_findings"] != dto.MetricType_GAUGE {
		t.Errorf("read back %d samples (types %v), want %d gauges:\n%s", samples, types, len(figs), buf.String())
	}
	if !strings.Contains(buf.String(), `livy_token_audit_findings{account="self",region="cn-hangzhou",rule="expiring",severity="high"} 1`) {
		t.Errorf("the findings sample:\n%s", buf.String())
	}
}
