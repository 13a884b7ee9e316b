package emulator

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// STS is a stand-in for Alibaba Cloud's STS AssumeRole (RPC style, version
// 2015-04-01). It verifies the caller's signature as the published RPC
// algorithm describes it ("Signature version 1", HMAC-SHA1), independently
// of credentials-go's signer:
//
//	CanonicalizedQueryString = sorted name=value pairs of every parameter
//	                           (query and form) but Signature, each name and
//	                           value percent-encoded per RFC 3986, joined by &
//	StringToSign             = Method & percentEncode("/") & percentEncode(CanonicalizedQueryString)
//	Signature                = base64(hmac-sha1(AccessKeySecret + "&", StringToSign))
//
// It issues per-account STS credentials for the roles it knows and lets the
// EMR emulator accept them for that account's world only. Serve it over TLS
// (credentials-go speaks HTTPS only): httptest.NewTLSServer.
type STS struct {
	// Keys are the callers' keys (the run's own credentials).
	Keys map[string]Key
	// Roles are the roles that can be assumed, by ARN.
	Roles map[string]Role
	// API is the EMR emulator that must accept the issued credentials.
	API *Server
	// Clock checks Timestamp (default time.Now).
	Clock func() time.Time

	mu       sync.Mutex
	nonces   map[string]bool
	issued   int
	requests []STSRequest
}

// Role is an assumable role: its account and, when set, the ExternalId the
// caller must give. Deny refuses every caller (a trust policy that does not
// trust the auditing account).
type Role struct {
	Account    string
	ExternalID string
	Deny       bool
	// Actions are the API actions the role's policy allows (nil: all).
	Actions []string
}

// STSRequest is one AssumeRole request, for tests.
type STSRequest struct {
	AccessKeyID string
	RoleARN     string
	SessionName string
	Status      int
	Code        string
}

// Requests returns the AssumeRole requests served so far.
func (s *STS) Requests() []STSRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]STSRequest(nil), s.requests...)
}

// ServeHTTP verifies and answers AssumeRole.
func (s *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	params := url.Values{}
	for k, v := range r.URL.Query() {
		params[k] = v
	}
	if r.Method != http.MethodPost {
		s.refuse(w, params, http.StatusMethodNotAllowed, "UnsupportedHTTPMethod", "AssumeRole takes POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.refuse(w, params, http.StatusBadRequest, "InvalidParameter", "the form cannot be parsed")
		return
	}
	for k, v := range r.PostForm {
		params[k] = append(params[k], v...)
	}
	if code, msg := s.verify(r.Method, params); code != "" {
		status := http.StatusBadRequest
		switch code {
		case "InvalidAccessKeyId.NotFound":
			status = http.StatusNotFound
		case "SignatureDoesNotMatch", "InvalidSecurityToken.Mismatch":
			status = http.StatusForbidden
		}
		s.refuse(w, params, status, code, msg)
		return
	}
	arn := params.Get("RoleArn")
	role, ok := s.Roles[arn]
	switch {
	case !ok:
		s.refuse(w, params, http.StatusNotFound, "EntityNotExist.Role", "The role not exists: "+arn)
		return
	case role.Deny || role.ExternalID != "" && params.Get("ExternalId") != role.ExternalID:
		s.refuse(w, params, http.StatusForbidden, "NoPermission", "You are not authorized to do this action. You should be authorized by RAM.")
		return
	}
	secs, err := strconv.Atoi(params.Get("DurationSeconds"))
	if err != nil || secs < 900 || secs > 43200 {
		s.refuse(w, params, http.StatusBadRequest, "InvalidParameter.DurationSeconds", "DurationSeconds must be 900 to 43200")
		return
	}
	s.mu.Lock()
	s.issued++
	n := s.issued
	s.requests = append(s.requests, STSRequest{AccessKeyID: params.Get("AccessKeyId"), RoleARN: arn, SessionName: params.Get("RoleSessionName"), Status: 200})
	s.mu.Unlock()
	id := fmt.Sprintf("STS.%s.%04d", role.Account, n)
	key := Key{Secret: "sts-secret-" + random(), SecurityToken: "sts-token-" + random(), Account: role.Account, Actions: role.Actions}
	if s.API != nil {
		s.API.AddKey(id, key)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"RequestId": "STS-REQ-" + strconv.Itoa(n),
		"AssumedRoleUser": map[string]string{
			"Arn": strings.Replace(arn, ":role/", ":assumed-role/", 1) + "/" + params.Get("RoleSessionName"), "AssumedRoleId": fmt.Sprintf("3%d:%s", n, params.Get("RoleSessionName")),
		},
		"Credentials": map[string]string{
			"AccessKeyId": id, "AccessKeySecret": key.Secret, "SecurityToken": key.SecurityToken,
			"Expiration": s.clock().Add(time.Duration(secs) * time.Second).UTC().Format("2006-01-02T15:04:05Z"),
		},
	})
}

