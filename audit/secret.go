package audit

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// A token's secret value comes from the caller of CreateLivyComputeToken,
// and ListLivyComputeToken returns it in plaintext: people paste one value
// into several gateways, and pick short ones. The audit sees each value
// once, as the API client decodes it, and keeps only what the rules need —
// a keyed digest, to find the values several tokens share within one run,
// and an estimate of its strength — never the value, nor anything that
// leaves the process.

// SecretKey keys the digests of one run's secret values. It is drawn at
// random for each run, so a digest means nothing outside the run that made
// it (and digests are never stored, logged or sent either).
type SecretKey struct{ k [32]byte }

// NewSecretKey draws a key for one run.
func NewSecretKey() (*SecretKey, error) {
	var k SecretKey
	if _, err := rand.Read(k.k[:]); err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &k, nil
}

// Secret is what the audit keeps of a token's secret value. Its zero value
// is a secret the API did not return (no rule about secrets applies). It
// prints as [secret] and cannot be encoded: its digest never leaves the
// process.
type Secret struct {
	digest   [digestSize]byte
	known    bool
	bits     float64
	distinct int
}

// digestSize is how much of the HMAC-SHA256 a Secret keeps: 128 bits, so
// that two different values sharing one is out of reach in any fleet.
const digestSize = 16

// Measure returns what the audit keeps of value: its digest under k and
// its estimated strength. It does not keep value; the caller clears it.
func (k *SecretKey) Measure(value []byte) Secret {
	m := hmac.New(sha256.New, k.k[:])
	m.Write(value)
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	s := Secret{known: true}
	copy(s.digest[:], sum[:])
	s.bits, s.distinct = strength(value)
	return s
}

// strength estimates a value's strength: its length in characters times
// log2 of the alphabet its characters are drawn from (lower case, upper
// case, digits and others count 26, 26, 10 and 32), and how many distinct
// characters it has.
func strength(value []byte) (bits float64, distinct int) {
	var lower, upper, digit, other bool
	var ascii [utf8.RuneSelf]bool
	var wide map[rune]bool // the characters beyond ASCII, rare in a secret
	n := 0
	for i := 0; i < len(value); {
		r, size := utf8.DecodeRune(value[i:])
		i += size
		n++
		switch {
		case r < utf8.RuneSelf && !ascii[r]:
			ascii[r] = true
			distinct++
		case r >= utf8.RuneSelf && !wide[r]:
			if wide == nil {
				wide = map[rune]bool{}
			}
			wide[r] = true
			distinct++
		}
		switch {
		case 'a' <= r && r <= 'z':
			lower = true
		case 'A' <= r && r <= 'Z':
			upper = true
		case '0' <= r && r <= '9':
			digit = true
		default:
			other = true
		}
	}
	alphabet := 0
	for _, c := range []struct {
		present bool
		size    int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {other, 32}} {
		if c.present {
			alphabet += c.size
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(n) * math.Log2(float64(alphabet)), distinct
}

// Same reports whether two secrets are of one value (measured under one
// key).
func (s Secret) Same(o Secret) bool {
	return s.known && o.known && hmac.Equal(s.digest[:], o.digest[:])
}

// Known reports whether the API returned the token's value.
func (s Secret) Known() bool { return s.known }

// Bits is the value's estimated strength in bits.
func (s Secret) Bits() float64 { return s.bits }

// Distinct is how many distinct characters the value has.
func (s Secret) Distinct() int { return s.distinct }

// String never shows the digest.
func (s Secret) String() string { return "[secret]" }

// GoString never shows the digest.
func (s Secret) GoString() string { return "[secret]" }

// Format never shows the digest, whatever the verb.
func (s Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, "[secret]") }

// MarshalJSON refuses: a secret's measure is never encoded.
func (s Secret) MarshalJSON() ([]byte, error) {
	return nil, errors.New("a token's secret is never encoded")
}

// MinDistinctChars is the fewest distinct characters a secret value may
// have and not be weak, whatever its length.
const MinDistinctChars = 6
