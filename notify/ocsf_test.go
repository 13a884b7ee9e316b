package notify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"livy-token-audit/audit"
	"livy-token-audit/audit/delivery"
)

// Each active finding is one OCSF Detection Finding with every attribute
// the OCSF schema requires of the class (base event: activity_id,
// category_uid, class_uid, metadata{product{vendor_name}, version},
// severity_id, time, type_uid; finding: finding_info{uid, title}), read
// from the schema's own files (ocsf/ocsf-schema, events/findings and
// objects) at 1.2.0 and its development head; the uid is the finding's
// fingerprint, and no line holds a token's value.
func TestOCSFDetectionFindings(t *testing.T) {
	t.Parallel()
	s := hostileSnapshot()
	var buf bytes.Buffer
	if err := WriteOCSF(&buf, NewDigest(s, delivery.Locations{})); err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		n++
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		for _, k := range []string{"activity_id", "category_uid", "class_uid", "metadata", "severity_id", "time", "type_uid", "finding_info"} {
			if _, ok := ev[k]; !ok {
				t.Errorf("line %d lacks %s", n, k)
			}
		}
		if ev["class_uid"] != float64(2004) || ev["category_uid"] != float64(2) || ev["type_uid"] != float64(200401) || ev["activity_id"] != float64(1) {
			t.Errorf("line %d: class %v category %v type %v activity %v", n, ev["class_uid"], ev["category_uid"], ev["type_uid"], ev["activity_id"])
		}
		sev, _ := ev["severity_id"].(float64)
		if sev < 2 || sev > 5 {
			t.Errorf("line %d: severity_id %v", n, ev["severity_id"])
		}
		md := ev["metadata"].(map[string]any)
		prod, _ := md["product"].(map[string]any)
		if md["version"] != OCSFVersion || prod["vendor_name"] == "" || prod["name"] == "" {
			t.Errorf("line %d: metadata %v", n, md)
		}
		fi := ev["finding_info"].(map[string]any)
		if uid, _ := fi["uid"].(string); len(uid) != 32 || fi["title"] == "" {
			t.Errorf("line %d: finding_info %v", n, fi)
		}
	}
	active := 0
	for _, g := range s.Gateways {
		for _, tk := range g.Tokens {
			active += len(tk.Findings)
		}
	}
	if n != active || n == 0 {
		t.Errorf("%d events for %d active findings", n, active)
	}
	if strings.Contains(buf.String(), "lvt-") {
		t.Error("a token value reached the OCSF events")
	}
	// The same finding has the same uid from run to run, and another rule
	// of the token another one.
	ref := audit.GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w", GatewayID: "g"}
	if audit.Fingerprint(ref, "tk", audit.RuleStale) != audit.Fingerprint(ref, "tk", audit.RuleStale) ||
		audit.Fingerprint(ref, "tk", audit.RuleStale) == audit.Fingerprint(ref, "tk", audit.RuleUnused) {
		t.Error("fingerprints are not stable, or not distinct")
	}
}
