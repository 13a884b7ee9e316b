package safehttp

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBodyCap(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		_, _ = io.WriteString(w, strings.Repeat("x", n))
	}))
	defer srv.Close()
	c := NewClient(Options{MaxBody: 100, Timeout: 5 * time.Second})
	for _, tc := range []struct {
		query   string
		wantErr bool
	}{
		{"n=100", false}, {"n=101", true}, {"n=100&chunked=1", false}, {"n=101&chunked=1", true}, {"n=100000&chunked=1", true},
	} {
		resp, err := c.Get(srv.URL + "?" + tc.query)
		var n int
		if err == nil {
			var b []byte
			b, err = io.ReadAll(resp.Body)
			n = len(b)
			resp.Body.Close()
		}
		if tc.wantErr != errors.Is(err, ErrTooLarge) || !tc.wantErr && n != 100 {
			t.Errorf("%s: read %d bytes, error %v; want too large %v", tc.query, n, err, tc.wantErr)
		}
	}
}

func TestRedirectsAndStatus(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "http://elsewhere.example/x?secret=1", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := NewClient(Options{})
	_, err := c.Get(srv.URL + "/moved")
	var re *RedirectError
	if !errors.As(err, &re) || re.Status != 302 || re.Host != "elsewhere.example" || strings.Contains(re.Error(), "secret") {
		t.Errorf("got %v, want a refused redirect naming only the host", err)
	}
	ctx, rec := WithRecorder(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/busy", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if rec.Status() != 503 || !Retryable(rec.Status()) || Retryable(403) {
		t.Errorf("recorded %d; want 503, retryable", rec.Status())
	}
}
