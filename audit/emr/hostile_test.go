package emr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/internal/standin/emulator"
)

// A listing answered with nothing usable is InvalidResponse, never an empty
// result; a real answer (one with a requestId) without the list is empty.
func TestEmptyAndGarbageAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fail     *emulator.Failure
		wantCode string // "" for an empty, successful listing
	}{
		{"empty body", &emulator.Failure{Status: 200, Empty: true}, audit.CodeInvalidResponse},
		{"JSON null", &emulator.Failure{Status: 200, Body: "null"}, audit.CodeInvalidResponse},
		{"JSON array", &emulator.Failure{Status: 200, Body: "[]"}, audit.CodeInvalidResponse},
		{"JSON string", &emulator.Failure{Status: 200, Body: `"ok"`}, audit.CodeInvalidResponse},
		{"empty object", &emulator.Failure{Status: 200, Body: "{}"}, audit.CodeInvalidResponse},
		{"HTML", &emulator.Failure{Status: 200, Body: "<html>maintenance</html>"}, audit.CodeInvalidResponse},
		{"truncated JSON", &emulator.Failure{Status: 200, Body: `{"requestId":"r","workspaces":[`}, audit.CodeRequestFailed},
		{"a code that is not a code", &emulator.Failure{Status: 200, Body: `{"code":"not a code at all","requestId":"r"}`}, audit.CodeInvalidResponse},
		{"requestId without the list", &emulator.Failure{Status: 200, Body: `{"requestId":"r"}`}, ""},
		{"requestId with a null list", &emulator.Failure{Status: 200, Body: `{"requestId":"r","workspaces":null}`}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := testWorld()
			w.Regions["cn-hangzhou"].Fail = tc.fail
			c, _ := setup(t, w, nil)
			ws, err := c.ListWorkspaces(t.Context(), "cn-hangzhou")
			var ae *audit.APIError
			switch {
			case tc.wantCode == "" && (err != nil || len(ws) != 0):
				t.Errorf("got %v, %v; want an empty listing", ws, err)
			case tc.wantCode != "" && (!errors.As(err, &ae) || ae.Code != tc.wantCode):
				t.Errorf("got %v, %v; want %s", ws, err, tc.wantCode)
			}
		})
	}

	// The Livy listings: code 1000000 with a requestId and no data is an
	// empty gateway; without a requestId it is not an answer.
	for body, wantErr := range map[string]bool{
		`{"code":"1000000","requestId":"r"}`:                        false,
		`{"code":"1000000","requestId":"r","data":{"tokens":null}}`: false,
		`{"code":"1000000"}`:                                        true,
		`{"code":"1000000","data":{}}`:                              true,
		`{"requestId":"r","data":{"tokens":[]}}`:                    true, // no success code
	} {
		w := testWorld()
		w.Regions["cn-hangzhou"].Workspaces[0].Gateways[0].Fail = &emulator.Failure{Status: 200, Body: body}
		c, _ := setup(t, w, nil)
		toks, err := c.ListTokens(t.Context(), "cn-hangzhou", "w-1", "lc-1")
		if (err != nil) != wantErr || len(toks) != 0 {
			t.Errorf("%s: got %v, %v; want error %v", body, toks, err, wantErr)
		}
	}
}

// 5xx and 429 are retried whatever their body looks like, and the status
// is kept in the code.
func TestServerErrorsWithoutJSONAreRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fail     *emulator.Failure
		wantCode string
		calls    int
	}{
		{&emulator.Failure{Status: 503, Body: "<html><body>503 Service Temporarily Unavailable</body></html>"}, "HTTP503", 4},
		{&emulator.Failure{Status: 502, Empty: true}, "HTTP502", 4},
		{&emulator.Failure{Status: 429, Body: "slow down"}, "HTTP429", 4},
		{&emulator.Failure{Status: 503, Body: "<html>busy</html>", Times: 2}, "", 3},
		{&emulator.Failure{Status: 404, Body: "<html>not found</html>"}, "HTTP404", 1},
	} {
		w := testWorld()
		w.Regions["cn-hangzhou"].Workspaces[0].Gateways[0].Fail = tc.fail
		c, emu := setup(t, w, nil)
		_, err := c.ListTokens(t.Context(), "cn-hangzhou", "w-1", "lc-1")
		var ae *audit.APIError
		switch {
		case tc.wantCode == "" && err != nil:
			t.Errorf("HTTP %d %d times: got %v, want success after retries", tc.fail.Status, tc.fail.Times, err)
		case tc.wantCode != "" && (!errors.As(err, &ae) || ae.Code != tc.wantCode):
			t.Errorf("HTTP %d: got %v, want %s", tc.fail.Status, err, tc.wantCode)
		}
		if n := len(emu.Requests()); n != tc.calls {
			t.Errorf("HTTP %d: got %d calls, want %d", tc.fail.Status, n, tc.calls)
		}
	}
}

