package deployvars

import (
	"strings"
	"testing"
)

// The vars are checked, and rendered into the template's snapshot.oss (its
// comments kept, a missing block added) and the policy's OSS statement.
func TestRender(t *testing.T) {
	t.Parallel()
	v := Vars{Region: "cn-shanghai", Bucket: "my-bucket-1", Prefix: "audits/"}
	out, err := Config([]byte("# keep me\nregions: [cn-hangzhou]\nsnapshot:\n  oss:\n    bucket: old  # the old one\n    internal: true\n"), v)
	if err != nil || !strings.Contains(string(out), "# keep me") || !strings.Contains(string(out), "bucket: my-bucket-1") ||
		!strings.Contains(string(out), "region: cn-shanghai") || !strings.Contains(string(out), "prefix: audits/") || !strings.Contains(string(out), "internal: true") {
		t.Errorf("got %v\n%s", err, out)
	}
	if out, err := Config([]byte("regions: [cn-hangzhou]\n"), v); err != nil || !strings.Contains(string(out), "snapshot:\n  oss:\n    bucket: my-bucket-1") {
		t.Errorf("no snapshot block: got %v\n%s", err, out)
	}
	p, err := Policy([]byte(`{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:PutObject"],"Resource":"x"}]}`), v)
	if err != nil || !strings.Contains(string(p), `"Resource": "acs:oss:*:*:my-bucket-1/audits/*"`) {
		t.Errorf("got %v\n%s", err, p)
	}
	for _, bad := range []Vars{{Region: "hangzhou", Bucket: "b-1", Prefix: "p/"}, {Region: "cn-hangzhou", Bucket: "My_Bucket", Prefix: "p/"},
		{Region: "cn-hangzhou", Bucket: "b-12", Prefix: "no-slash"}, {Region: "cn-hangzhou", Bucket: "b-12", Prefix: "/abs/"}} {
		if _, err := Config([]byte("regions: [cn-hangzhou]\n"), bad); err == nil {
			t.Errorf("%+v was accepted", bad)
		}
	}
}
