// Package emr is the client of the EMR Serverless Spark API (version
// 2023-08-08, ROA style) that the audit uses. It calls the API through
// darabonba-openapi's CallApiWithCtx with the same Params as the official
// product SDK, so requests are signed with ACS3-HMAC-SHA256.
//
// Responses are decoded into types that have no field for a token's secret
// value, so the value is dropped at the boundary.
package emr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
)

// APIVersion is the EMR Serverless Spark API version the client speaks.
const APIVersion = "2023-08-08"

// DefaultEndpoint is the public endpoint template; {region} is substituted.
const DefaultEndpoint = "https://emr-serverless-spark.{region}.aliyuncs.com"

// SuccessCode is the body code of a successful call.
const SuccessCode = "1000000"

// Options configure a Client.
type Options struct {
	// Endpoint is a URL template with {region}; default DefaultEndpoint. A
	// URL without a scheme means https.
	Endpoint string
	// Credential signs the requests (credentials-go: static, STS or the
	// default chain).
	Credential credentials.Credential
	// Timeout bounds one HTTP call (default 10s).
	Timeout time.Duration
	// Retries is how many times a throttled, 5xx or failed-network call is
	// tried again (default 3; negative for none).
	Retries int
	// PageSize is maxResults for ListWorkspaces (default 50).
	PageSize int
	// Sleep waits between retries; tests replace it. It returns early with
	// the context's error.
	Sleep func(ctx context.Context, d time.Duration) error
	// HTTPClient sends the requests (default: one with Timeout). The SDK's
	// own pooled client is not used: it rewrites its timeout while other
	// goroutines send with it, a data race under concurrent calls.
	HTTPClient *http.Client
}

// httpDoer adapts an *http.Client to the SDK's HttpClient interface.
type httpDoer struct{ c *http.Client }

func (d httpDoer) Call(req *http.Request, _ *http.Transport) (*http.Response, error) {
	return d.c.Do(req)
}

// Client calls the API, one darabonba client per region.
type Client struct {
	opts    Options
	mu      sync.Mutex
	clients map[string]*openapi.Client
}

var _ audit.API = (*Client)(nil)

// New returns a client. It makes no call.
func New(opts Options) (*Client, error) {
	if opts.Credential == nil {
		return nil, errors.New("emr: no credential")
	}
	if opts.Endpoint == "" {
		opts.Endpoint = DefaultEndpoint
	}
	if _, _, err := splitEndpoint(strings.ReplaceAll(opts.Endpoint, "{region}", "cn-hangzhou")); err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Retries == 0 {
		opts.Retries = 3
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 50
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: opts.Timeout}
	}
	return &Client{opts: opts, clients: map[string]*openapi.Client{}}, nil
}

// splitEndpoint turns "https://host:port" into protocol and host.
func splitEndpoint(ep string) (protocol, host string, err error) {
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
		return "", "", fmt.Errorf("emr: endpoint %q is not a URL like https://host[:port]", ep)
	}
	return u.Scheme, u.Host, nil
}

func (c *Client) client(region string) (*openapi.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[region]; ok {
		return cl, nil
	}
	protocol, host, err := splitEndpoint(strings.ReplaceAll(c.opts.Endpoint, "{region}", region))
	if err != nil {
		return nil, err
	}
	ms := int(c.opts.Timeout / time.Millisecond)
	cl, err := openapi.NewClient(&openapi.Config{
		Endpoint:       dara.String(host),
		Protocol:       dara.String(protocol),
		RegionId:       dara.String(region),
		Credential:     c.opts.Credential,
		ConnectTimeout: dara.Int(ms),
		ReadTimeout:    dara.Int(ms),
		HttpClient:     httpDoer{c.opts.HTTPClient},
	})
	if err != nil {
		return nil, fmt.Errorf("emr: client for %s: %w", region, err)
	}
	// Typed errors (ClientError, ServerError, ThrottlingError) instead of
	// tea.SDKError, so they can be translated below.
	cl.DisableSDKError = dara.Bool(true)
	c.clients[region] = cl
	return cl, nil
}

// envelope is the common shape of a response body.
type envelope struct {
	Code      flexString      `json:"code"`
	Message   string          `json:"message"`
	RequestID string          `json:"requestId"`
	Data      json.RawMessage `json:"data"`
}

