// Package cloudmonitor sends a run's figures (notify/metrics) to Alibaba
// Cloud CloudMonitor as custom metrics: PutCustomMetric (RPC style, version
// 2019-01-01), called through darabonba-openapi's CallApiWithCtx with the
// official SDK's Params, so the request is signed with ACS3-HMAC-SHA256. A
// heartbeat that does not depend on the function running: an alarm on
// audit_run fires when no run reports.
//
// Each figure is one MetricList entry of raw data (Type 0), its dimensions
// the account and the region (audit_run: the verdict); a finding count is
// folded into its name, findings_<rule> and findings_<severity>, so that
// the dimensions stay the account and the region. At most 21 entries go in
// one call.
package cloudmonitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
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
	"livy-token-audit/notify/metrics"
)

// APIVersion is the CloudMonitor API version the client speaks.
const APIVersion = "2019-01-01"

// MaxPerCall is the most MetricList entries PutCustomMetric takes at once.
const MaxPerCall = 21

// Options configure a Client; they are resolved by the config.
type Options struct {
	// Endpoint is the API's URL (https://metrics.{region}.aliyuncs.com
	// with the region put in).
	Endpoint   string
	Region     string
	GroupID    int64
	Credential credentials.Credential
	// Timeout bounds one call; Attempts is how many are made of a call
	// that failed for a passing reason (throttling, 5xx, the network).
	Timeout  time.Duration
	Attempts int
	// HTTPClient sends the requests (default: a safehttp client: no
	// redirects, bounded in time and size).
	HTTPClient *http.Client
	// Sleep waits between attempts (tests replace it).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client sends figures to CloudMonitor.
type Client struct {
	o Options
	// mu serializes calls: the SDK's RPC path reads and clears a field of
	// the client on every call (GetRpcHeaders), so one client cannot carry
	// two calls at once. A run sends its metrics one call after another.
	mu sync.Mutex
	cl *openapi.Client
}

// New returns a client; it makes no call.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.Endpoint)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, fmt.Errorf("cloudmonitor: endpoint %q is not a URL like https://metrics.cn-hangzhou.aliyuncs.com", o.Endpoint)
	case o.Credential == nil:
		return nil, errors.New("cloudmonitor: no credential")
	case o.Timeout <= 0:
		o.Timeout = 10 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = safehttp.NewClient(safehttp.Options{Timeout: o.Timeout, MaxBody: 64 << 10})
	}
	ms := int(o.Timeout / time.Millisecond)
	cl, err := openapi.NewClient(&openapi.Config{Endpoint: dara.String(u.Host), Protocol: dara.String(u.Scheme), RegionId: dara.String(o.Region),
		Credential: o.Credential, ConnectTimeout: dara.Int(ms), ReadTimeout: dara.Int(ms), HttpClient: doer{hc}})
	if err != nil {
		return nil, fmt.Errorf("cloudmonitor: %w", err)
	}
	cl.DisableSDKError = dara.Bool(true)
	return &Client{o: o, cl: cl}, nil
}

type doer struct{ c *http.Client }

func (d doer) Call(req *http.Request, _ *http.Transport) (*http.Response, error) { return d.c.Do(req) }

// Entry is one MetricList entry: a figure as CloudMonitor takes it.
type Entry struct {
	Name       string
	Dimensions map[string]string
	Value      float64
}

// Entries turns figures into CloudMonitor's entries: a finding count is
// folded into findings_<rule> and findings_<severity> (summed), so that
// every entry's dimensions are its account and region (audit_run's: its
// verdict).
func Entries(figs []metrics.Figure) []Entry {
	var out []Entry
	sums := map[string]int{}
	var order []string
	for _, f := range figs {
		switch f.Name {
		case metrics.Run:
			out = append(out, Entry{Name: f.Name, Dimensions: map[string]string{"verdict": string(f.Verdict)}, Value: f.Value})
		case metrics.FindingsOpened, metrics.FindingsResolved, metrics.RemediationHoursP50, metrics.RemediationHoursP90:
			out = append(out, Entry{Name: f.Name, Dimensions: map[string]string{"scope": "fleet"}, Value: f.Value})
		case metrics.Findings:
			for _, name := range []string{"findings_" + string(f.Rule), "findings_" + f.Severity.String()} {
				k := f.Account + "\x00" + f.Region + "\x00" + name
				if _, ok := sums[k]; !ok {
					order = append(order, k)
				}
				sums[k] += int(f.Value)
			}
		default:
			out = append(out, Entry{Name: f.Name, Dimensions: map[string]string{"account": f.Account, "region": f.Region}, Value: f.Value})
		}
	}
	for _, k := range order {
		p := strings.Split(k, "\x00")
		out = append(out, Entry{Name: p[2], Dimensions: map[string]string{"account": p[0], "region": p[1]}, Value: float64(sums[k])})
	}
	return out
}

