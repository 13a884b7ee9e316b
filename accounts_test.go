package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/audit/preflight"
	"livy-token-audit/internal/standin/emulator"
)

// accountWorld is a small world of one account: one gateway with one stale
// token.
func accountWorld(ws, gw, tok string) *emulator.World {
	return &emulator.World{Regions: map[string]*emulator.Region{"cn-hangzhou": {Workspaces: []*emulator.Workspace{
		{ID: ws, Name: ws + "-name", Gateways: []*emulator.Gateway{{ID: gw, Name: gw + "-name", Status: "Running", Tokens: []*emulator.Token{
			{TokenID: tok, Name: "job-" + tok, Token: "lvt-SECRET-" + tok, CreatedBy: "ops",
				CreateTime: emulator.At(demoStart.Add(-100 * 24 * time.Hour)), LastUsedTime: emulator.At(demoStart.Add(-60 * 24 * time.Hour))},
		}}}},
	}}}}
}

// serveSTS serves the STS stand-in over HTTPS with a test CA, until the
// test ends: it returns its host and the CA's file, which the binary
// trusts through SSL_CERT_FILE (credentials-go speaks HTTPS only).
func serveSTS(t *testing.T, sts *emulator.STS) (host, caFile string) {
	t.Helper()
	srv := httptest.NewTLSServer(sts)
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(srv.URL, "https://"), caFile
}

// TestMultiAccountRun audits the run's own account and two accounts reached
// by assuming their roles in one CLI run of the real binary; a third
// account's role is denied, reported, and does not stop the others. The
// STS stand-in speaks HTTPS with a test CA, which the binary trusts through
// SSL_CERT_FILE, and verifies the RPC signature of every AssumeRole; the
// EMR stand-in serves each account its own world and only to its own keys.
func TestMultiAccountRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	own, err := emulator.LoadWorld(demoWorld)
	if err != nil {
		t.Fatal(err)
	}
	// The analytics and risk accounts' tokens share one secret value.
	risk := accountWorld("w-risk", "lc-risk", "tk-r1")
	risk.Regions["cn-hangzhou"].Workspaces[0].Gateways[0].Tokens[0].Token = "lvt-SECRET-tk-a1"
	emu := &emulator.Server{World: own, Keys: map[string]emulator.Key{cliAK: {Secret: cliSecret}},
		Worlds: map[string]*emulator.World{
			"1111111111111111": accountWorld("w-analytics", "lc-analytics", "tk-a1"),
			"2222222222222222": risk,
		},
		Now: func() time.Time { return demoStart }}
	api := httptest.NewServer(emu)
	defer api.Close()
	sts := &emulator.STS{
		Keys: map[string]emulator.Key{cliAK: {Secret: cliSecret}},
		Roles: map[string]emulator.Role{
			"acs:ram::1111111111111111:role/livy-token-audit-reader": {Account: "1111111111111111"},
			"acs:ram::2222222222222222:role/livy-token-audit-reader": {Account: "2222222222222222", ExternalID: "ext-risk"},
			"acs:ram::3333333333333333:role/livy-token-audit-reader": {Account: "3333333333333333", Deny: true},
		},
		API: emu,
	}
	stsHost, caFile := serveSTS(t, sts)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`regions: [cn-hangzhou, cn-shanghai]
accounts:
  - {name: analytics, roleArn: "acs:ram::1111111111111111:role/livy-token-audit-reader", regions: [cn-hangzhou]}
  - {name: risk, roleArn: "acs:ram::2222222222222222:role/livy-token-audit-reader", externalId: ext-risk, regions: [cn-hangzhou]}
  - {name: legacy, roleArn: "acs:ram::3333333333333333:role/livy-token-audit-reader", regions: [cn-hangzhou]}
suppressions:
  - {account: risk, name: "job-*", rules: [stale], reason: "risk jobs run quarterly"}
api: {endpoint: %q, stsEndpoint: %q, retries: 1, ratePerSecond: 1000}
snapshot: {dir: %q}
`, api.URL, stsHost, filepath.Join(dir, "out"))
	cfgPath := filepath.Join(dir, "audit.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", cfgPath, "-now", day1)
	cmd.Env = []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=" + cliAK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + cliSecret,
		"ALIBABA_CLOUD_ECS_METADATA_DISABLED=true", "HOME=" + dir, "SSL_CERT_FILE=" + caFile}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != exitPartial {
		t.Fatalf("exit %d, want %d (the legacy account's role is denied)\n%s%s", code, exitPartial, out.String(), errb.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "out", day1Key))
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.ReadSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	byAccount := map[string]int{}
	for _, g := range s.Gateways {
		byAccount[g.AccountName]++
		if g.AccountName == "analytics" {
			f := g.Tokens[0].Findings
			if !slices.ContainsFunc(f, func(f audit.Finding) bool {
				return f.Rule == audit.RuleReused && strings.Contains(f.Message, "job-tk-r1 (tk-r1) on risk / cn-hangzhou / w-risk-name / lc-risk-name")
			}) {
				t.Errorf("analytics' token shares its secret with risk's across accounts: got %+v", f)
			}
		}
		if g.AccountName == "risk" && (g.AccountID != "2222222222222222" || len(g.Tokens) != 1 || len(g.Tokens[0].Suppressed) != 1) {
			t.Errorf("risk's gateway: got %+v, want account 2222222222222222 and its stale finding suppressed by account", g)
		}
	}
	if byAccount["analytics"] != 1 || byAccount["risk"] != 1 || byAccount[""] != 6 || byAccount["legacy"] != 0 {
		t.Errorf("gateways by account: got %v, want 6 own (5 Livy, 1 Kyuubi), 1 analytics, 1 risk", byAccount)
	}
	var denied *audit.ScopeError
	for i, e := range s.Errors {
		if e.AccountName == "legacy" {
			denied = &s.Errors[i]
		}
	}
	if denied == nil || denied.Code != "AssumeRoleFailed" || denied.AccountID != "3333333333333333" ||
		!strings.Contains(denied.Message, "acs:ram::3333333333333333:role/livy-token-audit-reader") || !strings.Contains(denied.Message, "NoPermission") {
		t.Errorf("legacy: got %+v, want AssumeRoleFailed naming the account and role", denied)
	}
	if !strings.Contains(out.String(), "7/8 gateways (7 Livy, 1 Kyuubi) in 4 accounts, 2 regions") || !strings.Contains(out.String(), "account legacy (every region: its role could not be assumed)") {
		t.Errorf("stdout does not count the accounts or name the denied one:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "analytics / lc-analytics-name") {
		t.Errorf("stdout does not group findings by account:\n%s", out.String())
	}
	reqs := sts.Requests()
	if len(reqs) != 3 {
		t.Errorf("got %d AssumeRole requests, want 3 (one per account)", len(reqs))
	}
	for _, r := range reqs {
		if r.SessionName != "livy-token-audit" || r.AccessKeyID != cliAK {
			t.Errorf("AssumeRole: got %+v, want session livy-token-audit by the run's own key", r)
		}
	}
	for _, r := range emu.Requests() {
		if r.Status == 200 && r.Account == "" && r.AccessKeyID != cliAK {
			t.Errorf("the own world was read with %s", r.AccessKeyID)
		}
	}
	// Nothing secret left the process: not the source key's secret, nor the
	// issued STS secrets and tokens, nor a token value.
	for _, o := range [][]byte{out.Bytes(), errb.Bytes(), b} {
		for _, secret := range []string{cliSecret, "sts-secret-", "sts-token-", "lvt-SECRET"} {
			if bytes.Contains(o, []byte(secret)) {
				t.Errorf("%q left the process", secret)
			}
		}
	}
}

