package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "livy-token-audit"

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

// layoutRows reads docs/development.md's layout table: for each package
// (relative to the module; "" for main), what it may import ("*":
// everything), relative to the module when it is ours.
func layoutRows(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "development.md"))
	if err != nil {
		t.Fatal(err)
	}
	layout, _, _ := strings.Cut(string(b)[strings.Index(string(b), "## Layout"):], "\nRecipes")
	ticked := regexp.MustCompile("`([^`]+)`")
	rows := map[string][]string{}
	for _, line := range strings.Split(layout, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		var may []string
		if strings.TrimSpace(cells[3]) == "everything" {
			may = []string{"*"}
		}
		for _, m := range ticked.FindAllStringSubmatch(cells[3], -1) {
			may = append(may, m[1])
		}
		pkgs := ticked.FindAllStringSubmatch(cells[1], -1)
		for _, m := range pkgs {
			if m[1] == "main" {
				rows[""] = may
				break // the rest of the cell lists main's files
			}
			rows[m[1]] = may
		}
	}
	if len(rows) < 20 {
		t.Fatalf("read %d rows of docs/development.md's layout table: the table or its reading is broken", len(rows))
	}
	return rows
}

// The layout (docs/development.md, "Layout"): each package imports only
// what its row says, and every package has a row; and, over everything each
// package needs, the domain stands on the standard library alone, nothing
// under audit/ needs notify, no store needs the run, nothing under notify/
// needs YAML, the fleet's libraries, the fleet or the run.
func TestLayout(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	rows := layoutRows(t)
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		may, ok := rows[pkg]
		if !ok {
			t.Errorf("%s has no row in docs/development.md's layout table", fields[0])
			continue
		}
		if slices.Contains(may, "*") {
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.Contains(strings.Split(imp, "/")[0], ".") && !strings.HasPrefix(imp, module+"/") {
				continue // the standard library
			}
			ours := strings.TrimPrefix(imp, module+"/")
			allowed := slices.ContainsFunc(may, func(m string) bool {
				if imp != ours { // one of our packages: named exactly
					return m == ours
				}
				return imp == m || strings.HasPrefix(imp, m+"/")
			})
			if !allowed {
				t.Errorf("%s imports %s, which its row in docs/development.md does not allow (%s)", fields[0], imp, strings.Join(may, ", "))
			}
		}
	}

	if got := deps(t, "./audit"); !slices.Equal(got, []string{module + "/audit"}) {
		t.Errorf("audit needs %v; it may need the standard library alone", got)
	}
	for _, tc := range []struct {
		pkgs      string
		forbidden []string
	}{
		{"./audit/...", []string{module + "/notify"}},
		{"./audit/localstore", []string{module + "/audit/run"}},
		{"./audit/ossstore", []string{module + "/audit/run"}},
		{"./notify/...", []string{"go.yaml.in/yaml", "golang.org/x/sync", "golang.org/x/time", module + "/audit/config", module + "/audit/fleet", module + "/audit/run"}},
	} {
		list, err := exec.Command("go", "list", tc.pkgs).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, pkg := range strings.Fields(string(list)) {
			for _, d := range deps(t, pkg) {
				for _, f := range tc.forbidden {
					if d == f || strings.HasPrefix(d, f+"/") {
						t.Errorf("%s needs %s", pkg, d)
					}
				}
			}
		}
	}
}