func (s *STS) clock() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

func (s *STS) refuse(w http.ResponseWriter, params url.Values, status int, code, msg string) {
	s.mu.Lock()
	s.requests = append(s.requests, STSRequest{AccessKeyID: params.Get("AccessKeyId"), RoleARN: params.Get("RoleArn"), SessionName: params.Get("RoleSessionName"), Status: status, Code: code})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"RequestId": "STS-REFUSED", "HostId": "sts.aliyuncs.com", "Code": code, "Message": msg})
}

// verify checks the request's parameters and signature; it returns an STS
// error code and message, or "" when the request is genuine.
func (s *STS) verify(method string, p url.Values) (code, msg string) {
	for k, want := range map[string]string{"Action": "AssumeRole", "Version": "2015-04-01", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "Format": "JSON"} {
		if got := p.Get(k); got != want {
			return "InvalidParameter", fmt.Sprintf("%s is %q, want %q", k, got, want)
		}
	}
	key, ok := s.Keys[p.Get("AccessKeyId")]
	if !ok {
		return "InvalidAccessKeyId.NotFound", "Specified access key is not found."
	}
	if key.SecurityToken != "" && p.Get("SecurityToken") != key.SecurityToken || key.SecurityToken == "" && p.Get("SecurityToken") != "" {
		return "InvalidSecurityToken.Mismatch", "The security token does not match the access key."
	}
	ts, err := time.Parse("2006-01-02T15:04:05Z", p.Get("Timestamp"))
	if err != nil {
		return "InvalidTimeStamp.Format", "Timestamp is not yyyy-MM-ddTHH:mm:ssZ"
	}
	if d := s.clock().Sub(ts); d > 15*time.Minute || d < -15*time.Minute {
		return "InvalidTimeStamp.Expired", "Timestamp is more than 15 minutes off"
	}
	nonce := p.Get("SignatureNonce")
	s.mu.Lock()
	if s.nonces == nil {
		s.nonces = map[string]bool{}
	}
	used := s.nonces[nonce]
	s.nonces[nonce] = true
	s.mu.Unlock()
	if nonce == "" || used {
		return "SignatureNonceUsed", "The request signature nonce has been used."
	}
	names := make([]string, 0, len(p))
	for k := range p {
		if k != "Signature" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var pairs []string
	for _, k := range names {
		for _, v := range p[k] {
			pairs = append(pairs, percentEncode(k)+"="+percentEncode(v))
		}
	}
	sts := method + "&" + percentEncode("/") + "&" + percentEncode(strings.Join(pairs, "&"))
	m := hmac.New(sha1.New, []byte(key.Secret+"&"))
	m.Write([]byte(sts))
	want := base64.StdEncoding.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(p.Get("Signature"))) {
		return "SignatureDoesNotMatch", "The request signature does not conform to Aliyun standards."
	}
	return "", ""
}

func random() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
