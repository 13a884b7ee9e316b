package roles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/emr"
	"livy-token-audit/internal/standin/emulator"
)

const (
	srcAK     = "LTAI5tSourceKey01"
	srcSecret = "source-secret-never-print-41"
	srcToken  = "source-sts-token-never-print-42"
	arnA      = "acs:ram::1111111111111111:role/livy-token-audit-reader"
	arnDenied = "acs:ram::3333333333333333:role/livy-token-audit-reader"
	arnExt    = "acs:ram::4444444444444444:role/reader"
)

func TestMain(m *testing.M) {
	os.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
	os.Exit(m.Run())
}

type stage struct {
	sts      *emulator.STS
	api      *emulator.Server
	endpoint string
	apiURL   string
}

// setup serves the STS stand-in over TLS and makes the default transport
// (which credentials-go clones) trust its certificate: credentials-go speaks
// HTTPS only.
func setup(t *testing.T) *stage {
	t.Helper()
	world := &emulator.World{Regions: map[string]*emulator.Region{"cn-hangzhou": {Workspaces: []*emulator.Workspace{
		{ID: "w-a", Name: "analytics", Gateways: []*emulator.Gateway{{ID: "lc-a", Name: "a", Tokens: []*emulator.Token{{TokenID: "tk-a", Name: "etl", Token: "lvt-SECRET-a"}}}}},
	}}}}
	st := &stage{api: &emulator.Server{Worlds: map[string]*emulator.World{"1111111111111111": world, "4444444444444444": world}}}
	st.sts = &emulator.STS{
		Keys: map[string]emulator.Key{srcAK: {Secret: srcSecret, SecurityToken: srcToken}},
		Roles: map[string]emulator.Role{
			arnA: {Account: "1111111111111111"}, arnDenied: {Account: "3333333333333333", Deny: true},
			arnExt: {Account: "4444444444444444", ExternalID: "ext-42"},
		},
		API: st.api,
	}
	srv := httptest.NewTLSServer(st.sts)
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	http.DefaultTransport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
	st.endpoint = strings.TrimPrefix(srv.URL, "https://")
	api := httptest.NewServer(st.api)
	t.Cleanup(api.Close)
	st.apiURL = api.URL
	return st
}

func source(t *testing.T, secret string) credentials.Credential {
	t.Helper()
	c, err := credentials.NewCredential(&credentials.Config{Type: dara.String("sts"), AccessKeyId: dara.String(srcAK),
		AccessKeySecret: dara.String(secret), SecurityToken: dara.String(srcToken)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// An assumed role signs the account's API calls, and sees only that
// account's world.
func TestAssumedRoleAuditsItsAccount(t *testing.T) {
	st := setup(t)
	role, err := Assume(source(t, srcSecret), Options{AccountName: "analytics", RoleARN: arnA, STSEndpoint: st.endpoint})
	if err != nil {
		t.Fatal(err)
	}
	if err := role.Check(); err != nil {
		t.Fatal(err)
	}
	c, err := emr.New(emr.Options{Endpoint: st.apiURL, Credential: role.Credential(), Timeout: 10 * time.Second, Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	toks, err := c.ListTokens(t.Context(), "cn-hangzhou", "w-a", "lc-a")
	if err != nil || len(toks) != 1 {
		t.Fatalf("got %v, %v", toks, err)
	}
	reqs := st.sts.Requests()
	if len(reqs) != 1 || reqs[0].SessionName != SessionName || reqs[0].AccessKeyID != srcAK {
		t.Errorf("STS requests: got %+v, want one AssumeRole by the source key with session %s", reqs, SessionName)
	}
	if r := st.api.Requests()[0]; r.Account != "1111111111111111" || !strings.HasPrefix(r.AccessKeyID, "STS.1111111111111111.") {
		t.Errorf("API request: got %+v, want the account's STS key", r)
	}
}

// A role that cannot be assumed is an error naming the account and the
// role, with STS's code, and never a credential.
func TestRoleFailures(t *testing.T) {
	st := setup(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadEndpoint := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		name, arn, ext, secret, endpoint, want string
	}{
		{"denied", arnDenied, "", srcSecret, st.endpoint, "cannot assume role " + arnDenied + " for account risk: NoPermission: You are not authorized"},
		{"unknown role", "acs:ram::5555555555555555:role/none", "", srcSecret, st.endpoint, "EntityNotExist.Role"},
		{"wrong source secret", arnA, "", "not-the-secret", st.endpoint, "SignatureDoesNotMatch"},
		{"external id missing", arnExt, "", srcSecret, st.endpoint, "NoPermission"},
		{"STS unreachable", arnA, "", srcSecret, deadEndpoint, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			role, err := Assume(source(t, tc.secret), Options{AccountName: "risk", RoleARN: tc.arn, ExternalID: tc.ext, STSEndpoint: tc.endpoint})
			if err != nil {
				t.Fatal(err)
			}
			err = role.Check()
			var ae *audit.APIError
			if !errors.As(err, &ae) || ae.Code != CodeAssumeRoleFailed || !strings.Contains(ae.Message, tc.want) || !strings.Contains(ae.Message, tc.arn) {
				t.Fatalf("got %v, want AssumeRoleFailed naming the role and %q", err, tc.want)
			}
			for _, s := range []string{srcSecret, srcToken, srcAK, "not-the-secret", "Signature="} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error leaks %q: %v", s, err)
				}
			}
		})
	}
	// With the external id, the role is assumed.
	role, _ := Assume(source(t, srcSecret), Options{AccountName: "ext", RoleARN: arnExt, ExternalID: "ext-42", STSEndpoint: st.endpoint})
	if err := role.Check(); err != nil {
		t.Errorf("with the external id: %v", err)
	}
}

// Concurrent signers share one assumed session, without a data race.
func TestConcurrentUseAssumesOnce(t *testing.T) {
	st := setup(t)
	role, err := Assume(source(t, srcSecret), Options{AccountName: "analytics", RoleARN: arnA, STSEndpoint: st.endpoint})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := role.Credential().GetCredential(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := len(st.sts.Requests()); n != 1 {
		t.Errorf("got %d AssumeRole calls, want 1", n)
	}
}
