// Package emr is the client of the EMR Serverless Spark API (version
// 2023-08-08, ROA style) that the audit uses. It calls the API through
// darabonba-openapi's CallApiWithCtx with the official product SDK's Params,
// so requests are signed with ACS3-HMAC-SHA256; the one difference is
// BodyType "binary", which hands back the raw body so that it is decoded
// once, from the bytes read, into types that have no field for a token's
// secret value (the value is never made into a Go string).
//
// Every request goes through a safehttp client: no redirects (the signed
// headers carry the access key id and STS token), a total time bound that
// covers the body, a cap on the body's size, the HTTP status kept for
// classifying errors whatever their body looks like.
package emr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/credentials-go/credentials"

	"livy-token-audit/audit"
	"livy-token-audit/audit/fleet"
	"livy-token-audit/audit/safehttp"
	"livy-token-audit/internal/retry"
	"livy-token-audit/internal/scrub"
)

// APIVersion is the EMR Serverless Spark API version the client speaks.
const APIVersion = "2023-08-08"

// SuccessCode is the body code of a successful call.
const SuccessCode = "1000000"

// MaxResponseBytes caps one API response body. A gateway's token list
// larger than this (about 13,000 tokens) is refused as InvalidResponse
// rather than read into memory.
const MaxResponseBytes = 4 << 20

// Options configure a Client.
type Options struct {
	// Endpoint is a URL template with {region}, like
	// https://emr-serverless-spark.{region}.aliyuncs.com. A URL without a
	// scheme means https.
	Endpoint string
	// Credential signs the requests (credentials-go: static, STS or the
	// default chain).
	Credential credentials.Credential
	// Timeout bounds one HTTP call, body included (api.timeout).
	Timeout time.Duration
	// Retries is how many times a throttled, 5xx or failed-network call is
	// tried again (api.retries; 0 for none).
	Retries int
	// PageSize is maxResults for ListWorkspaces (default 50).
	PageSize int
	// MaxConns sizes each endpoint's connection pool (default 8): set it to
	// the audit's concurrency so concurrent calls reuse connections.
	MaxConns int
	// MaxBody caps a response body (default MaxResponseBytes).
	MaxBody int64
	// Sleep waits between retries; tests replace it. It returns early with
	// the context's error.
	Sleep func(ctx context.Context, d time.Duration) error
	// SecretKey measures each token's secret value as it is decoded (a
	// keyed digest and a strength estimate: audit.Secret); one key serves
	// every client of a run, so values shared across accounts are found.
	// Nil: values are skipped unmeasured.
	SecretKey *audit.SecretKey
	// HTTPClient sends the requests (default: a safehttp client per
	// endpoint). The SDK's own pooled client is not used: it rewrites its
	// timeout while other goroutines send with it, a data race under
	// concurrent calls, and it follows redirects.
	HTTPClient *http.Client
}

// httpDoer adapts an *http.Client to the SDK's HttpClient interface.
type httpDoer struct{ c *http.Client }

func (d httpDoer) Call(req *http.Request, _ *http.Transport) (*http.Response, error) {
	return d.c.Do(req)
}

// Client calls the API, one darabonba client (and one connection pool) per
// region endpoint.
type Client struct {
	opts    Options
	mu      sync.Mutex
	clients map[string]*openapi.Client
}

var (
	_ fleet.GatedAPI   = (*Client)(nil)
	_ fleet.Source     = (*Client)(nil)
	_ fleet.DetailsAPI = (*Client)(nil)
)

// Kind is the kind of the gateways the client lists as a fleet.Source:
// Livy Gateways.
func (c *Client) Kind() string { return audit.KindLivy }

// Gated says that the client passes each request through the gate of the
// call's context.
func (c *Client) Gated() {}