// A redirect is never followed: the signed headers (access key id, STS
// token) would go with it.
func TestRedirectIsRefused(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		fmt.Fprint(w, `{"code":"1000000","requestId":"evil","data":{"tokens":[]}}`)
	}))
	defer other.Close()
	for _, status := range []int{301, 302, 307, 308} {
		w := testWorld()
		w.Regions["cn-hangzhou"].Workspaces[0].Gateways[0].Fail = &emulator.Failure{Status: status, Location: other.URL + "/steal"}
		c, emu := setup(t, w, nil)
		toks, err := c.ListTokens(t.Context(), "cn-hangzhou", "w-1", "lc-1")
		var ae *audit.APIError
		if !errors.As(err, &ae) || ae.Code != fmt.Sprintf("HTTP%d", status) || !strings.Contains(ae.Message, "redirect to "+strings.TrimPrefix(other.URL, "http://")+" refused") {
			t.Errorf("HTTP %d: got %v, %v; want the redirect refused", status, toks, err)
		}
		if n := len(emu.Requests()); n != 1 {
			t.Errorf("HTTP %d: got %d calls, want 1 (not retried)", status, n)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other host got %d requests, want none", n)
	}
}

// An oversized answer is refused as it streams in, not read into memory.
func TestOversizedAnswerIsRefused(t *testing.T) {
	t.Parallel()
	w := testWorld()
	w.Regions["cn-hangzhou"].Workspaces[0].Gateways[0].Pad = 64 << 20
	c, emu := setup(t, w, nil)
	_, err := c.ListTokens(t.Context(), "cn-hangzhou", "w-1", "lc-1")
	var ae *audit.APIError
	if !errors.As(err, &ae) || ae.Code != audit.CodeInvalidResponse || !strings.Contains(ae.Message, "larger than 4 MiB") {
		t.Errorf("got %v, want InvalidResponse naming the cap", err)
	}
	if n := len(emu.Requests()); n != 1 {
		t.Errorf("got %d calls, want 1 (not retried)", n)
	}

	// Padding under the cap is fine.
	w = testWorld()
	w.Regions["cn-hangzhou"].Workspaces[0].Gateways[0].Pad = 1 << 20
	c, _ = setup(t, w, nil)
	if toks, err := c.ListTokens(t.Context(), "cn-hangzhou", "w-1", "lc-1"); err != nil || len(toks) != 1 {
		t.Errorf("1 MiB answer: got %v, %v", toks, err)
	}
}

