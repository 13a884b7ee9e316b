// Package deployvars renders the function's config and RAM policy from
// s.yaml's vars, so that the region, the bucket and the prefix are set in
// one place: deploy/audit.yaml and deploy/ram-policy.json are templates
// whose snapshot.oss and OSS resource are overwritten with them.
package deployvars

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Vars are s.yaml's vars.
type Vars struct {
	Region, Bucket, Prefix string
}

var (
	regionRe = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+$`)
	bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
)

// Check refuses vars that cannot be right.
func (v Vars) Check() error {
	switch {
	case !regionRe.MatchString(v.Region):
		return fmt.Errorf("vars.region %q is not a region like cn-hangzhou", v.Region)
	case !bucketRe.MatchString(v.Bucket):
		return fmt.Errorf("vars.bucket %q is not an OSS bucket name (3 to 63 lower-case letters, digits and hyphens)", v.Bucket)
	case v.Prefix != "" && (!strings.HasSuffix(v.Prefix, "/") || strings.HasPrefix(v.Prefix, "/") || strings.ContainsAny(v.Prefix, "*?")):
		return fmt.Errorf("vars.prefix %q is not a folder like livy-audit/", v.Prefix)
	}
	return nil
}

// Config returns the config template with snapshot.oss's bucket, region
// and prefix set from v (its comments kept).
func Config(template []byte, v Vars) ([]byte, error) {
	if err := v.Check(); err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(template, &doc); err != nil || len(doc.Content) == 0 {
		return nil, fmt.Errorf("config template: %v", err)
	}
	oss := mapping(mapping(doc.Content[0], "snapshot"), "oss")
	set(oss, "bucket", v.Bucket)
	set(oss, "region", v.Region)
	set(oss, "prefix", v.Prefix)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return out.Bytes(), enc.Close()
}

// mapping returns the mapping under key in m, adding it when absent.
func mapping(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			if v.Kind != yaml.MappingNode {
				*v = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			}
			return v
		}
	}
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
	return v
}

func set(m *yaml.Node, key, value string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1].Kind, m.Content[i+1].Tag, m.Content[i+1].Value, m.Content[i+1].Style = yaml.ScalarNode, "!!str", value, 0
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
}

// OSSResource is the policy's resource for the snapshots: the prefix of
// the bucket.
func OSSResource(v Vars) string { return "acs:oss:*:*:" + v.Bucket + "/" + v.Prefix + "*" }

// Policy returns the RAM policy template with its OSS statement's
// resource set to v's bucket and prefix.
func Policy(template []byte, v Vars) ([]byte, error) {
	if err := v.Check(); err != nil {
		return nil, err
	}
	var p struct {
		Version   string           `json:"Version"`
		Statement []map[string]any `json:"Statement"`
	}
	if err := json.Unmarshal(template, &p); err != nil {
		return nil, fmt.Errorf("policy template: %w", err)
	}
	found := false
	for _, st := range p.Statement {
		acts, _ := st["Action"].([]any)
		for _, a := range acts {
			if s, _ := a.(string); strings.HasPrefix(s, "oss:") {
				st["Resource"] = OSSResource(v)
				found = true
				break
			}
		}
	}
	if !found {
		return nil, errors.New("policy template: no statement with oss: actions")
	}
	out, err := json.MarshalIndent(p, "", "  ")
	return append(out, '\n'), err
}
