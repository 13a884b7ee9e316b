package config

import (
	"net/url"
	"strings"
)

// OwnersLookup is the owners section: how a token's creator is found —
// their RAM user (IMS, at Endpoint) and workspace membership (Resolve),
// and their Slack user by email (LookupEmail, with a bot token).
type OwnersLookup struct {
	Resolve     bool
	LookupEmail bool
	Endpoint    string
}

// DefaultIMSEndpoint is owners.endpoint by default.
const DefaultIMSEndpoint = "https://ims.aliyuncs.com"

type rawOwnersLookup struct {
	Resolve     *bool  `yaml:"resolve"`
	LookupEmail *bool  `yaml:"lookupEmail"`
	Endpoint    string `yaml:"endpoint"`
}

// owners validates the owners section. resolve is on by default — with
// the default API endpoint, or an owners.endpoint of its own: a config
// pointed at another API (a stand-in, a proxy) would otherwise ask the
// real IMS about its stand-in's users. lookupEmail is on by default (it
// needs a bot token, SLACK_BOT_TOKEN or SLACK_LOOKUP_TOKEN).
func (v *validator) owners(c *Config, r raw) {
	ro := r.Owners
	o := OwnersLookup{Resolve: c.API.Endpoint == DefaultEndpoint || ro.Endpoint != "", LookupEmail: true, Endpoint: DefaultIMSEndpoint}
	if ro.Resolve != nil {
		o.Resolve = *ro.Resolve
	}
	if ro.LookupEmail != nil {
		o.LookupEmail = *ro.LookupEmail
	}
	if ro.Endpoint != "" {
		o.Endpoint = ro.Endpoint
		u, err := url.Parse(ro.Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" && u.Path != "/" || strings.Contains(ro.Endpoint, "?") {
			v.fail("owners.endpoint", "%q is not a URL like %s", ro.Endpoint, DefaultIMSEndpoint)
		}
	}
	c.Owners = o
}
