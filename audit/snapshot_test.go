package audit

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Snapshot.Write streams what encoding/json would write, byte for byte: a
// field added to Snapshot and forgotten by Write fails here.
func TestSnapshotWriteMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	full := BuildSnapshot(Collection{
		Gateways: []GatewayResult{
			ok(gwA, Token{ID: "tk-1", Name: "<!channel> & co", CreateTime: now.Add(-90 * Day)}, Token{ID: "tk-2", LastUsedTime: now}),
			failed(gwB),
		},
		Errors: []ScopeError{{Region: "cn-shanghai", Code: "Forbidden.RAM", Message: "no"}},
	}, Evaluation{Now: now, Policy: DefaultPolicy(), Suppressions: []Suppression{{Name: "tk*", Reason: "r"}}})
	Compare(full, base(snap(now.Add(-Day), ok(gwA, Token{ID: "tk-3", CreateTime: now.Add(-90 * Day)}))), nil, Day)
	for name, s := range map[string]*Snapshot{"full": full, "empty": snap(now), "nil gateways": {SchemaVersion: 1}} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		got, err := s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s: Write differs from encoding/json:\ngot:\n%s\nwant:\n%s", name, got, want.Bytes())
		}
	}
}
