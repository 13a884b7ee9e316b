package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every relative link of the README and docs/ leads somewhere: its file
// exists, and its #anchor is a heading of that file (as GitHub makes them).
func TestDocLinks(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	files = append(files, filepath.Join(repoRoot, "README.md"), filepath.Join(repoRoot, "BENCHMARKS.md"))
	heading := regexp.MustCompile(`(?m)^#+ (.*)$`)
	slug := func(h string) string {
		h = strings.ToLower(strings.TrimSpace(h))
		h = regexp.MustCompile("[`*_]").ReplaceAllString(h, "")
		h = regexp.MustCompile(`[^\w\- ]`).ReplaceAllString(h, "")
		return strings.ReplaceAll(h, " ", "-")
	}
	anchors := map[string]map[string]bool{}
	read := func(f string) string {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if anchors[f] == nil {
			anchors[f] = map[string]bool{}
			for _, m := range heading.FindAllStringSubmatch(string(b), -1) {
				anchors[f][slug(m[1])] = true
			}
		}
		return string(b)
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	checked := 0
	for _, f := range files {
		for _, m := range link.FindAllStringSubmatch(read(f), -1) {
			l := m[1]
			if strings.Contains(l, "://") || strings.HasPrefix(l, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(l, "#")
			target := f
			if path != "" {
				target = filepath.Join(filepath.Dir(f), path)
			}
			checked++
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s: link %s: no %s", filepath.Base(f), l, target)
				continue
			}
			if anchor != "" && strings.HasSuffix(target, ".md") {
				read(target)
				if !anchors[target][anchor] {
					t.Errorf("%s: link %s: no heading #%s in %s", filepath.Base(f), l, anchor, filepath.Base(target))
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d links checked: the check is broken", checked)
	}
}

// Every test the fault matrix and the threat model name exists: the docs
// say which test proves each claim, so a renamed or deleted test must not
// leave a claim unproved.
func TestDocsNameRealTests(t *testing.T) {
	defined := map[string]bool{}
	def := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)\w+)\(`)
	err := filepath.WalkDir(repoRoot, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		for _, m := range def.FindAllSubmatch(b, -1) {
			defined[string(m[1])] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile("`((?:Test|Fuzz)[A-Za-z0-9]+)")
	for _, doc := range []string{"faults.md", "actions.md"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, "docs", doc))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range named.FindAllStringSubmatch(string(b), -1) {
			n++
			if !defined[m[1]] {
				t.Errorf("docs/%s names %s, which no test file defines", doc, m[1])
			}
		}
		if n < 5 {
			t.Errorf("docs/%s names %d tests; the check found nothing to check", doc, n)
		}
	}
}
