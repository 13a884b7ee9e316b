// Package ossstore keeps snapshots in an OSS bucket. It signs with V4
// (OSS4-HMAC-SHA256), takes credentials from credentials-go (so STS tokens
// refresh), and retries what the SDK does not: PutObject on 5xx, 429 and
// network errors.
package ossstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
)

// Options configure a Store.
type Options struct {
	Config     audit.OSSConfig
	Credential credentials.Credential
	// Timeout bounds one request (default 30s).
	Timeout time.Duration
	Retrier audit.Retrier
	Logger  *slog.Logger
}

// Store is an audit.Store in OSS: keys are prefixed with Config.Prefix.
type Store struct {
	cfg     audit.OSSConfig
	bucket  *oss.Bucket
	retrier audit.Retrier
	cred    credentials.Credential
	log     *slog.Logger
}

var _ audit.Store = (*Store)(nil)

// Endpoint is the OSS endpoint the config names: its own, or the public (or
// internal) endpoint of its region.
func Endpoint(c audit.OSSConfig) string {
	switch {
	case c.Endpoint != "":
		return c.Endpoint
	case c.Internal:
		return "https://oss-" + c.Region + "-internal.aliyuncs.com"
	}
	return "https://oss-" + c.Region + ".aliyuncs.com"
}

// New returns a store for the configured bucket. It makes no call.
func New(o Options) (*Store, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	secs := int64(timeout / time.Second)
	opts := []oss.ClientOption{
		oss.AuthVersion(oss.AuthV4), oss.Region(o.Config.Region),
		oss.SetCredentialsProvider(&provider{o.Credential}),
		oss.Timeout(min(secs, 10), secs),
	}
	if u, err := url.Parse(Endpoint(o.Config)); err == nil && u.Hostname() == "localhost" {
		opts = append(opts, oss.ForcePathStyle(true))
	}
	client, err := oss.New(Endpoint(o.Config), "", "", opts...)
	if err != nil {
		return nil, fmt.Errorf("oss: client for %s: %w", Endpoint(o.Config), err)
	}
	bucket, err := client.Bucket(o.Config.Bucket)
	if err != nil {
		return nil, fmt.Errorf("oss: bucket %s: %w", o.Config.Bucket, err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{cfg: o.Config, bucket: bucket, retrier: o.Retrier, cred: o.Credential, log: log}, nil
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

// Get reads an object; a missing one is audit.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	name := s.object(key)
	var body []byte
	err := s.retrier.Do(ctx, retryable, func() error {
		r, err := s.bucket.GetObject(name, oss.WithContext(ctx))
		if err != nil {
			return err
		}
		defer r.Close()
		body, err = io.ReadAll(r)
		return err
	})
	if err != nil {
		var se oss.ServiceError
		if errors.As(err, &se) && se.Code == "NoSuchKey" {
			return nil, fmt.Errorf("oss: get %s: %w", name, audit.ErrNotFound)
		}
		return nil, s.explain("get", name, err)
	}
	return body, nil
}

// Put writes an object as application/json, with server-side encryption
// when configured, retrying 5xx, 429 and network errors.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	name := s.object(key)
	opts := []oss.Option{oss.ContentType("application/json"), oss.WithContext(ctx)}
	if sse := s.cfg.ServerSideEncryption; sse != "" {
		opts = append(opts, oss.ServerSideEncryption(sse))
		if s.cfg.KMSKeyID != "" {
			opts = append(opts, oss.ServerSideEncryptionKeyID(s.cfg.KMSKeyID))
		}
	}
	attempt := 0
	err := s.retrier.Do(ctx, retryable, func() error {
		attempt++
		err := s.bucket.PutObject(name, bytes.NewReader(data), opts...)
		if ok, _ := retryable(err); err != nil && ok {
			s.log.Warn("oss: put failed", "key", name, "attempt", attempt, "error", err)
		}
		return err
	})
	if err != nil {
		return s.explain("put", name, err)
	}
	return nil
}

// retryable says whether an OSS error can succeed on retry.
func retryable(err error) (bool, time.Duration) {
	var se oss.ServiceError
	var ne net.Error
	switch {
	case err == nil:
		return false, 0
	case errors.As(err, &se):
		return se.StatusCode >= 500 || se.StatusCode == http.StatusTooManyRequests, 0
	case errors.Is(err, context.Canceled):
		return false, 0
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF):
		return true, 0
	}
	return false, 0
}

// explain turns an OSS error into one that says what to do.
func (s *Store) explain(op, name string, err error) error {
	var se oss.ServiceError
	if !errors.As(err, &se) {
		return fmt.Errorf("oss: %s %s: %w", op, name, err)
	}
	hint := ""
	switch se.Code {
	case "AccessDenied":
		perm := "oss:PutObject"
		if op == "get" {
			perm = "oss:GetObject"
		}
		hint = fmt.Sprintf(" — the credentials need %s on acs:oss:*:*:%s/%s*", perm, s.cfg.Bucket, s.cfg.Prefix)
		if s.cfg.ServerSideEncryption == "KMS" {
			hint += " (and kms:GenerateDataKey, kms:Decrypt for SSE-KMS)"
		}
	case "NoSuchBucket":
		hint = fmt.Sprintf(" — bucket %q does not exist at %s: check snapshot.oss.bucket and snapshot.oss.region", s.cfg.Bucket, Endpoint(s.cfg))
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSecurityToken":
		hint = " — the credentials are not valid for OSS"
	}
	return fmt.Errorf("oss: %s %s: %s (HTTP %d, request id %s)%s: %w", op, name, se.Code, se.StatusCode, se.RequestID, hint, errors.New(se.Message))
}

// Location says where key is for people: a presigned GET URL when
// presignLinks is set and the credentials are long-term keys; else the OSS
// console page of the object (it needs a login).
func (s *Store) Location(ctx context.Context, key string) string {
	name := s.object(key)
	if s.cfg.PresignLinks > 0 {
		// A URL presigned with STS credentials carries the security token in
		// its query: such a link would leak the token, so it is not made.
		if m, err := s.cred.GetCredential(); err == nil && deref(m.SecurityToken) == "" {
			u, err := s.bucket.SignURL(name, oss.HTTPGet, int64(s.cfg.PresignLinks/time.Second))
			if err == nil {
				return u
			}
			s.log.Warn("oss: cannot presign the snapshot link; linking the console instead", "error", err)
		} else {
			s.log.Warn("oss: snapshot.oss.presignLinks ignored: the credentials are STS credentials, and a presigned URL would carry the security token")
		}
	}
	return ConsoleURL(s.cfg, name)
}

// ConsoleURL is the OSS console page of an object.
func ConsoleURL(c audit.OSSConfig, object string) string {
	return fmt.Sprintf("https://oss.console.aliyun.com/bucket/oss-%s/%s/object?path=%s", c.Region, c.Bucket, url.QueryEscape(object))
}