// A body that drips in never outlasts the call's time bound.
func TestDrippingAnswerEnds(t *testing.T) {
	t.Parallel()
	w := testWorld()
	w.Regions["cn-hangzhou"].Workspaces[0].Gateways[0].Drip = emulator.Duration(50 * time.Millisecond)
	emu := &emulator.Server{World: w, Keys: map[string]emulator.Key{testAK: {Secret: testSecret}}}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c, err := New(Options{Endpoint: srv.URL, Credential: staticCred(t, testAK, testSecret, ""), Timeout: 300 * time.Millisecond, Retries: 1,
		Sleep: noSleep})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.ListTokens(t.Context(), "cn-hangzhou", "w-1", "lc-1")
	var ae *audit.APIError
	if !errors.As(err, &ae) || ae.Code != audit.CodeRequestFailed || !strings.Contains(err.Error(), "gave up after 2 attempts") {
		t.Errorf("got %v, want RequestFailed after 2 attempts", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v; each attempt is bounded by 300ms", d)
	}
}

// A server-requested wait longer than a minute fails the attempt at once.
func TestHugeRetryAfterIsNotHonoured(t *testing.T) {
	t.Parallel()
	w := testWorld()
	w.Regions["cn-hangzhou"].Workspaces[0].Gateways[0].Fail = &emulator.Failure{Status: 400, Code: "Throttling.User", Message: "slow down", RetryAfter: "7200000"}
	var slept []time.Duration
	emu := &emulator.Server{World: w, Keys: map[string]emulator.Key{testAK: {Secret: testSecret}}}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c, err := New(Options{Endpoint: srv.URL, Credential: staticCred(t, testAK, testSecret, ""),
		Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }, Retries: 3, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListTokens(t.Context(), "cn-hangzhou", "w-1", "lc-1")
	if err == nil || !strings.Contains(err.Error(), "Throttling.User") || !strings.Contains(err.Error(), "the server asked to wait 2h0m0s") || len(slept) != 0 {
		t.Errorf("got %v after sleeping %v; want one attempt naming the code and the wait", err, slept)
	}
	if n := len(emu.Requests()); n != 1 {
		t.Errorf("got %d calls, want 1", n)
	}
}

// A rogue endpoint that echoes the signed headers cannot get them into a
// result or an error.
func TestEchoedCredentialsAreScrubbed(t *testing.T) {
	t.Parallel()
	const ak, secret, sts = "STS.EchoKey01", "echo-secret-3f", "echo-sts-token-never-print-77"
	w := testWorld()
	w.Regions["cn-hangzhou"].Workspaces[1].Fail = &emulator.Failure{Status: 403, Code: "Forbidden.RAM", Message: "denied"}
	emu := &emulator.Server{World: w, Keys: map[string]emulator.Key{ak: {Secret: secret, SecurityToken: sts}}, Echo: true}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c, err := New(Options{Endpoint: srv.URL, Credential: staticCred(t, ak, secret, sts), Sleep: noSleep, Retries: 3, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	toks, err1 := c.ListTokens(t.Context(), "cn-hangzhou", "w-1", "lc-1")
	_, err2 := c.ListGateways(t.Context(), "cn-hangzhou", "w-2")
	out := fmt.Sprintf("%+v %v %v", toks, err1, err2)
	if err1 != nil || err2 == nil || !strings.Contains(out, "[redacted]") {
		t.Fatalf("got %s; want the token listed and the gateway listing denied, with the echo redacted", out)
	}
	for _, s := range []string{ak, sts, secret} {
		if strings.Contains(out, s) {
			t.Errorf("%q leaked: %s", s, out)
		}
	}
}

// Times that are not real instants make that field unknown on that token;
// the listing goes on.
func TestOutOfRangeTimes(t *testing.T) {
	t.Parallel()
	w := testWorld()
	g := w.Regions["cn-hangzhou"].Workspaces[0].Gateways[0]
	g.Tokens = append(g.Tokens,
		&emulator.Token{TokenID: "tk-far", ExpireTime: emulator.Raw("253402300800000"), CreateTime: emulator.Raw("-5"), LastUsedTime: emulator.Raw("1.5")},
		&emulator.Token{TokenID: "tk-odd", ExpireTime: emulator.Raw(`"soon"`), CreateTime: emulator.Raw("99999999999999999999"), LastUsedTime: emulator.Raw("true")},
		&emulator.Token{TokenID: "tk-none", ExpireTime: emulator.Raw("-1"), CreateTime: emulator.Raw("0"), LastUsedTime: emulator.Raw("null")},
	)
	c, _ := setup(t, w, nil)
	toks, err := c.ListTokens(t.Context(), "cn-hangzhou", "w-1", "lc-1")
	if err != nil || len(toks) != 4 {
		t.Fatalf("got %v, %v; want all 4 tokens", toks, err)
	}
	want := map[string]string{
		"tk-far":  "createTime: -5 is negative, not a time; expireTime: 253402300800000 is past year 9999, not a time; lastUsedTime: is not an integer number of milliseconds",
		"tk-odd":  "createTime: is out of range, not a time; expireTime: is not a number; lastUsedTime: is not a number",
		"tk-none": "",
	}
	for _, tk := range toks[1:] {
		var got []string
		for _, e := range tk.DataErrors {
			got = append(got, e.Field+": "+e.Message)
		}
		if s := strings.Join(got, "; "); s != want[tk.ID] {
			t.Errorf("%s: got %q, want %q", tk.ID, s, want[tk.ID])
		}
		if !tk.CreateTime.IsZero() || !tk.ExpireTime.IsZero() || !tk.LastUsedTime.IsZero() {
			t.Errorf("%s: got times %v, want none kept", tk.ID, tk)
		}
	}
}

func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }
