// Package emulator is a stand-in for the EMR Serverless Spark API that runs
// on loopback. It serves ListWorkspaces, ListLivyCompute and
// ListLivyComputeToken from a World, verifies the ACS3-HMAC-SHA256 signature
// (and STS token) of every request, and can inject failures. The demo and the
// tests run the real client against it.
package emulator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// World is what the emulated account holds. Times in it are RFC 3339
// strings, or raw numbers sent as they are (to test 0, -1 and the like).
type World struct {
	Regions map[string]*Region `json:"regions"`
}

// Region holds the workspaces of one region.
type Region struct {
	Workspaces []*Workspace `json:"workspaces"`
	// Fail makes ListWorkspaces fail.
	Fail *Failure `json:"failListWorkspaces,omitempty"`
}

// Workspace is one workspace and its gateways.
type Workspace struct {
	ID       string     `json:"workspaceId"`
	Name     string     `json:"workspaceName"`
	Gateways []*Gateway `json:"gateways"`
	// Kyuubi are the workspace's Kyuubi services (kyuubi.go), and
	// KyuubiFail fails their listing.
	Kyuubi     []*Gateway `json:"kyuubiServices,omitempty"`
	KyuubiFail *Failure   `json:"failListKyuubi,omitempty"`
	// Members are the workspace's members (ListMembers), MembersFail
	// fails their listing.
	Members     []Member `json:"members,omitempty"`
	MembersFail *Failure `json:"failListMembers,omitempty"`
	// Fail makes ListLivyCompute fail for this workspace.
	Fail *Failure `json:"failListGateways,omitempty"`
}

// Gateway is one Livy Gateway and its tokens.
type Gateway struct {
	ID     string   `json:"computeId"`
	Name   string   `json:"name"`
	Status string   `json:"status"`
	Tokens []*Token `json:"tokens"`
	// Fail makes ListLivyComputeToken fail for this gateway.
	Fail *Failure `json:"fail,omitempty"`
	// EnablePublic and AuthType are what GetLivyCompute says of the
	// gateway's exposure (AuthType "Token" when empty); DetailsFail makes
	// that call fail.
	EnablePublic bool `json:"enablePublic,omitempty"`
	// CreatedBy is who created the gateway (GetLivyCompute's createdBy).
	CreatedBy   string   `json:"createdBy,omitempty"`
	AuthType    string   `json:"authType,omitempty"`
	DetailsFail *Failure `json:"detailsFail,omitempty"`
	// Pad inflates a successful token listing with that many bytes of
	// padding (an oversized answer); Drip sends it one byte every Drip.
	Pad  int      `json:"pad,omitempty"`
	Drip Duration `json:"drip,omitempty"`
}

// Token is one token, secret value included: the emulator sends it like the
// real API does, so tests can prove the audit drops it.
type Token struct {
	TokenID      string `json:"tokenId"`
	Name         string `json:"name"`
	Token        string `json:"token"`
	CreatedBy    string `json:"createdby"`
	CreateTime   Time   `json:"createTime"`
	ExpireTime   Time   `json:"expireTime"`
	LastUsedTime Time   `json:"lastUsedTime"`
	// AppearsAt hides the token before that time; RevokedAt hides it from
	// then on; Uses are later uses that move lastUsedTime once passed. They
	// let a world evolve between demo runs.
	AppearsAt *time.Time  `json:"appearsAt,omitempty"`
	RevokedAt *time.Time  `json:"revokedAt,omitempty"`
	Uses      []time.Time `json:"uses,omitempty"`
	// MemberArns and AccountNames are a Kyuubi token's; Unmasked makes its
	// listing return the value whole, as a broken or hostile endpoint could.
	MemberArns   []string `json:"memberArns,omitempty"`
	AccountNames []string `json:"accountNames,omitempty"`
	Unmasked     bool     `json:"unmasked,omitempty"`
}

