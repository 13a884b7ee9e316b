// Package safehttp builds the HTTP clients that every outside dependency of
// the audit uses (the EMR API, OSS, Slack). They share four rules, so that a
// hostile or broken peer cannot take credentials elsewhere, hang a run or
// balloon its memory:
//
//   - redirects are never followed: a 3xx answer is an error naming its
//     status (a client that followed one would send the signed headers — the
//     access key id, the STS token — to wherever it points);
//   - every request has a total time bound that covers reading the body, so a
//     body that drips one byte a second still ends;
//   - response bodies are read through a size cap; past it the read fails
//     with an error wrapping ErrTooLarge;
//   - the HTTP status of the last response is kept for the caller (through
//     Recorder), so an error body that is not what the SDK expected (a load
//     balancer's HTML 503) can still be classified by its status.
package safehttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ErrTooLarge is wrapped by the error of a body read past its cap.
var ErrTooLarge = errors.New("response body too large")

// Options configure a client.
type Options struct {
	// Timeout bounds one whole request, body included (default 30s).
	Timeout time.Duration
	// MaxBody caps a response body in bytes (default 1 MiB).
	MaxBody int64
	// MaxConnsPerHost sizes the connection pool: idle connections kept per
	// host, so that concurrent calls reuse connections instead of dialing
	// (default 8).
	MaxConnsPerHost int
	// Dial replaces the dialer (tests count dials with it).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// NewClient returns a client that follows the package's rules.
func NewClient(o Options) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 1 << 20
	}
	if o.MaxConnsPerHost <= 0 {
		o.MaxConnsPerHost = 8
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = max(100, 2*o.MaxConnsPerHost)
	tr.MaxIdleConnsPerHost = o.MaxConnsPerHost
	tr.ResponseHeaderTimeout = o.Timeout
	if o.Dial != nil {
		tr.DialContext = o.Dial
	}
	return &http.Client{
		Transport: &Transport{Base: tr, MaxBody: o.MaxBody},
		Timeout:   o.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			// Unreachable while Transport refuses 3xx; kept so a changed
			// transport still never follows one.
			return http.ErrUseLastResponse
		},
	}
}

// Transport refuses redirects, caps bodies and records statuses around a
// base RoundTripper.
type Transport struct {
	Base    http.RoundTripper
	MaxBody int64
}

// RedirectError is a 3xx answer, which is never followed.
type RedirectError struct {
	Status int
	// Host is the host the redirect pointed at ("" when it named none); the
	// rest of the location is not kept (it may carry anything).
	Host string
}

func (e *RedirectError) Error() string {
	to := ""
	if e.Host != "" {
		to = " to " + e.Host
	}
	return fmt.Sprintf("HTTP %d redirect%s refused (credentials are never sent to another location)", e.Status, to)
}

// TooLargeError is a body over the cap.
type TooLargeError struct {
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("response body larger than %s", FormatBytes(e.Limit))
}

// Unwrap makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// RoundTrip sends the request and applies the rules to the answer.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.Base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if rec, ok := req.Context().Value(recorderKey{}).(*Recorder); ok {
		rec.status.Store(int64(resp.StatusCode))
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.StatusCode != http.StatusNotModified {
		_ = resp.Body.Close()
		host := ""
		if loc, err := resp.Location(); err == nil {
			host = loc.Host
		}
		return nil, &RedirectError{Status: resp.StatusCode, Host: host}
	}
	if resp.ContentLength > t.MaxBody {
		_ = resp.Body.Close()
		return nil, &TooLargeError{Limit: t.MaxBody}
	}
	resp.Body = &capped{rc: resp.Body, left: t.MaxBody, limit: t.MaxBody}
	return resp, nil
}

// capped fails a read past its limit instead of returning a truncated body
// that might still parse.
type capped struct {
	rc    io.ReadCloser
	left  int64
	limit int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := c.rc.Read(one[:])
		if n > 0 {
			return 0, &TooLargeError{Limit: c.limit}
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *capped) Close() error { return c.rc.Close() }

// Recorder keeps the HTTP status of the last response to a request made with
// its context.
type Recorder struct {
	status atomic.Int64
}

type recorderKey struct{}

// WithRecorder returns a context whose requests record their status in the
// returned Recorder.
func WithRecorder(ctx context.Context) (context.Context, *Recorder) {
	r := &Recorder{}
	return context.WithValue(ctx, recorderKey{}, r), r
}

// Status is the last status seen, 0 when no response came.
func (r *Recorder) Status() int { return int(r.status.Load()) }

// Retryable says whether an HTTP status can succeed on retry: 429 and 5xx.
func Retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500 && status < 600
}

// FormatBytes renders a size for people: "4 MiB", "512 KiB", "100 bytes".
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Loopback reports whether host (a URL's Hostname) is this machine:
// localhost, 127.0.0.0/8 or ::1. Plain http is accepted there only (tests
// and local stand-ins); anywhere else a destination must be https.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Sent records whether a request went out whole: an error after that (a
// time-out waiting for the answer, a connection closed) leaves it unknown
// whether the peer acted on it.
type Sent struct{ wrote atomic.Bool }

// WithSent returns a context whose requests record in the returned Sent
// when they have been written whole.
func WithSent(ctx context.Context) (context.Context, *Sent) {
	s := &Sent{}
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			s.wrote.Store(true)
		}
	}}), s
}

// Whole reports whether a request went out whole.
func (s *Sent) Whole() bool { return s.wrote.Load() }

// Answered reports whether a request's error came with an answer of the
// peer (a redirect refused, a body over the cap): the peer did answer, so
// the request is not one whose answer was lost.
func Answered(err error) bool {
	return errors.As(err, new(*RedirectError)) || errors.Is(err, ErrTooLarge)
}

// StatusError is an answer that is not 2xx, as every sink reports it: the
// status, what the body says in a few words (a Slack error code, a short
// excerpt the caller scrubbed; empty for an HTML page), and how long the
// server asked to wait (Retry-After; for a 429).
type StatusError struct {
	Status     int
	Detail     string
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d %s", e.Status, e.Detail)
}

// RetryAfter reads a Retry-After header in seconds, fractions allowed: 1s
// when it is missing or unreadable, at most a day.
func RetryAfter(v string) time.Duration {
	s, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || s < 0 || math.IsNaN(s) {
		return time.Second
	}
	return time.Duration(min(s, 86400) * float64(time.Second))
}
