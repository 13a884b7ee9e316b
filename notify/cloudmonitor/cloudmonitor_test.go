package cloudmonitor

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/internal/audittest"
	"livy-token-audit/internal/standin/emulator"
	"livy-token-audit/notify/metrics"
)

const (
	testAK     = "STS.CmsTestKey01"
	testSecret = "cms-secret-never-print-2e"
	testToken  = "cms-sts-token-never-print-6f"
)

func stsCred(t *testing.T, secret string) credentials.Credential {
	t.Helper()
	c, err := credentials.NewCredential(&credentials.Config{Type: dara.String("sts"), AccessKeyId: dara.String(testAK),
		AccessKeySecret: dara.String(secret), SecurityToken: dara.String(testToken)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func stage(t *testing.T, secret string) (*Client, *emulator.CMS) {
	t.Helper()
	cms := &emulator.CMS{Keys: map[string]emulator.Key{testAK: {Secret: testSecret, SecurityToken: testToken}}}
	srv := httptest.NewServer(cms)
	t.Cleanup(srv.Close)
	c, err := New(Options{Endpoint: srv.URL, Region: "cn-hangzhou", GroupID: 0, Credential: stsCred(t, secret), Timeout: 5 * time.Second,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return c, cms
}

// snapshot has 30 gateways in 30 regions: more figures than one call takes.
func snapshot() *audit.Snapshot {
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	var col audittest.Collection
	for i := range 30 {
		col.Gateways = append(col.Gateways, audit.GatewayResult{Ref: audit.GatewayRef{Region: fmt.Sprintf("r-%02d", i), WorkspaceID: "w", GatewayID: "g"},
			Tokens: []audit.Token{{ID: "tk", CreateTime: at.Add(-100 * 24 * time.Hour), LastUsedTime: at.Add(-40 * 24 * time.Hour)}}})
	}
	return audittest.BuildSnapshot(col, audit.Evaluation{Now: at, Policy: audit.DefaultPolicy()})
}

// The run's figures reach the stand-in signed (ACS3, STS token), in calls
// of at most 21 entries, each within the API's limits: audit_run with its
// verdict, and the rest by account and region only.
func TestReport(t *testing.T) {
	t.Parallel()
	c, cms := stage(t, testSecret)
	s := snapshot()
	if err := c.Report(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	got := cms.Metrics()
	want := len(Entries(metrics.Of(s)))
	if len(got) != want || cms.Calls() != (want+MaxPerCall-1)/MaxPerCall {
		t.Fatalf("%d metrics in %d calls, want %d in %d", len(got), cms.Calls(), want, (want+MaxPerCall-1)/MaxPerCall)
	}
	names := map[string]int{}
	for _, m := range got {
		names[m.Name]++
		switch {
		case m.Name == metrics.Run:
			if m.Dimensions["verdict"] != "complete" || len(m.Dimensions) != 1 || m.Value != 1 {
				t.Errorf("audit_run: %+v", m)
			}
		case len(m.Dimensions) != 2 || m.Dimensions["account"] != "self" || !strings.HasPrefix(m.Dimensions["region"], "r-"):
			t.Errorf("%s: dimensions %v, want account and region only", m.Name, m.Dimensions)
		}
		if !m.Time.Equal(s.AuditedAt) {
			t.Errorf("%s at %v, want the audit time", m.Name, m.Time)
		}
	}
	if names[metrics.Run] != 1 || names["findings_stale"] != 30 || names["findings_medium"] != 30 || names[metrics.Tokens] != 30 {
		t.Errorf("metrics by name: %v", names)
	}
}

// A wrong secret is refused by the stand-in's signature check, and the
// error names the code, never a secret; a failing endpoint is retried,
// then reported.
func TestReportFailures(t *testing.T) {
	t.Parallel()
	c, _ := stage(t, "not-the-secret")
	err := c.Report(t.Context(), snapshot())
	if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") || strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), "not-the-secret") {
		t.Errorf("got %v, want SignatureDoesNotMatch without a secret", err)
	}
	c, cms := stage(t, testSecret)
	cms.Fail = 503
	if err := c.Report(t.Context(), snapshot()); err == nil || cms.Calls() != 3 {
		t.Errorf("got %v after %d calls, want an error after 3 attempts", err, cms.Calls())
	}
}