// Failure is an injected failure. With Times > 0 only the first Times calls
// fail; From and Until bound, in world time, when it applies.
type Failure struct {
	// Status is the HTTP status (default 500); 200 reports the failure in
	// the body's code, as the Livy APIs do.
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Body is sent as it is instead of an error document; Empty sends no
	// body at all.
	Body  string `json:"body,omitempty"`
	Empty bool   `json:"empty,omitempty"`
	// Location is where a 3xx answer points.
	Location string `json:"location,omitempty"`
	// RetryAfter is sent as x-acs-retry-after (milliseconds).
	RetryAfter string `json:"retryAfter,omitempty"`
	// Delay waits before answering; Drip sends the body one byte at a time.
	Delay Duration   `json:"delay,omitempty"`
	Drip  Duration   `json:"drip,omitempty"`
	Times int        `json:"times,omitempty"`
	From  *time.Time `json:"from,omitempty"`
	Until *time.Time `json:"until,omitempty"`
	calls int
}

// Duration is a time.Duration written as "250ms" in JSON.
type Duration time.Duration

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// Time is a fixture time: an RFC 3339 string, a raw number, or absent. Any
// other JSON value (1.5, "soon", a number past int64) is sent as it is, to
// test what the client makes of it.
type Time struct {
	ms  int64
	set bool
	raw json.RawMessage
}

// Raw returns a fixture time sent as the given JSON, as it is.
func Raw(js string) Time { return Time{set: true, raw: json.RawMessage(js)} }

func (t Time) value() any {
	if t.raw != nil {
		return t.raw
	}
	return t.ms
}

// At returns a fixture time for t.
func At(t time.Time) Time { return Time{ms: t.UnixMilli(), set: true} }

// UnmarshalJSON reads an RFC 3339 string or a number of epoch ms.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if bytes.HasPrefix(b, []byte(`"`)) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if v, err := time.Parse(time.RFC3339, s); err == nil {
			*t = At(v)
			return nil
		}
	}
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*t = Time{ms: n, set: true}
		return nil
	}
	*t = Raw(string(b))
	return nil
}

// Key is an access key the emulator accepts; SecurityToken is set for STS
// credentials and must then come with every request. A key of Account sees
// that account's world (Server.Worlds), and no other; a key without one
// sees Server.World.
type Key struct {
	Secret        string
	SecurityToken string
	Account       string
	// Actions are the API actions the key's RAM policy allows (nil: all):
	// any other is refused with 403 Forbidden.RAM, as RAM refuses it.
	Actions []string
}

// Request is one request the emulator accepted or refused, for tests.
type Request struct {
	Action        string
	Path          string
	Region        string
	AccessKeyID   string
	SecurityToken string
	Account       string
	Status        int
	At            time.Time
}

// Server is the emulator; it implements http.Handler.
type Server struct {
	World *World
	// Worlds are the worlds of other accounts, by account ID.
	Worlds map[string]*World
	Keys   map[string]Key
	// Now is the world's clock: it decides which tokens exist and which
	// failures apply (default time.Now).
	Now func() time.Time
	// Clock checks x-acs-date against real time (default time.Now).
	Clock func() time.Time
	// PageSize caps ListWorkspaces pages (default 20, or the request's
	// maxResults when smaller).
	PageSize int
	// Echo makes the emulator hostile: it copies the caller's credentials
	// (access key id, STS token) into token names and error messages, as a
	// rogue endpoint could.
	Echo bool
	// Latency delays every authenticated answer (an API's round trip).
	Latency time.Duration
	// Record keeps every request for Requests (default true; a benchmark
	// of a large fleet turns it off and reads the counters instead).
	NoRecord bool

	inFlight, maxInFlight atomic.Int64
	served                atomic.Int64

	mu       sync.Mutex
	nonces   map[string]time.Time
	requests []Request
	mux      *http.ServeMux
	once     sync.Once
}

// LoadWorld decodes a world fixture.
func LoadWorld(b []byte) (*World, error) {
	var w World
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("emulator: world: %w", err)
	}
	return &w, nil
}

// AddKey lets one more key in (an STS stand-in issuing credentials).
func (s *Server) AddKey(id string, k Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Keys == nil {
		s.Keys = map[string]Key{}
	}
	s.Keys[id] = k
}

