// Package ossstore keeps snapshots in an OSS bucket. It signs with V4
// (OSS4-HMAC-SHA256), takes credentials from credentials-go (so STS tokens
// refresh), and retries what the SDK does not: 5xx, 429 and network errors,
// whatever the error body looks like. Requests go through a safehttp client:
// no redirects, a total time bound per attempt that covers the body, and
// reads capped at store.MaxObjectBytes.
package ossstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit/safehttp"
	"livy-token-audit/audit/store"
	"livy-token-audit/internal/retry"
	"livy-token-audit/internal/scrub"
)

// Options configure a Store. They are resolved by the config (snapshot.oss).
type Options struct {
	Bucket string
	Region string
	// Endpoint is the OSS endpoint: https://oss-{region}.aliyuncs.com, its
	// internal twin, or a stand-in's.
	Endpoint string
	// Prefix is put before every key ("" or ending in /).
	Prefix string
	// ServerSideEncryption is "", AES256 or KMS (with KMSKeyID, optional).
	ServerSideEncryption string
	KMSKeyID             string
	// PresignLinks, when positive, makes Location a presigned GET URL valid
	// that long (with long-term keys only).
	PresignLinks time.Duration
	Credential   credentials.Credential
	// Timeout bounds one request, body included (default 30s).
	Timeout time.Duration
	// Retrier retries what can succeed on retry.
	Retrier retry.Retrier
	Logger  *slog.Logger
}

// Store is a store.Store in OSS: keys are prefixed with Options.Prefix.
type Store struct {
	cfg     Options
	bucket  *oss.Bucket
	retrier retry.Retrier
	log     *slog.Logger
	timeout time.Duration
	// scrub removes the credentials (as they are now: STS tokens refresh)
	// and anything of a secret's shape from errors: an error body may echo
	// the request's headers.
	scrub scrub.Scrubber
}

var _ store.Store = (*Store)(nil)

