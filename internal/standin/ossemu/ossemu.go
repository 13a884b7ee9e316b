// Package ossemu is an OSS stand-in for tests: an in-memory bucket that
// serves PutObject (with x-oss-forbid-overwrite), CopyObject (a PUT with
// x-oss-copy-source), GetObject, HeadObject and DeleteObject on loopback (path-style URLs), verifies OSS4-HMAC-SHA256 (V4)
// signatures and STS tokens as the published algorithm describes them, and
// can inject 503s (with OSS's error document or an HTML page), latency,
// dripping bodies, redirects and access denials.
package ossemu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Key is an access key the stand-in accepts; SecurityToken is set for STS
// credentials and must then come with every request.
type Key struct {
	Secret        string
	SecurityToken string
}

// Object is a stored object with the headers it was written with.
type Object struct {
	Data        []byte
	ContentType string
	SSE         string
	SSEKeyID    string
	Modified    time.Time
}

// Request is one request served, for tests. CopySource is the source key
// of a CopyObject; Bytes is how many bytes of body a PUT sent.
type Request struct {
	Method, Key string
	Status      int
	Code        string
	CopySource  string
	Bytes       int
}

// Server is the stand-in; it implements http.Handler.
type Server struct {
	Bucket string
	Region string
	Keys   map[string]Key
	// Clock checks x-oss-date (default time.Now).
	Clock func() time.Time
	// FailPuts makes that many next PutObject calls answer 503; FailGets
	// the same for GetObject. FailBody, when set, is the body of those 503s
	// instead of an OSS error document (a load balancer's HTML page).
	FailPuts int
	FailGets int
	FailBody string
	// DenyPrefix makes PutObject under that prefix answer AccessDenied.
	DenyPrefix string
	// IgnoreForbidOverwrite makes the bucket overwrite an object that
	// x-oss-forbid-overwrite protects, as OSS does on a versioned bucket
	// (or a proxy that drops the header would).
	IgnoreForbidOverwrite bool
	// EchoDenied makes that AccessDenied echo the request's Authorization
	// and x-oss-security-token headers, and Slack markup, in its message (a
	// hostile or broken proxy).
	EchoDenied bool
	// Latency delays every answer; Drip sends GetObject bodies one byte
	// every Drip.
	Latency time.Duration
	Drip    time.Duration
	// Redirect answers every request with a 302 to that location.
	Redirect string
	// Fault, when set, is asked of every GET and PUT (before anything
	// else): a non-zero status answers it — 403 as AccessDenied, anything
	// else as ServiceUnavailable.
	Fault func(method, key string) int

	mu       sync.Mutex
	objects  map[string]Object
	requests []Request
}

// SetFault sets Fault while the stand-in serves.
func (s *Server) SetFault(f func(method, key string) int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Fault = f
}

// AddKey adds (or replaces) a key pair, while the stand-in serves.
func (s *Server) AddKey(id string, k Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Keys == nil {
		s.Keys = map[string]Key{}
	}
	s.Keys[id] = k
}

// Objects returns a copy of the bucket's objects.
func (s *Server) Objects() map[string]Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Object{}
	for k, v := range s.objects {
		out[k] = v
	}
	return out
}

// Requests returns the requests served so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// PutObject stores an object directly (test setup).
func (s *Server) PutObject(key string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.objects == nil {
		s.objects = map[string]Object{}
	}
	s.objects[key] = Object{Data: data, ContentType: "application/json", Modified: time.Now()}
}