func (s *Server) key(id string) (Key, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.Keys[id]
	return k, ok
}

// MaxInFlight is the most requests the emulator was answering at once.
func (s *Server) MaxInFlight() int { return int(s.maxInFlight.Load()) }

// Served is how many authenticated requests were answered.
func (s *Server) Served() int { return int(s.served.Load()) }

// MaxInWindow is the most requests accepted within any window of length d
// (per account and region when byScope), from the recorded requests.
func (s *Server) MaxInWindow(d time.Duration, byScope bool) int {
	by := map[string][]time.Time{}
	for _, r := range s.Requests() {
		k := ""
		if byScope {
			k = r.Account + "/" + r.Region
		}
		by[k] = append(by[k], r.At)
	}
	most := 0
	for _, ts := range by {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		j := 0
		for i := range ts {
			for ts[i].Sub(ts[j]) >= d {
				j++
			}
			most = max(most, i-j+1)
		}
	}
	return most
}

// Requests returns the requests served so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) clock() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /api/v1/workspaces", s.listWorkspaces)
	s.mux.HandleFunc("GET /api/interactive/v1/workspace/{ws}/livycompute", s.listGateways)
	s.mux.HandleFunc("GET /api/interactive/v1/workspace/{ws}/livycompute/{gw}/token", s.listTokens)
	s.mux.HandleFunc("GET /api/interactive/v1/workspace/{ws}/livycompute/{gw}", s.getGateway)
	s.mux.HandleFunc("DELETE /api/interactive/v1/workspace/{ws}/livycompute/{gw}/token/{token}", s.deleteToken)
	s.mux.HandleFunc("GET /api/v1/auth/{ws}/members", s.listMembers)
	s.mux.HandleFunc("GET /api/v1/kyuubi/{ws}", s.listKyuubi)
	s.mux.HandleFunc("GET /api/v1/kyuubi/{ws}/{gw}", s.getKyuubi)
	s.mux.HandleFunc("GET /api/v1/workspaces/{ws}/kyuubiService/{gw}/token", s.listKyuubiTokens)
	s.mux.HandleFunc("DELETE /api/v1/workspaces/{ws}/kyuubiService/{gw}/token/{token}", s.deleteKyuubiToken)
	s.nonces = map[string]time.Time{}
}

// ServeHTTP verifies the request's signature, then serves it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.once.Do(s.routes)
	// A request's time is when it arrived, not when it was answered: the
	// rate tests count arrivals, and the signature check takes its time
	// (more under -race).
	r = r.WithContext(context.WithValue(r.Context(), arrivalKey{}, time.Now()))
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for m := s.maxInFlight.Load(); n > m && !s.maxInFlight.CompareAndSwap(m, n); m = s.maxInFlight.Load() {
	}
	if s.Latency > 0 {
		select {
		case <-time.After(s.Latency):
		case <-r.Context().Done():
			return
		}
	}
	// Every answer is dated by the emulator's clock, as a server's by its
	// own (the preflight compares it with the caller's).
	w.Header().Set("Date", s.clock().UTC().Format(http.TimeFormat))
	s.mux.ServeHTTP(w, r)
	s.served.Add(1)
}

// arrivalKey holds a request's arrival time in its context.
type arrivalKey struct{}

func arrival(r *http.Request) time.Time {
	if t, ok := r.Context().Value(arrivalKey{}).(time.Time); ok {
		return t
	}
	return time.Now()
}

func requestID(r *http.Request) string {
	sum := sha256.Sum256([]byte(r.URL.Path))
	return "EMU-" + strings.ToUpper(hex.EncodeToString(sum[:6]))
}

func (s *Server) record(r *http.Request, action string, status int) {
	if s.NoRecord {
		return
	}
	rec := Request{
		Action: action, Path: r.URL.Path, Region: r.URL.Query().Get("regionId"),
		AccessKeyID: r.Header.Get("x-acs-accesskey-id"), SecurityToken: r.Header.Get("x-acs-security-token"), Status: status, At: arrival(r),
	}
	if a, err := parseAuthorization(r.Header.Get("Authorization")); err == nil {
		rec.AccessKeyID = a.accessKeyID
		if k, ok := s.key(a.accessKeyID); ok {
			rec.Account = k.Account
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, rec)
}

// roaError writes an error the way ROA APIs do.
func roaError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"RequestId": requestID(r), "HostId": r.Host, "Code": code, "Message": msg})
}

