package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// This file verifies Alibaba Cloud's V3 request signature (ACS3-HMAC-SHA256)
// as the published algorithm describes it ("Request syntax and signature
// method V3"), independently of the SDK's signer:
//
//	CanonicalRequest = Method \n CanonicalURI \n CanonicalQueryString \n
//	                   CanonicalHeaders \n SignedHeaders \n HashedRequestPayload
//	StringToSign     = "ACS3-HMAC-SHA256" \n hex(sha256(CanonicalRequest))
//	Signature        = hex(hmac-sha256(AccessKeySecret, StringToSign))
//	Authorization    = ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=h1;h2,Signature=sig
//
// CanonicalQueryString sorts parameters by name and percent-encodes names and
// values per RFC 3986 (space as %20, * as %2A, ~ kept); CanonicalHeaders are
// the lower-cased host, content-type and x-acs-* headers, sorted, each as
// "name:trimmed value\n", and every one of them must be signed.

const algorithm = "ACS3-HMAC-SHA256"

type authorization struct {
	accessKeyID   string
	signedHeaders []string
	signature     string
}

var errIncomplete = errors.New("the Authorization header is not of the form ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=h1;h2,Signature=hex")

func parseAuthorization(h string) (authorization, error) {
	var a authorization
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return a, errIncomplete
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, errIncomplete
		}
		switch k {
		case "Credential":
			a.accessKeyID = v
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	if a.accessKeyID == "" || len(a.signedHeaders) == 0 || a.signature == "" {
		return a, errIncomplete
	}
	return a, nil
}

// percentEncode encodes per RFC 3986: unreserved characters stay, all else
// is %XX.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return b.String()
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := slices.Clone(q[k])
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, percentEncode(k)+"="+percentEncode(v))
		}
	}
	return strings.Join(parts, "&")
}

// mustSign reports whether a header has to be among the signed ones.
func mustSign(name string) bool {
	return name == "host" || name == "content-type" || strings.HasPrefix(name, "x-acs-")
}

func headerValue(r *http.Request, name string) string {
	if name == "host" {
		return r.Host
	}
	return strings.TrimSpace(strings.Join(r.Header.Values(name), ","))
}

// canonicalRequest builds the canonical request of r over the signed headers.
func canonicalRequest(r *http.Request, signed []string, payloadHash string) string {
	var h strings.Builder
	for _, name := range signed {
		h.WriteString(name + ":" + headerValue(r, name) + "\n")
	}
	uri := r.URL.EscapedPath()
	if uri == "" {
		uri = "/"
	}
	return r.Method + "\n" + uri + "\n" + canonicalQuery(r.URL.Query()) + "\n" + h.String() + "\n" +
		strings.Join(signed, ";") + "\n" + payloadHash
}

// signature computes the expected signature of a canonical request.
func signature(secret, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	sts := algorithm + "\n" + hex.EncodeToString(sum[:])
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(sts))
	return hex.EncodeToString(m.Sum(nil))
}

// checkSignedHeaders verifies that the signed header list is sorted, lower
// case, names headers the request has, and includes every header that must
// be signed.
func checkSignedHeaders(r *http.Request, signed []string) error {
	if !slices.IsSorted(signed) {
		return errors.New("SignedHeaders are not sorted")
	}
	for _, n := range signed {
		if n != strings.ToLower(n) {
			return errors.New("SignedHeaders must be lower case")
		}
		if headerValue(r, n) == "" && n != "host" {
			return errors.New("signed header " + n + " is missing from the request")
		}
	}
	need := []string{"host"}
	for name := range r.Header {
		if l := strings.ToLower(name); mustSign(l) {
			need = append(need, l)
		}
	}
	need = append(need, "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256")
	for _, n := range need {
		if !slices.Contains(signed, n) {
			return errors.New("header " + n + " must be signed")
		}
	}
	return nil
}
