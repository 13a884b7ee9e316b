package config

import (
	"net/url"
	"regexp"
	"strings"
	"time"

	"livy-token-audit/audit"
)

// Snapshot says where snapshots go: OSS when OSS is set, else Dir.
type Snapshot struct {
	Dir string
	OSS *OSS
}

// DefaultSnapshotDir is snapshot.dir's default.
const DefaultSnapshotDir = "audit-out"

// OSS names the bucket that keeps snapshots.
type OSS struct {
	Bucket string
	Region string
	// Endpoint is resolved: the configured one, or the region's public (or
	// internal) endpoint.
	Endpoint             string
	Prefix               string
	ServerSideEncryption string
	KMSKeyID             string
	PresignLinks         time.Duration
}

type rawSnapshot struct {
	Dir string  `yaml:"dir"`
	OSS *rawOSS `yaml:"oss"`
}

type rawOSS struct {
	Bucket               string `yaml:"bucket"`
	Region               string `yaml:"region"`
	Endpoint             string `yaml:"endpoint"`
	Internal             bool   `yaml:"internal"`
	Prefix               string `yaml:"prefix"`
	ServerSideEncryption string `yaml:"serverSideEncryption"`
	KMSKeyID             string `yaml:"kmsKeyId"`
	PresignLinks         string `yaml:"presignLinks"`
}

var bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

// snapshot validates the snapshot section.
func (v *validator) snapshot(c *Config, r raw) {
	c.Snapshot.Dir = r.Snapshot.Dir
	if c.Snapshot.Dir == "" {
		c.Snapshot.Dir = DefaultSnapshotDir
	}
	if o := r.Snapshot.OSS; o != nil {
		c.Snapshot.OSS = v.oss(*o)
	}
}

func (v *validator) oss(o rawOSS) *OSS {
	c := &OSS{Bucket: o.Bucket, Region: o.Region, Endpoint: o.Endpoint, Prefix: o.Prefix, ServerSideEncryption: o.ServerSideEncryption, KMSKeyID: o.KMSKeyID}
	if !bucketRe.MatchString(o.Bucket) {
		v.fail("snapshot.oss.bucket", "missing or not a bucket name (3-63 lower-case letters, digits, hyphens)")
	}
	if !regionRe.MatchString(o.Region) {
		v.fail("snapshot.oss.region", "missing or not a region ID like cn-hangzhou")
	}
	switch {
	case o.Endpoint != "":
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail("snapshot.oss.endpoint", "%q is not a URL like https://oss-cn-hangzhou.aliyuncs.com", o.Endpoint)
		}
		if o.Internal {
			v.fail("snapshot.oss.internal", "set either endpoint or internal, not both")
		}
	case o.Internal:
		c.Endpoint = "https://oss-" + o.Region + "-internal.aliyuncs.com"
	default:
		c.Endpoint = "https://oss-" + o.Region + ".aliyuncs.com"
	}
	c.Prefix = strings.TrimPrefix(c.Prefix, "/")
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	switch o.ServerSideEncryption {
	case "", "AES256":
		if o.KMSKeyID != "" {
			v.fail("snapshot.oss.kmsKeyId", "only applies with serverSideEncryption: KMS")
		}
	case "KMS":
	default:
		v.fail("snapshot.oss.serverSideEncryption", "%q is not AES256 or KMS", o.ServerSideEncryption)
	}
	c.PresignLinks = v.duration("snapshot.oss.presignLinks", o.PresignLinks, 0)
	if c.PresignLinks > 7*audit.Day {
		v.fail("snapshot.oss.presignLinks", "at most 7d (OSS refuses longer presigned URLs)")
	}
	return c
}
