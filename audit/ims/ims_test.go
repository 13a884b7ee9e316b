package ims

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"livy-token-audit/audit"
	"livy-token-audit/internal/audittest"
	"livy-token-audit/internal/standin/emulator"
)

const (
	ak     = "LTAI5tImsKey01"
	secret = "ims-secret-never-print-5c"
)

func stand(t *testing.T, s *emulator.IMS) *Client {
	t.Helper()
	if s.Keys == nil {
		s.Keys = map[string]emulator.Key{ak: {Secret: secret}}
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := New(Options{Endpoint: srv.URL, Credential: audittest.Credential(t, ak, secret), Timeout: 2 * time.Second,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The client speaks IMS as the official SDK does (the stand-in verifies the
// ACS3 signature): the default domain, a user, a deleted one in the recycle
// bin.
func TestUsers(t *testing.T) {
	t.Parallel()
	s := &emulator.IMS{Domain: "acme.onaliyun.com",
		Users:   map[string]emulator.IMSUser{"alice@acme.onaliyun.com": {UserID: "2001", Email: "alice@acme.example", LastLoginDate: "2026-11-26T08:00:00Z"}},
		Deleted: map[string]emulator.IMSUser{"bob@acme.onaliyun.com": {UserID: "2002", DeleteDate: "2026-10-01T10:00:00Z"}}}
	c := stand(t, s)
	ctx := t.Context()
	domain, err := c.DefaultDomain(ctx)
	if err != nil || domain != "acme.onaliyun.com" {
		t.Fatalf("domain %q, %v", domain, err)
	}
	u, err := c.User(ctx, "alice@acme.onaliyun.com")
	if err != nil || u.UserID != "2001" || u.Email != "alice@acme.example" || u.LastLogin == nil || u.LastLogin.Day() != 26 {
		t.Errorf("alice: %+v, %v", u, err)
	}
	_, err = c.User(ctx, "bob@acme.onaliyun.com")
	var ae *audit.APIError
	if !errors.As(err, &ae) || ae.Code != CodeNoSuchUser {
		t.Fatalf("bob: %v, want %s", err, CodeNoSuchUser)
	}
	d, err := c.InRecycleBin(ctx, "bob@acme.onaliyun.com")
	if err != nil || d == nil || d.UserID != "2002" || d.DeletedAt.Format(time.DateOnly) != "2026-10-01" {
		t.Errorf("bob in the recycle bin: %+v, %v", d, err)
	}
	if d, err := c.InRecycleBin(ctx, "nobody@acme.onaliyun.com"); d != nil || err != nil {
		t.Errorf("nobody: %+v, %v", d, err)
	}
	if _, err := c.DefaultDomain(ctx); err != nil {
		t.Fatal(err)
	}
	calls := s.Calls()
	if n := strings.Count(fmtCalls(calls), "GetDefaultDomain"); n != 1 {
		t.Errorf("GetDefaultDomain asked %d times, want once: %v", n, calls)
	}
	if calls[3].Param != "UserPrincipalName eq bob@acme.onaliyun.com" {
		t.Errorf("the recycle bin's filter: %+v", calls[3])
	}
}

// One client serves calls in flight at once (the fleet resolves owners
// concurrently): under -race this fails when calls share the SDK's client,
// whose RPC path writes a field of it on every call.
func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	s := &emulator.IMS{Domain: "acme.onaliyun.com",
		Users: map[string]emulator.IMSUser{"alice@acme.onaliyun.com": {UserID: "2001"}}}
	c := stand(t, s)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				var u User
				if u, err = c.User(ctx, "alice@acme.onaliyun.com"); err == nil && u.UserID != "2001" {
					err = fmt.Errorf("user %+v", u)
				}
			} else {
				_, err = c.InRecycleBin(ctx, "bob@acme.onaliyun.com")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(s.Calls()); n != 16 {
		t.Errorf("%d calls reached IMS, want 16", n)
	}
}

func fmtCalls(cs []emulator.IMSCall) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(c.Action + " ")
	}
	return b.String()
}

// A name that is not a RAM user name is never put in a request or a
// filter: spaces, markup, quotes, a filter's words, 10,000 characters.
func TestPrincipalNames(t *testing.T) {
	t.Parallel()
	if upn, err := PrincipalName("alice", "acme.onaliyun.com"); err != nil || upn != "alice@acme.onaliyun.com" {
		t.Errorf("alice: %q %v", upn, err)
	}
	for _, bad := range []string{"dave & <script>", "a or UserPrincipalName eq b", `x"y`, strings.Repeat("a", 10000), "", "a b", "ünicode"} {
		if upn, err := PrincipalName(bad, "acme.onaliyun.com"); err == nil {
			t.Errorf("%q became %q", bad, upn)
		}
	}
}

// Denied, slow, endless and hostile answers are errors of their own,
// bounded, and never carry the credential.
func TestFaults(t *testing.T) {
	t.Parallel()
	denied := stand(t, &emulator.IMS{Domain: "acme.onaliyun.com", Keys: map[string]emulator.Key{ak: {Secret: secret, Actions: []string{"GetDefaultDomain"}}}})
	var errs []error
	_, err := denied.User(t.Context(), "alice@acme.onaliyun.com")
	errs = append(errs, err)
	var ae *audit.APIError
	if !errors.As(err, &ae) || ae.Code != "NoPermission" || !strings.Contains(ae.Message, "ram:GetUser") {
		t.Errorf("denied: %v", err)
	}
	slow := stand(t, &emulator.IMS{Domain: "acme.onaliyun.com", Delay: 30 * time.Second})
	start := time.Now()
	_, err = slow.DefaultDomain(t.Context())
	errs = append(errs, err)
	// The bound proves the 2 s timeout, not the 30 s delay, ended the call
	// (with room for a loaded machine under -race).
	if err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("a slow IMS: %v after %s, want an error within the 2 s timeout", err, time.Since(start))
	}
	endless := stand(t, &emulator.IMS{Domain: "acme.onaliyun.com", EndlessRecycleBin: true})
	_, err = endless.InRecycleBin(t.Context(), "bob@acme.onaliyun.com")
	errs = append(errs, err)
	if err == nil || !strings.Contains(err.Error(), "does not end") {
		t.Errorf("an endless recycle bin: %v", err)
	}
	for _, e := range errs {
		if e != nil && (strings.Contains(e.Error(), secret) || strings.Contains(e.Error(), ak)) {
			t.Errorf("the credential in an error: %v", e)
		}
	}
}
