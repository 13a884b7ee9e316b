// Package scrub removes secrets from text that leaves the process: every
// adapter (EMR, STS, OSS, Slack, the JSON webhook) builds its errors and log
// lines through a Scrubber. It removes the values it is given (an access
// key secret, an STS token, a webhook URL and its path, a bot token) and,
// whatever it was given, what has the shape of a secret: Authorization
// values, security tokens, signatures, credentials, Slack tokens and
// webhook paths.
package scrub

import (
	"regexp"
	"strings"
)

// Redacted is what replaces a secret.
const Redacted = "[redacted]"

// minSecret is the shortest value taken for a secret: shorter ones would
// scrub ordinary words.
const minSecret = 6

// Scrubber removes secrets from text. Its zero value removes the shapes
// alone. It is safe for concurrent use.
type Scrubber struct {
	secrets []string
	// source gives secrets that change (refreshed STS credentials).
	source func() []string
}

// New returns a scrubber of these secrets (empty and short ones are
// ignored).
func New(secrets ...string) Scrubber { return Scrubber{}.With(secrets...) }

// With returns a scrubber that also removes secrets.
func (s Scrubber) With(secrets ...string) Scrubber {
	out := Scrubber{secrets: append([]string(nil), s.secrets...), source: s.source}
	for _, v := range secrets {
		if len(v) >= minSecret {
			out.secrets = append(out.secrets, v)
		}
	}
	return out
}

// WithSource returns a scrubber that also removes what source gives, as
// it is when text is scrubbed.
func (s Scrubber) WithSource(source func() []string) Scrubber {
	prev := s.source
	out := Scrubber{secrets: s.secrets, source: source}
	if prev != nil {
		out.source = func() []string { return append(prev(), source()...) }
	}
	return out
}

// shapes are what secrets look like, whoever echoes them.
// hint is a lower-case word the shape cannot match without.
var shapes = []struct {
	hint string
	re   *regexp.Regexp
	with string
}{
	// Authorization: ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…
	{"authorization", regexp.MustCompile(`(?i)(authorization)(["']?\s*[:=]\s*["']?)[^"'<>\r\n]*`), "$1$2" + Redacted},
	{"token", regexp.MustCompile(`(?i)(x-(?:oss|acs)-security-token|security-?token|securitytoken)(["']?\s*[:=]\s*["']?)[^\s"'<>,;&]+`), "$1$2" + Redacted},
	{"secret", regexp.MustCompile(`(?i)(access_?key_?secret|accesskeysecret)(["']?\s*[:=]\s*["']?)[^\s"'<>,;&]+`), "$1$2" + Redacted},
	{"signature", regexp.MustCompile(`(?i)\b((?:x-(?:oss|acs)-)?signature)=[^\s"'<>,;&]+`), "$1=" + Redacted},
	{"credential", regexp.MustCompile(`(?i)\b(credential)=[^\s"'<>,;&]+`), "$1=" + Redacted},
	{"xox", regexp.MustCompile(`\bxox[a-z]-[A-Za-z0-9-]+`), Redacted},
	{"hooks.slack.com", regexp.MustCompile(`(?i)(hooks\.slack\.com/)[^\s"'<>]+`), "$1" + Redacted},
}

// Text returns v without the secrets: the values given, and whatever has
// the shape of a secret. It is for messages (errors, answers echoed).
func (s Scrubber) Text(v string) string {
	v = s.Values(v)
	lower := strings.ToLower(v)
	for _, sh := range shapes {
		if strings.Contains(lower, sh.hint) {
			v = sh.re.ReplaceAllString(v, sh.with)
		}
	}
	return v
}

// Values returns v without the values given: the cheap scrub of data (a
// token's name, an ID), which cannot carry a request's headers.
func (s Scrubber) Values(v string) string {
	for _, secret := range s.secrets {
		if strings.Contains(v, secret) {
			v = strings.ReplaceAll(v, secret, Redacted)
		}
	}
	if s.source != nil {
		for _, secret := range s.source() {
			if len(secret) >= minSecret && strings.Contains(v, secret) {
				v = strings.ReplaceAll(v, secret, Redacted)
			}
		}
	}
	return v
}

// Err returns err with its text scrubbed; errors.Is and errors.As still
// see what it wraps. nil stays nil.
func (s Scrubber) Err(err error) error {
	if err == nil {
		return nil
	}
	t := s.Text(err.Error())
	if t == err.Error() {
		return err
	}
	return &scrubbed{text: t, err: err}
}

type scrubbed struct {
	text string
	err  error
}

func (e *scrubbed) Error() string { return e.text }
func (e *scrubbed) Unwrap() error { return e.err }
