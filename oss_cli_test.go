package main

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"livy-token-audit/internal/standin/emulator"
	"livy-token-audit/internal/standin/ossemu"
)

const (
	cliAK     = "LTAI5tCliKey0001"
	cliSecret = "cli-secret-never-print-55ee"
)

// cliWorld starts the EMR emulator (demo world) and the OSS stand-in, both
// accepting one key, and writes a config that points at them.
func cliWorld(t *testing.T, extra string) (cfgPath string, oss *ossemu.Server, emu *emulator.Server) {
	t.Helper()
	world, err := emulator.LoadWorld(demoWorld)
	if err != nil {
		t.Fatal(err)
	}
	emu = &emulator.Server{World: world, Keys: map[string]emulator.Key{cliAK: {Secret: cliSecret}}, Now: func() time.Time { return demoStart }}
	api := httptest.NewServer(emu)
	t.Cleanup(api.Close)
	oss = &ossemu.Server{Bucket: "audit-snapshots", Region: "cn-hangzhou", Keys: map[string]ossemu.Key{cliAK: {Secret: cliSecret}}}
	bucket := httptest.NewServer(oss)
	t.Cleanup(bucket.Close)
	cfg := fmt.Sprintf(`regions: [cn-hangzhou, cn-shanghai]
api: {endpoint: %q, retries: 1, ratePerSecond: 1000}
snapshot:
  oss: {bucket: audit-snapshots, region: cn-hangzhou, endpoint: %q, prefix: livy-audit, serverSideEncryption: AES256}
%s`, api.URL, bucket.URL, extra)
	cfgPath = filepath.Join(t.TempDir(), "audit.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", cliAK)
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", cliSecret)
	return cfgPath, oss, emu
}

func TestCLIWritesToOSS(t *testing.T) {
	cfg, oss, _ := cliWorld(t, "")
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"-config", cfg, "-now", "2026-11-27T09:00:00Z"}, envOf(map[string]string{"AUDIT_CONFIG": ""}), &out, &errb)
	if code != exitPartial {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitPartial, errb.String())
	}
	objs := oss.Objects()
	dated, ok := objs["livy-audit/2026/11/27/20261127T090000Z.json"]
	if !ok || dated.ContentType != "application/json" || dated.SSE != "AES256" {
		t.Fatalf("objects %v: want the dated snapshot, JSON, AES256", keys(objs))
	}
	if latest := objs["livy-audit/latest.json"]; !bytes.Equal(latest.Data, dated.Data) {
		t.Error("latest.json is not the dated snapshot")
	}
	// latest.json and latest.html are server-side copies (CopyObject) of
	// their dated twins, not a second upload of the same bytes.
	var puts []string
	for _, r := range oss.Requests() {
		switch {
		case r.Method == "PUT" && r.CopySource != "" && r.Bytes == 0:
			puts = append(puts, "copy "+r.CopySource+" "+r.Key)
		case r.Method == "PUT":
			puts = append(puts, "put "+r.Key)
		}
	}
	dk, pk := "livy-audit/2026/11/27/20261127T090000Z.json", "livy-audit/2026/11/27/20261127T090000Z.html"
	want := []string{"put " + dk, "put " + pk, "copy " + dk + " livy-audit/latest.json", "put livy-audit/baseline.json", "put livy-audit/history.json",
		"copy " + pk + " livy-audit/latest.html"}
	if !slices.Equal(puts, want) {
		t.Errorf("puts %v, want %v: the dated snapshot and its page, then latest (a copy), then the baseline and history, then latest.html (a copy)", puts, want)
	}
	if latest := objs["livy-audit/latest.html"]; !bytes.Equal(latest.Data, objs[pk].Data) || latest.ContentType != "text/html; charset=utf-8" || latest.SSE != "AES256" {
		t.Errorf("latest.html is not the page's copy (%s, %s)", latest.ContentType, latest.SSE)
	}
	if page := objs["livy-audit/2026/11/27/20261127T090000Z.html"]; page.ContentType != "text/html; charset=utf-8" || page.SSE != "AES256" ||
		!bytes.HasPrefix(page.Data, []byte("<!doctype html>")) {
		t.Errorf("the page is %q (%s), want HTML, encrypted", page.ContentType, page.SSE)
	}
	if !strings.Contains(out.String(), "Snapshot: https://oss.console.aliyun.com/bucket/oss-cn-hangzhou/audit-snapshots/object?path=livy-audit%2F2026%2F11%2F27%2F20261127T090000Z.json") {
		t.Errorf("stdout does not link the object:\n%s", out.String())
	}
	for _, b := range [][]byte{out.Bytes(), errb.Bytes(), dated.Data} {
		if bytes.Contains(b, []byte(cliSecret)) || bytes.Contains(b, []byte("lvt-SECRET")) {
			t.Error("a secret leaked")
		}
	}

	// The next day the dated put is refused: latest.json keeps the last good
	// snapshot and the CLI exits 1 with a message that says what to do.
	oss.DenyPrefix = "livy-audit/2026/"
	out.Reset()
	errb.Reset()
	code = run(t.Context(), []string{"-config", cfg, "-now", "2026-11-28T09:00:00Z"}, noEnv, &out, &errb)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	if !strings.Contains(errb.String(), "AccessDenied") || !strings.Contains(errb.String(), "need oss:PutObject on acs:oss:*:*:audit-snapshots/livy-audit/*") {
		t.Errorf("stderr does not explain the denial:\n%s", errb.String())
	}
	if latest := oss.Objects()["livy-audit/latest.json"]; !bytes.Equal(latest.Data, dated.Data) {
		t.Error("latest.json moved although the dated snapshot failed")
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestBadConfigMakesNoCall(t *testing.T) {
	cfg, oss, emu := cliWorld(t, "rules: {staleAfter: 30 days}\n")
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-config", cfg}, noEnv, &out, &errb); code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	if !strings.Contains(errb.String(), `audit.yaml:5: rules.staleAfter: "30 days" is not a duration`) {
		t.Errorf("stderr does not name the key and line:\n%s", errb.String())
	}
	if n, m := len(emu.Requests()), len(oss.Requests()); n+m != 0 {
		t.Errorf("%d API and %d OSS requests were made; want none", n, m)
	}
}
