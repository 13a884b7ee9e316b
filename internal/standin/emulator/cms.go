package emulator

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
)

// CMS is a stand-in for CloudMonitor's PutCustomMetric (RPC style, version
// 2019-01-01). It verifies the ACS3-HMAC-SHA256 signature as the EMR
// emulator does (the published algorithm, independently of the SDK), a
// fresh x-acs-date and nonce, and each MetricList entry against the API's
// documented limits: N from 1 to 21, contiguous; MetricName letters, digits
// and underscores, starting with a letter, at most 64 bytes; Dimensions a
// JSON object whose keys and values are 1 to 64 bytes of letters, digits,
// . - _ / \; Values {"value": number} for raw data (Type 0); GroupId and
// Time numbers. It answers as the API does: {"Code":"200",…} on success.
type CMS struct {
	Keys map[string]Key
	// Clock checks x-acs-date (default time.Now).
	Clock func() time.Time
	// Fail answers every call with this HTTP status (0: none), as a
	// throttled or broken endpoint.
	Fail int
	// RefuseGroups are application groups the account does not have: a
	// call that names one is refused (400 ResourceNotFound).
	RefuseGroups []int64

	mu      sync.Mutex
	nonces  map[string]bool
	metrics []Metric
	calls   int
}

// Metric is one entry CMS accepted.
type Metric struct {
	GroupID    int64
	Name       string
	Dimensions map[string]string
	Value      float64
	Time       time.Time
	AccessKey  string
}

// Metrics returns the entries accepted so far.
func (s *CMS) Metrics() []Metric {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Metric(nil), s.metrics...)
}

// Calls is how many calls were served (accepted or not).
func (s *CMS) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

var (
	metricNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
	dimensionRe  = regexp.MustCompile(`^[A-Za-z0-9._\-/\\]{1,64}$`)
)

func (s *CMS) refuse(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Code": code, "Message": msg, "RequestId": "CMS-REFUSED"})
}

// ServeHTTP verifies and serves one PutCustomMetric call.
func (s *CMS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	fail := s.Fail
	s.mu.Unlock()
	if fail != 0 {
		s.refuse(w, fail, "InternalError", "the stand-in was told to fail")
		return
	}
	if code, msg := s.verify(r); code != "" {
		s.refuse(w, 400, code, msg)
		return
	}
	ms, err := entries(r)
	if err != nil {
		s.refuse(w, 400, "InvalidParameter", err.Error())
		return
	}
	s.mu.Lock()
	refused := slices.ContainsFunc(ms, func(m Metric) bool { return slices.Contains(s.RefuseGroups, m.GroupID) })
	s.mu.Unlock()
	if refused {
		s.refuse(w, 400, "ResourceNotFound", "The application group does not exist.")
		return
	}
	a, _ := parseAuthorization(r.Header.Get("Authorization"))
	s.mu.Lock()
	for i := range ms {
		ms[i].AccessKey = a.accessKeyID
	}
	s.metrics = append(s.metrics, ms...)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]string{"Code": "200", "Message": "", "RequestId": "CMS-" + strconv.Itoa(len(ms)), "Data": "{}"})
}

