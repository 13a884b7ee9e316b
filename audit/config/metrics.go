package config

import (
	"net/url"
	"strings"
)

// Metrics says where a run's figures go besides its reports.
type Metrics struct {
	// CloudMonitor, when set, reports them to CloudMonitor as custom
	// metrics (metrics.cloudMonitor.enabled).
	CloudMonitor *CloudMonitor
}

// CloudMonitor is metrics.cloudMonitor, resolved.
type CloudMonitor struct {
	// GroupID is the application group the metrics belong to (0: none).
	GroupID int64
	// Region is where they are reported; Endpoint the API's URL.
	Region   string
	Endpoint string
}

// DefaultCloudMonitorEndpoint is metrics.cloudMonitor.endpoint by default.
const DefaultCloudMonitorEndpoint = "https://metrics.{region}.aliyuncs.com"

type rawMetrics struct {
	CloudMonitor rawCloudMonitor `yaml:"cloudMonitor"`
}

type rawCloudMonitor struct {
	Enabled  bool   `yaml:"enabled"`
	GroupID  *int64 `yaml:"groupId"`
	Region   string `yaml:"region"`
	Endpoint string `yaml:"endpoint"`
}

// metrics validates the metrics section: the region defaults to the first
// of regions (the run's own account's).
func (v *validator) metrics(c *Config, r raw) {
	rc := r.Metrics.CloudMonitor
	if !rc.Enabled {
		return
	}
	cm := &CloudMonitor{Region: rc.Region, Endpoint: DefaultCloudMonitorEndpoint}
	if cm.Region == "" && len(c.Regions) > 0 {
		cm.Region = c.Regions[0]
	}
	if cm.Region == "" {
		v.fail("metrics.cloudMonitor.region", "missing: name the region to report to (no regions: are configured to take it from)")
	}
	if g := rc.GroupID; g != nil {
		if *g < 0 {
			v.fail("metrics.cloudMonitor.groupId", "%d: an application group ID is 0 (none) or more", *g)
		}
		cm.GroupID = *g
	}
	if rc.Endpoint != "" {
		cm.Endpoint = rc.Endpoint
	}
	if u, err := url.Parse(strings.ReplaceAll(cm.Endpoint, "{region}", "cn-hangzhou")); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.fail("metrics.cloudMonitor.endpoint", "%q is not a URL like https://metrics.{region}.aliyuncs.com", cm.Endpoint)
	}
	cm.Endpoint = strings.ReplaceAll(cm.Endpoint, "{region}", cm.Region)
	c.Metrics = Metrics{CloudMonitor: cm}
}
