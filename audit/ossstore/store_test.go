package ossstore

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/ossemu"
)

const (
	ak     = "LTAI5tOSSKey01"
	secret = "oss-secret-never-print-91ab"
)

func cred(t *testing.T, id, sk, token string) credentials.Credential {
	t.Helper()
	cfg := &credentials.Config{Type: dara.String("access_key"), AccessKeyId: dara.String(id), AccessKeySecret: dara.String(sk)}
	if token != "" {
		cfg.Type, cfg.SecurityToken = dara.String("sts"), dara.String(token)
	}
	c, err := credentials.NewCredential(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setup starts the stand-in with one bucket and returns a store on it.
func setup(t *testing.T, c credentials.Credential, mod func(*audit.OSSConfig)) (*Store, *ossemu.Server) {
	t.Helper()
	emu := &ossemu.Server{Bucket: "audit-snapshots", Region: "cn-hangzhou", Keys: map[string]ossemu.Key{
		ak: {Secret: secret}, "STS.Key1": {Secret: "sts-secret", SecurityToken: "sts-token-xyz"},
	}}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	cfg := audit.OSSConfig{Bucket: "audit-snapshots", Region: "cn-hangzhou", Endpoint: srv.URL, Prefix: "livy/", ServerSideEncryption: "AES256"}
	if mod != nil {
		mod(&cfg)
	}
	if c == nil {
		c = cred(t, ak, secret, "")
	}
	st, err := New(Options{Config: cfg, Credential: c, Timeout: 5 * time.Second,
		Retrier: audit.Retrier{Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }}})
	if err != nil {
		t.Fatal(err)
	}
	return st, emu
}

func TestPutGetRoundTrip(t *testing.T) {
	t.Parallel()
	st, emu := setup(t, nil, nil)
	if err := st.Put(t.Context(), "2026/11/27/20261127T090000Z.json", []byte(`{"schemaVersion":1}`)); err != nil {
		t.Fatal(err)
	}
	obj, ok := emu.Objects()["livy/2026/11/27/20261127T090000Z.json"]
	if !ok {
		t.Fatalf("objects: got %v, want the prefixed key", emu.Objects())
	}
	if obj.ContentType != "application/json" || obj.SSE != "AES256" {
		t.Errorf("object: got content type %q, SSE %q; want application/json, AES256", obj.ContentType, obj.SSE)
	}
	b, err := st.Get(t.Context(), "2026/11/27/20261127T090000Z.json")
	if err != nil || string(b) != `{"schemaVersion":1}` {
		t.Errorf("Get: got %q, %v", b, err)
	}
	if _, err := st.Get(t.Context(), "latest.json"); !errors.Is(err, audit.ErrNotFound) {
		t.Errorf("Get of a missing key: got %v, want ErrNotFound", err)
	}
}

func TestKMS(t *testing.T) {
	t.Parallel()
	st, emu := setup(t, nil, func(c *audit.OSSConfig) { c.ServerSideEncryption, c.KMSKeyID = "KMS", "key-123" })
	if err := st.Put(t.Context(), "a.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if o := emu.Objects()["livy/a.json"]; o.SSE != "KMS" || o.SSEKeyID != "key-123" {
		t.Errorf("got SSE %q key %q, want KMS key-123", o.SSE, o.SSEKeyID)
	}
}

func TestPutRetriesAfterTwo503s(t *testing.T) {
	t.Parallel()
	st, emu := setup(t, nil, nil)
	emu.FailPuts = 2
	if err := st.Put(t.Context(), "a.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if n := len(emu.Requests()); n != 3 {
		t.Errorf("got %d requests, want 3", n)
	}
}

func TestPutErrorsSayWhatToDo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cred   credentials.Credential
		mod    func(*audit.OSSConfig)
		deny   string
		want   []string
		nCalls int
	}{
		{"access denied", nil, nil, "livy/", []string{"AccessDenied", "need oss:PutObject on acs:oss:*:*:audit-snapshots/livy/*"}, 1},
		{"no such bucket", nil, func(c *audit.OSSConfig) { c.Bucket = "other-bucket" }, "", []string{"NoSuchBucket", `bucket "other-bucket" does not exist`}, 1},
		{"wrong secret", cred(t, ak, "wrong-secret", ""), nil, "", []string{"SignatureDoesNotMatch", "not valid for OSS"}, 1},
		{"wrong STS token", cred(t, "STS.Key1", "sts-secret", "sts-token-other"), nil, "", []string{"InvalidSecurityToken"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, emu := setup(t, tc.cred, tc.mod)
			emu.DenyPrefix = tc.deny
			err := st.Put(t.Context(), "a.json", []byte("{}"))
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %v, want it to contain %q", err, w)
				}
			}
			for _, s := range []string{secret, "wrong-secret", "sts-secret", "sts-token"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error leaks %q", s)
				}
			}
			if n := len(emu.Requests()); n != tc.nCalls {
				t.Errorf("got %d requests, want %d (not retried)", n, tc.nCalls)
			}
		})
	}
}

func TestSTSCredentialsAreAccepted(t *testing.T) {
	t.Parallel()
	st, emu := setup(t, cred(t, "STS.Key1", "sts-secret", "sts-token-xyz"), nil)
	if err := st.Put(t.Context(), "a.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, ok := emu.Objects()["livy/a.json"]; !ok {
		t.Error("object not written")
	}
}

func TestLocation(t *testing.T) {
	t.Parallel()
	st, _ := setup(t, nil, nil)
	if got, want := st.Location(t.Context(), "2026/11/27/x.json"), "https://oss.console.aliyun.com/bucket/oss-cn-hangzhou/audit-snapshots/object?path=livy%2F2026%2F11%2F27%2Fx.json"; got != want {
		t.Errorf("console link: got %s, want %s", got, want)
	}
	st, _ = setup(t, nil, func(c *audit.OSSConfig) { c.PresignLinks = 24 * time.Hour })
	u := st.Location(t.Context(), "x.json")
	if !strings.Contains(u, "x-oss-signature") || !strings.Contains(u, "x-oss-expires=86400") || strings.Contains(u, secret) {
		t.Errorf("presigned link: got %s, want a V4 presigned URL valid 24h without the secret", u)
	}
	st, _ = setup(t, cred(t, "STS.Key1", "sts-secret", "sts-token-xyz"), func(c *audit.OSSConfig) { c.PresignLinks = 24 * time.Hour })
	if u := st.Location(t.Context(), "x.json"); strings.Contains(u, "sts-token") || !strings.HasPrefix(u, "https://oss.console.aliyun.com/") {
		t.Errorf("with STS credentials: got %s, want the console link (a presigned URL would carry the token)", u)
	}
}

func TestEndpoint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    audit.OSSConfig
		want string
	}{
		{audit.OSSConfig{Region: "cn-hangzhou"}, "https://oss-cn-hangzhou.aliyuncs.com"},
		{audit.OSSConfig{Region: "cn-hangzhou", Internal: true}, "https://oss-cn-hangzhou-internal.aliyuncs.com"},
		{audit.OSSConfig{Region: "cn-hangzhou", Endpoint: "http://127.0.0.1:9000"}, "http://127.0.0.1:9000"},
	} {
		if got := Endpoint(tc.c); got != tc.want {
			t.Errorf("Endpoint(%+v): got %s, want %s", tc.c, got, tc.want)
		}
	}
}