type ossError struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, key string, status int, code, msg string) {
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Key: key, Status: status, Code: code})
	body := s.FailBody
	s.mu.Unlock()
	if status == http.StatusServiceUnavailable && body != "" {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-oss-request-id", "OSSEMU-REQ")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	b, _ := xml.Marshal(ossError{Code: code, Message: msg, RequestID: "OSSEMU-REQ", HostID: r.Host})
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

// ServeHTTP verifies the signature, then serves the object operation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.Latency > 0 {
		time.Sleep(s.Latency)
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if s.Redirect != "" {
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Key: key, Status: http.StatusFound})
		s.mu.Unlock()
		http.Redirect(w, r, s.Redirect, http.StatusFound)
		return
	}
	if code, msg := s.verify(r, bucket, key); code != "" {
		s.fail(w, r, key, http.StatusForbidden, code, msg)
		return
	}
	if bucket != s.Bucket {
		s.fail(w, r, key, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.")
		return
	}
	s.mu.Lock()
	fault := s.Fault
	s.mu.Unlock()
	if fault != nil {
		switch status := fault(r.Method, key); status {
		case 0:
		case http.StatusForbidden:
			s.fail(w, r, key, status, "AccessDenied", "You have no right to access this object because of bucket acl.")
			return
		default:
			s.fail(w, r, key, status, "ServiceUnavailable", "Please reduce your request rate.")
			return
		}
	}
	switch r.Method {
	case http.MethodPut:
		s.put(w, r, key)
	case http.MethodDelete:
		s.mu.Lock()
		delete(s.objects, key)
		s.requests = append(s.requests, Request{Method: r.Method, Key: key, Status: http.StatusNoContent})
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet, http.MethodHead:
		s.mu.Lock()
		failing := r.Method == http.MethodGet && s.FailGets > 0
		if failing {
			s.FailGets--
		}
		obj, ok := s.objects[key]
		drip := s.Drip
		s.mu.Unlock()
		if failing {
			s.fail(w, r, key, http.StatusServiceUnavailable, "ServiceUnavailable", "Please reduce your request rate.")
			return
		}
		if !ok {
			s.fail(w, r, key, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return
		}
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Key: key, Status: 200})
		s.mu.Unlock()
		w.Header().Set("Content-Type", obj.ContentType)
		w.Header().Set("Content-Length", fmt.Sprint(len(obj.Data)))
		w.Header().Set("Last-Modified", obj.Modified.UTC().Format(http.TimeFormat))
		w.Header().Set("ETag", fmt.Sprintf(`"%x"`, sha256.Sum256(obj.Data)))
		if obj.SSE != "" {
			w.Header().Set("x-oss-server-side-encryption", obj.SSE)
		}
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodGet {
			return
		}
		if drip <= 0 {
			_, _ = w.Write(obj.Data)
			return
		}
		fl, _ := w.(http.Flusher)
		for i := range obj.Data {
			if _, err := w.Write(obj.Data[i : i+1]); err != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
			select {
			case <-time.After(drip):
			case <-r.Context().Done():
				return
			}
		}
	default:
		s.fail(w, r, key, http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed.")
	}
}

func (s *Server) put(w http.ResponseWriter, r *http.Request, key string) {
	s.mu.Lock()
	failing := s.FailPuts > 0
	if failing {
		s.FailPuts--
	}
	s.mu.Unlock()
	if failing {
		s.fail(w, r, key, http.StatusServiceUnavailable, "ServiceUnavailable", "Please reduce your request rate.")
		return
	}
	if s.DenyPrefix != "" && strings.HasPrefix(key, s.DenyPrefix) {
		msg := "You have no right to access this object because of bucket acl."
		if s.EchoDenied {
			msg += " <!channel> <https://evil.example|details> Authorization: " + r.Header.Get("Authorization") +
				" x-oss-security-token: " + r.Header.Get("x-oss-security-token") + " (token " + r.Header.Get("x-oss-security-token") + ")"
		}
		s.fail(w, r, key, http.StatusForbidden, "AccessDenied", msg)
		return
	}
	sse := r.Header.Get("x-oss-server-side-encryption")
	if sse != "" && sse != "AES256" && sse != "KMS" {
		s.fail(w, r, key, http.StatusBadRequest, "InvalidEncryptionAlgorithmError", "The encryption method specified is not supported")
		return
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail(w, r, key, http.StatusBadRequest, "IncompleteBody", err.Error())
		return
	}
	if src := r.Header.Get("x-oss-copy-source"); src != "" {
		s.copy(w, r, key, src, sse, len(data))
		return
	}
	s.mu.Lock()
	if _, exists := s.objects[key]; exists && r.Header.Get("x-oss-forbid-overwrite") == "true" && !s.IgnoreForbidOverwrite {
		// Checked and written under one lock: of two concurrent creators
		// exactly one wins, as in OSS.
		s.mu.Unlock()
		s.fail(w, r, key, http.StatusConflict, "FileAlreadyExists", "The object you specified already exists and can not be overwritten.")
		return
	}
	if s.objects == nil {
		s.objects = map[string]Object{}
	}
	s.objects[key] = Object{Data: data, ContentType: r.Header.Get("Content-Type"), SSE: sse,
		SSEKeyID: r.Header.Get("x-oss-server-side-encryption-key-id"), Modified: time.Now()}
	s.requests = append(s.requests, Request{Method: r.Method, Key: key, Status: 200, Bytes: len(data)})
	s.mu.Unlock()
	w.Header().Set("ETag", fmt.Sprintf(`"%x"`, sha256.Sum256(data)))
	w.WriteHeader(http.StatusOK)
}

