package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"livy-token-audit/audit"
	goldenfile "livy-token-audit/internal/golden"
	"livy-token-audit/internal/retry"
)

func TestMain(m *testing.M) {
	// Tests must never probe a cloud metadata endpoint for credentials.
	os.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
	// The tests audit days of their own: the clock is past them all.
	wallClock = func() time.Time { return time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC) }
	// Retries wait a hundredth of their backoff: the tests check what is
	// retried and how often (the fault matrix and the demo retry for
	// seconds otherwise).
	retrySleep = func(ctx context.Context, d time.Duration) error { return retry.SleepContext(ctx, d/100) }
	// The golden files hold this version, however the test binary was built.
	readBuildInfo = func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Path: "livy-token-audit", Version: "v0.0.0-test"}}, true
	}
	// Most of this package's parallel tests wait (on a deadline, a lease,
	// a slow stand-in) rather than compute: run more of them at once than
	// the machine has cores, unless -parallel says otherwise.
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(max(8, runtime.GOMAXPROCS(0))))
	}
	os.Exit(m.Run())
}

func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// golden compares got with testdata/golden/name, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join(repoRoot, "testdata", "golden", name), got)
}

var repoRoot, _ = os.Getwd()

// secrets are the values that must never leave the process.
var secrets = []string{"lvt-SECRET", demoAccessKeySecret}

