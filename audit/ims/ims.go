// Package ims reads RAM users from IMS (RPC, version 2019-08-15), through
// darabonba's CallApiWithCtx with the official SDK's Params
// (alibabacloud-go/ims-20190815), signed ACS3-HMAC-SHA256:
// GetDefaultDomain, GetUser by principal name, ListUsersInRecycleBin
// filtered by principal name. Its errors are *audit.APIError, scrubbed of
// the credential; answers are bounded in size and time like every other.
package ims

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/safehttp"
	"livy-token-audit/internal/retry"
	"livy-token-audit/internal/scrub"
)

// APIVersion is IMS's.
const APIVersion = "2019-08-15"

// DefaultEndpoint is IMS's endpoint (one for every region).
const DefaultEndpoint = "https://ims.aliyuncs.com"

// maxRecyclePages bounds the recycle bin's pages: one that never ends is
// cut there, and is an error.
const maxRecyclePages = 10

// Options configure a client.
type Options struct {
	Endpoint   string
	Credential credentials.Credential
	Timeout    time.Duration
	// Retries is how many times a throttled, 5xx or failed-network call
	// is tried again; Sleep waits between tries (nil: the real wait).
	Retries int
	Sleep   func(ctx context.Context, d time.Duration) error
}

// Client reads RAM users. It is safe for concurrent use.
type Client struct {
	o Options
	// The SDK's RPC path is not safe for concurrent calls on one client:
	// each call reads and clears the client's Headers (GetRpcHeaders). Each
	// call borrows a client of its own from pool.
	pool sync.Pool

	domainOnce sync.Once
	domain     string
	domainErr  error
}

// New returns a client; it makes no call.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.Endpoint)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Path != "" && u.Path != "/":
		return nil, fmt.Errorf("ims: endpoint %q is not a URL like %s", o.Endpoint, DefaultEndpoint)
	case o.Credential == nil:
		return nil, errors.New("ims: no credential")
	case o.Timeout <= 0:
		o.Timeout = 10 * time.Second
	}
	hc := safehttp.NewClient(safehttp.Options{Timeout: o.Timeout, MaxBody: 256 << 10})
	ms := int(o.Timeout / time.Millisecond)
	mk := func() (*openapi.Client, error) {
		cl, err := openapi.NewClient(&openapi.Config{Endpoint: dara.String(u.Host), Protocol: dara.String(u.Scheme), Credential: o.Credential,
			ConnectTimeout: dara.Int(ms), ReadTimeout: dara.Int(ms), HttpClient: doer{hc}})
		if err != nil {
			return nil, fmt.Errorf("ims: %w", err)
		}
		cl.DisableSDKError = dara.Bool(true)
		return cl, nil
	}
	cl, err := mk()
	if err != nil {
		return nil, err
	}
	c := &Client{o: o}
	c.pool.New = func() any {
		cl, err := mk()
		if err != nil {
			return err
		}
		return cl
	}
	c.pool.Put(cl)
	return c, nil
}

// borrow takes a client for one call; give it back with c.pool.Put.
func (c *Client) borrow() (*openapi.Client, error) {
	switch v := c.pool.Get().(type) {
	case *openapi.Client:
		return v, nil
	case error:
		return nil, v
	default:
		return nil, errors.New("ims: no client")
	}
}

type doer struct{ c *http.Client }

func (d doer) Call(req *http.Request, _ *http.Transport) (*http.Response, error) { return d.c.Do(req) }

// User is a RAM user as GetUser answers it.
type User struct {
	UserID, UserName, PrincipalName, DisplayName, Email, ProvisionType string
	LastLogin                                                          *time.Time
}

// Deleted is a RAM user in the recycle bin.
type Deleted struct {
	UserID, PrincipalName string
	DeletedAt             *time.Time
}

// CodeNoSuchUser is GetUser's code for a user that is not there.
const CodeNoSuchUser = "EntityNotExist.User"

