package audit

import (
	"path"
	"strings"
	"testing"
)

// Glob agrees with path.Match on whatever path.Match accepts.
func FuzzGlob(f *testing.F) {
	for _, c := range [][2]string{{"ci-*", "ci-nightly"}, {"*a*b", "aaab"}, {"a?c", "abc"}, {"[a-c]x", "bx"}, {"[^a]x", "ax"},
		{`\*`, "*"}, {"*/x", "a/x"}, {"a*", "a/b"}, {"?", "/"}, {"[/]", "/"}, {"*", ""}, {"日*", "日本"}, {"[]a]", "]"}, {"*a*a*a*b", "aaaaaaaaaaaaaaaaaaab"}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		want, err := path.Match(pattern, name)
		if err != nil {
			if Glob(pattern, name) {
				t.Fatalf("Glob(%q, %q) matched a pattern path.Match refuses", pattern, name)
			}
			return
		}
		if got := Glob(pattern, name); got != want {
			t.Fatalf("Glob(%q, %q) = %v, path.Match says %v", pattern, name, got, want)
		}
	})
}

// BenchmarkGlobPathological matches a pattern that takes path.Match
// exponential time (README, limits: suppressions).
func BenchmarkGlobPathological(b *testing.B) {
	pattern := strings.Repeat("*a", 30) + "*b"
	name := strings.Repeat("a", 200)
	for b.Loop() {
		if Glob(pattern, name) {
			b.Fatal("matched")
		}
	}
}