// assertNoSecrets fails if any secret appears in any of the outputs or in any
// file under dir.
func assertNoSecrets(t *testing.T, dir string, outputs ...[]byte) {
	t.Helper()
	for _, out := range outputs {
		for _, s := range secrets {
			if bytes.Contains(out, []byte(s)) {
				t.Errorf("output contains the secret %q", s)
			}
		}
	}
	if dir == "" {
		return
	}
	files := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s contains the secret %q", p, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Errorf("no files under %s to check", dir)
	}
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"-demo"}, noEnv, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d, want %d (the demo ran as designed: its failures are staged); stderr:\n%s", code, exitOK, errb.String())
	}
	snap, err := os.ReadFile(filepath.Join(dir, "demo-out", "2026", "11", "27", "20261127T090000Z.json"))
	if err != nil {
		t.Fatal(err)
	}
	latest, err := os.ReadFile(filepath.Join(dir, "demo-out", "latest.json"))
	if err != nil || !bytes.Equal(snap, latest) {
		t.Errorf("latest.json differs from the dated snapshot (err %v)", err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "demo-out", "2026", "11", "27", "20261127T090000Z.html"))
	if err != nil {
		t.Fatal(err)
	}
	latestPage, err := os.ReadFile(filepath.Join(dir, "demo-out", "latest.html"))
	if err != nil || !bytes.Equal(page, latestPage) || !bytes.HasPrefix(page, []byte("<!doctype html>")) {
		t.Errorf("latest.html is not the dated page (err %v)", err)
	}
	if !strings.Contains(out.String(), "\nReport: demo-out/2026/11/27/20261127T090000Z.html\n") {
		t.Errorf("stdout does not say where the report page is:\n%s", out.String())
	}
	if last := lastLine(out.String()); !strings.HasPrefix(last, "Demo: the failures above are staged") {
		t.Errorf("the demo's last line is %q, want the note that its failures are staged", last)
	}
	golden(t, "demo-snapshot.json", snap)
	golden(t, "demo-stdout.txt", out.Bytes())
	assertNoSecrets(t, dir, out.Bytes(), errb.Bytes())

	// The second run audits a day later and reports what changed.
	out.Reset()
	errb.Reset()
	code = run(t.Context(), []string{"-demo"}, noEnv, &out, &errb)
	if code != exitOK {
		t.Fatalf("second run: exit %d, want %d; stderr:\n%s", code, exitOK, errb.String())
	}
	snap2, err := os.ReadFile(filepath.Join(dir, "demo-out", "2026", "11", "28", "20261128T090000Z.json"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "demo-snapshot-day2.json", snap2)
	golden(t, "demo-stdout-day2.txt", out.Bytes())
	assertNoSecrets(t, dir, out.Bytes(), errb.Bytes())

	// history.json holds both full audits, oldest first.
	b, err := os.ReadFile(filepath.Join(dir, "demo-out", "history.json"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := audit.ReadHistory(b)
	if err != nil || len(h.Runs) != 2 || h.Runs[0].RunID != "audit-20261127T090000Z" || h.Runs[1].RunID != "audit-20261128T090000Z" {
		t.Errorf("history.json: %v, %+v; want the two runs in order", err, h)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestDemoDryRunWritesNothing(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-demo", "-dry-run"}, noEnv, &out, &errb); code != exitOK {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitOK, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "demo-out")); !os.IsNotExist(err) {
		t.Errorf("dry run wrote demo-out (stat: %v)", err)
	}
	want := "Dry run: nothing written. Would write demo-out/2026/11/27/20261127T090000Z.json, demo-out/2026/11/27/20261127T090000Z.html, latest.json, baseline.json, history.json, latest.html."
	if !strings.Contains(out.String(), want) {
		t.Errorf("stdout does not show what would be written:\n%s\nwant %s", out.String(), want)
	}
	if strings.Contains(out.String(), `"schemaVersion"`) {
		t.Errorf("a text dry run printed JSON:\n%s", out.String())
	}
	assertNoSecrets(t, "", out.Bytes(), errb.Bytes())

	// With a format, stdout is that format alone.
	out.Reset()
	errb.Reset()
	if code := run(t.Context(), []string{"-demo", "-dry-run", "-format", "json"}, noEnv, &out, &errb); code != exitOK {
		t.Fatalf("-format json: exit %d; stderr:\n%s", code, errb.String())
	}
	if s, err := audit.ReadSnapshot(out.Bytes()); err != nil || s.Trigger.DryRun != true {
		t.Errorf("-dry-run -format json: stdout is not the snapshot (%v):\n%.300s", err, out.String())
	}
	if !strings.Contains(errb.String(), "Dry run: nothing written.") {
		t.Errorf("the dry-run summary is not on stderr:\n%s", errb.String())
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no config", nil, nil, "no config: pass -config FILE or set AUDIT_CONFIG"},
		{"bad flag", []string{"-bogus"}, nil, "flag provided but not defined: -bogus"},
		{"bad now", []string{"-demo", "-now", "yesterday"}, nil, `-now "yesterday" is not an RFC 3339 time`},
		{"stray argument", []string{"-demo", "extra"}, nil, `unexpected argument "extra"`},
		{"bad config from the environment", nil, map[string]string{"AUDIT_CONFIG": filepath.Join(repoRoot, "testdata/config/unknown-key.yaml")}, "rules.staleAftr: unknown key"},
		{"missing config file", []string{"-config", "/nonexistent/audit.yaml"}, nil, "read config: open /nonexistent/audit.yaml"},
		{"bad format", []string{"-demo", "-format", "xml"}, nil, `-format "xml": want one of text, json, csv, ndjson, slack`},
		{"slack-json with another format", []string{"-demo", "-slack-json", "-format", "csv"}, nil, "-slack-json is -format slack; it cannot go with -format csv"},
		{"now ahead of the clock", []string{"-config", "x.yaml", "-now", "2099-01-01T00:00:00Z"}, nil, "-now 2099-01-01T00:00:00Z is ahead of the clock (2026-12-31T00:00:00Z)"},
		{"bad gateway", []string{"-demo", "-gateway", "cn-hangzhou/lc-hz-etl"}, nil, `-gateway "cn-hangzhou/lc-hz-etl": want REGION/WORKSPACE/GATEWAY`},
		{"region outside the scope", []string{"-demo", "-region", "eu-central-1"}, nil, `scope: region "eu-central-1" is not in the configured regions [cn-hangzhou cn-shanghai]`},
		{"workspace outside the scope", []string{"-demo", "-gateway", "cn-beijing/w-1/lc-1"}, nil, "scope: gateways[0] cn-beijing/w-1/lc-1 is outside the configured scope"},
		{"unknown account", []string{"-demo", "-account", "analytics"}, nil, `scope: account "analytics" is not a configured account (configured: self)`},
		{"now before 2000", []string{"-demo", "-now", "0001-01-01T00:00:00Z"}, nil, "-now 0001-01-01T00:00:00Z is before 2000"},
		{"an empty workspace", []string{"-demo", "-workspace", ""}, nil, `invalid value "" for flag -workspace: an empty value`},
		{"a workspace with path characters", []string{"-demo", "-workspace", ".."}, nil, `scope: workspace ".." is not a name`},
		{"a gateway with path characters", []string{"-demo", "-gateway", "cn-hangzhou/w-1/lc%2F.."}, nil, `scope: gateways[0] gateway "lc%2F.." has a character that no name has`},
		{"a workspace found nowhere", []string{"-demo", "-workspace", "finanse"}, nil, `scope: workspace "finanse" was found nowhere in the configured scope`},
		{"-demo with -config", []string{"-demo", "-config", "x.yaml"}, nil, "-demo audits the embedded emulator with its own config (testdata/demo/audit.yaml): -config cannot go with it"},
		{"-demo -now ahead of the clock", []string{"-demo", "-now", "2099-01-01T00:00:00Z"}, nil, "-now 2099-01-01T00:00:00Z is ahead of the clock"},
		{"a scope outside the config, checked before the credentials", []string{"-config", filepath.Join(repoRoot, "testdata/config/valid.yaml"), "-region", "eu-central-1"}, nil,
			`scope: region "eu-central-1" is not in the configured regions`},
		{"no credentials", []string{"-config", filepath.Join(repoRoot, "testdata/config/valid.yaml")}, nil, "no Alibaba Cloud credentials found"},
		{"bad -fail-on", []string{"-demo", "-fail-on", "severe"}, nil, `invalid value "severe" for flag -fail-on`},
		{"bad -log-level", []string{"-demo", "-log-level", "loud"}, nil, `invalid value "loud" for flag -log-level`},
		{"-post without a format", []string{"-demo", "-post"}, nil, "-post goes with -format"},
		{"-post with -dry-run", []string{"-demo", "-format", "json", "-post", "-dry-run"}, nil, "-post and -dry-run contradict each other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(t.Context(), tc.args, envOf(tc.env), &out, &errb); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Errorf("stderr:\n%s\nwant it to contain %q", errb.String(), tc.want)
			}
		})
	}
}

// -fail-on makes the exit status 4 when an active finding is at or above
// its severity (the demo's world has high and critical ones), whatever the
// run's other outcome; below every finding it changes nothing.
func TestFailOn(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		sev  string
		want int
	}{{"high", exitFindings}, {"critical", exitFindings}} {
		var out, errb bytes.Buffer
		code := run(t.Context(), []string{"-demo", "-dry-run", "-fail-on", tc.sev}, noEnv, &out, &errb)
		if code != tc.want || !strings.Contains(out.String(), "-fail-on "+tc.sev+": ") {
			t.Errorf("-fail-on %s: exit %d, want %d\n%s%s", tc.sev, code, tc.want, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-demo", "-dry-run"}, noEnv, &out, &errb); code != exitOK {
		t.Errorf("without -fail-on: exit %d, want 0", code)
	}
}

// -check-config validates the config and the environment and calls
// nothing: a config naming a JSON webhook whose variables are not set is
// a problem it names (exit 2); with them set and credentials, all is well.
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "audit.yaml")
	if err := os.WriteFile(cfg, []byte("regions: [cn-hangzhou]\nsnapshot: {dir: out}\nwebhooks:\n  - {name: tickets, urlEnv: TICKETS_URL, secretEnv: TICKETS_SECRET}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-config", cfg, "-check-config"}, noEnv, &out, &errb); code != exitUsage ||
		!strings.Contains(out.String(), "PROBLEM: webhook tickets needs TICKETS_URL") || !strings.Contains(out.String(), "no Alibaba Cloud credentials") {
		t.Errorf("exit %d, want 2 naming the variables and the credentials\n%s%s", code, out.String(), errb.String())
	}
	env := map[string]string{"TICKETS_URL": "https://tickets.example.com/hook", "TICKETS_SECRET": "s3cret-s3cret",
		"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI5tCheckOnly01", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "check-secret-never-print"}
	out.Reset()
	if code := run(t.Context(), []string{"-config", cfg, "-check-config"}, envOf(env), &out, &errb); code != exitOK || !strings.Contains(out.String(), "Nothing was called") {
		t.Errorf("exit %d, want 0\n%s%s", code, out.String(), errb.String())
	}
	if strings.Contains(out.String()+errb.String(), "check-secret-never-print") || strings.Contains(out.String(), "s3cret-s3cret") {
		t.Error("a secret was printed")
	}
}

// The demo's small traps: its staged failures are logged as staged, not as
// errors; a dry run says what it would write, never "Snapshot: <path>"; a
// narrowing that selects the whole configured scope is a full run.
func TestDemoTraps(t *testing.T) {
	t.Chdir(t.TempDir())
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-demo", "-dry-run"}, noEnv, &out, &errb); code != exitOK {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	if strings.Contains(errb.String(), "level=ERROR") || !strings.Contains(errb.String(), `msg="staged by the demo: listing failed"`) {
		t.Errorf("the staged failures are logged as errors:\n%s", errb.String())
	}
	if !strings.Contains(out.String(), "Snapshot: not written (dry run; it would be demo-out/2026/11/27/20261127T090000Z.json)") {
		t.Errorf("the dry run's summary:\n%s", out.String())
	}
	out.Reset()
	if code := run(t.Context(), []string{"-demo", "-region", "cn-shanghai", "-region", "cn-hangzhou"}, noEnv, &out, &errb); code != exitOK {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	if strings.Contains(out.String(), "ad-hoc") || !strings.Contains(out.String(), "(latest.json updated)") {
		t.Errorf("every configured region is the whole scope, a full run:\n%s", out.String())
	}
}
