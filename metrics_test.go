package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"livy-token-audit/internal/standin/emulator"
	"livy-token-audit/notify/metrics"
)

// The heartbeat through the CLI: a run reports its figures to the
// CloudMonitor stand-in (signed with the run's credentials); a run whose
// figures cannot be reported still succeeds, saying so; a failed audit
// reports audit_run with its verdict — the alarm's figure.
func TestHeartbeat(t *testing.T) {
	cms := &emulator.CMS{Keys: map[string]emulator.Key{cliAK: {Secret: cliSecret}}}
	srv := httptest.NewServer(cms)
	defer srv.Close()
	st := newStage(t, "", "metrics: {cloudMonitor: {enabled: true, endpoint: "+strconv.Quote(srv.URL)+"}}\n")
	st.healthy()
	code, out, errb := st.run(t, day1)
	if code != exitOK || !strings.Contains(out, "CloudMonitor: the run's figures reported") {
		t.Fatalf("exit %d\n%s%s", code, out, errb)
	}
	runs := func(verdict string) int {
		n := 0
		for _, m := range cms.Metrics() {
			if m.Name == metrics.Run && m.Dimensions["verdict"] == verdict {
				n++
			}
		}
		return n
	}
	if runs("complete") != 1 || len(cms.Metrics()) < 10 {
		t.Errorf("got %d metrics, %d audit_run complete; want the run's figures and one heartbeat", len(cms.Metrics()), runs("complete"))
	}

	cms.Fail = 503
	code, out, _ = st.run(t, "2026-11-28T09:00:00Z")
	if code != exitOK || !strings.Contains(out, "CloudMonitor: not reported (cloudmonitor: put") {
		t.Errorf("a CloudMonitor outage: exit %d, want 0 and the outage said\n%s", code, out)
	}
	cms.Fail = 0
	st.emu.Edit(func() {
		for _, r := range st.emu.World.Regions {
			r.Fail = &emulator.Failure{Status: 200, Empty: true}
		}
	})
	if code, out, _ = st.run(t, "2026-11-29T09:00:00Z"); code != exitFailed || runs("failed") != 1 {
		t.Errorf("a failed audit: exit %d, %d failed heartbeats; want 1 and 1\n%s", code, runs("failed"), out)
	}
	st.leaks(t, out)
}

// -format openmetrics prints the run's figures, read back by expfmt's strict
// OpenMetrics parser.
func TestOpenMetricsFormat(t *testing.T) {
	out, _ := demoFormat(t, "-format", "openmetrics")
	dec := expfmt.NewDecoder(bytes.NewReader(out), expfmt.FmtOpenMetrics_1_0_0)
	var names []string
	for {
		var mf dto.MetricFamily
		err := dec.Decode(&mf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not OpenMetrics: %v\n%s", err, out)
		}
		names = append(names, mf.GetName())
	}
	for _, want := range []string{"livy_token_audit_run", "livy_token_audit_tokens", "livy_token_audit_findings", "livy_token_audit_min_hours_to_expiry"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %s in %v", want, names)
		}
	}
}

// deploy/cloudmonitor-alarms.json holds PutCustomMetricRule arguments: only
// documented fields, the required ones set, valid enums, and metrics and
// dimensions the audit reports.
func TestCloudMonitorAlarms(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "cloudmonitor-alarms.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Rules []map[string]any `json:"rules"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil || len(doc.Rules) != 3 {
		t.Fatalf("got %d rules, %v", len(doc.Rules), err)
	}
	documented := []string{"RuleId", "RuleName", "GroupId", "MetricName", "Resources", "ContactGroups", "Webhook", "Level", "Period", "Statistics",
		"ComparisonOperator", "Threshold", "EvaluationCount", "EffectiveInterval", "SilenceTime", "EmailSubject"}
	required := []string{"RuleId", "MetricName", "Resources", "ContactGroups", "Level", "Statistics", "ComparisonOperator", "Threshold", "EvaluationCount"}
	reported := []string{metrics.Run, metrics.MinHoursToExpiry, metrics.GatewaysFailed, metrics.Tokens}
	var ids []string
	for _, r := range doc.Rules {
		for k := range r {
			if !slices.Contains(documented, k) {
				t.Errorf("%v: %s is not a documented PutCustomMetricRule field", r["RuleId"], k)
			}
		}
		for _, k := range required {
			if _, ok := r[k]; !ok {
				t.Errorf("%v: %s is required", r["RuleId"], k)
			}
		}
		ids = append(ids, r["RuleId"].(string))
		if !slices.Contains([]string{"CRITICAL", "WARN", "INFO"}, r["Level"].(string)) || !slices.Contains([]string{">=", "=", "<=", ">", "<", "!="}, r["ComparisonOperator"].(string)) {
			t.Errorf("%v: Level %v, ComparisonOperator %v", r["RuleId"], r["Level"], r["ComparisonOperator"])
		}
		if !slices.Contains(reported, r["MetricName"].(string)) {
			t.Errorf("%v: the audit reports no %v", r["RuleId"], r["MetricName"])
		}
		var res []struct {
			GroupID   int    `json:"groupId"`
			Dimension string `json:"dimension"`
		}
		if err := json.Unmarshal([]byte(r["Resources"].(string)), &res); err != nil || len(res) != 1 {
			t.Errorf("%v: Resources %v", r["RuleId"], r["Resources"])
		}
		for _, d := range strings.Split(res[0].Dimension, ",") {
			if k, _, _ := strings.Cut(d, "="); d != "" && !slices.Contains([]string{"verdict", "account", "region"}, k) {
				t.Errorf("%v: dimension %s is not one the audit reports", r["RuleId"], k)
			}
		}
		if p, err := strconv.Atoi(r["Period"].(string)); err != nil || p%60 != 0 {
			t.Errorf("%v: Period %v", r["RuleId"], r["Period"])
		}
	}
	if !slices.Equal(ids, []string{"livy-token-audit-no-run", "livy-token-audit-failed", "livy-token-audit-expiring-24h"}) {
		t.Errorf("rules %v", ids)
	}
}