// copy serves CopyObject: x-oss-copy-source is /bucket/key, the key
// URL-encoded; the object's content and metadata are copied (the
// x-oss-metadata-directive COPY), its encryption is the request's or the
// source's; x-oss-forbid-overwrite applies as for a put.
func (s *Server) copy(w http.ResponseWriter, r *http.Request, key, src, sse string, sent int) {
	b, k, ok := strings.Cut(strings.TrimPrefix(src, "/"), "/")
	srcKey, err := url.PathUnescape(k)
	if !ok || err != nil || b != s.Bucket || sent > 0 {
		s.fail(w, r, key, http.StatusBadRequest, "InvalidArgument", "x-oss-copy-source is not /bucket/key, or the copy carried a body")
		return
	}
	s.mu.Lock()
	obj, found := s.objects[srcKey]
	_, exists := s.objects[key]
	switch {
	case !found:
		s.mu.Unlock()
		s.fail(w, r, key, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return
	case exists && r.Header.Get("x-oss-forbid-overwrite") == "true" && !s.IgnoreForbidOverwrite:
		s.mu.Unlock()
		s.fail(w, r, key, http.StatusConflict, "FileAlreadyExists", "The object you specified already exists and can not be overwritten.")
		return
	}
	if sse != "" {
		obj.SSE, obj.SSEKeyID = sse, r.Header.Get("x-oss-server-side-encryption-key-id")
	}
	obj.Modified = time.Now()
	s.objects[key] = obj
	s.requests = append(s.requests, Request{Method: r.Method, Key: key, Status: 200, CopySource: srcKey})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "%s<CopyObjectResult><LastModified>%s</LastModified><ETag>\"%x\"</ETag></CopyObjectResult>",
		xml.Header, obj.Modified.UTC().Format(time.RFC3339), sha256.Sum256(obj.Data))
}

