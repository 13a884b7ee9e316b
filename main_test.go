package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func TestMain(m *testing.M) {
	// Tests must never probe a cloud metadata endpoint for credentials.
	os.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
	os.Exit(m.Run())
}

func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(repoRoot, "testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -run %s -update rewrites it):\n%s", name, t.Name(), lineDiff(string(want), string(got)))
	}
}

// lineDiff shows the first lines that differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 12; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl + "\n")
			shown++
		}
	}
	return b.String()
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
	if code != exitPartial {
		t.Fatalf("exit %d, want %d (one gateway fails in the demo world); stderr:\n%s", code, exitPartial, errb.String())
	}
	snap, err := os.ReadFile(filepath.Join(dir, "demo-out", "2026", "11", "27", "20261127T090000Z.json"))
	if err != nil {
		t.Fatal(err)
	}
	latest, err := os.ReadFile(filepath.Join(dir, "demo-out", "latest.json"))
	if err != nil || !bytes.Equal(snap, latest) {
		t.Errorf("latest.json differs from the dated snapshot (err %v)", err)
	}
	golden(t, "demo-snapshot.json", snap)
	golden(t, "demo-stdout.txt", out.Bytes())
	assertNoSecrets(t, dir, out.Bytes(), errb.Bytes())

	// The second run audits a day later and reports what changed.
	out.Reset()
	errb.Reset()
	code = run(t.Context(), []string{"-demo"}, noEnv, &out, &errb)
	if code != exitPartial {
		t.Fatalf("second run: exit %d, want %d; stderr:\n%s", code, exitPartial, errb.String())
	}
	snap2, err := os.ReadFile(filepath.Join(dir, "demo-out", "2026", "11", "28", "20261128T090000Z.json"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "demo-snapshot-day2.json", snap2)
	golden(t, "demo-stdout-day2.txt", out.Bytes())
	assertNoSecrets(t, dir, out.Bytes(), errb.Bytes())
}

func TestDemoDryRunWritesNothing(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-demo", "-dry-run"}, noEnv, &out, &errb); code != exitPartial {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitPartial, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "demo-out")); !os.IsNotExist(err) {
		t.Errorf("dry run wrote demo-out (stat: %v)", err)
	}
	if !strings.Contains(out.String(), "Dry run: nothing written. Would write demo-out/2026/11/27/20261127T090000Z.json and latest.json") ||
		!strings.Contains(out.String(), `"schemaVersion": 1`) {
		t.Errorf("stdout does not show what would be written:\n%s", out.String())
	}
	assertNoSecrets(t, "", out.Bytes(), errb.Bytes())
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
