package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// deps lists the packages that pkg needs to build (tests left out), but
// the standard library.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// The layout's rules (README, "Layout"): the domain stands on the standard
// library alone; no package under notify/ needs YAML, the fleet's
// concurrency libraries, the fleet or the run.
func TestLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	if got := deps(t, "./audit"); !slices.Equal(got, []string{"livy-token-audit/audit"}) {
		t.Errorf("audit needs %v; it may need the standard library alone", got)
	}
	forbidden := []string{"go.yaml.in/yaml", "golang.org/x/sync", "golang.org/x/time",
		"livy-token-audit/audit/config", "livy-token-audit/audit/fleet", "livy-token-audit/audit/run"}
	out, err := exec.Command("go", "list", "./notify/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, d := range deps(t, pkg) {
			for _, f := range forbidden {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s needs %s", pkg, d)
				}
			}
		}
	}
}