// The V4 signature, from the published description ("Signature V4" in the
// OSS documentation):
//
//	CanonicalRequest = Method\n CanonicalURI\n CanonicalQuery\n CanonicalHeaders\n AdditionalHeaders\n HashedPayload
//	StringToSign     = "OSS4-HMAC-SHA256"\n x-oss-date\n date/region/oss/aliyun_v4_request\n hex(sha256(CanonicalRequest))
//	SigningKey       = HMAC(HMAC(HMAC(HMAC("aliyun_v4"+secret, date), region), "oss"), "aliyun_v4_request")
//	Signature        = hex(HMAC(SigningKey, StringToSign))
//
// CanonicalURI is /bucket/object with the object URI-encoded ('/' kept);
// CanonicalHeaders are content-type, content-md5, every x-oss-* header and
// the AdditionalHeaders, lower-cased, trimmed, sorted, "name:value\n" each.
func (s *Server) verify(r *http.Request, bucket, key string) (code, msg string) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "OSS4-HMAC-SHA256 ")
	if !ok {
		return "AccessDenied", "Authorization is not OSS4-HMAC-SHA256"
	}
	var cred, additional, sig string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = v
		case "AdditionalHeaders":
			additional = v
		case "Signature":
			sig = v
		}
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[3] != "oss" || scope[4] != "aliyun_v4_request" || sig == "" {
		return "AccessDenied", "malformed Credential or Signature"
	}
	ak, day, region := scope[0], scope[1], scope[2]
	s.mu.Lock()
	k, ok := s.Keys[ak]
	s.mu.Unlock()
	if !ok {
		return "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records."
	}
	if region != s.Region {
		return "SignatureDoesNotMatch", fmt.Sprintf("the credential's region %q is not the bucket's %q", region, s.Region)
	}
	// The request time is x-oss-date (ISO 8601) or, without it, the Date
	// header (RFC 1123), which is what the Go SDK sends; the string to sign
	// carries the header's value as sent.
	date := r.Header.Get("x-oss-date")
	t, err := time.Parse("20060102T150405Z", date)
	if date == "" {
		date = r.Header.Get("Date")
		t, err = time.Parse(http.TimeFormat, date)
	}
	if err != nil || t.UTC().Format("20060102") != day {
		return "AccessDenied", "x-oss-date (or Date) is missing or does not match the credential's date"
	}
	clock := time.Now
	if s.Clock != nil {
		clock = s.Clock
	}
	if d := clock().Sub(t); d > 15*time.Minute || d < -15*time.Minute {
		return "RequestTimeTooSkewed", "The difference between the request time and the current time is too large."
	}
	payload := r.Header.Get("x-oss-content-sha256")
	if payload == "" {
		return "AccessDenied", "x-oss-content-sha256 is missing"
	}
	if k.SecurityToken != "" && r.Header.Get("x-oss-security-token") != k.SecurityToken {
		return "InvalidSecurityToken", "The security token you provided is invalid."
	}
	if k.SecurityToken == "" && r.Header.Get("x-oss-security-token") != "" {
		return "InvalidAccessKeyId", "a security token came with a long-term key"
	}

	headers := map[string]string{}
	var addList []string
	if additional != "" {
		addList = strings.Split(additional, ";")
	}
	for name, vals := range r.Header {
		l := strings.ToLower(name)
		if l == "content-type" || l == "content-md5" || strings.HasPrefix(l, "x-oss-") || slices.Contains(addList, l) {
			headers[l] = strings.TrimSpace(vals[0])
		}
	}
	if slices.Contains(addList, "host") {
		headers["host"] = r.Host
	}
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	var ch strings.Builder
	for _, n := range names {
		ch.WriteString(n + ":" + headers[n] + "\n")
	}
	uri := "/" + bucket + "/" + encode(key, false)
	canonical := r.Method + "\n" + uri + "\n" + canonicalQuery(r.URL.Query()) + "\n" + ch.String() + "\n" + additional + "\n" + payload
	sum := sha256.Sum256([]byte(canonical))
	sts := "OSS4-HMAC-SHA256\n" + date + "\n" + day + "/" + region + "/oss/aliyun_v4_request\n" + hex.EncodeToString(sum[:])
	mac := func(key []byte, data string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(data))
		return h.Sum(nil)
	}
	signing := mac(mac(mac(mac([]byte("aliyun_v4"+k.Secret), day), region), "oss"), "aliyun_v4_request")
	if want := hex.EncodeToString(mac(signing, sts)); !hmac.Equal([]byte(want), []byte(sig)) {
		return "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."
	}
	return "", ""
}

// encode percent-encodes per RFC 3986; slash is kept unless slash is true.
func encode(s string, slash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && !slash {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
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
		v := q.Get(k)
		if v == "" {
			parts = append(parts, encode(k, true))
			continue
		}
		parts = append(parts, encode(k, true)+"="+encode(v, true))
	}
	return strings.Join(parts, "&")
}