// call runs one API action with the official SDK's Params and retries what
// can succeed on retry. requireCode says whether the body must carry the
// success code (the Livy APIs do; ListWorkspaces has no code).
func (c *Client) call(ctx context.Context, region, action, pathname string, query map[string]string, requireCode bool, out any) error {
	cl, err := c.client(region)
	if err != nil {
		return err
	}
	params := &openapi.Params{
		Action:      dara.String(action),
		Version:     dara.String(APIVersion),
		Protocol:    dara.String("HTTPS"),
		Pathname:    dara.String(pathname),
		Method:      dara.String("GET"),
		AuthType:    dara.String("AK"),
		Style:       dara.String("ROA"),
		ReqBodyType: dara.String("json"),
		BodyType:    dara.String("json"),
	}
	q := map[string]*string{}
	for k, v := range query {
		q[k] = dara.String(v)
	}
	retrier := audit.Retrier{Attempts: max(1, c.opts.Retries+1), Sleep: c.opts.Sleep}
	classify := func(err error) (bool, time.Duration) {
		var ae *audit.APIError
		if errors.As(err, &ae) && ae.Retryable {
			return true, ae.RetryAfter
		}
		return false, 0
	}
	err = retrier.Do(ctx, classify, func() error {
		res, err := cl.CallApiWithCtx(ctx, params, &openapi.OpenApiRequest{Query: q}, &dara.RuntimeOptions{})
		if err != nil {
			return translate(ctx, err)
		}
		return decode(res, requireCode, out)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	return nil
}

// decode checks the body's code and decodes it into out.
func decode(res map[string]any, requireCode bool, out any) error {
	raw, err := json.Marshal(res["body"])
	if err != nil {
		return &audit.APIError{Code: audit.CodeInvalidResponse, Message: "response body cannot be re-encoded"}
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return &audit.APIError{Code: audit.CodeInvalidResponse, Message: "response body is not the expected JSON object: " + describe(err)}
	}
	if env.Code != "" && env.Code != SuccessCode || requireCode && env.Code == "" {
		code := string(env.Code)
		if code == "" {
			code = audit.CodeInvalidResponse
		}
		msg := env.Message
		if msg == "" {
			msg = "the response carries no success code"
		}
		return &audit.APIError{Code: code, Message: msg, RequestID: env.RequestID, Retryable: strings.Contains(code, "Throttling")}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &audit.APIError{Code: audit.CodeInvalidResponse, Message: "unexpected response shape: " + describe(err), RequestID: env.RequestID}
	}
	return nil
}

// describe renders a JSON decoding error without echoing the input, which
// may hold a token value.
func describe(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q is a JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	return "malformed JSON"
}

// translate turns the SDK's errors into *audit.APIError at the boundary.
func translate(ctx context.Context, err error) error {
	var thr *openapi.ThrottlingError
	var ce *openapi.ClientError
	var se *openapi.ServerError
	var syn *json.SyntaxError
	switch {
	case ctx.Err() != nil:
		return &audit.APIError{Code: audit.CodeDeadlineExceeded, Message: "not audited: the run's deadline was reached"}
	case errors.As(err, &thr):
		ra := time.Duration(dara.Int64Value(thr.RetryAfter)) * time.Millisecond
		return &audit.APIError{Code: dara.StringValue(thr.Code), Message: sdkMessage(thr.Message), RequestID: dara.StringValue(thr.RequestId), Retryable: true, RetryAfter: ra}
	case errors.As(err, &ce):
		code := dara.StringValue(ce.Code)
		if code == "" {
			code = fmt.Sprintf("HTTP%d", dara.IntValue(ce.StatusCode))
		}
		return &audit.APIError{Code: code, Message: sdkMessage(ce.Message), RequestID: dara.StringValue(ce.RequestId),
			Retryable: dara.IntValue(ce.StatusCode) == 429}
	case errors.As(err, &se):
		code := dara.StringValue(se.Code)
		if code == "" {
			code = fmt.Sprintf("HTTP%d", dara.IntValue(se.StatusCode))
		}
		return &audit.APIError{Code: code, Message: sdkMessage(se.Message), RequestID: dara.StringValue(se.RequestId), Retryable: true}
	case errors.As(err, &syn):
		return &audit.APIError{Code: audit.CodeInvalidResponse, Message: "response body is not JSON: " + describe(err), Retryable: false}
	}
	return &audit.APIError{Code: audit.CodeRequestFailed, Message: err.Error(), Retryable: true}
}

// sdkMessage strips the SDK's "code: 500, " prefix and trailing request id,
// which are recorded separately.
func sdkMessage(p *string) string {
	m := dara.StringValue(p)
	if i := strings.Index(m, ", "); strings.HasPrefix(m, "code: ") && i > 0 {
		m = m[i+2:]
	}
	if i := strings.LastIndex(m, " request id: "); i >= 0 {
		m = m[:i]
	}
	return m
}

// ListWorkspaces lists every workspace of a region, following nextToken.
func (c *Client) ListWorkspaces(ctx context.Context, region string) ([]audit.Workspace, error) {
	var out []audit.Workspace
	next := ""
	for page := 0; ; page++ {
		if page >= 1000 {
			return nil, &audit.APIError{Code: audit.CodeInvalidResponse, Message: "ListWorkspaces: more than 1000 pages; nextToken never ends"}
		}
		q := map[string]string{"regionId": region, "maxResults": strconv.Itoa(c.opts.PageSize)}
		if next != "" {
			q["nextToken"] = next
		}
		var body struct {
			Workspaces []struct {
				WorkspaceID   string `json:"workspaceId"`
				WorkspaceName string `json:"workspaceName"`
				Name          string `json:"name"`
			} `json:"workspaces"`
			NextToken string `json:"nextToken"`
		}
		if err := c.call(ctx, region, "ListWorkspaces", "/api/v1/workspaces", q, false, &body); err != nil {
			return nil, err
		}
		for _, w := range body.Workspaces {
			if w.WorkspaceID == "" {
				return nil, &audit.APIError{Code: audit.CodeInvalidResponse, Message: "ListWorkspaces: a workspace has no workspaceId"}
			}
			out = append(out, audit.Workspace{ID: w.WorkspaceID, Name: firstNonEmpty(w.WorkspaceName, w.Name)})
		}
		if body.NextToken == "" || body.NextToken == next {
			return out, nil
		}
		next = body.NextToken
	}
}

// ListGateways lists the Livy Gateways ("Livy computes") of a workspace.
func (c *Client) ListGateways(ctx context.Context, region, workspaceID string) ([]audit.Gateway, error) {
	var body struct {
		Data struct {
			LivyComputes []struct {
				ComputeID     string `json:"computeId"`
				LivyComputeID string `json:"livyComputeId"`
				Name          string `json:"name"`
				Status        string `json:"status"`
			} `json:"livyComputes"`
		} `json:"data"`
	}
	p := "/api/interactive/v1/workspace/" + url.PathEscape(workspaceID) + "/livycompute"
	if err := c.call(ctx, region, "ListLivyCompute", p, map[string]string{"regionId": region}, true, &body); err != nil {
		return nil, err
	}
	out := make([]audit.Gateway, 0, len(body.Data.LivyComputes))
	for _, g := range body.Data.LivyComputes {
		id := firstNonEmpty(g.ComputeID, g.LivyComputeID)
		if id == "" {
			return nil, &audit.APIError{Code: audit.CodeInvalidResponse, Message: "ListLivyCompute: a gateway has no computeId"}
		}
		out = append(out, audit.Gateway{ID: id, Name: g.Name, Status: g.Status})
	}
	return out, nil
}

// apiToken is a token as the API returns it, minus the secret value: the
// "token" field is deliberately not decoded.
type apiToken struct {
	TokenID      string `json:"tokenId"`
	Name         string `json:"name"`
	CreatedBy    string `json:"createdby"`
	CreatedByAlt string `json:"createdBy"`
	CreateTime   millis `json:"createTime"`
	ExpireTime   millis `json:"expireTime"`
	LastUsedTime millis `json:"lastUsedTime"`
}

// ListTokens lists the tokens of one gateway.
func (c *Client) ListTokens(ctx context.Context, region, workspaceID, gatewayID string) ([]audit.Token, error) {
	var body struct {
		Data struct {
			Tokens []apiToken `json:"tokens"`
		} `json:"data"`
	}
	p := "/api/interactive/v1/workspace/" + url.PathEscape(workspaceID) + "/livycompute/" + url.PathEscape(gatewayID) + "/token"
	if err := c.call(ctx, region, "ListLivyComputeToken", p, map[string]string{"regionId": region}, true, &body); err != nil {
		return nil, err
	}
	out := make([]audit.Token, 0, len(body.Data.Tokens))
	for _, t := range body.Data.Tokens {
		if t.TokenID == "" {
			return nil, &audit.APIError{Code: audit.CodeInvalidResponse, Message: "ListLivyComputeToken: a token has no tokenId"}
		}
		out = append(out, audit.Token{
			ID: t.TokenID, Name: t.Name, CreatedBy: firstNonEmpty(t.CreatedBy, t.CreatedByAlt),
			CreateTime: audit.EpochMillis(t.CreateTime.p()), ExpireTime: audit.EpochMillis(t.ExpireTime.p()), LastUsedTime: audit.EpochMillis(t.LastUsedTime.p()),
		})
	}
	return out, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// millis is an epoch-millisecond time that may come as a number, a numeric
// string, or null.
type millis struct {
	v   int64
	set bool
}

func (m *millis) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return fmt.Errorf("not an epoch-millisecond time")
		}
		n = int64(f)
	}
	m.v, m.set = n, true
	return nil
}

func (m millis) p() *int64 {
	if !m.set {
		return nil
	}
	return &m.v
}

// flexString accepts a JSON string or number (the body code).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*f = flexString(v)
		return nil
	}
	*f = flexString(s)
	return nil
}