// authenticate checks the signature and returns the world the key sees;
// it writes the error and returns false when the request is refused.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, action string) (*World, bool) {
	refuse := func(status int, code, msg string) (*World, bool) {
		s.record(r, action, status)
		roaError(w, r, status, code, msg)
		return nil, false
	}
	a, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return refuse(400, "IncompleteSignature", err.Error())
	}
	key, ok := s.key(a.accessKeyID)
	if !ok {
		return refuse(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	if got := r.Header.Get("x-acs-action"); got != action {
		return refuse(400, "InvalidAction", fmt.Sprintf("x-acs-action is %q, want %q", got, action))
	}
	if got := r.Header.Get("x-acs-version"); got != "2023-08-08" {
		return refuse(400, "InvalidVersion", fmt.Sprintf("x-acs-version is %q, want 2023-08-08", got))
	}
	date, err := time.Parse("2006-01-02T15:04:05Z", r.Header.Get("x-acs-date"))
	if err != nil {
		return refuse(400, "InvalidTimeStamp.Format", "x-acs-date is not yyyy-MM-ddTHH:mm:ssZ")
	}
	if d := s.clock().Sub(date); d > 15*time.Minute || d < -15*time.Minute {
		return refuse(400, "InvalidTimeStamp.Expired", "x-acs-date is more than 15 minutes off")
	}
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(r.Body)
	sum := sha256.Sum256(body.Bytes())
	if got := r.Header.Get("x-acs-content-sha256"); got != hex.EncodeToString(sum[:]) {
		return refuse(400, "InvalidContentSha256", "x-acs-content-sha256 does not match the body")
	}
	if err := checkSignedHeaders(r, a.signedHeaders); err != nil {
		return refuse(400, "IncompleteSignature", err.Error())
	}
	want := signature(key.Secret, canonicalRequest(r, a.signedHeaders, hex.EncodeToString(sum[:])))
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return refuse(403, "SignatureDoesNotMatch", "The request signature does not conform to Aliyun standards.")
	}
	if key.SecurityToken != "" || r.Header.Get("x-acs-security-token") != "" {
		if r.Header.Get("x-acs-security-token") != key.SecurityToken || key.SecurityToken == "" {
			return refuse(403, "InvalidSecurityToken.Mismatch", "The security token does not match the access key.")
		}
		if r.Header.Get("x-acs-accesskey-id") != a.accessKeyID {
			return refuse(403, "InvalidSecurityToken.Mismatch", "x-acs-accesskey-id does not match the Credential.")
		}
	}
	nonce := r.Header.Get("x-acs-signature-nonce")
	s.mu.Lock()
	_, used := s.nonces[nonce]
	s.nonces[nonce] = date
	s.mu.Unlock()
	if used {
		return refuse(400, "SignatureNonceUsed", "The request signature nonce has been used.")
	}
	if key.Actions != nil && !slices.Contains(key.Actions, action) {
		return refuse(403, "Forbidden.RAM", "User not authorized to operate on the specified resource: "+action+".")
	}
	if key.Account != "" {
		return s.Worlds[key.Account], true
	}
	return s.World, true
}

// Edit runs f, which changes the world, under the emulator's lock: every
// request served after it sees the change (each takes the lock before it
// reads the world). A test that edits the world while the emulator serves
// (a process of the binary is about to call it) edits it here.
func (s *Server) Edit(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// Arrived is how many calls have reached the injected failure f so far
// (those it delays are counted on arrival).
func (s *Server) Arrived(f *Failure) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return f.calls
}

// fail applies an injected failure; it returns true when it answered.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, action string, f *Failure) bool {
	if f == nil {
		return false
	}
	s.mu.Lock()
	f.calls++
	now := s.now()
	active := (f.Times == 0 || f.calls <= f.Times) && (f.Until == nil || now.Before(*f.Until)) && (f.From == nil || !now.Before(*f.From))
	delay := time.Duration(f.Delay)
	s.mu.Unlock()
	if !active {
		return false
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return true
		}
	}
	status := f.Status
	if status == 0 {
		status = 500
	}
	s.record(r, action, status)
	if f.RetryAfter != "" {
		w.Header().Set("x-acs-retry-after", f.RetryAfter)
	} else if status == 429 {
		w.Header().Set("x-acs-retry-after", "1")
	}
	var body []byte
	switch {
	case status >= 300 && status < 400:
		w.Header().Set("Location", f.Location)
	case f.Empty:
	case f.Body != "":
		body = []byte(f.Body)
	case status == 200: // a failure in the body code, as the Livy APIs report them
		body, _ = json.Marshal(map[string]any{"code": f.Code, "message": s.echo(r, f.Message), "requestId": requestID(r)})
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
	default:
		body, _ = json.Marshal(map[string]string{"RequestId": requestID(r), "HostId": r.Host, "Code": f.Code, "Message": s.echo(r, f.Message)})
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
	}
	w.WriteHeader(status)
	drip(w, r, body, time.Duration(f.Drip))
	return true
}

// echo appends the caller's credentials to a text when the emulator is
// hostile.
func (s *Server) echo(r *http.Request, text string) string {
	if !s.Echo {
		return text
	}
	a, _ := parseAuthorization(r.Header.Get("Authorization"))
	return text + " [echo: " + a.accessKeyID + " " + r.Header.Get("x-acs-security-token") + "]"
}

