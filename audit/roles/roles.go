// Package roles reaches other accounts: it assumes a RAM role in each with
// credentials-go's RAM role ARN provider, the run's own credentials (the
// Function Compute invocation's, or the default chain) as the source.
//
// The provider is wrapped so that it is safe for concurrent use (the
// audit's calls sign concurrently; credentials-go's provider refreshes
// without a lock), and its errors are translated at the boundary: they name
// the account and the role, never a credential. (credentials-go puts the
// source's key id, signature and STS token in the request's URL, which its
// network errors repeat.)
package roles

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/aliyun/credentials-go/credentials/providers"

	"livy-token-audit/audit"
	"livy-token-audit/internal/scrub"
)

// SessionName is the role session name of every assumed role: it shows in
// the audited account's ActionTrail.
const SessionName = "livy-token-audit"

// CodeAssumeRoleFailed is the scope error of an account whose role could
// not be assumed.
const CodeAssumeRoleFailed = "AssumeRoleFailed"

// Options describe one role to assume.
type Options struct {
	AccountName string
	RoleARN     string
	ExternalID  string
	// STSEndpoint is host[:port] (HTTPS): api.stsEndpoint.
	STSEndpoint string
	// Duration of the role's credentials (default 1h; they are refreshed
	// three minutes before they expire).
	Duration time.Duration
}

// Role is an assumed role's credential.
type Role struct {
	opts   Options
	source credentials.Credential
	mu     sync.Mutex
	inner  *providers.RAMRoleARNCredentialsProvider
	cred   credentials.Credential
}

// Assume returns the credential of the role, assumed with source. It makes
// no call: the role is assumed at the first use (or by Check).
func Assume(source credentials.Credential, o Options) (*Role, error) {
	if o.STSEndpoint == "" {
		return nil, fmt.Errorf("role %s: no STS endpoint (api.stsEndpoint)", o.RoleARN)
	}
	if o.Duration == 0 {
		o.Duration = time.Hour
	}
	b := providers.NewRAMRoleARNCredentialsProviderBuilder().
		WithCredentialsProvider(sourceProvider{source}).
		WithRoleArn(o.RoleARN).
		WithRoleSessionName(SessionName).
		WithStsEndpoint(o.STSEndpoint).
		WithDurationSeconds(int(o.Duration / time.Second)).
		// 5s to connect, 10s to answer: every STS request is bounded.
		WithHttpOptions(&providers.HttpOptions{ConnectTimeout: 5000, ReadTimeout: 10000})
	if o.ExternalID != "" {
		b = b.WithExternalId(o.ExternalID)
	}
	inner, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("role %s: %w", o.RoleARN, err)
	}
	r := &Role{opts: o, source: source, inner: inner}
	r.cred = credentials.FromCredentialsProvider("ram_role_arn", r)
	return r, nil
}

// Credential is the role's credential, for signing.
func (r *Role) Credential() credentials.Credential { return r.cred }

// GetCredentials assumes (or refreshes) the role under a lock.
func (r *Role) GetCredentials() (*providers.Credentials, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.inner.GetCredentials()
	if err != nil {
		return nil, r.translate(err)
	}
	return c, nil
}

// GetProviderName names the provider.
func (r *Role) GetProviderName() string { return "ram_role_arn" }

// Check assumes the role now. Its error is an *audit.APIError with code
// AssumeRoleFailed naming the account and the role.
func (r *Role) Check() error {
	_, err := r.GetCredentials()
	return err
}

// translate turns credentials-go's error into one that names the account
// and the role, with STS's own code and message when it sent them, and no
// credential.
func (r *Role) translate(err error) error {
	var ae *audit.APIError
	if errors.As(err, &ae) {
		return err
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error() // the URL carries the source's key id, signature and token
	}
	requestID := ""
	if body, ok := strings.CutPrefix(msg, "refresh session token failed: "); ok {
		var e struct {
			Code, Message, RequestID string
		}
		if json.Unmarshal([]byte(body), &e) == nil && e.Code != "" {
			msg, requestID = e.Code+": "+e.Message, e.RequestID
		} else {
			msg = "STS refused: " + body
		}
	}
	msg = r.scrub(msg)
	return &audit.APIError{
		Code:      CodeAssumeRoleFailed,
		Message:   audit.BoundText(fmt.Sprintf("cannot assume role %s for account %s: %s", r.opts.RoleARN, r.opts.AccountName, msg)),
		RequestID: audit.Truncate(r.scrub(requestID), 64),
	}
}

// scrub removes the source's credentials from text, and whatever has a
// secret's shape (the project's one scrubber, internal/scrub).
func (r *Role) scrub(s string) string {
	m, err := r.source.GetCredential()
	if err != nil || m == nil {
		return scrub.New().Text(s)
	}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return scrub.New(deref(m.AccessKeySecret), deref(m.SecurityToken), deref(m.AccessKeyId)).Text(s)
}

// sourceProvider adapts a credentials-go Credential to the provider
// interface the RAM role ARN provider takes as its source.
type sourceProvider struct{ c credentials.Credential }

func (p sourceProvider) GetCredentials() (*providers.Credentials, error) {
	m, err := p.c.GetCredential()
	if err != nil {
		return nil, fmt.Errorf("source credentials: %w", err)
	}
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	return &providers.Credentials{AccessKeyId: deref(m.AccessKeyId), AccessKeySecret: deref(m.AccessKeySecret),
		SecurityToken: deref(m.SecurityToken), ProviderName: deref(m.ProviderName)}, nil
}

func (p sourceProvider) GetProviderName() string { return "livy-token-audit-source" }
