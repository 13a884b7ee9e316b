package scrub

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestScrub(t *testing.T) {
	t.Parallel()
	token := "CAIS-sts-TOKEN-9f8e7d6c5b4a"
	s := New("secret-XYZ-123", "", "ab").WithSource(func() []string { return []string{token} })
	for _, tc := range []struct{ in, leak string }{
		{"the key secret-XYZ-123 was echoed", "secret-XYZ-123"},
		{"token " + token + " in a body", token},
		{"<Error><Authorization>OSS4-HMAC-SHA256 Credential=LTAI5t/20261127/cn-hangzhou/oss/aliyun_v4_request,Signature=0a1b2c</Authorization>", "LTAI5t"},
		{`{"headers": {"Authorization": "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=f00d"}}`, "f00d"},
		{"x-oss-security-token: tok-abcdef123 and more", "tok-abcdef123"},
		{`"x-acs-security-token":"tok-ghijk456"`, "tok-ghijk456"},
		{"https://b.oss.aliyuncs.com/k?x-oss-signature=deadbeef&x-oss-credential=LTAI", "deadbeef"},
		{"Signature=abc%2Bdef", "abc%2Bdef"},
		{"posted with xoxb-1234-5678-abcdEF", "xoxb-1234"},
		{"POST https://hooks.slack.com/services/T0/B0/XYZsecret failed", "XYZsecret"},
		{"accessKeySecret=sk-777777", "sk-777777"},
	} {
		if got := s.Text(tc.in); strings.Contains(got, tc.leak) || !strings.Contains(got, Redacted) {
			t.Errorf("%q: got %q", tc.in, got)
		}
	}
	if got := s.Text("nothing secret here: ab, ServiceUnavailable"); got != "nothing secret here: ab, ServiceUnavailable" {
		t.Errorf("plain text changed: %q", got)
	}
	err := s.Err(&fs.PathError{Op: "open", Path: "/tmp/secret-XYZ-123", Err: fs.ErrNotExist})
	if strings.Contains(err.Error(), "secret-XYZ-123") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Err: %v (is ErrNotExist: %v)", err, errors.Is(err, fs.ErrNotExist))
	}
	if s.Err(nil) != nil {
		t.Error("Err(nil) is not nil")
	}
}
