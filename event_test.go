package main

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"livy-token-audit/internal/standin/emulator"
	"livy-token-audit/internal/standin/ossemu"
)

// -event serves an event as the function does: the same parsing, scope
// rules and response. The timer and manual fixtures of testdata/events are
// served by the real binary under fc.Start and by the CLI's -event, each
// against a bucket of its own: the responses are the same, byte for byte.
func TestEventFlagMatchesTheFunction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	bin := buildBinary(t)
	role := [3]string{"STS.FcRoleKey03", "fc-role-secret-never-print-5d", "fc-sts-token-never-print-7x"}
	world, err := emulator.LoadWorld(demoWorld)
	if err != nil {
		t.Fatal(err)
	}
	emu := &emulator.Server{World: world, Now: func() time.Time { return demoStart },
		Keys: map[string]emulator.Key{role[0]: {Secret: role[1], SecurityToken: role[2]}, cliAK: {Secret: cliSecret}}}
	api := httptest.NewServer(emu)
	defer api.Close()
	config := func(keys map[string]ossemu.Key) string {
		bucket := httptest.NewServer(&ossemu.Server{Bucket: "audit-snapshots", Region: "cn-hangzhou", Keys: keys})
		t.Cleanup(bucket.Close)
		p := filepath.Join(t.TempDir(), "audit.yaml")
		cfg := fmt.Sprintf("regions: [cn-hangzhou, cn-shanghai]\napi: {endpoint: %q, retries: 1, ratePerSecond: 1000}\nsnapshot:\n  oss: {bucket: audit-snapshots, region: cn-hangzhou, endpoint: %q, prefix: livy/}\n", api.URL, bucket.URL)
		if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fcCfg := config(map[string]ossemu.Key{role[0]: {Secret: role[1], SecurityToken: role[2]}})
	cliCfg := config(map[string]ossemu.Key{cliAK: {Secret: cliSecret}})
	rt, logs := startFunction(t, bin, fcCfg, "")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", cliAK)
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", cliSecret)

	// The examples audit now (the timer's triggerTime is "now", the manual
	// event names no time); served here at the demo world's time, pinned
	// in a copy, so that the function and -event audit the same instant.
	pins := map[string][2]string{"timer.json": {`"triggerTime":"now"`, `"triggerTime":"2026-11-27T09:00:00Z"`},
		"manual.json": {`{"dryRun": true,`, `{"dryRun": true, "now": "2026-11-27T10:00:00Z",`}}
	for _, name := range []string{"timer.json", "manual.json"} {
		example, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "events", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(example, []byte(pins[name][0])) || bytes.Contains(example, []byte("2026")) {
			t.Fatalf("%s names a time: the examples audit now (%s)", name, example)
		}
		event := bytes.Replace(example, []byte(pins[name][0]), []byte(pins[name][1]), 1)
		pinned := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(pinned, event, 0o644); err != nil {
			t.Fatal(err)
		}
		fcRes := rt.invoke(t, string(event), 60*time.Second, 0, role)
		if !fcRes.ok {
			t.Fatalf("%s: the function answered an error: %s\n%s", name, fcRes.body, logs.String())
		}
		var out, errb bytes.Buffer
		code := run(t.Context(), []string{"-event", pinned, "-config", cliCfg}, envOf(nil), &out, &errb)
		if code != exitOK && code != exitPartial {
			t.Fatalf("%s: -event exit %d\n%s", name, code, errb.String())
		}
		if got := strings.TrimSuffix(out.String(), "\n"); got != string(fcRes.body) {
			t.Errorf("%s: -event printed\n%s\nthe function answered\n%s", name, got, fcRes.body)
		}
		if !strings.Contains(errb.String(), `"msg":"audit complete"`) {
			t.Errorf("%s: the logs are not the function's (JSON):\n%s", name, errb.String())
		}
	}

	// A bad event is refused as the function refuses it: exit 2, and the
	// function's error response on stdout, byte for byte.
	badEvent := `{"regions": ["eu-central-1"]}`
	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, []byte(badEvent), 0o644)
	fcBad := rt.invoke(t, badEvent, 60*time.Second, 0, role)
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-event", bad, "-config", cliCfg}, envOf(nil), &out, &errb); code != exitUsage ||
		strings.TrimSuffix(out.String(), "\n") != string(fcBad.body) || fcBad.ok ||
		!strings.Contains(errb.String(), `region "eu-central-1" is not in the configured regions`) {
		t.Errorf("a scope outside the config: exit %d, stdout %q (the function answered %q), stderr:\n%s", code, out.String(), fcBad.body, errb.String())
	}
	if code := run(t.Context(), []string{"-event", bad, "-config", cliCfg, "-region", "cn-hangzhou"}, envOf(nil), &out, &errb); code != exitUsage {
		t.Errorf("-event with a scope flag: exit %d, want %d", code, exitUsage)
	}
}