// drip writes body, one byte every d when d > 0, until the client goes.
func drip(w http.ResponseWriter, r *http.Request, body []byte, d time.Duration) {
	if d <= 0 {
		_, _ = w.Write(body)
		return
	}
	fl, _ := w.(http.Flusher)
	for i := range body {
		if _, err := w.Write(body[i : i+1]); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func region(world *World, r *http.Request) *Region {
	if world == nil {
		return nil
	}
	return world.Regions[r.URL.Query().Get("regionId")]
}

func workspace(world *World, r *http.Request) *Workspace {
	reg := region(world, r)
	if reg == nil {
		return nil
	}
	for _, ws := range reg.Workspaces {
		if ws.ID == r.PathValue("ws") {
			return ws
		}
	}
	return nil
}

func (s *Server) listWorkspaces(w http.ResponseWriter, r *http.Request) {
	const action = "ListWorkspaces"
	world, ok := s.authenticate(w, r, action)
	if !ok {
		return
	}
	reg := region(world, r)
	if reg != nil && s.fail(w, r, action, reg.Fail) {
		return
	}
	var all []*Workspace
	if reg != nil {
		all = reg.Workspaces
	}
	size := s.PageSize
	if size <= 0 {
		size = 20
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("maxResults")); err == nil && n > 0 && n < size {
		size = n
	}
	start := 0
	if tok := r.URL.Query().Get("nextToken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "page-"))
		if err != nil || n < 0 || n > len(all) {
			s.record(r, action, 400)
			roaError(w, r, 400, "InvalidParameter", "nextToken is not valid")
			return
		}
		start = n
	}
	end := min(start+size, len(all))
	type ws struct {
		WorkspaceID   string `json:"workspaceId"`
		WorkspaceName string `json:"workspaceName"`
		State         string `json:"state"`
	}
	page := []ws{}
	for _, x := range all[start:end] {
		page = append(page, ws{x.ID, x.Name, "RUNNING"})
	}
	next := ""
	if end < len(all) {
		next = "page-" + strconv.Itoa(end)
	}
	s.record(r, action, 200)
	writeJSON(w, map[string]any{"requestId": requestID(r), "workspaces": page, "nextToken": next, "maxResults": size, "totalCount": len(all)})
}

func (s *Server) listGateways(w http.ResponseWriter, r *http.Request) {
	const action = "ListLivyCompute"
	world, ok := s.authenticate(w, r, action)
	if !ok {
		return
	}
	ws := workspace(world, r)
	if ws == nil {
		s.record(r, action, 404)
		roaError(w, r, 404, "WorkspaceNotFound", "The workspace does not exist in this region.")
		return
	}
	if s.fail(w, r, action, ws.Fail) {
		return
	}
	type gw struct {
		ComputeID string `json:"computeId"`
		Name      string `json:"name"`
		Status    string `json:"status"`
	}
	list := []gw{}
	for _, g := range ws.Gateways {
		list = append(list, gw{g.ID, g.Name, g.Status})
	}
	s.record(r, action, 200)
	writeJSON(w, map[string]any{"code": "1000000", "message": "ok", "requestId": requestID(r), "data": map[string]any{"livyComputes": list}})
}

// getGateway serves GetLivyCompute: a gateway's details, its exposure
// among them.
func (s *Server) getGateway(w http.ResponseWriter, r *http.Request) {
	const action = "GetLivyCompute"
	g := s.gatewayOf(w, r, action, func(g *Gateway) *Failure { return g.DetailsFail })
	if g == nil {
		return
	}
	auth := g.AuthType
	if auth == "" {
		auth = "Token"
	}
	s.record(r, action, 200)
	writeJSON(w, map[string]any{"code": "1000000", "message": "ok", "requestId": requestID(r), "data": map[string]any{
		"computeId": g.ID, "name": g.Name, "status": g.Status, "enablePublic": g.EnablePublic, "authType": auth, "createdBy": g.CreatedBy,
	}})
}

// gatewayOf authenticates a request for action on the gateway its path
// names, and applies the gateway's injected failure (failure picks which);
// it answers and returns nil when the request is refused, the gateway is
// not there, or the failure applies.
func (s *Server) gatewayOf(w http.ResponseWriter, r *http.Request, action string, failure func(*Gateway) *Failure) *Gateway {
	world, ok := s.authenticate(w, r, action)
	if !ok {
		return nil
	}
	g := gateway(world, r)
	if g == nil {
		s.record(r, action, 404)
		roaError(w, r, 404, "LivyComputeNotFound", "The Livy compute does not exist.")
		return nil
	}
	if s.fail(w, r, action, failure(g)) {
		return nil
	}
	return g
}

// gateway is the gateway the request's path names, or nil.
func gateway(world *World, r *http.Request) *Gateway {
	ws := workspace(world, r)
	if ws == nil {
		return nil
	}
	for _, x := range ws.Gateways {
		if x.ID == r.PathValue("gw") {
			return x
		}
	}
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	const action = "ListLivyComputeToken"
	g := s.gatewayOf(w, r, action, func(g *Gateway) *Failure { return g.Fail })
	if g == nil {
		return
	}
	now := s.now()
	s.mu.Lock()
	toks := g.Tokens // a delete replaces the slice, never edits it
	s.mu.Unlock()
	type wireToken struct {
		TokenID      string `json:"tokenId"`
		Name         string `json:"name"`
		Token        string `json:"token"`
		CreatedBy    string `json:"createdby"`
		CreateTime   any    `json:"createTime,omitempty"`
		ExpireTime   any    `json:"expireTime,omitempty"`
		LastUsedTime any    `json:"lastUsedTime,omitempty"`
	}
	list := make([]wireToken, 0, len(toks))
	for _, t := range toks {
		if t.AppearsAt != nil && now.Before(*t.AppearsAt) || t.RevokedAt != nil && !now.Before(*t.RevokedAt) {
			continue
		}
		last := t.LastUsedTime
		for _, u := range t.Uses {
			if !u.After(now) && (!last.set || u.UnixMilli() > last.ms) {
				last = At(u)
			}
		}
		wt := wireToken{TokenID: t.TokenID, Name: s.echo(r, t.Name), Token: t.Token, CreatedBy: t.CreatedBy}
		for _, f := range []struct {
			v   Time
			out *any
		}{{t.CreateTime, &wt.CreateTime}, {t.ExpireTime, &wt.ExpireTime}, {last, &wt.LastUsedTime}} {
			if f.v.set {
				*f.out = f.v.value()
			}
		}
		list = append(list, wt)
	}
	s.record(r, action, 200)
	type answer struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"requestId"`
		Data      struct {
			Tokens []wireToken `json:"tokens"`
		} `json:"data"`
	}
	ans := answer{Code: "1000000", Message: "ok", RequestID: requestID(r)}
	ans.Data.Tokens = list
	body, _ := json.Marshal(ans)
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	if g.Pad > 0 {
		// {"padding":"xxx…", ...the answer...}: streamed (chunked, no
		// Content-Length), never held whole.
		_, _ = w.Write([]byte(`{"padding":"`))
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for left := g.Pad; left > 0; left -= len(chunk) {
			if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
				return
			}
		}
		_, _ = w.Write([]byte(`",`))
		_, _ = w.Write(body[1:])
		return
	}
	drip(w, r, body, time.Duration(g.Drip))
}

// deleteToken serves DeleteLivyComputeToken: a visible token is removed
// from its gateway (the slice is replaced, so a listing being served keeps
// its own); a token that is not there is 404 LivyComputeTokenNotFound.
func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) {
	const action = "DeleteLivyComputeToken"
	g := s.gatewayOf(w, r, action, func(g *Gateway) *Failure { return g.Fail })
	if g == nil {
		return
	}
	now := s.now()
	s.mu.Lock()
	i := slices.IndexFunc(g.Tokens, func(t *Token) bool {
		return t.TokenID == r.PathValue("token") && (t.AppearsAt == nil || !now.Before(*t.AppearsAt)) && (t.RevokedAt == nil || now.Before(*t.RevokedAt))
	})
	if i >= 0 {
		g.Tokens = slices.Delete(slices.Clone(g.Tokens), i, i+1)
	}
	s.mu.Unlock()
	if i < 0 {
		s.record(r, action, 404)
		roaError(w, r, 404, "LivyComputeTokenNotFound", "The Livy compute token does not exist.")
		return
	}
	s.record(r, action, 200)
	writeJSON(w, map[string]any{"code": "1000000", "message": "ok", "requestId": requestID(r), "data": map[string]any{}})
}

