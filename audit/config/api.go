package config

import (
	"net/url"
	"strings"
	"time"
)

// API tunes the EMR Serverless Spark client and the fleet. Every field is
// resolved: the defaults below are the only ones.
type API struct {
	// Endpoint is a URL template with {region}.
	Endpoint string
	// Concurrency bounds the requests in flight across the whole run.
	Concurrency int
	// Timeout bounds one HTTP call, body included.
	Timeout time.Duration
	// Retries is how many times a throttled, 5xx or failed-network call is
	// tried again (0: never).
	Retries int
	// RatePerSecond bounds the requests per second to each account and
	// region.
	RatePerSecond float64
	// DeadlineReserve is kept for writing and posting before the run's
	// deadline.
	DeadlineReserve time.Duration
	// STSEndpoint is where roles are assumed (host[:port], HTTPS).
	STSEndpoint string
	// GatewayDetails reads each gateway's details (GetLivyCompute: whether
	// it has a public endpoint): one more call per gateway.
	GatewayDetails bool
	// Kyuubi audits the Kyuubi Gateways' tokens too (ListKyuubiServices,
	// ListKyuubiToken): every workspace hands out both kinds.
	Kyuubi bool
}

// The api section's defaults.
const (
	DefaultEndpoint        = "https://emr-serverless-spark.{region}.aliyuncs.com"
	DefaultConcurrency     = 8
	DefaultTimeout         = 10 * time.Second
	DefaultRetries         = 3
	DefaultRatePerSecond   = 10
	DefaultDeadlineReserve = 15 * time.Second
	DefaultSTSEndpoint     = "sts.aliyuncs.com"
	DefaultGatewayDetails  = true
	DefaultKyuubi          = true
)

type rawAPI struct {
	Endpoint        string   `yaml:"endpoint"`
	Concurrency     *int     `yaml:"concurrency"`
	Timeout         string   `yaml:"timeout"`
	Retries         *int     `yaml:"retries"`
	RatePerSecond   *float64 `yaml:"ratePerSecond"`
	DeadlineReserve string   `yaml:"deadlineReserve"`
	STSEndpoint     string   `yaml:"stsEndpoint"`
	GatewayDetails  *bool    `yaml:"gatewayDetails"`
	Kyuubi          *bool    `yaml:"kyuubi"`
}

// api validates the api section.
func (v *validator) api(c *Config, r raw) {
	ra := r.API
	c.API = API{
		Endpoint: DefaultEndpoint, Concurrency: DefaultConcurrency, Retries: DefaultRetries, RatePerSecond: DefaultRatePerSecond,
		Timeout:         v.duration("api.timeout", ra.Timeout, DefaultTimeout),
		DeadlineReserve: v.duration("api.deadlineReserve", ra.DeadlineReserve, DefaultDeadlineReserve),
		STSEndpoint:     DefaultSTSEndpoint,
		GatewayDetails:  DefaultGatewayDetails,
		Kyuubi:          DefaultKyuubi,
	}
	if ra.GatewayDetails != nil {
		c.API.GatewayDetails = *ra.GatewayDetails
	}
	if ra.Kyuubi != nil {
		c.API.Kyuubi = *ra.Kyuubi
	}
	if ra.STSEndpoint != "" {
		c.API.STSEndpoint = ra.STSEndpoint
		if u, err := url.Parse("https://" + ra.STSEndpoint); strings.Contains(ra.STSEndpoint, "/") || err != nil || u.Host != ra.STSEndpoint {
			v.fail("api.stsEndpoint", "%q is not a host[:port] like sts.aliyuncs.com (the STS client speaks HTTPS only)", ra.STSEndpoint)
		}
	}
	if ra.Endpoint != "" {
		c.API.Endpoint = ra.Endpoint
		u, err := url.Parse(strings.ReplaceAll(ra.Endpoint, "{region}", "cn-hangzhou"))
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.fail("api.endpoint", "%q is not a URL like https://emr-serverless-spark.{region}.aliyuncs.com", ra.Endpoint)
		case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			v.fail("api.endpoint", "%q has more than a scheme and a host: the API's paths are the client's (write https://emr-serverless-spark.{region}.aliyuncs.com)", ra.Endpoint)
		}
	}
	if n := ra.Concurrency; n != nil {
		if *n < 1 || *n > 64 {
			v.fail("api.concurrency", "%d is out of range (1 to 64)", *n)
		}
		c.API.Concurrency = *n
	}
	if n := ra.Retries; n != nil {
		if *n < 0 || *n > 10 {
			v.fail("api.retries", "%d is out of range (0 to 10)", *n)
		}
		c.API.Retries = *n
	}
	if rps := ra.RatePerSecond; rps != nil {
		if *rps <= 0 {
			v.fail("api.ratePerSecond", "must be more than 0")
		}
		c.API.RatePerSecond = *rps
	}
}