// verify checks the method, the action and version, and the ACS3
// signature; it returns an error code and message, or "".
func (s *CMS) verify(r *http.Request) (code, msg string) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return "InvalidParameter", "PutCustomMetric is POST /"
	}
	if r.Header.Get("x-acs-action") != "PutCustomMetric" || r.Header.Get("x-acs-version") != "2019-01-01" {
		return "InvalidAction", "x-acs-action and x-acs-version must be PutCustomMetric and 2019-01-01"
	}
	a, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return "IncompleteSignature", err.Error()
	}
	s.mu.Lock()
	key, ok := s.Keys[a.accessKeyID]
	s.mu.Unlock()
	if !ok {
		return "InvalidAccessKeyId.NotFound", "Specified access key is not found."
	}
	if key.SecurityToken != r.Header.Get("x-acs-security-token") {
		return "InvalidSecurityToken.Mismatch", "The security token does not match the access key."
	}
	clock := time.Now
	if s.Clock != nil {
		clock = s.Clock
	}
	date, err := time.Parse("2006-01-02T15:04:05Z", r.Header.Get("x-acs-date"))
	if err != nil || clock().Sub(date).Abs() > 15*time.Minute {
		return "InvalidTimeStamp.Expired", "x-acs-date is missing or more than 15 minutes off"
	}
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(r.Body)
	sum := sha256.Sum256(body.Bytes())
	if r.Header.Get("x-acs-content-sha256") != hex.EncodeToString(sum[:]) {
		return "InvalidContentSha256", "x-acs-content-sha256 does not match the body"
	}
	if err := checkSignedHeaders(r, a.signedHeaders); err != nil {
		return "IncompleteSignature", err.Error()
	}
	want := signature(key.Secret, canonicalRequest(r, a.signedHeaders, hex.EncodeToString(sum[:])))
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return "SignatureDoesNotMatch", "The request signature does not conform to Aliyun standards."
	}
	if key.Actions != nil && !slices.Contains(key.Actions, "PutCustomMetric") {
		return "Forbidden.RAM", "User not authorized to operate on the specified resource: cms:PutCustomMetric."
	}
	nonce := r.Header.Get("x-acs-signature-nonce")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nonces == nil {
		s.nonces = map[string]bool{}
	}
	if nonce == "" || s.nonces[nonce] {
		return "SignatureNonceUsed", "The request signature nonce has been used."
	}
	s.nonces[nonce] = true
	return "", ""
}

// entries reads and checks the MetricList entries of a call.
func entries(r *http.Request) ([]Metric, error) {
	q := r.URL.Query()
	if q.Get("RegionId") == "" {
		return nil, fmt.Errorf("RegionId is missing")
	}
	var out []Metric
	for n := 1; ; n++ {
		p := "MetricList." + strconv.Itoa(n) + "."
		if !q.Has(p + "MetricName") {
			break
		}
		if n > 21 {
			return nil, fmt.Errorf("MetricList.N: N is 1 to 21, got %d", n)
		}
		m, err := entry(p, q.Get)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("MetricList is empty")
	}
	return out, nil
}

func entry(p string, get func(string) string) (Metric, error) {
	var m Metric
	var err error
	if m.GroupID, err = strconv.ParseInt(get(p+"GroupId"), 10, 64); err != nil {
		return m, fmt.Errorf("%sGroupId is not a number", p)
	}
	if m.Name = get(p + "MetricName"); !metricNameRe.MatchString(m.Name) {
		return m, fmt.Errorf("%sMetricName %q is not letters, digits and underscores starting with a letter (at most 64)", p, m.Name)
	}
	if get(p+"Type") != "0" {
		return m, fmt.Errorf("%sType %q: the stand-in takes raw data (0)", p, get(p+"Type"))
	}
	if err := json.Unmarshal([]byte(get(p+"Dimensions")), &m.Dimensions); err != nil || len(m.Dimensions) == 0 {
		return m, fmt.Errorf("%sDimensions is not a JSON object of dimensions", p)
	}
	for k, v := range m.Dimensions {
		if !dimensionRe.MatchString(k) || !dimensionRe.MatchString(v) {
			return m, fmt.Errorf("%sDimensions %q=%q: keys and values are 1 to 64 letters, digits, . - _ / \\", p, k, v)
		}
	}
	var values map[string]float64
	if err := json.Unmarshal([]byte(get(p+"Values")), &values); err != nil || len(values) != 1 {
		return m, fmt.Errorf(`%sValues is not {"value": number}`, p)
	}
	v, ok := values["value"]
	if !ok {
		return m, fmt.Errorf(`%sValues is not {"value": number}`, p)
	}
	m.Value = v
	if t := get(p + "Time"); t != "" {
		ms, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return m, fmt.Errorf("%sTime is not milliseconds", p)
		}
		m.Time = time.UnixMilli(ms).UTC()
	}
	return m, nil
}
