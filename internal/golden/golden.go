// Package golden compares the output of tests with the files in the
// module's testdata/golden; `go test -update` rewrites them. Only tests
// import it.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"livy-token-audit/audit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden (and the README's screenshot)")

// Update reports whether the test run rewrites golden files.
func Update() bool { return *update }

// Path is the path of testdata/golden/name in the module, from the
// package directory a test runs in.
func Path(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "golden", name)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("golden: no go.mod above the test's directory")
		}
		dir = parent
	}
}

// Check compares got with the golden file name, or rewrites it with
// -update.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
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
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -run '%s' -update rewrites it):\n%s", filepath.Base(path), t.Name(), Diff(string(want), string(got)))
	}
}

// Diff shows the first lines that differ.
func Diff(want, got string) string {
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

// Snapshot reads and decodes the snapshot at path (a golden one, or one a
// test's run wrote).
func Snapshot(t testing.TB, path string) *audit.Snapshot {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.ReadSnapshot(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}
