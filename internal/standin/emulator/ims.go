package emulator

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// IMS stands in for RAM's identity API (IMS, RPC, version 2019-08-15) as
// the official SDK (alibabacloud-go/ims-20190815) calls it: POST / with
// the action in x-acs-action and its parameters in the query, signed
// ACS3-HMAC-SHA256 (verified as the EMR emulator verifies it). It serves
// GetDefaultDomain, GetUser (by UserPrincipalName; EntityNotExist.User,
// 404, for a user that is not there) and ListUsersInRecycleBin (Filter
// "UserPrincipalName eq <name>", paged with Marker).
type IMS struct {
	Keys map[string]Key
	// Domain is the account's default domain (acme.onaliyun.com).
	Domain string
	Users  map[string]IMSUser // by principal name
	// Deleted are users in the recycle bin, by principal name.
	Deleted map[string]IMSUser
	// Fail answers every call with this HTTP status; Delay before each
	// answer; EndlessRecycleBin pages the recycle bin forever (a hostile
	// or broken endpoint).
	Fail              int
	Delay             time.Duration
	EndlessRecycleBin bool

	mu    sync.Mutex
	calls []IMSCall
}

// IMSUser is a RAM user as IMS answers it.
type IMSUser struct {
	UserID, DisplayName, Email, ProvisionType string
	LastLoginDate, DeleteDate                 string // RFC 3339, or empty
}

// IMSCall is one call served: the action and the principal name (or
// filter) it asked for.
type IMSCall struct{ Action, Param string }

// Calls returns the calls served.
func (s *IMS) Calls() []IMSCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *IMS) refuse(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Code": code, "Message": msg, "RequestId": "IMS-REFUSED"})
}

// ServeHTTP verifies and serves one call.
func (s *IMS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.Delay > 0 {
		select {
		case <-time.After(s.Delay):
		case <-r.Context().Done():
			return
		}
	}
	action := r.Header.Get("x-acs-action")
	q := r.URL.Query()
	s.mu.Lock()
	s.calls = append(s.calls, IMSCall{action, q.Get("UserPrincipalName") + q.Get("Filter")})
	fail := s.Fail
	s.mu.Unlock()
	if fail != 0 {
		s.refuse(w, fail, "ServiceUnavailable", "the stand-in was told to fail")
		return
	}
	if status, code, msg := s.verify(r, action); code != "" {
		s.refuse(w, status, code, msg)
		return
	}
	answer := func(v map[string]any) {
		v["RequestId"] = "IMS-" + strconv.Itoa(len(s.Calls()))
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		_ = json.NewEncoder(w).Encode(v)
	}
	switch action {
	case "GetDefaultDomain":
		answer(map[string]any{"DefaultDomainName": s.Domain})
	case "GetUser":
		upn := q.Get("UserPrincipalName")
		u, ok := s.Users[upn]
		if !ok {
			s.refuse(w, 404, "EntityNotExist.User", "The user does not exist: "+upn)
			return
		}
		answer(map[string]any{"User": map[string]any{"UserId": u.UserID, "UserName": strings.Split(upn, "@")[0], "UserPrincipalName": upn,
			"DisplayName": u.DisplayName, "Email": u.Email, "LastLoginDate": u.LastLoginDate, "ProvisionType": cmpOr(u.ProvisionType, "Manual")}})
	case "ListUsersInRecycleBin":
		f := q.Get("Filter")
		upn, ok := strings.CutPrefix(f, "UserPrincipalName eq ")
		if !ok {
			s.refuse(w, 400, "InvalidParameter.Filter", "Filter must be UserPrincipalName eq <name>")
			return
		}
		var users []map[string]any
		if u, ok := s.Deleted[upn]; ok {
			users = append(users, map[string]any{"UserId": u.UserID, "UserPrincipalName": upn, "DisplayName": u.DisplayName, "DeleteDate": u.DeleteDate})
		}
		if s.EndlessRecycleBin {
			answer(map[string]any{"Users": map[string]any{"User": []any{}}, "IsTruncated": true, "Marker": "m-" + strconv.Itoa(len(s.Calls()))})
			return
		}
		answer(map[string]any{"Users": map[string]any{"User": users}, "IsTruncated": false})
	default:
		s.refuse(w, 400, "InvalidAction.NotFound", "Specified api is not found")
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// verify checks the call as IMS would: POST /, version 2019-08-15, the
// ACS3 signature, the key's allowed actions (RAM names them ram:…).
func (s *IMS) verify(r *http.Request, action string) (int, string, string) {
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("x-acs-version") != "2019-08-15" {
		return 400, "InvalidParameter", "IMS calls are POST / with x-acs-version 2019-08-15"
	}
	a, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return 400, "IncompleteSignature", err.Error()
	}
	key, ok := s.Keys[a.accessKeyID]
	if !ok {
		return 404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
	}
	if key.SecurityToken != r.Header.Get("x-acs-security-token") {
		return 403, "InvalidSecurityToken.Mismatch", "The security token does not match the access key."
	}
	date, err := time.Parse("2006-01-02T15:04:05Z", r.Header.Get("x-acs-date"))
	if err != nil || time.Since(date).Abs() > 15*time.Minute {
		return 400, "InvalidTimeStamp.Expired", "x-acs-date is missing or more than 15 minutes off"
	}
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(r.Body)
	sum := sha256.Sum256(body.Bytes())
	if r.Header.Get("x-acs-content-sha256") != hex.EncodeToString(sum[:]) {
		return 400, "InvalidContentSha256", "x-acs-content-sha256 does not match the body"
	}
	if err := checkSignedHeaders(r, a.signedHeaders); err != nil {
		return 400, "IncompleteSignature", err.Error()
	}
	if want := signature(key.Secret, canonicalRequest(r, a.signedHeaders, hex.EncodeToString(sum[:]))); !hmac.Equal([]byte(want), []byte(a.signature)) {
		return 403, "SignatureDoesNotMatch", "The request signature does not conform to Aliyun standards."
	}
	if key.Actions != nil && !slices.Contains(key.Actions, action) {
		return 403, "NoPermission", "You are not authorized to do this action: ram:" + action + "."
	}
	return 0, "", ""
}