// principalRe is what may be put in a principal name and a filter: a RAM
// user name and a domain. Anything else (spaces, markup, quotes, a
// filter's operators) is never sent.
var principalRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}@[A-Za-z0-9.-]{1,128}$`)

// PrincipalName is name@domain, or an error when name cannot be a RAM
// user name.
func PrincipalName(name, domain string) (string, error) {
	upn := name
	if !strings.Contains(name, "@") {
		upn = name + "@" + domain
	}
	if !principalRe.MatchString(upn) {
		return "", &audit.APIError{Code: "NotARAMUser", Message: fmt.Sprintf("%q is not a RAM user name (letters, digits, . _ -, at most 64)", audit.Truncate(name, 64))}
	}
	return upn, nil
}

// DefaultDomain is the account's default domain (<alias>.onaliyun.com),
// asked once.
func (c *Client) DefaultDomain(ctx context.Context) (string, error) {
	c.domainOnce.Do(func() {
		var body struct {
			DefaultDomainName string `json:"DefaultDomainName"`
		}
		c.domainErr = c.call(ctx, "GetDefaultDomain", nil, &body)
		if c.domainErr == nil && body.DefaultDomainName == "" {
			c.domainErr = &audit.APIError{Code: audit.CodeInvalidResponse, Message: "GetDefaultDomain: no DefaultDomainName"}
		}
		c.domain = body.DefaultDomainName
	})
	return c.domain, c.domainErr
}

// User reads the user with principal name upn.
func (c *Client) User(ctx context.Context, upn string) (User, error) {
	var body struct {
		User *struct {
			UserID            string `json:"UserId"`
			UserName          string `json:"UserName"`
			UserPrincipalName string `json:"UserPrincipalName"`
			DisplayName       string `json:"DisplayName"`
			Email             string `json:"Email"`
			LastLoginDate     string `json:"LastLoginDate"`
			ProvisionType     string `json:"ProvisionType"`
		} `json:"User"`
	}
	if err := c.call(ctx, "GetUser", map[string]string{"UserPrincipalName": upn}, &body); err != nil {
		return User{}, err
	}
	if body.User == nil || body.User.UserID == "" {
		return User{}, &audit.APIError{Code: audit.CodeInvalidResponse, Message: "GetUser: no User.UserId"}
	}
	sc := c.scrubber()
	u := body.User
	out := User{UserID: sc.Values(u.UserID), UserName: sc.Values(u.UserName), PrincipalName: sc.Values(u.UserPrincipalName),
		DisplayName: audit.Truncate(sc.Values(u.DisplayName), 128), Email: audit.Truncate(sc.Values(u.Email), 254), ProvisionType: audit.Truncate(u.ProvisionType, 32)}
	out.LastLogin = date(u.LastLoginDate)
	return out, nil
}

// InRecycleBin looks for the deleted user with principal name upn (nil
// when it is not there), following at most maxRecyclePages pages.
func (c *Client) InRecycleBin(ctx context.Context, upn string) (*Deleted, error) {
	marker := ""
	for range maxRecyclePages {
		q := map[string]string{"Filter": "UserPrincipalName eq " + upn, "MaxItems": "100"}
		if marker != "" {
			q["Marker"] = marker
		}
		var body struct {
			Users *struct {
				User []struct {
					UserID            string `json:"UserId"`
					UserPrincipalName string `json:"UserPrincipalName"`
					DeleteDate        string `json:"DeleteDate"`
				} `json:"User"`
			} `json:"Users"`
			IsTruncated bool   `json:"IsTruncated"`
			Marker      string `json:"Marker"`
		}
		if err := c.call(ctx, "ListUsersInRecycleBin", q, &body); err != nil {
			return nil, err
		}
		if body.Users == nil {
			return nil, &audit.APIError{Code: audit.CodeInvalidResponse, Message: "ListUsersInRecycleBin: no Users"}
		}
		for _, u := range body.Users.User {
			if u.UserPrincipalName == upn {
				return &Deleted{UserID: c.scrubber().Values(u.UserID), PrincipalName: upn, DeletedAt: date(u.DeleteDate)}, nil
			}
		}
		if !body.IsTruncated || body.Marker == "" || body.Marker == marker {
			return nil, nil
		}
		marker = body.Marker
	}
	return nil, &audit.APIError{Code: audit.CodeInvalidResponse, Message: fmt.Sprintf("ListUsersInRecycleBin: more than %d pages: the listing does not end", maxRecyclePages)}
}

// date reads IMS's dates (RFC 3339); nil for none or one that is not a
// time.
func date(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || t.Year() < 2000 || t.Year() > 9999 {
		return nil
	}
	t = t.UTC()
	return &t
}

func (c *Client) call(ctx context.Context, action string, query map[string]string, out any) error {
	params := &openapi.Params{
		Action: dara.String(action), Version: dara.String(APIVersion), Protocol: dara.String("HTTPS"), Pathname: dara.String("/"),
		Method: dara.String("POST"), AuthType: dara.String("AK"), Style: dara.String("RPC"), ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}
	q := map[string]*string{}
	for k, v := range query {
		q[k] = dara.String(v)
	}
	sc := c.scrubber()
	r := retry.Retrier{Attempts: c.o.Retries + 1, Base: time.Second, Max: 10 * time.Second, Sleep: c.o.Sleep}
	return r.Do(ctx, func(err error) (bool, time.Duration) {
		var ae *audit.APIError
		return errors.As(err, &ae) && ae.Retryable, 0
	}, func() error {
		cl, err := c.borrow()
		if err != nil {
			return err
		}
		res, err := cl.CallApiWithCtx(ctx, params, &openapi.OpenApiRequest{Query: q}, &dara.RuntimeOptions{})
		c.pool.Put(cl)
		if err != nil {
			return translate(action, err, sc)
		}
		b, err := json.Marshal(res["body"])
		if err != nil {
			return &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": the answer is not JSON"}
		}
		if err := json.Unmarshal(b, out); err != nil {
			return &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": the answer is not the expected JSON object"}
		}
		return nil
	})
}

// translate keeps of an SDK error its code and message, scrubbed; 5xx,
// throttling and network failures are worth another try.
func translate(action string, err error, sc scrub.Scrubber) error {
	var ce *openapi.ClientError
	var se *openapi.ServerError
	var te *openapi.ThrottlingError
	var ne net.Error
	msg := func(p *string) string { return audit.BoundText(sc.Text(dara.StringValue(p))) }
	code := func(p *string) string { return audit.Truncate(sc.Text(dara.StringValue(p)), 64) }
	switch {
	case errors.As(err, &te):
		return &audit.APIError{Code: code(te.Code), Message: action + ": " + msg(te.Message), Retryable: true}
	case errors.As(err, &se):
		return &audit.APIError{Code: code(se.Code), Message: action + ": " + msg(se.Message), RequestID: code(se.RequestId), Retryable: true}
	case errors.As(err, &ce):
		st := dara.IntValue(ce.StatusCode)
		return &audit.APIError{Code: code(ce.Code), Message: action + ": " + msg(ce.Message), RequestID: code(ce.RequestId), Retryable: safehttp.Retryable(st)}
	case errors.As(err, &ne):
		return &audit.APIError{Code: audit.CodeRequestFailed, Message: action + ": " + audit.BoundText(sc.Text(ne.Error())), Retryable: true}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &audit.APIError{Code: audit.CodeRequestFailed, Message: action + ": " + audit.BoundText(sc.Text(err.Error())), Retryable: true}
}

// scrubber removes the credential's secrets from text.
func (c *Client) scrubber() scrub.Scrubber {
	m, err := c.o.Credential.GetCredential()
	if err != nil || m == nil {
		return scrub.New()
	}
	return scrub.New(dara.StringValue(m.AccessKeySecret), dara.StringValue(m.SecurityToken), dara.StringValue(m.AccessKeyId))
}
