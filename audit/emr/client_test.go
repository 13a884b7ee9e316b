package emr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	scrubpkg "livy-token-audit/internal/scrub"
	"livy-token-audit/internal/standin/emulator"
)

const (
	testAK     = "LTAI5tTestKey0001"
	testSecret = "test-secret-never-print-4c1d"
	tokenValue = "lvt-SECRET-client-test-8d7e6f"
)

func staticCred(t *testing.T, ak, secret, sts string) credentials.Credential {
	t.Helper()
	cfg := &credentials.Config{Type: dara.String("access_key"), AccessKeyId: dara.String(ak), AccessKeySecret: dara.String(secret)}
	if sts != "" {
		cfg.Type, cfg.SecurityToken = dara.String("sts"), dara.String(sts)
	}
	c, err := credentials.NewCredential(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testWorld() *emulator.World {
	at := func(s string) emulator.Time {
		t, _ := time.Parse(time.RFC3339, s)
		return emulator.At(t)
	}
	return &emulator.World{Regions: map[string]*emulator.Region{
		"cn-hangzhou": {Workspaces: []*emulator.Workspace{
			{ID: "w-1", Name: "one", Gateways: []*emulator.Gateway{
				{ID: "lc-1", Name: "gw one", Status: "Running", Tokens: []*emulator.Token{
					{TokenID: "tk-1", Name: "etl", Token: tokenValue, CreatedBy: "alice",
						CreateTime: at("2026-01-01T00:00:00Z"), ExpireTime: at("2027-01-01T00:00:00Z"), LastUsedTime: at("2026-11-01T00:00:00Z")},
				}},
			}},
			{ID: "w-2", Name: "two"}, {ID: "w-3", Name: "three"}, {ID: "w-4", Name: "four"}, {ID: "w-5", Name: "five"},
		}},
	}}
}

// setup starts the emulator on loopback and returns a client pointed at it,
// with retries that do not sleep.
func setup(t *testing.T, world *emulator.World, cred credentials.Credential) (*Client, *emulator.Server) {
	t.Helper()
	emu := &emulator.Server{World: world, Keys: map[string]emulator.Key{testAK: {Secret: testSecret}}, PageSize: 2}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	if cred == nil {
		cred = staticCred(t, testAK, testSecret, "")
	}
	c, err := New(Options{Endpoint: srv.URL, Credential: cred, Timeout: 5 * time.Second,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }, Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	return c, emu
}

func TestListWorkspacesFollowsPages(t *testing.T) {
	t.Parallel()
	c, emu := setup(t, testWorld(), nil)
	ws, err := c.ListWorkspaces(t.Context(), "cn-hangzhou")
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 5 || ws[0] != (audit.Workspace{ID: "w-1", Name: "one"}) || ws[4].ID != "w-5" {
		t.Errorf("got %+v, want w-1..w-5 with names", ws)
	}
	if n := len(emu.Requests()); n != 3 {
		t.Errorf("got %d requests, want 3 pages", n)
	}
}

func TestListTokensDropsTheValue(t *testing.T) {
	t.Parallel()
	c, emu := setup(t, testWorld(), nil)
	gws, err := c.ListGateways(t.Context(), "cn-hangzhou", "w-1")
	if err != nil || len(gws) != 1 || gws[0] != (audit.Gateway{ID: "lc-1", Name: "gw one", Status: "Running"}) {
		t.Fatalf("ListGateways: got %+v, %v", gws, err)
	}
	toks, err := c.ListTokens(t.Context(), "cn-hangzhou", "w-1", "lc-1")
	if err != nil {
		t.Fatal(err)
	}
	want := audit.Token{ID: "tk-1", Name: "etl", CreatedBy: "alice",
		CreateTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ExpireTime: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		LastUsedTime: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	if len(toks) != 1 || !reflect.DeepEqual(toks[0], want) {
		t.Errorf("got %+v, want %+v", toks, want)
	}
	if s := fmt.Sprintf("%+v %#v", toks, toks); strings.Contains(s, tokenValue) {
		t.Error("the token value survived decoding")
	}
	if r := emu.Requests()[1]; r.Action != "ListLivyComputeToken" || r.Path != "/api/interactive/v1/workspace/w-1/livycompute/lc-1/token" || r.Region != "cn-hangzhou" {
		t.Errorf("request: got %+v", r)
	}
}

// With a run's key, a token's value is measured as it is decoded — never
// made into a string — and nothing of it is kept but the measure.
func TestListTokensMeasuresTheValue(t *testing.T) {
	t.Parallel()
	_, emu := setup(t, testWorld(), nil)
	key, err := audit.NewSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	c, err := New(Options{Endpoint: srv.URL, Credential: staticCred(t, testAK, testSecret, ""), Timeout: 5 * time.Second, SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	toks, err := c.ListTokens(t.Context(), "cn-hangzhou", "w-1", "lc-1")
	if err != nil || len(toks) != 1 {
		t.Fatalf("got %+v, %v", toks, err)
	}
	if !toks[0].Secret.Same(key.Measure([]byte(tokenValue))) || toks[0].Secret.Bits() < 128 {
		t.Errorf("the value was not measured: %v bits", toks[0].Secret.Bits())
	}
	if s := fmt.Sprintf("%+v %#v %v", toks, toks, toks[0].Secret); strings.Contains(s, tokenValue) || !strings.Contains(s, "[secret]") {
		t.Errorf("printed: %s", s)
	}
}

// GetLivyCompute says whether a gateway has a public endpoint; a failure is
// the API's error.
func TestGatewayDetails(t *testing.T) {
	t.Parallel()
	w := testWorld()
	g := w.Regions["cn-hangzhou"].Workspaces[0].Gateways[0]
	g.EnablePublic = true
	c, emu := setup(t, w, nil)
	d, err := c.GatewayDetails(t.Context(), "cn-hangzhou", "w-1", "lc-1")
	if err != nil || d != (audit.GatewayDetails{Public: true, AuthType: "Token"}) {
		t.Errorf("got %+v, %v", d, err)
	}
	if r := emu.Requests()[0]; r.Action != "GetLivyCompute" || r.Path != "/api/interactive/v1/workspace/w-1/livycompute/lc-1" {
		t.Errorf("request: got %+v", r)
	}
	g.DetailsFail = &emulator.Failure{Status: 403, Code: "Forbidden.RAM", Message: "not authorized"}
	_, err = c.GatewayDetails(t.Context(), "cn-hangzhou", "w-1", "lc-1")
	var ae *audit.APIError
	if !errors.As(err, &ae) || ae.Code != "Forbidden.RAM" {
		t.Errorf("got %v, want Forbidden.RAM", err)
	}
}

func TestWrongSecretIsRefused(t *testing.T) {
	t.Parallel()
	c, emu := setup(t, testWorld(), staticCred(t, testAK, "not-the-secret", ""))
	_, err := c.ListGateways(t.Context(), "cn-hangzhou", "w-1")
	var ae *audit.APIError
	if !errors.As(err, &ae) || ae.Code != "SignatureDoesNotMatch" {
		t.Fatalf("got %v, want SignatureDoesNotMatch", err)
	}
	if n := len(emu.Requests()); n != 1 {
		t.Errorf("got %d requests, want 1 (a 403 is not retried)", n)
	}
	if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "not-the-secret") {
		t.Error("the error carries a secret")
	}
}

func TestUnknownKeyIsRefused(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, testWorld(), staticCred(t, "LTAI5tOther", testSecret, ""))
	_, err := c.ListGateways(t.Context(), "cn-hangzhou", "w-1")
	var ae *audit.APIError
	if !errors.As(err, &ae) || ae.Code != "InvalidAccessKeyId.NotFound" {
		t.Fatalf("got %v, want InvalidAccessKeyId.NotFound", err)
	}
}

func TestSTSToken(t *testing.T) {
	t.Parallel()
	emu := &emulator.Server{World: testWorld(), Keys: map[string]emulator.Key{"STS.AK1": {Secret: "sts-secret", SecurityToken: "sts-token-1"}}}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		token, wantCode string
	}{{"sts-token-1", ""}, {"sts-token-other", "InvalidSecurityToken.Mismatch"}} {
		c, err := New(Options{Endpoint: srv.URL, Credential: staticCred(t, "STS.AK1", "sts-secret", tc.token), Retries: 3, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ListGateways(t.Context(), "cn-hangzhou", "w-1")
		var ae *audit.APIError
		switch {
		case tc.wantCode == "" && err != nil:
			t.Errorf("token %s: got %v, want success", tc.token, err)
		case tc.wantCode != "" && (!errors.As(err, &ae) || ae.Code != tc.wantCode):
			t.Errorf("token %s: got %v, want %s", tc.token, err, tc.wantCode)
		}
	}
	if r := emu.Requests()[0]; r.SecurityToken != "sts-token-1" || r.AccessKeyID != "STS.AK1" {
		t.Errorf("request: got %+v, want the STS token and key", r)
	}
}

// tamper changes a request after it was signed.
type tamper struct {
	rt http.RoundTripper
	f  func(*http.Request)
}

func (t tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	t.f(r)
	return t.rt.RoundTrip(r)
}

func TestEmulatorRejectsTamperedRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, wantCode string
		f              func(*http.Request)
	}{
		{"query changed", "SignatureDoesNotMatch", func(r *http.Request) { r.URL.RawQuery = "regionId=cn-shanghai" }},
		{"path changed", "SignatureDoesNotMatch", func(r *http.Request) {
			r.URL.Path = "/api/interactive/v1/workspace/w-2/livycompute"
			r.URL.RawPath = ""
		}},
		{"signed header changed", "SignatureDoesNotMatch", func(r *http.Request) { r.Header.Set("x-acs-signature-nonce", "other") }},
		{"unsigned x-acs header added", "IncompleteSignature", func(r *http.Request) { r.Header.Set("x-acs-extra", "1") }},
		{"content hash removed", "InvalidContentSha256", func(r *http.Request) { r.Header.Del("x-acs-content-sha256") }},
		{"stale date", "InvalidTimeStamp.Expired", func(r *http.Request) {
			r.Header.Set("x-acs-date", time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05Z"))
		}},
		{"no authorization", "IncompleteSignature", func(r *http.Request) { r.Header.Del("Authorization") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			emu := &emulator.Server{World: testWorld(), Keys: map[string]emulator.Key{testAK: {Secret: testSecret}}}
			srv := httptest.NewServer(emu)
			defer srv.Close()
			// The SDK's own transport is not injectable per request, so the
			// tampering proxy sits in front of the emulator instead.
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.RequestURI = ""
				r.URL.Scheme, r.URL.Host = "http", strings.TrimPrefix(srv.URL, "http://")
				resp, err := tamper{http.DefaultTransport, tc.f}.RoundTrip(r)
				if err != nil {
					w.WriteHeader(502)
					return
				}
				defer resp.Body.Close()
				for k, v := range resp.Header {
					w.Header()[k] = v
				}
				w.WriteHeader(resp.StatusCode)
				buf := make([]byte, 64<<10)
				n, _ := resp.Body.Read(buf)
				_, _ = w.Write(buf[:n])
			}))
			defer proxy.Close()
			c, err := New(Options{Endpoint: proxy.URL, Credential: staticCred(t, testAK, testSecret, ""), Retries: 0, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ListGateways(t.Context(), "cn-hangzhou", "w-1")
			var ae *audit.APIError
			if !errors.As(err, &ae) || ae.Code != tc.wantCode {
				t.Errorf("got %v, want %s", err, tc.wantCode)
			}
		})
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fail      *emulator.Failure
		wantCode  string
		wantCalls int
	}{
		{"body code on HTTP 200", &emulator.Failure{Status: 200, Code: "2000001", Message: "livy compute not ready"}, "2000001", 1},
		{"not JSON on HTTP 200", &emulator.Failure{Status: 200, Body: "<html>gateway</html>"}, audit.CodeInvalidResponse, 1},
		{"JSON of the wrong shape", &emulator.Failure{Status: 200, Body: `{"code":"1000000","data":{"tokens":"lvt-SECRET-shape"}}`}, audit.CodeInvalidResponse, 1},
		{"throttled once then fine", &emulator.Failure{Status: 429, Code: "Throttling.User", Times: 1}, "", 2},
		{"5xx every time", &emulator.Failure{Status: 503, Code: "ServiceUnavailable", Message: "try later"}, "ServiceUnavailable", 4},
		{"403 not retried", &emulator.Failure{Status: 403, Code: "Forbidden.RAM", Message: "no"}, "Forbidden.RAM", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := testWorld()
			w.Regions["cn-hangzhou"].Workspaces[0].Gateways[0].Fail = tc.fail
			c, emu := setup(t, w, nil)
			toks, err := c.ListTokens(t.Context(), "cn-hangzhou", "w-1", "lc-1")
			var ae *audit.APIError
			switch {
			case tc.wantCode == "" && (err != nil || len(toks) != 1):
				t.Errorf("got %v, %v; want the token after a retry", toks, err)
			case tc.wantCode != "" && (!errors.As(err, &ae) || ae.Code != tc.wantCode):
				t.Errorf("got %v, want code %s", err, tc.wantCode)
			}
			if err != nil && strings.Contains(err.Error(), "lvt-SECRET") {
				t.Errorf("error %q echoes the response body", err)
			}
			if n := len(emu.Requests()); n != tc.wantCalls {
				t.Errorf("got %d calls, want %d", n, tc.wantCalls)
			}
		})
	}
}

func TestGiveUpSaysHowManyAttempts(t *testing.T) {
	t.Parallel()
	w := testWorld()
	w.Regions["cn-hangzhou"].Workspaces[0].Fail = &emulator.Failure{Status: 500, Code: "InternalError"}
	c, _ := setup(t, w, nil)
	_, err := c.ListGateways(t.Context(), "cn-hangzhou", "w-1")
	if err == nil || !strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Errorf("got %v, want it to say it gave up after 4 attempts", err)
	}
}

func TestNewRejectsBadEndpoint(t *testing.T) {
	t.Parallel()
	for _, ep := range []string{"ftp://x", "http://", "https://host/path"} {
		if _, err := New(Options{Endpoint: ep, Credential: staticCred(t, testAK, testSecret, ""), Retries: 3, Timeout: 10 * time.Second}); err == nil {
			t.Errorf("New(%q): got no error", ep)
		}
	}
}

// FuzzDecode feeds arbitrary bodies to the three decoders, telling them that
// "lvt-SECRET" is secret: nothing they return, result or error, may carry it,
// and no body may make them panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"code":"1000000","requestId":"r","data":{"tokens":[{"tokenId":"t","createTime":1,"expireTime":"2","lastUsedTime":null}]}}`))
	f.Add([]byte(`{"code":1000000,"data":{"tokens":[{"tokenId":"t","token":"lvt-SECRET-f","name":"x lvt-SECRET"}]}}`))
	f.Add([]byte(`{"Code":"lvt-SECRET-f","Message":"lvt-SECRET"}`))
	f.Add([]byte(`{"requestId":"r","workspaces":[{"workspaceId":"w","workspaceName":"lvt-SECRET"}],"nextToken":"n"}`))
	f.Add([]byte(`{"code":"1000000","requestId":"r","data":{"livyComputes":[{"computeId":"c","name":"n"}]}}`))
	f.Add([]byte(`{"code":"1000000","requestId":"r","data":{"computeId":"c","enablePublic":true,"authType":"Token"}}`))
	f.Add([]byte(`{"code":"1000000","data":{"tokens":[{"tokenId":"t","expireTime":253402300800000,"createTime":1.5,"lastUsedTime":"soon"}]}}`))
	f.Add([]byte(``))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"code":"1000000","data":{"tokens":[{"tokenId":"t","token":"lvt-SECRET-\u00e9\ud83d\ude00\ud800x\n\"\\/"}]}}`))
	f.Add([]byte("{\"code\":\"1000000\",\"data\":{\"tokens\":[{\"tokenId\":\"t\",\"token\":\"bad \xff\xfe utf-8 \xe2\x82\"}]}}"))
	scrub := scrubber{scrubpkg.New("lvt-SECRET")}
	key, err := audit.NewSecretKey()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(what string, v any, err error) {
			if s := fmt.Sprintf("%+v %v", v, err); strings.Contains(s, "lvt-SECRET") {
				t.Fatalf("%s leaks the secret: %s", what, s)
			}
			var ae *audit.APIError
			if err != nil && !errors.As(err, &ae) {
				t.Fatalf("%s: got %T %v, want an *audit.APIError", what, err, err)
			}
		}
		toks, err := decodeTokens(b, scrub, key)
		check("tokens", toks, err)
		// Each value is measured as encoding/json reads it (here, in the
		// test, as a string).
		var std struct {
			Data struct {
				Tokens []struct {
					Token any `json:"token"`
				} `json:"tokens"`
			} `json:"data"`
		}
		if err == nil && json.Unmarshal(b, &std) == nil && len(std.Data.Tokens) == len(toks) {
			for i, tk := range toks {
				v, ok := std.Data.Tokens[i].Token.(string)
				if want := key.Measure([]byte(v)); ok && v != "" && !tk.Secret.Same(want) || (!ok || v == "") && tk.Secret.Known() {
					t.Fatalf("token %d: its value was not measured as encoding/json reads it", i)
				}
			}
		}
		for _, tk := range toks {
			for _, tm := range []time.Time{tk.CreateTime, tk.ExpireTime, tk.LastUsedTime} {
				if tm.Year() > 9999 {
					t.Fatalf("a time past year 9999 was kept: %v", tm)
				}
			}
		}
		gws, err := decodeGateways(b, scrub)
		check("gateways", gws, err)
		det, err := decodeDetails(b, scrub)
		check("details", det, err)
		wss, next, err := decodeWorkspaces(b, scrub)
		check("workspaces", wss, err)
		_ = next
	})
}

// An ID that would change the request's path is never sent: "..", ".",
// a slash (from a flag, an event, or the API's own answers).
func TestPathIDsAreRefused(t *testing.T) {
	t.Parallel()
	c, err := New(Options{Endpoint: "http://127.0.0.1:1", Credential: staticCred(t, testAK, testSecret, ""), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, ids := range [][2]string{{"..", "lc-1"}, {"w-1", "."}, {"w/1", "lc-1"}, {"w-1", `lc\1`}, {"", "lc-1"}} {
		_, err := c.ListTokens(t.Context(), "cn-hangzhou", ids[0], ids[1])
		var ae *audit.APIError
		if !errors.As(err, &ae) || ae.Code != audit.CodeInvalidResponse || !strings.Contains(ae.Message, "not an ID") {
			t.Errorf("%q: got %v, want InvalidResponse before any call", ids, err)
		}
	}
	if _, err := c.ListGateways(t.Context(), "cn-hangzhou", ".."); err == nil {
		t.Error("ListGateways(..) was sent")
	}
}