// New returns a client. Its options are resolved by the config (api.*):
// it holds no defaults of its own for them. It makes no call.
func New(opts Options) (*Client, error) {
	switch {
	case opts.Credential == nil:
		return nil, errors.New("emr: no credential")
	case opts.Timeout <= 0:
		return nil, errors.New("emr: no timeout (api.timeout)")
	case opts.Retries < 0:
		return nil, fmt.Errorf("emr: %d retries", opts.Retries)
	}
	if _, _, err := splitEndpoint(strings.ReplaceAll(opts.Endpoint, "{region}", "cn-hangzhou")); err != nil {
		return nil, err
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 50
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = MaxResponseBytes
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
	hc := c.opts.HTTPClient
	if hc == nil {
		hc = safehttp.NewClient(safehttp.Options{Timeout: c.opts.Timeout, MaxBody: c.opts.MaxBody, MaxConnsPerHost: c.opts.MaxConns})
	}
	ms := int(c.opts.Timeout / time.Millisecond)
	cl, err := openapi.NewClient(&openapi.Config{
		Endpoint:       dara.String(host),
		Protocol:       dara.String(protocol),
		RegionId:       dara.String(region),
		Credential:     c.opts.Credential,
		ConnectTimeout: dara.Int(ms),
		ReadTimeout:    dara.Int(ms),
		HttpClient:     httpDoer{hc},
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

// call runs one API action with the official SDK's Params, decodes the body
// into out with decode, and retries what can succeed on retry.
func (c *Client) call(ctx context.Context, region, action, pathname string, query map[string]string, decode func([]byte, scrubber) error) error {
	return c.callMethod(ctx, "GET", region, action, pathname, query, decode)
}

// callMethod is call with another HTTP method.
func (c *Client) callMethod(ctx context.Context, method, region, action, pathname string, query map[string]string, decode func([]byte, scrubber) error) error {
	cl, err := c.client(region)
	if err != nil {
		return err
	}
	params := &openapi.Params{
		Action:      dara.String(action),
		Version:     dara.String(APIVersion),
		Protocol:    dara.String("HTTPS"),
		Pathname:    dara.String(pathname),
		Method:      dara.String(method),
		AuthType:    dara.String("AK"),
		Style:       dara.String("ROA"),
		ReqBodyType: dara.String("json"),
		// The official SDK says "json", which decodes into a generic map
		// (token values included); "binary" hands back the raw body.
		BodyType: dara.String("binary"),
	}
	q := map[string]*string{}
	for k, v := range query {
		q[k] = dara.String(v)
	}
	scrub := c.scrubber()
	retrier := retry.Retrier{Attempts: c.opts.Retries + 1, Sleep: c.opts.Sleep}
	classify := func(err error) (bool, time.Duration) {
		var ae *audit.APIError
		if errors.As(err, &ae) && ae.Retryable {
			return true, ae.RetryAfter
		}
		return false, 0
	}
	gate := fleet.GateFrom(ctx)
	err = retrier.Do(ctx, classify, func() error {
		body, err := c.send(ctx, gate, cl, params, q, scrub)
		if err != nil {
			return err
		}
		defer clear(body) // the answer may hold token values: none outlives its decoding
		return decode(body, scrub)
	})
	if err != nil {
		// The record on the gateway says how many attempts were made.
		var gu *retry.GaveUpError
		var ae *audit.APIError
		if errors.As(err, &gu) && errors.As(gu.Err, &ae) && ae.Code != audit.CodeDeadlineExceeded && ae.Code != audit.CodeInterrupted && (gu.Attempts > 1 || gu.Why != "") {
			cp := *ae
			cp.Message += gu.Suffix()
			return fmt.Errorf("%s: %w", action, &cp)
		}
		return fmt.Errorf("%s: %w", action, err)
	}
	return nil
}

// send sends one request through the gate and reads its answer's body
// (within the cap); the gate's slot is given back before the body is
// decoded.
func (c *Client) send(ctx context.Context, gate fleet.Gate, cl *openapi.Client, params *openapi.Params, q map[string]*string, scrub scrubber) ([]byte, error) {
	leave, err := gate.Enter(ctx)
	if err != nil {
		return nil, audit.Stopped(ctx, "was reached")
	}
	defer leave()
	rctx, rec := safehttp.WithRecorder(ctx)
	res, err := cl.CallApiWithCtx(rctx, params, &openapi.OpenApiRequest{Query: q}, &dara.RuntimeOptions{})
	if err != nil {
		return nil, translate(ctx, err, rec.Status(), scrub)
	}
	body, ok := res["body"].(io.ReadCloser)
	if !ok {
		return nil, &audit.APIError{Code: audit.CodeInvalidResponse, Message: "the SDK returned no response body"}
	}
	defer body.Close()
	// Read into a buffer of the announced size (within the cap): growing
	// one from nothing copies every answer several times.
	var buf bytes.Buffer
	if h, ok := res["headers"].(map[string]*string); ok {
		if n, err := strconv.ParseInt(dara.StringValue(h["content-length"]), 10, 64); err == nil && n > 0 && n <= c.opts.MaxBody {
			buf.Grow(int(n) + 1)
		}
	}
	if _, err := buf.ReadFrom(body); err != nil {
		return nil, translate(ctx, err, rec.Status(), scrub)
	}
	return buf.Bytes(), nil
}

// scrubber removes secrets from text that came from a response: a hostile
// or misconfigured endpoint may echo the signed headers. It is the
// project's one scrubber (internal/scrub), given the credential's key id,
// secret and STS token.
type scrubber struct{ s scrub.Scrubber }

func (c *Client) scrubber() scrubber {
	m, err := c.opts.Credential.GetCredential()
	if err != nil || m == nil {
		return scrubber{}
	}
	return scrubber{scrub.New(dara.StringValue(m.AccessKeySecret), dara.StringValue(m.SecurityToken), dara.StringValue(m.AccessKeyId))}
}

// text bounds and scrubs a value of the answer's data (a name, an ID): of
// the secrets' values, cheaply, as there is one per token.
func (s scrubber) text(v string) string { return audit.BoundText(s.s.Values(v)) }

// message bounds and scrubs a message (an error's, the API's): of the
// secrets' values and of whatever has a secret's shape.
func (s scrubber) message(v string) string { return audit.BoundText(s.s.Text(v)) }

// codeRe is what an API error code looks like: Forbidden.RAM,
// Throttling.User, 2000001. Anything else in the code field is not kept.
var codeRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$`)

func (s scrubber) code(v string) string {
	v = s.text(v)
	if !codeRe.MatchString(v) {
		return ""
	}
	return v
}

// translate turns the SDK's and the transport's errors into *audit.APIError
// at the boundary. status is the HTTP status of the last response (0 when
// none came): a 5xx or 429 is retryable whatever its body looked like.
func translate(ctx context.Context, err error, status int, scrub scrubber) error {
	var thr *openapi.ThrottlingError
	var ce *openapi.ClientError
	var se *openapi.ServerError
	var redirect *safehttp.RedirectError
	var ne net.Error
	httpCode := func() string { return "HTTP" + strconv.Itoa(status) }
	var ae *audit.APIError
	switch {
	case errors.As(err, &ae):
		return ae // already ours (a role that could not be assumed)
	case ctx.Err() != nil:
		return audit.Stopped(ctx, "was reached")
	case errors.As(err, &redirect):
		return &audit.APIError{Code: fmt.Sprintf("HTTP%d", redirect.Status), Message: redirect.Error()}
	case errors.As(err, &thr):
		ra := time.Duration(dara.Int64Value(thr.RetryAfter)) * time.Millisecond
		return &audit.APIError{Code: cmpOr(scrub.code(dara.StringValue(thr.Code)), httpCode()), Message: sdkMessage(thr.Message, scrub),
			RequestID: scrub.code(dara.StringValue(thr.RequestId)), Retryable: true, RetryAfter: ra}
	case errors.As(err, &ce):
		code := scrub.code(dara.StringValue(ce.Code))
		st := dara.IntValue(ce.StatusCode)
		return &audit.APIError{Code: cmpOr(code, fmt.Sprintf("HTTP%d", st)), Message: sdkMessage(ce.Message, scrub), RequestID: scrub.code(dara.StringValue(ce.RequestId)),
			Retryable: safehttp.Retryable(st) || strings.Contains(code, "Throttling")}
	case errors.As(err, &se):
		code := scrub.code(dara.StringValue(se.Code))
		return &audit.APIError{Code: cmpOr(code, fmt.Sprintf("HTTP%d", dara.IntValue(se.StatusCode))), Message: sdkMessage(se.Message, scrub),
			RequestID: scrub.code(dara.StringValue(se.RequestId)), Retryable: true}
	case errors.Is(err, safehttp.ErrTooLarge):
		if status >= 400 {
			return &audit.APIError{Code: httpCode(), Message: "error response larger than " + safehttp.FormatBytes(MaxResponseBytes), Retryable: safehttp.Retryable(status)}
		}
		return &audit.APIError{Code: audit.CodeInvalidResponse, Message: err.Error() + ": refused rather than read into memory"}
	case status >= 400:
		// An error body the SDK could not parse (a load balancer's HTML 503,
		// an empty 502): the status decides.
		return &audit.APIError{Code: httpCode(), Message: fmt.Sprintf("HTTP %d with a body that is not the API's JSON error", status), Retryable: safehttp.Retryable(status)}
	case errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &audit.APIError{Code: audit.CodeRequestFailed, Message: scrub.message(netMessage(err)), Retryable: true}
	}
	return &audit.APIError{Code: audit.CodeRequestFailed, Message: scrub.message(netMessage(err)), Retryable: true}
}

// netMessage renders a transport error without the request URL.
func netMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// sdkMessage strips the SDK's "code: 500, " prefix and trailing request id,
// which are recorded separately.
func sdkMessage(p *string, scrub scrubber) string {
	m := dara.StringValue(p)
	if i := strings.Index(m, ", "); strings.HasPrefix(m, "code: ") && i > 0 {
		m = m[i+2:]
	}
	if i := strings.LastIndex(m, " request id: "); i >= 0 {
		m = m[:i]
	}
	return scrub.message(m)
}

// envelope is what every answer may carry besides its data: the Livy APIs
// always send code (1000000 on success); ListWorkspaces sends none, but a
// failure reported with HTTP 200 may.
type envelope struct {
	Code      flexString `json:"code"`
	Message   string     `json:"message"`
	RequestID string     `json:"requestId"`
}

// check returns the API error the envelope reports, if any. requireCode
// says whether the body must carry the success code.
func (e envelope) check(action string, requireCode bool, scrub scrubber) error {
	code := string(e.Code)
	if code == SuccessCode || code == "" && !requireCode {
		return nil
	}
	if code == "" {
		return &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": the response carries no success code", RequestID: scrub.code(e.RequestID)}
	}
	c := scrub.code(code)
	if c == "" {
		return &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": the response's code is not an API code", RequestID: scrub.code(e.RequestID)}
	}
	msg := scrub.message(e.Message)
	if msg == "" {
		msg = "the API reported a failure without a message"
	}
	return &audit.APIError{Code: c, Message: msg, RequestID: scrub.code(e.RequestID), Retryable: strings.Contains(c, "Throttling")}
}

// decodeJSON decodes one JSON object from b into v, in one pass. An empty
// body or one that is not an object is InvalidResponse; one cut short is a
// retryable RequestFailed; the error never echoes the body, which may hold
// a token value.
func decodeJSON(action string, b []byte, v any) error {
	err := json.Unmarshal(b, v)
	var se *json.SyntaxError
	if errors.As(err, &se) && strings.Contains(se.Error(), "after top-level value") {
		// Something after the object: the object is the answer, as a
		// stream decoder reads it.
		err = json.NewDecoder(bytes.NewReader(b)).Decode(v)
	}
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	switch {
	case len(bytes.TrimSpace(b)) == 0:
		return &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": empty response body"}
	case errors.As(err, &se) && se.Offset >= int64(len(b)) && strings.Contains(se.Error(), "unexpected end"):
		// Cut short by the server or the network: worth another try.
		return &audit.APIError{Code: audit.CodeRequestFailed, Message: action + ": the response body ended in the middle of the JSON", Retryable: true}
	case errors.As(err, &se) || errors.As(err, &te):
		return &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": response body is not the expected JSON object: " + describe(err)}
	}
	return &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": response body is not the expected JSON object"}
}

// describe renders a JSON decoding error without echoing the input.
func describe(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("a JSON %s, not an object", te.Value)
		}
		return fmt.Sprintf("field %q is a JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	return "malformed JSON"
}

// pathIDs refuses IDs that would change the path they are put in: "." and
// ".." (which escaping keeps as they are), empty ones, and any with a slash
// (which escaping would hide, and no ID has). They come from flags, events
// and the API's own answers.
func pathIDs(ids ...string) error {
	for _, id := range ids {
		if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\\") {
			return &audit.APIError{Code: audit.CodeInvalidResponse, Message: fmt.Sprintf("%q is not an ID (it would change the request's path)", audit.Truncate(id, 64))}
		}
	}
	return nil
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
		var nextToken string
		err := c.call(ctx, region, "ListWorkspaces", "/api/v1/workspaces", q, func(b []byte, scrub scrubber) error {
			ws, tok, err := decodeWorkspaces(b, scrub)
			out, nextToken = append(out, ws...), tok
			return err
		})
		if err != nil {
			return nil, err
		}
		if nextToken == "" || nextToken == next {
			return out, nil
		}
		next = nextToken
	}
}

// decodeWorkspaces decodes one page of ListWorkspaces.
func decodeWorkspaces(b []byte, scrub scrubber) ([]audit.Workspace, string, error) {
	const action = "ListWorkspaces"
	var body struct {
		envelope
		Workspaces *[]struct {
			WorkspaceID   string `json:"workspaceId"`
			WorkspaceName string `json:"workspaceName"`
			Name          string `json:"name"`
		} `json:"workspaces"`
		NextToken string `json:"nextToken"`
	}
	if err := decodeJSON(action, b, &body); err != nil {
		return nil, "", err
	}
	if err := body.check(action, false, scrub); err != nil {
		return nil, "", err
	}
	if body.Workspaces == nil {
		if body.RequestID == "" {
			// Not an answer of the API: an empty list must never come from
			// a body that says nothing.
			return nil, "", &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": the response carries neither workspaces nor a requestId"}
		}
		return nil, "", nil
	}
	out := make([]audit.Workspace, 0, len(*body.Workspaces))
	for _, w := range *body.Workspaces {
		id := scrub.text(w.WorkspaceID)
		if id == "" {
			return nil, "", &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": a workspace has no workspaceId", RequestID: scrub.code(body.RequestID)}
		}
		out = append(out, audit.Workspace{ID: id, Name: scrub.text(firstNonEmpty(w.WorkspaceName, w.Name))})
	}
	return out, body.NextToken, nil
}

// ListGateways lists the Livy Gateways ("Livy computes") of a workspace.
func (c *Client) ListGateways(ctx context.Context, region, workspaceID string) ([]audit.Gateway, error) {
	var out []audit.Gateway
	if err := pathIDs(workspaceID); err != nil {
		return nil, err
	}
	p := "/api/interactive/v1/workspace/" + url.PathEscape(workspaceID) + "/livycompute"
	err := c.call(ctx, region, "ListLivyCompute", p, map[string]string{"regionId": region}, func(b []byte, scrub scrubber) (err error) {
		out, err = decodeGateways(b, scrub)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decodeGateways decodes an answer of ListLivyCompute.
func decodeGateways(b []byte, scrub scrubber) ([]audit.Gateway, error) {
	const action = "ListLivyCompute"
	var body struct {
		envelope
		Data *struct {
			LivyComputes *[]struct {
				ComputeID     string `json:"computeId"`
				LivyComputeID string `json:"livyComputeId"`
				Name          string `json:"name"`
				Status        string `json:"status"`
			} `json:"livyComputes"`
			KyuubiServices *[]struct{} `json:"kyuubiServices"`
		} `json:"data"`
	}
	if err := decodeJSON(action, b, &body); err != nil {
		return nil, err
	}
	if err := body.check(action, true, scrub); err != nil {
		return nil, err
	}
	if body.Data != nil && body.Data.LivyComputes == nil && body.Data.KyuubiServices != nil {
		return nil, &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": the answer is a Kyuubi listing (data.kyuubiServices), not Livy's (data.livyComputes)", RequestID: scrub.code(body.RequestID)}
	}
	if body.Data == nil || body.Data.LivyComputes == nil {
		if body.RequestID == "" {
			return nil, &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": the response carries neither data.livyComputes nor a requestId"}
		}
		return nil, nil
	}
	out := make([]audit.Gateway, 0, len(*body.Data.LivyComputes))
	for _, g := range *body.Data.LivyComputes {
		id := scrub.text(firstNonEmpty(g.ComputeID, g.LivyComputeID))
		if id == "" {
			return nil, &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": a gateway has no computeId", RequestID: scrub.code(body.RequestID)}
		}
		out = append(out, audit.Gateway{ID: id, Name: scrub.text(g.Name), Status: scrub.text(g.Status)})
	}
	return out, nil
}

// GatewayDetails reads one gateway's exposure with GetLivyCompute: whether
// it has a public endpoint (enablePublic) and its authType.
func (c *Client) GatewayDetails(ctx context.Context, region, workspaceID, gatewayID string) (audit.GatewayDetails, error) {
	var out audit.GatewayDetails
	if err := pathIDs(workspaceID, gatewayID); err != nil {
		return out, err
	}
	p := "/api/interactive/v1/workspace/" + url.PathEscape(workspaceID) + "/livycompute/" + url.PathEscape(gatewayID)
	err := c.call(ctx, region, "GetLivyCompute", p, map[string]string{"regionId": region}, func(b []byte, scrub scrubber) (err error) {
		out, err = decodeDetails(b, scrub)
		return err
	})
	return out, err
}

// decodeDetails decodes an answer of GetLivyCompute: an answer without
// data.enablePublic says nothing of the exposure, and is InvalidResponse.
func decodeDetails(b []byte, scrub scrubber) (audit.GatewayDetails, error) {
	const action = "GetLivyCompute"
	var body struct {
		envelope
		Data *struct {
			EnablePublic *bool  `json:"enablePublic"`
			AuthType     string `json:"authType"`
			CreatedBy    string `json:"createdBy"`
			RAMUserID    string `json:"ramUserId"`
		} `json:"data"`
	}
	if err := decodeJSON(action, b, &body); err != nil {
		return audit.GatewayDetails{}, err
	}
	if err := body.check(action, true, scrub); err != nil {
		return audit.GatewayDetails{}, err
	}
	if body.Data == nil || body.Data.EnablePublic == nil {
		return audit.GatewayDetails{}, &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": the response carries no data.enablePublic", RequestID: scrub.code(body.RequestID)}
	}
	return audit.GatewayDetails{Public: *body.Data.EnablePublic, AuthType: scrub.code(body.Data.AuthType), CreatedBy: scrub.text(body.Data.CreatedBy),
		RAMUserID: scrub.code(body.Data.RAMUserID)}, nil
}

// apiToken is a token as the API returns it. Its secret value ("token") is
// decoded into bytes, never a string, measured and cleared by tokens.
type apiToken struct {
	Secret       secretValue `json:"token"`
	TokenID      string      `json:"tokenId"`
	Name         string      `json:"name"`
	CreatedBy    string      `json:"createdby"`
	CreatedByAlt string      `json:"createdBy"`
	CreateTime   millis      `json:"createTime"`
	ExpireTime   millis      `json:"expireTime"`
	LastUsedTime millis      `json:"lastUsedTime"`
}

// ListTokens lists the tokens of one gateway.
func (c *Client) ListTokens(ctx context.Context, region, workspaceID, gatewayID string) ([]audit.Token, error) {
	var out []audit.Token
	if err := pathIDs(workspaceID, gatewayID); err != nil {
		return nil, err
	}
	p := "/api/interactive/v1/workspace/" + url.PathEscape(workspaceID) + "/livycompute/" + url.PathEscape(gatewayID) + "/token"
	err := c.call(ctx, region, "ListLivyComputeToken", p, map[string]string{"regionId": region}, func(b []byte, scrub scrubber) (err error) {
		out, err = decodeTokens(b, scrub, c.opts.SecretKey)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteToken deletes one token of a gateway (DeleteLivyComputeToken). A
// token, or a gateway, that is not there is already deleted: a retry of a
// delete whose answer was lost succeeds.
func (c *Client) DeleteToken(ctx context.Context, region, workspaceID, gatewayID, tokenID string) error {
	const action = "DeleteLivyComputeToken"
	if err := pathIDs(workspaceID, gatewayID, tokenID); err != nil {
		return err
	}
	p := "/api/interactive/v1/workspace/" + url.PathEscape(workspaceID) + "/livycompute/" + url.PathEscape(gatewayID) + "/token/" + url.PathEscape(tokenID)
	err := c.callMethod(ctx, "DELETE", region, action, p, map[string]string{"regionId": region}, func(b []byte, scrub scrubber) error {
		var e envelope
		if err := decodeJSON(action, b, &e); err != nil {
			return err
		}
		return e.check(action, false, scrub)
	})
	var ae *audit.APIError
	if errors.As(err, &ae) && strings.HasSuffix(ae.Code, "NotFound") {
		return nil
	}
	return err
}

// decodeTokens decodes an answer of ListLivyComputeToken; key measures the
// secret values (nil: they are skipped).
func decodeTokens(b []byte, scrub scrubber, key *audit.SecretKey) ([]audit.Token, error) {
	const action = "ListLivyComputeToken"
	var body struct {
		envelope
		Data *struct {
			Tokens *[]apiToken `json:"tokens"`
		} `json:"data"`
	}
	defer func() {
		if body.Data != nil && body.Data.Tokens != nil {
			for i := range *body.Data.Tokens {
				(*body.Data.Tokens)[i].Secret.clear()
			}
		}
	}()
	if err := decodeJSON(action, b, &body); err != nil {
		return nil, err
	}
	if err := body.check(action, true, scrub); err != nil {
		return nil, err
	}
	if body.Data == nil || body.Data.Tokens == nil {
		if body.RequestID == "" {
			return nil, &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": the response carries neither data.tokens nor a requestId"}
		}
		return nil, nil
	}
	out, ok := tokens(*body.Data.Tokens, scrub, key)
	if !ok {
		return nil, &audit.APIError{Code: audit.CodeInvalidResponse, Message: action + ": a token has no tokenId", RequestID: scrub.code(body.RequestID)}
	}
	return out, nil
}

// tokens converts the decoded tokens; a time that is not a real instant
// makes that field unknown on that token, never the whole listing fail. It
// returns false when a token has no ID.
func tokens(in []apiToken, scrub scrubber, key *audit.SecretKey) ([]audit.Token, bool) {
	out := make([]audit.Token, 0, len(in))
	for i := range in {
		t := &in[i]
		id := scrub.text(t.TokenID)
		if id == "" {
			return nil, false
		}
		tok := audit.Token{ID: id, Name: scrub.text(t.Name), CreatedBy: scrub.text(firstNonEmpty(t.CreatedBy, t.CreatedByAlt))}
		if key != nil && len(t.Secret.b) > 0 {
			tok.Secret = key.Measure(t.Secret.b)
		}
		t.Secret.clear()
		for _, f := range []struct {
			name string
			in   millis
			out  *time.Time
		}{{audit.FieldCreateTime, t.CreateTime, &tok.CreateTime}, {audit.FieldExpireTime, t.ExpireTime, &tok.ExpireTime}, {audit.FieldLastUsedTime, t.LastUsedTime, &tok.LastUsedTime}} {
			if !f.in.set {
				continue
			}
			v, err := f.in.time()
			if err != nil {
				tok.DataErrors = append(tok.DataErrors, audit.DataError{Field: f.name, Message: err.Error()})
				continue
			}
			*f.out = v
		}
		out = append(out, tok)
	}
	return out, true
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
// string, or null. A value of another kind is remembered as bad, not an
// error: one odd field must not fail the whole listing.
type millis struct {
	v   int64
	set bool
	bad string
}

func (m *millis) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	m.set = true
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			m.bad = "is not a number"
			return nil
		}
		if str == "" {
			m.set = false
			return nil
		}
		s = str
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err == nil:
		m.v = n
	case errors.Is(err, strconv.ErrRange):
		m.bad = "is out of range, not a time"
	default:
		if _, ferr := strconv.ParseFloat(s, 64); ferr == nil {
			m.bad = "is not an integer number of milliseconds"
		} else {
			m.bad = "is not a number"
		}
	}
	return nil
}

func (m millis) time() (time.Time, error) {
	if m.bad != "" {
		return time.Time{}, errors.New(m.bad)
	}
	return audit.EpochMillis(m.v)
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

// secretValue is a token's secret value, decoded from its JSON string
// into bytes (never a Go string) only to be measured, then cleared. A value
// that is not a string is no value.
type secretValue struct{ b []byte }

func (s *secretValue) UnmarshalJSON(raw []byte) error {
	if len(raw) < 2 || raw[0] != '"' {
		return nil // null, or not a string: no value to measure
	}
	s.b = unquote(raw)
	return nil
}

// clear wipes the value.
func (s *secretValue) clear() {
	clear(s.b)
	s.b = nil
}

// String never shows the value.
func (s secretValue) String() string { return "[secret]" }

// unquote decodes a JSON string literal (already checked by the decoder)
// into new bytes as encoding/json would: escapes resolved, an unpaired
// surrogate or invalid UTF-8 as U+FFFD (FuzzDecode holds it to that).
func unquote(raw []byte) []byte {
	raw = raw[1 : len(raw)-1]
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c >= utf8.RuneSelf { // invalid UTF-8 reads as U+FFFD, as encoding/json reads it
			r, size := utf8.DecodeRune(raw[i:])
			out = utf8.AppendRune(out, r)
			i += size - 1
			continue
		}
		if c != '\\' || i+1 >= len(raw) {
			out = append(out, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n := unicodeEscape(raw[i-1:])
			out = utf8.AppendRune(out, r)
			i += n - 2
		default: // \" \\ \/
			out = append(out, raw[i])
		}
	}
	return out
}

// unicodeEscape decodes \uXXXX (and a surrogate pair \uXXXX\uXXXX) at the
// start of b: the rune and how many bytes it took.
func unicodeEscape(b []byte) (rune, int) {
	hex4 := func(b []byte) (rune, bool) {
		if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
			return 0, false
		}
		var v rune
		for _, c := range b[2:6] { // by hand: not even a piece of the value becomes a string
			switch {
			case '0' <= c && c <= '9':
				v = v<<4 | rune(c-'0')
			case 'a' <= c && c <= 'f':
				v = v<<4 | rune(c-'a'+10)
			case 'A' <= c && c <= 'F':
				v = v<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return v, true
	}
	r, ok := hex4(b)
	if !ok {
		return utf8.RuneError, 2
	}
	if utf16.IsSurrogate(r) {
		if r2, ok := hex4(b[6:]); ok {
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				return d, 12
			}
		}
		return utf8.RuneError, 6
	}
	return r, 6
}

// ServerDate is the API endpoint's clock in region: the Date header of an
// unsigned request to it (any answer carries one; the request holds no
// credential). The preflight compares it with the run's clock: signed
// requests, claims and leases depend on them agreeing.
func (c *Client) ServerDate(ctx context.Context, region string) (time.Time, error) {
	protocol, host, err := splitEndpoint(strings.ReplaceAll(c.opts.Endpoint, "{region}", region))
	if err != nil {
		return time.Time{}, err
	}
	hc := c.opts.HTTPClient
	if hc == nil {
		hc = safehttp.NewClient(safehttp.Options{Timeout: c.opts.Timeout, MaxBody: 64 << 10, MaxConnsPerHost: 1})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, protocol+"://"+host+"/", nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("emr: date of %s: %w", region, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return time.Time{}, &audit.APIError{Code: audit.CodeRequestFailed, Message: c.scrubber().message(netMessage(err))}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	t, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return time.Time{}, &audit.APIError{Code: audit.CodeInvalidResponse, Message: "the endpoint's answer has no readable Date header"}
	}
	return t, nil
}
