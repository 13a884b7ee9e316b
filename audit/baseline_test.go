package audit

import (
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
