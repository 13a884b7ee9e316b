package audit

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A lost baseline rebuilt from latest.json takes each gateway latest.json
// audited from it, and each gateway that failed in it from the last earlier
// snapshot that audited it, following previous links at most hops back.
func TestRebuildBaseline(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	tk := func(id string) Token {
		return Token{ID: id, CreateTime: t1.Add(-10 * Day), LastUsedTime: t1.Add(-time.Hour), ExpireTime: t1.Add(100 * Day)}
	}
	linked := func(s *Snapshot, prev *Snapshot) *Snapshot {
		if prev != nil {
			s.Changes = &Changes{Previous: &PreviousRef{Key: SnapshotKey(prev.AuditedAt), AuditedAt: prev.AuditedAt}}
		}
		return s
	}
	s1 := linked(snap(t1, ok(gwA, tk("a1")), ok(gwB, tk("b1"))), nil)
	s2 := linked(snap(t1.Add(Day), ok(gwA, tk("a2")), failed(gwB)), s1)
	s3 := linked(snap(t1.Add(2*Day), ok(gwA, tk("a3")), failed(gwB)), s2)
	stored := map[string]*Snapshot{SnapshotKey(s1.AuditedAt): s1, SnapshotKey(s2.AuditedAt): s2}
	var read []string
	earlier := func(key string) (*Snapshot, bool) {
		read = append(read, key)
		s, ok := stored[key]
		return s, ok
	}

	b := RebuildBaseline(s3, earlier, 5)
	if !b.AuditedAt.Equal(s3.AuditedAt) || len(b.Gateways) != 2 {
		t.Fatalf("rebuilt %+v, want latest.json's time and both gateways", b)
	}
	for _, g := range b.Gateways {
		want, at := "a3", s3.AuditedAt
		if g.GatewayID == gwB.GatewayID {
			want, at = "b1", s1.AuditedAt
		}
		if len(g.Tokens) != 1 || g.Tokens[0].TokenID != want || !g.AuditedAt.Equal(at) {
			t.Errorf("gateway %s: %+v, want token %s audited %s", g.GatewayID, g, want, at)
		}
	}
	if len(read) != 2 {
		t.Errorf("read %v, want the two earlier snapshots", read)
	}

	// One hop back does not reach the gateway: it is left out (a first
	// sight next time), not invented.
	if b := RebuildBaseline(s3, earlier, 1); len(b.Gateways) != 1 || b.Gateways[0].GatewayID != gwA.GatewayID {
		t.Errorf("one hop: %+v, want only %s", b.Gateways, gwA.GatewayID)
	}
	// A missing earlier snapshot ends the walk.
	delete(stored, SnapshotKey(s2.AuditedAt))
	if b := RebuildBaseline(s3, earlier, 5); len(b.Gateways) != 1 {
		t.Errorf("with s2 lost: %+v, want only %s", b.Gateways, gwA.GatewayID)
	}
}

// The header of a baseline as Write writes it reads back as ReadBaseline
// reads it, without its gateways; one of a newer release is refused as
// ReadBaseline refuses it.
func TestReadBaselineHeader(t *testing.T) {
	t.Parallel()
	base := &Baseline{SchemaVersion: SchemaVersion, AuditedAt: now, Key: SnapshotKey(now), RunID: RunID(now), Ledgers: true,
		Gateways: []BaselineGateway{{Region: "cn-hangzhou", WorkspaceID: "w", GatewayID: "g", AuditedAt: now}}}
	var buf bytes.Buffer
	if err := base.Write(&buf); err != nil {
		t.Fatal(err)
	}
	h, err := ReadBaselineHeader(buf.Bytes())
	if err != nil || !h.AuditedAt.Equal(now) || h.Key != base.Key || h.RunID != base.RunID || !h.Ledgers || h.Gateways != nil {
		t.Fatalf("header %+v, %v", h, err)
	}
	newer := bytes.Replace(buf.Bytes(), []byte(`"schemaVersion":1`), []byte(`"schemaVersion":2`), 1)
	if _, err := ReadBaselineHeader(newer); err == nil {
		t.Error("a baseline of a newer release was read")
	}
	for _, bad := range []string{"", "[]", `{"schemaVersion":1}`, `{"auditedAt":"x","gateways":[]}`} {
		if _, err := ReadBaselineHeader([]byte(bad)); err == nil {
			t.Errorf("%q read as a baseline", bad)
		}
	}
}

// WriteNextBaseline writes what NextBaseline's Write writes, byte for
// byte.
func TestWriteNextBaselineIsNextBaseline(t *testing.T) {
	t.Parallel()
	g := func(id string, fail bool) GatewayResult {
		r := GatewayResult{Ref: GatewayRef{Region: "cn-hangzhou", WorkspaceID: "w", GatewayID: id}, Tokens: []Token{{ID: "tk-" + id, CreateTime: now.Add(-90 * Day)}}}
		if fail {
			r.Err, r.Tokens = &APIError{Code: "X"}, nil
		}
		return r
	}
	prev := NextBaseline(nil, BuildSnapshot(Collection{Gateways: []GatewayResult{g("a", false), g("b", false), g("c", false)}}, Evaluation{Now: now.Add(-Day), Policy: DefaultPolicy()}))
	cur := BuildSnapshot(Collection{Gateways: []GatewayResult{g("b", true), g("a", false), g("d", false)},
		Errors: []ScopeError{{Region: "cn-hangzhou", WorkspaceID: "w", Code: "X"}}}, Evaluation{Now: now, Policy: DefaultPolicy()})
	var want, got bytes.Buffer
	if err := NextBaseline(prev, cur).Write(&want); err != nil {
		t.Fatal(err)
	}
	if err := WriteNextBaseline(&got, prev, cur); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() || !strings.Contains(got.String(), `"gatewayId":"c"`) {
		t.Errorf("streamed:\n%s\nbuilt:\n%s", got.String(), want.String())
	}
}
