package audit

import (
	"bytes"
	"io"
	"testing"
)

// FuzzReadSnapshot feeds arbitrary objects to what the runner reads back
// from a store (a snapshot to reuse, latest.json, baseline.json): no object
// makes it panic, and whatever it accepts can be compared against and
// written again.
func FuzzReadSnapshot(f *testing.F) {
	s := BuildSnapshot(Collection{Gateways: []GatewayResult{
		{Ref: gwA, Tokens: []Token{{ID: "tk", Name: "n", CreateTime: now.Add(-90 * Day)}}},
		{Ref: gwB, Err: &APIError{Code: "ServiceUnavailable"}},
	}}, Evaluation{Now: now, Policy: DefaultPolicy()})
	b, _ := s.Encode()
	f.Add(b)
	var base bytes.Buffer
	_ = BaselineOf(s).Write(&base)
	f.Add(base.Bytes())
	f.Add([]byte(`{"schemaVersion":1,"gateways":[{"region":"r","tokens":[{"tokenId":"t","findings":[{"rule":"stale","severity":"high"}]}]}]}`))
	f.Add([]byte(`{"schemaVersion":1,"auditedAt":"9999-12-31T23:59:59Z","gateways":null}`))
	f.Add([]byte(`{"schemaVersion":7}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if prev, err := ReadSnapshot(b); err == nil {
			if _, err := prev.Encode(); err != nil {
				t.Fatalf("a snapshot that was read cannot be written again: %v", err)
			}
			base := BaselineOf(prev)
			if err := NextBaseline(base, s).Write(io.Discard); err != nil {
				t.Fatalf("baseline from a read snapshot: %v", err)
			}
		}
		if base, err := ReadBaseline(b); err == nil {
			cur := BuildSnapshot(Collection{Gateways: []GatewayResult{{Ref: gwA, Tokens: []Token{{ID: "tk"}}}}}, Evaluation{Now: now, Policy: DefaultPolicy()})
			Compare(cur, base, nil, Day)
			if _, err := cur.Encode(); err != nil {
				t.Fatalf("compared with a read baseline, the snapshot cannot be written: %v", err)
			}
			if err := NextBaseline(base, cur).Write(io.Discard); err != nil {
				t.Fatalf("next baseline: %v", err)
			}
		}
	})
}