// New returns a store for the configured bucket. It makes no call.
func New(o Options) (*Store, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	opts := []oss.ClientOption{
		oss.AuthVersion(oss.AuthV4), oss.Region(o.Region),
		oss.SetCredentialsProvider(&provider{o.Credential}),
		oss.HTTPClient(safehttp.NewClient(safehttp.Options{Timeout: timeout, MaxBody: store.MaxObjectBytes})),
		oss.RedirectEnabled(false),
	}
	if u, err := url.Parse(o.Endpoint); err == nil && u.Hostname() == "localhost" {
		opts = append(opts, oss.ForcePathStyle(true))
	}
	client, err := oss.New(o.Endpoint, "", "", opts...)
	if err != nil {
		return nil, fmt.Errorf("oss: client for %s: %w", o.Endpoint, err)
	}
	bucket, err := client.Bucket(o.Bucket)
	if err != nil {
		return nil, fmt.Errorf("oss: bucket %s: %w", o.Bucket, err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st := &Store{cfg: o, bucket: bucket, retrier: o.Retrier, log: log, timeout: timeout}
	st.scrub = scrub.New().WithSource(func() []string {
		m, err := o.Credential.GetCredential()
		if err != nil || m == nil {
			return nil
		}
		return []string{deref(m.AccessKeySecret), deref(m.SecurityToken), deref(m.AccessKeyId)}
	})
	return st, nil
}

// provider adapts a credentials-go credential to the OSS SDK, so that
// refreshed STS tokens are used as they change.
type provider struct{ c credentials.Credential }

type creds struct{ id, secret, token string }

func (c creds) GetAccessKeyID() string     { return c.id }
func (c creds) GetAccessKeySecret() string { return c.secret }
func (c creds) GetSecurityToken() string   { return c.token }

func (p *provider) GetCredentialsE() (oss.Credentials, error) {
	m, err := p.c.GetCredential()
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	return creds{deref(m.AccessKeyId), deref(m.AccessKeySecret), deref(m.SecurityToken)}, nil
}

func (p *provider) GetCredentials() oss.Credentials {
	c, err := p.GetCredentialsE()
	if err != nil {
		return creds{}
	}
	return c
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (s *Store) object(key string) string { return s.cfg.Prefix + key }

// attempt runs one request of op within the per-request time bound (which
// covers reading the body), keeping the HTTP status so that an error body
// the SDK could not parse is still classified by it.
func (s *Store) attempt(ctx context.Context, f func(ctx context.Context) error) error {
	actx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	actx, rec := safehttp.WithRecorder(actx)
	err := f(actx)
	if err == nil {
		return nil
	}
	var se oss.ServiceError
	if !errors.As(err, &se) && rec.Status() >= 400 {
		return &statusError{status: rec.Status(), err: err}
	}
	return err
}

// statusError is a failure whose body the SDK could not parse (a load
// balancer's HTML 503): the status decides.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d with a body that is not an OSS error document", e.status)
}

func (e *statusError) Unwrap() error { return e.err }

// Get reads an object; a missing one is store.ErrNotFound, one larger than
// store.MaxObjectBytes is store.ErrTooLarge.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	name := s.object(key)
	var body []byte
	err := s.retrier.Do(ctx, retryable, func() error {
		return s.attempt(ctx, func(ctx context.Context) error {
			r, err := s.bucket.GetObject(name, oss.WithContext(ctx))
			if err != nil {
				return err
			}
			defer r.Close()
			body, err = io.ReadAll(r)
			return err
		})
	})
	if err != nil {
		var se oss.ServiceError
		switch {
		case errors.As(err, &se) && se.Code == "NoSuchKey":
			return nil, fmt.Errorf("oss: get %s: %w", name, store.ErrNotFound)
		case errors.Is(err, safehttp.ErrTooLarge):
			return nil, fmt.Errorf("oss: get %s: %w", name, store.ErrTooLarge)
		}
		return nil, s.explain("get", name, err)
	}
	return body, nil
}

func (s *Store) putOptions(ctx context.Context, name string) []oss.Option {
	return append([]oss.Option{oss.ContentType(contentType(name)), oss.WithContext(ctx)}, s.sseOptions()...)
}

// sseOptions ask for the configured server-side encryption.
func (s *Store) sseOptions() []oss.Option {
	sse := s.cfg.ServerSideEncryption
	if sse == "" {
		return nil
	}
	opts := []oss.Option{oss.ServerSideEncryption(sse)}
	if s.cfg.KMSKeyID != "" {
		opts = append(opts, oss.ServerSideEncryptionKeyID(s.cfg.KMSKeyID))
	}
	return opts
}

// contentType is the object's type by its name: the report pages are
// HTML, everything else JSON.
func contentType(name string) string {
	if strings.HasSuffix(name, ".html") {
		return "text/html; charset=utf-8"
	}
	return "application/json"
}

// Put writes an object (JSON, or HTML for a page), with server-side encryption
// when configured, retrying 5xx, 429 and network errors. The content is
// spooled to a temporary file first (so that a large snapshot is neither
// held in memory nor sent without a length), then sent from it on each
// attempt.
func (s *Store) Put(ctx context.Context, key string, content store.Content) error {
	name := s.object(key)
	body, cleanup, err := spool(content)
	if err != nil {
		return s.scrub.Err(fmt.Errorf("oss: put %s: %w", name, err))
	}
	defer cleanup()
	return s.put(ctx, "put", name, body)
}

// Create writes an object only if there is none (x-oss-forbid-overwrite):
// OSS answers 409 FileAlreadyExists to the second of two creators.
func (s *Store) Create(ctx context.Context, key string, data []byte) error {
	return s.put(ctx, "create", s.object(key), readerAt{bytes.NewReader(data), int64(len(data))}, oss.ForbidOverWrite(true))
}

// spool writes content to a temporary file and returns it as a reader at
// (the transport closes what it sends, so each attempt gets a section
// reader of its own); where no temporary file can be made, it is held in
// memory.
func spool(content store.Content) (readerAt, func(), error) {
	f, err := os.CreateTemp("", "livy-audit-*.json")
	if err != nil {
		var buf bytes.Buffer
		if err := content(&buf); err != nil {
			return readerAt{}, nil, err
		}
		return readerAt{bytes.NewReader(buf.Bytes()), int64(buf.Len())}, func() {}, nil
	}
	cleanup := func() {
		f.Close()
		os.Remove(f.Name())
	}
	if err := content(f); err != nil {
		cleanup()
		return readerAt{}, nil, err
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		cleanup()
		return readerAt{}, nil, err
	}
	return readerAt{f, size}, cleanup, nil
}

// readerAt is content that each attempt reads from its start.
type readerAt struct {
	r    io.ReaderAt
	size int64
}

func (b readerAt) open() io.Reader { return io.NewSectionReader(b.r, 0, b.size) }

func (s *Store) put(ctx context.Context, op, name string, body readerAt, extra ...oss.Option) error {
	err := s.do(ctx, op, name, func(ctx context.Context) error {
		return s.bucket.PutObject(name, body.open(), append(s.putOptions(ctx, name), extra...)...)
	})
	if err != nil {
		var se oss.ServiceError
		if errors.As(err, &se) && se.Code == "FileAlreadyExists" {
			return fmt.Errorf("oss: %s %s: %w", op, name, store.ErrExists)
		}
		return s.explain(op, name, err)
	}
	return nil
}

// do runs one request of op on name, retrying what can succeed on retry and
// logging each retried failure.
func (s *Store) do(ctx context.Context, op, name string, f func(ctx context.Context) error) error {
	attempt := 0
	return s.retrier.Do(ctx, retryable, func() error {
		attempt++
		err := s.attempt(ctx, f)
		if ok, _ := retryable(err); err != nil && ok {
			s.log.Warn("oss: "+op+" failed", "key", name, "attempt", attempt, "error", s.scrub.Err(err))
		}
		return err
	})
}

// retryable says whether an OSS error can succeed on retry.
func retryable(err error) (bool, time.Duration) {
	var se oss.ServiceError
	var st *statusError
	var ne net.Error
	switch {
	case err == nil:
		return false, 0
	case errors.As(err, &se):
		return safehttp.Retryable(se.StatusCode), 0
	case errors.As(err, &st):
		return safehttp.Retryable(st.status), 0
	case errors.Is(err, safehttp.ErrTooLarge), errors.Is(err, context.Canceled):
		return false, 0
	case errors.As(err, new(*safehttp.RedirectError)):
		return false, 0
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF):
		return true, 0
	}
	return false, 0
}

