package ossstore

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit/store"
	"livy-token-audit/internal/retry"
	"livy-token-audit/internal/standin/ossemu"
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
func setup(t *testing.T, c credentials.Credential, mod func(*Options)) (*Store, *ossemu.Server) {
	t.Helper()
	emu := &ossemu.Server{Bucket: "audit-snapshots", Region: "cn-hangzhou", Keys: map[string]ossemu.Key{
		ak: {Secret: secret}, "STS.Key1": {Secret: "sts-secret", SecurityToken: "sts-token-xyz"},
	}}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	if c == nil {
		c = cred(t, ak, secret, "")
	}
	o := Options{Bucket: "audit-snapshots", Region: "cn-hangzhou", Endpoint: srv.URL, Prefix: "livy/", ServerSideEncryption: "AES256",
		Credential: c, Timeout: 5 * time.Second, Retrier: retry.Retrier{Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }}}
	if mod != nil {
		mod(&o)
	}
	st, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return st, emu
}

func TestPutGetRoundTrip(t *testing.T) {
	t.Parallel()
	st, emu := setup(t, nil, nil)
	if err := st.Put(t.Context(), "2026/11/27/20261127T090000Z.json", store.Bytes([]byte(`{"schemaVersion":1}`))); err != nil {
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
	if _, err := st.Get(t.Context(), "latest.json"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of a missing key: got %v, want ErrNotFound", err)
	}
}

func TestKMS(t *testing.T) {
	t.Parallel()
	st, emu := setup(t, nil, func(c *Options) { c.ServerSideEncryption, c.KMSKeyID = "KMS", "key-123" })
	if err := st.Put(t.Context(), "a.json", store.Bytes([]byte("{}"))); err != nil {
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
	if err := st.Put(t.Context(), "a.json", store.Bytes([]byte("{}"))); err != nil {
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
		mod    func(*Options)
		deny   string
		want   []string
		nCalls int
	}{
		{"access denied", nil, nil, "livy/", []string{"AccessDenied", "need oss:PutObject on acs:oss:*:*:audit-snapshots/livy/*"}, 1},
		{"no such bucket", nil, func(c *Options) { c.Bucket = "other-bucket" }, "", []string{"NoSuchBucket", `bucket "other-bucket" does not exist`}, 1},
		{"wrong secret", cred(t, ak, "wrong-secret", ""), nil, "", []string{"SignatureDoesNotMatch", "not valid for OSS"}, 1},
		{"wrong STS token", cred(t, "STS.Key1", "sts-secret", "sts-token-other"), nil, "", []string{"InvalidSecurityToken"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, emu := setup(t, tc.cred, tc.mod)
			emu.DenyPrefix = tc.deny
			err := st.Put(t.Context(), "a.json", store.Bytes([]byte("{}")))
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
	if err := st.Put(t.Context(), "a.json", store.Bytes([]byte("{}"))); err != nil {
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
	st, _ = setup(t, nil, func(c *Options) { c.PresignLinks = 24 * time.Hour })
	u := st.Location(t.Context(), "x.json")
	if !strings.Contains(u, "x-oss-signature") || !strings.Contains(u, "x-oss-expires=86400") || strings.Contains(u, secret) {
		t.Errorf("presigned link: got %s, want a V4 presigned URL valid 24h without the secret", u)
	}
	st, _ = setup(t, cred(t, "STS.Key1", "sts-secret", "sts-token-xyz"), func(c *Options) { c.PresignLinks = 24 * time.Hour })
	if u := st.Location(t.Context(), "x.json"); strings.Contains(u, "sts-token") || !strings.HasPrefix(u, "https://oss.console.aliyun.com/") {
		t.Errorf("with STS credentials: got %s, want the console link (a presigned URL would carry the token)", u)
	}
}

func TestCreateIsExclusive(t *testing.T) {
	t.Parallel()
	st, emu := setup(t, nil, nil)
	const key = "2026/11/27/x.notified.json"
	results := make(chan error, 8)
	for range 8 {
		go func() { results <- st.Create(t.Context(), key, []byte(`{"state":"posting"}`)) }()
	}
	won := 0
	for range 8 {
		switch err := <-results; {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrExists):
			t.Errorf("got %v, want ErrExists for the losers", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d creators won, want exactly 1", won)
	}
	if b := emu.Objects()["livy/"+key].Data; string(b) != `{"state":"posting"}` {
		t.Errorf("the object holds %q, want the winner's", b)
	}
}

// A load balancer's HTML 503 is retried like OSS's own.
func TestHTML503IsRetried(t *testing.T) {
	t.Parallel()
	st, emu := setup(t, nil, nil)
	emu.FailPuts, emu.FailGets, emu.FailBody = 2, 2, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
	if err := st.Put(t.Context(), "a.json", store.Bytes([]byte("{}"))); err != nil {
		t.Fatalf("put: %v", err)
	}
	if b, err := st.Get(t.Context(), "a.json"); err != nil || string(b) != "{}" {
		t.Fatalf("get: %q, %v", b, err)
	}
	if n := len(emu.Requests()); n != 6 {
		t.Errorf("got %d requests, want 3 puts and 3 gets", n)
	}
	emu.FailPuts = 10
	err := st.Put(t.Context(), "a.json", store.Bytes([]byte("{}")))
	if err == nil || !strings.Contains(err.Error(), "HTTP 503 with a body that is not an OSS error document") || !strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Errorf("got %v, want the status named after 4 attempts", err)
	}
}

// A redirect is never followed: the signed request would go with it.
func TestOSSRedirectIsRefused(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	st, emu := setup(t, nil, nil)
	emu.Redirect = other.URL + "/steal"
	err := st.Put(t.Context(), "a.json", store.Bytes([]byte("{}")))
	if err == nil || !strings.Contains(err.Error(), "HTTP 302 redirect to "+strings.TrimPrefix(other.URL, "http://")+" refused") {
		t.Errorf("got %v, want the redirect refused", err)
	}
	if _, err := st.Get(t.Context(), "latest.json"); err == nil {
		t.Error("get through a redirect: got no error")
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
	if n := len(emu.Requests()); n != 2 {
		t.Errorf("got %d requests, want 2 (a redirect is not retried)", n)
	}
}

// A read that drips in ends within the per-request bound.
func TestDrippingReadEnds(t *testing.T) {
	t.Parallel()
	emu := &ossemu.Server{Bucket: "audit-snapshots", Region: "cn-hangzhou", Keys: map[string]ossemu.Key{ak: {Secret: secret}}, Drip: 20 * time.Millisecond}
	emu.PutObject("livy/latest.json", []byte(strings.Repeat(" ", 1000)+"{}"))
	srv := httptest.NewServer(emu)
	defer srv.Close()
	st, err := New(Options{Bucket: "audit-snapshots", Region: "cn-hangzhou", Endpoint: srv.URL, Prefix: "livy/",
		Credential: cred(t, ak, secret, ""), Timeout: 300 * time.Millisecond,
		Retrier: retry.Retrier{Attempts: 2, Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = st.Get(t.Context(), "latest.json")
	if err == nil || !strings.Contains(err.Error(), "gave up after 2 attempts") {
		t.Errorf("got %v, want a timeout after 2 attempts", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v; each attempt is bounded by 300ms", d)
	}
}

// An oversized object is not read into memory.
func TestOversizedObjectIsRefused(t *testing.T) {
	t.Parallel()
	st, emu := setup(t, nil, nil)
	emu.PutObject("livy/latest.json", make([]byte, store.MaxObjectBytes+1))
	_, err := st.Get(t.Context(), "latest.json")
	if !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("got %v, want ErrTooLarge", err)
	}
	if n := len(emu.Requests()); n != 1 {
		t.Errorf("got %d requests, want 1 (not retried)", n)
	}
}

// Copy is a server-side CopyObject: the object's bytes are not sent again,
// the copy keeps the content type and gets the configured encryption, and
// a missing source is store.ErrNotFound.
func TestCopyIsServerSide(t *testing.T) {
	t.Parallel()
	st, emu := setup(t, nil, nil)
	page := []byte("<!doctype html><title>x</title>")
	if err := st.Put(t.Context(), "2026/11/27/x.html", store.Bytes(page)); err != nil {
		t.Fatal(err)
	}
	if err := st.Copy(t.Context(), "2026/11/27/x.html", "latest.html"); err != nil {
		t.Fatal(err)
	}
	got := emu.Objects()["livy/latest.html"]
	if string(got.Data) != string(page) || got.ContentType != "text/html; charset=utf-8" || got.SSE != "AES256" {
		t.Errorf("copy: got %q (%s, %s), want the page, as HTML, encrypted", got.Data, got.ContentType, got.SSE)
	}
	reqs := emu.Requests()
	last := reqs[len(reqs)-1]
	if last.CopySource != "livy/2026/11/27/x.html" || last.Bytes != 0 || last.Key != "livy/latest.html" {
		t.Errorf("the copy was %+v, want a CopyObject of livy/2026/11/27/x.html with no body", last)
	}
	if err := st.Copy(t.Context(), "missing.json", "latest.json"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("copy of a missing object: got %v, want store.ErrNotFound", err)
	}
}
