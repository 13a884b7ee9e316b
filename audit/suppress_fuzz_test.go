package audit

import (
	"path"
	"slices"
	"testing"
)

// The index never leaves out a suppression that matches: for any valid
// name glob and any name, a suppression that Matches the token is among
// its candidates (the index only narrows what Matches is asked).
func FuzzSuppressionIndex(f *testing.F) {
	for _, c := range [][2]string{{"ci-*", "ci-nightly"}, {"*a*b", "aaab"}, {"a?c", "abc"}, {"[a-c]x", "bx"}, {"[^a]x", "ax"},
		{`\*`, "*"}, {"*/x", "a/x"}, {"a*", "a/b"}, {"?", "/"}, {"[/]", "/"}, {"*", "x"}, {"日*", "日本"}, {"[]a]", "]"},
		{"*a*a*a*b", "aaaaaaaaaaaaaaaaaaab"}, {"*-nightly", "etl-nightly"}, {"*[]]x*", "]x"}, {`*\]x`, "]x"}, {"*ab[c]de*", "zabcdez"},
		{"[^]]ab*", "xab"}, {`*[\]]y*`, "]y"}, {"x]y*", "x]yz"}, {"*x]y", "ax]y"}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if _, err := path.Match(pattern, ""); err != nil || name == "" {
			return
		}
		tok := Token{ID: "tk-1", Name: name}
		s := Suppression{Name: pattern}
		x := newSuppressionIndex([]Suppression{s})
		cands := x.candidates(gwA, tok, nil)
		if s.Matches(gwA, tok, RuleStale) && !slices.Contains(cands, 0) {
			t.Fatalf("Suppression{Name: %q} matches %q, but the index leaves it out", pattern, name)
		}
	})
}
