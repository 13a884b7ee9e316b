package audit

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// Snapshot.Write streams what encoding/json would write, byte for byte: a
// field added to Snapshot and forgotten by Write fails here.
func TestSnapshotWriteMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	until := now.Add(30 * Day)
	weird := "quote\" back\\ nl\n tab\t bell\a del\x7f bad\xff ls\u2028 ps\u2029 é 日本 <>&"
	acct := GatewayRef{AccountID: "1111111111111111", AccountName: "analytics", Region: "cn-hangzhou", WorkspaceID: "w-9", WorkspaceName: weird, GatewayID: "lc-9", GatewayName: "g", GatewayStatus: "Running"}
	key, err := NewSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	staged := DefaultPolicy()
	staged.ExpiryStages = []time.Duration{30 * Day, 7 * Day, Day}
	full := BuildSnapshot(Collection{
		Gateways: []GatewayResult{
			ok(gwA, Token{ID: "tk-1", Name: "<!channel> & co", CreateTime: now.Add(-90 * Day)}, Token{ID: "tk-2", LastUsedTime: now.Add(-123 * time.Millisecond)},
				Token{ID: "tk-2", Name: weird, CreatedBy: weird, ExpireTime: now.Add(Day), DataErrors: []DataError{{Field: FieldCreateTime, Message: weird}}}),
			ok(acct, Token{ID: "tk-s", Name: "ci-1", CreateTime: now.Add(-90 * Day)}),
			failed(gwB),
			// Gateway details (public, and failed), and two tokens sharing a
			// secret.
			{Ref: GatewayRef{Region: "cn-beijing", WorkspaceID: "w-p", GatewayID: "lc-p"}, Details: &GatewayDetails{Public: true, AuthType: weird},
				Tokens: []Token{{ID: "tk-p1", Secret: key.Measure([]byte("shared-Value-0123456789-XYZ"))}, {ID: "tk-p2", Secret: key.Measure([]byte("shared-Value-0123456789-XYZ"))}}},
			{Ref: GatewayRef{Region: "cn-beijing", WorkspaceID: "w-p", GatewayID: "lc-q"}, DetailsErr: &APIError{Code: "Forbidden.RAM", Message: weird}},
		},
		Errors: []ScopeError{{Region: "cn-shanghai", Code: "Forbidden.RAM", Message: "no"}, {AccountID: "3", AccountName: "legacy", Code: "AssumeRoleFailed", Message: weird}},
	}, Evaluation{Now: now, Policy: staged, Suppressions: []Suppression{{Name: "tk*", Reason: "r"}, {Name: "ci-*", Account: "analytics", Reason: weird, Until: until, SnoozedBy: "U0BOB0002"}},
		Acks:    map[string]Acknowledgement{TokenKey(acct, "tk-s"): {By: "U0ALICE01", At: now.Add(-time.Hour)}},
		Actions: []ActionReport{{At: now.Add(-time.Hour), By: "U0ALICE01", Verb: "ack", Token: TokenKey(acct, "tk-s"), Name: weird, Outcome: "done"}}})
	Compare(full, base(snap(now.Add(-Day), ok(gwA, Token{ID: "tk-3", CreateTime: now.Add(-90 * Day)}), failed(gwB))), nil, Day)
	full.Changes.Overdue = &Overdue{PreviousAuditedAt: now.Add(-3 * Day), ExpectEvery: "24h", Message: weird}
	full.Changes.PreviousError = weird
	high, low := SeverityHigh, SeverityLow
	since := now.Add(-3*Day - 250*time.Millisecond)
	full.Changes.Escalated = append(full.Changes.Escalated, Change{AccountID: "1", AccountName: weird, Region: "r", WorkspaceID: "w", GatewayID: "g",
		TokenID: "t", Name: weird, Rule: RuleExpired, Severity: &low, From: RuleExpiring, FromSeverity: &high, Suppressed: weird, Stage: "1d", FromStage: "7d", Since: &since})
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

// FuzzJSONString holds the hand-written string encoding to encoding/json's.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\", "\x00\x01\b\f\n\r\t\x1f\x7f", "\xff\xfe", "\u2028\u2029", "<>&", "日本語 é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("%q: got %s, want %s", s, got, want.Bytes())
		}
	})
}