// TestPreflightAssumesRoles runs the real binary's preflight against the
// STS stand-in (HTTPS, its CA trusted through SSL_CERT_FILE): one
// account's role is assumed and its calls, under deploy/ram-reader-policy.json
// as the role's allowed actions, pass; another's role is denied, its rows
// say so and name sts:AssumeRole; every row is listed; exit 1.
func TestPreflightAssumesRoles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	reader := policyActions(t, "ram-reader-policy.json", "emr-serverless-spark:")
	emu := &emulator.Server{Worlds: map[string]*emulator.World{"1111111111111111": accountWorld("w-analytics", "lc-analytics", "tk-a1")},
		Keys: map[string]emulator.Key{cliAK: {Secret: cliSecret}}, Now: func() time.Time { return demoStart }}
	api := httptest.NewServer(emu)
	defer api.Close()
	sts := &emulator.STS{
		Keys: map[string]emulator.Key{cliAK: {Secret: cliSecret}},
		Roles: map[string]emulator.Role{
			"acs:ram::1111111111111111:role/livy-token-audit-reader": {Account: "1111111111111111", Actions: reader},
			"acs:ram::3333333333333333:role/livy-token-audit-reader": {Account: "3333333333333333", Deny: true},
		},
		API: emu,
	}
	stsHost, caFile := serveSTS(t, sts)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`accounts:
  - {name: analytics, roleArn: "acs:ram::1111111111111111:role/livy-token-audit-reader", regions: [cn-hangzhou]}
  - {name: legacy, roleArn: "acs:ram::3333333333333333:role/livy-token-audit-reader", regions: [cn-hangzhou]}
api: {endpoint: %q, stsEndpoint: %q, retries: 1, ratePerSecond: 1000}
snapshot: {dir: %q}
`, api.URL, stsHost, filepath.Join(dir, "out"))
	cfgPath := filepath.Join(dir, "audit.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", cfgPath, "-preflight", "-format", "json")
	cmd.Env = []string{"ALIBABA_CLOUD_ACCESS_KEY_ID=" + cliAK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + cliSecret,
		"ALIBABA_CLOUD_ECS_METADATA_DISABLED=true", "HOME=" + dir, "SSL_CERT_FILE=" + caFile}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != exitFailed {
		t.Fatalf("exit %d, want 1 (the legacy account's role is denied)\n%s%s", code, out.String(), errb.String())
	}
	var doc struct{ Rows []preflight.Row }
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]preflight.Result{}
	for _, r := range doc.Rows {
		got[r.Check+" @ "+r.Scope] = r.Result
		if r.Scope == "legacy" && !strings.Contains(r.Do, "sts:AssumeRole on acs:ram::3333333333333333:role/livy-token-audit-reader") {
			t.Errorf("legacy's role row says %q, want the action and the role", r.Do)
		}
	}
	for check, want := range map[string]preflight.Result{
		"assume role @ analytics": preflight.OK, "assume role @ legacy": preflight.MissingPermission,
		"emr ListWorkspaces @ analytics / cn-hangzhou": preflight.OK, "emr ListLivyCompute @ analytics / cn-hangzhou": preflight.OK,
		"emr GetLivyCompute @ analytics / cn-hangzhou": preflight.OK, "emr ListLivyComputeToken @ analytics / cn-hangzhou": preflight.OK,
		"emr ListWorkspaces @ legacy / cn-hangzhou": preflight.Refused, "emr ListLivyComputeToken @ legacy / cn-hangzhou": preflight.Refused,
		"store create @ " + filepath.Join(dir, "out"): preflight.OK,
	} {
		if got[check] != want {
			t.Errorf("%s: %q, want %q", check, got[check], want)
		}
	}
	for _, s := range []string{cliSecret, "sts-secret-", "sts-token-"} {
		if strings.Contains(out.String()+errb.String(), s) {
			t.Errorf("%q left the process", s)
		}
	}
}
