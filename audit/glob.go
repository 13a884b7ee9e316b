package audit

import (
	"path"
	"unicode/utf8"
)

// Glob reports whether name matches pattern, as path.Match does ('*' any
// run of characters but '/', '?' one character but '/', '[…]' a class,
// '\\' escapes), but in time linear in the pattern for each character of
// the name: path.Match backtracks over every star, and a pattern like
// "*a*a*a*a*a*a*b" takes it exponential time. A malformed pattern matches
// nothing (configs are checked with path.Match when they are loaded).
func Glob(pattern, name string) bool {
	p, ok := compileGlob(pattern)
	if !ok {
		return false
	}
	// One remembered star: when a later element fails, the star takes one
	// more character (never a '/') and matching resumes after it. Stars
	// before it need no second try: the part between two stars is matched
	// at its earliest place, which leaves the most room after it.
	pi, ni, starP, starN := 0, 0, -1, -1
	for {
		switch {
		case pi < len(p) && p[pi].star:
			starP, starN = pi, ni
			pi++
			continue
		case ni == len(name) && pi == len(p):
			return true
		case ni < len(name) && pi < len(p) && p[pi].match(name[ni:]) > 0:
			ni += p[pi].match(name[ni:])
			pi++
			continue
		}
		// The element failed (or the name ended first): the last star takes
		// one more byte (never a '/') and matching resumes after it.
		if starP < 0 || starN >= len(name) || name[starN] == '/' {
			return false
		}
		starN++ // a byte at a time, as path.Match does
		pi, ni = starP+1, starN
	}
}

// globElem is one element of a pattern: a star, any character, a class,
// or one literal character.
type globElem struct {
	star, any bool
	lit       string // the literal's bytes, compared as bytes (as path.Match does)
	class     []classRange
	negated   bool
	isClass   bool
}

type classRange struct{ lo, hi rune }

// match returns how many bytes of s the element matches at its start (0:
// none).
func (e globElem) match(s string) int {
	if !e.any && !e.isClass {
		if len(s) >= len(e.lit) && s[:len(e.lit)] == e.lit {
			return len(e.lit)
		}
		return 0
	}
	r, size := utf8.DecodeRuneInString(s)
	switch {
	case e.any && r == '/':
		return 0
	case e.any:
		return size
	}
	in := false
	for _, c := range e.class {
		if c.lo <= r && r <= c.hi {
			in = true
			break
		}
	}
	if in == e.negated {
		return 0
	}
	return size
}

// compileGlob parses a pattern; false when path.Match would refuse it.
func compileGlob(pattern string) ([]globElem, bool) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, false
	}
	var out []globElem
	for i := 0; i < len(pattern); {
		r, size := utf8.DecodeRuneInString(pattern[i:])
		i += size
		switch r {
		case '*':
			if len(out) == 0 || !out[len(out)-1].star {
				out = append(out, globElem{star: true})
			}
		case '?':
			out = append(out, globElem{any: true})
		case '\\':
			_, size = utf8.DecodeRuneInString(pattern[i:])
			out = append(out, globElem{lit: pattern[i : i+size]})
			i += size
		case '[':
			e := globElem{isClass: true}
			if i < len(pattern) && pattern[i] == '^' {
				e.negated = true
				i++
			}
			for first := true; i < len(pattern) && (pattern[i] != ']' || first); first = false {
				lo, n := classChar(pattern[i:])
				i += n
				hi := lo
				if i+1 < len(pattern) && pattern[i] == '-' && pattern[i+1] != ']' {
					hi, n = classChar(pattern[i+1:])
					i += 1 + n
				}
				e.class = append(e.class, classRange{lo, hi})
			}
			i++ // ']'
			out = append(out, e)
		default:
			out = append(out, globElem{lit: pattern[i-size : i]})
		}
	}
	return out, true
}

// classChar reads one character of a class, escaped or not.
func classChar(s string) (rune, int) {
	if s[0] == '\\' && len(s) > 1 {
		r, n := utf8.DecodeRuneInString(s[1:])
		return r, 1 + n
	}
	return utf8.DecodeRuneInString(s)
}