// Report sends the figures of snapshot s, at its audit time.
func (c *Client) Report(ctx context.Context, s *audit.Snapshot) error {
	return c.Put(ctx, Entries(metrics.Of(s)), s.AuditedAt)
}

// Put sends entries, at most MaxPerCall per call; each call is retried
// when it failed for a passing reason. It stops at the first call that
// fails.
func (c *Client) Put(ctx context.Context, entries []Entry, at time.Time) error {
	for start := 0; start < len(entries); start += MaxPerCall {
		batch := entries[start:min(len(entries), start+MaxPerCall)]
		if err := c.put(ctx, batch, at); err != nil {
			return fmt.Errorf("cloudmonitor: put %d metrics: %w", len(batch), err)
		}
	}
	return nil
}

var params = &openapi.Params{
	Action: dara.String("PutCustomMetric"), Version: dara.String(APIVersion), Protocol: dara.String("HTTPS"), Pathname: dara.String("/"),
	Method: dara.String("POST"), AuthType: dara.String("AK"), Style: dara.String("RPC"), ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
}

func (c *Client) put(ctx context.Context, batch []Entry, at time.Time) error {
	q := map[string]*string{"RegionId": dara.String(c.o.Region)}
	for i, e := range batch {
		dims, err := json.Marshal(e.Dimensions)
		if err != nil {
			return err
		}
		vals, err := json.Marshal(map[string]float64{"value": e.Value})
		if err != nil {
			return err
		}
		p := "MetricList." + strconv.Itoa(i+1) + "."
		for k, v := range map[string]string{"GroupId": strconv.FormatInt(c.o.GroupID, 10), "MetricName": e.Name, "Dimensions": string(dims),
			"Values": string(vals), "Time": strconv.FormatInt(at.UnixMilli(), 10), "Type": "0"} {
			q[p+k] = dara.String(v)
		}
	}
	sc := c.scrubber()
	r := retry.Retrier{Attempts: c.o.Attempts, Base: time.Second, Max: 10 * time.Second, Sleep: c.o.Sleep}
	return r.Do(ctx, func(err error) (bool, time.Duration) {
		var p passing
		return errors.As(err, &p), 0
	}, func() error {
		c.mu.Lock()
		res, err := c.cl.CallApiWithCtx(ctx, params, &openapi.OpenApiRequest{Query: q}, &dara.RuntimeOptions{})
		c.mu.Unlock()
		if err != nil {
			return sc.Err(translate(err))
		}
		body, _ := res["body"].(map[string]any)
		if code := fmt.Sprint(body["Code"]); code != "200" {
			return sc.Err(fmt.Errorf("%s: %s", code, body["Message"]))
		}
		return nil
	})
}

// passing is a failure worth another try.
type passing struct{ error }

func (p passing) Unwrap() error { return p.error }

var throttling = regexp.MustCompile(`(?i)throttl`)

// translate keeps of an SDK error its code and message; throttling, 5xx
// and network failures are passing.
func translate(err error) error {
	var ce *openapi.ClientError
	var se *openapi.ServerError
	var te *openapi.ThrottlingError
	switch {
	case errors.As(err, &te):
		return passing{fmt.Errorf("%s: %s", dara.StringValue(te.Code), dara.StringValue(te.Message))}
	case errors.As(err, &se):
		return passing{fmt.Errorf("%s: %s", dara.StringValue(se.Code), dara.StringValue(se.Message))}
	case errors.As(err, &ce):
		e := fmt.Errorf("%s: %s", dara.StringValue(ce.Code), dara.StringValue(ce.Message))
		if throttling.MatchString(dara.StringValue(ce.Code)) || safehttp.Retryable(dara.IntValue(ce.StatusCode)) {
			return passing{e}
		}
		return e
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL adds nothing
	}
	return passing{err}
}

// scrubber removes the credential's secrets from an error.
func (c *Client) scrubber() scrub.Scrubber {
	m, err := c.o.Credential.GetCredential()
	if err != nil || m == nil {
		return scrub.New()
	}
	return scrub.New(dara.StringValue(m.AccessKeySecret), dara.StringValue(m.SecurityToken), dara.StringValue(m.AccessKeyId))
}