// Fleet returns a world of one region with gateways gateways spread over
// workspaces workspaces, each gateway with tokensPer tokens: some expiring,
// some stale, some unused, relative to at. Benchmarks and scale tests
// audit it.
func Fleet(region string, workspaces, gateways, tokensPer int, at time.Time) *World {
	reg := &Region{}
	for w := range workspaces {
		reg.Workspaces = append(reg.Workspaces, &Workspace{ID: fmt.Sprintf("w-%04d", w), Name: fmt.Sprintf("team-%d", w)})
	}
	day := 24 * time.Hour
	for g := range gateways {
		ws := reg.Workspaces[g%workspaces]
		gw := &Gateway{ID: fmt.Sprintf("lc-%05d", g), Name: fmt.Sprintf("gateway-%d", g), Status: "Running"}
		for k := range tokensPer {
			t := &Token{TokenID: fmt.Sprintf("tk-%05d-%03d", g, k), Name: fmt.Sprintf("job-%d", k), Token: fmt.Sprintf("lvt-SECRET-%05d-%03d-%032x", g, k, g*1000+k),
				CreatedBy: fmt.Sprintf("user%d", k%17), CreateTime: At(at.Add(-time.Duration(30+k%300) * day))}
			switch k % 4 {
			case 0:
				t.ExpireTime, t.LastUsedTime = At(at.Add(time.Duration(k%10)*day)), At(at.Add(-time.Hour))
			case 1:
				t.ExpireTime, t.LastUsedTime = At(at.Add(200*day)), At(at.Add(-time.Duration(k%90)*day))
			case 2:
				t.ExpireTime = At(at.Add(400 * day))
			}
			gw.Tokens = append(gw.Tokens, t)
		}
		ws.Gateways = append(ws.Gateways, gw)
	}
	return &World{Regions: map[string]*Region{region: reg}}
}