// explain turns an OSS error into one that says what to do, scrubbed.
func (s *Store) explain(op, name string, err error) error {
	return s.scrub.Err(s.explained(op, name, err))
}

func (s *Store) explained(op, name string, err error) error {
	var se oss.ServiceError
	if !errors.As(err, &se) {
		return fmt.Errorf("oss: %s %s: %w", op, name, err)
	}
	hint := ""
	switch se.Code {
	case "AccessDenied":
		perm := map[string]string{"get": "oss:GetObject", "copy": "oss:GetObject and oss:PutObject"}[op]
		if perm == "" {
			perm = "oss:PutObject"
		}
		hint = fmt.Sprintf(" — the credentials need %s on acs:oss:*:*:%s/%s*", perm, s.cfg.Bucket, s.cfg.Prefix)
		if s.cfg.ServerSideEncryption == "KMS" {
			hint += " (and kms:GenerateDataKey, kms:Decrypt for SSE-KMS)"
		}
	case "NoSuchBucket":
		hint = fmt.Sprintf(" — bucket %q does not exist at %s: check snapshot.oss.bucket and snapshot.oss.region", s.cfg.Bucket, s.cfg.Endpoint)
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSecurityToken":
		hint = " — the credentials are not valid for OSS"
	}
	suffix := ""
	var gu *retry.GaveUpError
	if errors.As(err, &gu) {
		suffix = gu.Suffix()
	}
	cause := errors.New(se.Message)
	if se.Code == "AccessDenied" {
		cause = &denied{cause}
	}
	return fmt.Errorf("oss: %s %s: %s (HTTP %d, request id %s)%s: %w%s", op, name, se.Code, se.StatusCode, se.RequestID, hint, cause, suffix)
}

// Location says where key is for people: a presigned GET URL when
// presignLinks is set and the credentials are long-term keys; else the OSS
// console page of the object (it needs a login).
func (s *Store) Location(ctx context.Context, key string) string {
	name := s.object(key)
	if s.cfg.PresignLinks > 0 {
		// A URL presigned with STS credentials carries the security token in
		// its query: such a link would leak the token, so it is not made.
		if m, err := s.cfg.Credential.GetCredential(); err == nil && deref(m.SecurityToken) == "" {
			u, err := s.bucket.SignURL(name, oss.HTTPGet, int64(s.cfg.PresignLinks/time.Second))
			if err == nil {
				return u
			}
			s.log.Warn("oss: cannot presign the snapshot link; linking the console instead", "error", s.scrub.Err(err))
		} else {
			s.log.Warn("oss: snapshot.oss.presignLinks ignored: the credentials are STS credentials, and a presigned URL would carry the security token")
		}
	}
	return ConsoleURL(s.cfg.Region, s.cfg.Bucket, name)
}

// ConsoleURL is the OSS console page of an object.
func ConsoleURL(region, bucket, object string) string {
	return fmt.Sprintf("https://oss.console.aliyun.com/bucket/oss-%s/%s/object?path=%s", region, bucket, url.QueryEscape(object))
}

// Copy copies an object in the bucket (CopyObject: OSS copies it in place;
// its content is not sent again), with server-side encryption when
// configured, retrying like Put.
func (s *Store) Copy(ctx context.Context, src, dst string) error {
	from, name := s.object(src), s.object(dst)
	err := s.do(ctx, "copy", name, func(ctx context.Context) error {
		_, err := s.bucket.CopyObject(from, name, append([]oss.Option{oss.WithContext(ctx)}, s.sseOptions()...)...)
		return err
	})
	if err != nil {
		var se oss.ServiceError
		if errors.As(err, &se) && se.Code == "NoSuchKey" {
			return fmt.Errorf("oss: copy %s to %s: %w", from, name, store.ErrNotFound)
		}
		return s.explain("copy", name, err)
	}
	return nil
}

// denied is OSS's AccessDenied: its message, and store.ErrDenied.
type denied struct{ error }

func (d *denied) Unwrap() []error { return []error{d.error, store.ErrDenied} }
